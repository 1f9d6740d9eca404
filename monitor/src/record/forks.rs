//! The recorded command's process tree as it grows: the kernel's fork events (the proc
//! connector, a netlink socket root may listen on), filtered to the processes forked from the
//! command's, however short-lived. A child that lives 20 ms between two snapshots is still
//! known as the command's.
//!
//! Listening starts before the command does; the command's pid is given once it runs. The
//! forks seen meanwhile are kept until then (a few milliseconds' worth). The first fork
//! reported is the command's own (`(ipctop, command)`): a reader knows from it that the
//! events came.
//!
//! Identities: a fork names its child by pid *and start* (clock ticks since boot, as
//! /proc/PID/stat's `starttime` and the account's processes: from the event's time), and a
//! process of the tree leaves it when it exits (the kernel's exit events), so that a pid
//! reused by another process — a few seconds later on a busy host with `pid_max` 32768 — is
//! not the command's, nor are its children. The events a full socket lost (`ENOBUFS`) are
//! counted ([`ForkFollower::lost`]) and said by the report.
use std::{
    collections::BTreeSet,
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::{
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
        mpsc, Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_EVENT_FORK: u32 = 1;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
const NLMSG_HDRLEN: usize = 16;
const CN_MSG_LEN: usize = 20;

/// A process forked from the command's: its parent's and its own thread group id, and its
/// start (clock ticks since boot; `None` in recordings before format 4). In the file:
/// `[parent, child]` or `[parent, child, start]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fork {
    pub parent: u32,
    pub child: u32,
    pub start: Option<u64>,
}

impl serde::Serialize for Fork {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.start {
            Some(t) => (self.parent, self.child, t).serialize(s),
            None => (self.parent, self.child).serialize(s),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Fork {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = Vec::<u64>::deserialize(d)?;
        let pid = |x: u64| u32::try_from(x).map_err(|_| D::Error::custom("a pid over 2^32"));
        match v[..] {
            [p, c] => Ok(Fork {
                parent: pid(p)?,
                child: pid(c)?,
                start: None,
            }),
            [p, c, t] => Ok(Fork {
                parent: pid(p)?,
                child: pid(c)?,
                start: Some(t),
            }),
            _ => Err(D::Error::custom(
                "a fork is [parent, child] or [parent, child, start]",
            )),
        }
    }
}

/// Follows the forks of a command's process tree on a thread of its own.
pub struct ForkFollower {
    root: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    rx: mpsc::Receiver<Fork>,
    lost: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl ForkFollower {
    /// Starts listening (root only; an error says why not, e.g. another PID namespace).
    pub fn start() -> io::Result<ForkFollower> {
        let sock = listen()?;
        let root = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel();
        let (r, s, l) = (root.clone(), stop.clone(), lost.clone());
        let thread = std::thread::Builder::new()
            .name("ipctop-forks".into())
            .spawn(move || follow(sock, &r, &s, &l, &tx))?;
        Ok(ForkFollower {
            root,
            stop,
            rx,
            lost,
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

    /// Times the socket overflowed so far (each time, events of unknown number were lost: a
    /// process forked then may be missing from the tree).
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
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
        let big: libc::c_int = 16 << 20;
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

/// What a process event says about the tree.
#[derive(Debug, PartialEq, Eq)]
enum ProcEvent {
    /// A new process (not a thread): parent and child thread group ids, and the event's
    /// time (CLOCK_MONOTONIC ns).
    Fork(u32, u32, u64),
    /// A process ended (its thread group leader exited).
    Exit(u32),
}

/// A fork of a new process or the exit of a process, from a proc connector message.
fn event_of(msg: &[u8]) -> Option<ProcEvent> {
    let ev = NLMSG_HDRLEN + CN_MSG_LEN;
    // what, cpu, timestamp_ns (8), then the event's data.
    let what = u32_at(msg, ev)?;
    let ts = u64::from(u32_at(msg, ev + 8)?) | u64::from(u32_at(msg, ev + 12)?) << 32;
    let data = ev + 16;
    match what {
        // parent_pid, parent_tgid, child_pid, child_tgid.
        PROC_EVENT_FORK => {
            let (parent_tgid, child_pid, child_tgid) = (
                u32_at(msg, data + 4)?,
                u32_at(msg, data + 8)?,
                u32_at(msg, data + 12)?,
            );
            (child_pid == child_tgid).then_some(ProcEvent::Fork(parent_tgid, child_tgid, ts))
        }
        // process_pid, process_tgid, exit_code, exit_signal, …
        PROC_EVENT_EXIT => {
            let (pid, tgid) = (u32_at(msg, data)?, u32_at(msg, data + 4)?);
            (pid == tgid).then_some(ProcEvent::Exit(tgid))
        }
        _ => None,
    }
}

/// A new process's start in /proc/PID/stat's unit: read there while it lives (exact), else
/// from the event's CLOCK_MONOTONIC time (the kernel stamps a new process with CLOCK_BOOTTIME
/// before it sends the fork event: at or after its start — long after in a slow VM).
fn start_of(pid: u32, mono_ns: u64) -> Option<u64> {
    let read = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // After the command name's closing parenthesis: state is field 3, starttime 22.
            let rest = s.get(s.rfind(')')? + 2..)?;
            rest.split_whitespace().nth(19)?.parse::<u64>().ok()
        });
    read.or_else(|| {
        let offset = crate::event::clock_ns(libc::CLOCK_BOOTTIME)
            .saturating_sub(crate::event::clock_ns(libc::CLOCK_MONOTONIC));
        crate::event::start_ticks(mono_ns + offset)
    })
}

fn follow(
    sock: OwnedFd,
    root: &AtomicU32,
    stop: &AtomicBool,
    lost: &AtomicU64,
    tx: &mpsc::Sender<Fork>,
) {
    let mut tree: BTreeSet<u32> = BTreeSet::new();
    // Forks seen before the command's pid was known.
    let mut early: Vec<Fork> = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    // The command's own fork (by ipctop) is sent too: it shows the events do arrive (in a
    // container's PID namespace, say, none would).
    let take = |f: Fork, tree: &mut BTreeSet<u32>| {
        let own = root.load(Ordering::SeqCst) == f.child;
        if own || (tree.contains(&f.parent) && tree.insert(f.child)) {
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
            if e.raw_os_error() == Some(libc::ENOBUFS) {
                lost.fetch_add(1, Ordering::Relaxed);
            }
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
        match event_of(msg) {
            Some(ProcEvent::Fork(parent, child, ts)) => {
                let f = Fork {
                    parent,
                    child,
                    start: start_of(child, ts),
                };
                if tree.is_empty() {
                    if early.len() < 1 << 16 {
                        early.push(f);
                    }
                } else {
                    take(f, &mut tree);
                }
            }
            // The root stays: its pid names the command for the rest of the run.
            Some(ProcEvent::Exit(pid)) if pid != root.load(Ordering::SeqCst) => {
                tree.remove(&pid);
            }
            _ => {}
        }
    }
}
