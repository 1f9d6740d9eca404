//! Details of one object or process (Enter), with links to what it involves: from a process
//! to its objects and from an object to its processes (Enter follows, Esc comes back).
use std::collections::BTreeSet;

use ratatui::{
    layout::Rect,
    text::{Line, Span},
    widgets::Paragraph,
    Frame,
};

use super::{ago, ago_mono, chart, dur_ns, num, overview, queues, sems, shm, size, Cx};
use crate::{
    model::{HolderSource, ObjId, ObjKind, Tally, WaitOn},
    ui::app::{ListState, Target},
};

mod process;
use process::{deadlock_lines, proc_lines};

type Lines = Vec<(Line<'static>, Option<Target>)>;

fn text(v: &mut Lines, s: String) {
    v.push((Line::from(s), None));
}

/// The account of an object or process in one line: rate, calls, failures by errno,
/// interrupted calls, waits (≥ the one threshold) and time blocked.
fn account_text(cx: &Cx, a: Option<&Tally>) -> String {
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
        dur_ns(crate::model::WAIT_NS),
        dur_ns(a.blocked_ns),
        dur_ns(a.max_wait_ns)
    ));
    s
}

/// Details are at least this wide at 80 columns (inside the borders).
const HISTORY_WIDTH: usize = 76;

/// An object's history: its figures per sample and its wait-time histogram.
fn history(cx: &Cx, v: &mut Lines, kind: ObjKind, id: ObjId) {
    head(cx, v, "History");
    let lines = chart::object_lines(cx, kind, id, HISTORY_WIDTH);
    v.extend(lines.into_iter().map(|l| (l, None)));
    if let Some(a) = cx.acct(kind, id) {
        let lines = chart::wait_lines(cx, a, HISTORY_WIDTH);
        v.extend(lines.into_iter().map(|l| (l, None)));
    }
}

/// `3.0s ago by 42`, or `never` (the kernel keeps pid 0 and time 0 until it happens).
fn last_by(cx: &Cx, unix_s: i64, pid: u32) -> String {
    match (unix_s, pid) {
        (0, 0) => "never".into(),
        (_, 0) => format!("{} ago by an unknown process", ago(cx.now_unix, unix_s)),
        (t, p) => format!("{} ago by {p}", ago(cx.now_unix, t)),
    }
}

/// The processes that made calls on an object (observers left out), with how many.
fn users(cx: &Cx, kind: ObjKind, id: ObjId, involved: &mut Vec<(u32, String)>) {
    for (p, t) in cx.s.model.account().users_of(kind, id) {
        involved.push((p, format!("{} calls", t.calls)));
    }
}

/// A detail's title: the object, and its namespace while more than one is shown.
fn obj_title(cx: &Cx, what: &str, id: ObjId) -> String {
    if cx.s.ns_shown > 1 {
        format!(" {what} {} ({}) ", id.id, super::ns::label(cx, id.ns))
    } else {
        format!(" {what} {} ", id.id)
    }
}

fn head(cx: &Cx, v: &mut Lines, s: &str) {
    v.push((Line::from(""), None));
    v.push((Line::styled(s.to_string(), cx.t.title()), None));
}

fn link(cx: &Cx, v: &mut Lines, t: Target, s: String) {
    v.push((
        Line::from(vec![Span::styled("  > ", cx.t.key()), Span::raw(s)]),
        Some(t),
    ));
}

fn proc_link(cx: &Cx, v: &mut Lines, pid: u32, role: &str) {
    let state = if cx.alive(pid) { "" } else { " (gone)" };
    link(
        cx,
        v,
        Target::Proc(pid),
        format!("{pid} {}{state}: {role}", cx.comm(pid)),
    );
}

