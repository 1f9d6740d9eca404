//! Processes: per process what it waits on, its threads waiting, the time it spent blocked,
//! the segments, sets and queues it uses, its calls and failed calls. Only the processes
//! that use IPC, unless `a` shows all; in a tree (F5), each with its objects below it.
use std::{collections::BTreeMap, rc::Rc};

use super::{
    blind::{said, unknown, Blind},
    cx::Cx,
    table::{col, rcol, Column, Row, Table, Value, HIDE},
    waits,
};
use crate::{
    model::{HolderSource, ObjId, Process, Wait, WaitOn},
    ui::{store::ProcUse, theme::Tone, view::Target},
};

const COLS: [Column; 14] = [
    rcol("PID", 7, 0).asc(),
    col("COMM", 14, 0),
    col("S", 1, 3),
    col("WAITING ON", 20, 0),
    rcol("WAITING", 8, 2),
    rcol("BLOCKED", 9, 1),
    rcol("SEGS", 4, 1),
    rcol("SETS", 4, 1),
    rcol("QUEUES", 6, 2),
    rcol("CALLS", 7, 2),
    rcol("FAILED", 7, 1),
    col("USER", 8, 5),
    col("COMMAND", 0, 4),
    col("IPC NS", 10, HIDE),
];

/// The columns' places, for the tree's rows.
const COMM: usize = 1;
const ON: usize = 3;

/// How the list is shown: every process or only IPC users, as a tree of their objects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Shown {
    pub all: bool,
    pub tree: bool,
}

static NO_USE: ProcUse = ProcUse {
    sets: std::collections::BTreeSet::new(),
    queues: std::collections::BTreeSet::new(),
};

fn uses_ipc(p: &Process, u: &ProcUse, waits: usize, calls: u64) -> bool {
    waits > 0
        || !p.attached_shmids().is_empty()
        || !u.sets.is_empty()
        || !u.queues.is_empty()
        || calls > 0
}

/// The objects of a process as rows below it: what it waits on, holds, has attached, uses.
fn tree(cx: &Cx, p: &Process, u: &ProcUse, waits: &[&Wait], id: u64) -> Vec<Row> {
    let m = &cx.s.model;
    let ns = m.process_ns(p.pid);
    let mut v: Vec<(String, String, Target)> = Vec::new();
    for &w in waits {
        let oid = waits::obj(w);
        let t = match w.on {
            WaitOn::Sem { .. } => Target::Sem(oid),
            _ => Target::Queue(oid),
        };
        v.push((waits::on(cx, w).0, format!("tid {} waits", w.tid), t));
    }
    for &oid in &u.sets {
        let mut held = Vec::new();
        if let Some(s) = m.sem_set_at(oid) {
            for x in s.semaphores.iter().flatten() {
                if m.holders(oid, x.semnum)
                    .is_some_and(|h| h.pids.contains(&p.pid) && h.source == HolderSource::Events)
                {
                    held.push(format!("#{}", x.semnum));
                }
            }
        }
        let role = if held.is_empty() {
            "uses".into()
        } else {
            format!("holds {}", held.join(","))
        };
        v.push((format!("sem {}", oid.id), role, Target::Sem(oid)));
    }
    for id in p.attached_shmids() {
        let oid = ObjId { ns, id };
        v.push((format!("shm {id}"), "attached".into(), Target::Shm(oid)));
    }
    for &oid in &u.queues {
        v.push((format!("msq {}", oid.id), "uses".into(), Target::Queue(oid)));
    }
    let n = v.len();
    v.into_iter()
        .enumerate()
        .map(|(i, (what, role, t))| {
            let mut cells = vec![Value::Blank; COLS.len()];
            cells[COMM] = Value::Text(format!("{}{what}", cx.t.branch(i + 1 == n)));
            cells[ON] = Value::Text(role);
            // Below the pid's key: the process's rows stay apart from its objects'.
            Row::new(id | ((i as u64 + 1) << 32), cells, Some(t)).tone(Tone::Dim)
        })
        .collect()
}

