//! The Overview's rows: who waits now (pid, comm, on what, for how long — growing live —
//! and who holds it), and the busiest objects.
use std::collections::BTreeMap;

use super::{
    cx::Cx,
    table::{col, rcol, Column, Row, Table, Value, HIDE},
    waits,
};
use crate::{
    model::{ObjId, ObjKind},
    ui::{theme::Tone, view::Target},
};

/// The holder and the wait come before the name, the op and the thread id.
const WAITS: [Column; 8] = [
    rcol("PID", 7, 0).asc(),
    rcol("TID", 7, 6).asc(),
    col("COMM", 13, 2),
    // "sem 1048608 #12": ids past a million are ordinary on a busy host, and the
    // semaphore's number is what a person needs.
    col("ON", 16, 0),
    rcol("OP", 4, 4).nosort(),
    rcol("WAITED", 8, 0),
    col("HELD BY / STATE", 0, 1),
    col("IPC NS", 10, HIDE),
];

/// Every blocked thread, longest wait first.
pub fn waits(cx: &Cx) -> Table {
    let long = cx.s.cfg.long_wait_s;
    let mut cols = WAITS.to_vec();
    cols[7] = cx.ns_column();
    let all: Vec<_> = cx.s.model.waits().collect();
    if all.iter().all(|w| w.tid == w.pid) {
        cols[1].prio = HIDE;
    }
    let rows = all
        .into_iter()
        .map(|w| {
            let (on, op) = waits::on(cx, w);
            let tone = if w.at_least_s(cx.now) >= long {
                Tone::Warn
            } else {
                Tone::Plain
            };
            Row::new(
                w.tid.into(),
                vec![
                    Value::Int(w.pid.into()),
                    Value::Int(w.tid.into()),
                    Value::Text(cx.comm(w.pid)),
                    Value::Text(on),
                    op,
                    waits::waited(cx, w),
                    Value::Text(waits::held(cx, w)),
                    Value::Text(cx.ns_label(w.ns)),
                ],
                Some(Target::Proc(w.pid)),
            )
            .tone(tone)
        })
        .collect();
    // What /proc would not tell: said where the answer would be.
    let blind = super::blind::unknown(cx, super::blind::Blind::Waits);
    Table {
        name: "Waiting now".into(),
        note: blind.map(|u| {
            (
                format!(
                    "+ unknown: {} ",
                    u.what.replace(" (/proc/PID/task/*/syscall)", "")
                ),
                Tone::Warn,
            )
        }),
        columns: cols,
        rows,
        empty: match blind {
            Some(u) => format!("no blocked call seen, but {}", super::blind::said(u)),
            None => "nobody is blocked in an IPC call".into(),
        },
        sort: (5, true),
        counts: true,
    }
}

const BUSY: [Column; 6] = [
    col("OBJECT", 14, 0),
    rcol("CALLS/S", 8, 0),
    rcol("CALLS", 8, 1),
    rcol("FAILED", 6, 3),
    rcol("BLOCKED", 9, 2),
    rcol("WAITING", 7, 1),
];

/// The objects with calls or waiters, by calls per second (then waiting threads, calls).
pub fn busiest(cx: &Cx) -> Table {
    let m = &cx.s.model;
    let mut threads: BTreeMap<(ObjKind, ObjId), usize> = BTreeMap::new();
    for w in m.waits() {
        *threads.entry((w.on.obj_kind(), waits::obj(w))).or_default() += 1;
    }
    let mut v: Vec<(f64, usize, u64, Row)> = Vec::new();
    let mut add = |kind: ObjKind, oid: ObjId, target: Target| {
        let a = cx.acct(kind, oid);
        let nw = threads.get(&(kind, oid)).copied().unwrap_or(0);
        if a.is_none_or(|a| a.calls == 0) && nw == 0 {
            return;
        }
        let name = if cx.many_ns() {
            format!("{} {} {}", kind.name(), oid.id, cx.ns_label(oid.ns))
        } else {
            format!("{} {}", kind.name(), oid.id)
        };
        let rate = a.map_or(0.0, |a| a.rate());
        let calls = a.map_or(0, |a| a.calls);
        let row = Row::new(
            v.len() as u64,
            vec![
                Value::Text(name),
                Value::Count(rate),
                Value::Count(calls as f64),
                Value::Int(a.map_or(0, |a| a.errors) as i64),
                Value::Ns(a.map_or(0, |a| a.blocked_ns)),
                Value::Int(nw as i64),
            ],
            Some(target),
        );
        v.push((rate, nw, calls, row));
    };
    for s in m.sem_sets() {
        add(ObjKind::Sem, s.id, Target::Sem(s.id));
    }
    for s in m.segments() {
        add(ObjKind::Shm, s.id, Target::Shm(s.id));
    }
    for q in m.queues() {
        add(ObjKind::Msg, q.id, Target::Queue(q.id));
    }
    // Ties by waiting threads, then calls (the sort by calls/s keeps this order).
    v.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    Table {
        name: "Busiest objects".into(),
        note: None,
        columns: BUSY.to_vec(),
        rows: v.into_iter().map(|x| x.3).collect(),
        empty: "no calls seen yet".into(),
        sort: (1, true),
        counts: true,
    }
}
