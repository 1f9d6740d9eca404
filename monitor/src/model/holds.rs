//! Who holds and who raises each semaphore, from what the probe saw done to it: each
//! process's (or thread's) units taken and given ([`HoldRow`]), the semaphore's role
//! ([`SemRole`]: a lock has holders, a signal/counting semaphore posters), and who could
//! release a blocked thread ([`Releasers`]).
//!
//! Where the rows come from: the kernel's exact per-process counts of every successful
//! operation (`KernelSample::holds`) whenever the probe aggregates; the events only when every
//! call is sent (then they are complete). Never from the recorded sample of events alone,
//! which holds the slow acquires and not the fast releases.
//!
//! The role, by evidence: a process that raised the semaphore at least twice and never took
//! from it is a poster — the semaphore signals (worker pools, bounded buffers); otherwise it is
//! a lock (each taker gives back what it took, or SEM_UNDO ties the unit to it), whose
//! holders are the takers that have not given back. A single raise without a take is taken
//! for an initialisation. Evidence is kept for the set's life: a poster that exits stays
//! known (then nobody alive may be able to raise it: stuck).
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{HolderSource, Holders, Model, ObjId, ObjKind, Sop, WaitOn};
use crate::sample::Hold;

/// One process's (or one of its threads') successful operations on one semaphore.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HoldRow {
    pub pid: u32,
    /// The thread, when the probe counts per thread (`None`: the process as a whole).
    pub tid: Option<u32>,
    pub start: Option<u64>,
    pub taken: u64,
    pub given: u64,
    /// Of `given`, units given while it held none (posted for others); `None`: not told
    /// apart (an older probe).
    pub posted: Option<u64>,
    /// Units taken with SEM_UNDO minus given with it: what the kernel gives back at exit.
    pub undo: i64,
    pub last_ns: u64,
}

impl HoldRow {
    /// Units it holds (took and has not given back).
    pub fn held(&self) -> i64 {
        self.taken as i64 - self.given as i64 + self.posted.unwrap_or(0) as i64
    }

    /// Units it gave back after taking them.
    pub fn released(&self) -> u64 {
        self.given - self.posted.unwrap_or(0).min(self.given)
    }

    /// Raised it repeatedly for others (a single raise is an initialisation): a poster.
    fn posts(&self) -> bool {
        match self.posted {
            Some(p) => p >= 2,
            None => self.taken == 0 && self.given >= 2,
        }
    }

    /// Raises it for others (has posted, or given more than it took).
    fn raises(&self) -> bool {
        match self.posted {
            Some(p) => p > 0,
            None => self.given > self.taken,
        }
    }

    /// Adds one operation (`op` units; `undo`: with SEM_UNDO) as the kernel counts it: a
    /// positive one gives back what it holds first, and posts the rest.
    fn add_op(&mut self, op: i16, undo: bool) {
        if op < 0 {
            self.taken += op.unsigned_abs() as u64;
        } else {
            let back = (op as i64).min(self.held().max(0)) as u64;
            self.given += op as u64;
            *self.posted.get_or_insert(0) += op as u64 - back;
        }
        if undo {
            self.undo -= op as i64;
        }
    }
}

/// What a semaphore is, by what was done to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SemRole {
    /// Taken and given back by the same processes: held.
    Lock,
    /// Raised by processes that do not take it (posters) for others to take.
    Signal,
}

impl SemRole {
    /// "held by" or "raised by".
    pub fn verb(self) -> &'static str {
        match self {
            SemRole::Lock => "held by",
            SemRole::Signal => "raised by",
        }
    }
}

/// What is remembered of one semaphore for its set's life.
#[derive(Clone, Debug, Default)]
pub(super) struct Evidence {
    /// Processes seen raising it for others (pid → start, and when last seen so).
    posters: BTreeMap<u32, (Option<u64>, u64)>,
    /// Taken and given back like a lock at some time.
    lock: bool,
    /// Units held by processes that are gone, not given back by the kernel (taken without
    /// SEM_UNDO): (pid, units).
    lost: Vec<(u32, i64)>,
}

/// Who was seen sending to and receiving from a queue, for its life (pid → start, and when
/// last seen doing it).
#[derive(Clone, Debug, Default)]
pub(super) struct QueueEvidence {
    senders: BTreeMap<u32, (Option<u64>, u64)>,
    receivers: BTreeMap<u32, (Option<u64>, u64)>,
}

/// At most this many posters and lost holders are remembered per semaphore.
const EVIDENCE_KEPT: usize = 32;

/// Who could release a blocked thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Releasers {
    /// These could: threads (a lock's holders, where the probe counts per thread), and
    /// processes any of whose threads could.
    Known {
        role: Option<SemRole>,
        threads: Vec<(u32, u32)>,
        processes: Vec<u32>,
    },
    /// Nobody alive can (the evidence in words).
    Nobody(String),
    /// Not known: what it waits for was taken (or posted) before the probe saw it, or there
    /// is no probe.
    Unknown,
}

