//! What ends: a process that exited (or whose pid another process now has), an object that
//! was removed (or whose id a new object now has). Its entry leaves the live account with its
//! final tally, which is kept among the retired for the retention window (late calls of it,
//! sampled after it ended, still go to it), then forgotten: the live account holds what
//! exists, and the totals, syscalls and per-command totals keep every call.
use serde::Serialize;

use super::{Account, Growth, ObjEntry, ObjKey, Tally};
use crate::memory::GiveBackRoom;
use crate::model::NsId;

/// At most this many retired entries are kept (about 10 MB of final accounts), whatever the
/// retention window — and, until the next update, what ended in the last one: memory depends
/// on what exists, not on how fast things end.
pub const MAX_RETIRED: usize = 10_000;
/// Ended users kept per live object (a set used by a stream of short-lived processes).
pub const MAX_ENDED_USERS: usize = 256;

/// An entry that ended, with its final tally.
#[derive(Clone, Debug)]
pub struct Retired {
    /// Its place in the order of retirement (see [`Account::retired_since`]).
    pub seq: u64,
    /// When it ended (monotonic ns, as the model's clock had it).
    pub at_ns: u64,
    pub what: RetiredWhat,
    pub tally: Tally,
}

/// Calls added to a retired entry by the current update (sampled after its end): a reader
/// that copied the entry when it ended (it may be pushed out of the account before the
/// reader is done with it: [`MAX_RETIRED`]) keeps its copy whole with these.
#[derive(Clone, Debug)]
pub struct LateAdd {
    /// The retired entry's `seq`.
    pub seq: u64,
    /// What ended, as the entry says it now (an object's users, a process's name).
    pub what: RetiredWhat,
    /// The entry's tally now, the addition included.
    pub tally: Tally,
    /// What was added.
    pub added: Tally,
}

/// What ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RetiredWhat {
    Process {
        pid: u32,
        start: Option<u64>,
        comm: Option<String>,
        ipc_ns: NsId,
        /// Another ipctop.
        observer: bool,
    },
    Object {
        key: ObjKey,
        /// When it was born (monotonic ns; 0: before ipctop saw it).
        born_ns: u64,
        /// The processes that used it, with their calls on it.
        users: Vec<(u32, u64)>,
        /// The kernel's id of its namespace (never reused, unlike the inode in `key`).
        #[serde(skip_serializing_if = "Option::is_none")]
        ns_id: Option<u64>,
    },
}

impl Account {
    /// Sets how long what ended keeps its final account (monotonic ns).
    pub fn set_retention(&mut self, ns: u64) {
        self.retention_ns = ns;
    }

    /// What ended after `seq` (every entry with a greater `seq`), oldest first: a reader
    /// that asks after every update sees each exactly once (what ended in one update is kept
    /// at least until the next).
    pub fn retired_since(&self, seq: Option<u64>) -> impl Iterator<Item = &Retired> {
        let from = seq.map_or(0, |s| s + 1);
        let skip = self.retired.partition_point(|r| r.seq < from);
        self.retired.iter().skip(skip)
    }

    /// Every retired entry still kept.
    pub fn retired(&self) -> impl Iterator<Item = &Retired> {
        self.retired.iter()
    }

    /// An object's account: of the current object of that key, else the final one of the
    /// last that ended (while kept).
    pub fn object_final(
        &self,
        kind: crate::model::ObjKind,
        id: crate::model::ObjId,
    ) -> Option<&Tally> {
        self.object(kind, id).or_else(|| {
            self.retired
                .iter()
                .rev()
                .find(|r| matches!(r.what, RetiredWhat::Object { key, .. } if key == (kind, id)))
                .map(|r| &r.tally)
        })
    }

    /// A process's account: of the process that has that pid now, else the final one of the
    /// last that had it (while kept).
    pub fn process_final(&self, pid: u32) -> Option<&Tally> {
        self.process(pid).or_else(|| {
            self.retired
                .iter()
                .rev()
                .find(|r| matches!(r.what, RetiredWhat::Process { pid: p, .. } if p == pid))
                .map(|r| &r.tally)
        })
    }

