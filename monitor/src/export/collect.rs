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
    CommStats, Host, KernelTotals, Kind, LimitStat, Ns, NsStats, ObjectStats, SyscallCount,
    WaitHistogram,
};
use crate::{
    analysis::{self, Finding, IpcKind, What},
    event::{errno_name, Syscall},
    model::{Model, ObjKind, Tally, WaitOn},
};

fn kind_of(k: ObjKind) -> Kind {
    match k {
        ObjKind::Sem => Kind::Sem,
        ObjKind::Shm => Kind::Shm,
        ObjKind::Msg => Kind::Msg,
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
/// (`monitor_ebpf::HIST_BUCKETS`: bucket 0 under 2 µs, bucket i in [2^i, 2^(i+1)) µs, the
/// last one everything longer).
pub fn kernel_bucket_upper_s(i: usize) -> f64 {
    if i + 1 >= monitor_ebpf::HIST_BUCKETS {
        f64::INFINITY
    } else {
        (1u64 << (i + 1)) as f64 * 1e-6
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

fn add_counts(v: &mut Vec<SyscallCount>, more: Vec<SyscallCount>) {
    for m in more {
        match v.iter_mut().find(|c| c.syscall == m.syscall) {
            Some(c) => {
                c.calls += m.calls;
                c.errors += m.errors;
            }
            None => v.push(m),
        }
    }
}

/// What the model and the findings say now.
pub fn collect(model: &Model, findings: &[Finding], probe_attached: bool) -> Host {
    let acc = model.account();
    let mut host = Host {
        probe_attached,
        snapshots: model.counts().0,
        ..Default::default()
    };
    if acc.kernel_at().is_some() {
        host.kernel = Some(KernelTotals {
            calls: Syscall::all()
                .map(|s| (s.name(), acc.syscall(s).calls, acc.syscall(s).errors))
                .collect(),
            events_dropped: acc.dropped(),
            inflight_full: acc.inflight_full(),
            aggregates_full: acc.agg_full(),
        });
    }

    // Per object: the account's tallies (observers left out, as everywhere), of the
    // namespaces in scope.
    type ObjectCounts = (
        Vec<SyscallCount>,
        Option<WaitHistogram>,
        Vec<(&'static str, String, u64)>,
    );
    let mut per_obj: HashMap<(Ns, Kind, i32), ObjectCounts> = HashMap::new();
    for ((kind, oid), t) in acc.objects().filter(|((_, id), _)| model.in_scope(id.ns)) {
        let errnos = t
            .errnos
            .iter()
            .map(|(&(s, errno), &n)| (s.name(), errno_name(errno).into_owned(), n))
            .collect();
        per_obj.insert(
            (oid.ns, kind_of(*kind), oid.id),
            (per_syscall(t), histogram_of(t), errnos),
        );
    }
    // Per comm: the processes' tallies summed by (namespace, comm).
    let mut per_comm: BTreeMap<(Ns, String), (Vec<SyscallCount>, f64)> = BTreeMap::new();
    for (pid, t) in acc.processes() {
        let ns = model.process_ns(pid);
        if !model.in_scope(ns) {
            continue;
        }
        let comm = acc
            .comm(pid)
            .map(str::to_string)
            .or_else(|| model.comm_of(pid))
            .unwrap_or_else(|| "unknown".into());
        let c = per_comm.entry((ns, comm)).or_default();
        add_counts(&mut c.0, per_syscall(t));
        c.1 += t.blocked_s();
    }
    host.comms = per_comm
        .into_iter()
        .map(|((ns, comm), (mut calls, wait_s))| {
            calls.sort_by_key(|c| c.syscall);
            CommStats {
                ns,
                comm,
                calls,
                wait_s,
            }
        })
        .collect();

    // Findings, each in its namespace.
    let mut leaked: BTreeSet<(Ns, Kind, i32)> = BTreeSet::new();
    let mut deadlocked: BTreeSet<(Ns, i32)> = BTreeSet::new();
    let mut deadlocks: BTreeMap<Ns, u64> = BTreeMap::new();
    for f in findings {
        match &f.what {
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

    // Waits.
    let mut waiters: HashMap<(Ns, Kind, i32), u64> = HashMap::new();
    let mut longest_wait_s: BTreeMap<Ns, f64> = BTreeMap::new();
    let now = model.now_mono_ns();
    for w in model.waits() {
        let kind = match w.on {
            WaitOn::Sem { .. } => Kind::Sem,
            _ => Kind::Msg,
        };
        *waiters.entry((w.ns, kind, w.on.id())).or_default() += 1;
        let l = longest_wait_s.entry(w.ns).or_default();
        *l = l.max(w.at_least_s(now));
    }

    // The objects that exist now.
    let mut object = |kind: Kind, ns: Ns, id: i32| {
        let mut o = ObjectStats::new(ns, kind, id);
        if let Some((calls, wait, errnos)) = per_obj.remove(&(ns, kind, id)) {
            o.calls = calls;
            o.wait = wait;
            o.errors_by_errno = errnos;
        }
        o.calls.sort_by_key(|c| c.syscall);
        o.waiters = waiters.get(&(ns, kind, id)).copied().unwrap_or(0);
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
    host.objects.sort_by_key(|o| (o.ns, o.kind, o.id));
    // Each namespace in scope that has objects or limits (the home one always).
    let count = |f: &dyn Fn(Kind) -> u64| Kind::ALL.iter().map(|&k| (k, f(k))).collect();
    let shown = model
        .namespaces()
        .into_iter()
        .filter(|n| n.in_scope && (n.home || n.objects > 0 || model.limits_of(n.ns).is_some()));
    for n in shown {
        let ns = n.ns;
        let objects_of = |k: Kind| {
            host.objects
                .iter()
                .filter(|o| o.ns == ns && o.kind == k)
                .count() as u64
        };
        let stats = NsStats {
            ns,
            container: n.container.clone(),
            objects: count(&objects_of),
            blocked: [Kind::Sem, Kind::Msg]
                .iter()
                .map(|&k| {
                    let n = waiters
                        .iter()
                        .filter(|((wns, wk, _), _)| *wns == ns && *wk == k)
                        .map(|(_, n)| n);
                    (k, n.sum())
                })
                .collect(),
            longest_wait_s: longest_wait_s.get(&ns).copied().unwrap_or(0.0),
            leaked: count(&|k| {
                leaked
                    .iter()
                    .filter(|(lns, lk, _)| *lns == ns && *lk == k)
                    .count() as u64
            }),
            deadlocks: deadlocks.get(&ns).copied().unwrap_or(0),
            limits: analysis::limit_usage_of(model, ns)
                .into_iter()
                .map(|u| LimitStat {
                    name: u.limit,
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
        let mut a = agg(100, Some(7), Syscall::SEMTIMEDOP, 10, 1);
        a.total_ns = 3 * S;
        a.hist[0] = 8;
        a.hist[monitor_ebpf::HIST_BUCKETS - 1] = 2;
        // A process never seen (its calls count in the viewed namespace, comm "unknown").
        let mut b = agg(300, Some(7), Syscall::SEMTIMEDOP, 5, 0);
        b.hist[1] = 5;
        k.aggregates = vec![a, b, agg(100, None, Syscall::SEMGET, 1, 1)];
        step(Update::Kernel(Box::new(k)), MONO + 2 * S);

        let host = collect(&model, &[], true);
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
        assert_eq!(w.buckets[0], (2e-6, 8));
        assert_eq!(w.buckets[1], (4e-6, 5));
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
        assert_eq!(
            host.kernel.unwrap().calls[Syscall::SEMTIMEDOP.index()].1,
            15
        );
        assert_eq!(host.namespaces[0].objects[0], (Kind::Sem, 1));
    }

    #[test]
    fn kernel_buckets_are_log2_microseconds_up_to_infinity() {
        assert_eq!(kernel_bucket_upper_s(0), 2e-6);
        assert_eq!(kernel_bucket_upper_s(1), 4e-6);
        assert_eq!(kernel_bucket_upper_s(9), 1024e-6);
        let last = monitor_ebpf::HIST_BUCKETS - 1;
        assert_eq!(
            kernel_bucket_upper_s(last - 1),
            (1u64 << last) as f64 * 1e-6
        );
        assert!(kernel_bucket_upper_s(last).is_infinite());
    }
}
