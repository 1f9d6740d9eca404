//! Problems: deadlocks (the cycle drawn pid → semid:semnum → pid), long waits, sets used
//! before init, leaks, failed calls by errno, and the limits.
use ratatui::{
    layout::Rect,
    style::Style,
    text::{Line, Span},
    widgets::Paragraph,
    Frame,
};

use super::{ago_mono, dur, size, Cx};
use crate::{
    analysis::{CycleStep, Finding, IpcKind, What},
    event::errno_name,
    model::ObjId,
    ui::app::{Target, ViewState},
};

/// What an errno means for System V IPC.
pub fn errno_hint(errno: i32) -> &'static str {
    match errno {
        libc::EACCES => "permission check refused (the object's mode/owner)",
        libc::EEXIST => "IPC_CREAT|IPC_EXCL: the key exists (a creation race?)",
        libc::EIDRM => "the object was removed while in use",
        libc::ENOSPC => "a system limit was reached (see the limits)",
        libc::ENOENT => "no object with that key (and no IPC_CREAT)",
        libc::EINVAL => "bad id, size, semnum or command (removed already?)",
        libc::EAGAIN => "IPC_NOWAIT and the call would block, or semtimedop timed out",
        libc::ENOMSG => "no message of the wanted type (IPC_NOWAIT)",
        libc::EINTR => "interrupted by a signal",
        libc::E2BIG => "message longer than the buffer, or too many sops",
        libc::EFBIG => "semnum out of range",
        libc::ERANGE => "semaphore value out of range (SEMVMX)",
        libc::ENOMEM => "out of memory",
        libc::EPERM => "not permitted (IPC_SET/IPC_RMID by a non-owner)",
        libc::EFAULT => "a bad address",
        _ => "",
    }
}

fn ipc_name(k: IpcKind) -> &'static str {
    match k {
        IpcKind::Shm => "shm",
        IpcKind::Sem => "sem",
        IpcKind::Msg => "msq",
    }
}

fn who(cx: &Cx, pid: u32) -> String {
    format!("{pid} {}", cx.comm(pid))
}

/// What a deadlock's thread waits on: "sem 5:0", "sem 5", "msq 3".
pub fn step_object(st: &CycleStep) -> String {
    match (st.ipc, st.semnum) {
        (IpcKind::Sem, Some(n)) => format!("sem {}:{n}", st.id),
        (IpcKind::Sem, None) => format!("sem {}", st.id),
        (_, _) => format!("msq {}", st.id),
    }
}

