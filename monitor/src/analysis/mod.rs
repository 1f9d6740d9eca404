//! Findings on the model, each with its reason in words: leaks, deadlocks, long waits,
//! semaphores used before they were initialised, limits nearly reached.
//!
//! Everything here works on [`Model`] alone (no /proc), so it gives the same answers live,
//! in a snapshot, or on a replay.
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::{Model, NsId, ObjId, ObjKind, Wait, WaitOn};

mod knots;
mod leaks;
mod mutex;
pub mod posix;

pub use knots::step_text;

/// Thresholds.
#[derive(Clone, Debug)]
pub struct Config {
    /// A semaphore set unused this long (and whose users are gone) is a leak.
    pub sem_idle_s: f64,
    /// A wait this long is reported.
    pub long_wait_s: f64,
    /// A limit this full (0..1) is reported.
    pub limit_ratio: f64,
}

/// The one long-wait threshold (seconds): every command's `--long-wait` default and the
/// exporter's.
pub const LONG_WAIT_S: f64 = 5.0;

impl Default for Config {
    fn default() -> Self {
        Self {
            sem_idle_s: 300.0,
            long_wait_s: LONG_WAIT_S,
            limit_ratio: 0.9,
        }
    }
}

/// The three kinds of IPC object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IpcKind {
    Shm,
    Sem,
    Msg,
}

/// What a thread in a deadlock waits for from the others: a lock's holders, a signal
/// semaphore's posters, a queue's senders or receivers, a mutex's owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepRole {
    Holder,
    Poster,
    Sender,
    Receiver,
    Owner,
}

impl StepRole {
    /// "held by", "raised by", "fed by" (a queue's senders), "emptied by" (its receivers),
    /// "owned by" (a mutex's owner).
    pub fn verb(self) -> &'static str {
        match self {
            StepRole::Holder => "held by",
            StepRole::Poster => "raised by",
            StepRole::Sender => "fed by",
            StepRole::Receiver => "emptied by",
            StepRole::Owner => "owned by",
        }
    }
}

/// A robust or PI mutex in shared memory that a thread of a deadlock waits on, and the
/// thread its word names as its owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MutexStep {
    /// "robust" or "pi".
    pub kind: &'static str,
    /// What it lies in, in words: "/dev/shm/x", "System V segment 5", "memfd:x", ….
    pub object: String,
    /// Its offset in that object.
    pub offset: u64,
    /// The thread that owns it (from its word).
    pub owner_tid: u32,
}

/// One blocked thread of a deadlock: what it waits on, and the processes that could release
/// it — every one blocked in the same deadlock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CycleStep {
    pub pid: u32,
    pub tid: u32,
    /// What it waits on: a semaphore of a set, a queue, or a mutex (`shm`, with `mutex`: the
    /// System V segment it lies in, -1 when it lies in other shared memory).
    pub ipc: IpcKind,
    pub id: i32,
    pub semnum: Option<u16>,
    pub sem_op: Option<i16>,
    /// The processes that could release it.
    pub by: Vec<u32>,
    pub role: StepRole,
    /// The robust or PI mutex it waits on (`None`: a System V wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutex: Option<MutexStep>,
}

/// What was found.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    /// An object nobody will clean up: its creator is gone and nobody uses it.
    Leak { ipc: IpcKind, id: i32 },
    /// Threads blocked for good, proven: every thread that could release what each waits for
    /// is blocked among them (from the probe's account of every operation).
    Deadlock {
        pids: Vec<u32>,
        tids: Vec<u32>,
        cycle: Vec<CycleStep>,
    },
    /// A thread waiting on what nobody alive can release (its holder exited without
    /// SEM_UNDO, every poster or sender is gone, or all that could are stuck themselves).
    Stuck {
        pid: u32,
        tid: u32,
        ipc: IpcKind,
        id: i32,
        semnum: Option<u16>,
    },
    /// Threads blocked a long time on one object, with no operation on it since, whose
    /// releasers cannot be known (no probe history of it): neither a deadlock nor cleared.
    Stalled {
        ipc: IpcKind,
        id: i32,
        pids: Vec<u32>,
        tids: Vec<u32>,
        /// The longest of their waits, at least (seconds).
        waited_s: f64,
    },
    /// A wait of at least `waited_s` seconds (`exact`: from the probe, else a lower bound).
    LongWait {
        pid: u32,
        tid: u32,
        ipc: IpcKind,
        id: i32,
        waited_s: f64,
        exact: bool,
    },
    /// Waiters on a set on which no semop has ever succeeded.
    UsedBeforeInit { semid: i32, waiters: Vec<u32> },
    /// A limit nearly reached.
    LimitNear {
        limit: &'static str,
        used: u64,
        max: u64,
    },
}

