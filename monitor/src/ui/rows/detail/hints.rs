//! What an SRE would run next, shown at the end of a detail: read-only commands (and, for a
//! leak, the one that would remove it, said as such). ipctop runs none of them: it only
//! observes. In another IPC namespace the commands enter it first (`nsenter -t PID -i`).
use crate::{
    analysis::{IpcKind, What},
    model::{NsId, ObjId},
    posix::{FutexWait, MqRead, ShmKind, ShmObject},
    ui::{
        rows::{cx::Cx, doc::Doc},
        theme::Tone,
        view::Target,
    },
};

/// `nsenter -t PID -i ` for a namespace other than the host's, with a process of it.
fn enter(cx: &Cx, ns: NsId) -> String {
    if cx.ns_label(ns) == "host" || ns == cx.s.model.home_ns() && !cx.many_ns() {
        return String::new();
    }
    let m = &cx.s.model;
    match m.all_processes().find(|p| m.process_ns(p.pid) == ns) {
        Some(p) => format!("nsenter -t {} -i ", p.pid),
        None => String::new(),
    }
}

fn leaked(cx: &Cx, ipc: IpcKind, oid: ObjId) -> bool {
    cx.s.findings.iter().any(|f| {
        f.ipc_ns == oid.ns
            && matches!(f.what, What::Leak { ipc: k, id } if k == ipc && id == oid.id)
    })
}

/// The commands for `target`, each with what it tells.
pub fn hints(cx: &Cx, target: Target) -> Vec<(String, &'static str)> {
    let obj = |flag: &str, ipc: IpcKind, oid: ObjId| {
        let e = enter(cx, oid.ns);
        let mut v = vec![(
            format!("{e}ipcs -{flag} -i {}", oid.id),
            "the kernel's own view of it",
        )];
        if leaked(cx, ipc, oid) {
            v.push((
                format!("{e}ipcrm -{flag} {}", oid.id),
                "removes it: only once sure nothing will use it",
            ));
        }
        v
    };
    match target {
        Target::Sem(oid) => obj("s", IpcKind::Sem, oid),
        Target::Shm(oid) => {
            let mut v = obj("m", IpcKind::Shm, oid);
            // In /proc/PID/maps a segment's inode is its shmid.
            v.push((
                format!(
                    "{}grep -lE ' {} +/SYSV' /proc/[0-9]*/maps",
                    enter(cx, oid.ns),
                    oid.id
                ),
                "the processes that map it",
            ));
            v
        }
        Target::Queue(oid) => obj("q", IpcKind::Msg, oid),
        Target::Proc(pid) => process(pid),
        Target::Deadlock(_) | Target::Posix(_) => Vec::new(),
    }
}

