//! Stopping and detaching. Closing a per-syscall tracepoint's perf event waits in the kernel
//! for RCU grace periods under a mutex (`perf_trace_destroy`): the 24 close one after
//! another, 30–80 ms each here, ~1–2 s in all, whether from one thread or 24.
//!
//! So the probe is stopped, not waited for: a flag the programs read first (`STOPPED`) is
//! set, then one RCU grace period (`membarrier(MEMBARRIER_CMD_GLOBAL)`, ~8 ms here) makes sure
//! no program that read it unset still runs — from then on the counts are final. The
//! attachments are then handed to a child process of our own, `ipctop-detach`, which holds
//! nothing else and ends as soon as ipctop has closed its own references (at once), so that
//! the kernel's slow closing is the child's exit, in the background: ipctop goes on (and
//! ends) at once. Until the child has ended, the
//! programs still run but return at their first instruction. Where any of that cannot be
//! had, the links are closed here, from one thread each (slow, as the kernel makes it).

use std::os::fd::RawFd;

use aya::maps::{Array, MapData};

/// The probe's attachments (tracepoint links of either kind), owned apart from the programs
/// so that they can be closed from elsewhere, and the programs' stop flag.
#[derive(Default)]
pub(super) struct Links {
    links: Vec<Box<dyn Send>>,
    watcher: Option<super::compat::Watcher>,
    stop: Option<Array<MapData, u32>>,
}

/// A handle that detaches a probe from another thread or task than the one that owns it
/// (the live source's owner, when it ends, while a task owns the probe).
#[derive(Clone)]
pub struct Detacher(pub(super) std::sync::Arc<std::sync::Mutex<Links>>);

impl Detacher {
    /// Stops and detaches every program (see [`super::Probe::detach`]); idempotent.
    pub fn detach(&self) {
        if let Ok(mut links) = self.0.lock() {
            links.detach_all(true);
        }
    }
}

impl Links {
    pub(super) fn push(&mut self, link: impl Send + 'static) {
        self.links.push(Box::new(link));
    }

    /// The 32-bit path's watcher (its thread attaches and closes that path's links).
    pub(super) fn watch(&mut self, w: super::compat::Watcher) {
        self.watcher = Some(w);
    }

    /// The programs' `STOPPED` flag.
    pub(super) fn stop_flag(&mut self, flag: Array<MapData, u32>) {
        self.stop = Some(flag);
    }

    /// Stops every program and detaches it. `exact`: returns only once no program can still
    /// count or send anything (the caller reads the final counts next).
    pub(super) fn detach_all(&mut self, exact: bool) {
        let links = std::mem::take(&mut self.links);
        let watcher = self.watcher.take();
        if links.is_empty() && watcher.is_none() {
            return;
        }
        let stopped = self.stop.as_mut().is_some_and(|f| f.set(0, 1, 0).is_ok());
        if stopped && (!exact || grace_period()) {
            if let Ok(done) = hand_off() {
                // The child holds every attachment: ours are only references now, closed at
                // once (the watcher's thread, too, closes its own); then the child may go.
                drop(watcher);
                drop(links);
                drop(done);
                return;
            }
        }
        // Its thread closes the 32-bit path's links (if attached) as it ends.
        let watcher = watcher.map(|w| Box::new(w) as Box<dyn Send>);
        std::thread::scope(|s| {
            for link in links.into_iter().chain(watcher) {
                // A thread that cannot be started drops its closure, and so closes the link,
                // right here.
                let _ = std::thread::Builder::new()
                    .name("ipctop-detach".into())
                    .stack_size(64 << 10)
                    .spawn_scoped(s, move || drop(link));
            }
        });
    }
}

impl Drop for Links {
    fn drop(&mut self) {
        // Nobody reads the counts after this: no need to wait for the programs to stop.
        self.detach_all(false);
    }
}

