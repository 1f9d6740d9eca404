//! Waits on robust and PI mutexes in shared memory as nodes of `knots.rs`'s wait-for graph,
//! beside System V's: such a mutex's word names the thread that owns it (only that thread can
//! unlock it), so its waiter is released only by that thread — proven by the word itself, as
//! a semaphore's holders are by the probe's counts. A mutex or semaphore whose word names no
//! owner (a plain mutex, a condition variable, a `sem_t`) proves nothing and is no node.
//!
//! The stamp rules are System V's: a wait is judged once it is known to have begun (its
//! thread asleep by, from its scheduler clock) before the kernel's last count of the holds,
//! and not when the probe saw its thread operate after the look began. An owner is proven only if it was
//! already blocked when the look that read the word began: an owner that blocked later may
//! have unlocked the mutex in between (its waiter woken after the word was read).
use std::collections::BTreeMap;

use super::{
    knots::{judged_at_kernel_count, Node, On},
    CycleStep, IpcKind, MutexStep, StepRole,
};
use crate::{
    model::{Model, Releasers},
    posix::{SyncKind, WaitObject},
};

/// Adds the waits on robust and PI mutexes of the namespaces in scope to `nodes` (a thread
/// already there — a System V wait — is kept as it is).
pub(super) fn add_nodes<'a>(m: &'a Model, nodes: &mut BTreeMap<u32, Node<'a>>) {
    let Some(look) = m.posix() else {
        return;
    };
    // The look's clocks, to put a unix time on the monotonic clock.
    let to_mono = |unix: u64| -> u64 {
        (i128::from(unix) - i128::from(look.unix_ns) + i128::from(look.mono_ns)).max(0) as u64
    };
    let mut added = Vec::new();
    for w in m.futex_waits() {
        let kind = match w.sync {
            SyncKind::RobustMutex { owner: Some(_) } => "robust",
            SyncKind::PiMutex { owner: Some(_) } => "pi",
            _ => continue,
        };
        let Some(owner_tid) = w.sync.owner() else {
            continue;
        };
        if nodes.contains_key(&w.tid) {
            continue;
        }
        // The probe saw its thread operate after the look began: the wait may be over.
        let last_op = m.last_op_ns(w.pid, w.tid);
        if last_op.is_some_and(|t| t > look.mono_ns) {
            continue;
        }
        // The wait the look saw began after the thread's last operation: its asleep time
        // (from scheduler clocks, a tick coarse: it reads a little early) is no earlier.
        let began_by = w
            .asleep_since_unix_ns
            .map(|u| to_mono(u).max(last_op.unwrap_or(0)));
        if !judged_at_kernel_count(m, began_by) {
            continue;
        }
        let id = match w.on {
            WaitObject::SysvShm { shmid, .. } => shmid,
            _ => -1,
        };
        added.push(w.tid);
        nodes.insert(
            w.tid,
            Node {
                pid: w.pid,
                ns: w.ipc_ns.unwrap_or_else(|| m.home_ns()),
                began_by,
                on: On::Mutex {
                    mx: MutexStep {
                        kind,
                        object: w.on.describe(),
                        offset: w.offset,
                        owner_tid,
                    },
                    id,
                },
                rel: Releasers::Unknown,
            },
        );
    }
    for tid in added {
        let owner_tid = match &nodes[&tid].on {
            On::Mutex { mx, .. } => mx.owner_tid,
            On::SysV { .. } => continue,
        };
        let rel = match nodes.get(&owner_tid) {
            // Blocked, but maybe only since the word was read: not proven.
            Some(o) if o.began_by.is_none_or(|b| b > look.mono_ns) => Releasers::Unknown,
            Some(o) => owned_by_thread(o.pid, owner_tid),
            // Not blocked in a wait the graph knows: it runs (or sleeps on something else
            // that may end), or is gone (the kernel then hands the mutex on).
            None => owned_by_thread(0, owner_tid),
        };
        if let Some(n) = nodes.get_mut(&tid) {
            n.rel = rel;
        }
    }
}

fn owned_by_thread(pid: u32, tid: u32) -> Releasers {
    Releasers::Known {
        role: None,
        threads: vec![(pid, tid)],
        processes: Vec::new(),
    }
}

/// A mutex waiter's step of a deadlock.
pub(super) fn step(pid: u32, tid: u32, mx: &MutexStep, id: i32, by: Vec<u32>) -> CycleStep {
    CycleStep {
        pid,
        tid,
        ipc: IpcKind::Shm,
        id,
        semnum: None,
        sem_op: None,
        by,
        role: StepRole::Owner,
        mutex: Some(mx.clone()),
    }
}

/// "the robust mutex at /dev/shm/x+0x40 owned by tid 10 (a)"; "… owned by tid 12 of pid 10
/// (a)" when the owner is not its process's first thread.
pub(super) fn owned_by(mx: &MutexStep, by: &[u32], comm: impl Fn(u32) -> Option<String>) -> String {
    let owner = mx.owner_tid;
    let of = match by.first() {
        Some(&p) if p != owner => format!(" of pid {p}"),
        _ => String::new(),
    };
    let name = by
        .first()
        .and_then(|&p| comm(p))
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    format!(
        "the {} mutex at {}+{:#x} owned by tid {owner}{of}{name}",
        match mx.kind {
            "pi" => "PI",
            k => k,
        },
        crate::text::escape(&mx.object),
        mx.offset
    )
}
