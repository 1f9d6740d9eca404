//! Thin, safe wrappers over the System V IPC syscalls (libc), for the workload helper, the
//! tests and the read-only queries of the snapshot readers (semctl GETALL/GETNCNT/…, *_STAT).
//!
//! ipctop itself only ever *reads* IPC objects: the calls that create, change or remove them
//! are here for the workload helper and for tests' clean-up.
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

fn check(r: libc::c_int) -> io::Result<i32> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

pub fn semget(key: i32, nsems: i32, flags: i32) -> io::Result<i32> {
    // SAFETY: plain syscall, no pointers.
    check(unsafe { libc::semget(key, nsems, flags) })
}

/// semop (glibc implements it with the semtimedop syscall).
pub fn semop(semid: i32, sops: &mut [libc::sembuf]) -> io::Result<()> {
    // SAFETY: sops is a valid slice of `sops.len()` sembufs.
    check(unsafe { libc::semop(semid, sops.as_mut_ptr(), sops.len()) }).map(drop)
}

/// The semop syscall itself (nr 65), which glibc never uses.
pub fn semop_raw(semid: i32, sops: &mut [libc::sembuf]) -> io::Result<()> {
    // SAFETY: as above.
    let r = unsafe { libc::syscall(libc::SYS_semop, semid, sops.as_mut_ptr(), sops.len()) };
    check(r as i32).map(drop)
}

pub fn semtimedop(
    semid: i32,
    sops: &mut [libc::sembuf],
    timeout: Option<std::time::Duration>,
) -> io::Result<()> {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs() as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: sops and the optional timespec outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_semtimedop,
            semid,
            sops.as_mut_ptr(),
            sops.len(),
            tsp,
        )
    };
    check(r as i32).map(drop)
}

pub fn sembuf(sem_num: u16, sem_op: i16, sem_flg: i16) -> libc::sembuf {
    libc::sembuf {
        sem_num,
        sem_op,
        sem_flg,
    }
}

/// semctl for the commands whose 4th argument is an int or absent
/// (GETVAL, SETVAL, GETPID, GETNCNT, GETZCNT, IPC_RMID).
pub fn semctl_int(semid: i32, semnum: i32, cmd: i32, val: i32) -> io::Result<i32> {
    // SAFETY: the union argument is passed as an int, as the kernel reads it for these cmds.
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

/// semctl SETALL.
pub fn semctl_setall(semid: i32, vals: &[u16]) -> io::Result<()> {
    // SAFETY: SETALL reads nsems unsigned shorts; the caller passes exactly nsems.
    check(unsafe { libc::semctl(semid, 0, semcmd::SETALL, vals.as_ptr()) }).map(drop)
}

/// semctl IPC_STAT, or SEM_STAT/SEM_STAT_ANY with an index (then the return is the semid).
pub fn semctl_stat(id: i32, cmd: i32) -> io::Result<(i32, libc::semid_ds)> {
    // SAFETY: zeroed semid_ds is a valid out-buffer.
    let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT/SEM_STAT* write one semid_ds.
    let r = check(unsafe { libc::semctl(id, 0, cmd, &mut ds as *mut libc::semid_ds) })?;
    Ok((r, ds))
}

pub fn shmget(key: i32, size: usize, flags: i32) -> io::Result<i32> {
    // SAFETY: plain syscall.
    check(unsafe { libc::shmget(key, size, flags) })
}

/// shmat at an address the kernel picks; returns the attach address.
pub fn shmat(shmid: i32, flags: i32) -> io::Result<usize> {
    // SAFETY: the kernel picks the address.
    let p = unsafe { libc::shmat(shmid, std::ptr::null(), flags) };
    if p as isize == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(p as usize)
    }
}

/// shmdt of an address returned by [`shmat`]. Memory there must not be in use any more.
pub fn shmdt(addr: usize) -> io::Result<()> {
    // SAFETY: unmapping a segment the caller attached and no longer uses (EINVAL if not).
    check(unsafe { libc::shmdt(addr as *const libc::c_void) }).map(drop)
}

/// shmctl IPC_STAT / SHM_STAT / SHM_STAT_ANY.
pub fn shmctl_stat(id: i32, cmd: i32) -> io::Result<(i32, libc::shmid_ds)> {
    // SAFETY: zeroed shmid_ds is a valid out-buffer.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: these cmds write one shmid_ds.
    let r = check(unsafe { libc::shmctl(id, cmd, &mut ds) })?;
    Ok((r, ds))
}

pub fn shmctl_rmid(shmid: i32) -> io::Result<()> {
    // SAFETY: IPC_RMID ignores the buffer.
    check(unsafe { libc::shmctl(shmid, IPC_RMID, std::ptr::null_mut()) }).map(drop)
}

pub fn msgget(key: i32, flags: i32) -> io::Result<i32> {
    // SAFETY: plain syscall.
    check(unsafe { libc::msgget(key, flags) })
}

/// msgsnd of `text` with message type `mtype`.
pub fn msgsnd(msqid: i32, mtype: i64, text: &[u8], flags: i32) -> io::Result<()> {
    let mut buf = Vec::with_capacity(8 + text.len());
    buf.extend_from_slice(&mtype.to_ne_bytes());
    buf.extend_from_slice(text);
    // SAFETY: buf is `struct msgbuf` with `text.len()` bytes of mtext.
    check(unsafe { libc::msgsnd(msqid, buf.as_ptr().cast(), text.len(), flags) }).map(drop)
}

/// msgrcv of at most `max` bytes; returns (mtype, text).
pub fn msgrcv(msqid: i32, max: usize, msgtyp: i64, flags: i32) -> io::Result<(i64, Vec<u8>)> {
    let mut buf = vec![0u8; 8 + max];
    // SAFETY: buf has room for mtype and `max` bytes of mtext.
    let n = unsafe { libc::msgrcv(msqid, buf.as_mut_ptr().cast(), max, msgtyp, flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mtype = i64::from_ne_bytes(buf[..8].try_into().expect("8 bytes"));
    Ok((mtype, buf[8..8 + n as usize].to_vec()))
}

/// msgctl IPC_STAT / MSG_STAT / MSG_STAT_ANY.
pub fn msgctl_stat(id: i32, cmd: i32) -> io::Result<(i32, libc::msqid_ds)> {
    // SAFETY: zeroed msqid_ds is a valid out-buffer.
    let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: these cmds write one msqid_ds.
    let r = check(unsafe { libc::msgctl(id, cmd, &mut ds) })?;
    Ok((r, ds))
}

pub fn msgctl_rmid(msqid: i32) -> io::Result<()> {
    // SAFETY: IPC_RMID ignores the buffer.
    check(unsafe { libc::msgctl(msqid, IPC_RMID, std::ptr::null_mut()) }).map(drop)
}

pub fn semctl_rmid(semid: i32) -> io::Result<()> {
    semctl_int(semid, 0, IPC_RMID, 0).map(drop)
}
