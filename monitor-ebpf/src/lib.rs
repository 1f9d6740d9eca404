//! Types shared by ipctop's eBPF program and its userspace side.
//!
//! Everything here is `#[repr(C)]`, `Copy` and `no_std`: the kernel writes these structs into
//! BPF maps and the ring buffer, userspace reads them back byte for byte (see
//! `monitor::decode`). Change a layout here and bump [`EVENT_VERSION`].
#![no_std]

/// x86-64 syscall numbers of the System V IPC calls the probe follows.
pub mod nr {
    pub const SHMGET: u32 = 29;
    pub const SHMAT: u32 = 30;
    pub const SHMCTL: u32 = 31;
    pub const SEMGET: u32 = 64;
    pub const SEMOP: u32 = 65;
    pub const SEMCTL: u32 = 66;
    pub const SHMDT: u32 = 67;
    pub const MSGGET: u32 = 68;
    pub const MSGSND: u32 = 69;
    pub const MSGRCV: u32 = 70;
    pub const MSGCTL: u32 = 71;
    pub const SEMTIMEDOP: u32 = 220;
    pub const MQ_OPEN: u32 = 240;
    pub const MQ_UNLINK: u32 = 241;
    pub const MQ_TIMEDSEND: u32 = 242;
    pub const MQ_TIMEDRECEIVE: u32 = 243;
    pub const MQ_NOTIFY: u32 = 244;
    pub const MQ_GETSETATTR: u32 = 245;
}

/// i386 syscall numbers of the System V IPC calls of 32-bit (compat) tasks on x86-64
/// (arch/x86/entry/syscalls/syscall_32.tbl). There is no direct semop, nor a 32-bit-time
/// semtimedop: those go through `ipc()`.
pub mod nr32 {
    /// `ipc(call, first, second, third, ptr, fifth)`, the multiplexer of older C libraries.
    pub const IPC: u32 = 117;
    pub const SEMGET: u32 = 393;
    pub const SEMCTL: u32 = 394;
    pub const SHMGET: u32 = 395;
    pub const SHMCTL: u32 = 396;
    pub const SHMAT: u32 = 397;
    pub const SHMDT: u32 = 398;
    pub const MSGGET: u32 = 399;
    pub const MSGSND: u32 = 400;
    pub const MSGRCV: u32 = 401;
    pub const MSGCTL: u32 = 402;
    /// semtimedop with a 64-bit `struct __kernel_timespec` (the native layout).
    pub const SEMTIMEDOP_TIME64: u32 = 420;
    /// The POSIX queue calls: mq_timedsend/mq_timedreceive with a 32-bit
    /// `struct old_timespec32` (279, 280) or a 64-bit one (418, 419); mq_getsetattr's and
    /// mq_open's `struct mq_attr` of 32-bit longs. The probe follows no pointer of these
    /// calls, so every layout is the same to it: six registers, zero-extended.
    pub const MQ_OPEN: u32 = 277;
    pub const MQ_UNLINK: u32 = 278;
    pub const MQ_TIMEDSEND: u32 = 279;
    pub const MQ_TIMEDRECEIVE: u32 = 280;
    pub const MQ_NOTIFY: u32 = 281;
    pub const MQ_GETSETATTR: u32 = 282;
    pub const MQ_TIMEDSEND_TIME64: u32 = 418;
    pub const MQ_TIMEDRECEIVE_TIME64: u32 = 419;
}

/// The `call` numbers of `ipc()` (low 16 bits; the high 16 are a version).
pub mod ipc_call {
    pub const SEMOP: u32 = 1;
    pub const SEMGET: u32 = 2;
    pub const SEMCTL: u32 = 3;
    pub const SEMTIMEDOP: u32 = 4;
    pub const MSGSND: u32 = 11;
    pub const MSGRCV: u32 = 12;
    pub const MSGGET: u32 = 13;
    pub const MSGCTL: u32 = 14;
    pub const SHMAT: u32 = 21;
    pub const SHMDT: u32 = 22;
    pub const SHMGET: u32 = 23;
    pub const SHMCTL: u32 = 24;
}

