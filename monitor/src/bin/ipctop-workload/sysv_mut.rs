//! The System V IPC calls that create, change or remove objects (semget, semop, semctl
//! SETVAL/SETALL/IPC_RMID, shmget/shmat/shmdt, msgget/msgsnd/msgrcv, IPC_RMID): the workload
//! helper's, and the integration tests' for their clean-up (`tests/support/mod.rs` includes this
//! file). They are kept out of the `ipctop` library on purpose: ipctop only observes, and its
//! library cannot call these. The read-only queries and the constants are `ipctop::sysv`'s.
//! Everywhere else, clippy.toml forbids the libc calls used here.
#![allow(clippy::disallowed_methods)]
use std::io;

use ipctop::sysv::{check, semcmd, IPC_RMID};

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

/// semctl SETVAL: sets semaphore `semnum` to `val`.
pub fn semctl_setval(semid: i32, semnum: i32, val: i32) -> io::Result<()> {
    // SAFETY: SETVAL reads the union argument as an int.
    check(unsafe { libc::semctl(semid, semnum, semcmd::SETVAL, val as libc::c_long) }).map(drop)
}

/// semctl SETALL.
pub fn semctl_setall(semid: i32, vals: &[u16]) -> io::Result<()> {
    // SAFETY: SETALL reads nsems unsigned shorts; the caller passes exactly nsems.
    check(unsafe { libc::semctl(semid, 0, semcmd::SETALL, vals.as_ptr()) }).map(drop)
}

pub fn semctl_rmid(semid: i32) -> io::Result<()> {
    // SAFETY: IPC_RMID ignores the union argument.
    check(unsafe { libc::semctl(semid, 0, IPC_RMID, 0 as libc::c_long) }).map(drop)
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

pub fn msgctl_rmid(msqid: i32) -> io::Result<()> {
    // SAFETY: IPC_RMID ignores the buffer.
    check(unsafe { libc::msgctl(msqid, IPC_RMID, std::ptr::null_mut()) }).map(drop)
}

/// Removes these objects, whatever happened (errors ignored: an object may be gone already).
pub fn remove_all(sems: &[i32], shms: &[i32], msgs: &[i32]) {
    for &id in sems {
        let _ = semctl_rmid(id);
    }
    for &id in shms {
        let _ = shmctl_rmid(id);
    }
    for &id in msgs {
        let _ = msgctl_rmid(id);
    }
}
