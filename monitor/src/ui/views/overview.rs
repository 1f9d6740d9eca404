//! Overview: the calls/s and waits/s line, who waits now (the rows of `rows::overview`), the
//! problems (a line each, the rows of `rows::problems`) and the busiest objects.
use ratatui::{
    layout::{Constraint, Layout, Rect},
    text::Line,
    widgets::Paragraph,
    Frame,
};

use super::{doc, table};
use crate::ui::{
    list::ViewState,
    rows::{detail::chart, problems, Cache, Cx, Opts, Stamp, TableId},
    theme::Tone,
};

/// Draws the Overview; `vs` is its list's (the waits').
pub fn draw(
    f: &mut Frame,
    area: Rect,
    cx: &Cx,
    cache: &mut Cache,
    (stamp, opts): (Stamp, &Opts),
    vs: &mut ViewState,
) {
    let n_find = problems::count(cx);
    let wide = area.width >= 120;
    // The calls/s chart: boxed when there is room, one line at 80x24.
    let activity_h = match area.height {
        30.. => 3,
        16.. => 1,
        _ => 0,
    };
    let [act, rest] =
        Layout::vertical([Constraint::Length(activity_h), Constraint::Min(1)]).areas(area);
    if activity_h > 0 {
        activity(f, act, cx);
    }
    let (waits_area, prob_area, busy_area) = if rest.height < 12 {
        // Small: the waits only (the header still counts the problems).
        (rest, Rect::default(), Rect::default())
    } else if rest.height < 18 && !wide {
        let prob_h = (n_find.max(1) as u16 + 2).min(5);
        let [w, p] = Layout::vertical([Constraint::Min(3), Constraint::Length(prob_h)]).areas(rest);
        (w, p, Rect::default())
    } else if wide {
        let [l, r] = Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
            .areas(rest);
        let [p, b] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(r);
        (l, p, b)
    } else {
        let prob_h = (n_find.max(1) as u16 + 2).min(rest.height / 4).max(3);
        let [w, p, b] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(prob_h),
            Constraint::Percentage(30),
        ])
        .areas(rest);
        (w, p, b)
    };
    let e = cache.table(TableId::Waits, cx, stamp, opts, &vs.filter, vs.sort);
    let title = table::title(e, &cx.t, &vs.filter, "");
    table::draw(f, waits_area, (cx.s, &cx.t), e, vs, title, true);
    if !prob_area.is_empty() {
        summary(f, prob_area, cx);
    }
    if !busy_area.is_empty() {
        let e = cache.table(TableId::Busiest, cx, stamp, opts, "", None);
        let title = Line::from(" Busiest objects by calls/s ");
        let mut busy = ViewState::default();
        table::draw(f, busy_area, (cx.s, &cx.t), e, &mut busy, title, false);
    }
}

/// The problems' box: one line per finding, the worst first.
fn summary(f: &mut Frame, area: Rect, cx: &Cx) {
    let n = problems::count(cx);
    let title = Line::from(format!(" Problems ({n}): 7 for details "));
    let b = table::block(area, &cx.t, title);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let h = inner.height as usize;
    let mut lines: Vec<Line> = problems::problems(cx)
        .iter()
        .take(if n > h { h.saturating_sub(1) } else { h })
        // Cut lines end in an ellipsis (the Problems view has them whole).
        .map(|p| {
            table::fit_left(
                doc::line(&cx.t, &problems::summary(p)),
                inner.width,
                None,
                &cx.t,
            )
        })
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
            cx.t.style(Tone::Good),
        ));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// Calls and waits per second, boxed when there is room, one line at 80x24.
fn activity(f: &mut Frame, area: Rect, cx: &Cx) {
    let inner = if area.height >= 3 {
        let b = table::block(area, &cx.t, Line::from(" IPC calls and waits per second "));
        let inner = b.inner(area);
        f.render_widget(b, area);
        inner
    } else {
        area
    };
    let line = chart::overview_line(cx, inner.width as usize);
    f.render_widget(Paragraph::new(doc::line(&cx.t, &line)), inner);
}
