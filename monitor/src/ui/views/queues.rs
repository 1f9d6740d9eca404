//! Message queues: messages and bytes queued against qbytes, senders, receivers, and who is
//! blocked sending (queue full) or receiving (nothing of its type).
use std::collections::{BTreeMap, BTreeSet};

use ratatui::{layout::Rect, style::Style, text::Line, Frame};

use super::{ago, col, dir, matches, num, pids, rcol, size, table, Cx};
use crate::{
    model::{ObjId, ObjKind, Queue, WaitOn},
    ui::app::{View, ViewState},
};

const COLS: [super::Col; 13] = [
    rcol("MSQID", 8, 0),
    col("KEY", 11, 4),
    rcol("MSGS", 6, 0),
    col("BYTES / MAX", 20, 0),
    col("SENDER", 8, 1),
    col("RECEIVER", 8, 1),
    col("BLOCKED", 14, 0),
    rcol("SENT", 7, 3),
    rcol("RECEIVED", 8, 3),
    rcol("OPS/S", 6, 2),
    col("OWNER", 8, 6),
    col("PERMS", 5, 6),
    col("IPC NS", 10, super::HIDE),
];

/// Blocked (receivers, senders) per queue.
pub fn blocked(cx: &Cx) -> BTreeMap<ObjId, (BTreeSet<u32>, BTreeSet<u32>)> {
    let mut m: BTreeMap<ObjId, (BTreeSet<u32>, BTreeSet<u32>)> = BTreeMap::new();
    for w in cx.s.model.waits() {
        match w.on {
            WaitOn::MsgRcv { msqid, .. } => {
                m.entry(ObjId {
                    ns: w.ns,
                    id: msqid,
                })
                .or_default()
                .0
                .insert(w.pid);
            }
            WaitOn::MsgSnd { msqid, .. } => {
                m.entry(ObjId {
                    ns: w.ns,
                    id: msqid,
                })
                .or_default()
                .1
                .insert(w.pid);
            }
            _ => {}
        }
    }
    m
}

pub fn blocked_text(b: Option<&(BTreeSet<u32>, BTreeSet<u32>)>) -> String {
    let Some((r, s)) = b else {
        return "-".into();
    };
    let mut v = Vec::new();
    if !r.is_empty() {
        v.push(format!("rcv {}", pids(r.iter().copied(), 2)));
    }
    if !s.is_empty() {
        v.push(format!("snd {}", pids(s.iter().copied(), 2)));
    }
    if v.is_empty() {
        "-".into()
    } else {
        v.join(" ")
    }
}

pub fn fill(cx: &Cx, q: &Queue, bar: usize) -> String {
    match q.qbytes {
        Some(max) if max > 0 => {
            let r = q.cbytes as f64 / max as f64;
            format!(
                "{} {:>3.0}% {}",
                cx.t.bar(r, bar),
                r * 100.0,
                size(q.cbytes)
            )
        }
        _ => format!("{} / ?", size(q.cbytes)),
    }
}

fn pid_or_dash(p: u32) -> String {
    if p == 0 {
        "-".into()
    } else {
        p.to_string()
    }
}

pub fn draw(f: &mut Frame, area: Rect, cx: &Cx, vs: &mut ViewState) {
    let t = cx.t;
    let m = &cx.s.model;
    let bl = blocked(cx);
    let leaked = super::leaked(cx, crate::analysis::IpcKind::Msg);
    let mut qs: Vec<&Queue> = m
        .queues()
        .filter(|q| {
            matches(&vs.filter, || {
                format!(
                    "{} {} {} {} {} {}",
                    super::ns::shown_label(cx, q.id.ns),
                    q.id.id,
                    crate::event::Key(q.key),
                    q.last_send_pid,
                    q.last_recv_pid,
                    blocked_text(bl.get(&q.id))
                )
            })
        })
        .collect();
    let nblocked = |q: &Queue| bl.get(&q.id).map_or(0, |(r, s)| r.len() + s.len());
    qs.sort_by(|a, b| {
        let o = match vs.sort {
            0 => a.id.id.cmp(&b.id.id),
            1 => a.qnum.cmp(&b.qnum),
            2 => a.cbytes.cmp(&b.cbytes),
            _ => nblocked(a).cmp(&nblocked(b)),
        };
        dir(o, vs.desc).then(super::by_id(a.id, b.id))
    });
    let keys: Vec<u64> = qs.iter().map(|q| cx.s.obj_key(q.id)).collect();
    let total = m.queues().count();
    let sort = super::sorted(View::Queues, vs);
    let mut cols = COLS;
    cols[12] = super::ns::column(cx);
    vs.shown = table(
        f,
        area,
        &t,
        super::title_with("Message queues", qs.len(), total, &vs.filter),
        &cols,
        &keys,
        &mut vs.list,
        &super::empty_text(&vs.filter, "no message queues in this IPC namespace"),
        sort,
        true,
        |i, c| {
            let q = qs[i];
            Line::from(match c {
                0 => q.id.id.to_string(),
                1 => crate::event::Key(q.key).to_string(),
                2 => q.qnum.to_string(),
                3 => fill(cx, q, 5),
                4 => pid_or_dash(q.last_send_pid),
                5 => pid_or_dash(q.last_recv_pid),
                6 if leaked.contains(&q.id) && !bl.contains_key(&q.id) => "LEAK: unread".into(),
                6 => blocked_text(bl.get(&q.id)),
                7 => ago(cx.now_unix, q.stime),
                8 => ago(cx.now_unix, q.rtime),
                9 => num(cx.rate(ObjKind::Msg, q.id)),
                10 => cx.user(q.owner_uid),
                12 => super::ns::label(cx, q.id.ns),
                _ => format!("{:04o}", q.perms),
            })
        },
        |i| {
            if nblocked(qs[i]) > 0 {
                t.warn()
            } else {
                Style::new()
            }
        },
    );
}
