//! Semaphores: the sets, each expandable to its semaphores (value, ncnt, zcnt, waiting
//! threads, holders), with calls/s, the last operation, the time blocked on it and the marks
//! of findings (LEAK, DEADLOCK, NO INIT).
use std::{
    collections::{BTreeMap, BTreeSet},
    rc::Rc,
};

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

/// The column of the sets' ids (with the tree's marks).
const SEMID: usize = 0;

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

/// What the cells of every row need, worked out once per build.
struct Ctx {
    by_sem: BTreeMap<(ObjId, u16), Waiters>,
    marks: BTreeMap<ObjId, Vec<&'static str>>,
    all: bool,
    open: BTreeSet<ObjId>,
}

/// Every thread waiting on a set (on any of its semaphores).
fn set_waiters(by_sem: &BTreeMap<(ObjId, u16), Waiters>, oid: ObjId) -> Waiters {
    let mut w = Waiters::default();
    for (_, x) in by_sem.range((oid, 0)..=(oid, u16::MAX)) {
        w.extend(x);
    }
    w
}

/// Every set of the namespaces shown, in id order; the expanded ones with their semaphores.
/// The rows' cells are made when asked for (`cell`).
pub fn table(cx: &Cx, open: &Open) -> Table {
    let m = &cx.s.model;
    let ctx = Ctx {
        by_sem: waits::by_sem(cx),
        marks: cx.marks(IpcKind::Sem),
        all: open.all,
        open: open.sets.clone(),
    };
    let mut cols = COLS.to_vec();
    cols[14] = cx.ns_column();
    let mut sets: Vec<&SemSet> = m.sem_sets().collect();
    sets.sort_by_key(|s| (s.id.id, s.id.ns));
    let rows = sets
        .into_iter()
        .map(|s| {
            let oid = s.id;
            let target = Some(Target::Sem(oid));
            let base = cx.s.obj_key(oid) << 20;
            let counted = s.semaphores.iter().flatten().any(|x| x.ncnt + x.zcnt > 0);
            let waited = counted || set_waiters(&ctx.by_sem, oid).threads() > 0;
            let tone = if waited || ctx.marks.contains_key(&oid) {
                Tone::Warn
            } else {
                Tone::Plain
            };
            let mut row = Row::lazy(base, COLS.len(), target).tone(tone);
            if ctx.all || ctx.open.contains(&oid) {
                row.sub = s
                    .semaphores
                    .iter()
                    .flatten()
                    .map(|x| {
                        let w = ctx.by_sem.get(&(oid, x.semnum));
                        let waited = w.is_some_and(|w| w.threads() > 0) || x.ncnt + x.zcnt > 0;
                        Row::lazy(base | (u64::from(x.semnum) + 1), COLS.len(), target)
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
        fill: Some(Rc::new(move |s, t, r, c| cell(&Cx::new(s, t), &ctx, r, c))),
        built_sorted: Some((SEMID, false)),
    }
}

/// A cell of a set's row, or of one of its semaphores' (the row's id has the semaphore's
/// number, plus one, in its low bits).
fn cell(cx: &Cx, ctx: &Ctx, r: &Row, c: usize) -> Value {
    let m = &cx.s.model;
    let Some(Target::Sem(oid)) = r.target else {
        return Value::Blank;
    };
    let Some(s) = m.sem_set_at(oid) else {
        return Value::Blank;
    };
    match (r.id & 0xf_ffff) as u16 {
        0 => set_cell(cx, ctx, s, c),
        n => semaphore_cell(cx, ctx, s, n - 1, c),
    }
}

fn set_cell(cx: &Cx, ctx: &Ctx, s: &SemSet, c: usize) -> Value {
    let (m, t, oid) = (&cx.s.model, cx.t, s.id);
    match c {
        0 => {
            let is_open = ctx.all || ctx.open.contains(&oid);
            let mark = match (is_open, t.unicode) {
                (true, true) => "▾ ",
                (false, true) => "▸ ",
                (true, false) => "- ",
                (false, false) => "+ ",
            };
            Value::Lead(mark, Box::new(Value::Int(oid.id.into())))
        }
        1 => Value::IpcKey(s.key),
        2 => Value::Int(s.nsems.into()),
        3 if s.semaphores.is_none() => Value::Unknown,
        3 => Value::Blank,
        4 => sum(s, |x| x.ncnt),
        5 => sum(s, |x| x.zcnt),
        6 => set_waiters(&ctx.by_sem, oid).value(),
        7 => {
            let mut held = BTreeSet::new();
            for x in s.semaphores.iter().flatten() {
                if let Some(h) = m.holders(oid, x.semnum) {
                    if h.source == HolderSource::Events {
                        held.extend(h.pids);
                    }
                }
            }
            Value::Pids(held.into_iter().collect())
        }
        8 => Value::Count(cx.rate(ObjKind::Sem, oid)),
        // The last semop, as the kernel keeps it (one source: its time, sem_otime, and the
        // pid of the last semop on each semaphore, sempid); the account's last call may be
        // another's semctl.
        9 => {
            let last = (s.otime != 0).then_some(cx.now_unix - s.otime as f64);
            let mut by: Vec<u32> = s.semaphores.iter().flatten().map(|x| x.last_pid).collect();
            by.retain(|&p| p != 0);
            by.sort_unstable();
            by.dedup();
            match by.is_empty() {
                true => Value::Ago(last),
                false => Value::Ago(last).with(crate::ui::fmt::pids(by, 2)),
            }
        }
        10 => Value::Ns(cx.acct(ObjKind::Sem, oid).map_or(0, |a| a.blocked_ns)),
        11 => Value::Text(ctx.marks.get(&oid).map_or("-".to_string(), |v| v.join(","))),
        12 => Value::Text(cx.user(s.owner_uid)),
        13 => Value::Perms(s.perms),
        14 => Value::Text(cx.ns_label(oid.ns)),
        _ => Value::Blank,
    }
}

fn semaphore_cell(cx: &Cx, ctx: &Ctx, s: &SemSet, semnum: u16, c: usize) -> Value {
    let (m, oid) = (&cx.s.model, s.id);
    let v = s.semaphores.as_deref().unwrap_or(&[]);
    let Some((i, x)) = v.iter().enumerate().find(|(_, x)| x.semnum == semnum) else {
        return Value::Blank;
    };
    match c {
        0 => Value::Text(format!("  {}#{}", cx.t.branch(i + 1 == v.len()), x.semnum)),
        3 => Value::Int(x.value.into()),
        4 => Value::Int(x.ncnt.into()),
        5 => Value::Int(x.zcnt.into()),
        6 => ctx
            .by_sem
            .get(&(oid, x.semnum))
            .cloned()
            .unwrap_or_default()
            .value(),
        7 => match m.holders(oid, x.semnum) {
            Some(h) if h.source == HolderSource::Events => Value::Pids(h.pids),
            Some(h) => Value::Text(format!("{}?", crate::ui::fmt::pids(h.pids, 3))),
            None => Value::Text("-".into()),
        },
        9 => Value::Text(match x.last_pid {
            0 => "never".to_string(),
            p => format!("by {p}"),
        }),
        _ => Value::Blank,
    }
}
