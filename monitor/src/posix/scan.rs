//! The processes, for the POSIX layer: first who each is (stat, IPC and mount namespaces),
//! then — once the devices of the queues' and /dev/shm's filesystems are known — their
//! descriptors on those devices, their shared mappings and the calls their threads are
//! blocked in (futex waits, mq_timedsend/mq_timedreceive), on a few threads.
use std::{
    collections::{HashMap, HashSet},
    io::Read as _,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
};

use super::{
    parse::{fdinfo_flags, futex_waits, ns_link_inode, shared_maps, syscall_line, SharedMap},
    PosixProc,
};
use crate::snapshot::procs::taskclock::{sleep_stamp, TaskClocks};

/// A process as first read.
pub(super) struct Ident {
    pub p: PosixProc,
    pub state: char,
}

/// Every user process (kernel threads left out), by pid.
pub(super) struct Ids {
    pub procs: Vec<Ident>,
    /// Processes whose namespaces could not be read.
    pub ns_denied: Vec<u32>,
}

impl Ids {
    /// The IPC namespace of `pid`, if known.
    pub fn ipc_ns_of(&self, pid: u32) -> Option<u64> {
        self.get(pid)?.p.ipc_ns
    }
    /// The process `pid`.
    pub fn get(&self, pid: u32) -> Option<&Ident> {
        let i = self.procs.binary_search_by_key(&pid, |i| i.p.pid).ok()?;
        Some(&self.procs[i])
    }
}

/// PF_KTHREAD in /proc/PID/stat's flags.
const PF_KTHREAD: u64 = 0x0020_0000;

/// comm, state, flags, threads and start of a /proc/PID/stat.
fn stat_fields(b: &[u8]) -> Option<(String, char, u64, u32, u64)> {
    let open = b.iter().position(|&c| c == b'(')?;
    let close = b.iter().rposition(|&c| c == b')')?;
    let comm = String::from_utf8_lossy(b.get(open + 1..close)?).into_owned();
    let rest = std::str::from_utf8(b.get(close + 2..)?).ok()?;
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After ") ": index 0 is field 3 (state); flags 9, num_threads 20, starttime 22.
    Some((
        comm,
        f.first()?.chars().next()?,
        f.get(6)?.parse().ok()?,
        f.get(17)?.parse().ok()?,
        f.get(19)?.parse().ok()?,
    ))
}

fn link_inode(path: &str) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    ns_link_inode(std::fs::read_link(path).ok()?.as_os_str().as_bytes())
}

/// Who every process is.
pub(super) fn identities() -> Ids {
    let mut ids = Ids {
        procs: Vec::new(),
        ns_denied: Vec::new(),
    };
    for pid in crate::snapshot::procs::list_pids() {
        let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((comm, state, flags, threads, start)) = stat_fields(&stat) else {
            continue;
        };
        if flags & PF_KTHREAD != 0 || matches!(state, 'Z' | 'X') {
            continue;
        }
        let ipc_ns = link_inode(&format!("/proc/{pid}/ns/ipc"));
        let mnt_ns = link_inode(&format!("/proc/{pid}/ns/mnt"));
        if ipc_ns.is_none() || mnt_ns.is_none() {
            if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                ids.ns_denied.push(pid);
            } else {
                continue;
            }
        }
        ids.procs.push(Ident {
            p: PosixProc {
                pid,
                comm,
                start_ticks: start,
                ipc_ns,
                mnt_ns,
                threads,
            },
            state,
        });
    }
    ids
}

/// A descriptor on a device of interest.
#[derive(Clone, Debug)]
pub(super) struct FdUse {
    pub pid: u32,
    pub fd: u32,
    pub dev: u64,
    pub ino: u64,
    pub access: &'static str,
}

/// A blocked call of interest.
#[derive(Clone, Copy, Debug)]
pub(super) enum Call {
    Futex { addr: u64, op: u64, val: u64 },
    Mq { fd: u32, send: bool },
}

