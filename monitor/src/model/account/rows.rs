//! Kernel rows into the account: each row's growth since the previous sample ([`Row`]),
//! added to the tallies it concerns — the syscall's waits, the process of its pid and start,
//! the (namespace, command) totals, and the object of its namespace and id (or, for calls made
//! before that object was born, the retired entry of the one before).
use monitor_ebpf::HIST_BUCKETS;

use super::{can_block, Account, Growth, ObjId, ObjKind, Who, UNKNOWN_COMM};
use crate::sample::{Aggregate, KernelSample};

/// A kernel row as last sampled (its cumulative counts).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Row {
    calls: u64,
    errors: u64,
    interrupted: u64,
    ended: u64,
    total_ns: u64,
    hist: [u64; HIST_BUCKETS],
}

impl Row {
    fn of(a: &Aggregate) -> Row {
        Row {
            calls: a.calls,
            errors: a.errors,
            interrupted: a.interrupted,
            ended: a.ended,
            total_ns: a.total_ns,
            hist: a.hist,
        }
    }

    /// What `a` grew by since `self` (all of `a` when it went down: the row began anew).
    fn growth(&self, a: &Aggregate) -> Growth {
        let prev = if a.calls < self.calls
            || a.errors < self.errors
            || a.total_ns < self.total_ns
            || a.hist.iter().zip(self.hist).any(|(n, o)| *n < o)
        {
            Row::default()
        } else {
            *self
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
            *h = a.hist[i] - prev.hist[i];
        }
        g
    }
}

impl Account {
    /// Adds every row's growth since the previous sample, then forgets the retired rows.
    pub(super) fn apply_rows(&mut self, k: &KernelSample, who: &dyn Who) {
        for a in &k.aggregates {
            let key = a.key();
            let g = self.rows.get(&key).copied().unwrap_or_default().growth(a);
            self.rows.insert(key, Row::of(a));
            if g.is_empty() && g.blocked_ns == 0 {
                continue;
            }
            self.add_row(a, &g, who);
        }
        for r in &k.retired {
            self.rows.remove(r);
        }
    }

    /// Adds one row's growth to the tallies it concerns.
    fn add_row(&mut self, a: &Aggregate, g: &Growth, who: &dyn Who) {
        if who.observer(a.pid) {
            self.observer_found(a.pid);
        }
        let ns = a.ipc_ns.unwrap_or_else(|| who.ns(a.pid));
        self.syscalls[a.syscall.index()].add_growth(g, false);
        let observer = self.observers.contains(&a.pid);
        let comm = match self.processes.get(&a.pid) {
            Some(e) if a.start.is_none() || e.start.is_none() || e.start == a.start => {
                e.comm.clone()
            }
            _ => None,
        }
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
            self.add_to_retired_process(a.pid, a.start, g);
        } else {
            let e = self.process_entry(a.pid, a.start, ns, who);
            e.tally.add_growth(g, true);
        }
        let (Some(id), false) = (a.id, observer) else {
            return;
        };
        let key = (ObjKind::of(a.syscall), ObjId { ns, id });
        // Calls made before the object of that id now was born, or while none is, are an
        // older one's (sampled after it ended): to its retired entry.
        let older = match self.objects.get(&key) {
            Some(e) => e.born_ns > 0 && a.last_ns > 0 && a.last_ns < e.born_ns,
            None => self.retired_object_ended_after(key, a.last_ns),
        };
        if older {
            self.add_to_retired_object(key, g);
            return;
        }
        // Calls that all failed on an id no object has name none: not an object's.
        if !self.objects.contains_key(&key) && !who.object_known(&key) && g.calls <= g.negative {
            return;
        }
        self.objects
            .entry(key)
            .or_default()
            .tally
            .add_growth(g, true);
        self.pairs
            .entry((key, a.pid))
            .or_default()
            .add_growth(g, true);
    }
}
