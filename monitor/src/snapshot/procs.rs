//! Process data: who is who (stat, uid, start time, IPC namespace), which segments each has
//! attached (the SYSV mappings of /proc/PID/maps: their inode is the shmid), and which of its
//! threads are blocked in semop/semtimedop/msgrcv/msgsnd (/proc/PID/task/TID/syscall, wchan,
//! and the sembufs read from the waiter's memory with process_vm_readv).
//!
//! Processes that exit while being read are dropped silently; what cannot be read for lack of
//! permission is counted, so that the caller can say it once.
use std::{collections::HashSet, io, path::Path};

use procfs::{
    process::{MMPermissions, MMapPath, Process},
    ProcError,
};

/// One SYSV shared-memory mapping of a process.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawSop {
    pub num: u16,
    pub op: i16,
    pub flg: i16,
}

/// The call a thread is blocked in.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
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
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TaskWait {
    pub tid: u32,
    pub call: WaitCall,
    /// The kernel function it sleeps in, when readable.
    pub wchan: Option<String>,
}

/// What was read of one process.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ProcRead {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    /// The state letter of /proc/PID/stat (R, S, D, Z, T, …).
    pub state: char,
    pub uid: Option<u32>,
    /// Wall-clock start time, unix ns.
    pub start_unix_ns: Option<u64>,
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
    pub ns_denied: usize,
    pub maps_denied: usize,
    pub syscall_denied: usize,
    /// Blocked semops whose sembufs could not be read.
    pub sops_denied: usize,
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

/// The inode in a `/proc/…/ns/ipc` link ("ipc:[4026531839]").
pub fn ns_inode(link: &Path) -> io::Result<u64> {
    let target = std::fs::read_link(link)?;
    let s = target.to_string_lossy();
    s.strip_prefix("ipc:[")
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("odd ns link {s:?}")))
}

enum Fail {
    Gone,
    Denied,
}

fn classify(e: &ProcError) -> Fail {
    match e {
        ProcError::PermissionDenied(_) => Fail::Denied,
        ProcError::Io(e, _) if e.kind() == io::ErrorKind::PermissionDenied => Fail::Denied,
        _ => Fail::Gone,
    }
}

/// Scans every process in /proc.
pub fn scan(opts: &ScanOptions) -> ProcScan {
    let mut out = ProcScan::default();
    let Ok(all) = procfs::process::all_processes() else {
        return out;
    };
    let tck = procfs::ticks_per_second().max(1);
    for p in all.flatten() {
        if let Some(r) = read_one(&p, opts, tck, &mut out) {
            out.procs.push(r);
        }
    }
    out
}

fn read_one(p: &Process, opts: &ScanOptions, tck: u64, out: &mut ProcScan) -> Option<ProcRead> {
    let pid = p.pid() as u32;
    let stat = p.stat().ok()?;
    let start_unix_ns =
        Some(opts.boot_unix_ns + (stat.starttime as u128 * 1_000_000_000 / tck as u128) as u64);
    let ipc_ns = match ns_inode(&Path::new("/proc").join(pid.to_string()).join("ns/ipc")) {
        Ok(n) => Some(n),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(_) => {
            out.ns_denied += 1;
            None
        }
    };
    let mut r = ProcRead {
        pid,
        ppid: stat.ppid.max(0) as u32,
        comm: stat.comm.clone(),
        state: stat.state,
        uid: p.uid().ok(),
        start_unix_ns,
        ipc_ns,
        attachments: None,
        waits: None,
        cmdline: None,
    };
    let in_target = match (opts.target_ns, ipc_ns) {
        (Some(t), Some(n)) => t == n,
        _ => true,
    };
    if !in_target || matches!(stat.state, 'Z' | 'X') {
        return Some(r);
    }
    match p.maps() {
        Ok(maps) => {
            let mut v = Vec::new();
            for m in maps {
                if let MMapPath::Vsys(_) = m.pathname {
                    v.push(MapAttach {
                        shmid: m.inode as i32,
                        start: m.address.0,
                        end: m.address.1,
                        dev: (m.dev.0 as u32, m.dev.1 as u32),
                        writable: m.perms.contains(MMPermissions::WRITE),
                    });
                }
            }
            r.attachments = Some(v);
        }
        Err(e) => match classify(&e) {
            Fail::Gone => return None,
            Fail::Denied => out.maps_denied += 1,
        },
    }
    r.waits = read_waits(p, pid, out);
    let wanted = r.attachments.as_ref().is_some_and(|a| !a.is_empty())
        || r.waits.as_ref().is_some_and(|w| !w.is_empty())
        || opts.interesting.contains(&pid);
    if wanted {
        r.cmdline = p.cmdline().ok().map(|v| v.join(" "));
    }
    Some(r)
}

