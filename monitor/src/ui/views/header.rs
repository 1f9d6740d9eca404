//! The header (host, uptime or replay position, calls/s, probe; alerts, waits, limits: each
//! segment whole or left out), the tab bar and the footer's key hints.
use ratatui::{
    layout::Rect,
    style::Style,
    text::{Line, Span},
    widgets::Paragraph,
    Frame,
};

use super::{clock, num, overview, trim_f, Cx};
use crate::{
    analysis::What,
    feed::ProbeStatus,
    model::Scope,
    ui::app::{Input, Target, View, ViewState},
};

pub(super) fn header(f: &mut Frame, area: Rect, cx: &Cx, paused: bool) {
    let (s, t) = (cx.s, cx.t);
    let sep = || Span::styled(t.sep(), t.dim());
    let dropped = s.model.account().dropped();
    // Line 1: segments, each whole or not at all (never cut mid-word); a segment with a
    // shorter form uses it when the long one does not fit.
    let mut segs: Vec<(Vec<Span>, Option<Vec<Span>>)> = Vec::new();
    let mut first = vec![Span::styled("ipctop", t.title())];
    if !s.info.host.is_empty() {
        first.push(Span::raw(format!(" {}", crate::text::escape(&s.info.host))));
    }
    segs.push((first, None));
    let mut when = match &s.position {
        Some(p) => {
            let total = p
                .total_s
                .map_or(String::new(), |x| format!("/{}", clock(x)));
            vec![Span::styled(
                format!("replay {}{total} x{}", clock(p.at_s), trim_f(p.speed)),
                t.title(),
            )]
        }
        None => vec![Span::raw(format!("up {}", clock(s.uptime_s())))],
    };
    if paused {
        when.push(Span::raw(" "));
        when.push(Span::styled(
            "PAUSED",
            t.warn().add_modifier(ratatui::style::Modifier::REVERSED),
        ));
    }
    segs.push((when, None));
    // The account's total, of every namespace whatever the scope.
    let all_ns = match s.model.scope() {
        Scope::All => "",
        _ => " all ns",
    };
    segs.push((
        vec![Span::raw(format!("{}/s{all_ns}", num(s.calls_per_s())))],
        None,
    ));
    segs.push((
        vec![Span::styled(
            format!("dropped {dropped}"),
            if dropped > 0 { t.alert() } else { t.dim() },
        )],
        None,
    ));
    segs.push(match &s.probe {
        ProbeStatus::Attached(how) => (
            vec![Span::styled(format!("probe: {how}"), t.dim())],
            Some(vec![Span::styled("probe on", t.dim())]),
        ),
        ProbeStatus::SnapshotOnly(why) => (
            vec![Span::styled(format!("SNAPSHOTS ONLY: {why}"), t.warn())],
            Some(vec![Span::styled("SNAPSHOTS ONLY (no probe)", t.warn())]),
        ),
        ProbeStatus::Replay => (vec![Span::styled("recording", t.dim())], None),
    });
    if let Some(d) = s.position.as_ref().and_then(|p| p.damaged.as_ref()) {
        segs.push((
            vec![Span::styled(format!("cut: {d}"), t.warn())],
            Some(vec![Span::styled("recording cut", t.warn())]),
        ));
    }
    if !s.info.kernel.is_empty() {
        segs.push((
            vec![Span::styled(format!("kernel {}", s.info.kernel), t.dim())],
            None,
        ));
    }
    let l1 = fit_segments(segs, area.width as usize, sep);

    // Alerts first (they must catch the eye), then counts against limits.
    let (mut dl, mut leaks, mut long, mut init, mut lim) = (0, 0, 0, 0, 0);
    let (mut stuck, mut stalled) = (0, 0);
    for fnd in &s.findings {
        match fnd.what {
            What::Deadlock { .. } => dl += 1,
            What::Stuck { .. } => stuck += 1,
            What::Stalled { .. } => stalled += 1,
            What::Leak { .. } => leaks += 1,
            What::LongWait { .. } => long += 1,
            What::UsedBeforeInit { .. } => init += 1,
            What::LimitNear { .. } => lim += 1,
        }
    }
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut alerts = Vec::new();
    if dl > 0 {
        alerts.push(Span::styled(
            format!(" {} ", plural(dl, "DEADLOCK", "DEADLOCKS")),
            t.alert().add_modifier(ratatui::style::Modifier::REVERSED),
        ));
    }
    if stuck > 0 {
        alerts.push(Span::styled(plural(stuck, "stuck", "stuck"), t.alert()));
    }
    if lim > 0 {
        alerts.push(Span::styled(
            plural(lim, "limit near", "limits near"),
            t.alert(),
        ));
    }
    if stalled > 0 {
        alerts.push(Span::styled(
            plural(stalled, "stalled", "stalled"),
            t.warn(),
        ));
    }
    if leaks > 0 {
        alerts.push(Span::styled(plural(leaks, "leak", "leaks"), t.warn()));
    }
    if long > 0 {
        alerts.push(Span::styled(
            plural(long, "long wait", "long waits"),
            t.warn(),
        ));
    }
    if init > 0 {
        alerts.push(Span::styled(
            plural(init, "used before init", "used before init"),
            t.warn(),
        ));
    }
    let mut first = Vec::new();
    if alerts.is_empty() {
        first.push(Span::styled("no alerts", t.good()));
    } else {
        for (i, a) in alerts.into_iter().enumerate() {
            if i > 0 {
                first.push(Span::raw("  "));
            }
            first.push(a);
        }
    }
    // Line 2 as line 1: whole segments (the alerts always).
    let mut segs: Vec<(Vec<Span>, Option<Vec<Span>>)> = vec![(first, None)];
    let waiting = format!("{} waiting", s.model.waits().count());
    segs.push(if overview::unreadable_waits(cx).is_some() {
        (
            vec![
                Span::raw(waiting.clone()),
                Span::styled(" (+? unreadable)", t.warn()),
            ],
            Some(vec![Span::raw(waiting), Span::styled(" +?", t.warn())]),
        )
    } else {
        (vec![Span::raw(waiting)], None)
    });
    // Which namespaces the rows, counts and findings are of, when not all.
    let shown = match s.model.scope() {
        Scope::All => None,
        Scope::Ns(ns) => Some(("IPC ns", super::ns::label(cx, *ns))),
        Scope::Container(c) => Some(("container", crate::text::escape(c).into_owned())),
    };
    if let Some((what, name)) = shown {
        segs.push((
            vec![Span::styled(format!("{what} {name} only (n)"), t.warn())],
            Some(vec![Span::styled(format!("{name} only"), t.warn())]),
        ));
    }
    for u in crate::analysis::limit_usage(&s.model) {
        let label = match u.limit {
            "semmni" => "sem",
            "shmmni" => "shm",
            "msgmni" => "msq",
            _ => continue,
        };
        let text = match u.max {
            Some(m) => format!("{label} {}/{}", u.used, num(m as f64)),
            None => format!("{label} {}", u.used),
        };
        let near = u
            .max
            .is_some_and(|m| m > 0 && u.used as f64 >= 0.9 * m as f64);
        segs.push((
            vec![Span::styled(
                text,
                if near { t.alert() } else { Style::new() },
            )],
            None,
        ));
    }
    let l2 = fit_segments(segs, area.width as usize, sep);
    let lines = if area.height >= 2 {
        vec![Line::from(l1), Line::from(l2)]
    } else {
        // One line: the alerts win over the details.
        let mut l = l2;
        l.push(sep());
        l.extend(l1);
        vec![Line::from(l)]
    };
    f.render_widget(Paragraph::new(lines), area);
}

