//! Locks (binary semaphores taken with SEM_UNDO): deadlocks in a ring of processes or threads
//! (a ring of one is a process waiting for itself), a stuck wait, a cycle that only the
//! "last operating pid" would draw, and a deadlocked neighbour.
use std::{sync::Arc, time::Duration};

use anyhow::Context;
use ipctop::sysv::{self, semcmd, IPC_CREAT, IPC_NOWAIT, IPC_PRIVATE, SEM_UNDO};
use serde_json::json;

use super::{gettid, new_set, op, pause, wait_blocked_in_semop, Said};
use crate::common::{hold, Cleanup};
use crate::situations::{wait_until, Kids, Pipe};
use crate::sysv_mut;

/// Who the actors of a ring are.
#[derive(Clone, Copy, PartialEq)]
pub enum Actors {
    Processes,
    Threads,
}

/// A ring of locks, deadlocked: actor i holds lock i and waits for lock i+1 (mod n).
struct Ring {
    sets: Vec<i32>,
    pids: Vec<i32>,
    tids: Vec<i32>,
}

fn take(set: i32) -> std::io::Result<()> {
    op(set, 0, -1, SEM_UNDO)
}

fn give(set: i32) -> std::io::Result<()> {
    op(set, 0, 1, SEM_UNDO)
}

/// One actor, told each step by `go` and answering on `ack`: (1) three rounds that go well
/// (take its first lock, then its second, give both back), (2) take its first lock, (3) say
/// its tid and take its second lock, which it never gets.
fn actor(first: i32, second: i32, go: &Pipe, ack: &Pipe) -> i32 {
    let rounds = || -> std::io::Result<()> {
        for _ in 0..3 {
            take(first)?;
            if second != first {
                take(second)?;
                give(second)?;
            }
            give(first)?;
        }
        Ok(())
    };
    if go.recv() != Some(1) || rounds().is_err() {
        ack.send(-1);
        return 1;
    }
    ack.send(1);
    if go.recv() != Some(2) || take(first).is_err() {
        ack.send(-1);
        return 1;
    }
    ack.send(1);
    if go.recv() != Some(3) {
        return 1;
    }
    ack.send(gettid());
    let _ = take(second);
    0
}

fn ring_set_up(c: &mut Cleanup, kids: &mut Kids, n: usize, who: Actors) -> anyhow::Result<Ring> {
    let mut sets = Vec::new();
    for _ in 0..n {
        sets.push(new_set(c, &[1])?);
    }
    let mut pipes = Vec::new();
    let mut pids = Vec::new();
    for i in 0..n {
        let (first, second) = (sets[i], sets[(i + 1) % n]);
        let p = Arc::new((Pipe::new()?, Pipe::new()?));
        match who {
            Actors::Processes => pids.push(kids.spawn(|| actor(first, second, &p.0, &p.1))?),
            Actors::Threads => {
                let q = Arc::clone(&p);
                std::thread::spawn(move || actor(first, second, &q.0, &q.1));
            }
        }
        pipes.push(p);
    }
    if who == Actors::Threads {
        pids.push(std::process::id() as i32);
    }
    // One after the other: the rounds that go well, then each takes its first lock.
    for step in [1, 2] {
        for p in &pipes {
            p.0.send(step);
            anyhow::ensure!(p.1.recv() == Some(1), "an actor failed step {step}");
        }
    }
    let mut tids = Vec::new();
    for p in &pipes {
        p.0.send(3);
        tids.push(p.1.recv().context("an actor did not say its tid")?);
    }
    wait_blocked_in_semop(&tids)?;
    Ok(Ring { sets, pids, tids })
}

pub fn ring(said: &Said, n: usize, who: Actors) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    let r = ring_set_up(&mut c, &mut kids, n, who)?;
    said.say(
        "ready",
        json!({
            "semids": r.sets,
            "pids": {"deadlocked": r.pids},
            "tids": {"deadlocked": r.tids},
        }),
    );
    hold();
    Ok(())
}

