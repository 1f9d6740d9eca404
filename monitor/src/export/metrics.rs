//! What the exporter knows at one moment, in plain numbers: no model types, no encoding.
//! [`super::collect`] fills it from the model; [`super::cap`] bounds it; [`super::render`]
//! writes it out under the names of [`super::families`].

/// An IPC namespace: the inode of `/proc/PID/ns/ipc` (0 when unknown).
pub type Ns = u64;

/// The three kinds of System V IPC object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Sem,
    Shm,
    Msg,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Sem, Kind::Shm, Kind::Msg];

    /// The `kind` label's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sem => "sem",
            Kind::Shm => "shm",
            Kind::Msg => "msg",
        }
    }
}

/// POSIX IPC of one namespace, from the model's last look at it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PosixNs {
    pub ns: u64,
    /// (kind, objects): mq, shm, sem, deleted.
    pub objects: Vec<(&'static str, u64)>,
    pub shm_bytes: u64,
    /// (queue name, messages).
    pub queues: Vec<(String, i64)>,
    /// (kind, threads): mq, sem, mutex, futex.
    pub blocked: Vec<(&'static str, u64)>,
    /// (kind, findings).
    pub findings: Vec<(&'static str, u64)>,
}

/// Everything one exposition shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Host {
    /// Whether the eBPF probe is attached (else: snapshots of /proc only).
    pub probe_attached: bool,
    /// Snapshots of /proc taken so far (stops growing when they fail, e.g. --ipc-ns of a
    /// process that is gone).
    pub snapshots: u64,
    /// The probe's exact counters; `None` without the probe.
    pub kernel: Option<KernelTotals>,
    /// Per IPC namespace that ipctop looks at.
    pub namespaces: Vec<NsStats>,
    /// Per object that exists now, sorted by (ns, kind, id).
    pub objects: Vec<ObjectStats>,
    /// Per command name (comm) that made IPC calls, sorted by (ns, comm).
    pub comms: Vec<CommStats>,
    /// POSIX IPC per namespace, sorted by namespace.
    pub posix: Vec<PosixNs>,
}

/// The probe's counters of every IPC call (every process, every object, and calls that name
/// none), exact, and the health of its tables.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelTotals {
    /// (syscall, calls, errors).
    pub calls: Vec<(&'static str, u64, u64)>,
    /// Events lost on the way to userspace (ring buffer full, undecodable records).
    pub events_dropped: u64,
    /// Calls whose entry did not fit the per-thread table.
    pub inflight_full: u64,
    /// Flushes to the per-object aggregates that found no room.
    pub aggregates_full: u64,
    /// Calls counted in `calls` that are missing from the per-process, per-object and
    /// per-command figures (the kernel's table and the ring buffer were full): the account's.
    pub lost_calls: u64,
    /// Semaphore operations the hold table could not keep (the account's).
    pub lost_holds: u64,
    /// Ended processes and objects whose own final accounts were forgotten early (over the
    /// account's cap); their calls stay in every total.
    pub retired_early: u64,
    /// How full each table is: (table, entries used, capacity); empty when the probe does
    /// not say.
    pub fill: Vec<(&'static str, u64, u64)>,
    /// When the kernel's counters were sampled (unix seconds).
    pub sampled_unix_s: f64,
}

/// One IPC namespace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NsStats {
    pub ns: Ns,
    /// Its container label ("host", "docker:3f4e5a6b7c8d", …), when known.
    pub container: Option<String>,
    /// Objects that exist, per kind (every kind present, 0 included).
    pub objects: Vec<(Kind, u64)>,
    /// Threads blocked in semop/semtimedop (`Sem`) or msgsnd/msgrcv (`Msg`).
    pub blocked: Vec<(Kind, u64)>,
    /// The processes those threads belong to.
    pub blocked_processes: Vec<(Kind, u64)>,
    /// The longest current wait, seconds (0 when none).
    pub longest_wait_s: f64,
    /// Objects the analysis calls leaked, per kind.
    pub leaked: Vec<(Kind, u64)>,
    /// Proven deadlocks.
    pub deadlocks: u64,
    /// Threads waiting on what nobody alive can release (proven).
    pub stuck_threads: u64,
    /// Threads blocked long on an object with no operation on it since, whose releasers
    /// cannot be known: neither proven deadlocked nor cleared.
    pub stalled_threads: u64,
    pub limits: Vec<LimitStat>,
}

/// The unit of a kernel limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitUnit {
    /// A number of objects or semaphores.
    Count,
    /// Pages of memory (shmall).
    Pages,
}

