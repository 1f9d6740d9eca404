//! What the probe counts in the kernel, as plain data: its counters ([`KernelStats`]), its
//! per-process/syscall/object aggregates ([`Aggregate`]) and its semaphore operations per
//! process ([`Hold`]), gathered at one moment into a [`KernelSample`]. A leaf module: the probe
//! fills these, the feed carries them, the recording stores them (in its own form,
//! `record/wire_kernel.rs`) and the model reads them, and none of those needs the others for
//! it.
//!
//! Identities: a row names its process by pid *and start* (`start`: /proc/PID/stat's
//! starttime, clock ticks since boot), so that a reused pid is another process; and its
//! object by IPC namespace (inode, and the kernel's never-reused namespace id where the kernel
//! has one) and id, as the kernel stamped them when the call was made, so that a process that
//! lived between two snapshots has its calls on its own namespace's object.
//!
//! Lifecycle: the kernel's tables hold only what is alive. The probe deletes the rows of
//! processes that are gone and of objects that are removed, and hands their final counts over
//! once, in the sample that follows ([`KernelSample::retired`]); the model adds every row's
//! growth since the previous sample to its account, so nothing the kernel forgets is lost.
use crate::event::Syscall;
use monitor_ebpf::{HIST_BUCKETS, NSYS};

/// The probe's counters (summed over CPUs, exact whatever was sent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Finished calls per syscall.
    pub calls: [u64; NSYS],
    /// Of those, calls that returned < 0 (interrupted and ended ones included).
    pub errors: [u64; NSYS],
    /// Of the errors, calls a signal interrupted (`-EINTR`, `-ERESTART*`) while the process
    /// lived on. Zero in recordings made before the kernel told them apart (the account then
    /// takes them from the events).
    pub interrupted: [u64; NSYS],
    /// Of the errors, calls ended by their process's death (a fatal signal while blocked):
    /// neither failed nor interrupted.
    pub ended: [u64; NSYS],
    /// Events the ring buffer had no room for.
    pub dropped: u64,
    /// Call entries the per-thread table had no room for.
    pub inflight_full: u64,
    /// Flushes to the aggregate table that found no room (each lost `calls` below).
    pub agg_full: u64,
    /// Finished calls sent to userspace.
    pub sent: u64,
    /// Calls counted in `calls` whose per-process/object aggregate the kernel could not keep
    /// (its table was full): missing from every per-process and per-object figure, never
    /// silently.
    pub lost_calls: u64,
    /// Semaphore operations the hold table could not keep (its table was full).
    pub lost_holds: u64,
}

impl KernelStats {
    pub fn total_calls(&self) -> u64 {
        self.calls.iter().sum()
    }
}

/// One process's calls of one syscall on one object, counted in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aggregate {
    pub pid: u32,
    /// The process's start: /proc/PID/stat's `starttime` (clock ticks since boot), taken by
    /// the kernel from the thread group leader's `start_boottime`. `None`: unknown
    /// (recordings made before the probe kept it).
    pub start: Option<u64>,
    /// The IPC namespace the calls were made in (the inode of /proc/PID/ns/ipc), as the
    /// kernel stamped them. `None`: unknown (older recordings, or no BTF offsets).
    pub ipc_ns: Option<u64>,
    /// The kernel's id of that namespace (`ns_common.ns_id`, NS_GET_ID; never reused, unlike
    /// the inode). `None` where the kernel has none (before 6.18) or it is unknown.
    pub ns_id: Option<u64>,
    /// The object's id; `None` for calls that name none (failed *get, shmdt, a negative id).
    pub id: Option<i32>,
    pub syscall: Syscall,
    pub calls: u64,
    /// Calls that returned < 0 (interrupted and ended ones included).
    pub errors: u64,
    /// Of the errors, interrupted by a signal (the process lived on).
    pub interrupted: u64,
    /// Of the errors, ended by the process's death.
    pub ended: u64,
    /// Sum and maximum of the calls' durations, ns (for semop/msg calls: time waited).
    pub total_ns: u64,
    pub max_ns: u64,
    /// CLOCK_MONOTONIC ns of the last call's exit.
    pub last_ns: u64,
    /// Log2 histogram of durations in µs (see `monitor_ebpf::HIST_BUCKETS`).
    pub hist: [u64; HIST_BUCKETS],
    /// The comm of the thread that made the row's first call, as the kernel had it (`None`:
    /// unknown, older recordings).
    pub comm: Option<crate::event::Comm>,
}

