//! Blocked threads: waits from the probe (calls in progress) and from /proc, what a wait is
//! blocked on, who holds a semaphore, and who waits on an object (indexed once per update).
use std::collections::{BTreeMap, BTreeSet};

use super::{Holders, Model, NsId, ObjId, ObjKind, Since, Sop, Source, Wait, WaitOn};
use crate::event::{Args, Event};

impl Model {
    /// A call in progress: a wait begins (or goes on) for its thread.
    pub(super) fn call_in_progress(&mut self, ev: &Event, args: Args, ns: NsId, t: u64) {
        let on = match args {
            Args::Semop {
                semid,
                nsops,
                sops,
                sops_read,
                timeout_ns,
                ..
            } => WaitOn::Sem {
                semid,
                nsops,
                sops: sops_read.then(|| {
                    sops.as_slice()
                        .iter()
                        .map(|s| Sop::new(s.sem_num, s.sem_op, s.sem_flg.bits))
                        .collect()
                }),
                timed: timeout_ns.is_some(),
            },
            Args::Msgrcv {
                msqid,
                msgsz,
                msgtyp,
                ..
            } => WaitOn::MsgRcv {
                msqid,
                msgtyp,
                msgsz,
            },
            Args::Msgsnd { msqid, msgsz, .. } => WaitOn::MsgSnd { msqid, msgsz },
            _ => return,
        };
        let since = match ev.start_ns {
            Some(s) => Since::Exact(s),
            None => Since::FirstSeen(t),
        };
        self.waits.insert(
            ev.tid,
            Wait {
                pid: ev.pid,
                tid: ev.tid,
                ns,
                on,
                since,
                source: Source::Events,
                wchan: None,
                seen_ns: t,
            },
        );
    }

    /// A new scan of the calls in progress replaces the last: the probe's waits missing
    /// from it have ended.
    pub(super) fn in_flight(&mut self, evs: &[Event], t: u64) {
        let now: BTreeSet<(u32, Option<u64>)> = evs.iter().map(|e| (e.tid, e.start_ns)).collect();
        self.waits.retain(|&tid, w| {
            let start = match w.since {
                Since::Exact(s) => Some(s),
                Since::Asleep(_) | Since::FirstSeen(_) => None,
            };
            w.source != Source::Events || now.contains(&(tid, start))
        });
        for w in self.waits.values_mut() {
            if w.source == Source::Events {
                w.seen_ns = w.seen_ns.max(t);
            }
        }
    }

    /// Rebuilds the index of waiters per object.
    pub(super) fn index_waiters(&mut self) {
        let mut ix: BTreeMap<(ObjKind, ObjId), BTreeSet<u32>> = BTreeMap::new();
        for w in self.waits.values() {
            let id = ObjId {
                ns: w.ns,
                id: w.on.id(),
            };
            ix.entry((w.on.obj_kind(), id)).or_default().insert(w.pid);
        }
        self.waiters = ix;
    }

    /// Blocked threads of the namespaces in scope (of a [`super::Scope::Procs`]: its
    /// processes'), by tid.
    pub fn waits(&self) -> impl Iterator<Item = &Wait> {
        self.waits.values().filter(|w| match self.scope {
            super::Scope::Procs { .. } => self.pid_in_scope(w.pid),
            _ => self.in_scope(w.ns),
        })
    }

    /// The processes waiting on an object of [`Self::view_ns`] (prefer [`Self::waiters_at`]).
    pub fn waiters(&self, kind: ObjKind, id: i32) -> impl Iterator<Item = u32> + '_ {
        self.waiters_at(kind, self.oid(id))
    }

    /// The processes waiting on an object.
    pub fn waiters_at(&self, kind: ObjKind, id: ObjId) -> impl Iterator<Item = u32> + '_ {
        self.waiters.get(&(kind, id)).into_iter().flatten().copied()
    }

    /// The longest wait going on now (in scope): seconds it has at least lasted.
    pub fn longest_wait_s(&self) -> Option<f64> {
        self.waits()
            .map(|w| w.at_least_s(self.now_mono_ns))
            .max_by(f64::total_cmp)
    }

    /// The operation a semop wait is blocked on: the first that cannot proceed with the
    /// current values, else the first.
    pub fn blocking_sop(&self, w: &Wait) -> Option<Sop> {
        let WaitOn::Sem { semid, sops, .. } = &w.on else {
            return None;
        };
        let sops = sops.as_ref()?;
        let sems = self
            .sem_sets
            .get(&ObjId {
                ns: w.ns,
                id: *semid,
            })
            .and_then(|s| s.semaphores.as_ref());
        sops.iter()
            .find(|op| {
                sems.and_then(|v| v.get(op.semnum as usize))
                    .is_some_and(|s| !op.can_proceed(s.value))
            })
            .or(sops.first())
            .copied()
    }

    /// What a semop wait is blocked on, and who holds that semaphore (the waiter itself left
    /// out: a thread waiting on a semaphore is not what keeps it waiting).
    pub fn wait_holders(&self, w: &Wait) -> Option<(Sop, Option<Holders>)> {
        let WaitOn::Sem { semid, .. } = w.on else {
            return None;
        };
        let op = self.blocking_sop(w)?;
        let set = ObjId {
            ns: w.ns,
            id: semid,
        };
        // A guessed holder that is the waiter is no holder; a known one is (it waits on
        // what it holds itself).
        let h = self.holders(set, op.semnum).and_then(|mut h| {
            if h.source == super::HolderSource::LastPidGuess {
                h.pids.retain(|&p| p != w.pid);
            }
            (!h.pids.is_empty()).then_some(h)
        });
        Some((op, h))
    }
}
