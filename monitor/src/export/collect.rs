//! The exporter's one door into the model: [`Collector::observe`] sees each update after
//! `Model::apply` has put it into the model, [`Collector::collect`] turns the model (and the
//! findings) into the plain numbers of [`Host`]. Nothing else in `export/` reads the model, so
//! a change of the model's accessors is a change of this file alone.
//!
//! What the model does not keep (yet) is kept here, from the same feed:
//! - the kernel's aggregates per (process, syscall, object) of the last `Kernel` update, for
//!   per-syscall counts and the wait histograms (the model sums them per object);
//! - failed calls per errno, from the failure events (in aggregating mode the probe sends
//!   every failed call; one lost in the ring buffer shows in `ipctop_events_dropped_total`);
//! - each process's namespace and comm while it is visible, because its calls stay in the
//!   kernel's aggregates after it exits (a process never seen is taken to be of the viewed
//!   namespace, as the model does, and its comm is "unknown"). The kernel's aggregates are
//!   keyed by pid, not namespace: a process's calls all count in the namespace it was last
//!   seen in.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::metrics::{
    CommStats, Host, KernelTotals, Kind, LimitStat, Ns, NsStats, ObjectStats, SyscallCount,
    WaitHistogram,
};
use crate::{
    analysis::{self, Finding, IpcKind, What},
    event::{errno_name, Event, Syscall},
    feed::{KernelSample, Stamped, Update},
    model::{can_block, Model, WaitOn},
    probe::Aggregate,
};

/// State carried between updates (see the module documentation).
#[derive(Debug, Default)]
pub struct Collector {
    /// pid → (namespace, comm), learned while the process was visible.
    pids: HashMap<u32, (Ns, String)>,
    /// (ns, kind, id, syscall index, errno) → failed calls seen as events.
    errnos: BTreeMap<(Ns, Kind, i32, usize, i32), u64>,
    last_kernel: Option<Box<KernelSample>>,
}

/// An object's calls per syscall and its wait histogram, from the aggregates.
type ObjectCounts = (Vec<SyscallCount>, Option<WaitHistogram>);

/// Past this many (object, syscall, errno) counts, those of objects that are gone go.
const MAX_ERRNO_ENTRIES: usize = 10_000;

