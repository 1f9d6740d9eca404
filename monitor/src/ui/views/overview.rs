//! Overview: who waits now (pid, comm, on what, for how long — growing live — and who holds
//! it), the problems, and the busiest objects.
use ratatui::{
    layout::{Constraint, Layout, Rect},
    style::Style,
    text::{Line, Span},
    widgets::Paragraph,
    Frame,
};

use super::{col, dir, dur, dur_ns, matches, num, problems, rcol, table, Cx};
use crate::{
    model::{ObjId, ObjKind, Since, Wait, WaitOn},
    ui::app::{Target, View, ViewState},
};

/// The holder and the wait come before the name, the op and the thread id.
const COLS: [super::Col; 8] = [
    rcol("PID", 7, 0),
    rcol("TID", 7, 6),
    col("COMM", 13, 2),
    // "sem 1048608 #12": ids past a million are ordinary on a busy host, and the semaphore's
    // number is what a person needs (it was cut at 13).
    col("ON", 16, 0),
    rcol("OP", 4, 4),
    rcol("WAITED", 8, 0),
    col("HELD BY / STATE", 0, 1),
    col("IPC NS", 10, super::HIDE),
];

/// What a wait is on, short: "sem 5 #1", "msgrcv 7".
pub fn on_text(cx: &Cx, w: &Wait) -> (String, String) {
    match &w.on {
        WaitOn::Sem { semid, nsops, .. } => match cx.s.model.blocking_sop(w) {
            Some(op) => (format!("sem {semid} #{}", op.semnum), op.sem_op.to_string()),
            None => (format!("sem {semid}"), format!("{nsops}op")),
        },
        WaitOn::MsgRcv { msqid, .. } => (format!("msgrcv {msqid}"), String::new()),
        WaitOn::MsgSnd { msqid, .. } => (format!("msgsnd {msqid}"), String::new()),
    }
}

/// How long, growing live; "≥" when only a snapshot saw it start.
pub fn waited_text(cx: &Cx, w: &Wait) -> String {
    let s = dur(w.at_least_s(cx.now));
    match w.since {
        Since::Exact(_) => s,
        Since::Asleep(_) | Since::FirstSeen(_) => format!("{}{s}", cx.t.at_least()),
    }
}

/// Who holds what a wait needs ("4242 worker"), or the queue's state.
pub fn held_text(cx: &Cx, w: &Wait) -> String {
    match &w.on {
        WaitOn::Sem { .. } => {
            let Some((op, h)) = cx.s.model.wait_holders(w) else {
                return "?".into();
            };
            match h {
                Some(h) => {
                    let mut s = h
                        .pids
                        .iter()
                        .take(3)
                        .map(|&p| format!("{p} {}", cx.comm(p)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    if h.source == crate::model::HolderSource::LastPidGuess {
                        s.push_str(" (last op)");
                    }
                    s
                }
                None if op.sem_op == 0 => "waits for zero".into(),
                None => "no holder known".into(),
            }
        }
        WaitOn::MsgRcv { msqid, .. } => match cx.s.model.queue_at(wait_obj(w, *msqid)) {
            Some(q) if q.qnum == 0 => "queue empty".into(),
            Some(q) => format!("{} msgs, none of its type", q.qnum),
            None => "queue gone".into(),
        },
        WaitOn::MsgSnd { msqid, .. } => match cx.s.model.queue_at(wait_obj(w, *msqid)) {
            Some(q) => format!(
                "full: {}/{}",
                super::size(q.cbytes),
                q.qbytes.map_or("?".into(), super::size)
            ),
            None => "queue gone".into(),
        },
    }
}

/// An object a wait names: of the wait's namespace.
fn wait_obj(w: &Wait, id: i32) -> ObjId {
    ObjId { ns: w.ns, id }
}

/// The waits, filtered and sorted as the view asks.
fn waits<'a>(cx: &'a Cx, vs: &ViewState) -> Vec<&'a Wait> {
    let mut v: Vec<&Wait> =
        cx.s.model
            .waits()
            .filter(|w| {
                matches(&vs.filter, || {
                    format!(
                        "{} {} {} {}",
                        w.pid,
                        cx.comm(w.pid),
                        on_text(cx, w).0,
                        held_text(cx, w)
                    )
                })
            })
            .collect();
    v.sort_by(|a, b| {
        let o = match vs.sort {
            0 => a.at_least_s(cx.now).total_cmp(&b.at_least_s(cx.now)),
            1 => a.pid.cmp(&b.pid),
            _ => (a.on.kind(), a.on.id()).cmp(&(b.on.kind(), b.on.id())),
        };
        dir(o, vs.desc).then(a.tid.cmp(&b.tid))
    });
    v
}