/// Whether `nr` is one of the i386 IPC syscalls ([`nr32`]); a few compares.
#[inline(always)]
pub fn is_ia32_ipc(nr: u64) -> bool {
    let nr = nr as u32;
    nr == nr32::IPC || (nr32::SEMGET..=nr32::MSGCTL).contains(&nr) || nr == nr32::SEMTIMEDOP_TIME64
}

/// Whether `nr` is one of the i386 POSIX queue syscalls (`mq_*`, [`nr32::MQ_OPEN`]..); two
/// compares.
#[inline(always)]
pub fn is_ia32_mq(nr: u64) -> bool {
    let nr = nr as u32;
    (nr32::MQ_OPEN..=nr32::MQ_GETSETATTR).contains(&nr)
        || (nr32::MQ_TIMEDSEND_TIME64..=nr32::MQ_TIMEDRECEIVE_TIME64).contains(&nr)
}

/// Our own dense index of the followed syscalls (the order of [`SYSCALL_NAMES`]).
pub mod sys {
    pub const SEMGET: u8 = 0;
    pub const SEMOP: u8 = 1;
    pub const SEMTIMEDOP: u8 = 2;
    pub const SEMCTL: u8 = 3;
    pub const SHMGET: u8 = 4;
    pub const SHMAT: u8 = 5;
    pub const SHMDT: u8 = 6;
    pub const SHMCTL: u8 = 7;
    pub const MSGGET: u8 = 8;
    pub const MSGSND: u8 = 9;
    pub const MSGRCV: u8 = 10;
    pub const MSGCTL: u8 = 11;
    pub const MQ_OPEN: u8 = 12;
    pub const MQ_UNLINK: u8 = 13;
    pub const MQ_TIMEDSEND: u8 = 14;
    pub const MQ_TIMEDRECEIVE: u8 = 15;
    pub const MQ_NOTIFY: u8 = 16;
    pub const MQ_GETSETATTR: u8 = 17;
}

/// `Call::sys` of an `INFLIGHT` entry whose call has finished (entries stay per thread).
pub const SYS_DONE: u8 = 0xff;

/// How many syscalls the probe follows.
pub const NSYS: usize = 18;

/// How many of them (the first, [`sys::SEMGET`]..=[`sys::MSGCTL`]) are System V's; the rest
/// are the POSIX queue calls (`mq_*`), followed by the per-syscall tracepoints
/// ([`sys_index_tp`]) and, for 32-bit tasks, by that mode's 32-bit path ([`nr32::MQ_OPEN`]..);
/// the raw `sys_enter`/`sys_exit` programs keep to System V's, their verifier budget being
/// spent (see README, "POSIX IPC").
pub const NSYS_SYSV: usize = 12;

/// The kernel's names of the followed syscalls, indexed by [`sys`].
pub const SYSCALL_NAMES: [&str; NSYS] = [
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "shmget",
    "shmat",
    "shmdt",
    "shmctl",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
];

/// The x86-64 syscall number of each [`sys`] index.
pub const SYSCALL_NRS: [u32; NSYS] = [
    nr::SEMGET,
    nr::SEMOP,
    nr::SEMTIMEDOP,
    nr::SEMCTL,
    nr::SHMGET,
    nr::SHMAT,
    nr::SHMDT,
    nr::SHMCTL,
    nr::MSGGET,
    nr::MSGSND,
    nr::MSGRCV,
    nr::MSGCTL,
    nr::MQ_OPEN,
    nr::MQ_UNLINK,
    nr::MQ_TIMEDSEND,
    nr::MQ_TIMEDRECEIVE,
    nr::MQ_NOTIFY,
    nr::MQ_GETSETATTR,
];

