//! Drawing: the frame's layout (header, tabs, body, footer) and the pieces: `table.rs` (a
//! table of rows: columns that fit, the sort mark, the position in a long list),
//! `doc.rs` (details and the Problems view), `overview.rs`, `header.rs` (header, tabs,
//! footer), `help.rs`, `picker.rs`. Views only draw the rows (`rows/`), built from the store
//! when it changes; they record only scroll positions and where things were drawn (for the
//! mouse), never what Enter opens.
mod doc;
mod header;
mod help;
mod overview;
mod picker;
mod table;

use ratatui::{
    layout::{Constraint, Layout},
    widgets::{Paragraph, Wrap},
    Frame,
};

use super::{
    app::App,
    list::ListState,
    rows::{self, picker as choices, Cx},
    store::Store,
    view::View,
};

/// The counts' format, as the views print it (for tests that read the screen).
pub use super::fmt::num;

/// Draws the whole frame.
pub fn draw(f: &mut Frame, app: &mut App) {
    let area = f.area();
    let (stamp, opts) = (app.stamp(), app.opts());
    let paused = app.paused();
    let App {
        store,
        frozen,
        theme,
        screen,
        views,
        detail,
        help: show_help,
        help_scroll,
        help_page,
        input,
        follow,
        tabs: tab_hits,
        tabs_y,
        rows: cache,
        picker,
        message,
        problems_width,
        ..
    } = app;
    let s: &Store = frozen.as_deref().unwrap_or(store);
    let cx = Cx::new(s, *theme);
    let t = *theme;
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
    header::header(f, head, &cx, paused);
    *tab_hits = header::tab_bar(f, tabs, &cx, screen.view);
    *tabs_y = (tabs.height > 0).then_some(tabs.y);
    let vs = &mut views[screen.view.index()];
    let mut sort = None;
    match screen.detail {
        Some(target) => {
            let d = cache.doc(&cx, stamp, target);
            let title = format!("{}(Esc: back) ", d.title);
            doc::draw(f, body, &t, title, &d.lines, detail, true);
        }
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
            match (screen.view, rows::table_of(screen.view)) {
                (View::Overview, _) => {
                    overview::draw(f, list_area, &cx, cache, (stamp, &opts), vs);
                }
                (_, Some(id)) => {
                    let e = cache.table(id, &cx, stamp, &opts, &vs.filter, vs.sort);
                    let extra = match screen.view {
                        View::Events if *follow => " following",
                        View::Events => " scrolled",
                        _ => "",
                    };
                    if screen.view == View::Events && *follow && !e.order.is_empty() {
                        vs.list.selected = e.order.len() - 1;
                        vs.list.moved = true;
                    }
                    let title = table::title(e, &t, &vs.filter, extra);
                    table::draw(f, list_area, (s, &t), e, vs, title, true);
                }
                (_, None) => {
                    *problems_width = list_area.width.saturating_sub(2) as usize;
                    let d = cache.problems(&cx, stamp, *problems_width, &vs.filter);
                    doc::draw(
                        f,
                        list_area,
                        &t,
                        d.title.clone(),
                        &d.lines,
                        &mut vs.list,
                        true,
                    );
                }
            }
            if let Some(id) = rows::table_of(screen.view) {
                let e = cache.table(id, &cx, stamp, &opts, &vs.filter, vs.sort);
                let (c, desc) = e.sort(vs.sort);
                sort = e
                    .table
                    .columns
                    .get(c)
                    .map(|c| (c.title.to_lowercase(), desc));
                // The selected row's details beside the list (the selection as just drawn).
                let preview = side.zip(vs.list.key.and_then(|k| e.target_of(k)));
                if let Some((side, target)) = preview {
                    let d = cache.doc(&cx, stamp, target);
                    doc::draw(
                        f,
                        side,
                        &t,
                        d.title.clone(),
                        &d.lines,
                        &mut ListState::default(),
                        false,
                    );
                }
            }
        }
    }
    let said = header::Said {
        sort,
        filter: &vs.filter,
        message: *message,
    };
    header::footer(
        f,
        foot,
        &cx,
        screen.view,
        screen.detail,
        said,
        input.as_ref(),
    );
    if let Some(at) = *picker {
        picker::draw(f, area, &cx, &choices::choices(&cx), at);
    }
    if *show_help {
        help::draw(f, area, &cx, help_scroll, help_page);
    }
}
