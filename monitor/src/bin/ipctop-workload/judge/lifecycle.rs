//! Time and lifetimes: a wait begun long before the monitor, waiters killed in a call, an idle
//! daemon, a queue its users left behind, a clean command, and known counts in two
//! namespaces.
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use ipctop::sysv::{IPC_CREAT, IPC_NOWAIT, IPC_PRIVATE, SEM_UNDO};
use nix::{
    sched::{unshare, CloneFlags},
    sys::signal::{kill, Signal},
    unistd::Pid,
};
use serde_json::json;

use super::{
    blocked_in, gettid, nap, new_set, ns_inode, op, wait_blocked_in_semop, Said, NR_MSGRCV,
};
use crate::common::{hold, Cleanup};
use crate::situations::{pause_forever, wait_until, Kids, Pipe};
use crate::sysv_mut;

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn new_queue(c: &mut Cleanup) -> anyhow::Result<i32> {
    let q = sysv_mut::msgget(IPC_PRIVATE, IPC_CREAT | 0o600).context("msgget")?;
    c.msgs.push(q);
    Ok(q)
}

pub fn early_waiter(said: &Said) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    let s = new_set(&mut c, &[0])?;
    let p = Pipe::new()?;
    // A child whose second thread waits; its first sleeps.
    let waiter = kids.spawn(|| {
        std::thread::scope(|sc| {
            sc.spawn(|| {
                p.send(gettid());
                let _ = op(s, 0, -1, 0);
            });
            pause_forever()
        })
    })?;
    let tid = p.recv().context("no tid from the waiter")?;
    wait_blocked_in_semop(&[tid])?;
    said.say(
        "ready",
        json!({
            "semids": [s],
            "pids": {"waiter": [waiter]},
            "tids": {"waiter": [tid]},
            "began_unix_ns": unix_ns(),
        }),
    );
    hold();
    Ok(())
}

pub fn killed_waiter(said: &Said, kill_after: f64) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    let s = new_set(&mut c, &[0])?;
    let q = new_queue(&mut c)?;
    let on_sem = kids.spawn(|| {
        let _ = op(s, 0, -1, 0);
        0
    })?;
    let on_msg = kids.spawn(|| {
        let _ = sysv_mut::msgrcv(q, 64, 0, 0);
        0
    })?;
    wait_blocked_in_semop(&[on_sem])?;
    wait_until("the receiver to block in msgrcv", || {
        blocked_in(on_msg, &[NR_MSGRCV])
    })?;
    said.say(
        "ready",
        json!({
            "semids": [s],
            "msqids": [q],
            "pids": {"sem_waiter": [on_sem], "msg_waiter": [on_msg]},
            "tids": {"sem_waiter": [on_sem], "msg_waiter": [on_msg]},
            "kill_after_s": kill_after,
        }),
    );
    if nap(Duration::from_secs_f64(kill_after.max(0.0))) {
        for pid in [on_sem, on_msg] {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            kids.reap(pid);
        }
        said.say(
            "killed",
            json!({"killed": [on_sem, on_msg], "at_unix_ns": unix_ns()}),
        );
    }
    hold();
    Ok(())
}

pub fn idle_daemon(said: &Said) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    // Once each: the set's marking semop, a message sent and received.
    let s = new_set(&mut c, &[1])?;
    let q = new_queue(&mut c)?;
    sysv_mut::msgsnd(q, 1, b"hello", 0).context("msgsnd")?;
    sysv_mut::msgrcv(q, 64, 0, 0).context("msgrcv")?;
    let me = std::process::id();
    said.say(
        "ready",
        json!({
            "semids": [s],
            "msqids": [q],
            "pids": {"daemon": [me]},
            "tids": {"daemon": [me]},
        }),
    );
    hold();
    Ok(())
}

/// The number of messages in queue `q`, from /proc/sysvipc/msg (not an IPC call).
fn qnum(q: i32) -> Option<u64> {
    let t = std::fs::read_to_string("/proc/sysvipc/msg").ok()?;
    t.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1)?.parse::<i32>().ok()? == q).then(|| f.get(4)?.parse().ok())?
    })
}

pub fn queue_left(said: &Said) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    let p = Pipe::new()?;
    let creator = kids.spawn(|| {
        let made = || -> std::io::Result<i32> {
            let q = sysv_mut::msgget(IPC_PRIVATE, IPC_CREAT | 0o600)?;
            for _ in 0..2 {
                sysv_mut::msgsnd(q, 1, &[0x5a; 100], 0)?;
            }
            Ok(q)
        };
        p.send(made().unwrap_or(-1));
        0
    })?;
    let q = p.recv().context("no msqid from the creator")?;
    anyhow::ensure!(q >= 0, "the creator's msgget/msgsnd failed");
    c.msgs.push(q);
    kids.reap(creator);
    let receiver = kids.spawn(|| {
        let ok = (0..2).all(|_| sysv_mut::msgrcv(q, 128, 0, IPC_NOWAIT).is_ok());
        i32::from(!ok)
    })?;
    kids.reap(receiver);
    anyhow::ensure!(qnum(q) == Some(0), "the receiver did not empty the queue");
    said.say(
        "ready",
        json!({
            "msqids": [q],
            "pids": {"creator_gone": [creator], "receiver_gone": [receiver]},
        }),
    );
    hold();
    Ok(())
}

