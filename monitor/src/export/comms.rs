//! Per-command counters that never go backwards.
//!
//! The account's per-process tallies are the kernel's rows of live processes: when a process
//! exits, the probe drops its rows and its tally falls back to zero (or, with a reused pid,
//! to another process's figures). Summed by comm as they are, `ipctop_comm_calls_total`
//! would go backwards, which Prometheus reads as a counter reset. [`CommCarry`] keeps what
//! each process had counted under its (namespace, comm) once it is gone, and splits a
//! process whose comm becomes known (or changes) at that moment, so that each series only
//! grows and their sum is every call counted. It counts nothing: it only remembers the
//! account's figures. When the account keeps per-command totals of its own
//! (`Account::comm_totals`), `collect::comm_stats` reads them instead and this goes.
use std::collections::{BTreeMap, HashMap};

use super::metrics::{CommStats, Ns, SyscallCount};
use crate::event::{Syscall, NSYS};

/// One process's figures in the account now.
#[derive(Clone, Debug, PartialEq)]
pub struct PidFigures {
    pub pid: u32,
    pub ns: Ns,
    pub comm: String,
    /// Calls and failures per syscall (index: [`Syscall::index`]).
    pub calls: [u64; NSYS],
    pub errors: [u64; NSYS],
    /// Time in semop/semtimedop/msgsnd/msgrcv, ns.
    pub blocked_ns: u64,
}

/// Calls, failures and time blocked.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Figures {
    calls: [u64; NSYS],
    errors: [u64; NSYS],
    blocked_ns: u64,
}

impl Figures {
    fn of(p: &PidFigures) -> Self {
        Self {
            calls: p.calls,
            errors: p.errors,
            blocked_ns: p.blocked_ns,
        }
    }

    fn total(&self) -> u64 {
        self.calls.iter().sum()
    }

    fn add(&mut self, o: &Figures) {
        for i in 0..NSYS {
            self.calls[i] += o.calls[i];
            self.errors[i] += o.errors[i];
        }
        self.blocked_ns += o.blocked_ns;
    }

    /// `self - o`, never below zero.
    fn minus(&self, o: &Figures) -> Figures {
        let mut d = *self;
        for i in 0..NSYS {
            d.calls[i] = d.calls[i].saturating_sub(o.calls[i]);
            d.errors[i] = d.errors[i].saturating_sub(o.errors[i]);
        }
        d.blocked_ns = d.blocked_ns.saturating_sub(o.blocked_ns);
        d
    }

    /// Whether any figure is below `o`'s (the account forgot some: the rows went).
    fn fell_below(&self, o: &Figures) -> bool {
        (0..NSYS).any(|i| self.calls[i] < o.calls[i] || self.errors[i] < o.errors[i])
            || self.blocked_ns < o.blocked_ns
    }
}

/// A process as last seen.
#[derive(Clone, Debug)]
struct Seen {
    key: (Ns, String),
    last: Figures,
    /// What of `last` already counts under earlier keys (or was there before it was
    /// followed under this one).
    base: Figures,
}

/// See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct CommCarry {
    seen: HashMap<u32, Seen>,
    /// What processes that are gone (or moved to another comm) counted, per (ns, comm).
    kept: BTreeMap<(Ns, String), Figures>,
}

impl CommCarry {
    /// Per (namespace, comm), sorted: the live processes' figures plus what the gone ones
    /// left. Each series is monotonic as long as each process's figures are.
    pub fn update(&mut self, now: Vec<PidFigures>) -> Vec<CommStats> {
        let mut live: HashMap<u32, Seen> = HashMap::with_capacity(now.len());
        for p in now {
            let key = (p.ns, p.comm.clone());
            let fig = Figures::of(&p);
            let s = match self.seen.remove(&p.pid) {
                None => Seen {
                    key,
                    last: fig,
                    base: Figures::default(),
                },
                Some(mut s) => {
                    if fig.fell_below(&s.last) {
                        // Its rows went (it exited, its pid was reused): what it had stays.
                        self.keep(&s);
                        s.base = Figures::default();
                    } else if s.key != key {
                        // Known by another name from now on: what it counted so far stays
                        // under the old one.
                        self.keep(&s);
                        s.base = s.last;
                    }
                    s.key = key;
                    s.last = fig;
                    s
                }
            };
            live.insert(p.pid, s);
        }
        for s in std::mem::take(&mut self.seen).into_values() {
            self.keep(&s);
        }
        self.seen = live;

        let mut out: BTreeMap<(Ns, String), Figures> = self.kept.clone();
        for s in self.seen.values() {
            out.entry(s.key.clone())
                .or_default()
                .add(&s.last.minus(&s.base));
        }
        out.into_iter()
            .filter(|(_, f)| f.total() > 0 || f.blocked_ns > 0)
            .map(|((ns, comm), f)| CommStats {
                ns,
                comm,
                calls: Syscall::all()
                    .filter(|s| f.calls[s.index()] > 0)
                    .map(|s| SyscallCount {
                        syscall: s.name(),
                        calls: f.calls[s.index()],
                        errors: f.errors[s.index()],
                    })
                    .collect(),
                wait_s: f.blocked_ns as f64 / 1e9,
            })
            .collect()
    }

    fn keep(&mut self, s: &Seen) {
        let d = s.last.minus(&s.base);
        self.kept.entry(s.key.clone()).or_default().add(&d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, comm: &str, semop: u64) -> PidFigures {
        let mut calls = [0; NSYS];
        calls[Syscall::SEMTIMEDOP.index()] = semop;
        PidFigures {
            pid,
            ns: 1,
            comm: comm.into(),
            calls,
            errors: [0; NSYS],
            blocked_ns: semop * 1000,
        }
    }

    fn calls(v: &[CommStats]) -> Vec<(String, u64)> {
        v.iter()
            .map(|c| (c.comm.clone(), c.calls.iter().map(|x| x.calls).sum()))
            .collect()
    }

    #[test]
    fn a_process_that_exits_keeps_counting_under_its_comm() {
        let mut c = CommCarry::default();
        let v = c.update(vec![p(10, "worker", 100), p(11, "worker", 50)]);
        assert_eq!(calls(&v), [("worker".into(), 150)]);
        // 10 exits: its rows go from the account.
        let v = c.update(vec![p(11, "worker", 60)]);
        assert_eq!(calls(&v), [("worker".into(), 160)]);
        // Its pid is reused by another worker that made 5 calls: not a reset either.
        let v = c.update(vec![p(10, "worker", 5), p(11, "worker", 60)]);
        assert_eq!(calls(&v), [("worker".into(), 165)]);
        assert_eq!(v[0].wait_s, 165e3 / 1e9);
        // Its rows zeroed in place (the account keeps the pid at 0).
        let v = c.update(vec![p(10, "worker", 0), p(11, "worker", 61)]);
        assert_eq!(calls(&v), [("worker".into(), 166)]);
    }

    #[test]
    fn a_comm_learnt_late_splits_the_counts_without_going_back() {
        let mut c = CommCarry::default();
        let v = c.update(vec![p(10, "unknown", 7)]);
        assert_eq!(calls(&v), [("unknown".into(), 7)]);
        let v = c.update(vec![p(10, "worker", 9)]);
        assert_eq!(calls(&v), [("unknown".into(), 7), ("worker".into(), 2)]);
        let v = c.update(vec![p(10, "worker", 20)]);
        assert_eq!(calls(&v), [("unknown".into(), 7), ("worker".into(), 13)]);
        let v = c.update(vec![]);
        assert_eq!(calls(&v), [("unknown".into(), 7), ("worker".into(), 13)]);
    }
}