/// A thread in such a call.
#[derive(Clone, Debug)]
pub(super) struct TaskCall {
    pub pid: u32,
    pub tid: u32,
    pub call: Call,
    pub asleep_since_unix_ns: Option<u64>,
}

/// What the scan found.
#[derive(Default)]
pub(super) struct Scanned {
    pub fds: Vec<FdUse>,
    /// Each process's shared mappings.
    pub maps: HashMap<u32, Vec<SharedMap>>,
    pub calls: Vec<TaskCall>,
    pub fd_denied: Vec<u32>,
    pub maps_denied: Vec<u32>,
    pub calls_denied: Vec<u32>,
}

fn denied(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM))
}

/// "r", "w" or "rw" from open flags.
fn access(flags: u32) -> &'static str {
    match flags as i32 & libc::O_ACCMODE {
        libc::O_RDONLY => "r",
        libc::O_WRONLY => "w",
        _ => "rw",
    }
}

/// Whether the process runs a 32-bit executable (ELF class 1).
fn is_32bit(pid: u32) -> bool {
    let mut head = [0u8; 5];
    std::fs::File::open(format!("/proc/{pid}/exe"))
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head[..4] == *b"\x7fELF"
        && head[4] == 1
}

/// The call of a syscall line, if it is one of ours (x86-64 numbers, and i386's for a 32-bit
/// process: futex 240, futex_time64 422, mq_timedsend 279 / 418, mq_timedreceive 280 / 419).
fn call_of(pid: u32, nr: i64, a: &[u64; 6], compat: &mut Option<bool>) -> Option<Call> {
    let mut is32 = || *compat.get_or_insert_with(|| is_32bit(pid));
    let futex = |a: &[u64; 6]| {
        futex_waits(a[1]).then_some(Call::Futex {
            addr: a[0],
            op: a[1],
            val: a[2],
        })
    };
    let mq = |send| {
        Some(Call::Mq {
            fd: a[0] as u32,
            send,
        })
    };
    match nr {
        202 => futex(a),
        242 => mq(true),
        243 => mq(false),
        422 => futex(a),
        418 => mq(true),
        419 => mq(false),
        240 if is32() => futex(a),
        279 if is32() => mq(true),
        280 if is32() => mq(false),
        _ => None,
    }
}

fn scan_one(id: &Ident, devs: &HashSet<u64>, clocks: &mut TaskClocks, out: &mut Scanned) {
    let pid = id.p.pid;
    let base = format!("/proc/{pid}");
    match std::fs::read_dir(format!("{base}/fd")) {
        Ok(dir) => {
            let mut refused = false;
            for e in dir {
                let e = match e {
                    Ok(e) => e,
                    Err(e) => {
                        refused |= denied(&e);
                        continue;
                    }
                };
                let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                let st = match nix::sys::stat::stat(&e.path()) {
                    Ok(st) => st,
                    Err(e) => {
                        refused |=
                            matches!(e, nix::errno::Errno::EACCES | nix::errno::Errno::EPERM);
                        continue;
                    }
                };
                if !devs.contains(&st.st_dev) {
                    continue;
                }
                let flags = std::fs::read(format!("{base}/fdinfo/{fd}"))
                    .ok()
                    .and_then(|b| fdinfo_flags(&b))
                    .unwrap_or(libc::O_RDWR as u32);
                out.fds.push(FdUse {
                    pid,
                    fd,
                    dev: st.st_dev,
                    ino: st.st_ino,
                    access: access(flags),
                });
            }
            if refused {
                out.fd_denied.push(pid);
            }
        }
        Err(e) if denied(&e) => out.fd_denied.push(pid),
        Err(_) => return,
    }
    match std::fs::read(format!("{base}/maps")) {
        Ok(text) => {
            let m = shared_maps(&text);
            if !m.is_empty() {
                out.maps.insert(pid, m);
            }
        }
        Err(e) if denied(&e) => out.maps_denied.push(pid),
        Err(_) => return,
    }
    if id.p.threads <= 1 && id.state == 'R' {
        return;
    }
    let tids: Vec<u32> = match std::fs::read_dir(format!("{base}/task")) {
        Ok(d) => d
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => return,
    };
    let mut compat = None;
    let mut any_denied = false;
    for tid in tids {
        let t = format!("{base}/task/{tid}");
        let line = match std::fs::read(format!("{t}/syscall")) {
            Ok(b) => b,
            Err(e) => {
                any_denied |= denied(&e);
                continue;
            }
        };
        let Some((nr, a)) = syscall_line(&line) else {
            continue;
        };
        let Some(call) = call_of(pid, nr, &a, &mut compat) else {
            continue;
        };
        let asleep_since_unix_ns = asleep_since(&t, clocks);
        out.calls.push(TaskCall {
            pid,
            tid,
            call,
            asleep_since_unix_ns,
        });
    }
    if any_denied {
        out.calls_denied.push(pid);
    }
}