pub fn clean(said: &Said) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let lock = new_set(&mut c, &[1])?;
    let q = new_queue(&mut c)?;
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || -> std::io::Result<()> {
            while !stop.load(Ordering::SeqCst) && nap(Duration::from_millis(100)) {
                op(lock, 0, -1, SEM_UNDO)?;
                op(lock, 0, 1, SEM_UNDO)?;
                sysv_mut::msgsnd(q, 1, b"work", 0)?;
                sysv_mut::msgrcv(q, 64, 0, 0)?;
            }
            Ok(())
        })
    };
    let me = std::process::id();
    said.say(
        "ready",
        json!({
            "semids": [lock],
            "msqids": [q],
            "pids": {"clean": [me]},
            "tids": {"clean": [me]},
        }),
    );
    hold();
    stop.store(true, Ordering::SeqCst);
    let r = worker.join();
    anyhow::ensure!(matches!(r, Ok(Ok(()))), "the clean worker failed: {r:?}");
    Ok(())
}

/// `calls` semops on `set` (-1, +1, …), ending as it began; returns how many were made.
fn semops(set: i32, calls: u32) -> std::io::Result<u32> {
    let pairs = calls / 2;
    for _ in 0..pairs {
        op(set, 0, -1, 0)?;
        op(set, 0, 1, 0)?;
    }
    Ok(2 * pairs)
}

/// `n` semops that fail (EAGAIN: IPC_NOWAIT on a semaphore at 0, taken first and given back
/// after: n + 2 calls).
fn failing_semops(set: i32, n: u32) -> std::io::Result<()> {
    op(set, 0, -1, 0)?;
    for _ in 0..n {
        match op(set, 0, -1, IPC_NOWAIT as i16) {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {}
            Err(e) => return Err(e),
            Ok(()) => return Err(std::io::Error::other("a semop at 0 did not fail")),
        }
    }
    op(set, 0, 1, 0)
}

pub fn two_namespaces(said: &Said, calls_a: u32, calls_b: u32) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    let (go, back) = (Pipe::new()?, Pipe::new()?);
    // B: a child in a namespace of its own, before any call; its set dies with it.
    let child = kids.spawn(|| {
        if unshare(CloneFlags::CLONE_NEWIPC).is_err() {
            back.send(-1);
            return 1;
        }
        back.send(1);
        if go.recv() != Some(1) {
            return 1;
        }
        let mut c = Cleanup::default();
        let Some(made) = new_set(&mut c, &[1])
            .ok()
            .and_then(|s| semops(s, calls_b).ok().map(|n| (s, n)))
        else {
            back.send(-1);
            return 1;
        };
        // The failures by a process of B that lives a moment (no snapshot sees it).
        let mut k = Kids::default();
        let short = k.spawn(|| failing_semops(made.0, 5).map_or(1, |_| 0));
        let failed_ok = short.is_ok_and(|pid| k.reap_ok(pid));
        back.send(if failed_ok { made.1 as i32 + 3 + 7 } else { -1 });
        pause_forever()
    })?;
    anyhow::ensure!(back.recv() == Some(1), "the child could not unshare");
    let ns_b = ns_inode(&child.to_string())?;
    let set = new_set(&mut c, &[1])?;
    let made_a = 3 + semops(set, calls_a).context("semop")?;
    go.send(1);
    let made_b = back.recv().context("no count from the child")?;
    anyhow::ensure!(made_b >= 0, "the child's calls failed");
    said.say(
        "ready",
        json!({
            "semids": [set],
            "ns_a": ns_inode("self")?,
            "ns_b": ns_b,
            "calls_a": made_a,
            "calls_b": made_b,
            // By syscall: semget and SETALL once each, every semop a semtimedop (glibc's).
            "by_syscall_a": {"semget": 1, "semctl": 1, "semtimedop": made_a - 2},
            "by_syscall_b": {"semget": 1, "semctl": 1, "semtimedop": made_b as u32 - 2},
            "pids": {"a": [std::process::id()], "b": [child]},
            "tids": {"a": [std::process::id()], "b": [child]},
        }),
    );
    hold();
    Ok(())
}
