//! Shared memory: segments with size, nattch, who has them attached, whether their creator
//! is alive, age, flags (LEAK, hugetlb, marked for destruction, locked, threads in futex
//! waits inside it).
use std::{collections::BTreeMap, rc::Rc};

use super::{
    cx::Cx,
    table::{col, rcol, Column, Row, Table, Value, HIDE},
};
use crate::{
    analysis::IpcKind,
    model::{ObjId, Segment},
    ui::{theme::Tone, view::Target},
};

const COLS: [Column; 13] = [
    rcol("SHMID", 8, 0).asc(),
    col("KEY", 11, 4),
    rcol("SIZE", 10, 0),
    rcol("NATTCH", 6, 0),
    col("ATTACHED", 14, 1).desc(),
    col("CREATOR", 13, 1),
    rcol("AGE", 7, 2),
    col("FLAGS", 9, 1),
    rcol("LAST AT/DT", 10, 3).asc(),
    rcol("RSS", 10, 4),
    col("OWNER", 8, 6),
    col("PERMS", 5, 6),
    col("IPC NS", 10, HIDE),
];

/// "alive", "gone" or "reused" for a creator pid.
pub fn creator_state(cx: &Cx, s: &Segment) -> &'static str {
    if cx.s.model.alive_at(s.creator_pid, s.ctime) {
        "alive"
    } else if cx.alive(s.creator_pid) {
        "reused"
    } else {
        "gone"
    }
}

/// "huge", "dest", "lock"; "-" for none.
pub fn flags(s: &Segment) -> String {
    let mut v = Vec::new();
    if s.hugetlb == Some(true) {
        v.push("huge");
    }
    if s.marked_for_destroy {
        v.push("dest");
    }
    if s.locked {
        v.push("lock");
    }
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}

/// Every segment of the namespaces shown, in id order; the cells made when asked for.
pub fn table(cx: &Cx) -> Table {
    let marks = cx.marks(IpcKind::Shm);
    let mut cols = COLS.to_vec();
    cols[12] = cx.ns_column();
    let mut segs: Vec<&Segment> = cx.s.model.segments().collect();
    segs.sort_by_key(|s| (s.id.id, s.id.ns));
    let rows = segs
        .into_iter()
        .map(|s| {
            let tone = if marks.contains_key(&s.id) {
                Tone::Warn
            } else if s.marked_for_destroy {
                Tone::Dim
            } else {
                Tone::Plain
            };
            Row::lazy(cx.s.obj_key(s.id), COLS.len(), Some(Target::Shm(s.id))).tone(tone)
        })
        .collect();
    Table {
        name: "Shared memory segments".into(),
        note: None,
        columns: cols,
        rows,
        empty: "no shared memory segments in the IPC namespaces shown".into(),
        sort: (0, false),
        counts: true,
        fill: Some(Rc::new(move |st, t, r, c| {
            cell(&Cx::new(st, t), &marks, r, c)
        })),
        built_sorted: Some((0, false)),
    }
}

fn cell(cx: &Cx, marks: &BTreeMap<ObjId, Vec<&'static str>>, r: &Row, c: usize) -> Value {
    let Some(Target::Shm(oid)) = r.target else {
        return Value::Blank;
    };
    let Some(s) = cx.s.model.segment_at(oid) else {
        return Value::Blank;
    };
    match c {
        0 => Value::Int(s.id.id.into()),
        1 => Value::IpcKey(s.key),
        2 => Value::Size(s.size),
        3 => Value::Int(s.nattch as i64),
        // The pids seen with it mapped; "+?" when some processes could not be read.
        4 if s.attachments_complete => Value::Pids(s.attached_pids()),
        4 => Value::Pids(s.attached_pids()).with("+?"),
        5 => Value::Int(s.creator_pid.into()).with(creator_state(cx, s)),
        6 => cx.since(s.ctime),
        7 => {
            let f = match (marks.contains_key(&s.id), flags(s).as_str()) {
                (false, f) => f.to_string(),
                (true, "-") => "LEAK".into(),
                (true, f) => format!("LEAK,{f}"),
            };
            // Threads in futex waits inside it (process-shared semaphores or mutexes, as
            // PostgreSQL's): POSIX waiters on a System V segment.
            Value::Text(match cx.s.model.segment_futex_waits(s.id).len() {
                0 => f,
                n if f == "-" => format!("{n} waiting"),
                n => format!("{f},{n} waiting"),
            })
        }
        8 => cx.since(s.atime.max(s.dtime)),
        9 => s.rss.map_or(Value::Text("-".into()), Value::Size),
        10 => Value::Text(cx.user(s.owner_uid)),
        11 => Value::Perms(s.perms),
        12 => Value::Text(cx.ns_label(s.id.ns)),
        _ => Value::Blank,
    }
}