pub fn stuck(said: &Said) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    let p = Pipe::new()?;
    // The holder makes the lock, uses it well twice, then takes it without SEM_UNDO and exits:
    // nobody alive has ever raised it.
    let holder = kids.spawn(|| {
        let made = || -> std::io::Result<i32> {
            let id = sysv_mut::semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600)?;
            sysv_mut::semctl_setval(id, 0, 1)?;
            for _ in 0..2 {
                op(id, 0, -1, 0)?;
                op(id, 0, 1, 0)?;
            }
            op(id, 0, -1, 0)?;
            Ok(id)
        };
        match made() {
            Ok(id) => {
                p.send(id);
                0
            }
            Err(_) => {
                p.send(-1);
                1
            }
        }
    })?;
    let semid = p.recv().context("no semid from the holder")?;
    anyhow::ensure!(semid >= 0, "the holder could not make and take its lock");
    c.sems.push(semid);
    kids.reap(holder);
    let waiter = kids.spawn(|| {
        let _ = op(semid, 0, -1, 0);
        0
    })?;
    wait_blocked_in_semop(&[waiter])?;
    said.say(
        "ready",
        json!({
            "semids": [semid],
            "pids": {"waiter": [waiter], "holder_gone": [holder]},
            "tids": {"waiter": [waiter]},
        }),
    );
    hold();
    Ok(())
}

fn getpid_of(semid: i32) -> i32 {
    sysv::semctl_int(semid, 0, semcmd::GETPID, 0).unwrap_or(-1)
}

pub fn near_deadlock_guess(said: &Said) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    let (a, b) = (new_set(&mut c, &[1])?, new_set(&mut c, &[1])?);
    let p = Pipe::new()?;
    // The real holder of both: alive, sleeping in short steps, never blocked in IPC.
    let holder = kids.spawn(|| {
        if take(a).is_err() || take(b).is_err() {
            p.send(-1);
            return 1;
        }
        p.send(1);
        while pause(Duration::from_millis(50)).is_ok() {}
        0
    })?;
    anyhow::ensure!(p.recv() == Some(1), "the holder could not take both locks");
    // Each waiter first makes a zero-op (it succeeds: the value is 0), the last operation on
    // the other's lock, then waits for a lock: each is the other's "last operating pid".
    let waiter = |zero_on: i32, wait_on: i32| {
        let p = &p;
        move || {
            if op(zero_on, 0, 0, IPC_NOWAIT as i16).is_err() {
                p.send(-1);
                return 1;
            }
            p.send(1);
            let _ = take(wait_on);
            0
        }
    };
    let w_on_a = kids.spawn(waiter(b, a))?;
    anyhow::ensure!(p.recv() == Some(1), "a waiter's zero-op failed");
    let w_on_b = kids.spawn(waiter(a, b))?;
    anyhow::ensure!(p.recv() == Some(1), "a waiter's zero-op failed");
    wait_blocked_in_semop(&[w_on_a, w_on_b])?;
    // The kernel's word for it: GETPID of each lock is the other waiter.
    wait_until("the last pids to be the waiters", || {
        getpid_of(a) == w_on_b && getpid_of(b) == w_on_a
    })?;
    said.say(
        "ready",
        json!({
            "semids": [a, b],
            "pids": {"holder": [holder], "waiters": [w_on_a, w_on_b]},
            "tids": {"holder": [holder], "waiters": [w_on_a, w_on_b]},
            "last_pid": {a.to_string(): w_on_b, b.to_string(): w_on_a},
        }),
    );
    hold();
    Ok(())
}

pub fn neighbour(said: &Said, transient_for: f64) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    // Made before the rings' children exist (forks only while single-threaded).
    let empty = new_set(&mut c, &[0])?;
    let gone = sysv_mut::semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600).context("semget")?;
    sysv_mut::semctl_rmid(gone).context("IPC_RMID")?;
    let failing = kids.spawn(|| loop {
        // EAGAIN, then EINVAL (a removed id), every 200 ms.
        let _ = op(empty, 0, -1, IPC_NOWAIT as i16);
        let _ = sysv::semctl_int(gone, 0, semcmd::GETVAL, 0);
        if pause(Duration::from_millis(200)).is_err() {
            return 0;
        }
    })?;
    // A pair deadlocked to the end, and one killed after TRANSIENT_FOR seconds: a deadlock
    // that was, and is no more at the end of a recording.
    let stays = ring_set_up(&mut c, &mut kids, 2, Actors::Processes)?;
    let goes = ring_set_up(&mut c, &mut kids, 2, Actors::Processes)?;
    said.say(
        "ready",
        json!({
            "semids": [stays.sets[0], stays.sets[1], goes.sets[0], goes.sets[1], empty],
            "pids": {"deadlocked": stays.pids, "transient": goes.pids, "failing": [failing]},
            "tids": {"deadlocked": stays.tids, "transient": goes.tids, "failing": [failing]},
            "transient_for_s": transient_for,
        }),
    );
    if super::nap(Duration::from_secs_f64(transient_for.max(0.0))) {
        for &pid in &goes.pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            kids.reap(pid);
        }
        said.say("transient_gone", json!({ "killed": goes.pids }));
    }
    hold();
    Ok(())
}
