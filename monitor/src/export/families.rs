//! The metrics ipctop exports: every name, type, label set and help text is in [`SPECS`]
//! (the README's table and `ipctop serve --help` are checked against it). `host_families`
//! fills the families that are not per object from a [`Host`]; the per-object ones
//! ([`OBJECT_SPECS`]) are written object by object by [`super::render`], which keeps them
//! between expositions.
use super::{
    cap::Cut,
    metrics::{Host, Kind, LimitUnit, SelfStats, SyscallCount, WaitHistogram},
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
    BUILD_INFO: "ipctop_build_info", Info, ["version", "revision", "kernel"], "ipctop's version, the git revision it was built from, and the kernel it runs on.";
    PROBE_ATTACHED: "ipctop_probe_attached", Gauge, [], "1 when the eBPF probe is attached, 0 when ipctop runs on snapshots of /proc alone (no call counts, no histograms).";
    SNAPSHOTS: "ipctop_snapshots_total", Counter, [], "Snapshots of /proc taken: when it stops growing, the other metrics are stale.";
    KERNEL_SAMPLED: "ipctop_kernel_sample_timestamp_seconds", Gauge, [], "When the probe's counters in this exposition were read (unix time): far behind time(), the counts are stale.";
    NAMESPACE_INFO: "ipctop_namespace_info", Info, ["ipc_ns", "container"], "An IPC namespace and its container label (host, docker:ID, pod:UID, …; unknown when no process of it could be read), to join onto the ipc_ns of the other metrics.";
    CALLS: "ipctop_calls_total", Counter, ["syscall"], "IPC calls of every process since the probe started, counted in the kernel (exact).";
    CALL_ERRORS: "ipctop_call_errors_total", Counter, ["syscall"], "IPC calls that returned an error, counted in the kernel (exact).";
    EVENTS_DROPPED: "ipctop_events_dropped_total", Counter, [], "Events lost on the way from the kernel (ring buffer full, undecodable): per-errno counts may miss that many.";
    EVENTS_SHED: "ipctop_events_shed_total", Counter, [], "Events ipctop serve left out because they came faster than it could apply them (half an interval late, 2 s at least): the calls stay counted (by the kernel), per-errno counts miss that many.";
    TABLE_FULL: "ipctop_probe_table_full_total", Counter, ["table"], "Times a kernel table had no room: inflight (a call's entry: its arguments are unknown) or aggregates (a flush of per-object counts; its rows go whole through the ring buffer, lost only when that is full too: see ipctop_probe_lost_calls_total).";
    PROBE_LOST_CALLS: "ipctop_probe_lost_calls_total", Counter, [], "Calls counted in ipctop_calls_total but missing from the per-object and per-command counts (the kernel's table and its ring buffer were both full).";
    PROBE_LOST_HOLDS: "ipctop_probe_lost_holds_total", Counter, [], "Semaphore operations the kernel's hold table had no room for: missing from who holds what (deadlock proofs may be missing).";
    RETIRED_EARLY: "ipctop_account_retired_early_total", Counter, [], "Ended processes and objects whose own final accounts were forgotten early (at most 10,000 are kept); their calls stay in every total and per-command counter.";
    TABLE_ENTRIES: "ipctop_probe_table_entries", Gauge, ["table"], "Entries in use in the probe's kernel tables (aggregates, holds, threads).";
    TABLE_CAPACITY: "ipctop_probe_table_capacity", Gauge, ["table"], "The size of the probe's kernel tables (aggregates, holds, threads).";
    OBJECTS: "ipctop_objects", Gauge, ["ipc_ns", "kind"], "IPC objects that exist, per kind (sem, shm, msg).";
    OBJECT_LIMIT: "ipctop_object_limit", Gauge, ["ipc_ns", "kind"], "The most objects of this kind the namespace allows (semmni, shmmni, msgmni).";
    LIMIT: "ipctop_limit", Gauge, ["ipc_ns", "limit"], "A kernel IPC limit of the namespace that counts objects or semaphores (semmni, semmns, shmmni, msgmni).";
    LIMIT_USED: "ipctop_limit_used", Gauge, ["ipc_ns", "limit"], "How much of the limit is used (objects or semaphores).";
    LIMIT_PAGES: "ipctop_limit_pages", Gauge, ["ipc_ns", "limit"], "A kernel IPC limit of the namespace in pages of memory (shmall).";
    LIMIT_USED_PAGES: "ipctop_limit_used_pages", Gauge, ["ipc_ns", "limit"], "How many pages of the limit are used (shmall: the segments' sizes in pages).";
    BLOCKED: "ipctop_blocked_threads", Gauge, ["ipc_ns", "kind"], "Threads blocked in semop/semtimedop (kind sem) or msgsnd/msgrcv (kind msg).";
    BLOCKED_PROCESSES: "ipctop_blocked_processes", Gauge, ["ipc_ns", "kind"], "Processes with at least one thread blocked in semop/semtimedop (kind sem) or msgsnd/msgrcv (kind msg).";
    LONGEST_WAIT: "ipctop_longest_wait_seconds", Gauge, ["ipc_ns"], "How long the longest current wait has lasted at least (0: none).";
    LEAKED: "ipctop_leaked_objects", Gauge, ["ipc_ns", "kind"], "Objects nobody will clean up (their users are gone), per kind.";
    DEADLOCKS: "ipctop_deadlocks", Gauge, ["ipc_ns"], "Proven deadlocks: threads blocked for good, every thread that could release what each waits for blocked among them.";
    STUCK: "ipctop_stuck_threads", Gauge, ["ipc_ns"], "Threads waiting on what nobody alive can release (its holder exited without SEM_UNDO, every poster or sender gone, or all that could are stuck themselves): proven.";
    STALLED: "ipctop_stalled_threads", Gauge, ["ipc_ns"], "Threads blocked long on an object with no operation on it since, whose releasers cannot be known: UNPROVEN, neither a deadlock nor cleared (look, do not page on it alone).";
    OBJECT_CALLS: "ipctop_object_calls_total", Counter, ["ipc_ns", "kind", "id", "syscall"], "Calls on the object since the probe started, counted in the kernel (exact).";
    OBJECT_ERRORS: "ipctop_object_errors_total", Counter, ["ipc_ns", "kind", "id", "syscall", "errno"], "Failed calls on the object, by errno (from the failure events; see ipctop_events_dropped_total).";
    OBJECT_WAIT: "ipctop_object_wait_seconds", Histogram, ["ipc_ns", "kind", "id"], "How long each semop/semtimedop/msgsnd/msgrcv on the object took (the wait), in the kernel's buckets (powers of two of nanoseconds).";
    OBJECT_WAITERS: "ipctop_object_waiters", Gauge, ["ipc_ns", "kind", "id"], "Threads blocked on the object now.";
    OBJECT_WAITING_PROCESSES: "ipctop_object_waiting_processes", Gauge, ["ipc_ns", "kind", "id"], "Processes with a thread blocked on the object now.";
    OBJECT_LEAKED: "ipctop_object_leaked", Gauge, ["ipc_ns", "kind", "id"], "1 for an object the analysis calls leaked (absent otherwise: ipctop_leaked_objects counts them all).";
    OBJECT_DEADLOCKED: "ipctop_object_deadlocked", Gauge, ["ipc_ns", "kind", "id"], "1 for a semaphore set in a deadlock cycle (absent otherwise: ipctop_deadlocks counts the cycles).";
    SHM_SIZE: "ipctop_shm_size_bytes", Gauge, ["ipc_ns", "id"], "Size of the shared memory segment.";
    SHM_ATTACHMENTS: "ipctop_shm_attachments", Gauge, ["ipc_ns", "id"], "The kernel's attach count of the segment (nattch).";
    SHM_PROCESSES: "ipctop_shm_attached_processes", Gauge, ["ipc_ns", "id"], "Processes seen with the segment mapped (/proc/PID/maps; unreadable ones are not seen).";
    QUEUE_BYTES: "ipctop_queue_bytes", Gauge, ["ipc_ns", "id"], "Bytes in the message queue.";
    QUEUE_MESSAGES: "ipctop_queue_messages", Gauge, ["ipc_ns", "id"], "Messages in the message queue.";
    POSIX_OBJECTS: "ipctop_posix_objects", Gauge, ["ipc_ns", "kind"], "POSIX IPC objects from /proc (no probe): kind mq (message queues), shm (/dev/shm objects), sem (named semaphores), deleted (removed from /dev/shm, still mapped).";
    POSIX_SHM_BYTES: "ipctop_posix_shm_bytes", Gauge, ["ipc_ns"], "Bytes of the /dev/shm objects (named semaphores and deleted ones still mapped included).";
    POSIX_QUEUE_MESSAGES: "ipctop_posix_queue_messages", Gauge, ["ipc_ns", "name"], "Messages in the POSIX message queue (mq_getattr's mq_curmsgs).";
    POSIX_BLOCKED: "ipctop_posix_blocked_threads", Gauge, ["ipc_ns", "kind"], "Threads blocked on POSIX IPC: mq (in mq_timedsend/mq_timedreceive), sem (a semaphore in shared memory, System V segments included), mutex (a robust or PI mutex), futex (another futex wait in shared memory).";
    POSIX_FINDINGS: "ipctop_posix_findings", Gauge, ["ipc_ns", "kind"], "POSIX findings: unused (objects nobody has open or mapped: not a leak), stuck_queue (waiters nobody alive has the queue open to serve), stuck_semaphore (sem_wait waiters nobody alive that maps or opens the semaphore could post), deleted_mapped (a deadlock through robust/PI mutexes is counted by ipctop_deadlocks).";
    COMM_CALLS: "ipctop_comm_calls_total", Counter, ["ipc_ns", "comm", "syscall"], "IPC calls of the processes with this command name, counted in the kernel; processes that exited keep counting here.";
    COMM_WAIT: "ipctop_comm_wait_seconds_total", Counter, ["ipc_ns", "comm"], "Time the processes with this command name spent in semop/semtimedop/msgsnd/msgrcv; processes that exited keep counting here.";
    OBJECTS_CUT: "ipctop_export_objects_cut", Gauge, ["ipc_ns", "kind"], "Objects left without series of their own by --max-objects (the least active).";
    COMMS_MERGED: "ipctop_export_comms_merged", Gauge, [], "Command names summed into the comm other by --max-comms.";
    HTTP_CONNECTIONS: "ipctop_http_connections", Gauge, [], "HTTP connections open to ipctop serve.";
    HTTP_CLOSED: "ipctop_http_connections_closed_total", Counter, ["reason"], "Connections ipctop closed itself: header_timeout (idle, or a request's headers too slow), write_timeout (the response not taken in time), peer_limit (that client had too many: its oldest), total_limit (too many in all: the oldest of the client with the most), tls (a failed or slow handshake).";
    HTTP_REQUESTS: "ipctop_http_requests_total", Counter, ["code"], "HTTP requests answered, by status code.";
    PROCESS_CPU: "process_cpu_seconds_total", Counter, [], "CPU time ipctop serve used (user and system), seconds.";
    PROCESS_RSS: "process_resident_memory_bytes", Gauge, [], "Resident memory of ipctop serve.";
    PROCESS_VSIZE: "process_virtual_memory_bytes", Gauge, [], "Virtual memory of ipctop serve.";
    PROCESS_FDS: "process_open_fds", Gauge, [], "File descriptors ipctop serve has open.";
    PROCESS_MAX_FDS: "process_max_fds", Gauge, [], "The most file descriptors ipctop serve may open (its soft limit).";
    PROCESS_START: "process_start_time_seconds", Gauge, [], "When ipctop serve started (unix time).";
    PROCESS_THREADS: "process_threads", Gauge, [], "Threads of ipctop serve.";
}