pub fn draw(f: &mut Frame, area: Rect, cx: &Cx, vs: &mut ViewState) {
    let t = cx.t;
    let n_find = cx.s.findings.len();
    let wide = area.width >= 120;
    // The calls/s chart: boxed when there is room, one line at 80x24.
    let activity_h = match area.height {
        30.. => 3,
        16.. => 1,
        _ => 0,
    };
    let [act, rest] =
        Layout::vertical([Constraint::Length(activity_h), Constraint::Min(1)]).areas(area);
    if activity_h > 0 {
        activity(f, act, cx);
    }
    let (waits_area, prob_area, busy_area) = if rest.height < 12 {
        // Small: the waits only (the header still counts the problems).
        (rest, Rect::default(), Rect::default())
    } else if rest.height < 18 && !wide {
        let prob_h = (n_find.max(1) as u16 + 2).min(5);
        let [w, p] = Layout::vertical([Constraint::Min(3), Constraint::Length(prob_h)]).areas(rest);
        (w, p, Rect::default())
    } else if wide {
        let [l, r] = Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
            .areas(rest);
        let [p, b] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(r);
        (l, p, b)
    } else {
        let prob_h = (n_find.max(1) as u16 + 2).min(rest.height / 4).max(3);
        let [w, p, b] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(prob_h),
            Constraint::Percentage(30),
        ])
        .areas(rest);
        (w, p, b)
    };
    let ws = waits(cx, vs);
    // What /proc would not tell: said where the answer would be.
    let blind = unreadable_waits(cx);
    let nobody = match blind {
        Some(u) => format!("no blocked call seen, but {}", super::blind::said(u)),
        None => "nobody is blocked in an IPC call".into(),
    };
    let total = cx.s.model.waits().count();
    let keys: Vec<u64> = ws.iter().map(|w| w.tid as u64).collect();
    let long = cx.s.cfg.long_wait_s;
    // A TID column that only repeats the PID is left out.
    let mut cols = COLS;
    cols[7] = super::ns::column(cx);
    if ws.iter().all(|w| w.tid == w.pid) {
        cols[1].prio = super::HIDE;
    }
    let sort = super::sorted(View::Overview, vs);
    vs.shown = table(
        f,
        waits_area,
        &t,
        waits_title(cx, ws.len(), total, &vs.filter, blind),
        &cols,
        &keys,
        &mut vs.list,
        &super::empty_text(&vs.filter, &nobody),
        sort,
        true,
        |i, c| {
            let w = ws[i];
            let s = match c {
                0 => w.pid.to_string(),
                1 => w.tid.to_string(),
                2 => cx.comm(w.pid),
                3 => on_text(cx, w).0,
                4 => on_text(cx, w).1,
                5 => waited_text(cx, w),
                6 => held_text(cx, w),
                _ => super::ns::label(cx, w.ns),
            };
            Line::from(s)
        },
        |i| {
            if ws[i].at_least_s(cx.now) >= long {
                t.warn()
            } else {
                Style::new()
            }
        },
    );
    if !prob_area.is_empty() {
        problems::summary(f, prob_area, cx);
    }
    if !busy_area.is_empty() {
        busiest(f, busy_area, cx);
    }
}

/// The process of a waiting thread (the rows' key is the tid).
pub fn target(cx: &Cx, key: u64) -> Option<Target> {
    let w = cx.s.model.waits().find(|w| u64::from(w.tid) == key)?;
    Some(Target::Proc(w.pid))
}

