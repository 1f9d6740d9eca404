//! What is judged and what is context, over the whole recording: the judged processes' own
//! account (calls per syscall, failures, waits, the longest wait) and the rest of the
//! machine's, and which findings are whose.
//!
//! Judged: the recorded command's processes (the report's [`Scope`]) within the namespaces
//! the model shows (`--ipc-ns`, `--container`); with neither, everything. A process that ends
//! during the recording leaves the live account: its final tally is folded into the judged or
//! the context account then, when its place is known for good (every namespace, or the
//! command's forks followed), else kept until the end.
use std::collections::{BTreeMap, BTreeSet};

use super::Scope;
use crate::{
    analysis::{Finding, What},
    event::Syscall,
    model::{Model, NsId, RetiredWhat, Tally},
};

/// Failed calls by (syscall, errno): how many, and the processes that made them.
pub(super) type Errors = BTreeMap<(Syscall, i32), (u64, BTreeSet<u32>)>;

/// What ended is taken this long after it ended (monotonic ns), when its late calls (sampled
/// after its end) have come in.
const SETTLE_NS: u64 = 10_000_000_000;

/// At most this many objects and processes that ended are listed (the rest counted).
pub(super) const ENDED_LISTED: usize = 100_000;

/// A process that ended before its place was known.
struct Pending {
    pid: u32,
    start: Option<u64>,
    comm: Option<String>,
    ns: NsId,
    tally: Tally,
}

/// What ended, taken from the account at once (it keeps a bounded number of ended entries,
/// and a burst — a namespace of 10,000 objects going — may push out those that ended a
/// moment before), kept whole with the calls sampled after its end (`take_late`) and
/// settled `SETTLE_NS` later.
struct Ended {
    seq: u64,
    at_ns: u64,
    what: RetiredWhat,
    tally: Tally,
}

/// The longest finished call of a process.
pub(super) struct Longest {
    pub(super) pid: u32,
    pub(super) comm: Option<String>,
    pub(super) max_wait_ns: u64,
}

/// The judged and the context accounts, as the recording is read.
#[derive(Default)]
pub(super) struct Judge {
    judged: Tally,
    pending: Vec<Pending>,
    ended: Vec<Ended>,
    seq: Option<u64>,
    /// The longest finished call among processes that ended, context [0] and judged [1].
    longest: [Option<(u32, Option<String>, u64)>; 2],
    /// Failed calls, context [0] and judged [1].
    errors: [Errors; 2],
    /// The objects and processes that ended, with their final accounts (the report lists
    /// them beside those still there), and how many were left out past the limit.
    pub(super) ended_objects: Vec<crate::output::ObjectDoc>,
    pub(super) ended_processes: Vec<crate::output::ProcessDoc>,
    pub(super) ended_left_out: u64,
}

/// Whether a process is judged: the command's (as far as the scope knows) and shown by the
/// model's scope (of a namespace shown, or one of a `--ipc=host` container's processes).
pub(super) fn judged(
    m: &Model,
    scope: &Scope,
    (pid, start): (u32, Option<u64>),
    comm: Option<&str>,
    ns: NsId,
) -> bool {
    shown(m, (pid, start), ns) && scope.has(pid, start, comm)
}

/// Whether the process of that pid (as the model knows it) is judged: shown by the model's
/// scope and the command's (or everything).
pub(super) fn pid_judged(m: &Model, scope: &Scope, pid: u32) -> bool {
    m.pid_in_scope(pid) && scope.has_pid(m, pid)
}

/// Whether the model's scope shows a process (its pid and start) of the namespace `ns`.
pub(super) fn shown(m: &Model, process: (u32, Option<u64>), ns: NsId) -> bool {
    m.scope().admits_pid(process, ns, m.container_of(ns))
}

/// Whether a finding is the judged processes' (or their objects').
pub(super) fn finding_judged(
    m: &Model,
    scope: &Scope,
    f: &Finding,
    object_judged: impl Fn(&Finding) -> bool,
) -> bool {
    if !m.in_scope(f.ipc_ns) {
        return false;
    }
    let pid_judged = |p: &u32| pid_judged(m, scope, *p);
    match &f.what {
        What::Leak { .. } => object_judged(f),
        What::Deadlock { pids, .. } | What::Stalled { pids, .. } => pids.iter().any(pid_judged),
        What::Stuck { pid, .. } | What::LongWait { pid, .. } => pid_judged(pid),
        What::UsedBeforeInit { waiters, .. } => waiters.iter().any(pid_judged),
        // A namespace's limits are a container's only when the namespace is its own.
        What::LimitNear { .. } => {
            scope.is_all() && !matches!(m.scope(), crate::model::Scope::Procs { .. })
        }
    }
}

impl Judge {
    /// Folds what ended since the last call, once settled (call it after every update;
    /// `all`: everything, at the end).
    pub(super) fn after_update(&mut self, m: &Model, scope: &Scope) {
        self.take_ended(m, scope, false);
    }

