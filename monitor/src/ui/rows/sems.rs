//! Semaphores: the sets, each expandable to its semaphores (value, ncnt, zcnt, waiting
//! threads, holders), with calls/s, the last operation, the time blocked on it and the marks
//! of findings (LEAK, DEADLOCK, NO INIT).
use std::collections::BTreeSet;

use super::{
    cx::Cx,
    table::{col, rcol, Column, Row, Table, Value, HIDE},
    waits::{self, Waiters},
};
use crate::{
    analysis::IpcKind,
    model::{HolderSource, ObjId, ObjKind, SemSet},
    ui::{theme::Tone, view::Target},
};

const COLS: [Column; 15] = [
    col("SEMID", 9, 0),
    col("KEY", 11, 5),
    rcol("NSEMS", 5, 3),
    rcol("VALUE", 5, 1).nosort(),
    rcol("NCNT", 4, 1),
    rcol("ZCNT", 4, 3),
    col("WAITING", 12, 0).desc(),
    col("HOLDERS", 12, 0).desc(),
    rcol("CALLS/S", 7, 2),
    col("LAST OP", 11, 2),
    rcol("BLOCKED", 9, 3),
    col("FLAGS", 8, 1),
    col("OWNER", 8, 6),
    col("PERMS", 5, 6),
    col("IPC NS", 10, HIDE),
];

/// The column of the tree's marks, and of the waiting threads (for the tests).
pub const SEMID: usize = 0;

/// What is expanded: every set, or these.
pub struct Open<'a> {
    pub all: bool,
    pub sets: &'a BTreeSet<ObjId>,
}

fn sum(s: &SemSet, f: impl Fn(&crate::model::Semaphore) -> i32) -> Value {
    match &s.semaphores {
        Some(v) => Value::Int(v.iter().map(|x| f(x) as i64).sum()),
        None => Value::Unknown,
    }
}

/// Every set of the namespaces shown, in id order; the expanded ones with their semaphores.
pub fn table(cx: &Cx, open: &Open) -> Table {
    let t = cx.t;
    let m = &cx.s.model;
    let by_sem = waits::by_sem(cx);
    let marks = cx.marks(IpcKind::Sem);
    let mut cols = COLS.to_vec();
    cols[14] = cx.ns_column();
    let mut sets: Vec<&SemSet> = m.sem_sets().collect();
    sets.sort_by_key(|s| (s.id.id, s.id.ns));
    let rows = sets
        .into_iter()
        .map(|s| {
            let oid = s.id;
            let is_open = open.all || open.sets.contains(&oid);
            let mark = match (is_open, t.unicode) {
                (true, true) => "▾ ",
                (false, true) => "▸ ",
                (true, false) => "- ",
                (false, false) => "+ ",
            };
            let mut waiting = Waiters::default();
            for (_, w) in by_sem.range((oid, 0)..=(oid, u16::MAX)) {
                waiting.extend(w);
            }
            let mut held = BTreeSet::new();
            for x in s.semaphores.iter().flatten() {
                if let Some(h) = m.holders(oid, x.semnum) {
                    if h.source == HolderSource::Events {
                        held.extend(h.pids);
                    }
                }
            }
            let a = cx.acct(ObjKind::Sem, oid);
            let last = match a.and_then(|a| a.last_mono_ns) {
                Some(at) => Some(cx.now.saturating_sub(at) as f64 / 1e9),
                None if s.otime == 0 => None,
                None => Some(cx.now_unix - s.otime as f64),
            };
            let last = match a.and_then(|a| a.last_pid) {
                Some(p) => Value::Ago(last).with(p.to_string()),
                None => Value::Ago(last),
            };
            let flags = marks.get(&oid).map_or("-".to_string(), |v| v.join(","));
            let counted = s.semaphores.iter().flatten().any(|x| x.ncnt + x.zcnt > 0);
            let base = cx.s.obj_key(oid) << 20;
            let mut row = Row::new(
                base,
                vec![
                    Value::Lead(mark, Box::new(Value::Int(oid.id.into()))),
                    Value::IpcKey(s.key),
                    Value::Int(s.nsems.into()),
                    if s.semaphores.is_none() {
                        Value::Unknown
                    } else {
                        Value::Blank
                    },
                    sum(s, |x| x.ncnt),
                    sum(s, |x| x.zcnt),
                    waiting.value(),
                    Value::Pids(held.into_iter().collect()),
                    Value::Count(cx.rate(ObjKind::Sem, oid)),
                    last,
                    Value::Ns(a.map_or(0, |a| a.blocked_ns)),
                    Value::Text(flags),
                    Value::Text(cx.user(s.owner_uid)),
                    Value::Perms(s.perms),
                    Value::Text(cx.ns_label(oid.ns)),
                ],
                Some(Target::Sem(oid)),
            );
            row.tone = if waiting.threads() > 0 || counted || marks.contains_key(&oid) {
                Tone::Warn
            } else {
                Tone::Plain
            };
            if is_open {
                let v = s.semaphores.as_deref().unwrap_or(&[]);
                row.sub = v
                    .iter()
                    .enumerate()
                    .map(|(i, x)| {
                        let w = by_sem.get(&(oid, x.semnum)).cloned().unwrap_or_default();
                        let holders = match m.holders(oid, x.semnum) {
                            Some(h) if h.source == HolderSource::Events => Value::Pids(h.pids),
                            Some(h) => Value::Text(format!("{}?", crate::ui::fmt::pids(h.pids, 3))),
                            None => Value::Text("-".into()),
                        };
                        let last_op = match x.last_pid {
                            0 => "never".to_string(),
                            p => format!("by {p}"),
                        };
                        let mut cells = vec![Value::Blank; COLS.len()];
                        cells[0] =
                            Value::Text(format!("  {}#{}", t.branch(i + 1 == v.len()), x.semnum));
                        cells[3] = Value::Int(x.value.into());
                        cells[4] = Value::Int(x.ncnt.into());
                        cells[5] = Value::Int(x.zcnt.into());
                        cells[6] = w.value();
                        cells[7] = holders;
                        cells[9] = Value::Text(last_op);
                        let waited = w.threads() > 0 || x.ncnt + x.zcnt > 0;
                        Row::new(
                            base | (u64::from(x.semnum) + 1),
                            cells,
                            Some(Target::Sem(oid)),
                        )
                        .tone(if waited { Tone::Warn } else { Tone::Dim })
                    })
                    .collect();
            }
            row
        })
        .collect();
    Table {
        name: "Semaphore sets".into(),
        note: None,
        columns: cols,
        rows,
        empty: "no semaphore sets in the IPC namespaces shown".into(),
        sort: (SEMID, false),
        counts: true,
    }
}
