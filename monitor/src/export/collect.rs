//! The exporter's one door into the model: [`collect`] turns the model's account (the one
//! account of calls, failures, waits and histograms every view reads) and the findings into
//! the plain numbers of [`Host`]. Nothing else in `export/` reads the model, and this file
//! counts nothing itself: a figure the exporter shows is a figure the dashboard, `snapshot`
//! and `report` show.
//!
//! The kernel's aggregates are keyed by pid, not namespace: a process's calls count in the
//! namespace the model knows it in (the viewed one for a process never seen in a snapshot).
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::metrics::{
    CommStats, Host, KernelTotals, Kind, LimitStat, LimitUnit, Ns, NsStats, ObjKey, ObjectStats,
    SyscallCount, WaitHistogram,
};
use crate::{
    analysis::{self, Finding, IpcKind, What},
    event::{errno_name, Syscall},
    model::{Model, ObjId, ObjKind, Tally, WaitOn},
    sample::KernelSample,
};

/// How full the probe's tables were at its last sample, taken from the feed (the model keeps
/// no fill; what full tables lost is the account's: [`crate::model::account::Account::lost_calls`]);
/// empty before the first sample.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProbeHealth {
    /// (table, used, capacity).
    pub fill: Vec<(&'static str, u64, u64)>,
}

impl ProbeHealth {
    /// From one kernel sample of the feed.
    pub fn of(k: &KernelSample) -> Self {
        Self {
            fill: k
                .fill
                .map(|f| {
                    vec![
                        ("aggregates", f.agg.0, f.agg.1),
                        ("holds", f.holds.0, f.holds.1),
                        ("threads", f.threads.0, f.threads.1),
                    ]
                })
                .unwrap_or_default(),
        }
    }
}

fn obj_kind(k: Kind) -> ObjKind {
    match k {
        Kind::Sem => ObjKind::Sem,
        Kind::Shm => ObjKind::Shm,
        Kind::Msg => ObjKind::Msg,
    }
}

fn kind_of_ipc(k: IpcKind) -> Kind {
    match k {
        IpcKind::Sem => Kind::Sem,
        IpcKind::Shm => Kind::Shm,
        IpcKind::Msg => Kind::Msg,
    }
}

/// The upper bound, in seconds, of bucket `i` of the kernel's wait histograms
/// (`monitor_ebpf::HIST_BUCKETS`): the kernel's "µs" are ns >> 10, bucket 0 holds calls under
/// 2 of them (2^11 ns), bucket i those in [2^(i+10), 2^(i+11)) ns, the last everything
/// longer. Exactly the kernel's bounds: powers of two of nanoseconds (bucket 10 begins at
/// 2^20 ns = 1.048576 ms, [`crate::model::WAIT_NS`]).
pub fn kernel_bucket_upper_s(i: usize) -> f64 {
    if i + 1 >= monitor_ebpf::HIST_BUCKETS {
        f64::INFINITY
    } else {
        // Divided, not multiplied by 1e-9: the nearest double to the exact decimal.
        (1u64 << (i + 11)) as f64 / 1e9
    }
}

/// The blocking calls' histogram of a tally (`None` when it had none).
fn histogram_of(t: &Tally) -> Option<WaitHistogram> {
    let count: u64 = t.hist.iter().sum();
    (count > 0).then(|| WaitHistogram {
        buckets: t
            .hist
            .iter()
            .enumerate()
            .map(|(i, &n)| (kernel_bucket_upper_s(i), n))
            .collect(),
        sum_s: t.blocked_s(),
        count,
    })
}

/// A tally's calls per syscall (failures per syscall from its errnos).
fn per_syscall(t: &Tally) -> Vec<SyscallCount> {
    Syscall::all()
        .filter(|s| t.by_syscall[s.index()] > 0)
        .map(|s| SyscallCount {
            syscall: s.name(),
            calls: t.by_syscall[s.index()],
            errors: t
                .errnos
                .iter()
                .filter(|((sys, _), _)| *sys == s)
                .map(|(_, n)| n)
                .sum(),
        })
        .collect()
}

/// The per-command counters: the account's own per-(namespace, comm) totals, which only
/// grow (a process's calls stay under its comm after it ends, and under the comm its calls
/// were counted by), of the namespaces in scope. Failures per syscall from the errnos, as
/// per object.
pub fn comm_stats(model: &Model) -> Vec<CommStats> {
    model
        .account()
        .comm_totals()
        .filter(|((ns, _), t)| model.in_scope(*ns) && (t.calls > 0 || t.blocked_ns > 0))
        .map(|((ns, comm), t)| CommStats {
            ns,
            comm: comm.to_string(),
            calls: per_syscall(t),
            wait_s: t.blocked_s(),
        })
        .collect()
}

