//! The metrics ipctop exports: every name, type, label set and help text is in [`SPECS`]
//! (the README's table and `ipctop serve --help` are checked against it), and [`families`]
//! fills them from a [`Host`].
use super::{
    cap::Cut,
    metrics::{Host, Kind, SyscallCount, WaitHistogram},
};

/// A metric's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Counter,
    Gauge,
    Histogram,
    Info,
}

impl Type {
    pub fn as_str(self) -> &'static str {
        match self {
            Type::Counter => "counter",
            Type::Gauge => "gauge",
            Type::Histogram => "histogram",
            Type::Info => "info",
        }
    }
}

/// One metric family's definition.
#[derive(Debug, PartialEq)]
pub struct Spec {
    /// The name as it appears in the exposition (counters end in `_total`, infos in
    /// `_info`).
    pub name: &'static str,
    pub ty: Type,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

impl Spec {
    /// The family's name in OpenMetrics terms (without `_total` / `_info`).
    pub fn base_name(&self) -> &'static str {
        match self.ty {
            Type::Counter => self.name.strip_suffix("_total").unwrap_or(self.name),
            Type::Info => self.name.strip_suffix("_info").unwrap_or(self.name),
            _ => self.name,
        }
    }
}

macro_rules! specs {
    ($($id:ident: $name:literal, $ty:ident, [$($l:literal),*], $help:literal;)*) => {
        $(pub const $id: Spec = Spec { name: $name, ty: Type::$ty, labels: &[$($l),*], help: $help };)*
        /// Every metric, in the order of the exposition.
        pub const SPECS: &[&Spec] = &[$(&$id),*];
    };
}

specs! {
    BUILD_INFO: "ipctop_build_info", Info, ["version"], "ipctop's version.";
    PROBE_ATTACHED: "ipctop_probe_attached", Gauge, [], "1 when the eBPF probe is attached, 0 when ipctop runs on snapshots of /proc alone (no call counts, no histograms).";
    SNAPSHOTS: "ipctop_snapshots_total", Counter, [], "Snapshots of /proc taken: when it stops growing, the other metrics are stale.";
    NAMESPACE_INFO: "ipctop_namespace_info", Info, ["ipc_ns", "container"], "An IPC namespace and its container label (host, docker:ID, pod:UID, …), to join onto the ipc_ns of the other metrics.";
    CALLS: "ipctop_calls_total", Counter, ["syscall"], "IPC calls of every process since the probe started, counted in the kernel (exact).";
    CALL_ERRORS: "ipctop_call_errors_total", Counter, ["syscall"], "IPC calls that returned an error, counted in the kernel (exact).";
    EVENTS_DROPPED: "ipctop_events_dropped_total", Counter, [], "Events lost on the way from the kernel (ring buffer full, undecodable): per-errno counts may miss that many.";
    TABLE_FULL: "ipctop_probe_table_full_total", Counter, ["table"], "Calls a kernel table had no room for: inflight (their arguments are unknown) or aggregates (missing from the per-object counts, still in ipctop_calls_total).";
    OBJECTS: "ipctop_objects", Gauge, ["ipc_ns", "kind"], "IPC objects that exist, per kind (sem, shm, msg).";
    OBJECT_LIMIT: "ipctop_object_limit", Gauge, ["ipc_ns", "kind"], "The most objects of this kind the namespace allows (semmni, shmmni, msgmni).";
    LIMIT: "ipctop_limit", Gauge, ["ipc_ns", "limit"], "A kernel IPC limit of the namespace, in the kernel's units (shmall: pages).";
    LIMIT_USED: "ipctop_limit_used", Gauge, ["ipc_ns", "limit"], "How much of the limit is used, in the same units.";
    BLOCKED: "ipctop_blocked_threads", Gauge, ["ipc_ns", "kind"], "Threads blocked in semop/semtimedop (kind sem) or msgsnd/msgrcv (kind msg).";
    LONGEST_WAIT: "ipctop_longest_wait_seconds", Gauge, ["ipc_ns"], "How long the longest current wait has lasted at least (0: none).";
    LEAKED: "ipctop_leaked_objects", Gauge, ["ipc_ns", "kind"], "Objects nobody will clean up (their users are gone), per kind.";
    DEADLOCKS: "ipctop_deadlocks", Gauge, ["ipc_ns"], "Cycles of processes waiting on semaphores each other holds.";
    OBJECT_CALLS: "ipctop_object_calls_total", Counter, ["ipc_ns", "kind", "id", "syscall"], "Calls on the object since the probe started, counted in the kernel (exact).";
    OBJECT_ERRORS: "ipctop_object_errors_total", Counter, ["ipc_ns", "kind", "id", "syscall", "errno"], "Failed calls on the object, by errno (from the failure events; see ipctop_events_dropped_total).";
    OBJECT_WAIT: "ipctop_object_wait_seconds", Histogram, ["ipc_ns", "kind", "id"], "How long each semop/semtimedop/msgsnd/msgrcv on the object took (the wait), from the kernel's histograms.";
    OBJECT_WAITERS: "ipctop_object_waiters", Gauge, ["ipc_ns", "kind", "id"], "Threads blocked on the object now.";
    OBJECT_LEAKED: "ipctop_object_leaked", Gauge, ["ipc_ns", "kind", "id"], "1 for an object the analysis calls leaked (absent otherwise).";
    OBJECT_DEADLOCKED: "ipctop_object_deadlocked", Gauge, ["ipc_ns", "kind", "id"], "1 for a semaphore set in a deadlock cycle (absent otherwise).";
    SHM_SIZE: "ipctop_shm_size_bytes", Gauge, ["ipc_ns", "id"], "Size of the shared memory segment.";
    SHM_ATTACHMENTS: "ipctop_shm_attachments", Gauge, ["ipc_ns", "id"], "The kernel's attach count of the segment (nattch).";
    SHM_PROCESSES: "ipctop_shm_attached_processes", Gauge, ["ipc_ns", "id"], "Processes seen with the segment mapped (/proc/PID/maps; unreadable ones are not seen).";
    QUEUE_BYTES: "ipctop_queue_bytes", Gauge, ["ipc_ns", "id"], "Bytes in the message queue.";
    QUEUE_MESSAGES: "ipctop_queue_messages", Gauge, ["ipc_ns", "id"], "Messages in the message queue.";
    COMM_CALLS: "ipctop_comm_calls_total", Counter, ["ipc_ns", "comm", "syscall"], "IPC calls of the processes with this command name, counted in the kernel.";
    COMM_WAIT: "ipctop_comm_wait_seconds_total", Counter, ["ipc_ns", "comm"], "Time the processes with this command name spent in semop/semtimedop/msgsnd/msgrcv.";
    OBJECTS_CUT: "ipctop_export_objects_cut", Gauge, ["ipc_ns", "kind"], "Objects left without series of their own by --max-objects.";
    COMMS_MERGED: "ipctop_export_comms_merged", Gauge, [], "Command names summed into the comm other by --max-comms.";
}