/// A deadlock's threads: "101 a → sem 5:0 → 102 | 102 b → sem 6:0 → 101" (each waits on
/// the object, released only by the pids after it).
pub fn cycle_text(cx: &Cx, cycle: &[CycleStep]) -> String {
    let a = cx.t.arrow();
    cycle
        .iter()
        .map(|st| {
            let who = if st.tid == st.pid {
                who(cx, st.pid)
            } else {
                format!("{}/{}", who(cx, st.pid), st.tid)
            };
            format!(
                "{who}{a}{}{a}{}",
                step_object(st),
                st.by
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The one-line summary of a finding.
pub fn summary_line(cx: &Cx, f: &Finding) -> (Line<'static>, Option<Target>) {
    let t = cx.t;
    match &f.what {
        What::Deadlock { cycle, .. } => (
            Line::from(vec![
                Span::styled("DEADLOCK ", t.alert()),
                Span::raw(cycle_text(cx, cycle)),
            ]),
            cycle.first().map(|s| Target::Deadlock(s.pid)),
        ),
        What::LongWait {
            pid,
            ipc,
            id,
            waited_s,
            exact,
            ..
        } => (
            Line::from(vec![
                Span::styled("long wait ", t.warn()),
                Span::raw(format!(
                    "{} on {} {id} for {}{}",
                    who(cx, *pid),
                    ipc_name(*ipc),
                    if *exact { "" } else { t.at_least() },
                    dur(*waited_s)
                )),
            ]),
            Some(Target::Proc(*pid)),
        ),
        What::Stuck {
            pid, ipc, id, tid, ..
        } => (
            Line::from(vec![
                Span::styled("STUCK ", t.alert()),
                Span::raw(format!(
                    "{} (tid {tid}) on {} {id}: nobody alive can release it",
                    who(cx, *pid),
                    ipc_name(*ipc)
                )),
            ]),
            Some(Target::Proc(*pid)),
        ),
        What::Stalled {
            ipc,
            id,
            tids,
            waited_s,
            ..
        } => (
            Line::from(vec![
                Span::styled("stalled ", t.warn()),
                Span::raw(format!(
                    "{} {id}: {} blocked {}{}, holder unknown",
                    ipc_name(*ipc),
                    super::pids(tids.iter().copied(), 4),
                    t.at_least(),
                    dur(*waited_s)
                )),
            ]),
            Some(match ipc {
                IpcKind::Msg => Target::Queue(ObjId {
                    ns: f.ipc_ns,
                    id: *id,
                }),
                _ => Target::Sem(ObjId {
                    ns: f.ipc_ns,
                    id: *id,
                }),
            }),
        ),
        What::UsedBeforeInit { semid, waiters } => (
            Line::from(vec![
                Span::styled("used before init ", t.warn()),
                Span::raw(format!(
                    "sem {semid}: never semop'd, waited on by {}",
                    super::pids(waiters.iter().copied(), 4)
                )),
            ]),
            Some(Target::Sem(ObjId {
                ns: f.ipc_ns,
                id: *semid,
            })),
        ),
        What::Leak { ipc, id } => {
            let oid = ObjId {
                ns: f.ipc_ns,
                id: *id,
            };
            let extra = match ipc {
                IpcKind::Shm => {
                    cx.s.model
                        .segment_at(oid)
                        .map(|s| format!(" ({}, creator {} gone)", size(s.size), s.creator_pid))
                }
                IpcKind::Sem => Some(" (unused, users gone)".into()),
                IpcKind::Msg => {
                    cx.s.model
                        .queue_at(oid)
                        .map(|q| format!(" ({} messages nobody will read)", q.qnum))
                }
            };
            (
                Line::from(vec![
                    Span::styled("leak ", t.warn()),
                    Span::raw(format!(
                        "{} {id}{}",
                        ipc_name(*ipc),
                        extra.unwrap_or_default()
                    )),
                ]),
                Some(match ipc {
                    IpcKind::Shm => Target::Shm(oid),
                    IpcKind::Sem => Target::Sem(oid),
                    IpcKind::Msg => Target::Queue(oid),
                }),
            )
        }
        What::LimitNear { limit, used, max } => (
            Line::from(vec![
                Span::styled("limit ", t.alert()),
                Span::raw(format!(
                    "{limit}: {used} of {max} ({:.0}%)",
                    *used as f64 * 100.0 / (*max).max(1) as f64
                )),
            ]),
            None,
        ),
    }
}

/// The overview's problems box: one line per finding.
pub fn summary(f: &mut Frame, area: Rect, cx: &Cx) {
    let n = cx.s.findings.len();
    let title = Line::from(format!(" Problems ({n}): 7 for details "));
    let b = super::block(area, &cx.t, title);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let h = inner.height as usize;
    // The worst first.
    let rank = |w: &What| match w {
        What::Deadlock { .. } => 0,
        What::Stuck { .. } => 1,
        What::LimitNear { .. } => 2,
        What::Stalled { .. } => 3,
        What::LongWait { .. } => 4,
        What::UsedBeforeInit { .. } => 5,
        What::Leak { .. } => 6,
    };
    let mut sorted: Vec<&Finding> = cx.s.findings.iter().collect();
    sorted.sort_by_key(|f| rank(&f.what));
    let mut lines: Vec<Line> = sorted
        .into_iter()
        .take(if n > h { h.saturating_sub(1) } else { h })
        // Cut lines end in an ellipsis (the Problems view has them whole).
        .map(|f| super::fit_left(summary_line(cx, f).0, inner.width, &cx.t))
        .collect();
    if n > h && h > 0 {
        lines.push(Line::styled(
            format!("{} and {} more", cx.t.ellipsis(), n - lines.len()),
            cx.t.dim(),
        ));
    }
    if n == 0 {
        lines.push(Line::styled(
            "none: no leaks, deadlocks, long waits or limits near",
            cx.t.good(),
        ));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// One selectable item of the problems list.
struct Item {
    lines: Vec<Line<'static>>,
    target: Option<Target>,
}

fn heading(cx: &Cx, s: String) -> Item {
    Item {
        lines: vec![Line::styled(s, cx.t.title())],
        target: None,
    }
}

fn items(cx: &Cx, width: u16) -> Vec<Item> {
    let t = cx.t;
    let mut v = Vec::new();
    let fs = &cx.s.findings;
    let count = |p: fn(&What) -> bool| fs.iter().filter(|f| p(&f.what)).count();
    let ndl = count(|w| matches!(w, What::Deadlock { .. }));
    v.push(heading(cx, format!("Deadlocks ({ndl})")));
    if ndl == 0 {
        v.push(Item {
            lines: vec![Line::styled("  none", t.good())],
            target: None,
        });
    }
    for f in fs {
        let What::Deadlock { cycle, .. } = &f.what else {
            continue;
        };
        let text = cycle_text(cx, cycle);
        let mut lines = vec![Line::styled("  DEADLOCK", t.alert())];
        if text.chars().count() + 4 <= width as usize {
            lines.push(Line::from(format!("    {text}")));
        } else {
            for st in cycle {
                lines.push(Line::from(format!(
                    "    {} tid {}{}{}{}{} {}",
                    who(cx, st.pid),
                    st.tid,
                    t.arrow(),
                    step_object(st),
                    t.arrow(),
                    st.role.verb(),
                    super::pids(st.by.iter().copied(), 4)
                )));
            }
        }
        lines.push(Line::styled(format!("    {}", f.reason), t.dim()));
        v.push(Item {
            lines,
            target: cycle.first().map(|s| Target::Deadlock(s.pid)),
        });
    }
    let others: Vec<&Finding> = fs
        .iter()
        .filter(|f| !matches!(f.what, What::Deadlock { .. } | What::LimitNear { .. }))
        .collect();
    v.push(heading(
        cx,
        format!(
            "Leaks, long waits, sets used before init ({})",
            others.len()
        ),
    ));
    if others.is_empty() {
        v.push(Item {
            lines: vec![Line::styled("  none", t.good())],
            target: None,
        });
    }
    for f in others {
        let (l, target) = summary_line(cx, f);
        let mut first = vec![Span::raw("  ")];
        first.extend(l.spans);
        v.push(Item {
            lines: vec![
                Line::from(first),
                Line::styled(format!("    {}", f.reason), t.dim()),
            ],
            target,
        });
    }
    let total = cx.s.model.account().total();
    // The account's totals are of every namespace (it keeps none per namespace): said so
    // while one is shown.
    let all_ns = match cx.s.model.scope() {
        crate::model::Scope::All => "",
        _ => ", all namespaces",
    };
    v.push(heading(
        cx,
        format!(
            "Failed calls by errno ({} of {} calls{all_ns})",
            total.errors, total.calls
        ),
    ));
    if total.errnos.is_empty() {
        let why = match cx.s.probe {
            crate::feed::ProbeStatus::SnapshotOnly(_) => {
                "  unknown: failed calls are seen by the probe only (snapshots only now)"
            }
            _ => "  none seen",
        };
        v.push(Item {
            lines: vec![Line::styled(why, t.dim())],
            target: None,
        });
    }
    let mut errs: Vec<_> = total.errnos.iter().collect();
    errs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (&(sys, errno), &count) in errs {
        let Some((pid, _, at)) = cx.s.model.account().last_failure(sys, errno) else {
            continue;
        };
        v.push(Item {
            lines: vec![Line::from(vec![
                Span::styled(format!("  {:<7}", errno_name(errno)), t.alert()),
                Span::raw(format!(
                    " {:<10} x{:<6} last {} {} ago  ",
                    sys.name(),
                    count,
                    who(cx, pid),
                    ago_mono(cx.now, Some(at)),
                )),
                Span::styled(errno_hint(errno), t.dim()),
            ])],
            target: Some(Target::Proc(pid)),
        });
    }
    v.push(heading(cx, "Limits (this IPC namespace)".into()));
    for u in crate::analysis::limit_usage(&cx.s.model) {
        let (ratio, max) = match u.max {
            Some(m) if m > 0 => (u.used as f64 / m as f64, m.to_string()),
            _ => (0.0, "?".into()),
        };
        let near = ratio >= cx.s.cfg.limit_ratio;
        v.push(Item {
            lines: vec![Line::from(vec![
                Span::raw(format!("  {:<7} ", u.limit)),
                Span::styled(t.bar(ratio, 10), if near { t.alert() } else { t.good() }),
                Span::styled(
                    format!(" {:>4.0}% ", ratio * 100.0),
                    if near { t.alert() } else { Style::new() },
                ),
                Span::raw(format!("{} of {max} {}", u.used, u.what)),
            ])],
            target: None,
        });
    }
    v
}

/// The items the filter keeps (matched on their whole text, as at any width), laid out for
/// `width`.
fn shown(cx: &Cx, width: u16, filter: &str) -> Vec<Item> {
    let whole = items(cx, u16::MAX);
    items(cx, width)
        .into_iter()
        .zip(whole)
        .filter(|(_, w)| {
            super::matches(filter, || {
                w.lines
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        })
        .map(|(it, _)| it)
        .collect()
}

/// Where the selected entry leads (the selection is by index: entries have no identity).
pub fn target(cx: &Cx, vs: &ViewState) -> Option<Target> {
    let its = shown(cx, u16::MAX, &vs.filter);
    let sel = vs.list.selected.min(its.len().saturating_sub(1));
    its.get(sel).and_then(|i| i.target)
}

pub fn draw(f: &mut Frame, area: Rect, cx: &Cx, vs: &mut ViewState) {
    let n = cx.s.findings.len();
    let title = Line::from(format!(" Problems ({n}) "));
    let b = super::block(area, &cx.t, title);
    let inner = b.inner(area);
    f.render_widget(b, area);
    // Whole text, wrapped: the reasons are what this view is for.
    let its: Vec<Item> = shown(cx, inner.width, &vs.filter)
        .into_iter()
        .map(|it| Item {
            lines: it
                .lines
                .into_iter()
                .flat_map(|l| super::wrap_hanging(l, inner.width as usize))
                .collect(),
            target: it.target,
        })
        .collect();
    let list = &mut vs.list;
    list.resolve(&(0..its.len() as u64).collect::<Vec<_>>());
    list.key = None; // items have no stable identity: the index is the selection
                     // Scroll by lines, so that the selected item is in view.
    let h = inner.height as usize;
    let starts: Vec<usize> = its
        .iter()
        .scan(0, |acc, it| {
            let s = *acc;
            *acc += it.lines.len();
            Some(s)
        })
        .collect();
    let total: usize = its.iter().map(|i| i.lines.len()).sum();
    let sel = list.selected.min(its.len().saturating_sub(1));
    let (sel_start, sel_len) = (
        starts.get(sel).copied().unwrap_or(0),
        its.get(sel).map_or(0, |i| i.lines.len()),
    );
    let mut top = list.offset.min(total.saturating_sub(h));
    if sel_start < top {
        top = sel_start;
    }
    if sel_start + sel_len > top + h {
        top = (sel_start + sel_len).saturating_sub(h).min(sel_start);
    }
    list.offset = top;
    list.page = h.max(1);
    let mut lines = Vec::with_capacity(h);
    for (i, it) in its.iter().enumerate() {
        for l in &it.lines {
            lines.push(if i == sel && it.target.is_some() {
                l.clone().patch_style(cx.t.selected())
            } else {
                l.clone()
            });
        }
    }
    // For the mouse: the item of each visible line (those with somewhere to go).
    list.rows = inner;
    list.header.clear();
    list.line_items = its
        .iter()
        .enumerate()
        .flat_map(|(i, it)| std::iter::repeat_n(it.target.map(|_| i), it.lines.len()))
        .skip(top)
        .take(h)
        .collect();
    let visible: Vec<Line> = lines.into_iter().skip(top).take(h).collect();
    f.render_widget(Paragraph::new(visible), inner);
}