/// The per-object families, in the order of [`SPECS`]: [`super::render`] keeps each
/// object's samples of these between expositions.
pub const OBJECT_SPECS: &[&Spec] = &[
    &OBJECT_CALLS,
    &OBJECT_ERRORS,
    &OBJECT_WAIT,
    &OBJECT_WAITERS,
    &OBJECT_WAITING_PROCESSES,
    &OBJECT_LEAKED,
    &OBJECT_DEADLOCKED,
    &SHM_SIZE,
    &SHM_ATTACHMENTS,
    &SHM_PROCESSES,
    &QUEUE_BYTES,
    &QUEUE_MESSAGES,
];

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

/// What the exposition says about the program itself, fixed at start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Build {
    pub version: String,
    /// The git revision it was built from ("unknown" outside a git checkout).
    pub revision: String,
    /// The running kernel's release (uname -r).
    pub kernel: String,
}

impl Build {
    /// This binary on this machine.
    pub fn here() -> Self {
        let kernel = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".into());
        Self {
            version: env!("CARGO_PKG_VERSION").into(),
            revision: option_env!("IPCTOP_GIT_REVISION")
                .unwrap_or("unknown")
                .into(),
            kernel,
        }
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

    fn one(&mut self, spec: &'static Spec, value: Value) {
        self.family(spec).push(sample(&[], value));
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

fn ns_label(ns: u64) -> (&'static str, String) {
    ("ipc_ns", ns.to_string())
}

fn kind_label(k: Kind) -> (&'static str, String) {
    ("kind", k.as_str().to_string())
}

/// The families before the per-object ones (build, probe, namespaces), in [`SPECS`] order.
pub fn head_families(host: &Host, build: &Build, shed: u64) -> Vec<Family> {
    let mut b = Builder(Vec::new());
    b.family(&BUILD_INFO).push(sample(
        &[
            ("version", build.version.clone()),
            ("revision", build.revision.clone()),
            ("kernel", build.kernel.clone()),
        ],
        Value::Info,
    ));
    b.one(&PROBE_ATTACHED, Value::Int(host.probe_attached as u64));
    b.one(&SNAPSHOTS, Value::Int(host.snapshots));
    if let Some(k) = &host.kernel {
        b.one(&KERNEL_SAMPLED, Value::Float(k.sampled_unix_s));
    }
    let f = b.family(&NAMESPACE_INFO);
    for n in &host.namespaces {
        let c = n.container.clone().unwrap_or_else(|| "unknown".into());
        f.push(sample(&[ns_label(n.ns), ("container", c)], Value::Info));
    }
    if let Some(k) = &host.kernel {
        for (spec, errors) in [(&CALLS, false), (&CALL_ERRORS, true)] {
            let f = b.family(spec);
            for &(s, calls, errs) in &k.calls {
                let v = if errors { errs } else { calls };
                f.push(sample(&[("syscall", s.to_string())], Value::Int(v)));
            }
        }
        b.one(&EVENTS_DROPPED, Value::Int(k.events_dropped));
        b.one(&EVENTS_SHED, Value::Int(shed));
        let table = |t: &str| [("table", t.to_string())];
        let f = b.family(&TABLE_FULL);
        f.push(sample(&table("inflight"), Value::Int(k.inflight_full)));
        f.push(sample(&table("aggregates"), Value::Int(k.aggregates_full)));
        b.one(&PROBE_LOST_CALLS, Value::Int(k.lost_calls));
        b.one(&PROBE_LOST_HOLDS, Value::Int(k.lost_holds));
        for (spec, capacity) in [(&TABLE_ENTRIES, false), (&TABLE_CAPACITY, true)] {
            let f = b.family(spec);
            for &(t, used, cap) in &k.fill {
                let v = if capacity { cap } else { used };
                f.push(sample(&table(t), Value::Int(v)));
            }
        }
        b.one(&RETIRED_EARLY, Value::Int(k.retired_early));
    }
    namespace_families(&mut b, host);
    b.0.extend(super::posix::families(&host.posix));
    b.0.retain(|f| !f.samples.is_empty());
    b.0
}

/// The per-namespace gauges: every (namespace, kind) present, 0 included.
fn namespace_families(b: &mut Builder, host: &Host) {
    let specs: [&'static Spec; 13] = [
        &OBJECTS,
        &OBJECT_LIMIT,
        &LIMIT,
        &LIMIT_USED,
        &LIMIT_PAGES,
        &LIMIT_USED_PAGES,
        &BLOCKED,
        &BLOCKED_PROCESSES,
        &LONGEST_WAIT,
        &LEAKED,
        &DEADLOCKS,
        &STUCK,
        &STALLED,
    ];
    for spec in specs {
        let f = b.family(spec);
        for n in &host.namespaces {
            let ns = ns_label(n.ns);
            let per_kind = |v: &[(Kind, u64)], f: &mut Vec<Sample>| {
                for &(k, x) in v {
                    f.push(sample(&[ns.clone(), kind_label(k)], Value::Int(x)));
                }
            };
            let limits = |unit: LimitUnit, used: bool, f: &mut Vec<Sample>| {
                for l in n.limits.iter().filter(|l| l.unit == unit) {
                    if let Some(max) = l.max {
                        let labels = [ns.clone(), ("limit", l.name.to_string())];
                        f.push(sample(&labels, Value::Int(if used { l.used } else { max })));
                    }
                }
            };
            match spec.name {
                "ipctop_objects" => per_kind(&n.objects, f),
                "ipctop_object_limit" => {
                    for l in &n.limits {
                        if let (Some(k), Some(max)) = (l.objects_of, l.max) {
                            f.push(sample(&[ns.clone(), kind_label(k)], Value::Int(max)));
                        }
                    }
                }
                "ipctop_limit" => limits(LimitUnit::Count, false, f),
                "ipctop_limit_used" => limits(LimitUnit::Count, true, f),
                "ipctop_limit_pages" => limits(LimitUnit::Pages, false, f),
                "ipctop_limit_used_pages" => limits(LimitUnit::Pages, true, f),
                "ipctop_blocked_threads" => per_kind(&n.blocked, f),
                "ipctop_blocked_processes" => per_kind(&n.blocked_processes, f),
                "ipctop_longest_wait_seconds" => f.push(sample(
                    std::slice::from_ref(&ns),
                    Value::Float(n.longest_wait_s),
                )),
                "ipctop_leaked_objects" => per_kind(&n.leaked, f),
                name => {
                    let v = match name {
                        "ipctop_deadlocks" => n.deadlocks,
                        "ipctop_stuck_threads" => n.stuck_threads,
                        _ => n.stalled_threads,
                    };
                    f.push(sample(std::slice::from_ref(&ns), Value::Int(v)))
                }
            }
        }
    }
}

/// The families after the per-object ones (commands, caps, the exporter itself), in
/// [`SPECS`] order.
pub fn tail_families(host: &Host, cut: &Cut, me: &SelfStats) -> Vec<Family> {
    let mut b = Builder(Vec::new());
    let f = b.family(&COMM_CALLS);
    for c in &host.comms {
        let labels = [ns_label(c.ns), ("comm", c.comm.clone())];
        counts(f, &labels, &c.calls, false);
    }
    let f = b.family(&COMM_WAIT);
    for c in &host.comms {
        let labels = [ns_label(c.ns), ("comm", c.comm.clone())];
        f.push(sample(&labels, Value::Float(c.wait_s)));
    }
    // Every namespace and kind, 0 when nothing is cut.
    let f = b.family(&OBJECTS_CUT);
    for n in &host.namespaces {
        for k in Kind::ALL {
            let c = cut
                .objects
                .iter()
                .find(|&&(ns, kind, _)| ns == n.ns && kind == k)
                .map_or(0, |c| c.2);
            f.push(sample(&[ns_label(n.ns), kind_label(k)], Value::Int(c)));
        }
    }
    b.one(&COMMS_MERGED, Value::Int(cut.comms_merged));
    b.one(&HTTP_CONNECTIONS, Value::Int(me.connections));
    let f = b.family(&HTTP_CLOSED);
    for &(reason, n) in &me.closed {
        f.push(sample(&[("reason", reason.to_string())], Value::Int(n)));
    }
    let f = b.family(&HTTP_REQUESTS);
    for &(code, n) in &me.requests {
        f.push(sample(&[("code", code.to_string())], Value::Int(n)));
    }
    b.one(&PROCESS_CPU, Value::Float(me.cpu_s));
    b.one(&PROCESS_RSS, Value::Int(me.resident_bytes));
    b.one(&PROCESS_VSIZE, Value::Int(me.virtual_bytes));
    b.one(&PROCESS_FDS, Value::Int(me.open_fds));
    if let Some(m) = me.max_fds {
        b.one(&PROCESS_MAX_FDS, Value::Int(m));
    }
    b.one(&PROCESS_START, Value::Float(me.start_unix_s));
    b.one(&PROCESS_THREADS, Value::Int(me.threads));
    b.0.retain(|f| !f.samples.is_empty());
    b.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        for s in SPECS {
            assert!(
                s.name.starts_with("ipctop_") || s.name.starts_with("process_"),
                "{}",
                s.name
            );
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
        // The per-object families are a run of SPECS, in its order.
        let first = SPECS
            .iter()
            .position(|s| s.name == OBJECT_SPECS[0].name)
            .unwrap();
        for (i, s) in OBJECT_SPECS.iter().enumerate() {
            assert_eq!(SPECS[first + i].name, s.name);
        }
    }

    #[test]
    fn units_are_not_mixed_in_one_family() {
        use super::super::metrics::{LimitStat, NsStats};
        let host = Host {
            namespaces: vec![NsStats {
                ns: 1,
                limits: vec![
                    LimitStat {
                        name: "shmmni",
                        unit: LimitUnit::Count,
                        objects_of: Some(Kind::Shm),
                        used: 3,
                        max: Some(4096),
                    },
                    LimitStat {
                        name: "shmall",
                        unit: LimitUnit::Pages,
                        objects_of: None,
                        used: 30,
                        max: Some(1 << 40),
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        let fams = head_families(&host, &Build::default(), 0);
        let limits = |spec: &Spec| -> Vec<String> {
            fams.iter()
                .filter(|f| f.spec == spec)
                .flat_map(|f| &f.samples)
                .map(|s| s.labels[1].1.clone())
                .collect()
        };
        assert_eq!(limits(&LIMIT), ["shmmni"]);
        assert_eq!(limits(&LIMIT_USED), ["shmmni"]);
        assert_eq!(limits(&LIMIT_PAGES), ["shmall"]);
        assert_eq!(limits(&LIMIT_USED_PAGES), ["shmall"]);
    }

    #[test]
    fn namespace_series_are_there_at_zero() {
        use super::super::metrics::NsStats;
        let host = Host {
            namespaces: vec![NsStats {
                ns: 7,
                container: None,
                ..Default::default()
            }],
            ..Default::default()
        };
        let tail = tail_families(&host, &Cut::default(), &SelfStats::default());
        let cut = tail.iter().find(|f| f.spec == &OBJECTS_CUT).unwrap();
        assert_eq!(cut.samples.len(), 3, "every kind, 0 included");
        assert!(cut.samples.iter().all(|s| s.value == Value::Int(0)));
        let head = head_families(&host, &Build::default(), 0);
        let info = head.iter().find(|f| f.spec == &NAMESPACE_INFO).unwrap();
        assert_eq!(
            info.samples[0].labels,
            [("ipc_ns", "7".into()), ("container", "unknown".into())]
        );
        for spec in [&DEADLOCKS, &STUCK, &STALLED] {
            let f = head.iter().find(|f| f.spec == spec).unwrap();
            assert_eq!(f.samples[0].value, Value::Int(0), "{}", spec.name);
        }
    }
}
