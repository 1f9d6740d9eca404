//! The POSIX part of the `snapshot` document (`posix` in its JSON): queues, /dev/shm objects
//! and named semaphores with their users, futex waits in shared memory with the object and
//! offset each falls in, the POSIX findings, and what could not be known.
use serde::Serialize;

use crate::{
    analysis::posix::PosixFinding,
    model::Model,
    posix::{FutexWait, MqRead, PosixProc, ShmObject},
};

/// A futex wait with its age.
#[derive(Debug, Serialize)]
pub struct FutexWaitDoc {
    #[serde(flatten)]
    pub wait: FutexWait,
    /// Seconds it has waited at least (from the thread's scheduler clock), when known.
    pub waited_at_least_s: Option<f64>,
}

/// `posix` in the snapshot JSON.
#[derive(Debug, Serialize)]
pub struct PosixDoc {
    /// How it was read (what ipctop chose so as not to change anything).
    pub method: String,
    pub taken_at_unix_s: f64,
    pub queues: Vec<MqRead>,
    /// A queue's bytes are not read: only its file tells, and reading it resets its times.
    pub queue_bytes: &'static str,
    pub shm_objects: Vec<ShmObject>,
    pub futex_waits: Vec<FutexWaitDoc>,
    /// The processes named above.
    pub processes: Vec<PosixProc>,
    pub findings: Vec<PosixFinding>,
    pub unknown: Vec<String>,
    /// The processes whose descriptors, mappings or namespaces could not be read (users may
    /// be missing among them).
    pub unread_pids: Vec<u32>,
}

/// What a queue's bytes are said to be.
pub const QUEUE_BYTES: &str =
    "unknown: only the queue's file says, and reading it resets the queue's times";

/// Seconds since `since_unix_ns` at `now_unix_ns`.
pub fn age_s(now_unix_ns: u64, since_unix_ns: Option<u64>) -> Option<f64> {
    since_unix_ns.map(|s| now_unix_ns.saturating_sub(s) as f64 / 1e9)
}

/// The document, or `None` when POSIX IPC was not looked at.
pub fn doc(m: &Model) -> Option<PosixDoc> {
    let p = m.posix()?;
    let waits: Vec<FutexWaitDoc> = m
        .futex_waits()
        .map(|w| FutexWaitDoc {
            wait: w.clone(),
            waited_at_least_s: age_s(p.unix_ns, w.asleep_since_unix_ns),
        })
        .collect();
    let mut pids: std::collections::BTreeSet<u32> = waits.iter().map(|w| w.wait.pid).collect();
    let queues: Vec<MqRead> = m.posix_queues().cloned().collect();
    let shm: Vec<ShmObject> = m.posix_shm().cloned().collect();
    for q in &queues {
        pids.extend(q.openers.iter().map(|o| o.pid));
    }
    for o in &shm {
        pids.extend(o.openers.iter().map(|o| o.pid));
        pids.extend(o.mappers.iter().map(|o| o.pid));
    }
    Some(PosixDoc {
        method: p.method.clone(),
        taken_at_unix_s: p.unix_ns as f64 / 1e9,
        queues,
        queue_bytes: QUEUE_BYTES,
        shm_objects: shm,
        futex_waits: waits,
        processes: pids
            .into_iter()
            .filter_map(|pid| p.proc(pid).cloned())
            .collect(),
        findings: crate::analysis::posix::findings(m),
        unknown: p.unknowns.clone(),
        unread_pids: p.unread_pids.clone(),
    })
}
