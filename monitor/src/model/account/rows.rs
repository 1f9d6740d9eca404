//! Kernel rows into the account: each row's growth since the previous sample ([`Row`]),
//! added to the tallies it concerns — the syscall's waits, the process of its pid and start,
//! the (namespace, command) totals, and the object of its namespace and id (or, for calls made
//! before that object was born, the retired entry of the one before).
use monitor_ebpf::HIST_BUCKETS;

use super::{can_block, observer_comm, Account, Growth, NsId, ObjId, ObjKind, Who, UNKNOWN_COMM};
use crate::sample::{Aggregate, KernelSample};

/// A kernel row as last sampled (its cumulative counts). Kept for every row the kernel
/// holds (tens of thousands on a busy host), so its histogram is kept from its first
/// non-zero bucket to its last (a row's calls mostly fall in one or two of the 24).
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Row {
    calls: u64,
    errors: u64,
    interrupted: u64,
    ended: u64,
    total_ns: u64,
    /// The index of `hist`'s first bucket; the buckets outside `hist` hold 0.
    hist_from: u8,
    hist: Box<[u64]>,
}

impl Row {
    fn of(a: &Aggregate) -> Row {
        let from = a.hist.iter().position(|&n| n > 0).unwrap_or(HIST_BUCKETS);
        let to = a.hist.iter().rposition(|&n| n > 0).map_or(from, |i| i + 1);
        Row {
            calls: a.calls,
            errors: a.errors,
            interrupted: a.interrupted,
            ended: a.ended,
            total_ns: a.total_ns,
            hist_from: from as u8,
            hist: a.hist[from..to].into(),
        }
    }

    /// The count of bucket `i`.
    fn hist_at(&self, i: usize) -> u64 {
        i.checked_sub(self.hist_from as usize)
            .and_then(|j| self.hist.get(j))
            .copied()
            .unwrap_or(0)
    }

    /// Whether `a` holds the same counts (then nothing grew).
    fn is(&self, a: &Aggregate) -> bool {
        self.calls == a.calls
            && self.errors == a.errors
            && self.interrupted == a.interrupted
            && self.ended == a.ended
            && self.total_ns == a.total_ns
            && a.hist
                .iter()
                .enumerate()
                .all(|(i, &n)| n == self.hist_at(i))
    }

    /// What `a` grew by since `self` (all of `a` when it went down: the row began anew).
    fn growth(&self, a: &Aggregate) -> Growth {
        let fresh = Row::default();
        let prev = if a.calls < self.calls
            || a.errors < self.errors
            || a.total_ns < self.total_ns
            || a.hist.iter().enumerate().any(|(i, &n)| n < self.hist_at(i))
        {
            &fresh
        } else {
            self
        };
        let mut g = Growth {
            calls: a.calls - prev.calls,
            negative: a.errors - prev.errors,
            interrupted: a.interrupted.saturating_sub(prev.interrupted),
            ended: a.ended.saturating_sub(prev.ended),
            blocked_ns: a.total_ns - prev.total_ns,
            max_ns: a.max_ns,
            last_ns: a.last_ns,
            blocking: can_block(a.syscall),
            ..Default::default()
        };
        g.by_syscall[a.syscall.index()] = g.calls;
        for (i, h) in g.hist.iter_mut().enumerate() {
            *h = a.hist[i] - prev.hist_at(i);
        }
        g
    }
}

impl Account {
    /// Adds every row's growth since the previous sample, then forgets the retired rows.
    ///
    /// Rows are taken in the order of their last calls: a sample can hold the calls of many
    /// namespaces that had the same inode one after the other (short-lived containers), and
    /// each one's objects are its own — those of the namespace before end when the next
    /// one's first row comes (see [`NsGenerations`](crate::model::nsgen)).
    pub(super) fn apply_rows(&mut self, k: &KernelSample, who: &dyn Who) {
        let mut order: Vec<&Aggregate> = k.aggregates.iter().collect();
        order.sort_by_key(|a| a.last_ns);
        // Each namespace's objects are looked through once per sample while none is added
        // (not once per row: rows × objects stalled the feed with thousands of each).
        let mut looked: std::collections::HashMap<(NsId, u64), usize> = Default::default();
        for a in order {
            let key = a.key();
            if let (Some(ino), Some(id)) = (a.ipc_ns, a.ns_id) {
                self.namespace_row(ino, id, a.last_ns, &mut looked);
            }
            let (g, same) = match self.rows.get(&key) {
                Some(r) => (r.growth(a), r.is(a)),
                None => (Row::default().growth(a), false),
            };
            if !same {
                self.rows.insert(key, Row::of(a));
            }
            if g.is_empty() && g.blocked_ns == 0 {
                continue;
            }
            self.add_row(a, &g, who);
        }
        for r in &k.retired {
            self.rows.remove(r);
        }
        // A burst's rows gone, their room goes too (a table does not shrink by itself).
        if self.rows.capacity() > 4 * self.rows.len().max(1024) {
            self.rows.shrink_to_fit();
        }
    }

