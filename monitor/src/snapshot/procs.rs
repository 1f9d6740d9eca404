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
    ffi::CStr,
    fmt::Write as _,
    io::{self, Write as _},
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::Path,
    sync::atomic::{AtomicUsize, Ordering},
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
    ns_inode_of(target.as_os_str().as_bytes())
}

fn ns_inode_of(target: &[u8]) -> io::Result<u64> {
    std::str::from_utf8(target)
        .ok()
        .and_then(|s| s.strip_prefix("ipc:["))
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("odd ns link {:?}", String::from_utf8_lossy(target)),
            )
        })
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
            out.ns_denied += p.ns_denied;
            out.maps_denied += p.maps_denied;
            out.syscall_denied += p.syscall_denied;
            out.sops_denied += p.sops_denied;
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

/// The fields of /proc/PID/stat that are used.
struct Stat {
    comm: String,
    state: char,
    ppid: i32,
    flags: u64,
    num_threads: i64,
    starttime: u64,
}

/// The PF_KTHREAD bit of the flags in /proc/PID/stat.
const PF_KTHREAD: u64 = 0x0020_0000;

/// Parses /proc/PID/stat: "pid (comm) state ppid …"; `None` when it is not like that.
fn parse_stat(b: &[u8]) -> Option<Stat> {
    let open = b.iter().position(|&c| c == b'(')?;
    let close = b.iter().rposition(|&c| c == b')')?;
    if close < open {
        return None;
    }
    let comm = String::from_utf8_lossy(&b[open + 1..close]).into_owned();
    // After ") ": field 3 (state) is index 0.
    let mut f = b.get(close + 2..)?.split(|&c| c == b' ' || c == b'\n');
    let mut nth = |n: usize| f.nth(n).and_then(|v| std::str::from_utf8(v).ok());
    let state = nth(0)?.chars().next()?;
    let ppid = nth(0)?.parse().ok()?; // 4
    let flags = nth(4)?.parse().ok()?; // 9
    let num_threads = nth(10)?.parse().ok()?; // 20
    let starttime = nth(1)?.parse().ok()?; // 22
    Some(Stat {
        comm,
        state,
        ppid,
        flags,
        num_threads,
        starttime,
    })
}

