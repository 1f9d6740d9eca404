//! A process's details (its calls, waits, holds and objects) and a deadlock's (its cycle,
//! with links to every process and set in it, and the pids to look at).
use std::collections::BTreeSet;

use super::{
    chart, hints,
    parts::{account_text, proc_link, HISTORY_WIDTH},
    posix,
};
use crate::{
    analysis::What,
    model::{HolderSource, ObjId, WaitOn},
    ui::{
        fmt::{dur, size},
        rows::{
            cx::Cx,
            doc::{Doc, DocLine},
            problems::{cycle_text, step_object},
            waits,
        },
        theme::Tone,
        view::Target,
    },
};

pub fn process(cx: &Cx, pid: u32) -> Doc {
    let mut d = Doc::new(format!(" Process {pid} "));
    let m = &cx.s.model;
    let Some(p) = m.process(pid) else {
        match m.posix().and_then(|l| l.proc(pid)) {
            // Not in the last /proc snapshot, but the later POSIX look saw it.
            Some(x) => {
                d.text(format!(
                    "Process {pid} {}: seen by the last look at POSIX IPC, not by the last \
                     snapshot of /proc",
                    crate::text::escape(&x.comm)
                ));
                d.head("Waiting now");
                if !posix::process_waits(cx, &mut d, pid) {
                    d.text("  not blocked in an IPC call");
                }
                posix::process_objects(cx, &mut d, pid);
                hints::add(&mut d, hints::process(pid));
            }
            None => d.text(format!("Process {pid} is gone.")),
        }
        return d;
    };
    let u = cx.s.uses.get(&pid);
    d.text(format!(
        "Process {pid} {}  state {}  user {}  parent {}",
        crate::text::escape(&p.comm),
        p.state,
        p.uid.map_or("?".into(), |u| cx.user(u)),
        p.ppid
    ));
    if let Some(c) = &p.cmdline {
        d.text(format!("command: {}", crate::text::escape(c)));
    }
    let a = m.account().process(pid);
    let last = match a.and_then(|a| a.last_mono_ns) {
        Some(t) => format!(
            "; last call {} ago",
            dur(cx.now.saturating_sub(t) as f64 / 1e9)
        ),
        None => String::new(),
    };
    d.text(format!("IPC: {}{last}", account_text(cx, a)));
    d.head("Waiting now");
    let mut any = false;
    for w in m.waits().filter(|w| w.pid == pid) {
        any = true;
        let on = waits::obj(w);
        let target = match w.on {
            WaitOn::Sem { .. } => Target::Sem(on),
            _ => Target::Queue(on),
        };
        let (what, op) = waits::on(cx, w);
        d.link(
            target,
            format!(
                "tid {} {what} (op {}) for {}: {}",
                w.tid,
                op.text(&cx.t),
                waits::waited(cx, w).text(&cx.t),
                waits::held(cx, w)
            ),
        );
    }
    if !posix::process_waits(cx, &mut d, pid) && !any {
        d.text("  not blocked in an IPC call");
    }
    d.head("Segments attached");
    let shmids = p.attached_shmids();
    if p.attachments.is_none() {
        d.text("  unknown (its maps are not readable)");
    } else if shmids.is_empty() {
        d.text("  none");
    }
    let ns = m.process_ns(pid);
    for id in shmids {
        let oid = ObjId { ns, id };
        let s = m.segment_at(oid).map_or("gone".into(), |s| {
            format!("{}, nattch {}", size(s.size), s.nattch)
        });
        d.link(Target::Shm(oid), format!("shm {id} ({s})"));
    }
    let empty = BTreeSet::new();
    d.head("Semaphore sets used");
    let sets = u.map_or(&empty, |u| &u.sets);
    if sets.is_empty() {
        d.text("  none seen");
    }
    for &oid in sets {
        let mut roles = Vec::new();
        if let Some(s) = m.sem_set_at(oid) {
            for x in s.semaphores.iter().flatten() {
                if m.holders(s.id, x.semnum)
                    .is_some_and(|h| h.pids.contains(&pid) && h.source == HolderSource::Events)
                {
                    roles.push(format!("holds #{}", x.semnum));
                }
            }
        }
        d.link(
            Target::Sem(oid),
            format!("sem {} {}", oid.id, roles.join(", ")),
        );
    }
    d.head("Queues used");
    let qs = u.map_or(&empty, |u| &u.queues);
    if qs.is_empty() {
        d.text("  none seen");
    }
    for &oid in qs {
        let q = m
            .queue_at(oid)
            .map_or("gone".into(), |q| format!("{} messages", q.qnum));
        d.link(Target::Queue(oid), format!("msq {} ({q})", oid.id));
    }
    posix::process_objects(cx, &mut d, pid);
    let mut lines = chart::process_lines(cx, pid, HISTORY_WIDTH);
    if let Some(a) = a {
        lines.extend(chart::wait_lines(cx, a, HISTORY_WIDTH));
    }
    if !lines.is_empty() {
        d.head("History");
        for l in lines {
            d.line(l);
        }
    }
    hints::add(&mut d, hints::process(pid));
    d
}

/// A deadlock: its cycle, the reason, links to every process and set in it, and what to
/// look at (ipctop breaks nothing: ending one of its processes is the usual way out).
pub fn deadlock(cx: &Cx, pid: u32) -> Doc {
    let mut d = Doc::new(" Deadlock ");
    let found = cx.s.findings.iter().find_map(|f| match &f.what {
        What::Deadlock { cycle, .. } if cycle.first().is_some_and(|s| s.pid == pid) => {
            Some((cycle, &f.reason, f.ipc_ns))
        }
        _ => None,
    });
    let Some((cycle, reason, ns)) = found else {
        d.text("this deadlock is over (no longer found)");
        return d;
    };
    d.line(DocLine::of(vec![
        ("DEADLOCK ".into(), Tone::Alert),
        (cycle_text(cx, cycle), Tone::Plain),
    ]));
    d.text(reason.clone());
    d.head("Processes (Enter to go)");
    for st in cycle {
        proc_link(
            cx,
            &mut d,
            st.pid,
            &format!(
                "thread {} waits on {}, {} {}",
                st.tid,
                step_object(st),
                st.role.verb(),
                crate::ui::fmt::pids(st.by.iter().copied(), 4)
            ),
        );
    }
    d.head("Objects (Enter to go)");
    let mut objs: Vec<(crate::analysis::IpcKind, i32)> = cycle
        .iter()
        .filter(|s| s.mutex.is_none())
        .map(|s| (s.ipc, s.id))
        .collect();
    objs.sort_unstable();
    objs.dedup();
    let target = |ipc: crate::analysis::IpcKind, id: i32| match ipc {
        crate::analysis::IpcKind::Msg => (Target::Queue(ObjId { ns, id }), format!("msq {id}")),
        _ => (Target::Sem(ObjId { ns, id }), format!("sem {id}")),
    };
    for &(ipc, id) in &objs {
        let (t, name) = target(ipc, id);
        d.link(t, name);
    }
    let mut v = Vec::new();
    for st in cycle {
        v.extend(hints::process(st.pid).into_iter().take(2));
    }
    for (ipc, id) in objs {
        v.extend(hints::hints(cx, target(ipc, id).0));
    }
    hints::add(&mut d, v);
    d.toned(
        "  a deadlock ends when one of its processes gives up or is ended (kill PID):",
        Tone::Dim,
    );
    d.toned("  ipctop never does it", Tone::Dim);
    d
}