/// The probe's totals, if it sampled.
fn kernel_totals(model: &Model, probe: &ProbeHealth) -> Option<KernelTotals> {
    let acc = model.account();
    let at = acc.kernel_at()?;
    Some(KernelTotals {
        calls: Syscall::all()
            .map(|s| (s.name(), acc.syscall(s).calls, acc.syscall(s).errors))
            .collect(),
        events_dropped: acc.dropped(),
        inflight_full: acc.inflight_full(),
        aggregates_full: acc.agg_full(),
        lost_calls: acc.lost_calls(),
        lost_holds: acc.lost_holds(),
        retired_early: acc.retired_early(),
        fill: probe.fill.clone(),
        sampled_unix_s: model.unix_s(at),
    })
}

/// Threads (each wait is one) and their processes, per object.
#[derive(Default)]
struct Waiting {
    threads: u64,
    pids: BTreeSet<u32>,
}

/// What the model and the findings say now; `probe` is the probe's last word on how full
/// its tables are.
pub fn collect(
    model: &Model,
    findings: &[Finding],
    probe_attached: bool,
    probe: &ProbeHealth,
) -> Host {
    let mut host = collect_counts(model, findings, probe_attached, probe);
    details(model, &mut host.objects);
    host
}

/// The account's tally of an object of a namespace in scope.
fn tally_of(model: &Model, (ns, kind, id): ObjKey) -> Option<&Tally> {
    model
        .in_scope(ns)
        .then(|| model.account().object(obj_kind(kind), ObjId { ns, id }))
        .flatten()
}

/// Each object's histogram and failures by errno (what [`collect_counts`] leaves out): for
/// the objects that keep series of their own once the cap chose them, not for every one.
pub fn details(model: &Model, objects: &mut [ObjectStats]) {
    for o in objects {
        let Some(t) = tally_of(model, o.key()) else {
            continue;
        };
        o.wait = histogram_of(t);
        o.errors_by_errno = t
            .errnos
            .iter()
            .map(|(&(s, errno), &n)| (s.name(), errno_name(errno).into_owned(), n))
            .collect();
    }
}

