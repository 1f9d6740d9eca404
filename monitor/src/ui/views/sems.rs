//! Semaphores: the sets, each expandable to its semaphores (value, ncnt, zcnt, waiters,
//! holders), with ops/s, the last operation and contention (time spent waiting on it).
use std::collections::{BTreeMap, BTreeSet};

use ratatui::{layout::Rect, style::Style, text::Line, Frame};

use super::{ago, ago_mono, col, dir, dur_ns, matches, num, pids, rcol, table, Cx};
use crate::{
    model::{ObjId, ObjKind, SemSet, Semaphore, WaitOn},
    ui::app::{View, ViewState},
};

const COLS: [super::Col; 14] = [
    col("SEMID", 9, 0),
    col("KEY", 11, 5),
    rcol("NSEMS", 5, 2),
    rcol("VALUE", 5, 1),
    rcol("NCNT", 4, 1),
    rcol("ZCNT", 4, 3),
    col("WAITERS", 12, 0),
    col("HOLDERS", 12, 0),
    rcol("OPS/S", 6, 2),
    col("LAST OP", 13, 2),
    rcol("CONTENTION", 10, 3),
    col("OWNER", 8, 6),
    col("PERMS", 5, 6),
    col("IPC NS", 10, super::HIDE),
];

/// Waiting pids per (set, semnum), from the waits and the operation each is blocked on.
pub fn waiters_by_sem(cx: &Cx) -> BTreeMap<(ObjId, u16), BTreeSet<u32>> {
    let mut m: BTreeMap<(ObjId, u16), BTreeSet<u32>> = BTreeMap::new();
    for w in cx.s.model.waits() {
        if let WaitOn::Sem { semid, .. } = w.on {
            let n = cx.s.model.blocking_sop(w).map_or(0, |o| o.semnum);
            let set = ObjId {
                ns: w.ns,
                id: semid,
            };
            m.entry((set, n)).or_default().insert(w.pid);
        }
    }
    m
}

/// Time spent in semop calls on the set (the account's).
pub fn contention_ns(cx: &Cx, semid: ObjId) -> u64 {
    cx.acct(ObjKind::Sem, semid).map_or(0, |o| o.blocked_ns)
}

fn counted_waiters(s: &SemSet) -> i64 {
    s.semaphores
        .iter()
        .flatten()
        .map(|x| (x.ncnt + x.zcnt).max(0) as i64)
        .sum()
}

