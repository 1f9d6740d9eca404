//! The readers: one look at the IPC objects of a namespace and at every process, from /proc
//! and read-only semctl/msgctl calls. No analysis here; the [`Snapshot`] goes into
//! the model through its one door, [`crate::model::Model::apply`].
//!
//! The IPC side (`/proc/sysvipc/*`, semctl, `/proc/sys/kernel/*`) is per IPC namespace and is
//! read by the calling thread's namespace; for `--ipc-ns PID` it is read on a dedicated
//! thread that entered the namespace of PID with setns(CLONE_NEWIPC) (the rest of the process
//! stays where it is). The process side (/proc/PID/…) is the same whatever the namespace.
pub mod limits;
pub mod namespaces;
pub mod procs;
pub mod semvals;
pub mod sysvipc;

use std::{
    collections::{BTreeSet, HashSet},
    os::fd::AsRawFd,
    path::Path,
};

use anyhow::Context;

pub use limits::Limits;
pub use procs::{MapAttach, ProcRead, RawSop, TaskWait, WaitCall};
pub use semvals::{ReadFail, SemCache, SemValue};
pub use sysvipc::{MsgRow, ParseError, SemRow, ShmRow};

use namespaces::NsObjects;

use crate::{event::clock_ns, exit};

/// What to read.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The home namespace (the snapshot's top-level objects) is the IPC namespace of this
    /// process instead of ours (needs CAP_SYS_ADMIN).
    pub ipc_ns_pid: Option<u32>,
    /// Read only the home namespace, not the others that have processes.
    pub home_only: bool,
}

/// A semaphore set with its semaphores (or why they are unknown).
#[derive(Clone, Debug)]
pub struct SemSetRead {
    pub row: SemRow,
    pub values: Result<Vec<SemValue>, ReadFail>,
}

/// A queue with its maximum size (or why it is unknown).
#[derive(Clone, Debug)]
pub struct MsgRead {
    pub row: MsgRow,
    pub qbytes: Result<u64, ReadFail>,
}

/// Something that could not be known, and why (said once per kind, with a count).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    pub what: String,
    pub reason: String,
    /// The processes it concerns, when it is about processes (at most [`MAX_UNKNOWN_PIDS`]
    /// named; recordings made before they were have none).
    pub pids: Vec<u32>,
}

/// Pids named per [`Unknown`] (the count says how many there are in all).
pub const MAX_UNKNOWN_PIDS: usize = 32;

/// One snapshot of the IPC objects of every namespace that has processes, and of every
/// process. The top-level objects are the home namespace's (ours, or `--ipc-ns`'s: the
/// calling thread's, read without setns); `others` the rest, each read from inside.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// CLOCK_REALTIME and CLOCK_MONOTONIC when it was taken (ns).
    pub unix_ns: u64,
    pub mono_ns: u64,
    /// The home IPC namespace (inode of its /proc/…/ns/ipc link), if readable.
    pub ipc_ns: Option<u64>,
    /// `--ipc-ns PID`, when given.
    pub ns_pid: Option<u32>,
    pub shm: Vec<ShmRow>,
    pub sem: Vec<SemSetRead>,
    pub msg: Vec<MsgRead>,
    /// Every process (of every namespace; maps and waits for the namespaces read).
    pub processes: Vec<ProcRead>,
    /// The home namespace's limits.
    pub limits: Limits,
    /// The objects of the other namespaces that have processes (recordings made before
    /// ipctop read them have none).
    pub others: Vec<NsObjects>,
    /// What a person reads for each namespace with processes ("host", "docker:3f4e5a6b7c8d",
    /// …: see [`namespaces::IpcNamespace::label`]), read or not.
    /// (inode, label) pairs, ascending (a list, not a map: JSON keys are strings).
    pub ns_labels: Vec<(u64, String)>,
    /// The device of ordinary (not hugetlb) SysV segments' mappings.
    pub shm_dev: Option<(u32, u32)>,
    /// Lines or files that could not be read.
    pub problems: Vec<String>,
    pub unknowns: Vec<Unknown>,
}

impl Snapshot {
    /// The namespaces whose objects it read: the home one (when known) and the others.
    pub fn namespaces_read(&self) -> impl Iterator<Item = u64> + '_ {
        self.ipc_ns
            .into_iter()
            .chain(self.others.iter().map(|o| o.ipc_ns))
    }
}