impl Model {
    /// Replaces the holds with the kernel's rows; remembers posters and what gone holders
    /// took without SEM_UNDO.
    pub(super) fn kernel_holds(&mut self, rows: &[Hold]) {
        let mut next: BTreeMap<(ObjId, u16), Vec<HoldRow>> = BTreeMap::new();
        for h in rows {
            let ns = h.ipc_ns.unwrap_or_else(|| self.ns_of_pid(h.pid));
            next.entry((ObjId { ns, id: h.semid }, h.semnum))
                .or_default()
                .push(HoldRow {
                    pid: h.pid,
                    tid: h.tid,
                    start: h.start,
                    taken: h.taken,
                    given: h.given,
                    posted: h.posted,
                    undo: h.undo,
                    last_ns: h.last_ns,
                });
        }
        self.replace_holds(next);
    }

    /// The new rows replace the old: rows that went are of processes that are gone (or of
    /// sets removed): the kernel deletes a row only then, and hands it over once more first
    /// (so a process that lived between two snapshots, unknown to them, is gone all the same).
    pub(super) fn replace_holds(&mut self, next: BTreeMap<(ObjId, u16), Vec<HoldRow>>) {
        for (sem, rows) in &self.holds {
            let now = next.get(sem);
            for r in rows {
                let kept = now.is_some_and(|v| v.iter().any(|n| n.pid == r.pid));
                let left = r.held() - r.undo.max(0);
                // Its process is gone unless a snapshot shows it alive with that start.
                let alive = self.processes.get(&r.pid).is_some_and(|p| {
                    p.alive()
                        && (r.start.is_none()
                            || p.start_ticks.is_none()
                            || p.start_ticks == r.start)
                });
                if !kept && left > 0 && !alive {
                    let e = self.sem_evidence.entry(*sem).or_default();
                    if e.lost.len() < EVIDENCE_KEPT {
                        e.lost.push((r.pid, left));
                    }
                }
            }
        }
        let at = self.now_mono_ns;
        for (sem, rows) in &next {
            for r in rows {
                if r.posts() {
                    let e = self.sem_evidence.entry(*sem).or_default();
                    if e.posters.len() < EVIDENCE_KEPT || e.posters.contains_key(&r.pid) {
                        e.posters.insert(r.pid, (r.start, at));
                    }
                } else if r.taken > 0 && r.released() > 0 {
                    self.sem_evidence.entry(*sem).or_default().lock = true;
                }
            }
        }
        self.holds = next;
        self.holds_at = at;
    }

    /// A successful semop seen as an event (only when every call is sent): its operations
    /// into the rows of its process.
    pub(super) fn event_holds(&mut self, set: ObjId, pid: u32, ops: &[(u16, i16, bool)], t: u64) {
        let mut next = std::mem::take(&mut self.holds);
        for &(semnum, op, undo) in ops.iter().filter(|o| o.1 != 0) {
            let rows = next.entry((set, semnum)).or_default();
            let i = match rows.iter().position(|r| r.pid == pid) {
                Some(i) => i,
                None => {
                    rows.push(HoldRow {
                        pid,
                        ..Default::default()
                    });
                    rows.len() - 1
                }
            };
            let r = &mut rows[i];
            r.add_op(op, undo);
            r.last_ns = t;
        }
        self.holds = next;
        let rows = std::mem::take(&mut self.holds);
        self.replace_holds(rows);
    }

    /// Forgets the holds and evidence of a set that ended.
    pub(super) fn forget_set(&mut self, set: ObjId) {
        let lo = (set, 0u16);
        let hi = (set, u16::MAX);
        let keys: Vec<_> = self.holds.range(lo..=hi).map(|(k, _)| *k).collect();
        for k in keys {
            self.holds.remove(&k);
        }
        let keys: Vec<_> = self.sem_evidence.range(lo..=hi).map(|(k, _)| *k).collect();
        for k in keys {
            self.sem_evidence.remove(&k);
        }
    }

    /// Whether the process `pid` (that started at `start`, when known), last seen at
    /// `seen_ns`, is alive now: as the last snapshot saw it; one it did not list is alive only
    /// if seen since (it may have started after it).
    pub(super) fn alive_now(&self, pid: u32, start: Option<u64>, seen_ns: u64) -> bool {
        match self.processes.get(&pid) {
            Some(p) => {
                p.alive() && (start.is_none() || p.start_ticks.is_none() || p.start_ticks == start)
            }
            None => self.last_snapshot_ns.is_none_or(|s| seen_ns > s),
        }
    }

