//! The view state (which view, selections, scroll, filters, sort, pause, where Esc goes back
//! to) and the keys. The data is in [`Store`]; nothing here reads /proc or the probe. What
//! Enter opens, a detail's links and the columns to sort by are read from the rows
//! (`rows::Cache`), built from the store when it changes — never from what was drawn.
use std::collections::BTreeSet;

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind,
};

use super::{
    keys::{self, Cmd},
    rows::{self, picker, Cache, Cx, Entry, Opts, Stamp},
    store::Store,
    theme::Theme,
};
pub use super::{
    list::{ListState, ViewState},
    view::{Screen, Target, View},
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
    pub views: [ViewState; 7],
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
        let views: [ViewState; 7] = Default::default();
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
        let id = rows::table_of(view)?;
        let (stamp, opts) = (self.stamp(), self.opts());
        let vs = &self.views[view.index()];
        let s = self.frozen.as_deref().unwrap_or(&self.store);
        let cx = Cx::new(s, self.theme);
        Some(self.rows.table(id, &cx, stamp, &opts, &vs.filter, vs.sort))
    }

    /// The links of the Problems view, in order.
    fn problem_links(&mut self) -> Vec<Target> {
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
        let ids = self.entry(view)?.ids();
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

    fn replay(&self) -> bool {
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

    fn esc(&mut self) -> Action {
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

    fn list(&mut self) -> &mut ListState {
        if self.screen.detail.is_some() {
            &mut self.detail
        } else {
            &mut self.views[self.screen.view.index()].list
        }
    }

    /// Whether the list is a document of links (details, Problems): Up/Down go from link to
    /// link and scroll where there is none.
    fn in_doc(&self) -> bool {
        self.screen.detail.is_some() || self.screen.view == View::Problems
    }

    fn typing(&mut self, key: KeyEvent) -> Action {
        let view = self.screen.view;
        let Some(input) = self.input.as_mut() else {
            return Action::None;
        };
        let text = match input {
            Input::Filter(s) | Input::GoTo(s) => s,
        };
        let Some(bind) = keys::find(keys::TYPING, &key, view) else {
            return Action::None;
        };
        match bind.cmd {
            Cmd::Type => {
                if let KeyCode::Char(c) = key.code {
                    text.push(c);
                }
            }
            Cmd::Erase => {
                text.pop();
            }
            Cmd::EraseWord => {
                let kept = text.trim_end().rfind(' ').map_or(0, |i| i + 1);
                text.truncate(kept);
            }
            Cmd::EraseAll => text.clear(),
            Cmd::Keep => {
                let done = self.input.take();
                if let Some(Input::GoTo(s)) = done {
                    return match parse_time(&s) {
                        Some(t) => Action::Control(Control::SeekTo(t)),
                        None => Action::Redraw,
                    };
                }
                return Action::Redraw;
            }
            Cmd::Cancel => {
                if let Some(Input::Filter(_)) = self.input.take() {
                    self.view_state().filter.clear();
                }
                return Action::Redraw;
            }
            Cmd::Quit => return Action::Quit,
            _ => return Action::None,
        }
        if let Some(Input::Filter(s)) = &self.input {
            let s = s.clone();
            let v = self.view_state();
            v.filter = s;
            v.list.moved = true;
        }
        Action::Redraw
    }

    fn help_key(&mut self, key: KeyEvent) -> Action {
        let Some(bind) = keys::find(keys::HELP, &key, self.screen.view) else {
            return Action::None;
        };
        let page = self.help_page.max(1) as i32;
        let by = match bind.cmd {
            Cmd::Quit => return Action::Quit,
            Cmd::CloseHelp => {
                self.help = false;
                return Action::Redraw;
            }
            Cmd::Up => -1,
            Cmd::Down => 1,
            Cmd::PageUp => -page,
            Cmd::PageDown => page,
            Cmd::Home => -i32::from(u16::MAX),
            Cmd::End => i32::from(u16::MAX),
            _ => return Action::None,
        };
        // The draw clamps it to the help's length.
        self.help_scroll = (i32::from(self.help_scroll) + by).clamp(0, i32::from(u16::MAX)) as u16;
        Action::Redraw
    }

    /// Up/Down in details: from link to link, scrolling the page when there is none further.
    fn detail_step(&mut self, delta: isize) {
        let l = self.list();
        let can = if delta < 0 {
            l.selected > 0
        } else {
            l.selected + 1 < l.len
        };
        if can && !l.free {
            l.step(delta);
        } else {
            l.scroll_by(delta);
        }
    }

    /// The namespace picker's keys.
    fn picker_key(&mut self, key: KeyEvent) -> Action {
        let Some(bind) = keys::find(keys::PICKER, &key, self.screen.view) else {
            return Action::None;
        };
        let choices = picker::choices(&Cx::new(self.shown(), self.theme));
        let at = self.picker.unwrap_or(0);
        match bind.cmd {
            Cmd::Quit => return Action::Quit,
            Cmd::ClosePicker => self.picker = None,
            Cmd::Up => self.picker = Some(at.saturating_sub(1)),
            Cmd::Down => self.picker = Some((at + 1).min(choices.len().saturating_sub(1))),
            Cmd::Choose => {
                self.picker = None;
                if let Some(c) = choices.get(at) {
                    self.set_scope(c.scope.clone());
                }
            }
            _ => return Action::None,
        }
        Action::Redraw
    }

    /// Handles one key: looked up in [`keys`], the one table of keys the help shows.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        self.message = None;
        if self.input.is_some() {
            return self.typing(key);
        }
        if self.help {
            return self.help_key(key);
        }
        if self.picker.is_some() {
            return self.picker_key(key);
        }
        let view = self.screen.view;
        if self.replay() {
            if let Some(bind) = keys::find(keys::REPLAY, &key, view) {
                let c = match bind.cmd {
                    Cmd::ReplayPause => Control::TogglePause,
                    Cmd::Step => Control::Step,
                    Cmd::SeekBack => Control::Seek(-10.0),
                    Cmd::SeekForward => Control::Seek(10.0),
                    Cmd::Slower => Control::Speed(0.5),
                    Cmd::Faster => Control::Speed(2.0),
                    _ => {
                        self.input = Some(Input::GoTo(String::new()));
                        return Action::Redraw;
                    }
                };
                return Action::Control(c);
            }
        }
        let Some(bind) = keys::find(keys::MAIN, &key, view) else {
            return Action::None;
        };
        let in_doc = self.in_doc();
        match bind.cmd {
            Cmd::Quit => return Action::Quit,
            Cmd::NextView => self.go(View::ALL[(view.index() + 1) % View::ALL.len()]),
            Cmd::PrevView => {
                self.go(View::ALL[(view.index() + View::ALL.len() - 1) % View::ALL.len()])
            }
            Cmd::ToView => {
                if let KeyCode::Char(c @ '1'..='7') = key.code {
                    self.go(View::ALL[c as usize - '1' as usize]);
                }
            }
            Cmd::Help => {
                self.help = true;
                self.help_scroll = 0;
            }
            Cmd::Pause => {
                self.frozen = match self.frozen.take() {
                    Some(_) => None,
                    None => Some(Box::new(self.store.clone())),
                };
                self.epoch += 1;
            }
            Cmd::Filter => {
                let f = self.view_state().filter.clone();
                self.input = Some(Input::Filter(f));
            }
            Cmd::Sort => self.next_sort(),
            Cmd::SortMove => self.move_sort(if key.code == KeyCode::Char('<') {
                -1
            } else {
                1
            }),
            Cmd::Namespace => self.next_ns(),
            Cmd::Picker => {
                let choices = picker::choices(&Cx::new(self.shown(), self.theme));
                self.picker = Some(choices.iter().position(|c| c.current).unwrap_or(0));
            }
            Cmd::Reverse => {
                if let Some((c, desc)) = self.sort_now(view) {
                    self.view_state().sort = Some((c, !desc));
                }
            }
            Cmd::Back => return self.esc(),
            Cmd::Open => {
                let t = if self.screen.detail.is_some() {
                    let sel = self.detail.selected;
                    self.links().get(sel).copied()
                } else {
                    self.enter()
                };
                match t {
                    Some(t) => self.open(t),
                    None => return Action::None,
                }
            }
            Cmd::Up if in_doc => self.detail_step(-1),
            Cmd::Down if in_doc => self.detail_step(1),
            Cmd::PageUp if in_doc => {
                let p = self.list().page.max(1) as isize;
                self.list().scroll_by(-p);
            }
            Cmd::PageDown if in_doc => {
                let p = self.list().page.max(1) as isize;
                self.list().scroll_by(p);
            }
            Cmd::Home if in_doc => self.list().scroll_by(-(u16::MAX as isize)),
            Cmd::End if in_doc => self.list().scroll_by(u16::MAX as isize),
            Cmd::Up => {
                self.list().step(-1);
                self.unfollow(view);
            }
            Cmd::Down => self.list().step(1),
            Cmd::PageUp => {
                let p = self.list().page.max(1) as isize;
                self.list().step(-p);
                self.unfollow(view);
            }
            Cmd::PageDown => {
                let p = self.list().page.max(1) as isize;
                self.list().step(p);
            }
            Cmd::Home => {
                self.list().home();
                self.unfollow(view);
            }
            Cmd::End => {
                self.list().end();
                if view == View::Events {
                    self.follow = true;
                }
            }
            Cmd::Follow => self.follow = !self.follow,
            Cmd::All => {
                let v = self.view_state();
                v.all = !v.all;
            }
            Cmd::Tree => {
                if view == View::Processes && self.screen.detail.is_none() {
                    let v = self.view_state();
                    v.tree = !v.tree;
                } else {
                    self.go(View::Processes);
                    self.view_state().tree = true;
                }
            }
            Cmd::NoKill => {
                self.message =
                    Some("F9: ipctop only observes; it never kills, signals or changes anything");
            }
            Cmd::Expand => {
                if let Some(Target::Sem(id)) = self.enter() {
                    self.expanded.insert(id);
                }
            }
            Cmd::Collapse => {
                if let Some(Target::Sem(id)) = self.enter() {
                    self.expanded.remove(&id);
                    self.expand_all = false;
                }
            }
            Cmd::ExpandAll => {
                self.expand_all = !self.expand_all;
                if !self.expand_all {
                    self.expanded.clear();
                }
            }
            _ => return Action::None,
        }
        Action::Redraw
    }

    /// Handles the mouse: a click on a tab goes there, on a column title sorts by it (again:
    /// reverses), on a row selects it (on the selected row: opens it, as Enter); the wheel
    /// scrolls.
    pub fn on_mouse(&mut self, m: MouseEvent) -> Action {
        let (x, y) = (m.column, m.row);
        let view = self.screen.view;
        match m.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let d: isize = if m.kind == MouseEventKind::ScrollUp {
                    -3
                } else {
                    3
                };
                if self.help {
                    self.help_scroll = (self.help_scroll as isize + d).max(0) as u16;
                } else if self.picker.is_some() {
                    return Action::None;
                } else if self.in_doc() {
                    self.list().scroll_by(d);
                } else {
                    self.list().step(d);
                    if d < 0 {
                        self.unfollow(view);
                    }
                }
                Action::Redraw
            }
            MouseEventKind::Down(MouseButton::Left)
                if !self.help && self.input.is_none() && self.picker.is_none() =>
            {
                self.message = None;
                if Some(y) == self.tabs_y {
                    if let Some(&(_, _, v)) =
                        self.tabs.iter().find(|(a, b, _)| (*a..*b).contains(&x))
                    {
                        self.go(v);
                        return Action::Redraw;
                    }
                    return Action::None;
                }
                let in_doc = self.in_doc();
                let l = self.list();
                let r = l.rows;
                if y + 1 == r.y && (r.x..r.x + r.width).contains(&x) && !in_doc {
                    let col = l.header.iter().find(|(a, b, _)| (*a..*b).contains(&x));
                    let Some(&(_, _, col)) = col else {
                        return Action::None;
                    };
                    return self.sort_by_col(col);
                }
                if !(r.y..r.y + r.height).contains(&y) || !(r.x..r.x + r.width).contains(&x) {
                    return Action::None;
                }
                let i = usize::from(y - r.y);
                let item = if l.line_items.is_empty() {
                    Some(l.offset + i)
                } else {
                    l.line_items.get(i).copied().flatten()
                };
                let Some(item) = item.filter(|&n| n < l.len) else {
                    return Action::None;
                };
                if item == l.selected && !(in_doc && l.free) {
                    return self.on_key(KeyEvent::from(KeyCode::Enter));
                }
                l.selected = item;
                l.moved = true;
                l.free = false;
                if view == View::Events && !in_doc {
                    self.follow = false;
                }
                Action::Redraw
            }
            _ => Action::None,
        }
    }

    /// The columns of the view's table (none for Problems).
    fn columns(&mut self, view: View) -> Vec<rows::table::Column> {
        self.entry(view)
            .map(|e| e.table.columns.clone())
            .unwrap_or_default()
    }

    /// The sort in force in a view: column and largest first.
    fn sort_now(&mut self, view: View) -> Option<(usize, bool)> {
        let asked = self.views[view.index()].sort;
        self.entry(view).map(|e| e.sort(asked))
    }

    /// A click on a column title: sort by it, largest first for times and counts; a second
    /// click reverses.
    fn sort_by_col(&mut self, col: usize) -> Action {
        let view = self.screen.view;
        let cols = self.columns(view);
        let Some(c) = cols.get(col).filter(|c| c.sortable()) else {
            return Action::None;
        };
        let now = self.sort_now(view);
        self.view_state().sort = Some(match now {
            Some((sc, desc)) if sc == col => (col, !desc),
            _ => (col, c.sort == rows::table::Sort::Desc),
        });
        Action::Redraw
    }

    fn unfollow(&mut self, view: View) {
        if view == View::Events {
            self.follow = false;
        }
    }

    /// The columns `s`, `<` and `>` may sort by: sortable, and shown at the last draw (when
    /// it said which were).
    fn sortable(&mut self, view: View) -> Vec<(usize, bool)> {
        let cols = self.columns(view);
        let shown = self.views[view.index()].shown.clone();
        cols.iter()
            .enumerate()
            .filter(|(i, c)| c.sortable() && (shown.is_empty() || shown.contains(i)))
            .map(|(i, c)| (i, c.sort == rows::table::Sort::Desc))
            .collect()
    }

    /// `<` / `>`: sort by the nearest shown column left (`by` < 0) or right of the sorted
    /// one that can sort (times and counts largest first); at the edge, stays.
    fn move_sort(&mut self, by: i32) {
        let view = self.screen.view;
        let Some((cur, _)) = self.sort_now(view) else {
            return;
        };
        let can = self.sortable(view);
        let best = if by < 0 {
            can.into_iter()
                .filter(|(c, _)| *c < cur)
                .max_by_key(|(c, _)| *c)
        } else {
            can.into_iter()
                .filter(|(c, _)| *c > cur)
                .min_by_key(|(c, _)| *c)
        };
        if let Some(s) = best {
            self.view_state().sort = Some(s);
        }
    }

    /// `n`: the model's scope moves to the next IPC namespace alone (ascending), then all
    /// (from a container's: all). The paused display follows too.
    fn next_ns(&mut self) {
        use crate::model::Scope;
        let known: Vec<_> = self.store.model.namespaces().iter().map(|n| n.ns).collect();
        let next = match self.shown().model.scope() {
            Scope::All => known.first().copied(),
            Scope::Ns(cur) => known.iter().skip_while(|&n| n != cur).nth(1).copied(),
            Scope::Container(_) => None,
        };
        self.set_scope(next.map_or(Scope::All, Scope::Ns));
    }

    /// Shows `scope` (the model's one namespace filter), paused display too.
    fn set_scope(&mut self, scope: crate::model::Scope) {
        self.store.set_scope(scope.clone());
        if let Some(f) = &mut self.frozen {
            f.set_scope(scope);
        }
        // The selections were of rows now hidden or shown.
        for v in &mut self.views {
            v.list.moved = true;
        }
    }

    /// `s`: the next sort order of the view (its column shown, when the last draw said which
    /// are); times and counts start largest first.
    fn next_sort(&mut self) {
        let view = self.screen.view;
        let Some((cur, _)) = self.sort_now(view) else {
            return;
        };
        let can = self.sortable(view);
        let next = can.iter().find(|(c, _)| *c > cur).or(can.first()).copied();
        if let Some(s) = next {
            self.view_state().sort = Some(s);
        }
    }
}

/// "90", "1:30" or "1:02:03" seconds.
fn parse_time(s: &str) -> Option<f64> {
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
