//! Drawing: the frame's layout (header, tabs, body, footer), one module per view, and the
//! pieces they share (tables that drop columns to fit, formats). Views only read the store
//! and the view state; they never touch /proc or the probe.
mod chart;
mod detail;
mod events;
mod help;
mod overview;
mod problems;
mod procs;
mod queues;
mod sems;
mod shm;

use std::cmp::Ordering;

use ratatui::{
    layout::{Constraint, Layout, Rect},
    style::Style,
    text::{Line, Span},
    widgets::{Block, Cell, Paragraph, Row, Table, Wrap},
    Frame,
};

use super::{
    app::{App, Input, ListState, Target, View},
    store::Store,
    theme::Theme,
};
use crate::{analysis::What, feed::ProbeStatus, model::ObjKind};

/// What every view reads.
pub struct Cx<'a> {
    pub s: &'a Store,
    pub t: Theme,
    /// Monotonic and unix "now" of the model.
    pub now: u64,
    pub now_unix: f64,
}

impl<'a> Cx<'a> {
    pub fn new(s: &'a Store, t: Theme) -> Self {
        Self {
            s,
            t,
            now: s.model.now_mono_ns(),
            now_unix: s.model.now_unix_s(),
        }
    }

    /// An object's account (calls, failures, waits, rate); `None`: no calls seen.
    pub fn acct(&self, kind: ObjKind, id: i32) -> Option<&'a crate::model::Tally> {
        self.s.model.object_account(kind, id)
    }

    /// An object's calls per second.
    pub fn rate(&self, kind: ObjKind, id: i32) -> f64 {
        self.acct(kind, id).map_or(0.0, |a| a.rate())
    }

    pub fn comm(&self, pid: u32) -> String {
        self.s
            .model
            .process(pid)
            .map_or_else(|| "?".into(), |p| crate::text::escape(&p.comm).into_owned())
    }

    /// A uid as a user name (the number when it has none).
    pub fn user(&self, uid: u32) -> String {
        self.s.names.user(uid)
    }

    /// "user:group" of an owner.
    pub fn owner(&self, uid: u32, gid: u32) -> String {
        format!("{}:{}", self.s.names.user(uid), self.s.names.group(gid))
    }

    pub fn alive(&self, pid: u32) -> bool {
        self.s.model.process(pid).is_some_and(|p| p.alive())
    }
}

/// Draws the whole frame.
pub fn draw(f: &mut Frame, app: &mut App) {
    let area = f.area();
    let App {
        store,
        frozen,
        theme,
        screen,
        views,
        detail,
        expanded,
        expand_all,
        help: show_help,
        help_scroll,
        help_page,
        input,
        follow,
        enter,
        links,
        tabs: tab_hits,
        tabs_y,
        ..
    } = app;
    let paused = match &store.position {
        Some(p) => p.paused,
        None => frozen.is_some(),
    };
    let s: &Store = frozen.as_deref().unwrap_or(store);
    let cx = Cx::new(s, *theme);
    if area.width < 16 || area.height < 3 {
        f.render_widget(
            Paragraph::new("ipctop: too small").wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let (head_h, tabs_h, foot_h) = match area.height {
        12.. => (2, 1, 1),
        7..12 => (1, 1, 1),
        _ => (1, 0, 0),
    };
    let [head, tabs, body, foot] = Layout::vertical([
        Constraint::Length(head_h),
        Constraint::Length(tabs_h),
        Constraint::Min(1),
        Constraint::Length(foot_h),
    ])
    .areas(area);
    header(f, head, &cx, paused);
    *tab_hits = tab_bar(f, tabs, &cx, screen.view);
    *tabs_y = (tabs.height > 0).then_some(tabs.y);
    *enter = None;
    links.clear();
    let vs = &mut views[screen.view.index()];
    match screen.detail {
        Some(target) => detail::draw(f, body, &cx, target, detail, links, true),
        None => {
            let wide = body.width >= 160
                && matches!(
                    screen.view,
                    View::Semaphores | View::Shm | View::Queues | View::Processes
                );
            let (list_area, side) = if wide {
                let [a, b] =
                    Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)])
                        .areas(body);
                (a, Some(b))
            } else {
                (body, None)
            };
            *enter = match screen.view {
                View::Overview => overview::draw(f, list_area, &cx, vs),
                View::Semaphores => sems::draw(f, list_area, &cx, vs, expanded, *expand_all),
                View::Shm => shm::draw(f, list_area, &cx, vs),
                View::Queues => queues::draw(f, list_area, &cx, vs),
                View::Processes => procs::draw(f, list_area, &cx, vs),
                View::Events => events::draw(f, list_area, &cx, vs, *follow),
                View::Problems => problems::draw(f, list_area, &cx, vs),
            };
            if let (Some(side), Some(target)) = (side, *enter) {
                let mut preview = ListState::default();
                let mut no_links = Vec::new();
                detail::draw(f, side, &cx, target, &mut preview, &mut no_links, false);
            }
        }
    }
    footer(f, foot, &cx, screen.view, screen.detail, vs, input.as_ref());
    if *show_help {
        help::draw(f, area, &cx, help_scroll, help_page);
    }
}