    /// When the probe last saw thread `tid` of `pid` complete a semaphore operation (CLOCK_MONOTONIC
    /// ns), by its hold rows (a process's own row when the kernel keeps none per thread).
    pub fn last_op_ns(&self, pid: u32, tid: u32) -> Option<u64> {
        self.holds
            .values()
            .flatten()
            .filter(|r| r.pid == pid && r.tid.map_or(tid == pid, |t| t == tid))
            .map(|r| r.last_ns)
            .max()
    }

    /// Every row of a semaphore (live processes, and the probe's current view).
    pub fn hold_rows(&self, set: ObjId, semnum: u16) -> &[HoldRow] {
        self.holds.get(&(set, semnum)).map_or(&[], Vec::as_slice)
    }

    /// What a semaphore is, by what the probe saw done to it; `None`: nothing seen.
    pub fn sem_role(&self, set: ObjId, semnum: u16) -> Option<SemRole> {
        let e = self.sem_evidence.get(&(set, semnum));
        if e.is_some_and(|e| !e.posters.is_empty()) {
            return Some(SemRole::Signal);
        }
        // A lock only once it was seen taken and given back by one process: takers that have
        // never given back may be waiting for posters not seen yet (a bounded buffer's
        // producers before its consumer has posted twice), which proves nothing.
        let lock_like = self
            .holds
            .get(&(set, semnum))
            .is_some_and(|v| v.iter().any(|r| r.taken > 0 && r.released() > 0));
        (lock_like || e.is_some_and(|e| e.lock)).then_some(SemRole::Lock)
    }

    /// The live holders of a lock (rows with units held) or the live posters of a signal
    /// semaphore, as pids.
    fn role_pids(&self, set: ObjId, semnum: u16, role: SemRole) -> Vec<u32> {
        let rows = self.hold_rows(set, semnum);
        let mut pids: BTreeSet<u32> = match role {
            SemRole::Lock => rows
                .iter()
                .filter(|r| r.held() > 0 && self.alive_now(r.pid, r.start, self.holds_at))
                .map(|r| r.pid)
                .collect(),
            SemRole::Signal => rows
                .iter()
                .filter(|r| r.raises() && self.alive_now(r.pid, r.start, self.holds_at))
                .map(|r| r.pid)
                .collect(),
        };
        if role == SemRole::Signal {
            if let Some(e) = self.sem_evidence.get(&(set, semnum)) {
                pids.extend(
                    e.posters
                        .iter()
                        .filter(|(p, (s, t))| self.alive_now(**p, *s, *t))
                        .map(|(p, _)| *p),
                );
            }
        }
        pids.into_iter().collect()
    }

    /// Who holds semaphore `semnum` of set `set` (a lock's holders), or raises it (a signal
    /// semaphore's posters), from the probe; where the probe did not see the set's whole
    /// life and knows no holder, the last process that operated on it (GETPID), shown as a
    /// guess and never used to conclude anything. `None`: nobody (the probe saw it all), or
    /// not known.
    pub fn holders(&self, set: ObjId, semnum: u16) -> Option<Holders> {
        if let Some(role) = self.sem_role(set, semnum) {
            let pids = self.role_pids(set, semnum, role);
            if !pids.is_empty() {
                return Some(Holders {
                    pids,
                    source: HolderSource::Events,
                    role: Some(role),
                });
            }
        }
        if self.probe_knows() && self.history_complete(ObjKind::Sem, set) {
            return None;
        }
        let s = self
            .sem_sets
            .get(&set)?
            .semaphores
            .as_ref()?
            .get(semnum as usize)?;
        // The guess is no guess when that process waits on this very semaphore.
        let waits_on_it = self.waits.values().any(|w| {
            w.pid == s.last_pid
                && w.ns == set.ns
                && w.on.id() == set.id
                && matches!(w.on, WaitOn::Sem { .. })
                && self.blocking_sop(w).is_some_and(|o| o.semnum == semnum)
        });
        (s.last_pid != 0 && !waits_on_it).then(|| Holders {
            pids: vec![s.last_pid],
            source: HolderSource::LastPidGuess,
            role: None,
        })
    }

    /// Whether the probe's account of semaphores is there (kernel samples with holds, or
    /// every call as events).
    pub fn probe_knows(&self) -> bool {
        self.account.kernel_at().is_some() || self.events > 0
    }

    /// Whether the probe saw this object's whole life: it saw it created, or it appeared
    /// after the probe had started. Only then can what was done to it be complete.
    pub fn history_complete(&self, kind: ObjKind, id: ObjId) -> bool {
        let Some(since) = self.probe_since_ns else {
            return false;
        };
        let first = match kind {
            ObjKind::Sem => self.sem_sets.get(&id).map(|s| s.first_seen_ns),
            ObjKind::Shm => self.segments.get(&id).map(|s| s.first_seen_ns),
            ObjKind::Msg => self.queues.get(&id).map(|q| q.first_seen_ns),
        };
        self.created.contains_key(&(kind, id)) || first.is_some_and(|t| t > since)
    }