/// Waits for one RCU grace period: every BPF program running when the flag was set has
/// returned. `false`: the kernel will not (`membarrier` refused, e.g. with nohz_full CPUs).
fn grace_period() -> bool {
    // MEMBARRIER_CMD_GLOBAL: synchronize_rcu() in the kernel. nix has no wrapper.
    const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
    // SAFETY: a syscall without pointers.
    unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0 }
}

/// The descriptors whose closing is the kernel's slow detach: BPF links (a per-syscall
/// tracepoint's perf event is closed with its link) and bare perf events (kernels without
/// perf links). Sorted.
fn attachments() -> std::io::Result<Vec<RawFd>> {
    let mut fds = Vec::new();
    for e in std::fs::read_dir("/proc/self/fd")? {
        let e = e?;
        let Some(fd) = e.file_name().to_str().and_then(|n| n.parse::<RawFd>().ok()) else {
            continue;
        };
        if let Ok(target) = std::fs::read_link(e.path()) {
            let t = target.as_os_str().as_encoded_bytes();
            if t == b"anon_inode:bpf_link" || t == b"anon_inode:[perf_event]" {
                fds.push(fd);
            }
        }
    }
    fds.sort_unstable();
    Ok(fds)
}

/// Starts the child that keeps the attachments until the returned pipe end is dropped (see
/// the module comment): drop it once this process's own references are closed. `Err`: no
/// child (then nothing was handed over).
fn hand_off() -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::AsRawFd;
    let (done_r, done_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let mut keep = attachments()?;
    keep.push(done_r.as_raw_fd());
    keep.sort_unstable();
    // Forked twice, so that the keeper is nobody's child (init reaps it) and this process,
    // which may go on for long (a test), collects no zombie.
    // SAFETY: the children only make system calls (async-signal-safe) and never return.
    let child = unsafe { libc::fork() };
    match child {
        -1 => return Err(std::io::Error::last_os_error()),
        0 => unsafe {
            if libc::fork() == 0 {
                keeper(&keep, done_r.as_raw_fd());
            }
            // The keeper started, or not (then the attachments are closed by their last
            // holder, this process's parent).
            libc::_exit(0)
        },
        _ => {}
    }
    while let Err(nix::errno::Errno::EINTR) =
        nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None)
    {}
    Ok(done_w)
}

/// The child: closes every descriptor but `keep` (the terminal, pipes, sockets and files
/// must not outlive ipctop), waits until the parent has closed its end of the pipe `done`
/// (its own references to the attachments are gone by then) or ended, and ends, its exit
/// closing the attachments. Only system calls: it is the child of a multi-threaded process.
///
/// # Safety
/// Call only in a freshly forked child; `keep` sorted.
unsafe fn keeper(keep: &[RawFd], done: RawFd) -> ! {
    unsafe {
        // Signals as a plain process has them (the parent's handlers write to pipes that are
        // closed here): Ctrl-C or kill end it, which closes the attachments just the same.
        for sig in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGPIPE,
        ] {
            libc::signal(sig, libc::SIG_DFL);
        }
        let mut none: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, core::ptr::null_mut());
        libc::prctl(libc::PR_SET_NAME, c"ipctop-detach".as_ptr(), 0, 0, 0);
        let mut next: u32 = 0;
        for &fd in keep {
            let fd = fd as u32;
            if fd > next {
                close_range(next, fd - 1);
            }
            next = fd + 1;
        }
        close_range(next, u32::MAX);
        // End of file (or an error): the parent's references are gone.
        let mut b = 0u8;
        while libc::read(done, (&raw mut b).cast(), 1) < 0
            && *libc::__errno_location() == libc::EINTR
        {}
        libc::_exit(0)
    }
}

/// Closes the descriptors `first..=last`.
///
/// # Safety
/// Only where those descriptors are not used any more.
unsafe fn close_range(first: u32, last: u32) {
    unsafe {
        if libc::syscall(libc::SYS_close_range, first, last, 0) == 0 {
            return;
        }
        // Kernels before 5.9: one by one, up to the usual descriptor limit.
        for fd in first..=last.min(1 << 16) {
            libc::close(fd as RawFd);
        }
    }
}