fn sem_lines(cx: &Cx, oid: ObjId) -> Lines {
    let (mut v, id) = (Lines::new(), oid.id);
    let m = &cx.s.model;
    let Some(s) = m.sem_set_at(oid) else {
        text(&mut v, format!("Semaphore set {id} is gone."));
        return v;
    };
    text(
        &mut v,
        format!(
            "Semaphore set {id}  key {}  {} semaphores  perms {:04o}  owner {}  creator {}{}",
            crate::event::Key(s.key),
            s.nsems,
            s.perms,
            cx.owner(s.owner_uid, s.owner_gid),
            cx.user(s.creator_uid),
            s.creator_pid.map_or(String::new(), |p| format!(" pid {p}"))
        ),
    );
    text(
        &mut v,
        format!(
            "created {}, last semop {}",
            super::ago_said(cx.now_unix, s.ctime),
            super::ago_said(cx.now_unix, s.otime),
        ),
    );
    text(&mut v, account_text(cx, cx.acct(ObjKind::Sem, oid)));
    let waiting = sems::waiters_by_sem(cx);
    let mut involved: Vec<(u32, String)> = Vec::new();
    head(cx, &mut v, "Semaphores");
    match &s.semaphores {
        None => text(
            &mut v,
            match super::blind::unknown(cx, super::blind::Blind::SemValues) {
                Some(u) => format!("  values unknown: {}", super::blind::said(u)),
                None => "  values unknown (semctl refused)".into(),
            },
        ),
        Some(vals) => {
            for x in vals {
                let holders = match m.holders(s.id, x.semnum) {
                    Some(h) => {
                        for &p in &h.pids {
                            involved.push((p, format!("holds #{}", x.semnum)));
                        }
                        format!(
                            "held by {}{}",
                            super::pids(h.pids, 4),
                            if h.source == HolderSource::LastPidGuess {
                                " (guess: last op)"
                            } else {
                                ""
                            }
                        )
                    }
                    None => "no holder".into(),
                };
                let w = waiting.get(&(oid, x.semnum));
                for &p in w.into_iter().flatten() {
                    involved.push((p, format!("waits on #{}", x.semnum)));
                }
                text(
                    &mut v,
                    format!(
                        "  #{:<3} value {:<5} ncnt {:<3} zcnt {:<3} {holders}; waiting {}; last op by {}",
                        x.semnum,
                        x.value,
                        x.ncnt,
                        x.zcnt,
                        super::pids(w.into_iter().flatten().copied(), 4),
                        x.last_pid
                    ),
                );
                if x.last_pid != 0 {
                    involved.push((x.last_pid, format!("last op on #{}", x.semnum)));
                }
            }
        }
    }
    if let Some(p) = s.creator_pid {
        involved.push((p, "created it".into()));
    }
    users(cx, ObjKind::Sem, oid, &mut involved);
    proc_links(cx, &mut v, involved);
    history(cx, &mut v, ObjKind::Sem, oid);
    v
}

/// One link per process, its roles joined.
fn proc_links(cx: &Cx, v: &mut Lines, involved: Vec<(u32, String)>) {
    let mut roles: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
    for (p, r) in involved {
        let e = roles.entry(p).or_default();
        if !e.contains(&r) {
            e.push(r);
        }
    }
    head(cx, v, "Processes (Enter to go)");
    if roles.is_empty() {
        text(v, "  none known".into());
    }
    for (p, r) in roles {
        proc_link(cx, v, p, &r.join(", "));
    }
}

fn shm_lines(cx: &Cx, oid: ObjId) -> Lines {
    let id = oid.id;
    let mut v = Lines::new();
    let Some(s) = cx.s.model.segment_at(oid) else {
        text(&mut v, format!("Segment {id} is gone."));
        return v;
    };
    text(
        &mut v,
        format!(
            "Segment {id}  key {}  {}  perms {:04o}  owner {}  flags {}",
            crate::event::Key(s.key),
            size(s.size),
            s.perms,
            cx.owner(s.owner_uid, s.owner_gid),
            shm::flags(s)
        ),
    );
    text(
        &mut v,
        format!(
            "created {} by pid {} ({}); nattch {}{}; last attach {}, detach {}, by pid {}",
            super::ago_said(cx.now_unix, s.ctime),
            s.creator_pid,
            shm::creator_state(cx, s),
            s.nattch,
            if s.attachments_complete {
                String::new()
            } else {
                match super::blind::unknown(cx, super::blind::Blind::Maps) {
                    Some(u) => format!(" (not all seen: {})", super::blind::said(u)),
                    None => " (some in processes we cannot read)".into(),
                }
            },
            super::ago_said(cx.now_unix, s.atime),
            super::ago_said(cx.now_unix, s.dtime),
            s.last_pid
        ),
    );
    if let (Some(rss), Some(swap)) = (s.rss, s.swap) {
        text(
            &mut v,
            format!("resident {}, swapped {}", size(rss), size(swap)),
        );
    }
    let mut involved = Vec::new();
    for a in &s.attachments {
        involved.push((
            a.pid,
            format!(
                "attached at {:#x} ({})",
                a.addr,
                if a.writable { "rw" } else { "ro" }
            ),
        ));
    }
    if cx.alive(s.creator_pid) {
        involved.push((s.creator_pid, "created it".into()));
    }
    proc_links(cx, &mut v, involved);
    history(cx, &mut v, ObjKind::Shm, oid);
    v
}

