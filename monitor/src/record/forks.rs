//! The recorded command's process tree as it grows: the kernel's fork events (the proc
//! connector, a netlink socket root may listen on), filtered to the processes forked from the
//! command's, however short-lived. A child that lives 20 ms between two snapshots is still
//! known as the command's.
//!
//! Listening starts before the command does; the command's pid is given once it runs. The
//! forks seen meanwhile are kept until then (a few milliseconds' worth). The first fork
//! reported is the command's own (`(ipctop, command)`): a reader knows from it that the
//! events came.
use std::{
    collections::BTreeSet,
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::{
        atomic::{AtomicBool, AtomicU32, Ordering},
        mpsc, Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_EVENT_FORK: u32 = 1;
const NLMSG_HDRLEN: usize = 16;
const CN_MSG_LEN: usize = 20;

/// A process forked from the command's: `(parent, child)` (thread group ids).
pub type Fork = (u32, u32);

/// Follows the forks of a command's process tree on a thread of its own.
pub struct ForkFollower {
    root: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    rx: mpsc::Receiver<Fork>,
    thread: Option<JoinHandle<()>>,
}

impl ForkFollower {
    /// Starts listening (root only; an error says why not, e.g. another PID namespace).
    pub fn start() -> io::Result<ForkFollower> {
        let sock = listen()?;
        let root = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (r, s) = (root.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("ipctop-forks".into())
            .spawn(move || follow(sock, &r, &s, &tx))?;
        Ok(ForkFollower {
            root,
            stop,
            rx,
            thread: Some(thread),
        })
    }

    /// The command runs as `pid`: follow its tree from now on.
    pub fn set_root(&self, pid: u32) {
        self.root.store(pid, Ordering::SeqCst);
    }

    /// The forks in the command's tree seen since the last call.
    pub fn take(&self) -> Vec<Fork> {
        self.rx.try_iter().collect()
    }
}

impl Drop for ForkFollower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A proc connector socket subscribed to process events.
fn listen() -> io::Result<OwnedFd> {
    // SAFETY: plain socket calls on a descriptor this function owns; the structures passed
    // are fully initialised and their sizes given.
    unsafe {
        let fd = cvt(libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_CONNECTOR,
        ))?;
        let sock = OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_nl = std::mem::zeroed();
        addr.nl_family = libc::AF_NETLINK as u16;
        addr.nl_groups = CN_IDX_PROC;
        cvt(libc::bind(
            fd,
            &addr as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        ))?;
        // Room for bursts of forks (as root, past rmem_max).
        let big: libc::c_int = 4 << 20;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &big as *const _ as *const libc::c_void,
            4,
        );
        // Wake up now and then to see whether to stop.
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        cvt(libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        ))?;
        let mut msg = [0u8; NLMSG_HDRLEN + CN_MSG_LEN + 4];
        let len = msg.len() as u32;
        msg[0..4].copy_from_slice(&len.to_ne_bytes());
        msg[4..6].copy_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
        msg[12..16].copy_from_slice(&std::process::id().to_ne_bytes());
        let cn = NLMSG_HDRLEN;
        msg[cn..cn + 4].copy_from_slice(&CN_IDX_PROC.to_ne_bytes());
        msg[cn + 4..cn + 8].copy_from_slice(&CN_VAL_PROC.to_ne_bytes());
        msg[cn + 16..cn + 18].copy_from_slice(&4u16.to_ne_bytes());
        msg[cn + CN_MSG_LEN..].copy_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
        let n = libc::send(fd, msg.as_ptr() as *const libc::c_void, msg.len(), 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sock)
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A fork event's `(parent tgid, child tgid)` for a new process (not a new thread).
fn fork_of(msg: &[u8]) -> Option<Fork> {
    let ev = NLMSG_HDRLEN + CN_MSG_LEN;
    if u32_at(msg, ev)? != PROC_EVENT_FORK {
        return None;
    }
    // what, cpu, timestamp_ns (8), then parent_pid, parent_tgid, child_pid, child_tgid.
    let data = ev + 16;
    let (parent_tgid, child_pid, child_tgid) = (
        u32_at(msg, data + 4)?,
        u32_at(msg, data + 8)?,
        u32_at(msg, data + 12)?,
    );
    (child_pid == child_tgid).then_some((parent_tgid, child_tgid))
}

fn follow(sock: OwnedFd, root: &AtomicU32, stop: &AtomicBool, tx: &mpsc::Sender<Fork>) {
    let mut tree: BTreeSet<u32> = BTreeSet::new();
    // Forks seen before the command's pid was known.
    let mut early: Vec<Fork> = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    // The command's own fork (by ipctop) is sent too: it shows the events do arrive (in a
    // container's PID namespace, say, none would).
    let take = |f: Fork, tree: &mut BTreeSet<u32>| {
        let own = root.load(Ordering::SeqCst) == f.1;
        if own || (tree.contains(&f.0) && tree.insert(f.1)) {
            let _ = tx.send(f);
        }
    };
    while !stop.load(Ordering::SeqCst) {
        // SAFETY: reading into a buffer of the length given.
        let n = unsafe {
            libc::recv(
                sock.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        if tree.is_empty() {
            let r = root.load(Ordering::SeqCst);
            if r != 0 {
                tree.insert(r);
                for f in std::mem::take(&mut early) {
                    take(f, &mut tree);
                }
            }
        }
        if n <= 0 {
            let e = io::Error::last_os_error();
            // Timeouts, signals and overruns (ENOBUFS: forks lost in a burst) go on.
            if n == 0
                || !matches!(
                    e.raw_os_error(),
                    Some(libc::EAGAIN | libc::EINTR | libc::ENOBUFS)
                )
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            continue;
        }
        let msg = &buf[..n as usize];
        if let Some(f) = fork_of(msg) {
            if tree.is_empty() {
                if early.len() < 1 << 16 {
                    early.push(f);
                }
            } else {
                take(f, &mut tree);
            }
        }
    }
}
