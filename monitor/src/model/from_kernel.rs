//! The probe's samples and events into the model: the account's counts (through a view of
//! who each process is, [`WhoView`]), the holders, and what the kernel's namespace ids tell
//! of namespaces born again under an old inode.
use std::collections::BTreeMap;

use super::{
    account::Who, Model, NsId, ObjId, ObjKey, ObjKind, Process, Queue, Segment, SemSet,
    OBSERVER_COMM,
};
use crate::{event::Event, sample::KernelSample};

/// The model's answers about processes, for the account (borrowing the fields it needs, so
/// that the account can be updated beside it).
pub(super) struct WhoView<'a> {
    pub(super) procs: &'a BTreeMap<u32, Process>,
    pub(super) event_ns: &'a BTreeMap<u32, NsId>,
    pub(super) home_ns: NsId,
    pub(super) segments: &'a BTreeMap<ObjId, Segment>,
    pub(super) sem_sets: &'a BTreeMap<ObjId, SemSet>,
    pub(super) queues: &'a BTreeMap<ObjId, Queue>,
}

impl Who for WhoView<'_> {
    fn ns(&self, pid: u32) -> NsId {
        super::ns_of(self.procs, self.event_ns, self.home_ns, pid)
    }

    fn comm(&self, pid: u32) -> Option<String> {
        self.procs.get(&pid).map(|p| p.comm.clone())
    }

    fn observer(&self, pid: u32) -> bool {
        self.procs
            .get(&pid)
            .is_some_and(|p| p.observer || (p.start_ticks.is_none() && p.comm == OBSERVER_COMM))
    }

    fn start(&self, pid: u32) -> Option<u64> {
        self.procs.get(&pid).and_then(|p| p.start_ticks)
    }

    fn object_known(&self, key: &ObjKey) -> bool {
        match key.0 {
            ObjKind::Shm => self.segments.contains_key(&key.1),
            ObjKind::Sem => self.sem_sets.contains_key(&key.1),
            ObjKind::Msg => self.queues.contains_key(&key.1),
        }
    }
}

impl Model {
    /// The probe's data has come: from now on it watches (since the last snapshot before).
    pub(super) fn probe_started(&mut self) {
        if self.probe_since_ns.is_none() {
            self.probe_since_ns = Some(self.last_snapshot_ns.unwrap_or(0));
        }
    }

    /// The probe's counters and aggregates: into the account; and the holds (the kernel's
    /// exact counts per process and semaphore).
    pub(super) fn apply_kernel(&mut self, mono_ns: u64, k: &KernelSample) {
        // A namespace inode the kernel now gives another id: a new namespace.
        let mut ids: Vec<(u64, NsId, u64)> = k
            .aggregates
            .iter()
            .filter_map(|a| Some((a.last_ns, a.ipc_ns?, a.ns_id?)))
            .chain(
                k.holds
                    .iter()
                    .filter_map(|h| Some((h.last_ns, h.ipc_ns?, h.ns_id?))),
            )
            .collect();
        ids.sort_unstable();
        for (t, ino, id) in ids {
            self.note_ns_id(ino, id, t);
        }
        let who = WhoView {
            procs: &self.processes,
            event_ns: &self.event_ns,
            home_ns: self.home_ns,
            segments: &self.segments,
            sem_sets: &self.sem_sets,
            queues: &self.queues,
        };
        self.account.kernel(mono_ns, k, &who);
        // Queue users, remembered for the queue's life (who can release its waiters).
        for a in &k.aggregates {
            if let (Some(id), true) = (a.id, a.calls > a.errors) {
                let ns = a.ipc_ns.unwrap_or_else(|| self.ns_of_pid(a.pid));
                self.note_queue_user(ObjId { ns, id }, a.pid, a.start, a.syscall);
            }
        }
        self.kernel_holds(&k.holds);
        self.now_mono_ns = self.now_mono_ns.max(mono_ns);
    }

