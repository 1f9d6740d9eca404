//! 32-bit processes: finding them, and whether the probe's 32-bit path follows them.
//!
//! The per-syscall tracepoints never fire for the syscalls of 32-bit (compat) tasks, and
//! the raw tracepoints that see them run on every syscall of the machine. So in the
//! tracepoint mode the raw 32-bit path (`ipc_compat_enter`/`ipc_compat_exit`, which return at
//! once for anything but an i386 System V IPC or POSIX queue number of a compat task) is
//! attached only while 32-bit processes exist: a [`Watcher`] thread looks every
//! [`WATCH_EVERY`] and opens or closes the two raw tracepoints (closed only when none is left,
//! so that no 32-bit call is cut in two). The raw mode follows 32-bit tasks always (their
//! System V calls: it follows no POSIX queue call). A process is 32-bit when its executable
//! (/proc/PID/exe) is an ELFCLASS32 file.
use std::{
    ffi::CStr,
    fs, io,
    io::Read,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

/// How often the watcher looks for 32-bit processes.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Whether the probe follows the IPC calls of 32-bit processes, in words for the header and
/// `trace`'s start line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompatPath {
    /// The raw mode: every syscall passes the probe, 32-bit ones are told apart and followed.
    Raw { processes: usize },
    /// The tracepoint mode with the raw 32-bit path attached (`processes` at load; 0: it is
    /// attached when one appears).
    Watched { processes: usize },
    /// The tracepoint mode without it: there were no 32-bit processes at load time, or
    /// (`why`) its programs could not be loaded or attached.
    NotAttached {
        processes: usize,
        why: Option<String>,
    },
}

