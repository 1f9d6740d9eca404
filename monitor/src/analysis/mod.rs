//! Findings on the model, each with its reason in words: leaks, deadlocks, long waits,
//! semaphores used before they were initialised, limits nearly reached.
//!
//! Everything here works on [`Model`] alone (no /proc), so it gives the same answers live,
//! in a snapshot, or on a replay.
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::{HolderSource, Model, NsId, ObjKind, Since, WaitOn};

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

/// One step of a deadlock cycle: `pid` waits on a semaphore that `held_by` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CycleStep {
    pub pid: u32,
    pub semid: i32,
    pub semnum: u16,
    pub sem_op: i16,
    pub held_by: u32,
    pub holder_source: HolderSource,
}

/// What was found.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    /// An object nobody will clean up.
    Leak { ipc: IpcKind, id: i32 },
    /// Processes waiting on each other in a cycle.
    Deadlock {
        pids: Vec<u32>,
        cycle: Vec<CycleStep>,
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

/// Every finding, in a stable order: leaks, deadlocks, long waits, uninitialised sets, limits.
pub fn analyze(m: &Model, cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    leaks(m, cfg, &mut out);
    deadlocks(m, &mut out);
    long_waits(m, cfg, &mut out);
    used_before_init(m, &mut out);
    limits(m, cfg, &mut out);
    out
}

fn gone(m: &Model, pid: u32, at_s: i64) -> &'static str {
    if pid == 0 {
        "unknown"
    } else if m.process(pid).is_some_and(|p| p.alive()) && !m.alive_at(pid, at_s) {
        "reused (that pid now belongs to a process started later)"
    } else if m.alive_at(pid, at_s) {
        "alive"
    } else {
        "gone"
    }
}