/// A sample's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
    Histogram(WaitHistogram),
    /// An info metric's sample (its value is 1).
    Info,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub spec: &'static Spec,
    pub samples: Vec<Sample>,
}

/// The bounds of the exported wait histogram, seconds: every other bound of the kernel's
/// log2 histogram (2 µs, 8 µs, … 8.4 s, +Inf): the same counts in half the series.
pub fn wait_bounds_s() -> Vec<f64> {
    (1..monitor_ebpf::HIST_BUCKETS as u32)
        .step_by(2)
        .map(|k| (1u64 << k) as f64 * 1e-6)
        .chain([f64::INFINITY])
        .collect()
}

/// Merges a finer histogram into `bounds` (each of its bounds must be ≤ some bound).
pub fn rebucket(h: &WaitHistogram, bounds: &[f64]) -> WaitHistogram {
    let mut out: Vec<(f64, u64)> = bounds.iter().map(|&b| (b, 0)).collect();
    for &(le, n) in &h.buckets {
        let i = bounds
            .iter()
            .position(|&b| le <= b)
            .unwrap_or(bounds.len() - 1);
        out[i].1 += n;
    }
    WaitHistogram {
        buckets: out,
        sum_s: h.sum_s,
        count: h.count,
    }
}

struct Builder(Vec<Family>);

impl Builder {
    fn family(&mut self, spec: &'static Spec) -> &mut Vec<Sample> {
        self.0.push(Family {
            spec,
            samples: Vec::new(),
        });
        &mut self.0.last_mut().expect("just pushed").samples
    }
}

