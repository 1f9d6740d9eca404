//! The details of a POSIX object (view 8's rows): a message queue, a /dev/shm object or
//! named semaphore, and the futex waits in other shared memory (a System V segment's, a
//! memfd's, shared anonymous memory's); and a process's POSIX side (for `process.rs`).
//! Who waits comes first — threads with their processes, on what, and how long at least
//! when the look saw them — then the object's figures, the POSIX findings about it, who has
//! it open or maps it (links), and the read-only commands to run next. Every figure is the
//! model's last look at POSIX IPC (`Model::posix_*`) or the store's POSIX findings.
use super::{
    hints,
    parts::{ago_said, proc_links},
};
use crate::{
    analysis::{posix::PosixFinding, What},
    posix::{FutexWait, MqRead, ShmKind, ShmObject, SyncKind, WaitObject},
    ui::{
        fmt::{pids, size, threads},
        rows::{
            cx::Cx,
            doc::{Doc, DocLine},
            posix::wait_target,
            problems,
            problems_posix::kind_of,
            table::Value,
        },
        theme::Tone,
        view::{PosixId, Target},
    },
};

/// The details of the POSIX object `id`.
pub fn doc(cx: &Cx, id: PosixId) -> Doc {
    match id {
        PosixId::Queue { ns, ino } => queue(cx, ns, ino),
        PosixId::Shm { dev, ino } => shm(cx, dev, ino),
        PosixId::SysvWaits(_) | PosixId::MemWaits { .. } => waits_in(cx, id),
    }
}

/// "≥30.0s": how long a thread had waited at least when the look saw it.
fn waited(cx: &Cx, asleep_since_unix_ns: Option<u64>) -> String {
    match cx.s.model.posix_waited_s(asleep_since_unix_ns) {
        Some(s) => Value::Dur { s, at_least: true }.text(&cx.t),
        None => "for how long unknown".into(),
    }
}

/// "as of the look 2.0s ago": every POSIX figure is of the model's last look.
fn look_said(cx: &Cx) -> String {
    match cx.s.model.posix_look_age_s() {
        Some(s) => format!("POSIX look {} ago", crate::ui::fmt::dur(s)),
        None => "POSIX IPC not looked at yet".into(),
    }
}

/// A title, with the namespace while more than one is shown.
fn title(cx: &Cx, what: &str, ns: Option<u64>) -> String {
    match ns {
        Some(ns) if cx.many_ns() => format!(" {what} ({}) ", cx.ns_label(ns)),
        _ => format!(" {what} "),
    }
}

/// The pid of a thread, as far as the look tells (a waiter's, or a process's main thread).
fn pid_of_tid(cx: &Cx, tid: u32) -> Option<u32> {
    let m = &cx.s.model;
    let look = m.posix()?;
    look.futex_waits
        .iter()
        .find(|w| w.tid == tid)
        .map(|w| w.pid)
        .or_else(|| (look.proc(tid).is_some() || m.process(tid).is_some()).then_some(tid))
}

/// What a futex word says: "semaphore value 0, 3 waiting", "robust mutex held by tid 7
/// (7 worker)", "futex word 0x2".
pub fn word_said(cx: &Cx, w: &FutexWait) -> String {
    let opt = |v: Option<u32>| v.map_or("?".into(), |v| v.to_string());
    let held = |what: &str, owner: Option<u32>| match owner {
        Some(t) => match pid_of_tid(cx, t) {
            Some(p) if p == t => format!("{what} held by tid {t} ({})", cx.who(p)),
            Some(p) => format!("{what} held by tid {t} of {}", cx.who(p)),
            None => format!("{what} held by tid {t}"),
        },
        None => format!("{what}, holder unreadable"),
    };
    match w.sync {
        SyncKind::Semaphore { value, nwaiters } => {
            format!("semaphore value {}, {} waiting", opt(value), opt(nwaiters))
        }
        SyncKind::RobustMutex { owner } => held("robust mutex", owner),
        SyncKind::PiMutex { owner } => held("PI mutex", owner),
        SyncKind::Other => match w.word {
            Some(x) => format!("futex word {:#x} (a condition variable or other lock)", x),
            None => "futex (its word unreadable)".into(),
        },
    }
}