impl Default for Aggregate {
    fn default() -> Self {
        Self {
            pid: 0,
            start: None,
            ipc_ns: None,
            ns_id: None,
            id: None,
            syscall: Syscall::SEMGET,
            calls: 0,
            errors: 0,
            interrupted: 0,
            ended: 0,
            total_ns: 0,
            max_ns: 0,
            last_ns: 0,
            hist: [0; HIST_BUCKETS],
            comm: None,
        }
    }
}

/// The identity of an aggregate row: process (pid, start), namespace, object and syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    pub pid: u32,
    pub start: Option<u64>,
    pub ipc_ns: Option<u64>,
    pub ns_id: Option<u64>,
    pub id: Option<i32>,
    pub syscall: Syscall,
}

impl Aggregate {
    pub fn key(&self) -> RowKey {
        RowKey {
            pid: self.pid,
            start: self.start,
            ipc_ns: self.ipc_ns,
            ns_id: self.ns_id,
            id: self.id,
            syscall: self.syscall,
        }
    }
}

/// One process's (or thread's) successful operations on one semaphore, counted in the kernel:
/// what it took, gave back, and gave without holding any (posted). It holds
/// `taken - (given - posted)` units; a process that posts raises the semaphore for others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hold {
    /// The set's namespace (inode; `None`: unknown, older recordings) and the kernel's id of
    /// it (`None`: none or unknown).
    pub ipc_ns: Option<u64>,
    pub ns_id: Option<u64>,
    pub semid: i32,
    pub semnum: u16,
    pub pid: u32,
    /// The thread, when the probe counts per thread (a lock's holder is the thread that took
    /// it); `None`: the process as a whole (its threads that are gone, or an older probe).
    pub tid: Option<u32>,
    /// As [`Aggregate::start`].
    pub start: Option<u64>,
    /// Units taken minus units given: the sum of the `-sem_op`s.
    pub held: i64,
    /// Units taken (the sum of `-sem_op` over its successful negative operations). Older
    /// recordings, which kept only `held`: `max(held, 0)`.
    pub taken: u64,
    /// Units given (the sum of `sem_op` over its successful positive operations). Older
    /// recordings: `max(-held, 0)`.
    pub given: u64,
    /// Of `given`, the units given while it held none of its own (raised for others, not
    /// given back: a post, or an initialisation); the rest gave back what it had taken.
    /// `None`: not told apart (older probes and recordings).
    pub posted: Option<u64>,
    /// Units taken with SEM_UNDO minus those given with it: what the kernel gives back when
    /// the process exits.
    pub undo: i64,
    /// CLOCK_MONOTONIC ns of its last operation on the semaphore (0: unknown).
    pub last_ns: u64,
}

/// How full the probe's tables are: entries used and the table's capacity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableFill {
    /// Aggregate rows (`AGG`).
    pub agg: (u64, u64),
    /// Hold rows (`HOLDS`).
    pub holds: (u64, u64),
    /// Threads with a slot (`SLOTS` claims plus `INFLIGHT`).
    pub threads: (u64, u64),
}

/// The probe's counters and in-kernel aggregates at one moment.
#[derive(Clone, Debug, Default)]
pub struct KernelSample {
    pub stats: KernelStats,
    /// Every aggregate row the kernel holds now, cumulative since the row began; and every
    /// row deleted since the previous sample, with its final counts (its key is then in
    /// `retired`). Empty when the probe sends every call instead.
    pub aggregates: Vec<Aggregate>,
    /// The rows the probe deleted from the kernel since the previous sample (their final
    /// counts are in `aggregates`). A row of the same key seen later began anew from zero.
    pub retired: Vec<RowKey>,
    /// Every live process's operations per semaphore (processes that are gone and sets that
    /// are removed are left out).
    pub holds: Vec<Hold>,
    /// Records that arrived but did not decode.
    pub undecodable: u64,
    /// How full the kernel's tables are (`None`: not known, older recordings).
    pub fill: Option<TableFill>,
}
