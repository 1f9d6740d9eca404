//! What the details have in common: the account in one line, titles, links to processes
//! with their roles, and the history at the end.
use std::collections::BTreeMap;

use super::{chart, hints};
use crate::{
    model::{ObjId, ObjKind, Tally},
    ui::{
        fmt::{dur, dur_ns, num},
        rows::{cx::Cx, doc::Doc},
        view::Target,
    },
};

/// Details are at least this wide at 80 columns (inside the borders).
pub const HISTORY_WIDTH: usize = 76;

/// The account of an object or process in one line: rate, calls, failures by errno,
/// interrupted calls, waits (≥ the one threshold) and time blocked.
pub fn account_text(cx: &Cx, a: Option<&Tally>) -> String {
    let Some(a) = a else {
        return "no calls seen".into();
    };
    let mut s = format!("{}/s {} calls {} failed", num(a.rate()), a.calls, a.errors);
    if !a.errnos.is_empty() {
        let e: Vec<String> = a
            .errnos
            .iter()
            .map(|((sys, e), n)| format!("{} {sys} x{n}", crate::event::errno_name(*e)))
            .collect();
        s.push_str(&format!(" ({})", e.join(", ")));
    }
    if a.interrupted > 0 {
        s.push_str(&format!(" {} interrupted", a.interrupted));
    }
    s.push_str(&format!(
        "; {} waits{}{} blocked {} max {}",
        a.waits,
        cx.t.at_least(),
        dur_ns(&cx.t, crate::model::WAIT_NS),
        dur_ns(&cx.t, a.blocked_ns),
        dur_ns(&cx.t, a.max_wait_ns)
    ));
    s
}

/// An object's history: its figures per sample and its wait-time histogram.
pub fn history(cx: &Cx, d: &mut Doc, kind: ObjKind, id: ObjId) {
    d.head("History");
    for l in chart::object_lines(cx, kind, id, HISTORY_WIDTH) {
        d.line(l);
    }
    if let Some(a) = cx.acct(kind, id) {
        for l in chart::wait_lines(cx, a, HISTORY_WIDTH) {
            d.line(l);
        }
    }
}

/// "4m05s ago", or "never" for a kernel time of 0.
pub fn ago_said(cx: &Cx, unix_s: i64) -> String {
    if unix_s == 0 {
        "never".into()
    } else {
        format!("{} ago", dur(cx.now_unix - unix_s as f64))
    }
}

/// `3.0s ago by 42`, or `never` (the kernel keeps pid 0 and time 0 until it happens).
pub fn last_by(cx: &Cx, unix_s: i64, pid: u32) -> String {
    match (unix_s, pid) {
        (0, 0) => "never".into(),
        (_, 0) => format!("{} by an unknown process", ago_said(cx, unix_s)),
        (t, p) => format!("{} by {p}", ago_said(cx, t)),
    }
}

/// The processes that made calls on an object (observers left out), with how many.
pub fn users(cx: &Cx, kind: ObjKind, id: ObjId, involved: &mut Vec<(u32, String)>) {
    for (p, t) in cx.s.model.account().users_of(kind, id) {
        involved.push((p, format!("{} calls", t.calls)));
    }
}

/// A detail's title: the object, and its namespace while more than one is shown.
pub fn obj_title(cx: &Cx, what: &str, id: ObjId) -> String {
    if cx.many_ns() {
        format!(" {what} {} ({}) ", id.id, cx.ns_label(id.ns))
    } else {
        format!(" {what} {} ", id.id)
    }
}

/// A link to a process: "4242 worker: holds #0", "(gone)" when it has exited.
pub fn proc_link(cx: &Cx, d: &mut Doc, pid: u32, role: &str) {
    d.link(Target::Proc(pid), format!("{}: {role}", cx.who(pid)));
}

/// One link per process, its roles joined.
pub fn proc_links(cx: &Cx, d: &mut Doc, involved: Vec<(u32, String)>) {
    let mut roles: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (p, r) in involved {
        let e = roles.entry(p).or_default();
        if !e.contains(&r) {
            e.push(r);
        }
    }
    d.head("Processes (Enter to go)");
    if roles.is_empty() {
        d.text("  none known");
    }
    for (p, r) in roles {
        proc_link(cx, d, p, &r.join(", "));
    }
}

/// The end of an object's details: the processes involved (links), its history, and what to
/// run next.
pub fn ending(cx: &Cx, d: &mut Doc, involved: Vec<(u32, String)>, kind: ObjKind, id: ObjId) {
    proc_links(cx, d, involved);
    history(cx, d, kind, id);
    let target = match kind {
        ObjKind::Sem => Target::Sem(id),
        ObjKind::Shm => Target::Shm(id),
        ObjKind::Msg => Target::Queue(id),
    };
    hints::add(d, hints::hints(cx, target));
}
