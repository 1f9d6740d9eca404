//! Processes: per process its waits, total wait time, segments attached, sets and queues
//! used, calls and failed calls. Only the processes that use IPC, unless `a` shows all.
use ratatui::{layout::Rect, style::Style, text::Line, Frame};

use super::{col, dir, dur_ns, matches, num, overview, rcol, table, Cx};
use crate::{
    model::{Process, Tally, Wait},
    ui::{
        app::{View, ViewState},
        store::ProcUse,
    },
};

const COLS: [super::Col; 14] = [
    rcol("PID", 7, 0),
    col("COMM", 15, 0),
    col("S", 1, 3),
    col("WAITING ON", 20, 0),
    rcol("WAITS", 5, 2),
    rcol("WAIT TIME", 9, 1),
    rcol("SEGS", 4, 1),
    rcol("SETS", 4, 1),
    rcol("QUEUES", 6, 2),
    rcol("CALLS", 7, 2),
    rcol("FAILED", 6, 1),
    col("USER", 8, 5),
    col("COMMAND", 0, 4),
    col("IPC NS", 10, super::HIDE),
];

static NO_USE: ProcUse = ProcUse {
    sets: std::collections::BTreeSet::new(),
    queues: std::collections::BTreeSet::new(),
};

pub struct Row<'a> {
    pub p: &'a Process,
    pub u: &'a ProcUse,
    /// Its account (calls, failures, time blocked).
    pub a: Option<&'a Tally>,
    pub waits: Vec<&'a Wait>,
}

impl Row<'_> {
    /// Time blocked in finished calls plus the waits going on.
    pub fn wait_ns(&self, now: u64) -> u64 {
        self.a.map_or(0, |a| a.blocked_ns)
            + self
                .waits
                .iter()
                .map(|w| (w.at_least_s(now) * 1e9) as u64)
                .sum::<u64>()
    }

    pub fn calls(&self) -> u64 {
        self.a.map_or(0, |a| a.calls)
    }

    pub fn errors(&self) -> u64 {
        self.a.map_or(0, |a| a.errors)
    }

    fn uses_ipc(&self) -> bool {
        !self.waits.is_empty()
            || !self.p.attached_shmids().is_empty()
            || !self.u.sets.is_empty()
            || !self.u.queues.is_empty()
            || self.calls() > 0
    }
}

pub fn draw(f: &mut Frame, area: Rect, cx: &Cx, vs: &mut ViewState) {
    let t = cx.t;
    let m = &cx.s.model;
    let mut by_pid: std::collections::BTreeMap<u32, Vec<&Wait>> = Default::default();
    for w in m.waits() {
        by_pid.entry(w.pid).or_default().push(w);
    }
    // Of the namespaces in scope (`n` picks one).
    let all: Vec<Row> = m
        .processes()
        .map(|p| Row {
            p,
            u: cx.s.uses.get(&p.pid).unwrap_or(&NO_USE),
            a: m.account().process(p.pid),
            waits: by_pid.get(&p.pid).cloned().unwrap_or_default(),
        })
        .filter(|r| vs.all || r.uses_ipc())
        .collect();
    let total = all.len();
    let mut rows: Vec<Row> = all
        .into_iter()
        .filter(|r| {
            // Every column shown: the wait's object and id too.
            matches(&vs.filter, || {
                let on = r.waits.first().map_or(String::new(), |w| {
                    format!(
                        "{} {}",
                        overview::on_text(cx, w).0,
                        overview::waited_text(cx, w)
                    )
                });
                format!(
                    "{} {} {} {on} {} {}",
                    r.p.pid,
                    r.p.comm,
                    r.p.state,
                    r.p.uid.map_or(String::new(), |u| cx.user(u)),
                    r.p.cmdline.as_deref().unwrap_or("")
                )
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        let o = match vs.sort {
            0 => a.p.pid.cmp(&b.p.pid),
            1 => a.wait_ns(cx.now).cmp(&b.wait_ns(cx.now)),
            2 => a.waits.len().cmp(&b.waits.len()),
            3 => {
                a.p.attached_shmids()
                    .len()
                    .cmp(&b.p.attached_shmids().len())
            }
            4 => a.calls().cmp(&b.calls()),
            _ => a.errors().cmp(&b.errors()),
        };
        dir(o, vs.desc).then(a.p.pid.cmp(&b.p.pid))
    });
    let keys: Vec<u64> = rows.iter().map(|r| r.p.pid as u64).collect();
    let name = if vs.all {
        "Processes (all; a: IPC users only)"
    } else {
        "Processes using IPC (a: all)"
    };
    let sort = super::sorted(View::Processes, vs);
    let mut cols = COLS;
    cols[13] = super::ns::column(cx);
    vs.shown = table(
        f,
        area,
        &t,
        super::title_with(name, rows.len(), total, &vs.filter),
        &cols,
        &keys,
        &mut vs.list,
        &super::empty_text(&vs.filter, &none_text(cx)),
        sort,
        true,
        |i, c| {
            let r = &rows[i];
            Line::from(match c {
                0 => r.p.pid.to_string(),
                1 => crate::text::escape(&r.p.comm).into_owned(),
                2 => r.p.state.to_string(),
                3 => match r.waits.first() {
                    Some(w) => format!(
                        "{} {}",
                        overview::on_text(cx, w).0,
                        overview::waited_text(cx, w)
                    ),
                    None => "-".into(),
                },
                4 => r.waits.len().to_string(),
                5 => dur_ns(r.wait_ns(cx.now)),
                6 => r.p.attached_shmids().len().to_string(),
                7 => r.u.sets.len().to_string(),
                8 => r.u.queues.len().to_string(),
                9 => num(r.calls() as f64),
                10 => r.errors().to_string(),
                11 => r.p.uid.map_or("?".into(), |u| cx.user(u)),
                13 => super::ns::label(cx, m.process_ns(r.p.pid)),
                _ => crate::text::escape(r.p.cmdline.as_deref().unwrap_or_default()).into_owned(),
            })
        },
        |i| {
            let r = &rows[i];
            if !r.p.alive() {
                t.dim()
            } else if !r.waits.is_empty() {
                t.warn()
            } else {
                Style::new()
            }
        },
    );
}

/// Why no process is listed: none uses IPC, or none that could be read does.
fn none_text(cx: &Cx) -> String {
    use super::blind::{said, unknown, Blind};
    let none = "no process uses System V IPC (a: show all processes)";
    match unknown(cx, Blind::Waits).or_else(|| unknown(cx, Blind::Maps)) {
        Some(u) => format!("no process seen using System V IPC, but {}", said(u)),
        None => none.into(),
    }
}
