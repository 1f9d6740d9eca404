//! A process's details (its calls, waits, holds and objects) and a deadlock's (its cycle,
//! with links to every process and set in it).
use ratatui::text::{Line, Span};

use super::*;

pub(super) fn proc_lines(cx: &Cx, pid: u32) -> Lines {
    let mut v = Lines::new();
    let m = &cx.s.model;
    let Some(p) = m.process(pid) else {
        text(&mut v, format!("Process {pid} is gone."));
        return v;
    };
    let u = cx.s.uses.get(&pid);
    text(
        &mut v,
        format!(
            "Process {pid} {}  state {}  user {}  parent {}",
            crate::text::escape(&p.comm),
            p.state,
            p.uid.map_or("?".into(), |u| cx.user(u)),
            p.ppid
        ),
    );
    if let Some(c) = &p.cmdline {
        text(&mut v, format!("command: {}", crate::text::escape(c)));
    }
    let a = m.account().process(pid);
    text(
        &mut v,
        format!(
            "IPC: {}; last call {} ago",
            account_text(cx, a),
            ago_mono(cx.now, a.and_then(|a| a.last_mono_ns)),
        ),
    );
    head(cx, &mut v, "Waiting now");
    let mut any = false;
    for w in m.waits().filter(|w| w.pid == pid) {
        any = true;
        let on = ObjId {
            ns: w.ns,
            id: w.on.id(),
        };
        let target = match w.on {
            WaitOn::Sem { .. } => Target::Sem(on),
            _ => Target::Queue(on),
        };
        link(
            cx,
            &mut v,
            target,
            format!(
                "tid {} {} (op {}) for {}: {}",
                w.tid,
                overview::on_text(cx, w).0,
                overview::on_text(cx, w).1,
                overview::waited_text(cx, w),
                overview::held_text(cx, w)
            ),
        );
    }
    if !any {
        text(&mut v, "  not blocked in an IPC call".into());
    }
    head(cx, &mut v, "Segments attached");
    let shmids = p.attached_shmids();
    if p.attachments.is_none() {
        text(&mut v, "  unknown (its maps are not readable)".into());
    } else if shmids.is_empty() {
        text(&mut v, "  none".into());
    }
    let ns = m.process_ns(pid);
    for id in shmids {
        let oid = ObjId { ns, id };
        let d = m.segment_at(oid).map_or("gone".into(), |s| {
            format!("{}, nattch {}", size(s.size), s.nattch)
        });
        link(cx, &mut v, Target::Shm(oid), format!("shm {id} ({d})"));
    }
    let empty = BTreeSet::new();
    head(cx, &mut v, "Semaphore sets used");
    let sets = u.map_or(&empty, |u| &u.sets);
    if sets.is_empty() {
        text(&mut v, "  none seen".into());
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
        link(
            cx,
            &mut v,
            Target::Sem(oid),
            format!("sem {} {}", oid.id, roles.join(", ")),
        );
    }
    head(cx, &mut v, "Queues used");
    let qs = u.map_or(&empty, |u| &u.queues);
    if qs.is_empty() {
        text(&mut v, "  none seen".into());
    }
    for &oid in qs {
        let d = m
            .queue_at(oid)
            .map_or("gone".into(), |q| format!("{} messages", q.qnum));
        let id = oid.id;
        link(cx, &mut v, Target::Queue(oid), format!("msq {id} ({d})"));
    }
    let mut lines = chart::process_lines(cx, pid, HISTORY_WIDTH);
    if let Some(a) = a {
        lines.extend(chart::wait_lines(cx, a, HISTORY_WIDTH));
    }
    if !lines.is_empty() {
        head(cx, &mut v, "History");
        v.extend(lines.into_iter().map(|l| (l, None)));
    }
    v
}

/// A deadlock: its cycle, the reason, and links to every process and set in it.
pub(super) fn deadlock_lines(cx: &Cx, pid: u32) -> Lines {
    let mut v = Lines::new();
    let found = cx.s.findings.iter().find_map(|f| match &f.what {
        crate::analysis::What::Deadlock { cycle, .. }
            if cycle.first().is_some_and(|s| s.pid == pid) =>
        {
            Some((cycle, &f.reason, f.ipc_ns))
        }
        _ => None,
    });
    let Some((cycle, reason, ns)) = found else {
        text(&mut v, "this deadlock is over (no longer found)".into());
        return v;
    };
    v.push((
        Line::from(vec![
            Span::styled("DEADLOCK ", cx.t.alert()),
            Span::raw(super::super::problems::cycle_text(cx, cycle)),
        ]),
        None,
    ));
    text(&mut v, reason.clone());
    head(cx, &mut v, "Processes (Enter to go)");
    for st in cycle {
        proc_link(
            cx,
            &mut v,
            st.pid,
            &format!(
                "thread {} waits on {}, {} {}",
                st.tid,
                super::super::problems::step_object(st),
                st.role.verb(),
                super::super::pids(st.by.iter().copied(), 4)
            ),
        );
    }
    head(cx, &mut v, "Objects (Enter to go)");
    let mut objs: Vec<(crate::analysis::IpcKind, i32)> =
        cycle.iter().map(|s| (s.ipc, s.id)).collect();
    objs.sort_unstable();
    objs.dedup();
    for (ipc, id) in objs {
        let oid = ObjId { ns, id };
        let (target, name) = match ipc {
            crate::analysis::IpcKind::Msg => (Target::Queue(oid), format!("msq {id}")),
            _ => (Target::Sem(oid), format!("sem {id}")),
        };
        link(cx, &mut v, target, name);
    }
    v
}