/// Opens the IPC namespace of `pid` (to enter with setns).
fn open_ns_of(pid: u32) -> anyhow::Result<std::fs::File> {
    let path = format!("/proc/{pid}/ns/ipc");
    std::fs::File::open(&path).map_err(|e| {
        exit::Fatal::new(
            exit::USAGE,
            format!("cannot open the IPC namespace of pid {pid} ({path}): {e}"),
        )
        .into()
    })
}

/// Moves the calling thread into the IPC namespace `ns` of `pid`.
fn enter_ns(ns: &std::fs::File, pid: u32) -> anyhow::Result<()> {
    // SAFETY: a valid namespace fd; setns only changes this thread's IPC namespace.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWIPC) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(exit::Fatal::new(
            exit::FAILURE,
            format!(
                "cannot enter the IPC namespace of pid {pid} (needs root / CAP_SYS_ADMIN): {e}"
            ),
        )
        .into());
    }
    Ok(())
}

/// The inode of an opened namespace (the number in its "ipc:[…]" link).
fn ns_file_inode(ns: &std::fs::File) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    ns.metadata().ok().map(|m| m.ino())
}

/// Takes a snapshot.
///
/// The home namespace's IPC side is read on a thread of its own (inside the namespace for
/// `--ipc-ns`) while the processes are read on the others ([`procs::threads`] in all; the IPC
/// thread joins in when it is done). Then the other namespaces the processes are in are read
/// from inside, one after the other on one thread ([`namespaces::read_with`]), and the
/// command lines of the pids the objects name.
pub fn take(opts: &Options) -> anyhow::Result<Snapshot> {
    take_with(opts, None)
}