/// How many arguments each followed syscall has (its `sys_enter_*` record holds that many),
/// indexed by [`sys`].
pub const SYSCALL_ARGS: [u8; NSYS] = [3, 3, 4, 4, 3, 3, 1, 3, 2, 4, 5, 3, 4, 1, 5, 5, 2, 3];

/// Maps a System V IPC syscall number to its [`sys`] index, or `None` for another (the
/// `mq_*` calls are [`sys_index_tp`]'s). Written as one `match` so that the BPF compiler
/// turns it into a few compares.
#[inline(always)]
pub fn sys_index(nr: u64) -> Option<u8> {
    Some(match nr as u32 {
        nr::SEMGET => sys::SEMGET,
        nr::SEMOP => sys::SEMOP,
        nr::SEMTIMEDOP => sys::SEMTIMEDOP,
        nr::SEMCTL => sys::SEMCTL,
        nr::SHMGET => sys::SHMGET,
        nr::SHMAT => sys::SHMAT,
        nr::SHMDT => sys::SHMDT,
        nr::SHMCTL => sys::SHMCTL,
        nr::MSGGET => sys::MSGGET,
        nr::MSGSND => sys::MSGSND,
        nr::MSGRCV => sys::MSGRCV,
        nr::MSGCTL => sys::MSGCTL,
        _ => return None,
    })
}

/// [`sys_index`] and the POSIX queue calls: the per-syscall tracepoints' mapping (they are
/// attached to every syscall of [`SYSCALL_NAMES`]).
#[inline(always)]
pub fn sys_index_tp(nr: u64) -> Option<u8> {
    match nr as u32 {
        nr::MQ_OPEN => Some(sys::MQ_OPEN),
        nr::MQ_UNLINK => Some(sys::MQ_UNLINK),
        nr::MQ_TIMEDSEND => Some(sys::MQ_TIMEDSEND),
        nr::MQ_TIMEDRECEIVE => Some(sys::MQ_TIMEDRECEIVE),
        nr::MQ_NOTIFY => Some(sys::MQ_NOTIFY),
        nr::MQ_GETSETATTR => Some(sys::MQ_GETSETATTR),
        _ => sys_index(nr),
    }
}

/// Whether a [`sys`] index is one of the POSIX queue calls (`mq_*`).
#[inline(always)]
pub fn is_mq(sys: u8) -> bool {
    (sys::MQ_OPEN..=sys::MQ_GETSETATTR).contains(&sys)
}

/// How many `struct sembuf`s of one semop/semtimedop the probe copies from user memory.
pub const MAX_SOPS: usize = 8;

/// `struct sembuf` as the kernel reads it from user memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sembuf {
    pub sem_num: u16,
    pub sem_op: i16,
    pub sem_flg: i16,
}

/// One syscall as seen on entry: what is stored per thread while it runs, and the body of
/// every event.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Call {
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) at entry; 0 when the entry was not seen.
    pub start_ns: u64,
    /// The six raw syscall arguments.
    pub args: [u64; 6],
    /// semtimedop: the timeout in ns (-1: NULL); msgsnd: the message's mtype; msgrcv (in
    /// events, when it returned ≥ 0): the mtype of the message received. Else 0.
    pub aux: i64,
    /// The task's cgroup (`bpf_get_current_cgroup_id()`: on the unified hierarchy, the inode
    /// of its cgroup directory), in events only (taken at exit, when the call is sent; in the
    /// in-flight table it is 0 and userspace reads /proc). 0: unknown.
    pub cgroup_id: u64,
    /// The kernel's id of the task's IPC namespace (`ns_common.ns_id`, never reused unlike
    /// `ipc_ns`), from the thread's slot; in events only. 0: unknown (no slot, before 6.18).
    pub ns_id: u64,
    /// The start of the caller's process (its group leader's `start_boottime`, ns), from the
    /// thread's slot; in events only. With the pid, who the process is even once /proc no
    /// longer has it (a pid is reused). 0: unknown (no slot).
    pub proc_start: u64,
    pub pid: u32,
    pub tid: u32,
    /// uid, gid and comm are filled in events only (at exit, when the call is sent); in the
    /// in-flight table they are stale and userspace reads them from /proc.
    pub uid: u32,
    pub gid: u32,
    /// A [`sys`] index.
    pub sys: u8,
    /// How many entries of `sops` were read from user memory (semop/semtimedop).
    pub nsops_read: u8,
    /// [`CALL_F_*`](CALL_F_AUX_FAULT) bits.
    pub flags: u16,
    /// The task's IPC namespace (`task->nsproxy->ipc_ns->ns.inum`, the inode of
    /// /proc/PID/ns/ipc), taken with `cgroup_id`. 0: unknown (the loader found no offsets
    /// in the kernel's BTF, or the task was exiting), and in the in-flight table.
    pub ipc_ns: u32,
    pub comm: [u8; 16],
    pub sops: [Sembuf; MAX_SOPS],
}