/// When the thread at `/proc/…/task/TID` (`t`) went to sleep at the latest (unix ns), from
/// the clock of the CPU it last ran on ([`sleep_stamp`]).
fn asleep_since(t: &str, clocks: &mut TaskClocks) -> Option<u64> {
    let (cpu, stamp) =
        sleep_stamp(|name, parse| parse(&std::fs::read(format!("{t}/{name}")).ok()?))?;
    clocks.since(cpu, stamp).map(|s| s.unix)
}

/// Scans every process (on up to 4 threads); says what permissions hid.
pub(super) fn scan(
    ids: &Ids,
    devs: &HashSet<u64>,
    _unix_ns: u64,
    unknowns: &mut Vec<String>,
) -> Scanned {
    let next = AtomicUsize::new(0);
    let all = Mutex::new(Scanned::default());
    let me = std::process::id();
    std::thread::scope(|s| {
        for _ in 0..crate::snapshot::procs::threads() {
            s.spawn(|| {
                let mut clocks = TaskClocks::default();
                let mut part = Scanned::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(id) = ids.procs.get(i) else {
                        break;
                    };
                    if id.p.pid != me {
                        scan_one(id, devs, &mut clocks, &mut part);
                    }
                }
                if let Ok(mut a) = all.lock() {
                    a.fds.append(&mut part.fds);
                    a.maps.extend(part.maps);
                    a.calls.append(&mut part.calls);
                    a.fd_denied.append(&mut part.fd_denied);
                    a.maps_denied.append(&mut part.maps_denied);
                    a.calls_denied.append(&mut part.calls_denied);
                }
            });
        }
    });
    let mut out = all.into_inner().unwrap_or_default();
    out.calls.sort_by_key(|c| (c.pid, c.tid));
    out.fds.sort_by_key(|f| (f.pid, f.fd));
    // SAFETY: geteuid has no preconditions.
    let why = if unsafe { libc::geteuid() } == 0 {
        "not readable even as root (ptrace access refused: another user namespace, or a \
         protected process)"
    } else {
        "reading another user's /proc/PID files needs ptrace access (run as root)"
    };
    for (v, what) in [
        (&mut out.fd_denied, "descriptors (/proc/PID/fd)"),
        (&mut out.maps_denied, "shared mappings (/proc/PID/maps)"),
        (
            &mut out.calls_denied,
            "blocked calls (/proc/PID/task/*/syscall)",
        ),
        (&mut ids.ns_denied.clone(), "namespaces (/proc/PID/ns)"),
    ] {
        if !v.is_empty() {
            v.sort_unstable();
            unknowns.push(format!(
                "the {what} of {} process(es) (pids {}): {why}",
                v.len(),
                v.iter()
                    .take(16)
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
    }
    out
}

/// The inode of our own IPC namespace.
pub(super) fn own_ipc_ns() -> Option<u64> {
    link_inode("/proc/self/ns/ipc")
}