/// Where a futex wait is: "semaphore /mp-1", "/dev/shm/x", "System V segment 32768", ….
fn place(cx: &Cx, w: &FutexWait) -> String {
    let named = match w.on {
        WaitObject::ShmFile { dev, ino, .. } => {
            cx.s.model
                .posix_shm_at(dev, ino)
                .filter(|o| o.kind == ShmKind::Semaphore)
                .map(|o| format!("semaphore /{}", o.name))
        }
        _ => None,
    };
    crate::text::escape(&named.unwrap_or_else(|| w.on.describe())).into_owned()
}

/// "tid 3400 of 3400 w3400" (the thread, then its process).
fn thread_of(cx: &Cx, pid: u32, tid: u32) -> String {
    format!("tid {tid} of {}", cx.who(pid))
}

/// The POSIX findings about an object, named as the analysis names it.
fn findings<'a>(cx: &'a Cx, object: &[String], ns: Option<u64>) -> Vec<&'a PosixFinding> {
    cx.s.posix_findings
        .iter()
        .filter(|f| object.contains(&f.object) && (ns.is_none() || f.ipc_ns == ns))
        .collect()
}

/// The deadlocks (of the one wait-for graph: System V, mutexes, or both) that any of these
/// threads is in, each on a line.
fn say_deadlocks(cx: &Cx, d: &mut Doc, tids: &[u32]) {
    for f in &cx.s.findings {
        let What::Deadlock { tids: t, .. } = &f.what else {
            continue;
        };
        if t.iter().any(|x| tids.contains(x)) {
            let k = problems::kind_of(&f.what);
            let mut l = DocLine::toned(format!("{} ", k.mark.to_uppercase()), k.tone);
            l.push(crate::text::escape(&f.reason), Tone::Plain);
            d.line(l);
        }
    }
}

/// Each finding on a line: its mark, then its reason (an unused object's last use).
fn say_findings(cx: &Cx, d: &mut Doc, fs: &[&PosixFinding]) {
    for f in fs {
        let (mark, tone) = match kind_of(f) {
            Some(k) => (k.mark.to_uppercase(), k.tone),
            None => ("UNUSED".to_string(), Tone::Warn),
        };
        let mut l = DocLine::toned(format!("{mark} "), tone);
        let since = f
            .since_unix_s
            .map(|s| format!("since {}: ", ago_said(cx, s)))
            .unwrap_or_default();
        l.push(
            format!("{since}{}", crate::text::escape(&f.reason)),
            Tone::Plain,
        );
        d.line(l);
    }
}

/// "  IPC ns box-1" while more than one namespace is shown.
fn ns_said(cx: &Cx, ns: Option<u64>) -> String {
    match ns {
        Some(n) if cx.many_ns() => format!("  IPC ns {}", cx.ns_label(n)),
        _ => String::new(),
    }
}

/// "0600 owner user:group".
fn owner_said(cx: &Cx, uid: u32, gid: u32, mode: u32) -> String {
    format!("perms {:04o}  owner {}", mode & 0o7777, cx.owner(uid, gid))
}