    /// Who could release a thread blocked on semaphore `semnum` of `set` by `op`.
    pub fn sem_releasers(&self, set: ObjId, op: &Sop) -> Releasers {
        if op.sem_op >= 0 || !self.history_complete(ObjKind::Sem, set) {
            // A wait-for-zero is released by whoever takes the rest: not known.
            return Releasers::Unknown;
        }
        let Some(role) = self.sem_role(set, op.semnum) else {
            return Releasers::Unknown;
        };
        let rows = self.hold_rows(set, op.semnum);
        let mut threads = Vec::new();
        let mut processes = BTreeSet::new();
        for r in rows
            .iter()
            .filter(|r| self.alive_now(r.pid, r.start, self.holds_at))
        {
            let releases = match role {
                SemRole::Lock => r.held() > 0,
                // A signal semaphore: its posters, and takers that give back (a pool's
                // users) while they hold units.
                SemRole::Signal => r.raises() || (r.held() > 0 && r.released() > 0),
            };
            if !releases {
                continue;
            }
            match (role, r.tid) {
                (SemRole::Lock, Some(tid)) => threads.push((r.pid, tid)),
                _ => {
                    processes.insert(r.pid);
                }
            }
        }
        if role == SemRole::Signal {
            processes.extend(self.role_pids(set, op.semnum, role));
        }
        if !threads.is_empty() || !processes.is_empty() {
            return Releasers::Known {
                role: Some(role),
                threads,
                processes: processes.into_iter().collect(),
            };
        }
        let ev = self.sem_evidence.get(&(set, op.semnum));
        let lost = ev.map_or(&[][..], |e| e.lost.as_slice());
        let posters: Vec<u32> = ev.map_or(Vec::new(), |e| e.posters.keys().copied().collect());
        match role {
            SemRole::Lock if !lost.is_empty() => Releasers::Nobody(format!(
                "its holder{} {} exited holding {} unit{} taken without SEM_UNDO, which the \
                 kernel does not give back",
                if lost.len() > 1 { "s" } else { "" },
                join_pids(lost.iter().map(|l| l.0)),
                lost.iter().map(|l| l.1).sum::<i64>(),
                if lost.iter().map(|l| l.1).sum::<i64>() > 1 {
                    "s"
                } else {
                    ""
                },
            )),
            SemRole::Signal if !posters.is_empty() => Releasers::Nobody(format!(
                "every process that raised it ({}) is gone",
                join_pids(posters.into_iter())
            )),
            _ => Releasers::Unknown,
        }
    }

    /// Remembers a process that sent to (or received from) a queue that exists.
    pub(super) fn note_queue_user(
        &mut self,
        q: ObjId,
        pid: u32,
        start: Option<u64>,
        sys: crate::event::Syscall,
    ) {
        use crate::event::Syscall;
        if !self.queues.contains_key(&q) || !matches!(sys, Syscall::MSGSND | Syscall::MSGRCV) {
            return;
        }
        let e = self.queue_evidence.entry(q).or_default();
        let m = if sys == Syscall::MSGSND {
            &mut e.senders
        } else {
            &mut e.receivers
        };
        if m.len() < EVIDENCE_KEPT || m.contains_key(&pid) {
            m.insert(pid, (start, self.now_mono_ns));
        }
    }

    /// Who could release a thread blocked on queue `q` (`receiving`: in msgrcv, released by
    /// a sender; else in msgsnd, released by a receiver): the live processes seen doing the
    /// other side, when the probe saw the queue's whole life.
    pub fn queue_releasers(&self, q: ObjId, receiving: bool) -> Releasers {
        if !self.history_complete(ObjKind::Msg, q) {
            return Releasers::Unknown;
        }
        let Some(e) = self.queue_evidence.get(&q) else {
            return Releasers::Unknown;
        };
        let seen = if receiving { &e.senders } else { &e.receivers };
        let live: Vec<u32> = seen
            .iter()
            .filter(|(p, (s, t))| self.alive_now(**p, *s, *t))
            .map(|(p, _)| *p)
            .collect();
        if !live.is_empty() {
            Releasers::Known {
                role: None,
                threads: Vec::new(),
                processes: live,
            }
        } else if !seen.is_empty() {
            Releasers::Nobody(format!(
                "every process that {} it ({}) is gone",
                if receiving {
                    "sent to"
                } else {
                    "received from"
                },
                join_pids(seen.keys().copied())
            ))
        } else {
            Releasers::Unknown
        }
    }
}

fn join_pids(pids: impl Iterator<Item = u32>) -> String {
    pids.map(|p| format!("pid {p}"))
        .collect::<Vec<_>>()
        .join(", ")
}