/// The user memory behind `sops` could not be read.
pub const CALL_F_SOPS_FAULT: u16 = 1;
/// The user memory behind `aux` (semtimedop's timespec, msgsnd's or msgrcv's mtype) could not
/// be read: the pointer was not NULL but invalid or not readable.
pub const CALL_F_AUX_FAULT: u16 = 2;
/// The call's entry was not seen (it began before the probe was attached, or the per-thread
/// map was full): only the exit, the syscall and its return value are known.
pub const CALL_F_NO_ENTRY: u16 = 4;

/// The call came from a 32-bit task (an i386 syscall, direct or through `ipc()`): its
/// arguments were mapped to the 64-bit call's (see the program's `compat` module), its
/// `aux` mtype is a 32-bit `long`.
pub const CALL_F_COMPAT: u16 = 8;

/// The call was ended by its process's death (a fatal signal came while it ran: SIGKILL,
/// or another thread's exit_group): it returned an interruption code (`-EINTR`,
/// `-ERESTART*`) that no one will see. Neither failed nor interrupted.
pub const CALL_F_ENDED: u16 = 16;

/// Record kind: a finished call.
pub const EVENT_KIND_CALL: u16 = 1;
/// Record kind: an aggregate row the kernel could not keep ([`RowRecord`]).
pub const EVENT_KIND_ROW: u16 = 2;
/// Layout version of [`Event`] and [`RowRecord`]; bump with any change to them or to
/// [`Call`], [`AggKey`] or [`AggVal`].
/// Version 3 added `Call::ipc_ns` and `Call::cgroup_id` (recordings of older versions read
/// with both unknown: see `monitor::record::wire`); 4 `Call::ns_id`,
/// `Call::proc_start` and row records; 5 the `mq_*` syscalls ([`sys::MQ_OPEN`]..,
/// `Stats`' arrays of [`NSYS`] 18).
pub const EVENT_VERSION: u16 = 5;

/// A row of calls whose `AGG` entry could not be made (the table was full), handed to
/// userspace whole instead of lost: userspace counts it as a row the kernel retired, exactly
/// (it may have seen part of it already, in the thread's slot). Counted in `Stats::sent`;
/// only when the ring buffer is full too are its calls lost (`Stats::lost_calls`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RowRecord {
    pub kind: u16,
    pub version: u16,
    pub _pad: u32,
    pub key: AggKey,
    pub val: AggVal,
}

/// One finished syscall, as written to the ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub kind: u16,
    pub version: u16,
    pub _pad: u32,
    /// `bpf_ktime_get_ns()` at exit.
    pub end_ns: u64,
    /// The syscall's return value (negative errno on failure).
    pub ret: i64,
    pub call: Call,
}

