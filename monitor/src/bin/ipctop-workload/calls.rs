//! Scenarios for the probe's tests: known calls with known results.
use std::time::{Duration, Instant};

use anyhow::Context;
use ipctop::sysv::{self, IPC_CREAT, IPC_EXCL, IPC_NOWAIT, IPC_PRIVATE, IPC_STAT, SEM_UNDO};
use nix::{
    sys::wait::{waitpid, WaitStatus},
    unistd::{fork, setgid, setuid, ForkResult, Gid, Uid},
};
use serde_json::json;

use crate::common::{hold, ready, stopped, unique_key, Cleanup};
use crate::sysv_mut::{self, sembuf};

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// One of each call on fresh private objects, then removes them, then one semctl on a
    /// removed id (EINVAL). Prints {"pid","semid","shmid","msqid","shmaddr"} at the end.
    Basic,
    /// shmget(key, IPC_CREAT|IPC_EXCL) twice: the second fails with EEXIST.
    Eexist,
    /// A 0600 segment made as root, attached by a child that dropped to uid 65534 (EACCES).
    Eacces,
    /// semop -1 on a semaphore of value 0: blocks until the semaphore is raised from outside
    /// (or `--release-after` seconds pass, when a thread raises it).
    Block {
        #[arg(long)]
        release_after: Option<f64>,
    },
    /// N semop calls (acquire/release pairs) on one private semaphore, as fast as possible.
    Burst {
        #[arg(default_value_t = 200_000)]
        calls: u64,
    },
    /// N getppid() calls: a syscall that is not IPC.
    Getppid {
        #[arg(default_value_t = 1_000_000)]
        calls: u64,
    },
}

pub fn run(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Basic => basic(),
        Cmd::Eexist => eexist(),
        Cmd::Eacces => eacces(),
        Cmd::Block { release_after } => block(release_after),
        Cmd::Burst { calls } => burst(calls),
        Cmd::Getppid { calls } => {
            let t = Instant::now();
            for _ in 0..calls {
                nix::unistd::getppid();
            }
            ready(
                json!({"pid": std::process::id(), "calls": calls, "ns_per_call": t.elapsed().as_nanos() as f64 / calls as f64}),
            );
            Ok(())
        }
    }
}

fn basic() -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let semid = sysv_mut::semget(IPC_PRIVATE, 3, IPC_CREAT | 0o600).context("semget")?;
    c.sems.push(semid);
    sysv_mut::semctl_setval(semid, 1, 5).context("SETVAL")?;
    sysv::semctl_int(semid, 1, sysv::semcmd::GETVAL, 0).context("GETVAL")?;
    // glibc's semop() is the semtimedop syscall with a NULL timeout.
    sysv_mut::semop(
        semid,
        &mut [sembuf(1, -1, SEM_UNDO), sembuf(2, 1, IPC_NOWAIT as i16)],
    )
    .context("semop")?;
    sysv_mut::semtimedop(
        semid,
        &mut [sembuf(1, 1, 0)],
        Some(Duration::from_millis(1500)),
    )
    .context("semtimedop")?;
    sysv_mut::semop_raw(semid, &mut [sembuf(0, 0, IPC_NOWAIT as i16)]).context("raw semop")?;
    let shmid = sysv_mut::shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0o600).context("shmget")?;
    c.shms.push(shmid);
    let addr = sysv_mut::shmat(shmid, 0).context("shmat")?;
    sysv_mut::shmdt(addr).context("shmdt")?;
    sysv::shmctl_stat(shmid, IPC_STAT).context("shmctl")?;
    let msqid = sysv_mut::msgget(IPC_PRIVATE, IPC_CREAT | 0o600).context("msgget")?;
    c.msgs.push(msqid);
    sysv_mut::msgsnd(msqid, 7, &[0xab; 16], 0).context("msgsnd")?;
    sysv_mut::msgrcv(msqid, 64, 0, 0).context("msgrcv")?;
    sysv::msgctl_stat(msqid, IPC_STAT).context("msgctl")?;
    drop(c); // semctl, shmctl, msgctl IPC_RMID
    let einval = sysv::semctl_int(semid, 0, sysv::semcmd::GETVAL, 0).unwrap_err();
    anyhow::ensure!(
        einval.raw_os_error() == Some(libc::EINVAL),
        "expected EINVAL, got {einval}"
    );
    ready(
        json!({"pid": std::process::id(), "semid": semid, "shmid": shmid, "msqid": msqid, "shmaddr": addr as u64}),
    );
    Ok(())
}

fn eexist() -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let key = unique_key(1);
    let shmid = sysv_mut::shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0o600).context("shmget")?;
    c.shms.push(shmid);
    let e = sysv_mut::shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0o600).unwrap_err();
    anyhow::ensure!(
        e.raw_os_error() == Some(libc::EEXIST),
        "expected EEXIST, got {e}"
    );
    ready(json!({"pid": std::process::id(), "key": key, "shmid": shmid}));
    Ok(())
}

fn eacces() -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let shmid = sysv_mut::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600).context("shmget")?;
    c.shms.push(shmid);
    // SAFETY: fork in a single-threaded program; the child only makes syscalls and exits.
    let child = match unsafe { fork() }.context("fork")? {
        ForkResult::Child => {
            let nobody = 65534;
            let code = if setgid(Gid::from_raw(nobody)).is_err()
                || setuid(Uid::from_raw(nobody)).is_err()
            {
                2
            } else if sysv_mut::shmat(shmid, 0)
                .is_err_and(|e| e.raw_os_error() == Some(libc::EACCES))
            {
                0
            } else {
                1
            };
            // SAFETY: leave without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        ForkResult::Parent { child } => child,
    };
    let status = waitpid(child, None).context("waitpid")?;
    anyhow::ensure!(
        status == WaitStatus::Exited(child, 0),
        "the child did not get EACCES ({status:?})"
    );
    ready(json!({"pid": std::process::id(), "child_pid": child.as_raw(), "shmid": shmid}));
    Ok(())
}

fn block(release_after: Option<f64>) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let semid = sysv_mut::semget(IPC_PRIVATE, 2, IPC_CREAT | 0o600).context("semget")?;
    c.sems.push(semid);
    let tid = std::process::id();
    ready(json!({"pid": tid, "semid": semid, "semnum": 1}));
    if let Some(secs) = release_after {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(secs));
            let _ = sysv_mut::semop(semid, &mut [sembuf(1, 1, 0)]);
        });
    }
    let t = Instant::now();
    // Blocks until someone raises semaphore 1 (or a signal: EINTR).
    let r = sysv_mut::semop(semid, &mut [sembuf(1, -1, 0)]);
    if !stopped() {
        ready(json!({"released_after_ns": t.elapsed().as_nanos() as u64, "ok": r.is_ok()}));
        hold();
    }
    Ok(())
}

fn burst(calls: u64) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let semid = sysv_mut::semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600).context("semget")?;
    c.sems.push(semid);
    let t = Instant::now();
    let mut up = [sembuf(0, 1, 0)];
    let mut down = [sembuf(0, -1, 0)];
    for i in 0..calls {
        if i % 2 == 0 {
            sysv_mut::semop(semid, &mut up)?;
        } else {
            sysv_mut::semop(semid, &mut down)?;
        }
    }
    let ns = t.elapsed().as_nanos() as u64;
    ready(
        json!({"pid": std::process::id(), "semid": semid, "calls": calls, "elapsed_ns": ns, "ns_per_call": ns as f64 / calls as f64}),
    );
    Ok(())
}
