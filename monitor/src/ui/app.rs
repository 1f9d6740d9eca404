//! The view state (which view, selections, scroll, filters, sort, pause, where Esc goes back
//! to) and the keys. The data is in [`Store`]; nothing here reads /proc or the probe. What
//! Enter opens, a detail's links and the columns to sort by are read from the rows
//! (`rows::Cache`), built from the store when it changes — never from what was drawn. The
//! keys' handlers are in `input.rs`, the mouse's and the sort orders in `mouse.rs`.
use std::collections::BTreeSet;

pub use super::{
    list::{ListState, ViewState},
    view::{Screen, Target, View},
};
use super::{
    rows::{self, Cache, Cx, Entry, Opts, Stamp},
    store::Store,
    theme::Theme,
};
use crate::feed::Control;

/// What the loop should do after a key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    None,
    Redraw,
    Quit,
    /// A replay control (and redraw).
    Control(Control),
}

/// A text being typed in the footer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Filter(String),
    /// A replay time to go to, seconds.
    GoTo(String),
}

pub struct App {
    pub store: Store,
    /// The store as it was when `p` paused the display (live); updates keep going in.
    pub frozen: Option<Box<Store>>,
    pub theme: Theme,
    pub screen: Screen,
    pub back: Vec<Screen>,
    pub views: [ViewState; 8],
    /// The links of the open detail.
    pub detail: ListState,
    /// Semaphore sets shown with their semaphores.
    pub expanded: BTreeSet<crate::model::ObjId>,
    pub expand_all: bool,
    pub help: bool,
    /// The help's first line shown, and its page height at the last draw.
    pub help_scroll: u16,
    pub help_page: u16,
    pub input: Option<Input>,
    /// The event log sticks to its end.
    pub follow: bool,
    /// Set by the last draw: the tabs (x from, x to, view) on line `tabs_y`.
    pub tabs: Vec<(u16, u16, View)>,
    pub tabs_y: Option<u16>,
    /// The rows, details and Problems built from the store shown, kept until it changes.
    pub rows: Cache,
    /// Bumped when the display pauses or resumes (it then shows another copy of the store).
    pub epoch: u64,
    /// The namespace picker, open on this choice.
    pub picker: Option<usize>,
    /// A word for the footer until the next key (F9's).
    pub message: Option<&'static str>,
    /// The Problems view's width at the last draw (its layout of a deadlock depends on it).
    pub problems_width: usize,
}

impl App {
    pub fn new(store: Store, theme: Theme) -> Self {
        let views: [ViewState; 8] = Default::default();
        Self {
            store,
            frozen: None,
            theme,
            screen: Screen {
                view: View::Overview,
                detail: None,
            },
            back: Vec::new(),
            views,
            detail: ListState::default(),
            expanded: BTreeSet::new(),
            expand_all: false,
            help: false,
            help_scroll: 0,
            help_page: 0,
            input: None,
            follow: true,
            tabs: Vec::new(),
            tabs_y: None,
            rows: Cache::default(),
            epoch: 0,
            picker: None,
            message: None,
            problems_width: 80,
        }
    }

    /// The store shown and its build stamp.
    pub fn stamp(&self) -> Stamp {
        Stamp {
            epoch: self.epoch,
            generation: self.shown().generation,
        }
    }

    /// What the tables depend on besides the store.
    pub fn opts(&self) -> Opts {
        let p = &self.views[View::Processes.index()];
        Opts {
            expand_all: self.expand_all,
            expanded: self.expanded.clone(),
            procs: rows::procs::Shown {
                all: p.all,
                tree: p.tree,
            },
        }
    }

    /// The rows of a view's table, in the view's order (built if the store changed).
    pub fn entry(&mut self, view: View) -> Option<&Entry> {
        self.entry_of(view).map(|(e, _)| e)
    }

    /// [`Self::entry`] with the store it is of (a row's cells are made from it).
    pub fn entry_of(&mut self, view: View) -> Option<(&Entry, &Store)> {
        let id = rows::table_of(view)?;
        let (stamp, opts) = (self.stamp(), self.opts());
        let vs = &self.views[view.index()];
        let s = self.frozen.as_deref().unwrap_or(&self.store);
        let cx = Cx::new(s, self.theme);
        Some((
            self.rows.table(id, &cx, stamp, &opts, &vs.filter, vs.sort),
            s,
        ))
    }

    /// The links of the Problems view, in order.
    pub(super) fn problem_links(&mut self) -> Vec<Target> {
        let stamp = self.stamp();
        let s = self.frozen.as_deref().unwrap_or(&self.store);
        let cx = Cx::new(s, self.theme);
        let filter = &self.views[View::Problems.index()].filter;
        self.rows
            .problems(&cx, stamp, self.problems_width, filter)
            .links()
    }