/// Kernel-side counters, one slot per CPU (summed by userspace); exact whatever was sent.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Finished calls that matched the filter, per [`sys`] index.
    pub calls: [u64; NSYS],
    /// Of those, calls that returned an error (interrupted and ended ones included).
    pub errors: [u64; NSYS],
    /// Of the errors, calls a signal interrupted (`-EINTR`, `-ERESTART*`) while the process
    /// lived on.
    pub interrupted: [u64; NSYS],
    /// Of the errors, the same codes while the task was dying (a fatal signal pending, or
    /// its thread group exiting): calls ended by the process's death.
    pub ended: [u64; NSYS],
    /// Events the ring buffer had no room for.
    pub dropped: u64,
    /// Call entries the per-thread map had no room for (their exit is still sent, without
    /// arguments).
    pub inflight_full: u64,
    /// Flushes to `AGG` or `HOLDS` that found no room (each lost the calls or operations
    /// counted below; those calls are still counted in `calls`).
    pub agg_full: u64,
    /// Records sent to userspace: finished calls, and rows of a full table ([`RowRecord`]).
    pub sent: u64,
    /// Calls whose `AGG` row could not be stored (the table was full).
    pub lost_calls: u64,
    /// Semaphore operations whose `HOLDS` row could not be stored (the table was full).
    pub lost_holds: u64,
}

/// Names of the read-only globals (`.rodata`) userspace sets at load time with
/// `EbpfLoader::override_global`. Being constants for the verifier, the branches of a filter
/// that is off are pruned from the program: no map lookup per call for a setting.
pub mod global {
    /// u32: only follow this process (tgid); 0: every process.
    pub const TARGET_TGID: &str = "TARGET_TGID";
    /// u32: never follow this process (ipctop itself); 0: none.
    pub const IGNORE_TGID: &str = "IGNORE_TGID";
    /// [u8; 16]: only follow tasks whose comm is this (NUL-padded, at most 15 bytes); all
    /// zero: no comm filter.
    pub const COMM_FILTER: &str = "COMM_FILTER";
    /// u32: 1: send every finished call to userspace (trace, record). 0: aggregate in the
    /// kernel (`AGG`, `HOLDS` and the per-thread [`Slot`](crate::Slot)s) and send only calls
    /// that need a line of their own: failures, waits of at least `WAIT_NS`, creates,
    /// removals, attaches and control commands.
    pub const SEND_ALL: &str = "SEND_ALL";
    /// u64: with `SEND_ALL` 0, a semop/msgsnd/msgrcv that took at least this long (ns) is sent.
    pub const WAIT_NS: &str = "WAIT_NS";
    /// u64: wake userspace when this many bytes are waiting in the ring buffer; below it,
    /// wake-ups are left to userspace's periodic poll (batching). 0: wake on every event.
    pub const WAKEUP_BYTES: &str = "WAKEUP_BYTES";
    /// [u32; 3]: byte offsets of `task_struct.nsproxy`, `nsproxy.ipc_ns` and
    /// `ipc_namespace.ns.inum`, from the kernel's BTF; all zero: unknown (events then carry
    /// `ipc_ns` 0).
    pub const IPC_NS_OFFSETS: &str = "IPC_NS_OFFSETS";
    /// u32: byte offset of `task_struct.thread_info.status` (x86 `TS_COMPAT` 0x2 while a
    /// 32-bit syscall runs), from the kernel's BTF; 0: unknown (the program then takes a
    /// syscall entered from the 32-bit code segment for a compat one).
    pub const TI_STATUS_OFFSET: &str = "TI_STATUS_OFFSET";
    /// [u32; 6]: byte offsets, from the kernel's BTF, of
    /// - [`TASK_OFF_GROUP_LEADER`](crate::TASK_OFF_GROUP_LEADER) `task_struct.group_leader`,
    /// - [`TASK_OFF_START`](crate::TASK_OFF_START) `task_struct.start_boottime`,
    /// - [`TASK_OFF_NS_ID`](crate::TASK_OFF_NS_ID) `ipc_namespace.ns.ns_id` (0: this kernel
    ///   has none),
    /// - [`TASK_OFF_PENDING`](crate::TASK_OFF_PENDING) `task_struct.pending.signal`,
    /// - [`TASK_OFF_SIGNAL`](crate::TASK_OFF_SIGNAL) `task_struct.signal`,
    /// - [`TASK_OFF_SIGNAL_FLAGS`](crate::TASK_OFF_SIGNAL_FLAGS) `signal_struct.flags`;
    ///
    /// 0: unknown (rows then carry no process start, no namespace id, and no call is told
    /// ended).
    pub const TASK_OFFSETS: &str = "TASK_OFFSETS";
}