    /// Remembers the kernel's id of a namespace inode, with a call of it at `t`; a newer
    /// namespace than known means the one of that inode before ended: its objects end. (Rows
    /// of an older namespace of the inode, still in the kernel's tables, change nothing.)
    pub(super) fn note_ns_id(&mut self, ino: NsId, id: u64, t: u64) -> super::nsgen::Generation {
        let g = self.ns_ids.see(ino, id, t);
        if g == super::nsgen::Generation::Newer {
            self.namespace_ended(ino, Some((id, t)));
        }
        g
    }

    /// Every object of namespace `ns` has ended (the namespace is gone); `now`: the
    /// namespace that has its inode now (its id, and a call of it at that time), whose
    /// objects the account already knows stay.
    pub(super) fn namespace_ended(&mut self, ns: NsId, now: Option<(u64, u64)>) {
        let keys: Vec<(ObjKind, ObjId)> = self
            .segments
            .keys()
            .map(|k| (ObjKind::Shm, *k))
            .chain(self.sem_sets.keys().map(|k| (ObjKind::Sem, *k)))
            .chain(self.queues.keys().map(|k| (ObjKind::Msg, *k)))
            .filter(|(_, k)| k.ns == ns)
            .collect();
        for (kind, id) in keys {
            self.object_gone(kind, id);
        }
        // Objects the account knows that the snapshots never showed.
        self.account.namespace_now(ns, now, true);
        self.created.retain(|k, _| k.1.ns != ns);
    }

    /// One object ended: out of the model, its account retired, its holds forgotten.
    pub(super) fn object_gone(&mut self, kind: ObjKind, id: ObjId) {
        match kind {
            ObjKind::Shm => {
                self.segments.remove(&id);
            }
            ObjKind::Sem => {
                self.sem_sets.remove(&id);
                self.forget_set(id);
            }
            ObjKind::Msg => {
                self.queues.remove(&id);
                self.queue_evidence.remove(&id);
            }
        }
        self.created.remove(&(kind, id));
        self.account.object_ended((kind, id));
        // A snapshot taken before now that arrives later must not bring it back.
        self.removed.insert((kind, id), self.now_mono_ns);
    }

    /// One probe event: a call in progress is a wait; a finished one ends it, counts in the
    /// account and changes the objects it names.
    pub(super) fn apply_event(&mut self, ev: &Event) {
        self.events += 1;
        let t = ev.end_ns.or(ev.start_ns).unwrap_or(self.now_mono_ns);
        self.now_mono_ns = self.now_mono_ns.max(t);
        // The kernel's own stamp when the event has one (exact even for a process no snapshot
        // saw); else the process's namespace as far as it is known.
        let ns = match ev.ipc_ns {
            Some(ns) => {
                self.note_event_ns(ev.pid, ns);
                ns
            }
            None => self.ns_of_pid(ev.pid),
        };
        // A call of a namespace that had the inode before the one it has now: its objects
        // have ended (the event came late), nothing of them is born again.
        let of_older_ns = match (ev.ipc_ns, ev.ns_id, ev.in_progress()) {
            (Some(ino), Some(id), false) => {
                self.note_ns_id(ino, id, t) == super::nsgen::Generation::Older
            }
            _ => false,
        };
        if ev.in_progress() {
            if let Some(args) = ev.args {
                self.call_in_progress(ev, args, ns, t);
            }
            return;
        }
        self.waits.remove(&ev.tid);
        let obj = self.object_of(ev, ns);
        // A new object is born before its first call counts.
        if !of_older_ns {
            self.note_birth(ev, ns, t);
        }
        let who = WhoView {
            procs: &self.processes,
            event_ns: &self.event_ns,
            home_ns: self.home_ns,
            segments: &self.segments,
            sem_sets: &self.sem_sets,
            queues: &self.queues,
        };
        self.account.event(ev, obj, ns, &who);
        if let Some((ObjKind::Msg, q)) = obj {
            if !ev.failed() {
                let start = ev
                    .proc_start
                    .or_else(|| self.processes.get(&ev.pid).and_then(|p| p.start_ticks));
                self.note_queue_user(q, ev.pid, start, ev.syscall);
            }
        }
        self.finished_call(ev, ns, t);
    }
}
