//! Process data: who is who (stat, uid, start time, IPC namespace), which segments each has
//! attached (the SYSV mappings of /proc/PID/maps: their inode is the shmid), and which of its
//! threads are blocked in semop/semtimedop/msgrcv/msgsnd (/proc/PID/task/TID/syscall, wchan,
//! and the sembufs read from the waiter's memory with process_vm_readv).
//!
//! Processes that exit while being read are dropped silently; what cannot be read for lack of
//! permission is counted, so that the caller can say it once.
//!
//! Cost (it is most of a snapshot's): files are read relative to a /proc/PID descriptor into
//! one buffer per thread, the processes shared out between threads ([`Scanner`]); only what
//! the answer needs is read — no task/ listing for a single-threaded process (its syscall and
//! wchan are /proc/PID's), no syscall file for a lone running thread (it is in no call) or a
//! kernel thread (no calls, no memory map), and command lines only for the processes that
//! matter.
use std::{
    collections::HashSet,
    io,
    os::unix::ffi::OsStrExt,
    path::Path,
    sync::atomic::{AtomicUsize, Ordering},
};

mod parse;
mod reader;
pub(crate) mod taskclock;
mod waits;

use parse::ns_inode_of;
/// Shared with the POSIX reader (`crate::posix`).
pub(crate) use parse::parse_syscall;
use reader::{read_one, Reader};
pub use waits::MAX_SOPS_READ;

/// One SYSV shared-memory mapping of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapAttach {
    /// The inode of the mapping, which the kernel sets to the shmid.
    pub shmid: i32,
    pub start: u64,
    pub end: u64,
    /// The device of the mapping (the internal shm mount, or hugetlbfs).
    pub dev: (u32, u32),
    pub writable: bool,
}

/// One `struct sembuf` as read from a waiter's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawSop {
    pub num: u16,
    pub op: i16,
    pub flg: i16,
}

/// The call a thread is blocked in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitCall {
    /// semop or semtimedop; `sops` is `None` when the waiter's memory could not be read.
    Sem {
        semid: i32,
        nsops: u64,
        sops: Option<Vec<RawSop>>,
        timed: bool,
    },
    Msgrcv {
        msqid: i32,
        msgsz: u64,
        msgtyp: i64,
    },
    Msgsnd {
        msqid: i32,
        msgsz: u64,
    },
}

/// A thread blocked in an IPC call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskWait {
    pub tid: u32,
    pub call: WaitCall,
    /// The kernel function it sleeps in, when readable.
    pub wchan: Option<String>,
    /// CLOCK_MONOTONIC ns by which the thread had gone to sleep at the latest: when it last
    /// ran, from its scheduler clock (`se.exec_start` of /proc/PID/task/TID/sched) measured
    /// against the clock of the CPU it ran on (`taskclock.rs`) — a lower bound of the wait's
    /// age, never more. `None`: not readable, or that CPU's clock could not be read.
    pub asleep_since_ns: Option<u64>,
}

/// What was read of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcRead {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    /// The state letter of /proc/PID/stat (R, S, D, Z, T, …).
    pub state: char,
    pub uid: Option<u32>,
    /// Wall-clock start time, unix ns.
    pub start_unix_ns: Option<u64>,
    /// Its start as /proc/PID/stat gives it (`starttime`, clock ticks since boot): with the
    /// pid, its identity (a reused pid has another start).
    pub start_ticks: Option<u64>,
    /// How many threads it has (0: unknown).
    pub threads: u32,
    /// Another ipctop (its executable is an ipctop: by /proc/PID/exe, not by its name): an
    /// observer, whose read-only polling is never activity on what it looks at.
    pub observer: bool,
    /// The inode of its IPC namespace; `None` when not readable.
    pub ipc_ns: Option<u64>,
    /// Its SYSV mappings; `None` when /proc/PID/maps was not readable (or not read: other
    /// namespace).
    pub attachments: Option<Vec<MapAttach>>,
    /// Its threads blocked in IPC calls; `None` when their syscalls were not readable.
    pub waits: Option<Vec<TaskWait>>,
    /// Only read for the processes that matter (attached, waiting, or named by an object).
    pub cmdline: Option<String>,
}

/// The result of a scan, with the counts of what permissions hid.
#[derive(Clone, Debug, Default)]
pub struct ProcScan {
    pub procs: Vec<ProcRead>,
    /// Processes whose IPC namespace could not be read (assumed to be in the target one).
    pub ns_denied: Vec<u32>,
    pub maps_denied: Vec<u32>,
    pub syscall_denied: Vec<u32>,
    /// Blocked semops whose sembufs could not be read.
    pub sops_denied: Vec<u32>,
}

/// How to scan.
#[derive(Clone, Debug, Default)]
pub struct ScanOptions {
    /// The namespace whose processes get maps and waits read (`None`: all).
    pub target_ns: Option<u64>,
    /// Extra pids whose command line is wanted.
    pub interesting: HashSet<u32>,
    /// Unix ns at boot (realtime - boottime), for start times.
    pub boot_unix_ns: u64,
}