    /// Takes what ended since the last call at once — the account keeps a bounded number of
    /// ended entries, and a burst (a namespace of 10,000 objects going) may push out those
    /// that ended a moment before — and folds the processes that ended `SETTLE_NS` ago (or
    /// all), with their calls sampled after their end (see `take_late`).
    fn take_ended(&mut self, m: &Model, scope: &Scope, all: bool) {
        self.take_late(m);
        let mut last = self.seq;
        for r in m.account().retired_since(self.seq) {
            last = Some(r.seq);
            self.ended.push(Ended {
                seq: r.seq,
                at_ns: r.at_ns,
                what: r.what.clone(),
                tally: r.tally.clone(),
            });
        }
        self.seq = last;
        // Objects, and processes once their place is known for good, when settled.
        let settled = m.now_mono_ns().saturating_sub(SETTLE_NS);
        let due = if all {
            self.ended.len()
        } else {
            self.ended.partition_point(|e| e.at_ns <= settled)
        };
        let rest = self.ended.split_off(due);
        for e in std::mem::replace(&mut self.ended, rest) {
            self.settle(m, e);
        }
        if scope.is_settled() || all {
            for p in std::mem::take(&mut self.pending) {
                self.fold(m, scope, p);
            }
        }
    }

    /// The calls the last update added to what had ended before it (sampled after its end):
    /// to the copy taken, which stays whole if the account pushes the entry out before it is
    /// settled (a burst of endings: the account keeps `MAX_RETIRED`); to the judged or the
    /// context account when the process was settled already. An entry that ended in the
    /// update itself is taken after this, with them.
    fn take_late(&mut self, m: &Model) {
        let Some(taken) = self.seq else {
            return;
        };
        for l in m.account().late_adds().iter().filter(|l| l.seq <= taken) {
            match self.ended.binary_search_by_key(&l.seq, |e| e.seq) {
                Ok(i) => {
                    self.ended[i].what = l.what.clone();
                    self.ended[i].tally = l.tally.clone();
                }
                Err(_) => {
                    if let RetiredWhat::Process {
                        pid,
                        start,
                        comm,
                        ipc_ns,
                        ..
                    } = &l.what
                    {
                        self.pending.push(Pending {
                            pid: *pid,
                            start: *start,
                            comm: comm.clone(),
                            ns: *ipc_ns,
                            tally: l.added.clone(),
                        });
                    }
                }
            }
        }
    }

    /// One ended process or object, with its final account.
    fn settle(&mut self, m: &Model, e: Ended) {
        let (pid, start, comm, ipc_ns, observer) = match e.what {
            RetiredWhat::Process {
                pid,
                start,
                comm,
                ipc_ns,
                observer,
            } => (pid, start, comm, ipc_ns, observer),
            RetiredWhat::Object { key, users, .. } => {
                let used = |u: &(u32, u64)| shown(m, (u.0, None), key.1.ns);
                let procs = matches!(m.scope(), crate::model::Scope::Procs { .. });
                if m.in_scope(key.1.ns) && (!procs || users.iter().any(used)) && e.tally.calls > 0 {
                    self.ended_object(m, key, &users, &e.tally);
                }
                return;
            }
        };
        let listed = shown(m, (pid, start), ipc_ns);
        if listed && self.ended_processes.len() < ENDED_LISTED {
            self.ended_processes.push(crate::output::ProcessDoc {
                pid,
                comm: comm.clone(),
                account: crate::output::TallyDoc::of(&e.tally),
                observer,
            });
        } else if listed {
            self.ended_left_out += 1;
        }
        self.pending.push(Pending {
            pid,
            start,
            comm,
            ns: ipc_ns,
            tally: e.tally,
        });
    }

    fn ended_object(
        &mut self,
        m: &Model,
        key: crate::model::ObjKey,
        users: &[(u32, u64)],
        t: &Tally,
    ) {
        if self.ended_objects.len() >= ENDED_LISTED {
            self.ended_left_out += 1;
            return;
        }
        self.ended_objects.push(crate::output::ObjectDoc {
            kind: key.0.name(),
            id: key.1.id,
            ipc_ns: key.1.ns,
            container: crate::output::container(m, key.1.ns),
            account: crate::output::TallyDoc::of(t),
            users: users.iter().map(|u| u.0).collect(),
        });
    }

    fn fold(&mut self, m: &Model, scope: &Scope, p: Pending) {
        let j = judged(m, scope, (p.pid, p.start), p.comm.as_deref(), p.ns);
        let slot = &mut self.longest[usize::from(j)];
        if p.tally.max_wait_ns > slot.as_ref().map_or(0, |l| l.2) {
            *slot = Some((p.pid, p.comm.clone(), p.tally.max_wait_ns));
        }
        for (&k, &n) in &p.tally.errnos {
            let e = self.errors[usize::from(j)].entry(k).or_default();
            e.0 += n;
            e.1.insert(p.pid);
        }
        if j {
            self.judged.absorb(&p.tally);
        }
    }