// ---- header, tabs, footer ----

fn header(f: &mut Frame, area: Rect, cx: &Cx, paused: bool) {
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
    segs.push((vec![Span::raw(format!("{}/s", num(s.calls_per_s())))], None));
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
    for fnd in &s.findings {
        match fnd.what {
            What::Deadlock { .. } => dl += 1,
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
    if lim > 0 {
        alerts.push(Span::styled(
            plural(lim, "limit near", "limits near"),
            t.alert(),
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
fn tab_bar(f: &mut Frame, area: Rect, cx: &Cx, current: View) -> Vec<(u16, u16, View)> {
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

fn footer(
    f: &mut Frame,
    area: Rect,
    cx: &Cx,
    view: View,
    detail: Option<Target>,
    vs: &super::app::ViewState,
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

// ---- tables ----

/// A table column: its width (0: takes what is left), and how much it matters (0 first):
/// narrow terminals drop the columns that matter least.
#[derive(Clone, Copy, Debug)]
pub struct Col {
    pub title: &'static str,
    pub width: u16,
    pub prio: u8,
    pub right: bool,
}

pub const fn col(title: &'static str, width: u16, prio: u8) -> Col {
    Col {
        title,
        width,
        prio,
        right: false,
    }
}

pub const fn rcol(title: &'static str, width: u16, prio: u8) -> Col {
    Col {
        title,
        width,
        prio,
        right: true,
    }
}

/// The priority of a column a view leaves out (a TID column when every TID is its PID).
pub const HIDE: u8 = u8::MAX;

/// The columns that fit in `width`, most important first, shown in their order.
pub fn pick(cols: &[Col], width: u16) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cols.len()).filter(|&i| cols[i].prio != HIDE).collect();
    order.sort_by_key(|&i| (cols[i].prio, i));
    let mut used = 0u16;
    let mut chosen = Vec::new();
    for i in order {
        // A column taking what is left needs room for a holder or a command to be read.
        let w = if cols[i].width == 0 {
            20
        } else {
            cols[i].width
        };
        let need = w + u16::from(!chosen.is_empty());
        if used + need <= width {
            used += need;
            chosen.push(i);
        }
    }
    if chosen.is_empty() && !cols.is_empty() {
        chosen.push((0..cols.len()).min_by_key(|&i| cols[i].prio).unwrap_or(0));
    }
    chosen.sort();
    chosen
}

/// A bordered block (borderless when there is no room for borders).
pub fn block<'a>(area: Rect, t: &Theme, title: Line<'a>) -> Block<'a> {
    if area.height >= 3 && area.width >= 24 {
        Block::bordered()
            .border_set(t.border())
            .border_style(t.dim())
            .title(title.style(t.title()))
    } else {
        Block::new()
    }
}

/// Draws a table of `keys.len()` rows (already filtered and sorted), only the visible ones
/// formatted (`cell(row, column)`), with the selection kept in `list`.
#[allow(clippy::too_many_arguments)]
pub fn table(
    f: &mut Frame,
    area: Rect,
    t: &Theme,
    title: Line,
    cols: &[Col],
    keys: &[u64],
    list: &mut ListState,
    empty: &str,
    sort: Option<(usize, bool)>,
    focused: bool,
    mut cell: impl FnMut(usize, usize) -> Line<'static>,
    row_style: impl Fn(usize) -> Style,
) -> Vec<usize> {
    let b = block(area, t, title);
    let inner = b.inner(area);
    f.render_widget(b, area);
    list.resolve(keys);
    if inner.height == 0 || inner.width == 0 {
        return Vec::new();
    }
    let chosen = pick(cols, inner.width);
    let header = Row::new(chosen.iter().map(|&c| {
        let col = &cols[c];
        let title = match sort {
            Some((sc, desc)) if sc == c => sorted_title(col, t.sort_mark(desc)),
            _ => col.title.to_string(),
        };
        let l = Line::from(title);
        Cell::from(if col.right { l.right_aligned() } else { l })
    }))
    .style(t.header_row());
    let widths: Vec<Constraint> = chosen
        .iter()
        .map(|&c| match cols[c].width {
            0 => Constraint::Fill(1),
            w => Constraint::Length(w),
        })
        .collect();
    // What each chosen column really gets: cells wider than that end in an ellipsis
    // (their full text is in the details).
    let fixed: u16 =
        chosen.iter().map(|&c| cols[c].width).sum::<u16>() + chosen.len().saturating_sub(1) as u16;
    let fills = chosen
        .iter()
        .filter(|&&c| cols[c].width == 0)
        .count()
        .max(1) as u16;
    let fill_w = inner.width.saturating_sub(fixed) / fills;
    let real_w = |c: usize| match cols[c].width {
        0 => fill_w,
        w => w,
    };
    let height = inner.height.saturating_sub(1) as usize;
    list.scroll(height);
    // For the mouse: the rows' area and the column titles' x ranges (as the table lays
    // them out: fixed widths, one space between, from the left).
    list.rows = Rect {
        y: inner.y + 1,
        height: height as u16,
        ..inner
    };
    list.line_items.clear();
    list.header = Layout::horizontal(widths.clone())
        .spacing(1)
        .flex(ratatui::layout::Flex::Start)
        .split(inner)
        .iter()
        .zip(&chosen)
        .map(|(r, &c)| (r.x, r.x + r.width, c))
        .collect();
    if keys.is_empty() {
        f.render_widget(
            Table::new(Vec::<Row>::new(), widths.clone()).header(header),
            inner,
        );
        if inner.height >= 2 {
            let r = Rect {
                y: inner.y + 1,
                height: inner.height - 1,
                ..inner
            };
            f.render_widget(
                Paragraph::new(Span::styled(empty.to_string(), t.dim())).wrap(Wrap { trim: true }),
                r,
            );
        }
        return chosen;
    }
    let end = (list.offset + height).min(keys.len());
    let rows: Vec<Row> = (list.offset..end)
        .map(|i| {
            let cells = chosen.iter().map(|&c| {
                let l = cell(i, c);
                Cell::from(if cols[c].right {
                    fit_right(l, cols[c].width, t)
                } else {
                    fit_left(l, real_w(c), t)
                })
            });
            let st = if focused && i == list.selected {
                t.selected()
            } else {
                row_style(i)
            };
            Row::new(cells).style(st)
        })
        .collect();
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        inner,
    );
    chosen
}

/// A column's title with the sort mark (before a right-aligned title, after a left one),
/// the title shortened if the mark would not fit.
fn sorted_title(col: &Col, mark: &str) -> String {
    let room = if col.width == 0 {
        usize::MAX
    } else {
        usize::from(col.width) - 1
    };
    let title: String = col.title.chars().take(room).collect();
    if col.right {
        format!("{mark}{title}")
    } else {
        format!("{title}{mark}")
    }
}

/// The sort of a view as `table` marks it: the column and whether largest first.
pub fn sorted(view: View, vs: &super::app::ViewState) -> Option<(usize, bool)> {
    view.sorts().get(vs.sort).map(|s| (s.col, vs.desc))
}

/// A right-aligned cell. Right alignment cuts what does not fit from the left, which turns
/// uid 1234567 into a wrong `234567`: a number wider than its column keeps its first digits
/// and ends in a marker instead (`12345…`), so what shows is never a different number.
fn fit_right(l: Line<'static>, width: u16, t: &Theme) -> Line<'static> {
    let w = usize::from(width);
    if w == 0 || l.width() <= w {
        return l.right_aligned();
    }
    let style = l.spans.first().map_or(l.style, |s| l.style.patch(s.style));
    let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
    let mut kept: String = text.chars().take(w.saturating_sub(1)).collect();
    kept.push_str(if t.unicode { "…" } else { "+" });
    Line::from(Span::styled(kept, style))
}

/// A left-aligned cell cut to `width`, ending in an ellipsis when something was cut.
pub fn fit_left(l: Line<'static>, width: u16, t: &Theme) -> Line<'static> {
    let w = usize::from(width);
    if w == 0 || l.width() <= w {
        return l;
    }
    let mut out = Vec::new();
    let mut room = w - 1;
    for s in l.spans {
        let mut kept = String::new();
        for ch in s.content.chars() {
            let cw = Span::raw(ch.to_string()).width();
            if cw > room {
                break;
            }
            room -= cw;
            kept.push(ch);
        }
        let done = kept.chars().count() < s.content.chars().count();
        out.push(Span::styled(kept, s.style));
        if done {
            break;
        }
    }
    let style = out.last().map_or(l.style, |s| s.style);
    out.push(Span::styled(t.ellipsis(), style));
    Line::from(out).style(l.style)
}

/// Word-wraps a line to `width` columns, continuation lines indented two more than it.
pub fn wrap_hanging(l: Line<'static>, width: usize) -> Vec<Line<'static>> {
    let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
    let lead = text.len() - text.trim_start_matches(' ').len();
    wrap_line(l, width, (lead + 2).min(width / 3))
}

/// Word-wraps a line to `width` columns; continuation lines are indented by `indent`.
pub fn wrap_line(l: Line<'static>, width: usize, indent: usize) -> Vec<Line<'static>> {
    if width <= indent + 4 || l.width() <= width {
        return vec![l];
    }
    let mut lines = Vec::new();
    let mut cur: Vec<Span<'static>> = Vec::new();
    let mut used = 0usize;
    for s in l.spans {
        // Words with their trailing space.
        let text = s.content.to_string();
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let end = rest.find(' ').map_or(rest.len(), |i| i + 1);
            let (word, tail) = rest.split_at(end);
            rest = tail;
            let ww = Span::raw(word.trim_end()).width();
            if used + ww > width && used > indent {
                lines.push(Line::from(std::mem::take(&mut cur)).style(l.style));
                cur.push(Span::raw(" ".repeat(indent)));
                used = indent;
            }
            // A word longer than a whole line is cut into pieces.
            let mut word = word.to_string();
            while used + Span::raw(word.trim_end()).width() > width {
                let take = width.saturating_sub(used).max(1);
                let head: String = word.chars().take(take).collect();
                word = word.chars().skip(take).collect();
                cur.push(Span::styled(head, s.style));
                lines.push(Line::from(std::mem::take(&mut cur)).style(l.style));
                cur.push(Span::raw(" ".repeat(indent)));
                used = indent;
            }
            used += Span::raw(word.as_str()).width();
            cur.push(Span::styled(word, s.style));
        }
    }
    if !cur.is_empty() {
        lines.push(Line::from(cur).style(l.style));
    }
    lines
}

/// The objects of a kind found leaked: marked by the word LEAK as well as by colour
/// (NO_COLOR and monochrome terminals see the word).
pub fn leaked(cx: &Cx, kind: crate::analysis::IpcKind) -> std::collections::BTreeSet<i32> {
    cx.s.findings
        .iter()
        .filter_map(|f| match f.what {
            What::Leak { ipc, id } if ipc == kind => Some(id),
            _ => None,
        })
        .collect()
}

// ---- filters and sorting ----

/// Whether `text` matches the filter (case-insensitive substring; empty matches all).
pub fn matches(filter: &str, text: impl FnOnce() -> String) -> bool {
    filter.is_empty() || text().to_lowercase().contains(&filter.to_lowercase())
}

/// Applies a view's direction to an ordering.
pub fn dir(o: Ordering, desc: bool) -> Ordering {
    if desc {
        o.reverse()
    } else {
        o
    }
}

/// What an empty table says: why there is nothing, or that the filter matches nothing.
pub fn empty_text(filter: &str, none: &str) -> String {
    if filter.is_empty() {
        none.to_string()
    } else {
        format!("nothing matches /{filter} (Esc clears the filter)")
    }
}

pub fn title_with(name: &str, shown: usize, total: usize, filter: &str) -> Line<'static> {
    if filter.is_empty() {
        Line::from(format!(" {name} ({total}) "))
    } else {
        Line::from(format!(
            " {name} ({shown} of {total}, filter \"{filter}\") "
        ))
    }
}

// ---- formats ----

/// A duration, short: "0.4s", "12.3s", "4m05s", "2h03m", "3d04h".
pub fn dur(s: f64) -> String {
    let s = s.max(0.0);
    if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else if s < 86400.0 {
        format!(
            "{}h{:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    } else {
        format!(
            "{}d{:02}h",
            (s / 86400.0) as u64,
            ((s % 86400.0) / 3600.0) as u64
        )
    }
}

/// A nanosecond total as a duration ("-" for none).
pub fn dur_ns(ns: u64) -> String {
    if ns == 0 {
        "-".into()
    } else if ns < 100_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        dur(ns as f64 / 1e9)
    }
}

/// Time since a unix time in seconds ("never" for 0).
pub fn ago(now_unix: f64, t: i64) -> String {
    if t == 0 {
        "never".into()
    } else {
        dur(now_unix - t as f64)
    }
}

/// Time since a monotonic stamp.
pub fn ago_mono(now: u64, t: Option<u64>) -> String {
    match t {
        Some(t) => dur(now.saturating_sub(t) as f64 / 1e9),
        None => "-".into(),
    }
}

/// "h:mm:ss".
pub fn clock(s: f64) -> String {
    let s = s.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// A count, compact: 999, 1.2k, 3.4M.
pub fn num(x: f64) -> String {
    let a = x.abs();
    if x.fract() == 0.0 && a < 100_000.0 {
        format!("{x:.0}")
    } else if a < 1000.0 {
        if x.fract() == 0.0 || a >= 100.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    } else if a < 1e6 {
        format!("{:.1}k", x / 1e3)
    } else if a < 1e9 {
        format!("{:.1}M", x / 1e6)
    } else {
        format!("{:.1}G", x / 1e9)
    }
}

fn trim_f(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub fn size(b: u64) -> String {
    humansize::format_size(b, humansize::BINARY.decimal_places(1))
}

/// Pids, comma-separated, at most `max` of them ("+N" for the rest; "-" for none).
pub fn pids(v: impl IntoIterator<Item = u32>, max: usize) -> String {
    let v: Vec<u32> = v.into_iter().collect();
    if v.is_empty() {
        return "-".into();
    }
    let mut s = v
        .iter()
        .take(max)
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",");
    if v.len() > max {
        s.push_str(&format!(",+{}", v.len() - max));
    }
    s
}

/// An IPC key as ipcs shows it.
pub fn key(k: i32) -> String {
    if k == 0 {
        "private".into()
    } else {
        format!("{:#010x}", k as u32)
    }
}

/// A sparkline of per-second counts, `width` cells, newest on the right.
pub fn spark(t: &Theme, v: &[u32]) -> String {
    let max = v.iter().copied().max().unwrap_or(0).max(1) as f64;
    let levels = t.levels();
    v.iter()
        .map(|&x| {
            let i = if x == 0 {
                0
            } else {
                1 + ((x as f64 / max) * (levels.len() - 2) as f64).round() as usize
            };
            levels[i.min(levels.len() - 1)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_by_priority() {
        let cols = [
            col("A", 10, 0),
            col("B", 10, 2),
            col("C", 10, 1),
            col("D", 0, 3),
        ];
        assert_eq!(pick(&cols, 100), [0, 1, 2, 3]);
        assert_eq!(pick(&cols, 21), [0, 2]);
        // The last one needs 20 columns.
        assert_eq!(pick(&cols, 52), [0, 1, 2]);
        assert_eq!(pick(&cols, 53), [0, 1, 2, 3]);
        assert_eq!(pick(&cols, 5), [0]);
    }

    #[test]
    fn formats() {
        assert_eq!(dur(0.42), "0.4s");
        assert_eq!(dur(245.0), "4m05s");
        assert_eq!(dur(7380.0), "2h03m");
        assert_eq!(num(1234.0), "1234");
        assert_eq!(num(1234.5), "1.2k");
        assert_eq!(num(123456.0), "123.5k");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(pids([1, 2, 3], 2), "1,2,+1");
        assert_eq!(size(8192), "8 KiB");
        assert_eq!(key(0), "private");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}

#[cfg(test)]
mod fit_tests {
    use ratatui::{backend::TestBackend, Terminal};

    use super::*;

    #[test]
    fn long_uids_are_not_cut_from_the_left() {
        const COLS: [Col; 2] = [col("PID", 7, 0), rcol("UID", 6, 1)];
        let uids = ["1234567", "4294967294", "0"];
        let keys: Vec<u64> = (0..uids.len() as u64).collect();
        let mut term = Terminal::new(TestBackend::new(30, 6)).unwrap();
        let t = Theme::default();
        let mut list = ListState::default();
        term.draw(|f| {
            let area = f.area();
            table(
                f,
                area,
                &t,
                Line::from("t"),
                &COLS,
                &keys,
                &mut list,
                "",
                None,
                false,
                |i, c| {
                    Line::from(if c == 0 {
                        "1".to_string()
                    } else {
                        uids[i].to_string()
                    })
                },
                |_| Style::new(),
            );
        })
        .unwrap();
        let screen: String = term
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        assert!(screen.contains("12345…"), "{screen}");
        assert!(screen.contains("42949…"), "{screen}");
        assert!(
            !screen.contains("234567") && !screen.contains("967294"),
            "{screen}"
        );
        assert!(
            screen.contains("     0"),
            "short numbers stay right-aligned: {screen}"
        );
    }
}
