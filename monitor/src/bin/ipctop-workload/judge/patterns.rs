//! Ordinary patterns, never deadlocks: a worker pool, a bounded buffer, a counting pool with
//! a transient all-blocked moment, a contended lock. Each process is single-threaded: its
//! pid is its tid.
use std::time::Duration;

use ipctop::sysv::SEM_UNDO;
use serde_json::json;

use super::{forever, new_set, op, pause, wait_blocked_in_semop, Said};
use crate::common::{hold, Cleanup};
use crate::situations::Kids;
use crate::sysv_mut::{self, sembuf};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Forks `n` children running `f(i)`.
fn team(kids: &mut Kids, n: usize, f: impl Fn(usize) -> i32) -> anyhow::Result<Vec<i32>> {
    (0..n).map(|i| kids.spawn(|| f(i))).collect()
}

pub fn worker_pool(said: &Said) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    let jobs = new_set(&mut c, &[0])?;
    let workers = team(&mut kids, 3, |_| {
        forever(|| {
            op(jobs, 0, -1, 0)?;
            pause(ms(50)) // the work
        })
    })?;
    wait_blocked_in_semop(&workers)?;
    let producer = kids.spawn(|| {
        forever(|| {
            pause(ms(200))?;
            op(jobs, 0, 1, 0)
        })
    })?;
    said.say(
        "ready",
        json!({
            "semids": [jobs],
            "pids": {"producer": [producer], "workers": workers},
            "tids": {"producer": [producer], "workers": workers},
            "posters": {"jobs": [producer]},
        }),
    );
    hold();
    Ok(())
}

pub fn bounded_buffer(said: &Said) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    // 0 empty slots (2), 1 full slots (0), 2 the buffer's mutex.
    let (empty, full, mutex) = (0, 1, 2);
    let set = new_set(&mut c, &[2, 0, 1])?;
    let locked = |f: &dyn Fn()| -> std::io::Result<()> {
        op(set, mutex, -1, SEM_UNDO)?;
        f();
        op(set, mutex, 1, SEM_UNDO)
    };
    let producers = team(&mut kids, 2, |_| {
        forever(|| {
            op(set, empty, -1, 0)?;
            locked(&|| std::thread::sleep(ms(5)))?;
            op(set, full, 1, 0)
        })
    })?;
    wait_blocked_in_semop(&producers)?;
    let consumer = kids.spawn(|| {
        forever(|| {
            pause(ms(3000))?;
            op(set, full, -1, 0)?;
            locked(&|| std::thread::sleep(ms(5)))?;
            op(set, empty, 1, 0)
        })
    })?;
    said.say(
        "ready",
        json!({
            "semids": [set],
            "semaphores": {"empty": 0, "full": 1, "mutex": 2},
            "pids": {"producers": producers, "consumer": [consumer]},
            "tids": {"producers": producers, "consumer": [consumer]},
        }),
    );
    hold();
    Ok(())
}

pub fn counting_pool(said: &Said) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    // 0 the pool (2 places), 1 a gate the holders pass through (open: 1).
    let (pool, gate) = (0, 1);
    let set = new_set(&mut c, &[2, 1])?;
    let workers = team(&mut kids, 4, |i| {
        let _ = pause(ms(40 * i as u64));
        forever(|| {
            op(set, pool, -1, SEM_UNDO)?;
            // Through the gate: -1 and +1 at once, blocked while the ticker holds it.
            sysv_mut::semop(set, &mut [sembuf(gate, -1, 0), sembuf(gate, 1, 0)])?;
            pause(ms(150))?;
            op(set, pool, 1, SEM_UNDO)?;
            pause(ms(20))
        })
    })?;
    let ticker = kids.spawn(|| {
        forever(|| {
            pause(ms(2500))?;
            op(set, gate, -1, SEM_UNDO)?;
            pause(ms(700))?;
            op(set, gate, 1, SEM_UNDO)
        })
    })?;
    said.say(
        "ready",
        json!({
            "semids": [set],
            "semaphores": {"pool": 0, "gate": 1},
            "pool_size": 2,
            "pids": {"workers": workers, "ticker": [ticker]},
            "tids": {"workers": workers, "ticker": [ticker]},
        }),
    );
    hold();
    Ok(())
}

pub fn contended_lock(said: &Said) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    let lock = new_set(&mut c, &[1])?;
    let workers = team(&mut kids, 4, |_| {
        forever(|| {
            op(lock, 0, -1, SEM_UNDO)?;
            pause(ms(50))?;
            op(lock, 0, 1, SEM_UNDO)
        })
    })?;
    said.say(
        "ready",
        json!({
            "semids": [lock],
            "pids": {"workers": workers},
            "tids": {"workers": workers},
        }),
    );
    hold();
    Ok(())
}