/// [`take`], reading only the semaphore sets that changed since the last snapshot taken with
/// the same `cache` (see [`SemCache`]: one per namespace); the others come from it, so the
/// snapshot is as complete as one of `take`.
pub fn take_with(
    opts: &Options,
    cache: Option<&std::sync::Mutex<SemCache>>,
) -> anyhow::Result<Snapshot> {
    let mono_ns = clock_ns(libc::CLOCK_MONOTONIC);
    let unix_ns = clock_ns(libc::CLOCK_REALTIME);
    let boot_unix_ns = unix_ns.saturating_sub(clock_ns(libc::CLOCK_BOOTTIME));
    let ns_file = opts.ipc_ns_pid.map(open_ns_of).transpose()?;
    let ours = procs::ns_inode(Path::new("/proc/thread-self/ns/ipc")).ok();
    // The home namespace: the one the top-level objects are of.
    let home = match &ns_file {
        Some(f) => ns_file_inode(f),
        None => ours,
    };
    let mut scan_opts = procs::ScanOptions {
        // Maps and waits of every process when every namespace is read.
        target_ns: if opts.home_only { home } else { None },
        interesting: HashSet::new(),
        boot_unix_ns,
    };
    let scanner = procs::Scanner::new(&scan_opts);
    let (ipc, parts) = std::thread::scope(|s| {
        let ipc_thread = s.spawn(|| -> anyhow::Result<(NsObjects, procs::ProcScan)> {
            if let (Some(f), Some(pid)) = (&ns_file, opts.ipc_ns_pid) {
                enter_ns(f, pid)?;
            }
            let side = namespaces::read_here(home.unwrap_or(0), opts.ipc_ns_pid, cache);
            Ok((side, scanner.work()))
        });
        let helpers: Vec<_> = (2..procs::threads())
            .map(|_| s.spawn(|| scanner.work()))
            .collect();
        let mut parts = vec![scanner.work()];
        parts.extend(helpers.into_iter().filter_map(|h| h.join().ok()));
        let ipc = match ipc_thread.join() {
            Ok(r) => r.context("reading the IPC namespace"),
            Err(_) => Err(anyhow::anyhow!("the namespace reader thread panicked")),
        };
        (ipc, parts)
    });
    let (ipc, ipc_part) = ipc?;
    let mut scan = procs::Scanner::finish(parts.into_iter().chain([ipc_part]));

    // The other namespaces with processes, each read from inside.
    let all_ns = namespaces::of_procs(&scan.procs, ours);
    let ns_labels: Vec<(u64, String)> = all_ns
        .iter()
        .filter(|n| !n.containers.is_empty())
        .map(|n| (n.inode, n.label()))
        .collect();
    let mut others = Vec::new();
    let mut unread_ns = Vec::new();
    if !opts.home_only {
        let todo: Vec<_> = all_ns
            .into_iter()
            .filter(|n| Some(n.inode) != home)
            .collect();
        for (n, r) in todo.iter().zip(namespaces::read_with(&todo, cache)) {
            match r {
                Ok(o) => others.push(o),
                Err(why) => unread_ns.push((n.inode, why)),
            }
        }
        if let Some(mut c) = cache.and_then(|c| c.lock().ok()) {
            let keep: BTreeSet<u64> = home
                .into_iter()
                .chain(others.iter().map(|o| o.ipc_ns))
                .collect();
            c.retain(&keep);
        }
    }

    // Pids the objects name: their command lines are worth reading.
    let interesting = &mut scan_opts.interesting;
    for o in std::iter::once(&ipc).chain(&others) {
        for s in &o.shm {
            interesting.extend([s.cpid, s.lpid]);
        }
        for m in &o.msg {
            interesting.extend([m.row.lspid, m.row.lrpid]);
        }
        for s in &o.sem {
            if let Ok(v) = &s.values {
                interesting.extend(v.iter().map(|x| x.last_pid as u32));
            }
        }
    }
    interesting.remove(&0);
    procs::read_interesting_cmdlines(&mut scan.procs, &scan_opts);
    if let Some(mut c) = cache.and_then(|c| c.lock().ok()) {
        c.saw_processes(&scan.procs, home.unwrap_or(0));
    }

    let mut unknowns = Vec::new();
    let mut unknown = |n: usize, what: &str, reason: &str| {
        if n > 0 {
            unknowns.push(Unknown {
                what: format!(
                    "{what} of {n} {}",
                    if n == 1 { "object" } else { "objects" }
                ),
                reason: reason.to_string(),
                pids: Vec::new(),
            });
        }
    };
    let denied_sets = ipc
        .sem
        .iter()
        .filter(|s| s.values == Err(ReadFail::Denied))
        .count();
    unknown(
        denied_sets,
        "semaphore values, waiter counts and last pids",
        "semctl needs read permission on the set (or CAP_IPC_OWNER: run as root)",
    );
    let denied_q = ipc.msg.iter().filter(|m| m.qbytes.is_err()).count();
    unknown(
        denied_q,
        "the maximum size (qbytes)",
        "msgctl refused IPC_STAT and MSG_STAT_ANY",
    );
    let mut unknown_procs = |pids: &[u32], what: &str, reason: &str| {
        let n = pids.len();
        if n > 0 {
            let mut pids = pids.to_vec();
            pids.sort_unstable();
            pids.truncate(MAX_UNKNOWN_PIDS);
            unknowns.push(Unknown {
                what: format!(
                    "{what} of {n} {}",
                    if n == 1 { "process" } else { "processes" }
                ),
                reason: reason.to_string(),
                pids,
            });
        }
    };
    // SAFETY: geteuid has no preconditions.
    let ptrace = if unsafe { libc::geteuid() } == 0 {
        "not readable even as root (ptrace access refused: another user namespace, or a \
         protected process)"
    } else {
        "reading another user's /proc/PID files needs ptrace access (run as root)"
    };
    unknown_procs(
        &scan.ns_denied,
        "the IPC namespace (assumed to be ours)",
        ptrace,
    );
    unknown_procs(
        &scan.maps_denied,
        "attached segments (/proc/PID/maps)",
        ptrace,
    );
    unknown_procs(
        &scan.syscall_denied,
        "blocked calls (/proc/PID/task/*/syscall)",
        ptrace,
    );
    unknown_procs(
        &scan.sops_denied,
        "the semaphore operations of blocked semops",
        ptrace,
    );
    for (inode, why) in unread_ns {
        unknowns.push(Unknown {
            what: format!(
                "the objects of IPC namespace {inode}{}",
                ns_labels
                    .iter()
                    .find(|(n, _)| *n == inode)
                    .map(|(_, l)| format!(" ({l})"))
                    .unwrap_or_default()
            ),
            reason: why,
            pids: Vec::new(),
        });
    }
    if home.is_none() {
        unknowns.push(Unknown {
            what: "the IPC namespace read".into(),
            reason: "/proc/thread-self/ns/ipc is not readable; every process is taken to be in it"
                .into(),
            pids: Vec::new(),
        });
    }
    let mut problems = ipc.problems;
    for o in &mut others {
        problems.append(&mut o.problems);
    }
    Ok(Snapshot {
        unix_ns,
        mono_ns,
        ipc_ns: home,
        ns_pid: opts.ipc_ns_pid,
        shm: ipc.shm,
        sem: ipc.sem,
        msg: ipc.msg,
        processes: scan.procs,
        limits: ipc.limits,
        others,
        ns_labels,
        shm_dev: procs::shm_mount_dev(),
        problems,
        unknowns,
    })
}