impl What {
    /// The finding's kind as the JSON documents name it.
    pub fn kind(&self) -> &'static str {
        match self {
            What::Leak { .. } => "leak",
            What::Deadlock { .. } => "deadlock",
            What::Stuck { .. } => "stuck",
            What::Stalled { .. } => "stalled",
            What::LongWait { .. } => "long_wait",
            What::UsedBeforeInit { .. } => "used_before_init",
            What::LimitNear { .. } => "limit_near",
        }
    }
}

/// A finding and its reason, in one IPC namespace (findings never mix namespaces: ids are
/// per namespace, and a waiter in one is never held up by a process of another).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    #[serde(flatten)]
    pub what: What,
    pub reason: String,
    /// The IPC namespace of the objects and processes it names (inode; 0 unknown).
    pub ipc_ns: NsId,
}

/// How much of a limit is used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LimitUse {
    /// "semmni", "semmns", "shmmni", "shmall", "msgmni".
    pub limit: &'static str,
    /// In words: "semaphore sets", …
    pub what: &'static str,
    pub used: u64,
    pub max: Option<u64>,
}

/// Every finding, in a stable order: leaks, deadlocks, stuck waiters, stalled objects, long
/// waits, uninitialised sets, limits.
pub fn analyze(m: &Model, cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    leaks::leaks(m, cfg, &mut out);
    let k = knots::knots(m);
    out.extend(k.deadlocks);
    out.extend(k.stuck);
    stalled(m, cfg, &k.unknown, &mut out);
    long_waits(m, cfg, &mut out);
    used_before_init(m, &mut out);
    limits(m, cfg, &mut out);
    out
}

/// Threads blocked at least `cfg.long_wait_s` on one object whose releasers are not known,
/// with no successful operation on it since the oldest began: one finding per object.
fn stalled(m: &Model, cfg: &Config, unknown: &BTreeSet<u32>, out: &mut Vec<Finding>) {
    let now = m.now_mono_ns();
    let mut by_obj: BTreeMap<(NsId, IpcKind, i32), Vec<&Wait>> = BTreeMap::new();
    for w in m.waits().filter(|w| unknown.contains(&w.tid)) {
        if w.at_least_s(now) < cfg.long_wait_s {
            continue;
        }
        by_obj
            .entry((w.ns, ipc_of(&w.on), w.on.id()))
            .or_default()
            .push(w);
    }
    for ((ns, ipc, id), ws) in by_obj {
        let oid = ObjId { ns, id };
        // Unix seconds of the last operation on it.
        let last_op = match ipc {
            IpcKind::Sem => m.sem_set_at(oid).map(|s| s.otime),
            _ => m.queue_at(oid).map(|q| q.stime.max(q.rtime)),
        }
        .unwrap_or(0);
        let oldest = ws.iter().map(|w| w.since.at_ns()).min().unwrap_or(now);
        if last_op > 0 && (last_op as f64) > m.unix_s(oldest) {
            continue;
        }
        let waited = ws.iter().map(|w| w.at_least_s(now)).fold(0.0, f64::max);
        let pids: BTreeSet<u32> = ws.iter().map(|w| w.pid).collect();
        let tids: Vec<u32> = ws.iter().map(|w| w.tid).collect();
        let (what, whom) = match ipc {
            IpcKind::Sem => (format!("set {id}"), "holder"),
            _ => (format!("queue {id}"), "sender or receiver"),
        };
        out.push(Finding {
            ipc_ns: ns,
            reason: format!(
                "stalled: {} thread{} blocked at least {:.1} s on {what}, no operation on it \
                 since, {whom} unknown (what they wait for was taken before ipctop's probe \
                 saw it, or there is no probe: it cannot be told whether this is a deadlock)",
                tids.len(),
                if tids.len() == 1 { "" } else { "s" },
                waited,
            ),
            what: What::Stalled {
                ipc,
                id,
                pids: pids.into_iter().collect(),
                tids,
                waited_s: waited,
            },
        });
    }
}

fn ipc_of(on: &WaitOn) -> IpcKind {
    match on {
        WaitOn::Sem { .. } => IpcKind::Sem,
        _ => IpcKind::Msg,
    }
}

fn long_waits(m: &Model, cfg: &Config, out: &mut Vec<Finding>) {
    let now = m.now_mono_ns();
    for w in m.waits() {
        let waited = w.at_least_s(now);
        if waited < cfg.long_wait_s {
            continue;
        }
        let exact = w.exact();
        let ipc = ipc_of(&w.on);
        let on = match &w.on {
            WaitOn::Sem { semid, .. } => match m.blocking_sop(w) {
                Some(op) => format!(
                    "in semop on semaphore {} of set {semid} (sem_op {})",
                    op.semnum, op.sem_op
                ),
                None => format!("in semop on set {semid}"),
            },
            WaitOn::MsgRcv { msqid, .. } => format!("in msgrcv on queue {msqid} (empty)"),
            WaitOn::MsgSnd { msqid, .. } => format!("in msgsnd on queue {msqid} (full)"),
        };
        out.push(Finding {
            ipc_ns: w.ns,
            what: What::LongWait {
                pid: w.pid,
                tid: w.tid,
                ipc,
                id: w.on.id(),
                waited_s: waited,
                exact,
            },
            reason: format!(
                "pid {} (tid {}) has been blocked {on} for {}{:.1} s{}",
                w.pid,
                w.tid,
                if exact { "" } else { "at least " },
                waited,
                match w.since {
                    crate::model::Since::Asleep(_) => {
                        " (it began before the probe saw it: since it last ran, by its \
                         scheduler clock)"
                    }
                    crate::model::Since::FirstSeen(_) => " (since a snapshot first saw it)",
                    crate::model::Since::Exact(_) => "",
                }
            ),
        });
    }
}