/// The SYSV mappings among the lines of /proc/PID/maps ("start-end perms offset dev inode
/// path"; SysV segments are "/SYSV<key> (deleted)", their inode the shmid). Odd lines are
/// skipped.
fn parse_maps(text: &[u8]) -> Vec<MapAttach> {
    let mut v = Vec::new();
    for line in text.split(|&c| c == b'\n') {
        let mut f = line.split(|&c| c == b' ').filter(|x| !x.is_empty());
        let (Some(addr), Some(perms), Some(_off), Some(dev), Some(inode), Some(path)) =
            (f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        if !path.starts_with(b"/SYSV") {
            continue;
        }
        let s = |b| std::str::from_utf8(b).ok();
        let parse = || -> Option<MapAttach> {
            let (start, end) = s(addr)?.split_once('-')?;
            let (maj, min) = s(dev)?.split_once(':')?;
            Some(MapAttach {
                shmid: s(inode)?.parse::<u64>().ok()? as i32,
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                dev: (
                    u32::from_str_radix(maj, 16).ok()?,
                    u32::from_str_radix(min, 16).ok()?,
                ),
                writable: perms.get(1) == Some(&b'w'),
            })
        };
        if let Some(m) = parse() {
            v.push(m);
        }
    }
    v
}

/// One line of /proc/PID/task/TID/syscall: the number and six argument registers of the call
/// the task is blocked in; `None` for "running", "-1 …" (not in a call) or anything odd.
fn parse_syscall(b: &[u8]) -> Option<(i64, [u64; 6])> {
    let s = std::str::from_utf8(b).ok()?;
    let mut f = s.split_ascii_whitespace();
    let nr: i64 = f.next()?.parse().ok()?;
    let mut a = [0u64; 6];
    for x in &mut a {
        let v = f.next()?;
        *x = u64::from_str_radix(v.strip_prefix("0x").unwrap_or(v), 16).ok()?;
    }
    Some((nr, a))
}

/// Reads /proc files with one buffer, relative to a /proc/PID directory descriptor.
#[derive(Default)]
struct Reader {
    buf: Vec<u8>,
    name: Vec<u8>,
}

impl Reader {
    /// /proc/PID as an O_PATH directory descriptor.
    fn open_pid(&mut self, pid: u32) -> io::Result<OwnedFd> {
        self.name.clear();
        let _ = write!(self.name, "/proc/{pid}\0");
        self.open(None, libc::O_PATH | libc::O_DIRECTORY)
    }

    fn open(&self, dir: Option<&OwnedFd>, flags: i32) -> io::Result<OwnedFd> {
        let Ok(name) = CStr::from_bytes_with_nul(&self.name) else {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        };
        let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
        // SAFETY: a NUL-terminated path; the fd returned is owned below.
        let fd = unsafe { libc::openat(dirfd, name.as_ptr(), flags | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd of ours.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Reads the whole file `name` (relative to `dir`) into the buffer.
    fn read(&mut self, dir: &OwnedFd, name: &str) -> io::Result<&[u8]> {
        self.read_file(dir, name, false)
    }

    /// Reads a file that the kernel makes in one piece (a `proc_single_show` file: stat,
    /// syscall, wchan): a read that does not fill the buffer has returned all of it, so the
    /// read that would return 0 is spared.
    fn read_one_piece(&mut self, dir: &OwnedFd, name: &str) -> io::Result<&[u8]> {
        self.read_file(dir, name, true)
    }

    fn read_file(&mut self, dir: &OwnedFd, name: &str, one_piece: bool) -> io::Result<&[u8]> {
        self.name.clear();
        self.name.extend_from_slice(name.as_bytes());
        self.name.push(0);
        let f = std::fs::File::from(self.open(Some(dir), libc::O_RDONLY)?);
        self.buf.clear();
        if self.buf.capacity() < 4096 {
            self.buf.reserve(4096);
        }
        loop {
            if self.buf.capacity() - self.buf.len() < 1024 {
                self.buf.reserve(self.buf.capacity());
            }
            let spare = self.buf.spare_capacity_mut();
            let spare_len = spare.len();
            // SAFETY: reading into the spare capacity of our buffer, within its length.
            let n = unsafe { libc::read(f.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
            match n {
                0 => break,
                n if n > 0 => {
                    // SAFETY: the kernel initialised these n bytes.
                    unsafe { self.buf.set_len(self.buf.len() + n as usize) };
                    if one_piece && (n as usize) < spare_len {
                        break;
                    }
                }
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
        Ok(&self.buf)
    }

    /// The IPC namespace inode of the process of `dir`.
    fn ns(&mut self, dir: &OwnedFd) -> io::Result<u64> {
        let mut target = [0u8; 64];
        // SAFETY: a NUL-terminated relative path and a buffer of ours with its length.
        let n = unsafe {
            libc::readlinkat(
                dir.as_raw_fd(),
                c"ns/ipc".as_ptr(),
                target.as_mut_ptr().cast(),
                target.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        ns_inode_of(&target[..n as usize])
    }

    /// Its command line, arguments joined by spaces (empty ones left out).
    fn cmdline(&mut self, dir: &OwnedFd) -> Option<String> {
        let b = self.read(dir, "cmdline").ok()?;
        let mut s = String::with_capacity(b.len());
        for a in b.split(|&c| c == 0).filter(|a| !a.is_empty()) {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&String::from_utf8_lossy(a));
        }
        Some(s)
    }
}

fn read_one(
    rd: &mut Reader,
    pid: u32,
    opts: &ScanOptions,
    tck: u64,
    out: &mut ProcScan,
) -> Option<ProcRead> {
    let dir = rd.open_pid(pid).ok()?;
    let stat = parse_stat(rd.read_one_piece(&dir, "stat").ok()?)?;
    let start_unix_ns =
        Some(opts.boot_unix_ns + (stat.starttime as u128 * 1_000_000_000 / tck as u128) as u64);
    let ipc_ns = match rd.ns(&dir) {
        Ok(n) => Some(n),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(_) => {
            out.ns_denied += 1;
            None
        }
    };
    // The owner of /proc/PID (its effective uid), as procfs's Process::uid.
    // SAFETY: a zeroed stat is a valid out-buffer; dir is our fd.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let uid = (unsafe { libc::fstat(dir.as_raw_fd(), &mut st) } == 0).then_some(st.st_uid);
    let (state, num_threads, flags) = (stat.state, stat.num_threads, stat.flags);
    let mut r = ProcRead {
        pid,
        ppid: stat.ppid.max(0) as u32,
        comm: stat.comm,
        state: stat.state,
        uid,
        start_unix_ns,
        ipc_ns,
        attachments: None,
        waits: None,
        cmdline: None,
    };
    if !in_target(opts.target_ns, ipc_ns) || matches!(state, 'Z' | 'X') {
        return Some(r);
    }
    if flags & PF_KTHREAD != 0 {
        // A kernel thread has no memory map of its own and makes no system calls.
        r.attachments = Some(Vec::new());
        r.waits = Some(Vec::new());
        return Some(r);
    }
    match rd.read(&dir, "maps") {
        Ok(text) => r.attachments = Some(parse_maps(text)),
        Err(e) if denied(&e) => out.maps_denied += 1,
        Err(_) => return None,
    }
    r.waits = read_waits(rd, &dir, pid, state, num_threads, out);
    let wanted = r.attachments.as_ref().is_some_and(|a| !a.is_empty())
        || r.waits.as_ref().is_some_and(|w| !w.is_empty())
        || opts.interesting.contains(&pid);
    if wanted {
        r.cmdline = rd.cmdline(&dir);
    }
    Some(r)
}

fn read_waits(
    rd: &mut Reader,
    dir: &OwnedFd,
    pid: u32,
    state: char,
    num_threads: i64,
    out: &mut ProcScan,
) -> Option<Vec<TaskWait>> {
    let single = num_threads <= 1;
    if single && state == 'R' {
        // Its one thread is running: it is not blocked in any call.
        return Some(Vec::new());
    }
    // One thread: its files are /proc/PID/{syscall,wchan}; no need to list task/.
    let tids: Vec<u32> = if single {
        vec![pid]
    } else {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect()
    };
    let mut waits = Vec::new();
    let mut denied_any = false;
    let mut path = String::new();
    for tid in tids {
        path.clear();
        if !single {
            let _ = write!(path, "task/{tid}/");
        }
        let base = path.len();
        path.push_str("syscall");
        let sc = match rd.read_one_piece(dir, &path) {
            Ok(b) => parse_syscall(b),
            Err(e) => {
                denied_any |= denied(&e);
                continue;
            }
        };
        let Some((nr, a)) = sc else {
            continue;
        };
        let call = match nr {
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
        path.truncate(base);
        path.push_str("wchan");
        let wchan = rd
            .read_one_piece(dir, &path)
            .ok()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .filter(|w| !w.is_empty() && w != "0");
        waits.push(TaskWait { tid, call, wchan });
    }
    if denied_any && waits.is_empty() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_even_with_odd_comms() {
        let line = b"4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 110 0 0 0 1 2 0 0 20 0 3 0 987654 \
                     2478080 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.comm, "a) b (c)");
        assert_eq!((s.state, s.ppid, s.flags), ('S', 1, 4194560));
        assert_eq!((s.num_threads, s.starttime), (3, 987654));
        let kthread = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 \
                        18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0";
        let s = parse_stat(kthread).unwrap();
        assert_ne!(s.flags & PF_KTHREAD, 0);
        for bad in [
            &b""[..],
            b"1 (x",
            b"1 x) S",
            b"1 (x) S",
            b"1 (x) S 1 2 3",
            b")(",
        ] {
            assert!(parse_stat(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn only_sysv_mappings() {
        let maps =
            b"55923259a000-559232607000 r--p 00000000 fe:00 5367244                    /usr/bin/x
7f9a95dae000-7f9a95daf000 rw-s 00000000 00:01 1                          /SYSV00000000 (deleted)
7f9a95daf000-7f9a95db0000 r--s 00000000 00:01 65538                      /SYSV12345678 (deleted)
7f9a95db0000-7f9a95db1000 ---p 00000000 00:00 0 
7f9a95db1000-7f9a95db3000 rw-s 00000000 00:01 7                          /dev/zero (deleted)
7f0000000000-7f0000200000 rw-s 00000000 00:10 98304                      /SYSV00000001 (deleted)
zzzz-7f0000200000 rw-s 00000000 00:10 98304                      /SYSV00000001 (deleted)
7f9a95dbb000-7f9a95dbd000 r-xp 00000000 00:00 0                          [vdso]";
        let v = parse_maps(maps);
        assert_eq!(
            v,
            [
                MapAttach {
                    shmid: 1,
                    start: 0x7f9a95dae000,
                    end: 0x7f9a95daf000,
                    dev: (0, 1),
                    writable: true
                },
                MapAttach {
                    shmid: 65538,
                    start: 0x7f9a95daf000,
                    end: 0x7f9a95db0000,
                    dev: (0, 1),
                    writable: false
                },
                MapAttach {
                    shmid: 98304,
                    start: 0x7f0000000000,
                    end: 0x7f0000200000,
                    dev: (0, 0x10),
                    writable: true
                },
            ]
        );
        assert!(parse_maps(b"").is_empty());
        assert!(parse_maps(b"\n\n /SYSV\n\xff\xfe /SYSV").is_empty());
    }

    #[test]
    fn syscall_lines() {
        let blocked = b"64 0x8001 0x7ffd1234 0x1 0x0 0x0 0x0 0x7ffd0000 0x7f00deadbeef\n";
        assert_eq!(
            parse_syscall(blocked),
            Some((64, [0x8001, 0x7ffd1234, 1, 0, 0, 0]))
        );
        assert_eq!(parse_syscall(b"running\n"), None);
        assert_eq!(parse_syscall(b"-1 0x7ffd0000 0x7f00deadbeef\n"), None);
        assert_eq!(parse_syscall(b""), None);
        assert_eq!(parse_syscall(b"64 0xzz 0x1 0x1 0x1 0x1 0x1"), None);
    }

    #[test]
    fn ns_links() {
        assert_eq!(ns_inode_of(b"ipc:[4026531839]").unwrap(), 4026531839);
        assert!(ns_inode_of(b"net:[4026531839]").is_err());
        assert!(ns_inode_of(b"ipc:[x]").is_err());
    }
}