/// Indexes of [`global::TASK_OFFSETS`].
pub const TASK_OFF_GROUP_LEADER: usize = 0;
pub const TASK_OFF_START: usize = 1;
pub const TASK_OFF_NS_ID: usize = 2;
pub const TASK_OFF_PENDING: usize = 3;
pub const TASK_OFF_SIGNAL: usize = 4;
pub const TASK_OFF_SIGNAL_FLAGS: usize = 5;

/// x86-64 syscall numbers (and i386 ones, for 32-bit tasks) that move the calling thread to
/// another IPC namespace: its cached [`Ident`] is read again when they return.
pub mod nr_ns {
    pub const SETNS: u32 = 308;
    pub const UNSHARE: u32 = 272;
    pub const SETNS_32: u32 = 346;
    pub const UNSHARE_32: u32 = 310;
}

/// Who made a call, as every row names it: the process (tgid and its start) and the IPC
/// namespace it was in. Read once per thread (when it takes its slot) and again after it
/// changes namespace (setns, unshare), kept in its [`Slot`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ident {
    /// The thread group leader's `start_boottime` (ns since boot, the clock of
    /// /proc/PID/stat's starttime); 0: unknown.
    pub start: u64,
    /// `ipc_namespace.ns.ns_id` (never reused); 0: unknown or none (before 6.18).
    pub ns_id: u64,
    /// `ipc_namespace.ns.inum` (the inode of /proc/PID/ns/ipc); 0: unknown.
    pub ipc_ns: u32,
    pub tgid: u32,
}

/// A thread's slot (in `SLOTS`, or `INFLIGHT` when another thread holds its index), one per thread: its call in progress (or its last one, marked
/// [`SYS_DONE`]), and what it did since it last changed object, not yet added to the shared
/// maps. Keeping a thread's running aggregate and net semaphore operation here spares the
/// exit program a hash map operation per call; they are flushed to `AGG` and `HOLDS` when
/// the thread moves to another object or syscall, and userspace adds the rest in.
///
/// A slot lives as long as its thread: the `sched_process_exit` program flushes what it has
/// not flushed and frees it (zeroed, claim dropped; or its `INFLIGHT` entry deleted).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    pub call: Call,
    /// 1 when `acc_key`/`acc` hold calls not yet in `AGG`.
    pub acc_used: u8,
    /// 1 when `hold_key`/`hold` hold operations not yet in `HOLDS`.
    pub hold_used: u8,
    pub _pad: [u8; 2],
    /// In `SLOTS`: the thread id the slot belongs to (0: free). Unused in `INFLIGHT`.
    pub owner: u32,
    /// The thread's identity, read when it took the slot (and after setns/unshare).
    pub ident: Ident,
    pub acc_key: AggKey,
    pub acc: AggVal,
    pub hold_key: HoldKey,
    pub hold: HoldVal,
    /// Semaphore operations in `hold` (what is lost if its flush finds no room).
    pub hold_ops: u64,
    /// Units the thread held of `hold_key`'s semaphore (by its `HOLDS` row) when `hold`
    /// began: what a positive operation gives back before it posts.
    pub hold_base: i64,
    /// The thread's comm when it took the slot (or changed namespace): its unflushed
    /// aggregate's, for userspace.
    pub comm: [u8; 16],
}

/// Entries of the per-thread table of calls in progress.
pub const INFLIGHT_MAX_ENTRIES: u32 = 16384;

