//! What an SRE would run next, shown at the end of a detail: read-only commands (and, for a
//! leak, the one that would remove it, said as such). ipctop runs none of them: it only
//! observes. In another IPC namespace the commands enter it first (`nsenter -t PID -i`).
use crate::{
    analysis::{IpcKind, What},
    model::{NsId, ObjId},
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
        Target::Deadlock(_) => Vec::new(),
    }
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