    /// The comm of the last ended process of that pid (while kept).
    pub(super) fn retired_comm(&self, pid: u32) -> Option<&str> {
        self.retired.iter().rev().find_map(|r| match &r.what {
            RetiredWhat::Process { pid: p, comm, .. } if *p == pid => comm.as_deref(),
            _ => None,
        })
    }

    /// The retired processes still kept, with their final tallies.
    pub fn retired_processes(&self) -> impl Iterator<Item = (u32, &Tally)> {
        self.retired.iter().filter_map(|r| match r.what {
            RetiredWhat::Process { pid, .. } => Some((pid, &r.tally)),
            RetiredWhat::Object { .. } => None,
        })
    }

    /// Retired entries forgotten before their retention window ended, to keep at most
    /// `MAX_RETIRED` (a host ending thousands of processes a second): their calls are in
    /// the totals and per-command figures still, only their own final accounts are gone.
    pub fn retired_early(&self) -> u64 {
        self.retired_early
    }

    /// What the last update added to retired entries (calls of theirs sampled after their
    /// end), in the order added.
    pub fn late_adds(&self) -> &[LateAdd] {
        &self.late
    }

    /// Notes that `added` went to the retired entry at `idx` (its tally already has it).
    pub(super) fn note_late(&mut self, idx: usize, added: Tally) {
        let r = &self.retired[idx];
        self.late.push(LateAdd {
            seq: r.seq,
            what: r.what.clone(),
            tally: r.tally.clone(),
            added,
        });
    }

    /// An entry that ended now. The bound is kept at the next update (`forget_old`), so that
    /// a reader after every update sees everything that ended, however many at once.
    fn push_retired(&mut self, what: RetiredWhat, tally: Tally) {
        self.retired.push_back(Retired {
            seq: self.next_seq,
            at_ns: self.now_ns,
            what,
            tally,
        });
        self.next_seq += 1;
    }

    /// Forgets what ended longer ago than the retention window (called once per update,
    /// before what this update ends is added).
    pub(in crate::model) fn forget_old(&mut self, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        // A burst's room (thousands of late additions or retired entries, a KB each) is
        // given back once they are gone.
        self.late.give_back_room();
        self.late.clear();
        let cut = self.now_ns.saturating_sub(self.retention_ns);
        while self.retired.front().is_some_and(|r| r.at_ns < cut) {
            self.retired.pop_front();
        }
        while self.retired.len() > MAX_RETIRED {
            self.retired.pop_front();
            self.retired_early += 1;
        }
        self.retired.give_back_room();
    }