/// (syscall, errno name, failed calls).
type ErrnoCount = (&'static str, String, u64);

/// The kind of object a syscall works on.
fn kind_of(s: Syscall) -> Kind {
    match s.name() {
        n if n.starts_with("sem") => Kind::Sem,
        n if n.starts_with("shm") => Kind::Shm,
        _ => Kind::Msg,
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

fn histogram_of(a: &Aggregate) -> WaitHistogram {
    let buckets: Vec<(f64, u64)> = a
        .hist
        .iter()
        .enumerate()
        .map(|(i, &n)| (kernel_bucket_upper_s(i), n))
        .collect();
    WaitHistogram {
        count: buckets.iter().map(|b| b.1).sum(),
        buckets,
        sum_s: a.total_ns as f64 / 1e9,
    }
}

fn add_count(v: &mut Vec<SyscallCount>, s: Syscall, calls: u64, errors: u64) {
    match v.iter_mut().find(|c| c.syscall == s.name()) {
        Some(c) => {
            c.calls += calls;
            c.errors += errors;
        }
        None => v.push(SyscallCount {
            syscall: s.name(),
            calls,
            errors,
        }),
    }
}

impl Collector {
    pub fn new() -> Self {
        Self::default()
    }

    fn learn(&mut self, pid: u32, ns: Ns, comm: &str) {
        self.pids
            .entry(pid)
            .or_insert_with(|| (ns, comm.to_string()));
    }

    fn ns_of(&self, model: &Model, pid: u32) -> Ns {
        self.pids
            .get(&pid)
            .map(|p| p.0)
            .or_else(|| model.process(pid).and_then(|p| p.ipc_ns))
            .unwrap_or(model.view_ns())
    }

    /// Takes note of what an update brings that the model does not keep. Call it after
    /// `model.apply(&update)`.
    pub fn observe(&mut self, model: &Model, s: Stamped) {
        match s.update {
            Update::Snapshot(_) => {
                let view = model.view_ns();
                let seen: Vec<(u32, Ns, String)> = model
                    .all_processes()
                    .map(|p| (p.pid, p.ipc_ns.unwrap_or(view), p.comm.clone()))
                    .collect();
                for (pid, ns, comm) in seen {
                    // A live process's namespace is what /proc says now (it may have
                    // unshared); its comm stays the first seen, so that its counts keep
                    // their labels.
                    self.learn(pid, ns, &comm);
                    if let Some(p) = self.pids.get_mut(&pid) {
                        p.0 = ns;
                    }
                }
            }
            Update::Events(evs) => {
                for ev in &evs {
                    self.note_event(model, ev);
                }
            }
            Update::Kernel(k) => self.last_kernel = Some(k),
            Update::Reset => *self = Self::default(),
            Update::InFlight(_) => {}
        }
    }

    fn note_event(&mut self, model: &Model, ev: &Event) {
        let ns = self.ns_of(model, ev.pid);
        self.learn(ev.pid, ns, &ev.comm.as_str());
        let (Some(errno), Some(id)) = (ev.errno(), ev.args.and_then(|a| a.id())) else {
            return;
        };
        *self
            .errnos
            .entry((ns, kind_of(ev.syscall), id, ev.syscall.index(), errno))
            .or_default() += 1;
    }

    /// What the model and the findings say now.
    pub fn collect(&mut self, model: &Model, findings: &[Finding], probe_attached: bool) -> Host {
        let view = model.view_ns();
        let mut host = Host {
            probe_attached,
            snapshots: model.counts().0,
            ..Default::default()
        };
        let acc = model.account();
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

        // The kernel's aggregates, per object and per comm.
        let mut per_obj: HashMap<(Ns, Kind, i32), ObjectCounts> = HashMap::new();
        let mut per_comm: BTreeMap<(Ns, String), (Vec<SyscallCount>, f64)> = BTreeMap::new();
        let aggregates = self
            .last_kernel
            .as_ref()
            .map(|s| s.aggregates.as_slice())
            .unwrap_or_default();
        for a in aggregates {
            let (ns, comm) = self
                .pids
                .get(&a.pid)
                .cloned()
                .unwrap_or_else(|| (self.ns_of(model, a.pid), "unknown".into()));
            let blocking = can_block(a.syscall);
            let c = per_comm.entry((ns, comm)).or_default();
            add_count(&mut c.0, a.syscall, a.calls, a.errors);
            if blocking {
                c.1 += a.total_ns as f64 / 1e9;
            }
            let Some(id) = a.id else { continue };
            let o = per_obj.entry((ns, kind_of(a.syscall), id)).or_default();
            add_count(&mut o.0, a.syscall, a.calls, a.errors);
            if blocking {
                o.1.get_or_insert_with(WaitHistogram::default)
                    .add(&histogram_of(a));
            }
        }
        host.comms = per_comm
            .into_iter()
            .map(|((ns, comm), (calls, wait_s))| CommStats {
                ns,
                comm,
                calls,
                wait_s,
            })
            .collect();
        // Forget processes that are gone and left no counts behind.
        let in_aggs: BTreeSet<u32> = aggregates.iter().map(|a| a.pid).collect();
        self.pids
            .retain(|pid, _| in_aggs.contains(pid) || model.process(*pid).is_some());

        // Findings.
        let mut leaked: BTreeSet<(Kind, i32)> = BTreeSet::new();
        let mut deadlocked: BTreeSet<i32> = BTreeSet::new();
        let mut deadlocks = 0;
        for f in findings {
            match &f.what {
                What::Leak { ipc, id } => {
                    leaked.insert((kind_of_ipc(*ipc), *id));
                }
                What::Deadlock { cycle, .. } => {
                    deadlocks += 1;
                    deadlocked.extend(cycle.iter().map(|s| s.semid));
                }
                _ => {}
            }
        }

        // Waits.
        let mut waiters: HashMap<(Kind, i32), u64> = HashMap::new();
        let mut longest_wait_s: f64 = 0.0;
        let now = model.now_mono_ns();
        for w in model.waits() {
            let kind = match w.on {
                WaitOn::Sem { .. } => Kind::Sem,
                _ => Kind::Msg,
            };
            *waiters.entry((kind, w.on.id())).or_default() += 1;
            longest_wait_s = longest_wait_s.max(w.at_least_s(now));
        }

        // The objects that exist now.
        let mut errnos: HashMap<(Ns, Kind, i32), Vec<ErrnoCount>> = HashMap::new();
        for (&(ns, kind, id, sys, errno), &n) in &self.errnos {
            let name = Syscall::from_index(sys as u8).map_or("unknown", |s| s.name());
            errnos.entry((ns, kind, id)).or_default().push((
                name,
                errno_name(errno).into_owned(),
                n,
            ));
        }
        let mut object = |kind: Kind, ns: Ns, id: i32| {
            let mut o = ObjectStats::new(ns, kind, id);
            if let Some((calls, wait)) = per_obj.remove(&(ns, kind, id)) {
                o.calls = calls;
                o.wait = wait;
            }
            o.calls.sort_by_key(|c| c.syscall);
            o.errors_by_errno = errnos.remove(&(ns, kind, id)).unwrap_or_default();
            o.waiters = waiters.get(&(kind, id)).copied().unwrap_or(0);
            o.leaked = leaked.contains(&(kind, id));
            o.deadlocked = kind == Kind::Sem && deadlocked.contains(&id);
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
        // Errno counts of objects that are gone are not shown; past a bound they go (kept
        // until then, as a failure event can come before the snapshot that shows its object).
        if self.errnos.len() > MAX_ERRNO_ENTRIES {
            let present: BTreeSet<(Ns, Kind, i32)> =
                host.objects.iter().map(|o| (o.ns, o.kind, o.id)).collect();
            self.errnos
                .retain(|&(ns, kind, id, _, _), _| present.contains(&(ns, kind, id)));
        }

        // The viewed namespace.
        let count = |f: &dyn Fn(Kind) -> u64| Kind::ALL.iter().map(|&k| (k, f(k))).collect();
        let objects_of = |k: Kind| host.objects.iter().filter(|o| o.kind == k).count() as u64;
        host.namespaces.push(NsStats {
            ns: view,
            objects: count(&objects_of),
            blocked: [Kind::Sem, Kind::Msg]
                .iter()
                .map(|&k| {
                    let n = waiters
                        .iter()
                        .filter(|((wk, _), _)| *wk == k)
                        .map(|(_, n)| n);
                    (k, n.sum())
                })
                .collect(),
            longest_wait_s,
            leaked: count(&|k| leaked.iter().filter(|(lk, _)| *lk == k).count() as u64),
            deadlocks,
            limits: analysis::limit_usage(model)
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
        });
        host
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, MONO, NOW, ROOT, S};

    fn agg(pid: u32, id: Option<i32>, syscall: Syscall, calls: u64, errors: u64) -> Aggregate {
        Aggregate {
            pid,
            id,
            syscall,
            calls,
            errors,
            total_ns: 0,
            max_ns: 0,
            last_ns: 0,
            hist: [0; monitor_ebpf::HIST_BUCKETS],
        }
    }

    #[test]
    fn objects_get_the_kernels_counts_histograms_and_errnos_and_comms_their_calls() {
        let mut model = Model::new();
        let mut c = Collector::new();
        let mut step = |u: Update, t: u64| {
            let s = Stamped {
                mono_ns: t,
                update: u,
            };
            model.apply(&s);
            c.observe(&model, s);
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

        let host = c.collect(&model, &[], true);
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