/// As [`collect`], each object with its calls alone (what the cap ranks by): its histogram
/// and failures by errno are [`details`]'.
pub fn collect_counts(
    model: &Model,
    findings: &[Finding],
    probe_attached: bool,
    probe: &ProbeHealth,
) -> Host {
    let mut host = Host {
        probe_attached,
        snapshots: model.counts().0,
        kernel: kernel_totals(model, probe),
        comms: comm_stats(model),
        posix: super::posix::collect(model),
        ..Default::default()
    };

    // Findings, each in its namespace.
    let mut leaked: BTreeSet<ObjKey> = BTreeSet::new();
    let mut deadlocked: BTreeSet<(Ns, i32)> = BTreeSet::new();
    let mut deadlocks: BTreeMap<Ns, u64> = BTreeMap::new();
    let mut stuck: BTreeMap<Ns, u64> = BTreeMap::new();
    let mut stalled: BTreeMap<Ns, u64> = BTreeMap::new();
    for f in findings {
        match &f.what {
            // One finding per thread.
            What::Stuck { .. } => *stuck.entry(f.ipc_ns).or_default() += 1,
            What::Stalled { tids, .. } => {
                *stalled.entry(f.ipc_ns).or_default() += tids.len() as u64
            }
            What::Leak { ipc, id } => {
                leaked.insert((f.ipc_ns, kind_of_ipc(*ipc), *id));
            }
            What::Deadlock { cycle, .. } => {
                *deadlocks.entry(f.ipc_ns).or_default() += 1;
                deadlocked.extend(
                    cycle
                        .iter()
                        .filter(|s| s.ipc == crate::analysis::IpcKind::Sem)
                        .map(|s| (f.ipc_ns, s.id)),
                );
            }
            _ => {}
        }
    }

    // Waits: each is one blocked thread.
    let mut waiting: HashMap<ObjKey, Waiting> = HashMap::new();
    let mut longest_wait_s: BTreeMap<Ns, f64> = BTreeMap::new();
    let now = model.now_mono_ns();
    for w in model.waits() {
        let kind = match w.on {
            WaitOn::Sem { .. } => Kind::Sem,
            _ => Kind::Msg,
        };
        let x = waiting.entry((w.ns, kind, w.on.id())).or_default();
        x.threads += 1;
        x.pids.insert(w.pid);
        let l = longest_wait_s.entry(w.ns).or_default();
        *l = l.max(w.at_least_s(now));
    }

    // The objects that exist now.
    let object = |kind: Kind, ns: Ns, id: i32| {
        // The account's tally (observers left out, as everywhere), of the namespaces in
        // scope.
        let mut o = ObjectStats::new(ns, kind, id);
        if let Some(t) = tally_of(model, (ns, kind, id)) {
            o.calls = per_syscall(t);
        }
        o.calls.sort_by_key(|c| c.syscall);
        if let Some(w) = waiting.get(&(ns, kind, id)) {
            o.waiters = w.threads;
            o.waiting_processes = w.pids.len() as u64;
        }
        o.leaked = leaked.contains(&(ns, kind, id));
        o.deadlocked = kind == Kind::Sem && deadlocked.contains(&(ns, id));
        o
    };
    for s in model.sem_sets() {
        host.objects.push(object(Kind::Sem, s.id.ns, s.id.id));
    }
    for s in model.segments() {
        let mut o = object(Kind::Shm, s.id.ns, s.id.id);
        o.size_bytes = Some(s.size);
        o.attachments = Some(s.nattch);
        o.attached_processes = Some(s.attached_pids().len() as u64);
        host.objects.push(o);
    }
    for q in model.queues() {
        let mut o = object(Kind::Msg, q.id.ns, q.id.id);
        o.queue_bytes = Some(q.cbytes);
        o.queue_messages = Some(q.qnum);
        host.objects.push(o);
    }
    host.objects.sort_by_key(ObjectStats::key);
    // Each namespace in scope that has objects or limits (the home one always).
    let shown = model
        .namespaces()
        .into_iter()
        .filter(|n| n.in_scope && (n.home || n.objects > 0 || model.limits_of(n.ns).is_some()));
    for n in shown {
        let ns = n.ns;
        let per_kind = |kinds: &[Kind], f: &dyn Fn(Kind) -> u64| -> Vec<(Kind, u64)> {
            kinds.iter().map(|&k| (k, f(k))).collect()
        };
        let objects_of = |k: Kind| {
            host.objects
                .iter()
                .filter(|o| o.ns == ns && o.kind == k)
                .count() as u64
        };
        let waiting_in = |k: Kind| {
            waiting
                .iter()
                .filter(move |((wns, wk, _), _)| *wns == ns && *wk == k)
        };
        let blocking = [Kind::Sem, Kind::Msg];
        let stats = NsStats {
            ns,
            container: n.container.clone(),
            objects: per_kind(&Kind::ALL, &objects_of),
            blocked: per_kind(&blocking, &|k| waiting_in(k).map(|(_, w)| w.threads).sum()),
            blocked_processes: per_kind(&blocking, &|k| {
                let pids: BTreeSet<u32> = waiting_in(k)
                    .flat_map(|(_, w)| w.pids.iter().copied())
                    .collect();
                pids.len() as u64
            }),
            longest_wait_s: longest_wait_s.get(&ns).copied().unwrap_or(0.0),
            leaked: per_kind(&Kind::ALL, &|k| {
                leaked
                    .iter()
                    .filter(|(lns, lk, _)| *lns == ns && *lk == k)
                    .count() as u64
            }),
            deadlocks: deadlocks.get(&ns).copied().unwrap_or(0),
            stuck_threads: stuck.get(&ns).copied().unwrap_or(0),
            stalled_threads: stalled.get(&ns).copied().unwrap_or(0),
            limits: analysis::limit_usage_of(model, ns)
                .into_iter()
                .map(|u| LimitStat {
                    name: u.limit,
                    unit: if u.limit == "shmall" {
                        LimitUnit::Pages
                    } else {
                        LimitUnit::Count
                    },
                    objects_of: match u.limit {
                        "semmni" => Some(Kind::Sem),
                        "shmmni" => Some(Kind::Shm),
                        "msgmni" => Some(Kind::Msg),
                        _ => None,
                    },
                    used: u.used,
                    max: u.max,
                })
                .collect(),
        };
        host.namespaces.push(stats);
    }
    host
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, agg, MONO, NOW, ROOT, S};

    use crate::{
        feed::{Stamped, Update},
        sample::KernelSample,
    };

    #[test]
    fn objects_get_the_kernels_counts_histograms_and_errnos_and_comms_their_calls() {
        let mut model = Model::new();
        let mut step = |u: Update, t: u64| {
            model.apply(&Stamped {
                mono_ns: t,
                update: u,
            });
        };
        let mut snap = fixtures::snapshot(MONO, 1 << 20, None);
        snap.processes
            .push(fixtures::process(100, "worker", None, NOW - 60));
        snap.sem.push(fixtures::sem(
            7,
            0,
            0o600,
            ROOT,
            &[(1, 0, 100)],
            NOW,
            NOW - 60,
        ));
        step(Update::Snapshot(Box::new(snap)), MONO);
        // A refused semop (EAGAIN) as its failure event.
        let refused = fixtures::ev(
            100,
            "worker",
            ROOT,
            MONO + S,
            Some(MONO + S + 1000),
            fixtures::semop(7, 0, -1),
            Some(-11),
        );
        step(Update::Events(vec![refused]), MONO + S);
        let mut k = KernelSample::default();
        k.stats.calls[Syscall::SEMTIMEDOP.index()] = 15;
        k.stats.lost_calls = 4;
        k.stats.lost_holds = 2;
        let mut a = agg(100, Some(7), Syscall::SEMTIMEDOP, 10, 1);
        a.total_ns = 3 * S;
        a.hist[0] = 8;
        a.hist[monitor_ebpf::HIST_BUCKETS - 1] = 2;
        // A process never seen (its calls count in the viewed namespace, comm "unknown").
        let mut b = agg(300, Some(7), Syscall::SEMTIMEDOP, 5, 0);
        b.hist[1] = 5;
        k.aggregates = vec![a, b, agg(100, None, Syscall::SEMGET, 1, 1)];
        step(Update::Kernel(Box::new(k)), MONO + 2 * S);

        let host = collect(&model, &[], true, &ProbeHealth::default());
        assert_eq!(host.objects.len(), 1);
        let o = &host.objects[0];
        assert_eq!((o.kind, o.id, o.ns), (Kind::Sem, 7, fixtures::NS));
        assert_eq!(
            o.calls,
            vec![SyscallCount {
                syscall: "semtimedop",
                calls: 15,
                errors: 1
            }]
        );
        let w = o.wait.as_ref().unwrap();
        assert_eq!((w.count, w.sum_s), (15, 3.0));
        assert_eq!(w.buckets[0], (2048e-9, 8));
        assert_eq!(w.buckets[1], (4096e-9, 5));
        assert_eq!(*w.buckets.last().unwrap(), (f64::INFINITY, 2));
        assert_eq!(
            o.errors_by_errno,
            vec![("semtimedop", "EAGAIN".to_string(), 1)]
        );
        let comms: Vec<(&str, u64)> = host
            .comms
            .iter()
            .map(|c| (c.comm.as_str(), c.calls.iter().map(|x| x.calls).sum()))
            .collect();
        assert_eq!(comms, vec![("unknown", 5), ("worker", 11)]);
        let kt = host.kernel.unwrap();
        assert_eq!(kt.calls[Syscall::SEMTIMEDOP.index()].1, 15);
        // What the probe lost: the account's figures (the dashboard's "lost").
        assert_eq!((kt.lost_calls, kt.lost_holds), (4, 2));
        assert_eq!(
            kt.lost_calls + kt.lost_holds + kt.events_dropped,
            model.account().lost()
        );
        assert_eq!(host.namespaces[0].objects[0], (Kind::Sem, 1));
    }

    #[test]
    fn kernel_buckets_are_powers_of_two_of_nanoseconds_up_to_infinity() {
        // What the model (and the kernel) put a duration in: the bucket's bounds hold it.
        for ns in [
            0,
            2047,
            2048,
            1 << 20,
            (1 << 20) - 1,
            4_000_000_000,
            1 << 33,
        ] {
            let b = crate::model::account::hist_bucket(ns);
            let upper = kernel_bucket_upper_s(b);
            assert!((ns as f64 / 1e9) < upper, "{ns} ns in bucket {b} < {upper}");
            if b > 0 {
                assert!((ns as f64 / 1e9) >= kernel_bucket_upper_s(b - 1), "{ns} ns");
            }
        }
        assert_eq!(kernel_bucket_upper_s(0), 2048e-9);
        // Bucket 10 begins at 2^20 ns: the wait threshold.
        assert_eq!(kernel_bucket_upper_s(9), crate::model::WAIT_NS as f64 / 1e9);
        assert_eq!(kernel_bucket_upper_s(9).to_string(), "0.001048576");
        let last = monitor_ebpf::HIST_BUCKETS - 1;
        assert_eq!(
            kernel_bucket_upper_s(last - 1),
            (1u64 << (last + 10)) as f64 / 1e9
        );
        assert!(kernel_bucket_upper_s(last).is_infinite());
    }
}