    /// The process of `pid` has ended (exited, or its pid is another's now).
    pub(in crate::model) fn process_ended(&mut self, pid: u32) {
        let Some(e) = self.processes.remove(&pid) else {
            return;
        };
        let observer = self.observers.remove(&pid);
        let keys: Vec<_> = self
            .pairs
            .range(..)
            .filter(|((_, p), _)| *p == pid)
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            // Its use of an object that lives on: kept for that object's final account.
            if let Some(t) = self.pairs.remove(&k) {
                if self.objects.contains_key(&k.0) && t.calls > 0 {
                    let v = self.ended_users.entry(k.0).or_default();
                    if v.len() < MAX_ENDED_USERS {
                        v.push((pid, t.calls));
                    } else if let Some(last) = v.last_mut() {
                        *last = (0, last.1 + t.calls);
                    }
                }
            }
        }
        // Anything counted keeps its final account: a failed call's errno (an event) may be all a
        // process has when it ends, its call counted by a kernel row read after its end.
        if e.tally.has_counts() {
            self.push_retired(
                RetiredWhat::Process {
                    pid,
                    start: e.start,
                    comm: e.comm,
                    ipc_ns: e.ns,
                    observer,
                },
                e.tally,
            );
        }
    }

    /// Ends every process entry that `alive` does not confirm: `alive(pid)` gives the
    /// start of the process that has that pid now (`Some(None)`: alive, start unknown),
    /// `None` when no process has it.
    pub(in crate::model) fn processes_alive(&mut self, alive: impl Fn(u32) -> Option<Option<u64>>) {
        let gone: Vec<u32> = self
            .processes
            .iter()
            .filter(|(&pid, e)| match alive(pid) {
                None => true,
                Some(Some(now)) => e.start.is_some_and(|s| s != now),
                Some(None) => false,
            })
            .map(|(&p, _)| p)
            .collect();
        for pid in gone {
            self.process_ended(pid);
        }
    }

    /// An object of this key was born at `at_ns` in namespace `ns_id` (the kernel's id, when
    /// known): a new generation, the entry of an older one of the same key ends first.
    pub(in crate::model) fn object_born(&mut self, key: ObjKey, at_ns: u64, ns_id: Option<u64>) {
        // The kernel's rows can come before the event of the creation (they travel apart):
        // an entry of the same namespace is this object's (an id is not given again in a
        // namespace before its sequence wraps), born when the event says.
        if let Some(e) = self.objects.get_mut(&key) {
            if ns_id.is_some() && e.ns_id == ns_id {
                e.born_ns = at_ns;
                return;
            }
        }
        if self.objects.contains_key(&key) {
            self.object_ended(key);
        }
        self.objects.insert(
            key,
            ObjEntry {
                born_ns: at_ns,
                ns_id,
                tally: Tally::default(),
            },
        );
    }

    /// The kernel's id of the namespace of the object of this key (`None`: no entry, or not
    /// known).
    pub(in crate::model) fn object_ns_id(&self, key: ObjKey) -> Option<u64> {
        self.objects.get(&key)?.ns_id
    }

    /// The object of this key has ended (removed, or its namespace is gone).
    pub(in crate::model) fn object_ended(&mut self, key: ObjKey) {
        self.object_rates.remove(&key);
        let mut users: Vec<(u32, u64)> = self
            .pairs
            .range((key, 0)..=(key, u32::MAX))
            .map(|((_, p), t)| (*p, t.calls))
            .collect();
        for (p, _) in &users {
            self.pairs.remove(&(key, *p));
        }
        // And those that ended before it (a pid once each: its calls summed).
        users.extend(self.ended_users.remove(&key).unwrap_or_default());
        users.sort_unstable();
        users.dedup_by(|b, a| {
            let same = a.0 == b.0;
            if same {
                a.1 += b.1;
            }
            same
        });
        let Some(e) = self.objects.remove(&key) else {
            return;
        };
        // Kept also when born while watched with no calls yet: its calls may come with the
        // kernel's next sample.
        if e.tally.calls > 0 || !users.is_empty() || e.born_ns > 0 {
            self.push_retired(
                RetiredWhat::Object {
                    key,
                    born_ns: e.born_ns,
                    users,
                    ns_id: e.ns_id,
                },
                e.tally,
            );
        }
    }

    /// Late calls of a process that has ended (sampled after its end): to its retired entry
    /// while kept; one that had none (all its calls sampled after a newer process of its pid
    /// was counted) ends now with them, of namespace `ns` and named `comm`.
    pub(super) fn add_to_retired_process(
        &mut self,
        (pid, start): (u32, Option<u64>),
        ns: NsId,
        comm: Option<String>,
        g: &Growth,
    ) {
        let mut added = Tally::default();
        added.add_growth(g, true);
        match self.retired_process_at(pid, start) {
            Some(i) => {
                self.retired[i].tally.add_growth(g, true);
                self.note_late(i, added);
            }
            None => self.push_retired(
                RetiredWhat::Process {
                    pid,
                    start,
                    comm,
                    ipc_ns: ns,
                    observer: false,
                },
                added,
            ),
        }
    }

    /// The retired entry of the last ended process of that pid (and start, when both are
    /// known).
    pub(super) fn retired_process_at(&self, pid: u32, start: Option<u64>) -> Option<usize> {
        self.retired.iter().rposition(|r| {
            matches!(&r.what, RetiredWhat::Process { pid: p, start: s, .. }
                if *p == pid && (start.is_none() || s.is_none() || *s == start))
        })
    }

    /// Whether a call at `t` of this pid (and start) was of a process that has ended and is
    /// kept: the one of that start when both are known, else one that ended no earlier than
    /// `t`.
    pub(super) fn retired_process_ended_after(&self, pid: u32, start: Option<u64>, t: u64) -> bool {
        self.retired.iter().rev().any(|r| match &r.what {
            // The same start: that process, whenever the row was sampled (its last flush may
            // come after the update that saw it exit).
            RetiredWhat::Process {
                pid: p,
                start: Some(s),
                ..
            } if *p == pid && start.is_some() => start == Some(*s),
            RetiredWhat::Process { pid: p, .. } => *p == pid && t > 0 && r.at_ns >= t,
            _ => false,
        })
    }

    /// Whether a call at `t` on this key (in namespace `ns_id`) was of an object that has
    /// ended and is kept: the one of that namespace when both ids are known, else one that
    /// ended no earlier than `t`.
    pub(super) fn retired_object_ended_after(
        &self,
        key: ObjKey,
        ns_id: Option<u64>,
        t: u64,
    ) -> bool {
        self.retired.iter().rev().any(|r| match &r.what {
            // Of the same namespace (the kernel's id, never reused): that object, whenever the
            // call was sampled (a snapshot that found it gone may be stamped before its last
            // calls: the stamp is the scan's start). An id is not given again in a namespace
            // before its sequence wraps, and a newer object of the id has a live entry.
            RetiredWhat::Object {
                key: k,
                ns_id: Some(n),
                ..
            } if *k == key && ns_id.is_some() => ns_id == Some(*n),
            RetiredWhat::Object { key: k, .. } => *k == key && t > 0 && r.at_ns >= t,
            _ => false,
        })
    }

    /// The retired entry of the last ended object of that key (of namespace `ns_id` when
    /// the kernel said which).
    pub(super) fn retired_object_at(&self, key: ObjKey, ns_id: Option<u64>) -> Option<usize> {
        self.retired.iter().rposition(|r| {
            matches!(&r.what, RetiredWhat::Object { key: k, ns_id: n, .. }
                if *k == key && (ns_id.is_none() || *n == ns_id))
        })
    }

    /// Late calls of an object that has ended: to its retired entry while kept (the one of
    /// namespace `ns_id` when the kernel said which).
    pub(super) fn add_to_retired_object(
        &mut self,
        key: ObjKey,
        ns_id: Option<u64>,
        pid: u32,
        g: &Growth,
    ) {
        let mut added = Tally::default();
        added.add_growth(g, true);
        let Some(i) = self.retired_object_at(key, ns_id) else {
            // An object that ended before any of its calls was counted (they came after a
            // newer namespace of its inode: a row the full table sent through the ring
            // buffer, counted a sample late): it ends now with them. Calls that all failed
            // name no object.
            if g.calls > g.negative {
                self.push_retired(
                    RetiredWhat::Object {
                        key,
                        born_ns: 0,
                        users: vec![(pid, g.calls)],
                        ns_id,
                    },
                    added,
                );
            }
            return;
        };
        let r = &mut self.retired[i];
        r.tally.add_growth(g, true);
        add_user(&mut r.what, pid, g.calls);
        self.note_late(i, added);
    }
}

/// `calls` more of `pid` among an ended object's users.
pub(super) fn add_user(what: &mut RetiredWhat, pid: u32, calls: u64) {
    if let RetiredWhat::Object { users, .. } = what {
        match users.iter_mut().find(|(p, _)| *p == pid) {
            Some(u) => u.1 += calls,
            None => {
                users.push((pid, calls));
                users.sort_unstable();
            }
        }
    }
}
