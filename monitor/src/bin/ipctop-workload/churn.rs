//! Fork-and-object churn beside a steady process, for the tests and the soak benchmark that
//! check ipctop's counts stay exact (and its memory flat) however many short-lived processes,
//! objects and namespaces come and go: what the kernel's tables are pruned of.
use std::time::{Duration, Instant};

use anyhow::Context;
use ipctop::sysv::{IPC_CREAT, IPC_PRIVATE};
use serde_json::json;

use crate::common::{ready, stopped};
use crate::sysv_mut::{self as sysv, sembuf};

/// The calls each short-lived child makes on its own set: semget, SETVAL, semop -1, semop +1,
/// IPC_RMID.
pub const CHILD_CALLS: u64 = 5;

#[derive(clap::Args)]
pub struct Args {
    /// Short-lived children started a second, each making and removing one semaphore set
    /// (5 calls) and exiting.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// For how long.
    #[arg(long)]
    secs: f64,
    /// Each child in an IPC namespace of its own (unshare(CLONE_NEWIPC); root): namespace
    /// inodes and object ids reused at once, as on a host running many containers.
    #[arg(long)]
    own_ns: bool,
    /// The steady process beside them: semop pairs a second on one set, for the whole run.
    #[arg(long, default_value_t = 100.0)]
    steady_rate: f64,
}

/// Prints, at the end, {"pid", "children", "child_calls", "child_semget", "child_semop",
/// "child_semctl", "failed_children", "steady_pid", "steady_semid", "steady_calls"}: every
/// child counted in `children` made exactly its 5 calls, successfully.
pub fn run(a: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.rate > 0.0 && a.secs > 0.0 && a.steady_rate > 0.0,
        "--rate, --secs and --steady-rate must be positive"
    );
    let (steady_pid, steady_out) = steady(a.steady_rate, a.secs)?;
    let n = (a.rate * a.secs).round() as u64;
    let start = Instant::now();
    let (mut ok, mut failed, mut running) = (0u64, 0u64, 0u64);
    let mut reap = |block: bool, running: &mut u64| loop {
        let mut status = 0;
        // SAFETY: reaping our own children.
        let pid = unsafe { libc::waitpid(-1, &mut status, if block { 0 } else { libc::WNOHANG }) };
        if pid <= 0 {
            break;
        }
        if pid == steady_pid {
            continue;
        }
        *running -= 1;
        if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            ok += 1;
        } else {
            failed += 1;
        }
        if block && *running == 0 {
            break;
        }
    };
    for i in 0..n {
        if stopped() {
            break;
        }
        let at = start + Duration::from_secs_f64(i as f64 / a.rate);
        if let Some(d) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        // SAFETY: fork in a single-threaded program; the child only makes syscalls and exits.
        let pid = unsafe { libc::fork() };
        anyhow::ensure!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            // SAFETY: leaving the child without running the parent's destructors.
            unsafe { libc::_exit(child(a.own_ns)) };
        }
        running += 1;
        reap(false, &mut running);
    }
    if running > 0 {
        reap(true, &mut running);
    }
    let steady_line = steady_out.wait()?;
    ready(json!({
        "pid": std::process::id(),
        "children": ok,
        "child_calls": ok * CHILD_CALLS,
        "child_semget": ok, "child_semop": 2 * ok, "child_semctl": 2 * ok,
        "failed_children": failed,
        "steady_pid": steady_pid,
        "steady_semid": steady_line["semid"],
        "steady_calls": steady_line["calls"],
    }));
    Ok(())
}

/// One child's life: its set made, used and removed; 0 when all 5 calls succeeded.
fn child(own_ns: bool) -> i32 {
    // SAFETY: a plain syscall.
    if own_ns && unsafe { libc::unshare(libc::CLONE_NEWIPC) } != 0 {
        return 2;
    }
    let Ok(id) = sysv::semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600) else {
        return 3;
    };
    let ok = sysv::semctl_setval(id, 0, 1).is_ok()
        && sysv::semop(id, &mut [sembuf(0, -1, 0)]).is_ok()
        && sysv::semop(id, &mut [sembuf(0, 1, 0)]).is_ok();
    let rm = sysv::semctl_rmid(id).is_ok();
    if ok && rm {
        0
    } else {
        4
    }
}

/// The steady process's result, read from its pipe when it ends.
struct SteadyOut(std::fs::File);

impl SteadyOut {
    fn wait(self) -> anyhow::Result<serde_json::Value> {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut &self.0, &mut s)?;
        serde_json::from_str(s.trim()).context("the steady process's result")
    }
}

/// Forks the steady process: one set, semop -1/+1 pairs at `rate` calls a second for `secs`;
/// it writes {"semid","calls"} (semget, SETVAL and IPC_RMID included) to a pipe and exits.
fn steady(rate: f64, secs: f64) -> anyhow::Result<(i32, SteadyOut)> {
    let (r, w) = nix::unistd::pipe()?;
    // SAFETY: fork in a single-threaded program; the child only makes syscalls, writes to its
    // pipe and exits.
    let pid = unsafe { libc::fork() };
    anyhow::ensure!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        drop(r);
        let code = match steady_loop(rate, secs) {
            Ok((semid, calls)) => {
                let line = json!({"semid": semid, "calls": calls}).to_string();
                let mut f = std::fs::File::from(w);
                let _ = std::io::Write::write_all(&mut f, line.as_bytes());
                0
            }
            Err(_) => 1,
        };
        // SAFETY: leaving the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    drop(w);
    Ok((pid, SteadyOut(std::fs::File::from(r))))
}

fn steady_loop(rate: f64, secs: f64) -> anyhow::Result<(i32, u64)> {
    let semid = sysv::semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600)?;
    let mut calls = 1;
    let r = (|| {
        sysv::semctl_setval(semid, 0, 1)?;
        calls += 1;
        let start = Instant::now();
        let pairs = (rate / 2.0 * secs).round() as u64;
        for i in 0..pairs {
            if stopped() {
                break;
            }
            let at = start + Duration::from_secs_f64(2.0 * i as f64 / rate);
            if let Some(d) = at.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
            sysv::semop(semid, &mut [sembuf(0, -1, 0)])?;
            sysv::semop(semid, &mut [sembuf(0, 1, 0)])?;
            calls += 2;
        }
        anyhow::Ok(())
    })();
    sysv::semctl_rmid(semid)?;
    r?;
    Ok((semid, calls + 1))
}