/// Joins `segs` with `sep` within `width`: each segment whole, in its short form if only
/// that fits, or left out (the first is always there).
fn fit_segments<'a>(
    segs: Vec<(Vec<Span<'a>>, Option<Vec<Span<'a>>>)>,
    width: usize,
    sep: impl Fn() -> Span<'a>,
) -> Vec<Span<'a>> {
    let w = |v: &[Span]| v.iter().map(|s| s.width()).sum::<usize>();
    let mut out: Vec<Span> = Vec::new();
    let mut used = 0;
    for (long, short) in segs {
        let gap = if out.is_empty() { 0 } else { sep().width() };
        // The first segment always (the name, the alerts): cut at the edge if it must be.
        let pick = if out.is_empty() || used + gap + w(&long) <= width {
            Some(long)
        } else {
            short.filter(|s| used + gap + w(s) <= width)
        };
        if let Some(p) = pick {
            if !out.is_empty() {
                out.push(sep());
            }
            used += gap + w(&p);
            out.extend(p);
        }
    }
    out
}

/// Draws the tabs; returns where each is (x from, x to) for the mouse.
pub(super) fn tab_bar(f: &mut Frame, area: Rect, cx: &Cx, current: View) -> Vec<(u16, u16, View)> {
    if area.height == 0 {
        return Vec::new();
    }
    let mut hits = Vec::new();
    let mut x = area.x;
    let t = cx.t;
    let problems = cx.s.findings.len();
    let long: usize = View::ALL.iter().map(|v| v.title().len() + 4).sum::<usize>() + 8;
    let mut spans = Vec::new();
    for v in View::ALL {
        let name = if (area.width as usize) >= long {
            v.title()
        } else {
            v.short()
        };
        let mut text = format!(" {} {name}", v.index() + 1);
        if v == View::Problems && problems > 0 {
            text.push_str(&format!(" ({problems})"));
        }
        text.push(' ');
        let style = if v == current {
            t.tab()
        } else if v == View::Problems && problems > 0 {
            t.warn()
        } else {
            Style::new()
        };
        let w = Span::raw(text.as_str()).width() as u16;
        hits.push((x, (x + w).min(area.x + area.width), v));
        x = x.saturating_add(w);
        spans.push(Span::styled(text, style));
    }
    spans.push(Span::styled("  ? help", t.dim()));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
    hits
}