impl std::fmt::Display for CompatPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "es" };
        match *self {
            CompatPath::Raw { processes: n } => {
                write!(
                    f,
                    "32-bit calls followed too ({n} 32-bit process{} now)",
                    plural(n)
                )
            }
            CompatPath::Watched { processes: 0 } => write!(
                f,
                "no 32-bit processes: the 32-bit path is attached when one appears (looked \
                 for every {} s; --attach raw sees their first calls too)",
                WATCH_EVERY.as_secs()
            ),
            CompatPath::Watched { processes: n } => {
                write!(f, "32-bit path attached: {n} process{}", plural(n))
            }
            CompatPath::NotAttached {
                processes: n,
                ref why,
            } => {
                write!(
                    f,
                    "{n} 32-bit process{} {} not traced",
                    plural(n),
                    if n == 1 { "is" } else { "are" }
                )?;
                match why {
                    Some(why) => write!(f, " (the 32-bit path failed: {why})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The ELF class of an executable: 1 (32-bit), 2 (64-bit); `None`: not readable or not ELF.
pub fn elf_class(exe: &Path) -> Option<u8> {
    let mut head = [0u8; 5];
    fs::File::open(exe).ok()?.read_exact(&mut head).ok()?;
    (head[..4] == *b"\x7fELF").then_some(head[4])
}

/// The pids of the 32-bit processes running now (kernel threads and processes whose
/// executable cannot be read are left out).
pub fn processes_32bit() -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| elf_class(&Path::new("/proc").join(pid.to_string()).join("exe")) == Some(1))
        .collect();
    pids.sort_unstable();
    pids
}

/// [`processes_32bit`] for a watcher that looks again and again: an executable's class is
/// read once per (pid, executable): a look `stat`s /proc/PID/exe (no open, no read) and reads
/// only executables it has not seen for that pid (a pid that exec'd another program has
/// another one).
#[derive(Default)]
pub struct Scanner {
    seen: std::collections::HashMap<u32, ((u64, u64), bool)>,
}

impl Scanner {
    /// How many 32-bit processes run now.
    pub fn count(&mut self) -> usize {
        use std::os::unix::fs::MetadataExt;
        let Ok(dir) = fs::read_dir("/proc") else {
            return 0;
        };
        let mut now = std::collections::HashMap::with_capacity(self.seen.len());
        for pid in dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
            let exe = Path::new("/proc").join(pid.to_string()).join("exe");
            let Ok(m) = fs::metadata(&exe) else { continue };
            let file = (m.dev(), m.ino());
            let is32 = match self.seen.get(&pid) {
                Some(&(f, c)) if f == file => c,
                _ => elf_class(&exe) == Some(1),
            };
            now.insert(pid, (file, is32));
        }
        self.seen = now;
        self.seen.values().filter(|(_, c)| *c).count()
    }
}

/// `bpf(BPF_RAW_TRACEPOINT_OPEN)`: attaches the loaded program `prog` to the raw tracepoint
/// `name` until the returned fd is closed. (aya's attach needs the whole `Ebpf` mutably,
/// which the watcher thread cannot have.)
fn raw_tracepoint_open(name: &CStr, prog: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    #[repr(C)]
    struct Attr {
        name: u64,
        prog_fd: u32,
        _pad: u32,
    }
    let attr = Attr {
        name: name.as_ptr() as u64,
        prog_fd: prog.as_raw_fd() as u32,
        _pad: 0,
    };
    const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
    let fd = super::caps::bpf(BPF_RAW_TRACEPOINT_OPEN, &attr)?;
    // SAFETY: a new fd the kernel just gave us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The two programs of the 32-bit path, attached (their links) or not.
struct Path32 {
    enter: OwnedFd,
    exit: OwnedFd,
    links: Option<[OwnedFd; 2]>,
}

impl Path32 {
    fn attach(&mut self) -> io::Result<()> {
        if self.links.is_none() {
            let e = raw_tracepoint_open(c"sys_enter", self.enter.as_fd())?;
            let x = raw_tracepoint_open(c"sys_exit", self.exit.as_fd())?;
            self.links = Some([e, x]);
        }
        Ok(())
    }
}

/// The thread that attaches the 32-bit path while 32-bit processes exist. Ends (and closes
/// the path's links) when dropped.
pub struct Watcher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// 32-bit processes at the last look.
    pub processes: Arc<AtomicUsize>,
}

impl Watcher {
    /// Looks once now (attaching the path if 32-bit processes exist: an error here is the
    /// caller's), then every [`WATCH_EVERY`] on a thread of its own.
    pub fn start(enter: OwnedFd, exit: OwnedFd) -> io::Result<Watcher> {
        let mut path = Path32 {
            enter,
            exit,
            links: None,
        };
        let n = processes_32bit().len();
        if n > 0 {
            path.attach()?;
        }
        let processes = Arc::new(AtomicUsize::new(n));
        let seen = processes.clone();
        let (stop, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ipctop-32bit".into())
            .stack_size(256 << 10)
            .spawn(move || {
                let mut scan = Scanner::default();
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(WATCH_EVERY) {
                    let n = scan.count();
                    seen.store(n, Ordering::Relaxed);
                    if n > 0 {
                        // A failure is retried at the next look.
                        let _ = path.attach();
                    } else {
                        path.links = None;
                    }
                }
            })?;
        Ok(Watcher {
            stop: Some(stop),
            thread: Some(thread),
            processes,
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_classes() {
        let dir = std::env::temp_dir().join(format!("ipctop-elf-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            fs::write(&p, bytes).unwrap();
            p
        };
        assert_eq!(elf_class(&write("32", b"\x7fELF\x01\x01\x01")), Some(1));
        assert_eq!(elf_class(&write("64", b"\x7fELF\x02\x01\x01")), Some(2));
        assert_eq!(elf_class(&write("sh", b"#!/bin/sh\n")), None);
        assert_eq!(elf_class(&write("short", b"\x7fEL")), None);
        assert_eq!(elf_class(&dir.join("missing")), None);
        // This test binary is a 64-bit one.
        assert_eq!(elf_class(Path::new("/proc/self/exe")), Some(2));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_scanner_counts_what_a_full_look_finds_and_reads_less() {
        let mut scan = Scanner::default();
        let t = std::time::Instant::now();
        let full = processes_32bit().len();
        let t_full = t.elapsed();
        let first = scan.count();
        let t = std::time::Instant::now();
        let again = scan.count();
        let t_again = t.elapsed();
        // Processes come and go on a shared machine: the counts may differ by a few.
        assert!(
            first.abs_diff(full) <= 2 && again.abs_diff(full) <= 2,
            "{full} {first} {again}"
        );
        assert!(!scan.seen.is_empty());
        eprintln!(
            "full look {t_full:?}, cached look {t_again:?}, {} processes",
            scan.seen.len()
        );
    }

    #[test]
    fn in_words() {
        assert_eq!(
            CompatPath::Watched { processes: 2 }.to_string(),
            "32-bit path attached: 2 processes"
        );
        assert_eq!(
            CompatPath::NotAttached {
                processes: 1,
                why: Some("refused".into())
            }
            .to_string(),
            "1 32-bit process is not traced (the 32-bit path failed: refused)"
        );
    }
}