fn queue(cx: &Cx, ns: u64, ino: u64) -> Doc {
    let m = &cx.s.model;
    let Some(q) = m.posix_queue_at(ns, ino) else {
        let mut d = Doc::new(title(cx, "POSIX queue", Some(ns)));
        d.text(format!("This queue is gone ({}).", look_said(cx)));
        return d;
    };
    let name = crate::text::escape(&q.name).into_owned();
    let mut d = Doc::new(title(cx, &format!("POSIX queue {name}"), Some(ns)));
    d.text(format!(
        "Queue {name}{}  {}",
        ns_said(cx, Some(ns)),
        owner_said(cx, q.uid, q.gid, q.mode)
    ));
    d.text(match q.attr {
        Some(a) => format!(
            "{} of max {} messages, each at most {}; bytes unknown (only its file says)",
            a.curmsgs,
            a.maxmsg,
            size(a.msgsize.max(0) as u64)
        ),
        None => "messages and limits unknown: mq_getattr could not read it".into(),
    });
    let rcv = blocked_said(&q.receivers);
    let snd = blocked_said(&q.senders);
    d.text(match (rcv, snd) {
        (None, None) => "nobody blocked sending or receiving".to_string(),
        (r, s) => format!(
            "blocked: {}",
            [
                r.map(|r| format!("{r} receiving")),
                s.map(|s| format!("{s} sending"))
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ")
        ),
    });
    d.text(format!(
        "last send or receive {}; changed {} ({})",
        ago_said(cx, q.mtime_s),
        ago_said(cx, q.ctime_s),
        look_said(cx)
    ));
    let tids: Vec<u32> = q
        .receivers
        .iter()
        .chain(&q.senders)
        .map(|b| b.tid)
        .collect();
    say_findings(
        cx,
        &mut d,
        &findings(cx, &[format!("queue {}", q.name)], Some(ns)),
    );
    say_deadlocks(cx, &mut d, &tids);
    let mut involved = Vec::new();
    for (b, verb) in q
        .receivers
        .iter()
        .map(|b| (b, "receiving"))
        .chain(q.senders.iter().map(|b| (b, "sending")))
    {
        involved.push((
            b.pid,
            format!(
                "tid {} blocked {verb} {}",
                b.tid,
                waited(cx, b.asleep_since_unix_ns)
            ),
        ));
    }
    for o in &q.openers {
        involved.push((o.pid, format!("open {} (fd {})", o.access, o.fd)));
    }
    proc_links(cx, &mut d, involved);
    hints::add(&mut d, hints::posix_queue(cx, q));
    d
}

/// "1 thread (3200)", or `None` for none.
fn blocked_said(b: &[crate::posix::Blocked]) -> Option<String> {
    if b.is_empty() {
        return None;
    }
    let mut p: Vec<u32> = b.iter().map(|x| x.pid).collect();
    p.sort_unstable();
    p.dedup();
    Some(format!(
        "{} ({})",
        threads(b.len(), p.len()),
        pids(p.iter().copied(), 4)
    ))
}

/// How the analysis names a /dev/shm object in its findings.
fn shm_named(o: &ShmObject) -> String {
    match o.kind {
        ShmKind::Shm => format!("/dev/shm/{}", o.name),
        ShmKind::Semaphore => format!("semaphore /{} (/dev/shm/sem.{})", o.name, o.name),
        ShmKind::Deleted => format!("/dev/shm/{} (deleted, inode {})", o.name, o.ino),
    }
}

fn shm(cx: &Cx, dev: u64, ino: u64) -> Doc {
    let m = &cx.s.model;
    let Some(o) = m.posix_shm_at(dev, ino) else {
        let mut d = Doc::new(" POSIX shared memory ");
        d.text(format!(
            "This object is gone (device {dev}, inode {ino}; {}).",
            look_said(cx)
        ));
        return d;
    };
    let name = crate::text::escape(&o.name).into_owned();
    let (what, path) = match o.kind {
        ShmKind::Shm => ("POSIX shared memory", format!("/dev/shm/{name}")),
        ShmKind::Semaphore => ("POSIX semaphore", format!("/dev/shm/sem.{name}")),
        ShmKind::Deleted => ("POSIX shared memory", format!("/dev/shm/{name} (deleted)")),
    };
    let shown = match o.kind {
        ShmKind::Semaphore => format!("/{name}"),
        _ => path.clone(),
    };
    let mut d = Doc::new(title(cx, &format!("{what} {shown}"), o.ipc_ns));
    d.text(format!(
        "{path}  {}{}  {}",
        size(o.size),
        ns_said(cx, o.ipc_ns),
        owner_said(cx, o.uid, o.gid, o.mode)
    ));
    let waits = m.shm_object_futex_waits(o.dev, o.ino);
    match (o.kind, o.sem) {
        (_, Some(s)) => d.text(format!(
            "semaphore value {}, {} waiting (its word, read from memory)",
            s.value, s.nwaiters
        )),
        (ShmKind::Semaphore, None) => d.text("semaphore value unknown: its word was not readable"),
        _ => {}
    }
    d.text(if o.kind == ShmKind::Deleted {
        "last use: now (still mapped)".to_string()
    } else {
        format!(
            "last use {} (the latest of its file's times: accessed {}, modified {})",
            ago_said(cx, o.last_touched_s()),
            ago_said(cx, o.atime_s),
            ago_said(cx, o.mtime_s)
        )
    });
    let mnt: Vec<String> = o.mnt_ns.iter().map(|n| n.to_string()).collect();
    d.text(format!(
        "mount ns {}  device {}  inode {} ({})",
        if mnt.is_empty() {
            "?".into()
        } else {
            mnt.join(",")
        },
        o.dev,
        o.ino,
        look_said(cx)
    ));
    say_findings(cx, &mut d, &findings(cx, &[shm_named(o)], o.ipc_ns));
    say_deadlocks(cx, &mut d, &waits.iter().map(|w| w.tid).collect::<Vec<_>>());
    wait_links(cx, &mut d, &waits);
    let mut involved = Vec::new();
    for x in &o.mappers {
        involved.push((
            x.pid,
            format!(
                "maps it at {:#x}-{:#x} (offset {:#x})",
                x.start, x.end, x.offset
            ),
        ));
    }
    for x in &o.openers {
        involved.push((x.pid, format!("open {} (fd {})", x.access, x.fd)));
    }
    proc_links(cx, &mut d, involved);
    hints::add(&mut d, hints::posix_shm(cx, o, &path, &waits));
    d
}

/// One link per waiting thread (to its process): where in the object, what the word says,
/// and for how long at least.
fn wait_links(cx: &Cx, d: &mut Doc, waits: &[&FutexWait]) {
    if waits.is_empty() {
        return;
    }
    d.head("Waiting in it (Enter to go)");
    for w in waits {
        d.link(
            Target::Proc(w.pid),
            format!(
                "{} at +{:#x} {}: {}",
                thread_of(cx, w.pid, w.tid),
                w.offset,
                waited(cx, w.asleep_since_unix_ns),
                word_said(cx, w)
            ),
        );
    }
}

/// The futex waits in a System V segment or other shared memory.
fn waits_in(cx: &Cx, id: PosixId) -> Doc {
    let m = &cx.s.model;
    let waits: Vec<&FutexWait> = m
        .futex_waits()
        .filter(|w| wait_target(m, w) == id)
        .collect();
    let Some(first) = waits.first() else {
        let mut d = Doc::new(" Futex waits ");
        d.text(format!("Nobody waits there any more ({}).", look_said(cx)));
        return d;
    };
    let what = crate::text::escape(&first.on.describe()).into_owned();
    let mut d = Doc::new(title(cx, &format!("Waits in {what}"), first.ipc_ns));
    let mut p: Vec<u32> = waits.iter().map(|w| w.pid).collect();
    p.sort_unstable();
    p.dedup();
    d.text(format!(
        "{} in futex waits in {what}; {}",
        threads(waits.len(), p.len()),
        look_said(cx)
    ));
    match (&first.on, id) {
        (_, PosixId::SysvWaits(seg)) => {
            let s = m.segment_at(seg).map_or("gone".into(), |s| {
                format!("{}, nattch {}", size(s.size), s.nattch)
            });
            d.link(
                Target::Shm(seg),
                format!("System V segment {} ({s}): its own details", seg.id),
            );
        }
        (WaitObject::SharedAnon { .. }, _) => {
            d.text("shared anonymous memory: of its process and the children it forked")
        }
        (WaitObject::Memfd { .. }, _) => d.text("a memfd: shared by descriptor, not by name"),
        _ => {}
    }
    let tids: Vec<u32> = waits.iter().map(|w| w.tid).collect();
    say_deadlocks(cx, &mut d, &tids);
    wait_links(cx, &mut d, &waits);
    let seg = match id {
        PosixId::SysvWaits(s) => Some(s),
        _ => None,
    };
    hints::add(&mut d, hints::posix_waits(cx, seg, &waits));
    d
}

/// A process's POSIX waits (a queue's send or receive, a futex wait in shared memory), as
/// links to their objects; whether it has any.
pub fn process_waits(cx: &Cx, d: &mut Doc, pid: u32) -> bool {
    let m = &cx.s.model;
    let mut any = false;
    for q in m.posix_queues() {
        for (b, verb) in q
            .receivers
            .iter()
            .map(|b| (b, "receiving from"))
            .chain(q.senders.iter().map(|b| (b, "sending to")))
            .filter(|(b, _)| b.pid == pid)
        {
            any = true;
            d.link(
                Target::Posix(queue_id(q)),
                format!(
                    "tid {} blocked {verb} POSIX queue {} {}",
                    b.tid,
                    crate::text::escape(&q.name),
                    waited(cx, b.asleep_since_unix_ns)
                ),
            );
        }
    }
    for w in m.futex_waits().filter(|w| w.pid == pid) {
        any = true;
        d.link(
            Target::Posix(wait_target(m, w)),
            format!(
                "tid {} in {} at +{:#x} {}: {}",
                w.tid,
                place(cx, w),
                w.offset,
                waited(cx, w.asleep_since_unix_ns),
                word_said(cx, w)
            ),
        );
    }
    any
}

fn queue_id(q: &MqRead) -> PosixId {
    PosixId::Queue {
        ns: q.ipc_ns,
        ino: q.ino,
    }
}

/// The POSIX queues and /dev/shm objects a process has open or maps, as links (nothing
/// when none: most processes have no POSIX side).
pub fn process_objects(cx: &Cx, d: &mut Doc, pid: u32) {
    let m = &cx.s.model;
    let mut links = Vec::new();
    for q in m.posix_queues() {
        let how: Vec<String> = q
            .openers
            .iter()
            .filter(|o| o.pid == pid)
            .map(|o| format!("open {} (fd {})", o.access, o.fd))
            .collect();
        if !how.is_empty() {
            let msgs = q
                .attr
                .map_or("? messages".into(), |a| format!("{} messages", a.curmsgs));
            let name = crate::text::escape(&q.name);
            links.push((
                queue_id(q),
                format!("queue {name} ({msgs}): {}", how.join(", ")),
            ));
        }
    }
    for o in m.posix_shm() {
        let mut how: Vec<String> = o
            .openers
            .iter()
            .filter(|x| x.pid == pid)
            .map(|x| format!("open {} (fd {})", x.access, x.fd))
            .collect();
        if o.mappers.iter().any(|x| x.pid == pid) {
            how.push("maps it".into());
        }
        if how.is_empty() {
            continue;
        }
        let what = match o.kind {
            ShmKind::Semaphore => format!("semaphore /{}", o.name),
            ShmKind::Shm => format!("/dev/shm/{}", o.name),
            ShmKind::Deleted => format!("/dev/shm/{} (deleted)", o.name),
        };
        let key = PosixId::Shm {
            dev: o.dev,
            ino: o.ino,
        };
        let what = crate::text::escape(&what).into_owned();
        links.push((
            key,
            format!("{what} ({}): {}", size(o.size), how.join(", ")),
        ));
    }
    if links.is_empty() {
        return;
    }
    d.head(&format!("POSIX objects open or mapped ({})", look_said(cx)));
    for (key, text) in links {
        d.link(Target::Posix(key), text);
    }
}