/// A set waited on whose values nothing ever set: no semop ever succeeded (otime 0), no
/// SETVAL/SETALL set a semaphore (every sempid 0, and the probe saw none), and its ctime is
/// its creation's (when the probe saw it created: a later ctime means a control call
/// changed it). Without the values (semctl refused) it says nothing.
fn used_before_init(m: &Model, out: &mut Vec<Finding>) {
    for s in m.sem_sets() {
        if s.otime != 0 || s.values_set_by.is_some() {
            continue;
        }
        let Some(sems) = &s.semaphores else { continue };
        if sems.iter().any(|x| x.last_pid != 0) {
            continue;
        }
        if let Some(c) = m.creation(ObjKind::Sem, s.id) {
            if s.ctime > m.unix_s(c.mono_ns) as i64 + 1 {
                continue;
            }
        }
        let mut pids: BTreeSet<u32> = m.waiters_at(ObjKind::Sem, s.id).collect();
        let counted = sems.iter().any(|x| x.ncnt > 0 || x.zcnt > 0);
        if pids.is_empty() && !counted {
            continue;
        }
        pids.remove(&0);
        out.push(Finding {
            ipc_ns: s.id.ns,
            what: What::UsedBeforeInit {
                semid: s.id.id,
                waiters: pids.iter().copied().collect(),
            },
            reason: format!(
                "no semop has ever succeeded on set {} (sem_otime 0) and no SETVAL/SETALL set \
                 its values (every sempid 0{}), yet processes wait on it: it was probably used \
                 before its creator initialised it",
                s.id.id,
                if m.counts().1 > 0 {
                    ", and the probe saw none"
                } else {
                    ""
                }
            ),
        });
    }
}

/// How much of each limit [`Model::view_ns`] uses.
pub fn limit_usage(m: &Model) -> Vec<LimitUse> {
    limit_usage_of(m, m.view_ns())
}

/// How much of each limit the namespace `ns` uses (limits are per namespace).
pub fn limit_usage_of(m: &Model, ns: NsId) -> Vec<LimitUse> {
    let l = m.limits_of(ns).cloned().unwrap_or_default();
    let page = l.page_size.max(1);
    let sets = || m.sem_sets().filter(|s| s.id.ns == ns);
    let segs = || m.segments().filter(|s| s.id.ns == ns);
    vec![
        LimitUse {
            limit: "semmni",
            what: "semaphore sets",
            used: sets().count() as u64,
            max: l.semmni,
        },
        LimitUse {
            limit: "semmns",
            what: "semaphores",
            used: sets().map(|s| s.nsems as u64).sum(),
            max: l.semmns,
        },
        LimitUse {
            limit: "shmmni",
            what: "shared memory segments",
            used: segs().count() as u64,
            max: l.shmmni,
        },
        LimitUse {
            limit: "shmall",
            what: "pages of shared memory",
            used: segs().map(|s| s.size.div_ceil(page)).sum(),
            max: l.shmall,
        },
        LimitUse {
            limit: "msgmni",
            what: "message queues",
            used: m.queues().filter(|q| q.id.ns == ns).count() as u64,
            max: l.msgmni,
        },
    ]
}

fn limits(m: &Model, cfg: &Config, out: &mut Vec<Finding>) {
    let namespaces = m.namespaces();
    let shown = namespaces.iter().filter(|n| n.in_scope).map(|n| n.ns);
    for (ns, u) in shown.flat_map(|ns| limit_usage_of(m, ns).into_iter().map(move |u| (ns, u))) {
        let Some(max) = u.max.filter(|&x| x > 0) else {
            continue;
        };
        if (u.used as f64) < cfg.limit_ratio * max as f64 {
            continue;
        }
        out.push(Finding {
            ipc_ns: ns,
            what: What::LimitNear {
                limit: u.limit,
                used: u.used,
                max,
            },
            reason: format!(
                "{} of {} {} are in use ({:.0}% of {}): creating more will soon fail with ENOSPC",
                u.used,
                max,
                u.what,
                u.used as f64 * 100.0 / max as f64,
                u.limit
            ),
        });
    }
}

#[cfg(test)]
mod tests;