pub(super) fn footer(
    f: &mut Frame,
    area: Rect,
    cx: &Cx,
    view: View,
    detail: Option<Target>,
    vs: &ViewState,
    input: Option<&Input>,
) {
    if area.height == 0 {
        return;
    }
    let t = cx.t;
    let line = match input {
        Some(Input::Filter(s)) => Line::from(vec![
            Span::styled("filter: ", t.key()),
            Span::raw(format!("{s}_")),
            Span::styled("   Enter keep  Esc clear", t.dim()),
        ]),
        Some(Input::GoTo(s)) => Line::from(vec![
            Span::styled("go to (s or m:ss): ", t.key()),
            Span::raw(format!("{s}_")),
        ]),
        None => {
            let mut v = Vec::new();
            let mut key = |k: &str, what: &str| {
                v.push(Span::styled(k.to_string(), t.key()));
                v.push(Span::raw(format!(" {what}  ")));
            };
            if detail.is_some() {
                key("Enter", "go to");
                key("Esc", "back");
            } else {
                key("Enter", "details");
                if view == View::Semaphores {
                    key("→←", "expand");
                }
                if view == View::Events {
                    key("f", "follow");
                }
                let dir = if vs.desc { t.down() } else { t.up() };
                key("s", &format!("sort:{}{dir}", view.sorts()[vs.sort].name));
                if vs.filter.is_empty() {
                    key("/", "filter");
                } else {
                    key("/", &format!("filter:{}", vs.filter));
                }
            }
            if cx.s.position.is_some() {
                key("Space", "pause");
                key("[ ]", "seek");
                key("- +", "speed");
            } else {
                key("p", "pause");
            }
            key("?", "help");
            key("q", "quit");
            Line::from(v)
        }
    };
    f.render_widget(Paragraph::new(line), area);
}