    /// The judged account at the end (with the processes still there), and each side's
    /// longest finished call and failures.
    pub(super) fn finish(mut self, m: &Model, scope: &Scope) -> Judged {
        self.take_ended(m, scope, true);
        for (pid, t) in m.account().processes() {
            let p = Pending {
                pid,
                start: m.account().process_start(pid),
                comm: m.comm_of(pid),
                ns: m.process_ns(pid),
                tally: t.clone(),
            };
            self.fold(m, scope, p);
        }
        let [context_longest, judged_longest] = self.longest;
        let [context_errors, judged_errors] = self.errors;
        let longest = |l: Option<(u32, Option<String>, u64)>| {
            l.map(|(pid, comm, max_wait_ns)| Longest {
                pid,
                comm,
                max_wait_ns,
            })
        };
        Judged {
            judged: self.judged,
            judged_longest: longest(judged_longest),
            context_longest: longest(context_longest),
            judged_errors,
            context_errors,
            ended_objects: self.ended_objects,
            ended_processes: self.ended_processes,
            ended_left_out: self.ended_left_out,
        }
    }
}

/// The judged account of the whole recording, and each side's longest call and failures.
pub(super) struct Judged {
    pub(super) judged: Tally,
    pub(super) judged_longest: Option<Longest>,
    pub(super) context_longest: Option<Longest>,
    pub(super) judged_errors: Errors,
    pub(super) context_errors: Errors,
    pub(super) ended_objects: Vec<crate::output::ObjectDoc>,
    pub(super) ended_processes: Vec<crate::output::ProcessDoc>,
    pub(super) ended_left_out: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        fixtures::{self, agg, Feed, MONO, NOW, NS, S},
        model::MAX_RETIRED,
        report::ScopeMode,
        sample::{Aggregate, KernelSample},
    };

    fn rows(procs: &[(u32, u64, u64)]) -> KernelSample {
        let mut k = KernelSample::default();
        for &(pid, start, calls) in procs {
            k.aggregates.push(Aggregate {
                start: Some(start),
                ipc_ns: Some(NS),
                ..agg(pid, Some(1), Syscall::SEMOP, calls, 0)
            });
            k.stats.calls[Syscall::SEMOP.index()] += calls;
        }
        k
    }

    fn procs(procs: &[(u32, u64)], t: u64) -> crate::snapshot::Snapshot {
        let mut s = fixtures::snapshot(t, 1 << 30, None);
        s.unix_ns = NOW as u64 * S + (t - MONO);
        s.sem.push(fixtures::sem(
            1,
            0,
            0o600,
            0,
            &[(1, 0, 0)],
            NOW - 5,
            NOW - 50,
        ));
        for &(pid, start) in procs {
            let mut p = fixtures::process(pid, "w", None, NOW - 100);
            p.start_ticks = Some(start);
            s.processes.push(p);
        }
        s
    }

    /// A process's calls sampled after its end stay its own, judged, even when a burst of
    /// endings pushes its entry out of the account before it is settled (a soak beside the
    /// test suite judged 236 of 900,003 calls short this way).
    #[test]
    fn late_calls_stay_judged_when_the_account_lets_the_ended_go_early() {
        let scope = Scope::new(ScopeMode::All, None);
        let mut m = Model::new();
        let mut j = Judge::default();
        let feed = |m: &mut Model, j: &mut Judge, f: &dyn Fn(&mut Model)| {
            f(m);
            j.after_update(m, &scope);
        };
        feed(&mut m, &mut j, &|m| {
            m.feed_snapshot(&procs(&[(10, 500)], MONO))
        });
        feed(&mut m, &mut j, &|m| {
            m.feed_kernel(MONO + S, rows(&[(10, 500, 2)]))
        });
        // Gone; then three more of its calls sampled late.
        feed(&mut m, &mut j, &|m| {
            m.feed_snapshot(&procs(&[], MONO + 2 * S))
        });
        feed(&mut m, &mut j, &|m| {
            m.feed_kernel(MONO + 3 * S, rows(&[(10, 500, 5)]))
        });
        assert_eq!(m.account().late_adds().len(), 1);
        // A burst of endings pushes it out of the account.
        let burst: Vec<(u32, u64)> = (0..MAX_RETIRED as u32 + 5)
            .map(|i| (1000 + i, 600))
            .collect();
        let burst_rows: Vec<_> = burst.iter().map(|&(p, s)| (p, s, 1)).collect();
        feed(&mut m, &mut j, &|m| {
            m.feed_snapshot(&procs(&burst, MONO + 4 * S))
        });
        feed(&mut m, &mut j, &|m| {
            m.feed_kernel(MONO + 5 * S, rows(&burst_rows))
        });
        feed(&mut m, &mut j, &|m| {
            m.feed_snapshot(&procs(&[], MONO + 6 * S))
        });
        // The bound is kept at the next update.
        feed(&mut m, &mut j, &|m| m.feed_now(MONO + 7 * S));
        assert!(m.account().process_final(10).is_none(), "pushed out");
        feed(&mut m, &mut j, &|m| m.feed_now(MONO + 20 * S));
        let judged = j.finish(&m, &scope);
        assert_eq!(judged.judged.calls, 5 + burst.len() as u64);
        assert_eq!(judged.ended_processes[0].account.calls, 5);
    }
}