/// What the last snapshot could not read about blocked calls (another user's /proc files,
/// unprivileged): the waits shown may not be all.
pub fn unreadable_waits<'a>(cx: &Cx<'a>) -> Option<&'a crate::snapshot::Unknown> {
    super::blind::unknown(cx, super::blind::Blind::Waits)
}

fn waits_title(
    cx: &Cx,
    shown: usize,
    total: usize,
    filter: &str,
    blind: Option<&crate::snapshot::Unknown>,
) -> Line<'static> {
    let mut l = super::title_with("Waiting now", shown, total, filter);
    if let Some(u) = blind {
        l.spans.push(Span::styled(
            format!(
                "+ unknown: {} ",
                u.what.replace(" (/proc/PID/task/*/syscall)", "")
            ),
            cx.t.warn(),
        ));
    }
    l
}

/// Calls and waits per second, boxed when there is room, one line at 80x24.
fn activity(f: &mut Frame, area: Rect, cx: &Cx) {
    let inner = if area.height >= 3 {
        let b = super::block(area, &cx.t, Line::from(" IPC calls and waits per second "));
        let inner = b.inner(area);
        f.render_widget(b, area);
        inner
    } else {
        area
    };
    let line = super::chart::overview_line(cx, inner.width as usize);
    f.render_widget(Paragraph::new(line), inner);
}

const BUSY: [super::Col; 6] = [
    col("OBJECT", 14, 0),
    rcol("OPS/S", 7, 0),
    rcol("CALLS", 8, 1),
    rcol("ERRORS", 6, 3),
    rcol("WAITED", 9, 2),
    rcol("WAITERS", 7, 1),
];

struct Busy {
    name: String,
    rate: f64,
    calls: u64,
    errors: u64,
    wait_ns: u64,
    waiters: usize,
}

fn busiest(f: &mut Frame, area: Rect, cx: &Cx) {
    let m = &cx.s.model;
    let mut v: Vec<Busy> = Vec::new();
    let many = cx.s.ns_shown > 1;
    let mut add = |kind: ObjKind, oid: ObjId| {
        let a = cx.acct(kind, oid);
        let nw = m.waiters_at(kind, oid).count();
        if a.is_none_or(|a| a.calls == 0) && nw == 0 {
            return;
        }
        v.push(Busy {
            name: match many {
                true => format!(
                    "{} {} {}",
                    kind.name(),
                    oid.id,
                    super::ns::label(cx, oid.ns)
                ),
                false => format!("{} {}", kind.name(), oid.id),
            },
            rate: a.map_or(0.0, |a| a.rate()),
            calls: a.map_or(0, |a| a.calls),
            errors: a.map_or(0, |a| a.errors),
            wait_ns: a.map_or(0, |a| a.blocked_ns),
            waiters: nw,
        });
    };
    for s in m.sem_sets() {
        add(ObjKind::Sem, s.id);
    }
    for s in m.segments() {
        add(ObjKind::Shm, s.id);
    }
    for q in m.queues() {
        add(ObjKind::Msg, q.id);
    }
    v.sort_by(|a, b| {
        b.rate
            .total_cmp(&a.rate)
            .then(b.waiters.cmp(&a.waiters))
            .then(b.calls.cmp(&a.calls))
            .then(a.name.cmp(&b.name))
    });
    let keys: Vec<u64> = (0..v.len() as u64).collect();
    let mut list = crate::ui::app::ListState::default();
    table(
        f,
        area,
        &cx.t,
        Line::from(" Busiest objects "),
        &BUSY,
        &keys,
        &mut list,
        "no calls seen yet",
        None,
        false,
        |i, c| {
            let b = &v[i];
            Line::from(match c {
                0 => b.name.clone(),
                1 => num(b.rate),
                2 => num(b.calls as f64),
                3 => b.errors.to_string(),
                4 => dur_ns(b.wait_ns),
                _ => b.waiters.to_string(),
            })
        },
        |_| Style::new(),
    );
}