fn queue_lines(cx: &Cx, oid: ObjId) -> Lines {
    let id = oid.id;
    let mut v = Lines::new();
    let m = &cx.s.model;
    let Some(q) = m.queue_at(oid) else {
        text(&mut v, format!("Queue {id} is gone."));
        return v;
    };
    text(
        &mut v,
        format!(
            "Queue {id}  key {}  perms {:04o}  owner {}  created {} ago",
            crate::event::Key(q.key),
            q.perms,
            cx.owner(q.owner_uid, q.owner_gid),
            ago(cx.now_unix, q.ctime)
        ),
    );
    text(
        &mut v,
        format!(
            "{} messages, {} of {}",
            q.qnum,
            size(q.cbytes),
            q.qbytes.map_or("?".into(), size)
        ),
    );
    text(&mut v, format!("  {}", queues::fill(cx, q, 20)));
    text(
        &mut v,
        format!(
            "last send {}, last receive {}",
            last_by(cx, q.stime, q.last_send_pid),
            last_by(cx, q.rtime, q.last_recv_pid),
        ),
    );
    text(&mut v, account_text(cx, cx.acct(ObjKind::Msg, oid)));
    let mut involved = Vec::new();
    let bl = queues::blocked(cx);
    if let Some((r, s)) = bl.get(&oid) {
        for &p in r {
            involved.push((p, "blocked receiving".to_string()));
        }
        for &p in s {
            involved.push((p, "blocked sending (full)".to_string()));
        }
    }
    for (p, r) in [
        (q.last_send_pid, "last sender"),
        (q.last_recv_pid, "last receiver"),
    ] {
        if p != 0 {
            involved.push((p, r.into()));
        }
    }
    if let Some(p) = q.creator_pid {
        involved.push((p, "created it".into()));
    }
    users(cx, ObjKind::Msg, oid, &mut involved);
    proc_links(cx, &mut v, involved);
    history(cx, &mut v, ObjKind::Msg, oid);
    v
}

/// The details' title and lines, each with where it leads.
fn lines(cx: &Cx, target: Target) -> (String, Lines) {
    match target {
        Target::Sem(id) => (obj_title(cx, "Semaphore set", id), sem_lines(cx, id)),
        Target::Shm(id) => (
            obj_title(cx, "Shared memory segment", id),
            shm_lines(cx, id),
        ),
        Target::Queue(id) => (obj_title(cx, "Message queue", id), queue_lines(cx, id)),
        Target::Proc(pid) => (format!(" Process {pid} "), proc_lines(cx, pid)),
        Target::Deadlock(pid) => (" Deadlock ".to_string(), deadlock_lines(cx, pid)),
    }
}

/// The links of `target`'s details, in order.
pub fn links(cx: &Cx, target: Target) -> Vec<Target> {
    lines(cx, target)
        .1
        .into_iter()
        .filter_map(|(_, t)| t)
        .collect()
}

/// Draws the details of `target`; with `focused`, the links are selectable (the selection
/// in `list`: its index among [`links`]).
pub fn draw(
    f: &mut Frame,
    area: Rect,
    cx: &Cx,
    target: Target,
    list: &mut ListState,
    focused: bool,
) {
    let (title, lines) = lines(cx, target);
    let title = if focused {
        format!("{title}(Esc: back) ")
    } else {
        title
    };
    let b = super::block(area, &cx.t, Line::from(title));
    let inner = b.inner(area);
    f.render_widget(b, area);
    let n_links = lines.iter().filter(|(_, t)| t.is_some()).count();
    list.resolve(&(0..n_links as u64).collect::<Vec<_>>());
    // Long lines wrap (the details are where the full text is); a wrapped link keeps its
    // index on every piece so the whole of it is highlighted.
    let width = inner.width as usize;
    let mut wrapped: Vec<(Line<'static>, Option<usize>)> = Vec::new();
    let mut link_i = 0;
    for (l, t) in lines {
        let li = t.map(|_| {
            link_i += 1;
            link_i - 1
        });
        for piece in super::wrap_hanging(l, width) {
            wrapped.push((piece, li));
        }
    }
    let h = inner.height as usize;
    let max_top = wrapped.len().saturating_sub(h);
    let mut top = list.offset.min(max_top);
    // The selected link kept in view, unless the page was scrolled (then the first link in
    // view becomes the selection, so Enter goes to something shown).
    let sel = |i: usize| wrapped.iter().position(|(_, l)| *l == Some(i));
    if list.free {
        let first_in_view = wrapped[top..(top + h).min(wrapped.len())]
            .iter()
            .find_map(|(_, l)| *l);
        let sel_line = sel(list.selected);
        if sel_line.is_none_or(|l| l < top || l >= top + h) {
            if let Some(i) = first_in_view {
                list.selected = i;
                list.key = Some(i as u64);
            }
        }
    } else if let Some(l) = sel(list.selected) {
        if l < top {
            top = l;
        }
        if l >= top + h {
            top = l + 1 - h;
        }
    }
    list.offset = top.min(max_top);
    list.page = h.max(1);
    list.len_lines = wrapped.len();
    list.rows = inner;
    list.header.clear();
    list.line_items = wrapped
        .iter()
        .skip(list.offset)
        .take(h)
        .map(|(_, li)| *li)
        .collect();
    let out: Vec<Line> = wrapped
        .into_iter()
        .skip(list.offset)
        .take(h)
        .map(|(l, li)| {
            if focused && li == Some(list.selected) {
                l.patch_style(cx.t.selected())
            } else {
                l
            }
        })
        .collect();
    f.render_widget(Paragraph::new(out), inner);
}
