//! Calls at a known rate, for the tests that check ipctop's counts and rates against what was
//! really done: each prints, when it ends, exactly how many calls of each kind it made.
use std::time::{Duration, Instant};

use anyhow::Context;
use ipctop::sysv::{IPC_CREAT, IPC_NOWAIT, IPC_PRIVATE};
use serde_json::json;

use crate::{
    common::{ready, stopped, Cleanup},
    sysv_mut::{self as sysv, sembuf},
};

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// An uncontended lock: semop -1 then +1 on one private semaphore, RATE calls a second
    /// for SECS seconds. Prints {"pid","semid","semops","setup_calls"} at the end.
    PacedLoop {
        #[arg(long)]
        rate: f64,
        #[arg(long)]
        secs: f64,
    },
    /// Two processes passing a token through two semaphores, RATE calls a second in all (each
    /// process half) for SECS seconds. Prints {"pid","child_pid","semid","semops",
    /// "child_semops","setup_calls"} at the end.
    PingPong {
        #[arg(long)]
        rate: f64,
        #[arg(long)]
        secs: f64,
    },
    /// A process failing every call: semop -1 with IPC_NOWAIT on a semaphore at 0 (EAGAIN),
    /// RATE a second for SECS seconds. Prints {"pid","semid","failed","setup_calls"}.
    Failing {
        #[arg(long)]
        rate: f64,
        #[arg(long)]
        secs: f64,
    },
}

pub fn run(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::PacedLoop { rate, secs } => paced_loop(rate, secs),
        Cmd::PingPong { rate, secs } => ping_pong(rate, secs),
        Cmd::Failing { rate, secs } => failing(rate, secs),
    }
}

/// Runs `n` steps, step `i` not before `start + i / per_s`.
fn paced(
    per_s: f64,
    secs: f64,
    mut step: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    anyhow::ensure!(
        per_s > 0.0 && secs > 0.0,
        "--rate and --secs must be positive"
    );
    let n = (per_s * secs).round() as u64;
    let start = Instant::now();
    let mut done = 0;
    for i in 0..n {
        if stopped() {
            break;
        }
        let at = start + Duration::from_secs_f64(i as f64 / per_s);
        if let Some(d) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        step()?;
        done += 1;
    }
    Ok(done)
}

fn paced_loop(rate: f64, secs: f64) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let semid = sysv::semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600).context("semget")?;
    c.sems.push(semid);
    sysv::semctl_setval(semid, 0, 1).context("SETVAL")?;
    let pairs = paced(rate / 2.0, secs, || {
        sysv::semop(semid, &mut [sembuf(0, -1, 0)])?;
        sysv::semop(semid, &mut [sembuf(0, 1, 0)])?;
        Ok(())
    })?;
    drop(c); // IPC_RMID
             // semget, SETVAL, IPC_RMID.
    ready(
        json!({"pid": std::process::id(), "semid": semid, "semops": 2 * pairs, "setup_calls": 3}),
    );
    Ok(())
}

fn ping_pong(rate: f64, secs: f64) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let semid = sysv::semget(IPC_PRIVATE, 2, IPC_CREAT | 0o600).context("semget")?;
    c.sems.push(semid);
    let rounds = (rate / 4.0 * secs).round() as u64;
    // SAFETY: fork in a single-threaded program; the child only makes syscalls and exits.
    let child = unsafe { libc::fork() };
    anyhow::ensure!(child >= 0, "fork: {}", std::io::Error::last_os_error());
    if child == 0 {
        // The child: wait for the token on 0, hand it back on 1.
        let mut n = 0;
        while n < rounds {
            if sysv::semop(semid, &mut [sembuf(0, -1, 0)]).is_err() {
                break;
            }
            let _ = sysv::semop(semid, &mut [sembuf(1, 1, 0)]);
            n += 1;
        }
        // SAFETY: leaving the child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    let done = paced(rate / 4.0, secs, || {
        sysv::semop(semid, &mut [sembuf(0, 1, 0)])?;
        sysv::semop(semid, &mut [sembuf(1, -1, 0)])?;
        Ok(())
    })?;
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(child, &mut status, 0) };
    drop(c);
    ready(json!({
        "pid": std::process::id(), "child_pid": child, "semid": semid,
        "semops": 2 * done, "child_semops": 2 * done, "setup_calls": 2,
    }));
    Ok(())
}

fn failing(rate: f64, secs: f64) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let semid = sysv::semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600).context("semget")?;
    c.sems.push(semid);
    let failed = paced(rate, secs, || {
        let e = sysv::semop(semid, &mut [sembuf(0, -1, IPC_NOWAIT as i16)]).unwrap_err();
        anyhow::ensure!(
            e.raw_os_error() == Some(libc::EAGAIN),
            "expected EAGAIN, got {e}"
        );
        Ok(())
    })?;
    drop(c);
    ready(json!({"pid": std::process::id(), "semid": semid, "failed": failed, "setup_calls": 2}));
    Ok(())
}
