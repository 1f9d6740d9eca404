//! Events: the event log as rows — time, pid, comm, the call with its result (the text of
//! `ipctop trace`), its duration — sorted by time unless asked otherwise. When the probe
//! aggregates in the kernel it is a sample (failures, waits, creates, removals, control
//! calls): the title says how many calls it leaves out. Rows of finished calls are kept from
//! one build to the next (the log only grows at its end), so a busy log costs only its new
//! lines.
use std::collections::HashMap;

use super::{
    cx::Cx,
    table::{col, rcol, Column, Row, Table, Value, HIDE},
};
use crate::{
    event::Event,
    line::{text_line, wall_time},
    ui::{theme::Tone, view::Target},
};

const COLS: [Column; 6] = [
    col("TIME", 15, 0),
    rcol("PID", 7, 1).asc(),
    rcol("TID", 7, 5).asc(),
    col("COMM", 12, 2),
    col("CALL = RESULT", 0, 0).keep_tail(" = "),
    rcol("DURATION", 9, 1),
];

/// The call and its result: the trace line without its time, pid and comm (they have
/// columns) and without its duration (it has one too).
fn call_text(ev: &Event, line: &str) -> String {
    let start = line.find(&format!(" {}(", ev.syscall)).map_or(0, |i| i + 1);
    let end = line
        .rfind(" <")
        .filter(|&e| e > start)
        .unwrap_or(line.len());
    line[start..end].to_string()
}

fn row(cx: &Cx, seq: u64, ev: &Event, at: u64) -> Row {
    let clock = cx.s.model.clock();
    let line = text_line(ev, &clock, at);
    let ts = ev.start_ns.or(ev.end_ns).unwrap_or(at);
    let dur = match (ev.end_ns, ev.duration_ns(), ev.start_ns) {
        (Some(_), Some(d), _) => Value::Ns(d),
        // Still going: at least this long.
        (None, _, Some(s)) => Value::Lead(
            cx.t.at_least(),
            Box::new(Value::Ns(cx.now.saturating_sub(s))),
        ),
        _ => Value::Unknown,
    };
    let mut comm = crate::text::escape(&ev.comm.as_str()).into_owned();
    if ev.compat {
        comm.push_str(" (32-bit)");
    }
    let tone = if ev.failed() {
        Tone::Alert
    } else if ev.in_progress() {
        Tone::Warn
    } else {
        Tone::Plain
    };
    let ns = ev.ipc_ns.unwrap_or_else(|| cx.s.model.process_ns(ev.pid));
    Row::new(
        seq,
        vec![
            Value::Text(wall_time(clock.unix_ns(ts))),
            Value::Int(ev.pid.into()),
            Value::Int(ev.tid.into()),
            Value::Text(comm),
            Value::Text(call_text(ev, &line)),
            dur,
            Value::Text(cx.ns_label(ns)),
        ],
        Some(Target::Proc(ev.pid)),
    )
    .tone(tone)
}

/// The log of the namespaces shown, oldest first; the rows of finished calls in `prev`
/// are taken over.
pub fn table(cx: &Cx, prev: Option<Table>) -> Table {
    let log = &cx.s.log;
    let m = &cx.s.model;
    let first = cx.s.logged - log.len() as u64;
    let scoped = *m.scope() != crate::model::Scope::All;
    // A host-IPC container's scope: its processes' calls only.
    let procs = matches!(m.scope(), crate::model::Scope::Procs { .. });
    let in_scope = |ev: &Event| {
        !scoped
            || m.in_scope(ev.ipc_ns.unwrap_or_else(|| m.process_ns(ev.pid)))
                && (!procs || m.pid_in_scope(ev.pid))
    };
    let mut kept: HashMap<u64, Row> = prev
        .map(|t| t.rows)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.id >= first && r.tone != Tone::Warn)
        .map(|r| (r.id, r))
        .collect();
    let rows: Vec<Row> = log
        .iter()
        .enumerate()
        .filter(|(_, (ev, _))| in_scope(ev))
        .map(|(i, (ev, at))| {
            let seq = first + i as u64;
            kept.remove(&seq).unwrap_or_else(|| row(cx, seq, ev, *at))
        })
        .collect();
    let mut cols = COLS.to_vec();
    cols.push(cx.ns_column());
    if log.iter().all(|(e, _)| e.tid == e.pid) {
        cols[2].prio = HIDE;
    }
    let left_out = cx.s.calls_not_logged();
    let name = if scoped {
        format!(
            "Events ({} of {} kept: {})",
            rows.len(),
            log.len(),
            m.scope().describe()
        )
    } else if left_out > 0 {
        format!(
            "Events: sample, {} of {} kept; {} calls counted, not shown",
            log.len(),
            cx.s.logged,
            left_out
        )
    } else {
        format!("Events ({} kept of {} seen)", log.len(), cx.s.logged)
    };
    let empty = if cx.s.logged == 0 {
        match &cx.s.probe {
            crate::feed::ProbeStatus::SnapshotOnly(_) => {
                "no events: the probe is not running (snapshots only)"
            }
            _ => "no calls seen yet",
        }
    } else {
        "no event of the namespaces shown (n: the next)"
    };
    Table {
        name,
        note: None,
        columns: cols,
        rows,
        empty: empty.into(),
        sort: (0, false),
        counts: false,
        fill: None,
        built_sorted: None,
    }
}