/// A word as the shell reads it: quoted unless plain (an untrusted name is escaped first:
/// a hint is drawn on the terminal).
fn sh(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@%,=".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `ipctop snapshot --json`, of the IPC namespace `ns` when it is not the home one, into
/// `jq` with `filter` (`$v` is `value`).
fn snapshot_jq(cx: &Cx, ns: Option<NsId>, value: &str, filter: &str) -> (String, &'static str) {
    let ns = match ns {
        Some(n) if n != cx.s.model.home_ns() => format!(" --ipc-ns {n}"),
        _ => String::new(),
    };
    (
        format!(
            "ipctop snapshot --json{ns} | jq --arg v {} '{filter}'",
            sh(&crate::text::escape(value))
        ),
        "ipctop's own look at it, whole",
    )
}

/// A device and inode as /proc/PID/maps shows them, quoted for grep: `' 00:2b 7 '`.
fn maps_key(dev: u64, ino: u64) -> String {
    format!(
        "' {:02x}:{:02x} {ino} '",
        libc::major(dev),
        libc::minor(dev)
    )
}

/// Where each waiting thread sleeps (at most two): its call and arguments.
fn syscalls(
    threads: impl Iterator<Item = (u32, u32)>,
    what: &'static str,
) -> Vec<(String, &'static str)> {
    threads
        .take(2)
        .map(|(pid, tid)| (format!("cat /proc/{pid}/task/{tid}/syscall"), what))
        .collect()
}

/// For a POSIX queue: its look, where its blocked threads sleep, a user's descriptors.
pub fn posix_queue(cx: &Cx, q: &MqRead) -> Vec<(String, &'static str)> {
    let mut v = vec![snapshot_jq(
        cx,
        Some(q.ipc_ns),
        &q.name,
        ".posix.queues[] | select(.name == $v)",
    )];
    v.extend(syscalls(
        q.receivers.iter().chain(&q.senders).map(|b| (b.pid, b.tid)),
        "its call: 243 mq_timedreceive or 242 mq_timedsend, then the descriptor",
    ));
    if let Some(o) = q.openers.first() {
        v.push((
            format!("ls -l /proc/{}/fd", o.pid),
            "its descriptors: the queue's points at its name",
        ));
    }
    v
}

/// For a /dev/shm object: its file (in its mount namespace), who maps it (by inode: a
/// named semaphore is mapped under a temporary name), where its waiters sleep.
pub fn posix_shm(
    cx: &Cx,
    o: &ShmObject,
    path: &str,
    waits: &[&FutexWait],
) -> Vec<(String, &'static str)> {
    let user = o
        .mappers
        .iter()
        .map(|x| x.pid)
        .chain(o.openers.iter().map(|x| x.pid))
        .next();
    let mut v = Vec::new();
    if o.kind != ShmKind::Deleted {
        // A container's /dev/shm is in its mount namespace: entered through a user.
        let enter = match (o.ipc_ns, user) {
            (Some(n), Some(p)) if n != cx.s.model.home_ns() => format!("nsenter -t {p} -m "),
            _ => String::new(),
        };
        v.push((
            format!("{enter}ls -li {}", sh(path)),
            "its file: inode, size, owner (ls reads none of it)",
        ));
    }
    v.push((
        format!("grep -l {} /proc/[0-9]*/maps", maps_key(o.dev, o.ino)),
        "the processes that map it (by device and inode, as ipctop matches)",
    ));
    v.extend(syscalls(
        waits.iter().map(|w| (w.pid, w.tid)),
        "its futex call: the address, the operation, the value it expects",
    ));
    v.push(snapshot_jq(
        cx,
        o.ipc_ns,
        &o.ino.to_string(),
        ".posix.shm_objects[] | select(.ino == ($v|tonumber))",
    ));
    v
}

/// For the waits in a System V segment or other shared memory.
pub fn posix_waits(
    cx: &Cx,
    seg: Option<ObjId>,
    waits: &[&FutexWait],
) -> Vec<(String, &'static str)> {
    let mut v = syscalls(
        waits.iter().map(|w| (w.pid, w.tid)),
        "its futex call: the address, the operation, the value it expects",
    );
    match seg {
        Some(s) => v.extend(hints(cx, Target::Shm(s))),
        None => {
            use crate::posix::WaitObject as W;
            if let Some(w) = waits.first() {
                if let W::Memfd { dev, ino, .. }
                | W::SharedAnon { dev, ino }
                | W::File { dev, ino, .. }
                | W::ShmFile { dev, ino, .. } = &w.on
                {
                    v.push((
                        format!("grep {} /proc/{}/maps", maps_key(*dev, *ino), w.pid),
                        "where the waiter maps it",
                    ));
                }
            }
        }
    }
    if let Some(w) = waits.first() {
        v.push(snapshot_jq(
            cx,
            w.ipc_ns,
            &w.pid.to_string(),
            ".posix.futex_waits[] | select(.pid == ($v|tonumber))",
        ));
    }
    v
}

/// For a process: where its threads sleep, and their stacks.
pub fn process(pid: u32) -> Vec<(String, &'static str)> {
    vec![
        (
            format!("ps -L -o tid,stat,wchan:32,comm -p {pid}"),
            "its threads and where each sleeps",
        ),
        (
            format!("cat /proc/{pid}/task/*/stack"),
            "their kernel stacks (root)",
        ),
        (
            format!("gdb -p {pid} -batch -ex 'thread apply all bt'"),
            "their user stacks (stops it for a moment)",
        ),
    ]
}

/// The hints as the end of a detail.
pub fn add(d: &mut Doc, v: Vec<(String, &'static str)>) {
    if v.is_empty() {
        return;
    }
    d.head("Next steps (shown only: ipctop runs none of these)");
    for (cmd, what) in v {
        let mut l = crate::ui::rows::doc::DocLine::toned(format!("  $ {cmd}"), Tone::Key);
        l.push(format!("  {what}"), Tone::Dim);
        d.line(l);
    }
}
