//! The header (host, uptime or replay position, calls/s and waits/s, probe, recording;
//! alerts, threads waiting, limits: each segment whole or left out), the tab bar and the
//! footer's key hints. The alerts are the Problems view's counts (`rows::problems::counts`).
use ratatui::{
    layout::Rect,
    style::Style,
    text::{Line, Span},
    widgets::Paragraph,
    Frame,
};

use crate::{
    feed::ProbeStatus,
    model::Scope,
    ui::{
        app::Input,
        fmt::{clock, limit, num, threads, trim_f},
        rows::{
            blind::{unknown, Blind},
            problems, waits, Cx,
        },
        view::{Target, View},
    },
};

pub(super) fn header(f: &mut Frame, area: Rect, cx: &Cx, paused: bool) {
    let (s, t) = (cx.s, cx.t);
    let sep = || Span::styled(t.sep(), t.dim());
    let dropped = s.model.account().lost();
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
    if let Some(file) = &s.recording {
        segs.push((
            vec![Span::styled(
                format!("REC {}", crate::text::escape(file)),
                t.alert(),
            )],
            Some(vec![Span::styled("REC", t.alert())]),
        ));
    }
    let probe = match &s.probe {
        ProbeStatus::Attached(how) => (
            vec![Span::styled(format!("probe: {how}"), t.dim())],
            Some(vec![Span::styled("probe on", t.dim())]),
        ),
        ProbeStatus::SnapshotOnly(why) => (
            vec![Span::styled(format!("SNAPSHOTS ONLY: {why}"), t.warn())],
            Some(vec![Span::styled("SNAPSHOTS ONLY (no probe)", t.warn())]),
        ),
        ProbeStatus::Replay => (vec![Span::styled("recording", t.dim())], None),
    };
    let blind = matches!(s.probe, ProbeStatus::SnapshotOnly(_));
    let probe = if blind {
        segs.push(probe);
        None
    } else {
        Some(probe)
    };
    // The account's totals between the last two samples (of every namespace whatever the
    // scope): calls and waits per second over the same window.
    let all_ns = match s.model.scope() {
        Scope::All => "",
        _ => " all ns",
    };
    let (calls, waits) = s.rates();
    let shown = |x: Option<f64>| x.map_or("-".to_string(), num);
    segs.push((
        vec![Span::raw(format!(
            "calls/s {}  waits/s {}{all_ns}",
            shown(calls),
            shown(waits)
        ))],
        Some(vec![Span::raw(format!("{}/s{all_ns}", shown(calls)))]),
    ));
    segs.push((
        vec![Span::styled(
            format!("dropped {dropped}"),
            if dropped > 0 { t.alert() } else { t.dim() },
        )],
        None,
    ));
    // Running without the probe is said before the figures it leaves out, the probe's way
    // of attaching after them.
    segs.extend(probe);
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

    // Alerts first (they must catch the eye): the findings by kind, as Problems lists
    // them; then threads waiting and counts against limits.
    let counts = problems::counts(cx);
    let alerts = |compact: bool| {
        let mut first = Vec::new();
        let mut rest = 0;
        for (k, n) in &counts {
            // Compact (a narrow terminal): the alerts by name, the warnings summed.
            if compact && k.tone != crate::ui::theme::Tone::Alert {
                rest += n;
                continue;
            }
            if !first.is_empty() {
                first.push(Span::raw("  "));
            }
            let text = format!("{n} {}", if *n == 1 { &k.one } else { &k.many });
            first.push(if k.rank == 0 {
                Span::styled(
                    format!(" {text} "),
                    t.style(k.tone)
                        .add_modifier(ratatui::style::Modifier::REVERSED),
                )
            } else {
                Span::styled(text, t.style(k.tone))
            });
        }
        if rest > 0 {
            if !first.is_empty() {
                first.push(Span::raw("  "));
            }
            first.push(Span::styled(format!("+{rest} more (7)"), t.warn()));
        }
        if first.is_empty() {
            first.push(Span::styled("no alerts", t.good()));
        }
        first
    };
    let w = waits::all(cx);
    let waiting = if w.threads() == 0 {
        "0 waiting".to_string()
    } else {
        format!("{} waiting", threads(w.threads(), w.pids.len()))
    };
    // The alerts whole when they leave room for who waits, else compact.
    let full = alerts(false);
    let first =
        if spans_width(&full) + sep().width() + waiting.chars().count() <= area.width as usize {
            full
        } else {
            alerts(true)
        };
    // Line 2 as line 1: whole segments (the alerts always).
    let mut segs: Vec<(Vec<Span>, Option<Vec<Span>>)> = vec![(first, None)];
    segs.push(if unknown(cx, Blind::Waits).is_some() {
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
        Scope::Ns(ns) => Some(("IPC ns", cx.ns_label(*ns))),
        Scope::Container(c) | Scope::Procs { name: c, .. } => {
            Some(("container", crate::text::escape(c).into_owned()))
        }
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
            Some(m) if crate::ui::fmt::unlimited(m) => format!("{label} {}/{}", u.used, limit(m)),
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
/// The columns spans take.
fn spans_width(v: &[Span]) -> usize {
    v.iter().map(|s| s.width()).sum()
}

fn fit_segments<'a>(
    segs: Vec<(Vec<Span<'a>>, Option<Vec<Span<'a>>>)>,
    width: usize,
    sep: impl Fn() -> Span<'a>,
) -> Vec<Span<'a>> {
    let w = spans_width;
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
    let n_problems = problems::count(cx);
    let long: usize = View::ALL.iter().map(|v| v.title().len() + 4).sum::<usize>() + 8;
    let mut spans = Vec::new();
    for v in View::ALL {
        let name = if (area.width as usize) >= long {
            v.title()
        } else {
            v.short()
        };
        let mut text = format!(" {} {name}", v.index() + 1);
        if v == View::Problems && n_problems > 0 {
            text.push_str(&format!(" ({n_problems})"));
        }
        text.push(' ');
        let style = if v == current {
            t.tab()
        } else if v == View::Problems && n_problems > 0 {
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

/// What the footer says of the view: its sort (column name and direction) and filter.
pub struct Said<'a> {
    pub sort: Option<(String, bool)>,
    pub filter: &'a str,
    pub message: Option<&'static str>,
}

pub(super) fn footer(
    f: &mut Frame,
    area: Rect,
    cx: &Cx,
    view: View,
    detail: Option<Target>,
    said: Said,
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
        None if said.message.is_some() => Line::styled(said.message.unwrap_or_default(), t.warn()),
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
                if let Some((name, desc)) = &said.sort {
                    let dir = if *desc { t.down() } else { t.up() };
                    key("s", &format!("sort:{name}{dir}"));
                }
                if said.filter.is_empty() {
                    key("/", "filter");
                } else {
                    key("/", &format!("filter:{}", said.filter));
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