fn read_waits(p: &Process, pid: u32, out: &mut ProcScan) -> Option<Vec<TaskWait>> {
    let tasks = p.tasks().ok()?;
    let mut waits = Vec::new();
    let mut denied = false;
    for t in tasks.flatten() {
        let sc = match t.syscall() {
            Ok(sc) => sc,
            Err(e) => {
                if let Fail::Denied = classify(&e) {
                    denied = true;
                }
                continue;
            }
        };
        let procfs::process::Syscall::Blocked {
            syscall_number,
            argument_registers: a,
            ..
        } = sc
        else {
            continue;
        };
        let tid = t.tid as u32;
        let call = match syscall_number {
            n if n == libc::SYS_semop || n == libc::SYS_semtimedop => {
                let nsops = a[2];
                let sops = read_sops(pid, a[1], nsops);
                if sops.is_none() {
                    out.sops_denied += 1;
                }
                WaitCall::Sem {
                    semid: a[0] as i32,
                    nsops,
                    sops,
                    timed: n == libc::SYS_semtimedop && a[3] != 0,
                }
            }
            n if n == libc::SYS_msgrcv => WaitCall::Msgrcv {
                msqid: a[0] as i32,
                msgsz: a[2],
                msgtyp: a[3] as i64,
            },
            n if n == libc::SYS_msgsnd => WaitCall::Msgsnd {
                msqid: a[0] as i32,
                msgsz: a[2],
            },
            _ => continue,
        };
        let wchan = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/wchan"))
            .ok()
            .filter(|w| !w.is_empty() && w != "0");
        waits.push(TaskWait { tid, call, wchan });
    }
    if denied && waits.is_empty() {
        out.syscall_denied += 1;
        return None;
    }
    Some(waits)
}

/// At most this many sembufs are read from a waiter.
pub const MAX_SOPS_READ: u64 = 64;

/// Reads `nsops` sembufs at `addr` in process `pid`.
fn read_sops(pid: u32, addr: u64, nsops: u64) -> Option<Vec<RawSop>> {
    let n = nsops.min(MAX_SOPS_READ) as usize;
    if n == 0 {
        return Some(Vec::new());
    }
    let mut buf = vec![0u8; n * 6];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` covers `buf`, which we own; the remote side is only read by the kernel.
    let got = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
    if got != buf.len() as isize {
        return None;
    }
    Some(
        buf.chunks_exact(6)
            .map(|c| RawSop {
                num: u16::from_ne_bytes([c[0], c[1]]),
                op: i16::from_ne_bytes([c[2], c[3]]),
                flg: i16::from_ne_bytes([c[4], c[5]]),
            })
            .collect(),
    )
}

/// The device of the kernel's internal shm mount (where SysV segments live unless they are
/// hugetlb), learnt from a memfd (which lives on the same mount); `None` if memfd fails.
/// This creates no IPC object.
pub fn shm_mount_dev() -> Option<(u32, u32)> {
    // SAFETY: a NUL-terminated name and flags; the fd is closed below.
    let fd = unsafe { libc::memfd_create(c"ipctop-dev".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: zeroed stat is a valid out-buffer; fd is ours.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let ok = unsafe { libc::fstat(fd, &mut st) } == 0;
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };
    ok.then(|| (libc::major(st.st_dev), libc::minor(st.st_dev)))
}