    /// A row of namespace `id` at inode `ino`, last called at `t`: a newer namespace than
    /// the inode's last ends the objects of the one before.
    /// `looked`: the namespaces already looked through in this sample, with the number of
    /// objects then (the current namespace's rows look again only once one was added).
    fn namespace_row(
        &mut self,
        ino: NsId,
        id: u64,
        t: u64,
        looked: &mut std::collections::HashMap<(NsId, u64), usize>,
    ) {
        use crate::model::nsgen::Generation;
        match self.row_ns.see(ino, id, t) {
            Generation::Older => {}
            Generation::Current if looked.get(&(ino, id)) == Some(&self.objects.len()) => {}
            g => {
                self.namespace_now(ino, Some((id, t)), g == Generation::Newer);
                looked.insert((ino, id), self.objects.len());
            }
        }
    }

    /// Namespace `now` (its id, and a call of it at that time) has inode `ino`: the objects
    /// of that inode known to be of another namespace, born before that call, have ended —
    /// and, when `newer` (the inode had another namespace before), those of unknown
    /// namespace too. `None`: every object of the inode has ended.
    pub(in crate::model) fn namespace_now(
        &mut self,
        ino: NsId,
        now: Option<(u64, u64)>,
        newer: bool,
    ) {
        let ended: Vec<_> = self
            .objects
            .iter()
            .filter(|(k, e)| {
                k.1.ns == ino
                    && match (now, e.ns_id) {
                        (None, _) => true,
                        (Some((id, t)), Some(m)) => m != id && e.born_ns <= t,
                        (Some(_), None) => newer,
                    }
            })
            .map(|(k, _)| *k)
            .collect();
        for k in ended {
            self.object_ended(k);
        }
    }

    /// Adds one row's growth to the tallies it concerns.
    fn add_row(&mut self, a: &Aggregate, g: &Growth, who: &dyn Who) {
        // Another ipctop, by /proc or by the kernel's name for the row (a short-lived
        // `ipctop snapshot` is gone before /proc is looked at), as the events are.
        let named = a.comm.is_some_and(|c| observer_comm(&c.as_str()));
        if named || who.observer(a.pid) {
            self.observer_found(a.pid);
        }
        let ns = a.ipc_ns.unwrap_or_else(|| who.ns(a.pid));
        self.syscalls[a.syscall.index()].add_growth(g, false);
        let observer = self.observers.contains(&a.pid);
        // The kernel's name for the row first: a process that lived between two looks at
        // /proc is known by it.
        let row_comm = a.comm.map(|c| c.as_str().into_owned());
        let comm = row_comm
            .clone()
            .or_else(|| match self.processes.get(&a.pid) {
                Some(e) if a.start.is_none() || e.start.is_none() || e.start == a.start => {
                    e.comm.clone()
                }
                _ => None,
            })
            .or_else(|| who.comm(a.pid))
            .or_else(|| self.retired_comm(a.pid).map(str::to_string))
            .unwrap_or_else(|| UNKNOWN_COMM.to_string());
        self.comm_totals
            .entry((ns, comm))
            .or_default()
            .add_growth(g, true);
        // The process: the one of that pid and start (an older one's late calls go to its
        // retired entry while it is kept).
        // The process: the one of that pid and start; calls of one that has ended (an older
        // one of the pid, or one sampled after its end) go to its retired entry while kept.
        let older = match self.processes.get(&a.pid) {
            Some(e) => e.start.zip(a.start).is_some_and(|(s, r)| r < s),
            None => self.retired_process_ended_after(a.pid, a.start, a.last_ns),
        };
        if older {
            // Named by the row only: /proc's name for the pid is the newer process's.
            self.add_to_retired_process((a.pid, a.start), ns, row_comm, g);
        } else {
            let e = self.process_entry(a.pid, a.start, ns, who);
            if e.comm.is_none() {
                e.comm = row_comm;
            }
            e.tally.add_growth(g, true);
        }
        let (Some(id), false) = (a.id, observer) else {
            return;
        };
        let key = (ObjKind::of(a.syscall), ObjId { ns, id });
        // The namespace the kernel stamped: a row of an older namespace of the inode is its
        // ended object's. Else by time: calls made before the object of that id now was born,
        // or while none is, are an older one's (sampled after it ended).
        let ns_id = a.ns_id.filter(|_| a.ipc_ns.is_some());
        let older = match (ns_id, self.objects.get(&key)) {
            // The object now is of another (later) namespace of the inode.
            (Some(n), Some(e)) if e.ns_id.is_some_and(|m| m != n) => true,
            (Some(n), _) if self.row_ns.current(ns).is_some_and(|c| c != n) => true,
            (_, Some(e)) => e.born_ns > 0 && a.last_ns > 0 && a.last_ns < e.born_ns,
            (_, None) => self.retired_object_ended_after(key, ns_id, a.last_ns),
        };
        if older {
            self.add_to_retired_object(key, ns_id, a.pid, g);
            return;
        }
        // Calls that all failed on an id no object has name none: not an object's.
        if !self.objects.contains_key(&key) && !who.object_known(&key) && g.calls <= g.negative {
            return;
        }
        let e = self.objects.entry(key).or_default();
        e.ns_id = e.ns_id.or(ns_id);
        e.tally.add_growth(g, true);
        self.pairs
            .entry((key, a.pid))
            .or_default()
            .add_growth(g, true);
    }
}