fn sample(labels: &[(&'static str, String)], value: Value) -> Sample {
    Sample {
        labels: labels.to_vec(),
        value,
    }
}

fn counts(
    out: &mut Vec<Sample>,
    labels: &[(&'static str, String)],
    calls: &[SyscallCount],
    errors: bool,
) {
    for c in calls {
        let mut l = labels.to_vec();
        l.push(("syscall", c.syscall.to_string()));
        out.push(sample(
            &l,
            Value::Int(if errors { c.errors } else { c.calls }),
        ));
    }
}

/// The families of one exposition, in the order of [`SPECS`] (empty ones left out).
pub fn families(host: &Host, cut: &Cut) -> Vec<Family> {
    let mut b = Builder(Vec::new());
    b.family(&BUILD_INFO).push(sample(
        &[("version", env!("CARGO_PKG_VERSION").to_string())],
        Value::Info,
    ));
    b.family(&PROBE_ATTACHED)
        .push(sample(&[], Value::Int(host.probe_attached as u64)));
    b.family(&SNAPSHOTS)
        .push(sample(&[], Value::Int(host.snapshots)));
    if let Some(k) = &host.kernel {
        for (spec, errors) in [(&CALLS, false), (&CALL_ERRORS, true)] {
            let f = b.family(spec);
            for &(s, calls, errs) in &k.calls {
                let v = if errors { errs } else { calls };
                f.push(sample(&[("syscall", s.to_string())], Value::Int(v)));
            }
        }
        b.family(&EVENTS_DROPPED)
            .push(sample(&[], Value::Int(k.events_dropped)));
        let f = b.family(&TABLE_FULL);
        f.push(sample(
            &[("table", "inflight".into())],
            Value::Int(k.inflight_full),
        ));
        f.push(sample(
            &[("table", "aggregates".into())],
            Value::Int(k.aggregates_full),
        ));
    }
    let ns_label = |ns: u64| ("ipc_ns", ns.to_string());
    let kind_label = |k: Kind| ("kind", k.as_str().to_string());
    let f = b.family(&NAMESPACE_INFO);
    for n in &host.namespaces {
        if let Some(c) = &n.container {
            f.push(sample(
                &[ns_label(n.ns), ("container", c.clone())],
                Value::Info,
            ));
        }
    }
    for (spec, pick) in [
        (&OBJECTS, 0),
        (&OBJECT_LIMIT, 1),
        (&LIMIT, 2),
        (&LIMIT_USED, 3),
        (&BLOCKED, 4),
        (&LONGEST_WAIT, 5),
        (&LEAKED, 6),
        (&DEADLOCKS, 7),
    ] {
        let f = b.family(spec);
        for n in &host.namespaces {
            let ns = ns_label(n.ns);
            let per_kind = |v: &[(Kind, u64)], f: &mut Vec<Sample>| {
                for &(k, x) in v {
                    f.push(sample(&[ns.clone(), kind_label(k)], Value::Int(x)));
                }
            };
            match pick {
                0 => per_kind(&n.objects, f),
                1 => {
                    for l in &n.limits {
                        if let (Some(k), Some(max)) = (l.objects_of, l.max) {
                            f.push(sample(&[ns.clone(), kind_label(k)], Value::Int(max)));
                        }
                    }
                }
                2 | 3 => {
                    for l in &n.limits {
                        let v = if pick == 2 { l.max } else { Some(l.used) };
                        if let (Some(v), true) = (v, l.max.is_some()) {
                            let labels = [ns.clone(), ("limit", l.name.to_string())];
                            f.push(sample(&labels, Value::Int(v)));
                        }
                    }
                }
                4 => per_kind(&n.blocked, f),
                5 => f.push(sample(
                    std::slice::from_ref(&ns),
                    Value::Float(n.longest_wait_s),
                )),
                6 => per_kind(&n.leaked, f),
                _ => f.push(sample(std::slice::from_ref(&ns), Value::Int(n.deadlocks))),
            }
        }
    }

    let bounds = wait_bounds_s();
    let obj_labels = |o: &super::metrics::ObjectStats| {
        vec![ns_label(o.ns), kind_label(o.kind), ("id", o.id.to_string())]
    };
    let f = b.family(&OBJECT_CALLS);
    for o in &host.objects {
        counts(f, &obj_labels(o), &o.calls, false);
    }
    let f = b.family(&OBJECT_ERRORS);
    for o in &host.objects {
        for (syscall, errno, n) in &o.errors_by_errno {
            let mut l = obj_labels(o);
            l.push(("syscall", syscall.to_string()));
            l.push(("errno", errno.clone()));
            f.push(sample(&l, Value::Int(*n)));
        }
    }
    let f = b.family(&OBJECT_WAIT);
    for o in &host.objects {
        if let Some(h) = &o.wait {
            f.push(sample(
                &obj_labels(o),
                Value::Histogram(rebucket(h, &bounds)),
            ));
        }
    }
    let f = b.family(&OBJECT_WAITERS);
    for o in host.objects.iter().filter(|o| o.kind != Kind::Shm) {
        f.push(sample(&obj_labels(o), Value::Int(o.waiters)));
    }
    let f = b.family(&OBJECT_LEAKED);
    for o in host.objects.iter().filter(|o| o.leaked) {
        f.push(sample(&obj_labels(o), Value::Int(1)));
    }
    let f = b.family(&OBJECT_DEADLOCKED);
    for o in host.objects.iter().filter(|o| o.deadlocked) {
        f.push(sample(&obj_labels(o), Value::Int(1)));
    }
    type Pick = fn(&super::metrics::ObjectStats) -> Option<u64>;
    let per_object: [(&'static Spec, Pick); 5] = [
        (&SHM_SIZE, |o| o.size_bytes),
        (&SHM_ATTACHMENTS, |o| o.attachments),
        (&SHM_PROCESSES, |o| o.attached_processes),
        (&QUEUE_BYTES, |o| o.queue_bytes),
        (&QUEUE_MESSAGES, |o| o.queue_messages),
    ];
    for (spec, pick) in per_object {
        let f = b.family(spec);
        for o in &host.objects {
            if let Some(v) = pick(o) {
                let labels = [ns_label(o.ns), ("id", o.id.to_string())];
                f.push(sample(&labels, Value::Int(v)));
            }
        }
    }

    let f = b.family(&COMM_CALLS);
    for c in &host.comms {
        counts(
            f,
            &[ns_label(c.ns), ("comm", c.comm.clone())],
            &c.calls,
            false,
        );
    }
    let f = b.family(&COMM_WAIT);
    for c in &host.comms {
        let labels = [ns_label(c.ns), ("comm", c.comm.clone())];
        f.push(sample(&labels, Value::Float(c.wait_s)));
    }
    let f = b.family(&OBJECTS_CUT);
    for &(ns, k, n) in &cut.objects {
        f.push(sample(&[ns_label(ns), kind_label(k)], Value::Int(n)));
    }
    b.family(&COMMS_MERGED)
        .push(sample(&[], Value::Int(cut.comms_merged)));
    b.0.retain(|f| !f.samples.is_empty());
    b.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        for s in SPECS {
            assert!(s.name.starts_with("ipctop_"), "{}", s.name);
            match s.ty {
                Type::Counter => assert!(s.name.ends_with("_total"), "{}", s.name),
                Type::Info => assert!(s.name.ends_with("_info"), "{}", s.name),
                _ => assert!(!s.name.ends_with("_total"), "{}", s.name),
            }
            assert!(!s.labels.contains(&"pid") && !s.labels.contains(&"tid"));
            // OpenMetrics help text may not hold a raw quote, backslash or newline.
            assert!(!s.help.contains(['\n', '\\', '"']), "{}", s.name);
        }
        let mut names: Vec<_> = SPECS.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), SPECS.len(), "a name is used twice");
    }

    #[test]
    fn the_wait_histogram_keeps_every_count_in_coarser_buckets() {
        let fine = WaitHistogram {
            buckets: (0..monitor_ebpf::HIST_BUCKETS)
                .map(|i| {
                    (
                        super::super::collect::kernel_bucket_upper_s(i),
                        i as u64 + 1,
                    )
                })
                .collect(),
            sum_s: 1.5,
            count: (1..=monitor_ebpf::HIST_BUCKETS as u64).sum(),
        };
        let bounds = wait_bounds_s();
        assert_eq!(bounds[0], 2e-6);
        assert_eq!(bounds[1], 8e-6);
        assert!(bounds.last().unwrap().is_infinite());
        let c = rebucket(&fine, &bounds);
        // Bucket 0 (< 2 µs) alone; then pairs: [2,4)+[4,8) µs = 2+3, ...
        assert_eq!(c.buckets[0], (2e-6, 1));
        assert_eq!(c.buckets[1], (8e-6, 2 + 3));
        assert_eq!(c.buckets.iter().map(|b| b.1).sum::<u64>(), fine.count);
        assert_eq!((c.sum_s, c.count), (1.5, fine.count));
    }
}