/// Entries of `SLOTS`, the array where a thread's slot is first looked for, at index
/// `tid % SLOTS_ENTRIES` (a power of two). A thread whose index another live thread holds
/// has its slot in `INFLIGHT` instead. `SLOT_CLAIMS` (index → tid) says which are taken.
pub const SLOTS_ENTRIES: u32 = 16384;

/// Key of the kernel-side aggregates: one process's calls of one syscall on one object of
/// one IPC namespace.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AggKey {
    /// The process and namespace.
    pub ident: Ident,
    /// The IPC id the call named (the new id for *get calls that succeeded); -1 for none.
    pub id: i32,
    /// A [`sys`] index.
    pub sys: u8,
    pub _pad: [u8; 3],
}

/// Buckets of the wait-time histograms: bucket 0 holds calls under 2 µs, bucket i (i ≥ 1)
/// those of [2^i, 2^(i+1)) µs; the last one everything longer.
pub const HIST_BUCKETS: usize = 24;

/// Per-CPU aggregate of the calls behind one [`AggKey`] (summed by userspace).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct AggVal {
    pub calls: u64,
    pub errors: u64,
    /// Of the errors, interrupted by a signal (the process lived on).
    pub interrupted: u64,
    /// Of the errors, ended by the process's death.
    pub ended: u64,
    /// Sum and maximum of the calls' durations (for semop/msgsnd/msgrcv: the time waited).
    pub total_ns: u64,
    pub max_ns: u64,
    /// CLOCK_MONOTONIC ns of the last call's exit.
    pub last_ns: u64,
    pub hist: [u64; HIST_BUCKETS],
    /// The comm of the thread that made the row's first call (set on this CPU's copy when
    /// the row is made; zeros on the others): a process that lived between two looks at
    /// /proc is still known by name.
    pub comm: [u8; 16],
}

/// Entries of the `AGG` map the object is built with (userspace sets the real size at load
/// time: `--table-entries`).
pub const AGG_MAX_ENTRIES: u32 = 16384;

/// Key of `HOLDS`: a thread's operations on one semaphore of one namespace (a lock is held
/// by the thread that took it; `tid` 0: the process as a whole — its threads that are gone,
/// folded in by userspace).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HoldKey {
    pub ident: Ident,
    pub semid: i32,
    pub tid: u32,
    pub semnum: u16,
    pub _pad: [u8; 6],
}

/// Value of `HOLDS`: what the process's successful semops took from and gave to the
/// semaphore.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct HoldVal {
    /// Units taken: the sum of `-sem_op` over negative operations.
    pub taken: u64,
    /// Units given: the sum of `sem_op` over positive operations.
    pub given: u64,
    /// Of `given`, the units given while the thread held none of its own (posted for
    /// others, or an initialisation); the rest gave back what it had taken.
    pub posted: u64,
    /// Units taken with SEM_UNDO minus units given with it.
    pub undo: i64,
    /// CLOCK_MONOTONIC ns of the last operation.
    pub last_ns: u64,
}

/// `SEM_UNDO` in `sem_flg`.
pub const SEM_UNDO: i16 = 0x1000;

/// Entries of the `HOLDS` map the object is built with (set at load time, as `AGG`'s).
/// Userspace deletes the rows of dead processes and removed sets.
pub const HOLDS_MAX_ENTRIES: u32 = 16384;

#[cfg(feature = "user")]
mod pod {
    unsafe impl aya::Pod for super::AggKey {}
    unsafe impl aya::Pod for super::AggVal {}
    unsafe impl aya::Pod for super::HoldKey {}
    unsafe impl aya::Pod for super::HoldVal {}
    unsafe impl aya::Pod for super::Ident {}
    // SAFETY: plain old data, repr(C), every bit pattern valid, no padding left implicit.
    unsafe impl aya::Pod for super::Call {}
    unsafe impl aya::Pod for super::Event {}
    unsafe impl aya::Pod for super::Stats {}
    unsafe impl aya::Pod for super::Sembuf {}
    unsafe impl aya::Pod for super::Slot {}
}