/// A row: its key, its set, and for a semaphore row the semaphore (and whether it is the
/// set's last).
type SemRow<'a> = (u64, &'a SemSet, Option<(&'a Semaphore, bool)>);

pub fn draw(
    f: &mut Frame,
    area: Rect,
    cx: &Cx,
    vs: &mut ViewState,
    expanded: &BTreeSet<ObjId>,
    expand_all: bool,
) {
    let t = cx.t;
    let m = &cx.s.model;
    let waiting = waiters_by_sem(cx);
    let leaked = super::leaked(cx, crate::analysis::IpcKind::Sem);
    let mut sets: Vec<&SemSet> = m
        .sem_sets()
        .filter(|s| {
            matches(&vs.filter, || {
                let mut txt = format!(
                    "{} {} {} ",
                    s.id.id,
                    crate::event::Key(s.key),
                    super::ns::shown_label(cx, s.id.ns)
                );
                for (_, p) in waiting.range((s.id, 0)..=(s.id, u16::MAX)) {
                    txt.push_str(&format!("{} ", pids(p.iter().copied(), 99)));
                }
                for x in s.semaphores.iter().flatten() {
                    txt.push_str(&format!("{} ", x.last_pid));
                }
                txt
            })
        })
        .collect();
    let rate = |s: &SemSet| cx.rate(ObjKind::Sem, s.id);
    sets.sort_by(|a, b| {
        let o = match vs.sort {
            0 => a.id.id.cmp(&b.id.id),
            1 => counted_waiters(a).cmp(&counted_waiters(b)),
            2 => rate(a).total_cmp(&rate(b)),
            3 => contention_ns(cx, a.id).cmp(&contention_ns(cx, b.id)),
            _ => a.otime.cmp(&b.otime),
        };
        dir(o, vs.desc).then(super::by_id(a.id, b.id))
    });
    let total = m.sem_sets().count();
    let mut rows: Vec<SemRow> = Vec::new();
    for s in &sets {
        let base = cx.s.obj_key(s.id) << 20;
        rows.push((base, s, None));
        if expand_all || expanded.contains(&s.id) {
            let v = s.semaphores.as_deref().unwrap_or(&[]);
            for (i, x) in v.iter().enumerate() {
                rows.push((base | (x.semnum as u64 + 1), s, Some((x, i + 1 == v.len()))));
            }
        }
    }
    let keys: Vec<u64> = rows.iter().map(|r| r.0).collect();
    let sort = super::sorted(View::Semaphores, vs);
    let mut cols = COLS;
    cols[13] = super::ns::column(cx);
    vs.shown = table(
        f,
        area,
        &t,
        super::title_with("Semaphore sets", sets.len(), total, &vs.filter),
        &cols,
        &keys,
        &mut vs.list,
        &super::empty_text(&vs.filter, "no semaphore sets in this IPC namespace"),
        sort,
        true,
        |i, c| {
            let (_, s, sem) = rows[i];
            let (oid, id) = (s.id, s.id.id);
            Line::from(match sem {
                None => {
                    let open = expand_all || expanded.contains(&oid);
                    match c {
                        0 => format!(
                            "{} {id}",
                            match (open, t.unicode) {
                                (true, true) => "▾",
                                (false, true) => "▸",
                                (true, false) => "-",
                                (false, false) => "+",
                            }
                        ),
                        1 => crate::event::Key(s.key).to_string(),
                        2 => s.nsems.to_string(),
                        3 => match &s.semaphores {
                            None => "?".into(),
                            Some(_) => String::new(),
                        },
                        4 => sum(s, |x| x.ncnt),
                        5 => sum(s, |x| x.zcnt),
                        6 if leaked.contains(&oid) => "LEAK".into(),
                        6 => pids(
                            waiting
                                .range((oid, 0)..=(oid, u16::MAX))
                                .flat_map(|(_, p)| p.iter().copied())
                                .collect::<BTreeSet<_>>(),
                            3,
                        ),
                        7 => {
                            let mut h = BTreeSet::new();
                            for x in s.semaphores.iter().flatten() {
                                if let Some(hs) = m.holders(s.id, x.semnum) {
                                    if hs.source == crate::model::HolderSource::Events {
                                        h.extend(hs.pids);
                                    }
                                }
                            }
                            pids(h, 3)
                        }
                        8 => num(cx.rate(ObjKind::Sem, oid)),
                        9 => {
                            let a = cx.acct(ObjKind::Sem, oid);
                            let when = match a.and_then(|a| a.last_mono_ns) {
                                Some(t) => ago_mono(cx.now, Some(t)),
                                None => ago(cx.now_unix, s.otime),
                            };
                            match a.and_then(|a| a.last_pid) {
                                Some(p) => format!("{when} {p}"),
                                None => when,
                            }
                        }
                        10 => dur_ns(contention_ns(cx, oid)),
                        11 => cx.user(s.owner_uid),
                        13 => super::ns::label(cx, s.id.ns),
                        _ => format!("{:04o}", s.perms),
                    }
                }
                Some((x, last)) => match c {
                    0 => format!("  {}#{}", t.branch(last), x.semnum),
                    3 => x.value.to_string(),
                    4 => x.ncnt.to_string(),
                    5 => x.zcnt.to_string(),
                    6 => pids(
                        waiting.get(&(oid, x.semnum)).into_iter().flatten().copied(),
                        3,
                    ),
                    7 => match m.holders(s.id, x.semnum) {
                        Some(h) if h.source == crate::model::HolderSource::Events => {
                            pids(h.pids, 3)
                        }
                        Some(h) => format!("{}?", pids(h.pids, 3)),
                        None => "-".into(),
                    },
                    9 => match x.last_pid {
                        0 => "never".into(),
                        p => format!("by {p}"),
                    },
                    _ => String::new(),
                },
            })
        },
        |i| {
            let (_, s, sem) = rows[i];
            let waited = match sem {
                None => counted_waiters(s) > 0,
                Some((x, _)) => x.ncnt + x.zcnt > 0,
            };
            if waited {
                t.warn()
            } else if sem.is_some() {
                t.dim()
            } else {
                Style::new()
            }
        },
    );
}

fn sum(s: &SemSet, f: impl Fn(&Semaphore) -> i32) -> String {
    match &s.semaphores {
        Some(v) => v.iter().map(|x| f(x) as i64).sum::<i64>().to_string(),
        None => "?".into(),
    }
}
