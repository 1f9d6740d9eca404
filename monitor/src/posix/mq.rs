//! POSIX message queues: per IPC namespace, listed in a private mount of that namespace's
//! `mqueue` filesystem (on a thread of its own that entered the namespace and a mount
//! namespace of its own: nothing else sees the mount, and it goes with the thread), their
//! attributes from `mq_getattr` on a descriptor opened there — never by reading a queue's
//! file, which resets its times. Without the right to mount (not root), the queues of our own
//! namespace are read from /dev/mqueue when it is mounted; else said unknown.
use std::{collections::BTreeMap, os::fd::AsRawFd, path::Path};

use super::{scan::Ids, scan::Scanned, Blocked, MqAttr, MqRead, Opener, PosixSnapshot};

/// Where the private mount goes (inside the thread's own mount namespace).
const MOUNT_AT: [&str; 3] = ["/dev/mqueue", "/tmp", "/mnt"];

/// mq_getattr on an open descriptor (mq_getsetattr with no new attributes: changes nothing).
fn getattr(fd: &std::fs::File) -> Option<MqAttr> {
    // struct mq_attr: four longs and four reserved.
    let mut a = [0i64; 8];
    // SAFETY: a valid descriptor, no new attributes, a buffer the size of struct mq_attr.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mq_getsetattr,
            fd.as_raw_fd(),
            std::ptr::null::<i64>(),
            a.as_mut_ptr(),
        )
    };
    (r == 0).then_some(MqAttr {
        maxmsg: a[1],
        msgsize: a[2],
        curmsgs: a[3],
    })
}

/// The queues in a directory of an mqueue filesystem.
fn list(dir: &Path, ipc_ns: u64) -> std::io::Result<Vec<MqRead>> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)?.flatten() {
        let Ok(md) = e.metadata() else { continue };
        if !md.file_type().is_file() {
            continue;
        }
        let attr = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(e.path())
            .ok()
            .and_then(|f| getattr(&f));
        v.push(MqRead {
            ipc_ns,
            name: format!("/{}", e.file_name().to_string_lossy()),
            dev: md.dev(),
            ino: md.ino(),
            uid: md.uid(),
            gid: md.gid(),
            mode: md.mode() & 0o7777,
            mtime_s: md.mtime(),
            ctime_s: md.ctime(),
            attr,
            openers: Vec::new(),
            receivers: Vec::new(),
            senders: Vec::new(),
        });
    }
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

/// The queues of the IPC namespace of `pid`, from a private mount.
fn read_ns(pid: u32, ipc_ns: u64) -> Result<Vec<MqRead>, String> {
    use nix::{
        mount::MsFlags,
        sched::{setns, CloneFlags},
    };
    let ns = match std::fs::File::open(format!("/proc/{pid}/ns/ipc")) {
        Ok(f) => f,
        // The process went, and maybe its namespace with it: the next look says.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot open /proc/{pid}/ns/ipc: {e}")),
    };
    let m = crate::privmount::PrivateMount {
        fstype: "mqueue",
        at: &MOUNT_AT,
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        need: "(needs root / CAP_SYS_ADMIN)",
    };
    let enter = || {
        setns(&ns, CloneFlags::CLONE_NEWIPC)
            .map_err(|e| format!("cannot enter the namespace {}: {e}", m.need))
    };
    crate::privmount::with_private_mount(&m, enter, |at| {
        list(at, ipc_ns).map_err(|e| format!("cannot list its mqueue filesystem: {e}"))
    })?
}

/// Whether /dev/mqueue is an mqueue mount (for the fallback without privilege).
fn dev_mqueue_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split(' ').nth(1) == Some("/dev/mqueue") && l.contains(" mqueue "))
    })
}

/// The queues of every IPC namespace that has processes.
pub(super) fn read_all(ids: &Ids, unknowns: &mut Vec<String>) -> Vec<MqRead> {
    let mut reps: BTreeMap<u64, u32> = BTreeMap::new();
    for i in &ids.procs {
        if let Some(ns) = i.p.ipc_ns {
            reps.entry(ns).or_insert(i.p.pid);
        }
    }
    let ours = super::scan::own_ipc_ns();
    let mut out = Vec::new();
    for (ns, pid) in reps {
        match read_ns(pid, ns) {
            Ok(mut v) => out.append(&mut v),
            Err(why) if Some(ns) == ours && dev_mqueue_mounted() => {
                match list(Path::new("/dev/mqueue"), ns) {
                    Ok(mut v) => out.append(&mut v),
                    Err(e) => unknowns.push(format!(
                        "the POSIX queues of IPC namespace {ns}: {why}; /dev/mqueue: {e}"
                    )),
                }
            }
            Err(why) => unknowns.push(format!("the POSIX queues of IPC namespace {ns}: {why}")),
        }
    }
    out
}

/// Each queue's users and blocked threads.
pub(super) fn join(snap: &mut PosixSnapshot, mut queues: Vec<MqRead>, sc: &Scanned) {
    let by_id: BTreeMap<(u64, u64), usize> = queues
        .iter()
        .enumerate()
        .map(|(i, q)| ((q.dev, q.ino), i))
        .collect();
    for f in &sc.fds {
        if let Some(&i) = by_id.get(&(f.dev, f.ino)) {
            queues[i].openers.push(Opener {
                pid: f.pid,
                fd: f.fd,
                access: f.access,
            });
        }
    }
    for c in &sc.calls {
        let super::scan::Call::Mq { fd, send } = c.call else {
            continue;
        };
        let Some(f) = sc.fds.iter().find(|f| f.pid == c.pid && f.fd == fd) else {
            continue;
        };
        if let Some(&i) = by_id.get(&(f.dev, f.ino)) {
            let b = Blocked {
                pid: c.pid,
                tid: c.tid,
                asleep_since_unix_ns: c.asleep_since_unix_ns,
            };
            if send {
                queues[i].senders.push(b);
            } else {
                queues[i].receivers.push(b);
            }
        }
    }
    snap.queues = queues;
}
