//! One process read relative to its /proc/PID descriptor, with one reused buffer.
use std::{
    ffi::CStr,
    io::{self, Write as _},
    os::fd::{AsFd, AsRawFd, OwnedFd},
};

use nix::{
    fcntl::{openat, OFlag, AT_FDCWD},
    sys::stat::Mode,
};

use super::{
    denied, in_target,
    parse::{ns_inode_of, parse_maps, parse_stat, PF_KTHREAD},
    taskclock::TaskClocks,
    waits::read_waits,
    ProcRead, ProcScan, ScanOptions,
};

/// Reads /proc files with one buffer, relative to a /proc/PID directory descriptor.
#[derive(Default)]
pub(super) struct Reader {
    buf: Vec<u8>,
    name: Vec<u8>,
    /// The CPUs' task clocks, read as sleeping threads need them.
    pub(super) clocks: TaskClocks,
}

impl Reader {
    /// /proc/PID as an O_PATH directory descriptor.
    pub(super) fn open_pid(&mut self, pid: u32) -> io::Result<OwnedFd> {
        self.name.clear();
        let _ = write!(self.name, "/proc/{pid}\0");
        self.open(None, OFlag::O_PATH | OFlag::O_DIRECTORY)
    }

    /// The file named in `self.name` (NUL-terminated), relative to `dir` (else to the current
    /// directory).
    pub(super) fn open(&self, dir: Option<&OwnedFd>, flags: OFlag) -> io::Result<OwnedFd> {
        let Ok(name) = CStr::from_bytes_with_nul(&self.name) else {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        };
        let dirfd = dir.map_or(AT_FDCWD, |d| d.as_fd());
        Ok(openat(
            dirfd,
            name,
            flags | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// Reads the whole file `name` (relative to `dir`) into the buffer.
    pub(super) fn read(&mut self, dir: &OwnedFd, name: &str) -> io::Result<&[u8]> {
        self.read_file(dir, name, false)
    }

    /// Reads a file that the kernel makes in one piece (a `proc_single_show` file: stat,
    /// syscall, wchan): a read that does not fill the buffer has returned all of it, so the
    /// read that would return 0 is spared.
    pub(super) fn read_one_piece(&mut self, dir: &OwnedFd, name: &str) -> io::Result<&[u8]> {
        self.read_file(dir, name, true)
    }

    pub(super) fn read_file(
        &mut self,
        dir: &OwnedFd,
        name: &str,
        one_piece: bool,
    ) -> io::Result<&[u8]> {
        self.name.clear();
        self.name.extend_from_slice(name.as_bytes());
        self.name.push(0);
        let f = std::fs::File::from(self.open(Some(dir), OFlag::O_RDONLY)?);
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
    pub(super) fn ns(&mut self, dir: &OwnedFd) -> io::Result<u64> {
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

    /// Whether the process of `dir` runs an ipctop: its executable is named `ipctop`, or is
    /// the very file this ipctop runs (a renamed copy). False when `exe` is not readable
    /// (another user's process without privilege, a kernel thread).
    pub(super) fn is_ipctop(&mut self, dir: &OwnedFd) -> bool {
        let mut target = [0u8; 4096];
        // SAFETY: a NUL-terminated relative path and a buffer of ours with its length.
        let n = unsafe {
            libc::readlinkat(
                dir.as_raw_fd(),
                c"exe".as_ptr(),
                target.as_mut_ptr().cast(),
                target.len(),
            )
        };
        n > 0 && is_ipctop_exe(&target[..n as usize])
    }

    /// Its command line, arguments joined by spaces (empty ones left out).
    pub(super) fn cmdline(&mut self, dir: &OwnedFd) -> Option<String> {
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

/// Whether an executable's path (as /proc/PID/exe shows it) is an ipctop's.
pub(super) fn is_ipctop_exe(path: &[u8]) -> bool {
    use std::os::unix::ffi::OsStrExt;
    static OURS: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();
    let path = path.strip_suffix(b" (deleted)").unwrap_or(path);
    let name = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
    if name == b"ipctop" {
        return true;
    }
    // A renamed copy of the running binary; test binaries (which embed the library) are
    // not ipctop, nor is ipctop-workload.
    let ours = OURS.get_or_init(|| {
        std::fs::read_link("/proc/self/exe")
            .ok()
            .map(|p| p.as_os_str().as_bytes().to_vec())
            .filter(|p| p.rsplit(|&c| c == b'/').next() == Some(&b"ipctop"[..]))
    });
    ours.as_deref() == Some(path)
}

/// One process: stat, owner, IPC namespace, attachments, waits and (when it matters) its
/// command line; `None` when it is gone.
pub(super) fn read_one(
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
            out.ns_denied.push(pid);
            None
        }
    };
    // The owner of /proc/PID (its effective uid), as procfs's Process::uid.
    let uid = nix::sys::stat::fstat(&dir).ok().map(|st| st.st_uid);
    let (state, num_threads, flags) = (stat.state, stat.num_threads, stat.flags);
    let mut r = ProcRead {
        pid,
        ppid: stat.ppid.max(0) as u32,
        comm: stat.comm,
        state: stat.state,
        uid,
        start_unix_ns,
        start_ticks: Some(stat.starttime),
        threads: stat.num_threads.clamp(0, u32::MAX as i64) as u32,
        observer: false,
        ipc_ns,
        attachments: None,
        waits: None,
        cmdline: None,
    };
    // Observers are known in every namespace (an ipctop in a container polls its own).
    r.observer = flags & PF_KTHREAD == 0 && rd.is_ipctop(&dir);
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
        Err(e) if denied(&e) => out.maps_denied.push(pid),
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