/// The processes of the namespaces shown (those using IPC unless `shown.all`), by pid; the
/// cells made when asked for (a tree's rows of objects at once).
pub fn table(cx: &Cx, shown: Shown) -> Table {
    let m = &cx.s.model;
    let mut by_pid: BTreeMap<u32, Vec<Wait>> = BTreeMap::new();
    for w in m.waits() {
        by_pid.entry(w.pid).or_default().push(w.clone());
    }
    let mut cols = COLS.to_vec();
    cols[13] = cx.ns_column();
    // Of the namespaces in scope (`n` picks one).
    let rows = m
        .processes()
        .filter_map(|p| {
            let u = cx.s.uses.get(&p.pid).unwrap_or(&NO_USE);
            let calls = m.account().process(p.pid).map_or(0, |a| a.calls);
            let ws: Vec<&Wait> = by_pid.get(&p.pid).into_iter().flatten().collect();
            if !shown.all && !uses_ipc(p, u, ws.len(), calls) {
                return None;
            }
            let tone = if !p.alive() {
                Tone::Dim
            } else if !ws.is_empty() {
                Tone::Warn
            } else {
                Tone::Plain
            };
            let id = u64::from(p.pid);
            let mut row = Row::lazy(id, COLS.len(), Some(Target::Proc(p.pid))).tone(tone);
            if shown.tree {
                row.sub = tree(cx, p, u, &ws, id);
            }
            Some(row)
        })
        .collect();
    let (name, keys) = match (shown.all, shown.tree) {
        (true, false) => ("Processes", "all; a: IPC users only, F5: tree "),
        (false, false) => ("Processes using IPC", "a: all, F5: tree "),
        (true, true) => (
            "Processes and their objects",
            "all; a: IPC users only, F5: list ",
        ),
        (false, true) => ("Processes using IPC and their objects", "a: all, F5: list "),
    };
    Table {
        name: name.into(),
        note: Some((keys.into(), Tone::Dim)),
        columns: cols,
        rows,
        empty: none_text(cx),
        sort: (0, false),
        counts: true,
        fill: Some(Rc::new(move |s, t, r, c| {
            cell(&Cx::new(s, t), &by_pid, r, c)
        })),
        built_sorted: Some((0, false)),
    }
}

fn cell(cx: &Cx, by_pid: &BTreeMap<u32, Vec<Wait>>, r: &Row, c: usize) -> Value {
    let m = &cx.s.model;
    let Some(Target::Proc(pid)) = r.target else {
        return Value::Blank;
    };
    let Some(p) = m.process(pid) else {
        return Value::Blank;
    };
    let u = cx.s.uses.get(&pid).unwrap_or(&NO_USE);
    let a = m.account().process(pid);
    let ws = by_pid.get(&pid).map_or(&[][..], Vec::as_slice);
    match c {
        0 => Value::Int(pid.into()),
        1 => Value::Text(crate::text::escape(&p.comm).into_owned()),
        2 => Value::Text(p.state.to_string()),
        3 => ws.first().map_or(Value::Text("-".into()), |w| {
            let mut s = waits::on(cx, w).0;
            s.push(' ');
            s.push_str(&waits::waited(cx, w).text(&cx.t));
            Value::Text(s)
        }),
        4 => Value::Int(ws.len() as i64),
        5 => Value::Ns(a.map_or(0, |a| a.blocked_ns)),
        6 => Value::Int(p.attached_shmids().len() as i64),
        7 => Value::Int(u.sets.len() as i64),
        8 => Value::Int(u.queues.len() as i64),
        9 => Value::Count(a.map_or(0, |a| a.calls) as f64),
        10 => Value::Int(a.map_or(0, |a| a.errors) as i64),
        11 => p.uid.map_or(Value::Unknown, |u| Value::Text(cx.user(u))),
        12 => {
            Value::Text(crate::text::escape(p.cmdline.as_deref().unwrap_or_default()).into_owned())
        }
        13 => Value::Text(cx.ns_label(m.process_ns(pid))),
        _ => Value::Blank,
    }
}

/// Why no process is listed: none uses IPC, or none that could be read does.
fn none_text(cx: &Cx) -> String {
    let none = "no process uses System V IPC (a: show all processes)";
    match unknown(cx, Blind::Waits).or_else(|| unknown(cx, Blind::Maps)) {
        Some(u) => format!("no process seen using System V IPC, but {}", said(u)),
        None => none.into(),
    }
}
