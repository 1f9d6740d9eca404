//! Drawing: the frame's layout (header, tabs, body, footer), one module per view, and the
//! pieces they share: `table.rs` (tables that drop columns to fit, cells cut with an
//! ellipsis, wrapping), `fmt.rs` (durations, counts, sizes: one formatter each),
//! `header.rs` (header, tabs, footer). Views only read the store and the view state; they
//! never touch /proc or the probe.
mod blind;
mod chart;
mod detail;
mod events;
mod fmt;
mod header;
mod help;
pub mod ns;
mod overview;
mod problems;
mod procs;
mod queues;
mod sems;
mod shm;
mod table;

use std::cmp::Ordering;

use ratatui::{
    layout::{Constraint, Layout},
    text::Line,
    widgets::{Paragraph, Wrap},
    Frame,
};

pub use fmt::*;
pub use table::*;

use super::{
    app::{App, ListState, Target, View, ViewState},
    store::Store,
    theme::Theme,
};
use crate::{
    analysis::What,
    model::{ObjId, ObjKind},
};

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
    pub fn acct(&self, kind: ObjKind, id: ObjId) -> Option<&'a crate::model::Tally> {
        self.s.model.object_account_at(kind, id)
    }

    /// An object's calls per second.
    pub fn rate(&self, kind: ObjKind, id: ObjId) -> f64 {
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
    header::header(f, head, &cx, paused);
    *tab_hits = header::tab_bar(f, tabs, &cx, screen.view);
    *tabs_y = (tabs.height > 0).then_some(tabs.y);
    let vs = &mut views[screen.view.index()];
    match screen.detail {
        Some(target) => detail::draw(f, body, &cx, target, detail, true),
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
            match screen.view {
                View::Overview => overview::draw(f, list_area, &cx, vs),
                View::Semaphores => sems::draw(f, list_area, &cx, vs, expanded, *expand_all),
                View::Shm => shm::draw(f, list_area, &cx, vs),
                View::Queues => queues::draw(f, list_area, &cx, vs),
                View::Processes => procs::draw(f, list_area, &cx, vs),
                View::Events => events::draw(f, list_area, &cx, vs, *follow),
                View::Problems => problems::draw(f, list_area, &cx, vs),
            }
            // The selected row's details beside the list (the selection as just drawn).
            let preview = side.zip(selected_target(s, *theme, screen.view, vs));
            if let Some((side, target)) = preview {
                detail::draw(f, side, &cx, target, &mut ListState::default(), false);
            }
        }
    }
    header::footer(f, foot, &cx, screen.view, screen.detail, vs, input.as_ref());
    if *show_help {
        help::draw(f, area, &cx, help_scroll, help_page);
    }
}

/// The objects of a kind found leaked: marked by the word LEAK as well as by colour
/// (NO_COLOR and monochrome terminals see the word).
pub fn leaked(cx: &Cx, kind: crate::analysis::IpcKind) -> std::collections::BTreeSet<ObjId> {
    cx.s.findings
        .iter()
        .filter_map(|f| match f.what {
            What::Leak { ipc, id } if ipc == kind => Some(ObjId { ns: f.ipc_ns, id }),
            _ => None,
        })
        .collect()
}

// ---- what Enter opens ----

/// What Enter opens in a view's list: the target of the row the last draw settled the
/// selection on (`vs.list.key`; Problems by index). For the app: drawing sets no target.
pub fn selected_target(s: &Store, t: Theme, view: View, vs: &ViewState) -> Option<Target> {
    let cx = Cx::new(s, t);
    let k = vs.list.key;
    match view {
        View::Overview => overview::target(&cx, k?),
        View::Semaphores => Some(Target::Sem(s.obj_of_key(k? >> 20)?)),
        View::Shm => Some(Target::Shm(s.obj_of_key(k?)?)),
        View::Queues => Some(Target::Queue(s.obj_of_key(k?)?)),
        View::Processes => Some(Target::Proc(k? as u32)),
        View::Events => events::target(&cx, k?),
        View::Problems => problems::target(&cx, vs),
    }
}

/// The links of a target's details, in the order they are drawn (Up/Down and Enter).
pub fn links(s: &Store, t: Theme, target: Target) -> Vec<Target> {
    detail::links(&Cx::new(s, t), target)
}

// ---- filters and sorting ----

/// Whether `text` matches the filter (case-insensitive substring; empty matches all).
pub fn matches(filter: &str, text: impl FnOnce() -> String) -> bool {
    filter.is_empty() || text().to_lowercase().contains(&filter.to_lowercase())
}

/// Objects in id order, a namespace's after another's of the same id.
pub fn by_id(a: ObjId, b: ObjId) -> Ordering {
    (a.id, a.ns).cmp(&(b.id, b.ns))
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
