//! Message queues: messages and bytes queued against qbytes — one snapshot's figures, all
//! three from the same `Queue` — the last sender and receiver, and the threads blocked
//! sending (queue full) or receiving (nothing of their type).
use super::{
    cx::Cx,
    table::{col, rcol, Column, Row, Table, Value, HIDE},
    waits::{self, Waiters},
};
use crate::{
    analysis::IpcKind,
    model::{ObjKind, Queue},
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

pub fn table(cx: &Cx) -> Table {
    let marks = cx.marks(IpcKind::Msg);
    let bl = waits::by_queue(cx);
    let none = (Waiters::default(), Waiters::default());
    let mut cols = COLS.to_vec();
    cols[13] = cx.ns_column();
    let mut qs: Vec<&Queue> = cx.s.model.queues().collect();
    qs.sort_by_key(|q| (q.id.id, q.id.ns));
    let rows = qs
        .into_iter()
        .map(|q| {
            let (rcv, snd) = bl.get(&q.id).unwrap_or(&none);
            let threads = rcv.threads() + snd.threads();
            let blocked = if threads == 0 {
                Value::Text("-".into())
            } else {
                Value::Int(threads as i64).with(blocked_text(rcv, snd))
            };
            let mut flags = Vec::new();
            if marks.contains_key(&q.id) {
                flags.push("LEAK: unread");
            }
            if q.qbytes.is_some_and(|m| m > 0 && q.cbytes >= m) {
                flags.push("full");
            }
            let flags = if flags.is_empty() {
                "-".into()
            } else {
                flags.join(",")
            };
            Row::new(
                cx.s.obj_key(q.id),
                vec![
                    Value::Int(q.id.id.into()),
                    Value::IpcKey(q.key),
                    Value::Int(q.qnum as i64),
                    Value::Fill {
                        bytes: q.cbytes,
                        max: q.qbytes,
                    },
                    Value::pid(q.last_send_pid),
                    Value::pid(q.last_recv_pid),
                    blocked,
                    cx.since(q.stime),
                    cx.since(q.rtime),
                    Value::Count(cx.rate(ObjKind::Msg, q.id)),
                    Value::Text(flags),
                    Value::Text(cx.user(q.owner_uid)),
                    Value::Perms(q.perms),
                    Value::Text(cx.ns_label(q.id.ns)),
                ],
                Some(Target::Queue(q.id)),
            )
            .tone(if threads > 0 || marks.contains_key(&q.id) {
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
    }
}
