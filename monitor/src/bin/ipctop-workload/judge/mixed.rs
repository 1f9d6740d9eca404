//! A deadlock across both kinds: A holds a System V semaphore (a lock, SEM_UNDO) and waits on
//! a process-shared robust mutex, in a System V segment of its namespace, that B owns; B
//! waits on A's semaphore. The mutex's word names B as its owner; the probe's counts name A as
//! the semaphore's holder.
use anyhow::Context;
use ipctop::sysv::{IPC_CREAT, IPC_PRIVATE, SEM_UNDO};
use serde_json::json;

use super::{blocked_in, gettid, new_set, op, wait_blocked_in_semop, Said};
use crate::common::{hold, Cleanup};
use crate::situations::{wait_until, Kids, Pipe};
use crate::sysv_mut;

/// futex(2) on x86-64: what a thread blocked on a contended mutex shows in /proc/TID/syscall.
const NR_FUTEX: i64 = 202;

/// A process-shared robust mutex made at `at` (memory of a segment every actor attaches).
fn robust_mutex(at: *mut libc::pthread_mutex_t) -> anyhow::Result<()> {
    // SAFETY: the attribute object is initialised before use and destroyed after; `at` is
    // the start of a fresh, attached segment, large enough and suitably aligned (a page).
    unsafe {
        let mut a: libc::pthread_mutexattr_t = std::mem::zeroed();
        anyhow::ensure!(libc::pthread_mutexattr_init(&mut a) == 0, "mutexattr_init");
        let set = libc::pthread_mutexattr_setpshared(&mut a, libc::PTHREAD_PROCESS_SHARED) == 0
            && libc::pthread_mutexattr_setrobust(&mut a, libc::PTHREAD_MUTEX_ROBUST) == 0;
        let made = set && libc::pthread_mutex_init(at, &a) == 0;
        libc::pthread_mutexattr_destroy(&mut a);
        anyhow::ensure!(made, "a robust process-shared mutex");
    }
    Ok(())
}

/// Locks the mutex (blocks while another owns it).
fn lock(at: usize) -> bool {
    // SAFETY: `at` is the mutex made by `robust_mutex`, in memory attached before the fork.
    unsafe { libc::pthread_mutex_lock(at as *mut libc::pthread_mutex_t) == 0 }
}

pub fn sem_and_mutex(said: &Said) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let set = new_set(&mut c, &[1])?;
    let shmid = sysv_mut::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600).context("shmget")?;
    c.shms.push(shmid);
    // Attached here, before the children are made: they inherit it at the same address.
    let at = sysv_mut::shmat(shmid, 0).context("shmat")?;
    robust_mutex(at as *mut libc::pthread_mutex_t)?;
    let mut kids = Kids::default();
    let (a, b) = ((Pipe::new()?, Pipe::new()?), (Pipe::new()?, Pipe::new()?));
    // A: uses the lock well three times (so that the probe knows it for a lock: taken and
    // given back), takes it, then (told) the mutex.
    let take_lock = || -> std::io::Result<()> {
        for _ in 0..3 {
            op(set, 0, -1, SEM_UNDO)?;
            op(set, 0, 1, SEM_UNDO)?;
        }
        op(set, 0, -1, SEM_UNDO)
    };
    let pid_a = kids.spawn(|| {
        if a.0.recv() != Some(1) || take_lock().is_err() {
            a.1.send(-1);
            return 1;
        }
        a.1.send(1);
        if a.0.recv() != Some(2) {
            return 1;
        }
        a.1.send(gettid());
        i32::from(!lock(at))
    })?;
    // B: owns the mutex, then (told) waits on the semaphore.
    let pid_b = kids.spawn(|| {
        if b.0.recv() != Some(1) || !lock(at) {
            b.1.send(-1);
            return 1;
        }
        b.1.send(1);
        if b.0.recv() != Some(2) {
            return 1;
        }
        b.1.send(gettid());
        i32::from(op(set, 0, -1, SEM_UNDO).is_err())
    })?;
    for p in [&b, &a] {
        p.0.send(1);
        anyhow::ensure!(p.1.recv() == Some(1), "an actor failed to take its lock");
    }
    let mut tids = Vec::new();
    for p in [&a, &b] {
        p.0.send(2);
        tids.push(p.1.recv().context("an actor did not say its tid")?);
    }
    let (tid_a, tid_b) = (tids[0], tids[1]);
    wait_until("A to block on the mutex", || blocked_in(tid_a, &[NR_FUTEX]))?;
    wait_blocked_in_semop(&[tid_b])?;
    said.say(
        "ready",
        json!({
            "semids": [set],
            "shmids": [shmid],
            "pids": {"deadlocked": [pid_a, pid_b], "holds_sem": [pid_a], "owns_mutex": [pid_b]},
            "tids": {"deadlocked": [tid_a, tid_b], "owns_mutex": [tid_b]},
            "mutex_offset": 0,
        }),
    );
    hold();
    drop(kids);
    let _ = sysv_mut::shmdt(at);
    Ok(())
}
