//! Read-only queries of System V IPC objects for the snapshot readers (semctl GETALL/GETNCNT/…,
//! the *_STAT commands), and the kernel's constants the decoder and the model name.
//!
//! ipctop only observes: nothing here creates, changes or removes an IPC object. The calls
//! that do (semget, semop, shmat, msgsnd, IPC_RMID, …) live with the workload helper, in
//! `src/bin/ipctop-workload/sysv_mut.rs`, out of this library's reach; the integration tests
//! include that file for their clean-up.
use std::io;

pub use libc::{IPC_CREAT, IPC_EXCL, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT};

/// semctl commands (linux/sem.h), which libc does not all export.
pub mod semcmd {
    pub const GETPID: i32 = 11;
    pub const GETVAL: i32 = 12;
    pub const GETALL: i32 = 13;
    pub const GETNCNT: i32 = 14;
    pub const GETZCNT: i32 = 15;
    pub const SETVAL: i32 = 16;
    pub const SETALL: i32 = 17;
    pub const SEM_STAT: i32 = 18;
    pub const SEM_INFO: i32 = 19;
    pub const SEM_STAT_ANY: i32 = 20;
}

/// shmctl / msgctl commands beyond IPC_STAT/IPC_SET/IPC_RMID.
pub mod ctlcmd {
    pub const IPC_INFO: i32 = 3;
    pub const SHM_LOCK: i32 = 11;
    pub const SHM_UNLOCK: i32 = 12;
    pub const SHM_STAT: i32 = 13;
    pub const SHM_INFO: i32 = 14;
    pub const SHM_STAT_ANY: i32 = 15;
    pub const MSG_STAT: i32 = 11;
    pub const MSG_INFO: i32 = 12;
    pub const MSG_STAT_ANY: i32 = 13;
}

pub const SEM_UNDO: i16 = 0x1000;
pub const SHM_HUGETLB: i32 = 0o4000;
pub const SHM_RDONLY: i32 = 0o10000;
pub const SHM_RND: i32 = 0o20000;
pub const SHM_REMAP: i32 = 0o40000;
pub const SHM_EXEC: i32 = 0o100000;
pub const MSG_NOERROR: i32 = 0o10000;
pub const MSG_EXCEPT: i32 = 0o20000;
pub const MSG_COPY: i32 = 0o40000;

/// A System V call's return value as a result: -1 is the error in errno (shared with the
/// workload helper's mutating calls, `sysv_mut.rs`).
pub fn check(r: libc::c_int) -> io::Result<i32> {
    nix::errno::Errno::result(r).map_err(io::Error::from)
}

/// semctl for the read-only commands whose 4th argument is absent: GETVAL, GETPID, GETNCNT,
/// GETZCNT. Any other command (SETVAL, IPC_RMID, …) is refused without a call.
pub fn semctl_int(semid: i32, semnum: i32, cmd: i32, val: i32) -> io::Result<i32> {
    use semcmd::*;
    if ![GETVAL, GETPID, GETNCNT, GETZCNT].contains(&cmd) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("semctl command {cmd} is not a read-only query: ipctop only observes"),
        ));
    }
    // SAFETY: these commands ignore the union argument; it is passed as an int.
    check(unsafe { libc::semctl(semid, semnum, cmd, val as libc::c_long) })
}

/// semctl GETALL: every semaphore's value.
pub fn semctl_getall(semid: i32, nsems: usize) -> io::Result<Vec<u16>> {
    let mut vals = vec![0u16; nsems.max(1)];
    // SAFETY: `vals` holds nsems unsigned shorts, as GETALL writes.
    check(unsafe { libc::semctl(semid, 0, semcmd::GETALL, vals.as_mut_ptr()) })?;
    vals.truncate(nsems);
    Ok(vals)
}

/// semctl IPC_STAT, or SEM_STAT/SEM_STAT_ANY with an index (then the return is the semid).
pub fn semctl_stat(id: i32, cmd: i32) -> io::Result<(i32, libc::semid_ds)> {
    // SAFETY: zeroed semid_ds is a valid out-buffer.
    let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT/SEM_STAT* write one semid_ds.
    let r = check(unsafe { libc::semctl(id, 0, cmd, &mut ds as *mut libc::semid_ds) })?;
    Ok((r, ds))
}

/// shmctl IPC_STAT / SHM_STAT / SHM_STAT_ANY.
pub fn shmctl_stat(id: i32, cmd: i32) -> io::Result<(i32, libc::shmid_ds)> {
    // SAFETY: zeroed shmid_ds is a valid out-buffer.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: these cmds write one shmid_ds.
    let r = check(unsafe { libc::shmctl(id, cmd, &mut ds) })?;
    Ok((r, ds))
}

/// msgctl IPC_STAT / MSG_STAT / MSG_STAT_ANY.
pub fn msgctl_stat(id: i32, cmd: i32) -> io::Result<(i32, libc::msqid_ds)> {
    // SAFETY: zeroed msqid_ds is a valid out-buffer.
    let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: these cmds write one msqid_ds.
    let r = check(unsafe { libc::msgctl(id, cmd, &mut ds) })?;
    Ok((r, ds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semctl_int_refuses_commands_that_change_a_set() {
        for cmd in [semcmd::SETVAL, semcmd::SETALL, IPC_RMID, IPC_SET] {
            let e = semctl_int(-1, 0, cmd, 1).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "cmd {cmd}");
        }
        // A read-only command reaches the kernel, which knows no set -1.
        let e = semctl_int(-1, 0, semcmd::GETVAL, 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}