fn leaks(m: &Model, cfg: &Config, out: &mut Vec<Finding>) {
    let now_s = m.now_unix_s();
    for s in m.segments() {
        if s.nattch > 0 || s.marked_for_destroy || m.alive_at(s.creator_pid, s.ctime) {
            continue;
        }
        out.push(Finding {
            ipc_ns: s.id.ns,
            what: What::Leak {
                ipc: IpcKind::Shm,
                id: s.id.id,
            },
            reason: format!(
                "segment {} ({} bytes) is attached by nobody (nattch 0), is not marked for \
                 destruction, and its creator pid {} is {}; {}",
                s.id.id,
                s.size,
                s.creator_pid,
                gone(m, s.creator_pid, s.ctime),
                if s.last_pid == 0 {
                    "it was never attached".to_string()
                } else {
                    format!(
                        "last attached/detached by pid {} ({})",
                        s.last_pid,
                        gone(m, s.last_pid, s.ctime.max(s.atime).max(s.dtime))
                    )
                },
            ),
        });
    }
    for s in m.sem_sets() {
        let Some(sems) = &s.semaphores else { continue };
        let last_use = s.otime.max(s.ctime);
        let mut idle = now_s - last_use as f64;
        if let Some(t) = m
            .object_account_at(ObjKind::Sem, s.id)
            .and_then(|a| a.last_mono_ns)
        {
            idle = idle.min(now_s - m.unix_s(t));
        }
        let waited = sems.iter().any(|x| x.ncnt > 0 || x.zcnt > 0)
            || m.waiters_at(ObjKind::Sem, s.id).next().is_some();
        let creator_alive = s.creator_pid.is_some_and(|p| m.alive_at(p, s.ctime));
        let user_alive = sems
            .iter()
            .any(|x| m.alive_at(x.last_pid, s.otime.max(s.ctime)));
        if waited || creator_alive || user_alive || idle < cfg.sem_idle_s {
            continue;
        }
        let users: BTreeSet<u32> = sems
            .iter()
            .map(|x| x.last_pid)
            .filter(|&p| p != 0)
            .collect();
        let creator = match s.creator_pid {
            Some(p) => format!("its creator pid {p} is {}", gone(m, p, s.ctime)),
            None => "its creator is unknown (not recorded by the kernel)".into(),
        };
        let users = if users.is_empty() {
            "no process has operated on it".to_string()
        } else {
            format!(
                "the last processes to operate on it ({}) are gone",
                users
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        out.push(Finding {
            ipc_ns: s.id.ns,
            what: What::Leak {
                ipc: IpcKind::Sem,
                id: s.id.id,
            },
            reason: format!(
                "semaphore set {} has been unused for {:.0} s, nobody waits on it, {creator}, \
                 and {users}",
                s.id.id, idle
            ),
        });
    }
    for q in m.queues() {
        if q.qnum == 0
            || m.waiters_at(ObjKind::Msg, q.id).next().is_some()
            || m.alive_at(q.last_send_pid, q.stime)
            || m.alive_at(q.last_recv_pid, q.rtime)
            || q.creator_pid.is_some_and(|p| m.alive_at(p, q.ctime))
        {
            continue;
        }
        out.push(Finding {
            ipc_ns: q.id.ns,
            what: What::Leak {
                ipc: IpcKind::Msg,
                id: q.id.id,
            },
            reason: format!(
                "queue {} holds {} messages ({} bytes) that nobody will read: {}, {}, and \
                 nobody waits on it",
                q.id.id,
                q.qnum,
                q.cbytes,
                match q.last_send_pid {
                    0 => "its last sender is unknown".to_string(),
                    p => format!("its last sender (pid {p}) is {}", gone(m, p, q.stime)),
                },
                match q.last_recv_pid {
                    0 => "nothing was ever received from it".to_string(),
                    p => format!("its last receiver (pid {p}) is {}", gone(m, p, q.rtime)),
                },
            ),
        });
    }
}

/// The wait-for graph: waiter pid → (holder pid, the step). Edges stay within a namespace:
/// a holder is of the waiter's namespace (the set's ids are that namespace's).
pub fn wait_for_graph(m: &Model) -> BTreeMap<u32, Vec<CycleStep>> {
    let mut g: BTreeMap<u32, Vec<CycleStep>> = BTreeMap::new();
    for w in m.waits() {
        let WaitOn::Sem { semid, .. } = w.on else {
            continue;
        };
        let Some((op, Some(h))) = m.wait_holders(w) else {
            continue;
        };
        for &holder in &h.pids {
            if !m.process(holder).is_some_and(|p| p.alive()) || m.process_ns(holder) != w.ns {
                continue;
            }
            let step = CycleStep {
                pid: w.pid,
                semid,
                semnum: op.semnum,
                sem_op: op.sem_op,
                held_by: holder,
                holder_source: h.source,
            };
            let e = g.entry(w.pid).or_default();
            if !e.contains(&step) {
                e.push(step);
            }
        }
    }
    g
}

const MAX_CYCLES: usize = 64;
const MAX_LEN: usize = 32;

fn deadlocks(m: &Model, out: &mut Vec<Finding>) {
    let g = wait_for_graph(m);
    let mut cycles: Vec<Vec<CycleStep>> = Vec::new();
    // Each elementary cycle once: found from its smallest pid, through larger pids only.
    for &start in g.keys() {
        let mut path: Vec<CycleStep> = Vec::new();
        dfs(&g, start, start, &mut path, &mut cycles);
        if cycles.len() >= MAX_CYCLES {
            break;
        }
    }
    let probe = m.account().kernel_at().is_some() || m.counts().1 > 0;
    for cycle in cycles {
        let pids: Vec<u32> = cycle.iter().map(|s| s.pid).collect();
        let guessed = cycle
            .iter()
            .filter(|s| s.holder_source == HolderSource::LastPidGuess)
            .count();
        let steps: Vec<String> = cycle
            .iter()
            .map(|s| {
                format!(
                    "pid {} waits on semaphore {} of set {} (sem_op {}) held by pid {}{}",
                    s.pid,
                    s.semnum,
                    s.semid,
                    s.sem_op,
                    s.held_by,
                    if s.holder_source == HolderSource::LastPidGuess {
                        " (guess)"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        let mut reason = steps.join("; ");
        reason.push_str(match (guessed, probe) {
            (0, _) => " (holders from the probe: they decremented and have not given back)",
            (_, true) => {
                " (holders marked guess: the probe saw no process take those semaphores \
                 without giving them back, so the last process that operated on each, GETPID)"
            }
            (_, false) => {
                " (holders are a best guess without the probe: the last process that operated \
                 on each semaphore, GETPID)"
            }
        });
        out.push(Finding {
            ipc_ns: m.process_ns(pids[0]),
            what: What::Deadlock { pids, cycle },
            reason,
        });
    }
}

fn dfs(
    g: &BTreeMap<u32, Vec<CycleStep>>,
    start: u32,
    at: u32,
    path: &mut Vec<CycleStep>,
    cycles: &mut Vec<Vec<CycleStep>>,
) {
    if cycles.len() >= MAX_CYCLES || path.len() >= MAX_LEN {
        return;
    }
    for step in g.get(&at).into_iter().flatten() {
        let next = step.held_by;
        if next == start {
            let mut c = path.clone();
            c.push(step.clone());
            // Parallel edges (several semaphores between the same pids) count once.
            if !cycles
                .iter()
                .any(|x| x.iter().map(|s| s.pid).eq(c.iter().map(|s| s.pid)))
            {
                cycles.push(c);
            }
        } else if next > start && !path.iter().any(|s| s.pid == next) {
            path.push(step.clone());
            dfs(g, start, next, path, cycles);
            path.pop();
        }
    }
}

fn long_waits(m: &Model, cfg: &Config, out: &mut Vec<Finding>) {
    let now = m.now_mono_ns();
    for w in m.waits() {
        let waited = w.at_least_s(now);
        if waited < cfg.long_wait_s {
            continue;
        }
        let exact = matches!(w.since, Since::Exact(_));
        let ipc = match w.on {
            WaitOn::Sem { .. } => IpcKind::Sem,
            _ => IpcKind::Msg,
        };
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
                "pid {} (tid {}) has been blocked {on} for {}{:.1} s",
                w.pid,
                w.tid,
                if exact { "" } else { "at least " },
                waited
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
