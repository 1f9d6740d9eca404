//! The Overview's rows: who waits now (pid, comm, on what, for how long — growing live —
//! and who holds it), and the busiest objects.
use std::{collections::BTreeMap, rc::Rc};

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
        fill: None,
        built_sorted: None,
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

/// The objects with calls or waiters, by calls per second (then waiting threads, calls);
/// the cells made when asked for.
pub fn busiest(cx: &Cx) -> Table {
    let m = &cx.s.model;
    let mut threads: BTreeMap<(ObjKind, ObjId), usize> = BTreeMap::new();
    for w in m.waits() {
        *threads.entry((w.on.obj_kind(), waits::obj(w))).or_default() += 1;
    }
    let mut v: Vec<(f64, usize, u64, Target)> = Vec::new();
    let mut add = |kind: ObjKind, oid: ObjId, target: Target| {
        let a = cx.acct(kind, oid);
        let nw = threads.get(&(kind, oid)).copied().unwrap_or(0);
        if a.is_none_or(|a| a.calls == 0) && nw == 0 {
            return;
        }
        v.push((
            a.map_or(0.0, |a| a.rate()),
            nw,
            a.map_or(0, |a| a.calls),
            target,
        ));
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
    // Ties by waiting threads, then calls: the order sorting by calls/s keeps.
    v.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    let rows = v
        .into_iter()
        .enumerate()
        .map(|(i, (.., t))| Row::lazy(i as u64, BUSY.len(), Some(t)))
        .collect();
    Table {
        name: "Busiest objects".into(),
        note: None,
        columns: BUSY.to_vec(),
        rows,
        empty: "no calls seen yet".into(),
        sort: (1, true),
        counts: true,
        fill: Some(Rc::new(move |s, t, r, c| {
            busy_cell(&Cx::new(s, t), &threads, r, c)
        })),
        built_sorted: Some((1, true)),
    }
}

fn busy_cell(cx: &Cx, threads: &BTreeMap<(ObjKind, ObjId), usize>, r: &Row, c: usize) -> Value {
    let (kind, oid) = match r.target {
        Some(Target::Sem(id)) => (ObjKind::Sem, id),
        Some(Target::Shm(id)) => (ObjKind::Shm, id),
        Some(Target::Queue(id)) => (ObjKind::Msg, id),
        _ => return Value::Blank,
    };
    let a = cx.acct(kind, oid);
    match c {
        0 if cx.many_ns() => Value::Text(format!(
            "{} {} {}",
            kind.name(),
            oid.id,
            cx.ns_label(oid.ns)
        )),
        0 => Value::Text(format!("{} {}", kind.name(), oid.id)),
        1 => Value::Count(a.map_or(0.0, |a| a.rate())),
        2 => Value::Count(a.map_or(0, |a| a.calls) as f64),
        3 => Value::Int(a.map_or(0, |a| a.errors) as i64),
        4 => Value::Ns(a.map_or(0, |a| a.blocked_ns)),
        5 => Value::Int(threads.get(&(kind, oid)).copied().unwrap_or(0) as i64),
        _ => Value::Blank,
    }
}
