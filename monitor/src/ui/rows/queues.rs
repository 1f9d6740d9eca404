//! Message queues: messages and bytes queued against qbytes — one snapshot's figures, all
//! three from the same `Queue` — the last sender and receiver, and the threads blocked
//! sending (queue full) or receiving (nothing of their type).
use std::{collections::BTreeMap, rc::Rc};

use super::{
    cx::Cx,
    table::{col, rcol, Column, Row, Table, Value, HIDE},
    waits::{self, Waiters},
};
use crate::{
    analysis::IpcKind,
    model::{ObjId, ObjKind, Queue},
    ui::{theme::Tone, view::Target},
};

const COLS: [Column; 14] = [
    rcol("MSQID", 8, 0).asc(),
    col("KEY", 11, 4),
    rcol("MSGS", 6, 0),
    col("BYTES / MAX", 20, 0).desc(),
    col("SENDER", 8, 1),
    col("RECEIVER", 8, 2),
    col("BLOCKED", 14, 0).desc(),
    rcol("LAST SEND", 9, 3).asc(),
    rcol("LAST RECV", 9, 3).asc(),
    rcol("CALLS/S", 7, 2),
    col("FLAGS", 11, 1),
    col("OWNER", 8, 6),
    col("PERMS", 5, 6),
    col("IPC NS", 10, HIDE),
];

/// "rcv 3100 snd 3101": who is blocked receiving and sending.
pub fn blocked_text(rcv: &Waiters, snd: &Waiters) -> String {
    let mut v = Vec::new();
    let pids = |w: &Waiters| crate::ui::fmt::pids(w.pids.iter().copied(), 2);
    if !rcv.pids.is_empty() {
        v.push(format!("rcv {}", pids(rcv)));
    }
    if !snd.pids.is_empty() {
        v.push(format!("snd {}", pids(snd)));
    }
    v.join(" ")
}

/// What the cells need, worked out once per build.
struct Ctx {
    marks: BTreeMap<ObjId, Vec<&'static str>>,
    blocked: BTreeMap<ObjId, (Waiters, Waiters)>,
}

/// Every queue of the namespaces shown, in id order; the cells made when asked for.
pub fn table(cx: &Cx) -> Table {
    let ctx = Ctx {
        marks: cx.marks(IpcKind::Msg),
        blocked: waits::by_queue(cx),
    };
    let mut cols = COLS.to_vec();
    cols[13] = cx.ns_column();
    let mut qs: Vec<&Queue> = cx.s.model.queues().collect();
    qs.sort_by_key(|q| (q.id.id, q.id.ns));
    let rows = qs
        .into_iter()
        .map(|q| {
            let warn = ctx.blocked.contains_key(&q.id) || ctx.marks.contains_key(&q.id);
            Row::lazy(cx.s.obj_key(q.id), COLS.len(), Some(Target::Queue(q.id))).tone(if warn {
                Tone::Warn
            } else {
                Tone::Plain
            })
        })
        .collect();
    Table {
        name: "Message queues".into(),
        note: None,
        columns: cols,
        rows,
        empty: "no message queues in the IPC namespaces shown".into(),
        sort: (0, false),
        counts: true,
        fill: Some(Rc::new(move |s, t, r, c| cell(&Cx::new(s, t), &ctx, r, c))),
        built_sorted: Some((0, false)),
    }
}

/// A queue's cell: its messages, bytes and maximum all of one `Queue` (one snapshot's).
fn cell(cx: &Cx, ctx: &Ctx, r: &Row, c: usize) -> Value {
    let Some(Target::Queue(oid)) = r.target else {
        return Value::Blank;
    };
    let Some(q) = cx.s.model.queue_at(oid) else {
        return Value::Blank;
    };
    let none = (Waiters::default(), Waiters::default());
    let (rcv, snd) = ctx.blocked.get(&q.id).unwrap_or(&none);
    match c {
        0 => Value::Int(q.id.id.into()),
        1 => Value::IpcKey(q.key),
        2 => Value::Int(q.qnum as i64),
        3 => Value::Fill {
            bytes: q.cbytes,
            max: q.qbytes,
        },
        4 => Value::pid(q.last_send_pid),
        5 => Value::pid(q.last_recv_pid),
        6 => match rcv.threads() + snd.threads() {
            0 => Value::Text("-".into()),
            n => Value::Int(n as i64).with(blocked_text(rcv, snd)),
        },
        7 => cx.since(q.stime),
        8 => cx.since(q.rtime),
        9 => Value::Count(cx.rate(ObjKind::Msg, q.id)),
        10 => {
            let mut flags = Vec::new();
            if ctx.marks.contains_key(&q.id) {
                flags.push("LEAK: unread");
            }
            if q.qbytes.is_some_and(|m| m > 0 && q.cbytes >= m) {
                flags.push("full");
            }
            Value::Text(if flags.is_empty() {
                "-".into()
            } else {
                flags.join(",")
            })
        }
        11 => Value::Text(cx.user(q.owner_uid)),
        12 => Value::Perms(q.perms),
        13 => Value::Text(cx.ns_label(q.id.ns)),
        _ => Value::Blank,
    }
}