    /// What Enter opens in the view's list: the selected row's target (the selection
    /// settled on the rows as they are now), from the rows; drawing sets no target.
    pub fn enter(&mut self) -> Option<Target> {
        let view = self.screen.view;
        if view == View::Problems {
            let sel = self.views[view.index()].list.selected;
            return self.problem_links().get(sel).copied();
        }
        let ids = self.entry(view)?.ids().to_vec();
        let list = &mut self.views[view.index()].list;
        list.resolve(&ids);
        let key = list.key?;
        self.entry(view)?.target_of(key)
    }

    /// The open detail's links, in order (none when no detail is open).
    pub fn links(&mut self) -> Vec<Target> {
        let Some(t) = self.screen.detail else {
            return Vec::new();
        };
        let stamp = self.stamp();
        let s = self.frozen.as_deref().unwrap_or(&self.store);
        let cx = Cx::new(s, self.theme);
        self.rows.doc(&cx, stamp, t).links()
    }

    /// The store the views show (frozen while paused).
    pub fn shown(&self) -> &Store {
        self.frozen.as_deref().unwrap_or(&self.store)
    }

    pub fn paused(&self) -> bool {
        match &self.store.position {
            Some(p) => p.paused,
            None => self.frozen.is_some(),
        }
    }

    pub(super) fn replay(&self) -> bool {
        self.store.position.is_some()
    }

    pub fn view_state(&mut self) -> &mut ViewState {
        &mut self.views[self.screen.view.index()]
    }

    /// Goes to a view (its list, not a detail), forgetting where Esc would go back to.
    pub fn go(&mut self, view: View) {
        self.screen = Screen { view, detail: None };
        self.back.clear();
    }

    /// Opens a target's details, remembering where we were.
    pub fn open(&mut self, t: Target) {
        self.back.push(self.screen);
        self.screen = Screen {
            view: t.view(),
            detail: Some(t),
        };
        // From the top: the first lines say what it is (links are reached by moving).
        self.detail = ListState {
            free: true,
            ..ListState::default()
        };
    }

    pub(super) fn esc(&mut self) -> Action {
        if let Some(prev) = self.back.pop() {
            self.screen = prev;
            self.detail = ListState::default();
        } else if self.screen.detail.is_some() {
            self.screen.detail = None;
        } else if !self.view_state().filter.is_empty() {
            self.view_state().filter.clear();
        } else {
            return Action::None;
        }
        Action::Redraw
    }

    pub(super) fn list(&mut self) -> &mut ListState {
        if self.screen.detail.is_some() {
            &mut self.detail
        } else {
            &mut self.views[self.screen.view.index()].list
        }
    }

    /// Whether the list is a document of links (details, Problems): Up/Down go from link to
    /// link and scroll where there is none.
    pub(super) fn in_doc(&self) -> bool {
        self.screen.detail.is_some() || self.screen.view == View::Problems
    }

    /// `n`: the model's scope moves to the next IPC namespace alone (ascending), then all
    /// (from a container's: all). The paused display follows too.
    pub(super) fn next_ns(&mut self) {
        use crate::model::Scope;
        let known: Vec<_> = self.store.model.namespaces().iter().map(|n| n.ns).collect();
        let next = match self.shown().model.scope() {
            Scope::All => known.first().copied(),
            Scope::Ns(cur) => known.iter().skip_while(|&n| n != cur).nth(1).copied(),
            Scope::Container(_) | Scope::Procs { .. } => None,
        };
        self.set_scope(next.map_or(Scope::All, Scope::Ns));
    }

    /// Shows `scope` (the model's one namespace filter), paused display too.
    pub(super) fn set_scope(&mut self, scope: crate::model::Scope) {
        self.store.set_scope(scope.clone());
        if let Some(f) = &mut self.frozen {
            f.set_scope(scope);
        }
        // The selections were of rows now hidden or shown.
        for v in &mut self.views {
            v.list.moved = true;
        }
    }
}

/// "90", "1:30" or "1:02:03" seconds.
pub(super) fn parse_time(s: &str) -> Option<f64> {
    let mut t = 0.0;
    for part in s.trim().split(':') {
        let v: f64 = part.parse().ok()?;
        if !(v.is_finite() && v >= 0.0) {
            return None;
        }
        t = t * 60.0 + v;
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("90"), Some(90.0));
        assert_eq!(parse_time("1:30"), Some(90.0));
        assert_eq!(parse_time("1:02:03.5"), Some(3723.5));
        assert_eq!(parse_time("x"), None);
        assert_eq!(parse_time("-1"), None);
    }
}