/// The inode in a `/proc/…/ns/ipc` link (`ipc:[4026531839]`).
pub fn ns_inode(link: &Path) -> io::Result<u64> {
    let target = std::fs::read_link(link)?;
    ns_inode_of(target.as_os_str().as_bytes())
}

/// The pids listed in /proc, ascending (empty if /proc cannot be listed).
pub fn list_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&p| p > 0)
        .collect();
    pids.sort_unstable();
    pids
}

/// How many threads read processes at once (the machine's CPUs, at most 4).
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// A scan shared by several threads: each calls [`Scanner::work`], which takes pids in small
/// batches until none are left; [`Scanner::finish`] puts the parts together.
pub struct Scanner<'a> {
    opts: &'a ScanOptions,
    pids: Vec<u32>,
    next: AtomicUsize,
    tck: u64,
}

/// Pids taken at a time by a worker.
const BATCH: usize = 16;

impl<'a> Scanner<'a> {
    /// Lists /proc.
    pub fn new(opts: &'a ScanOptions) -> Self {
        Scanner {
            opts,
            pids: list_pids(),
            next: AtomicUsize::new(0),
            tck: procfs::ticks_per_second().max(1),
        }
    }

    /// Reads processes until none are left; returns what this thread read.
    pub fn work(&self) -> ProcScan {
        let mut out = ProcScan::default();
        let mut rd = Reader::default();
        loop {
            let i = self.next.fetch_add(BATCH, Ordering::Relaxed);
            if i >= self.pids.len() {
                break;
            }
            for &pid in &self.pids[i..(i + BATCH).min(self.pids.len())] {
                if let Some(r) = read_one(&mut rd, pid, self.opts, self.tck, &mut out) {
                    out.procs.push(r);
                }
            }
        }
        out
    }

    /// The parts of every worker as one scan, by pid.
    pub fn finish(parts: impl IntoIterator<Item = ProcScan>) -> ProcScan {
        let mut out = ProcScan::default();
        for p in parts {
            if out.procs.is_empty() {
                out.procs = p.procs;
            } else {
                out.procs.extend(p.procs);
            }
            out.ns_denied.extend(p.ns_denied);
            out.maps_denied.extend(p.maps_denied);
            out.syscall_denied.extend(p.syscall_denied);
            out.sops_denied.extend(p.sops_denied);
        }
        out.procs.sort_unstable_by_key(|p| p.pid);
        out
    }
}

/// Scans every process in /proc, on [`threads`] threads.
pub fn scan(opts: &ScanOptions) -> ProcScan {
    let s = Scanner::new(opts);
    let parts: Vec<ProcScan> = std::thread::scope(|sc| {
        let helpers: Vec<_> = (1..threads()).map(|_| sc.spawn(|| s.work())).collect();
        let mut parts = vec![s.work()];
        // A helper that panicked loses its part (its pids are then missing), nothing more.
        parts.extend(helpers.into_iter().filter_map(|h| h.join().ok()));
        parts
    });
    let mut out = Scanner::finish(parts);
    read_interesting_cmdlines(&mut out.procs, opts);
    out
}

/// Reads the command lines of `opts.interesting` processes that do not have one yet (those in
/// the target namespace and alive: as [`scan`] would have had it known the pids then).
pub fn read_interesting_cmdlines(procs: &mut [ProcRead], opts: &ScanOptions) {
    if opts.interesting.is_empty() {
        return;
    }
    let mut rd = Reader::default();
    for r in procs {
        if r.cmdline.is_none()
            && opts.interesting.contains(&r.pid)
            && in_target(opts.target_ns, r.ipc_ns)
            && !matches!(r.state, 'Z' | 'X')
        {
            if let Ok(dir) = rd.open_pid(r.pid) {
                r.cmdline = rd.cmdline(&dir);
            }
        }
    }
}

fn in_target(target: Option<u64>, ns: Option<u64>) -> bool {
    match (target, ns) {
        (Some(t), Some(n)) => t == n,
        _ => true,
    }
}

/// Gone (ENOENT, ESRCH, or anything unexpected) or denied (EACCES, EPERM).
fn denied(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM))
}

/// The device of the kernel's internal shm mount (where SysV segments live unless they are
/// hugetlb), learnt from a memfd (which lives on the same mount); `None` if memfd fails.
/// This creates no IPC object.
pub fn shm_mount_dev() -> Option<(u32, u32)> {
    use nix::sys::{memfd, stat};
    let fd = memfd::memfd_create(c"ipctop-dev", memfd::MFdFlags::MFD_CLOEXEC).ok()?;
    let st = stat::fstat(&fd).ok()?;
    Some((stat::major(st.st_dev) as u32, stat::minor(st.st_dev) as u32))
}