/// A kernel limit of the namespace and how much of it is used.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitStat {
    /// The kernel's name: "semmni", "semmns", "shmmni", "shmall", "msgmni".
    pub name: &'static str,
    pub unit: LimitUnit,
    /// The kind of object it bounds the number of (semmni, shmmni, msgmni).
    pub objects_of: Option<Kind>,
    pub used: u64,
    /// `None` when it could not be read.
    pub max: Option<u64>,
}

/// Calls of one syscall.
#[derive(Clone, Debug, PartialEq)]
pub struct SyscallCount {
    pub syscall: &'static str,
    pub calls: u64,
    pub errors: u64,
}

/// One object that exists now.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectStats {
    pub ns: Ns,
    pub kind: Kind,
    pub id: i32,
    /// Calls on it since the probe started, per syscall (exact, the kernel's counts).
    pub calls: Vec<SyscallCount>,
    /// Failed calls per (syscall, errno name).
    pub errors_by_errno: Vec<(&'static str, String, u64)>,
    /// Durations of its semop/semtimedop/msgsnd/msgrcv calls; `None` when it had none.
    pub wait: Option<WaitHistogram>,
    /// Threads blocked on it now.
    pub waiters: u64,
    /// The processes those threads belong to.
    pub waiting_processes: u64,
    /// Segment size.
    pub size_bytes: Option<u64>,
    /// Segment: the kernel's attach count (nattch).
    pub attachments: Option<u64>,
    /// Segment: distinct processes seen with it mapped (/proc/PID/maps).
    pub attached_processes: Option<u64>,
    /// Queue: bytes and messages in it.
    pub queue_bytes: Option<u64>,
    pub queue_messages: Option<u64>,
    pub leaked: bool,
    /// Part of a deadlock cycle.
    pub deadlocked: bool,
}

impl ObjectStats {
    pub fn new(ns: Ns, kind: Kind, id: i32) -> Self {
        Self {
            ns,
            kind,
            id,
            calls: Vec::new(),
            errors_by_errno: Vec::new(),
            wait: None,
            waiters: 0,
            waiting_processes: 0,
            size_bytes: None,
            attachments: None,
            attached_processes: None,
            queue_bytes: None,
            queue_messages: None,
            leaked: false,
            deadlocked: false,
        }
    }

    /// Its identity.
    pub fn key(&self) -> ObjKey {
        (self.ns, self.kind, self.id)
    }

    /// Every call on it (for ranking under the cap).
    pub fn total_calls(&self) -> u64 {
        self.calls.iter().map(|c| c.calls).sum()
    }
}

/// An object's identity: namespace, kind, id.
pub type ObjKey = (Ns, Kind, i32);

/// A histogram of call durations: per bucket (upper bound in seconds, `f64::INFINITY` for
/// the last; count in that bucket alone, not cumulative), with the exact sum and count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WaitHistogram {
    pub buckets: Vec<(f64, u64)>,
    pub sum_s: f64,
    pub count: u64,
}

/// The calls of every process with one command name.
#[derive(Clone, Debug, PartialEq)]
pub struct CommStats {
    pub ns: Ns,
    pub comm: String,
    pub calls: Vec<SyscallCount>,
    /// Seconds spent in semop/semtimedop/msgsnd/msgrcv.
    pub wait_s: f64,
}

/// `ipctop serve` itself: the `process_*` metrics every exporter has, and its HTTP side.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SelfStats {
    /// CPU time used (user + system), seconds.
    pub cpu_s: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    /// The soft limit of open files (`None`: unlimited or unreadable).
    pub max_fds: Option<u64>,
    /// When it started, unix seconds.
    pub start_unix_s: f64,
    pub threads: u64,
    /// HTTP connections open now.
    pub connections: u64,
    /// Connections closed by ipctop, per reason (`idle`, `slow`, `peer_limit`,
    /// `total_limit`, `tls`), counted since start.
    pub closed: Vec<(&'static str, u64)>,
    /// Requests answered, per status code.
    pub requests: Vec<(u16, u64)>,
}
