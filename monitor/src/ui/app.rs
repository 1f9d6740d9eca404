//! The view state (which view, selections, scroll, filters, sort, pause, where Esc goes back
//! to) and the keys. The data is in [`Store`]; nothing here reads /proc or the probe.
use std::collections::BTreeSet;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::{store::Store, theme::Theme};
use crate::feed::Control;

/// The views, in Tab order (number keys 1–7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    Overview,
    Semaphores,
    Shm,
    Queues,
    Processes,
    Events,
    Problems,
}

impl View {
    pub const ALL: [View; 7] = [
        View::Overview,
        View::Semaphores,
        View::Shm,
        View::Queues,
        View::Processes,
        View::Events,
        View::Problems,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Semaphores => "Semaphores",
            View::Shm => "Shared memory",
            View::Queues => "Message queues",
            View::Processes => "Processes",
            View::Events => "Events",
            View::Problems => "Problems",
        }
    }

    /// For narrow tab bars.
    pub fn short(self) -> &'static str {
        match self {
            View::Overview => "Over",
            View::Semaphores => "Sem",
            View::Shm => "Shm",
            View::Queues => "Msg",
            View::Processes => "Proc",
            View::Events => "Ev",
            View::Problems => "Prob",
        }
    }

    /// The sort orders a view offers (`s` cycles, `S` reverses).
    pub fn sorts(self) -> &'static [&'static str] {
        match self {
            View::Overview => &["waited", "pid", "object"],
            View::Semaphores => &["semid", "waiters", "ops/s", "contention", "last op"],
            View::Shm => &["shmid", "size", "nattch", "age"],
            View::Queues => &["msqid", "messages", "bytes", "blocked"],
            View::Processes => &["pid", "wait time", "waits", "segments", "calls", "failed"],
            View::Events => &["time"],
            View::Problems => &["severity"],
        }
    }
}

/// Something a detail shows, and that Enter can go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Sem(i32),
    Shm(i32),
    Queue(i32),
    Proc(u32),
}

impl Target {
    /// The view that lists it.
    pub fn view(self) -> View {
        match self {
            Target::Sem(_) => View::Semaphores,
            Target::Shm(_) => View::Shm,
            Target::Queue(_) => View::Queues,
            Target::Proc(_) => View::Processes,
        }
    }
}

/// Where the user is: a view, and maybe the details of one thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Screen {
    pub view: View,
    pub detail: Option<Target>,
}

/// A scrolling, selectable list. The selection follows its row's key when the data changes
/// (rows re-sort every update); keys move it by index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListState {
    pub selected: usize,
    pub offset: usize,
    pub key: Option<u64>,
    /// Moved by a key since the last draw (then the index wins over the key).
    pub moved: bool,
    /// Rows and visible rows at the last draw.
    pub len: usize,
    pub page: usize,
}

impl ListState {
    /// Settles the selection on this draw's rows.
    pub fn resolve(&mut self, keys: &[u64]) {
        self.len = keys.len();
        if !self.moved {
            if let Some(k) = self.key {
                if let Some(i) = keys.iter().position(|&x| x == k) {
                    self.selected = i;
                }
            }
        }
        self.moved = false;
        self.selected = self.selected.min(self.len.saturating_sub(1));
        self.key = keys.get(self.selected).copied();
    }

    /// Keeps the selection within `height` visible rows.
    pub fn scroll(&mut self, height: usize) {
        self.page = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        }
        if self.selected >= self.offset + self.page {
            self.offset = self.selected + 1 - self.page;
        }
        self.offset = self.offset.min(self.len.saturating_sub(self.page));
    }

    fn step(&mut self, delta: isize) {
        let max = self.len.saturating_sub(1) as isize;
        self.selected = (self.selected as isize + delta).clamp(0, max.max(0)) as usize;
        self.moved = true;
    }

    fn home(&mut self) {
        self.selected = 0;
        self.moved = true;
    }

    fn end(&mut self) {
        self.selected = self.len.saturating_sub(1);
        self.moved = true;
    }
}

/// Per view: selection, filter, sort.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewState {
    pub list: ListState,
    pub filter: String,
    pub sort: usize,
    pub desc: bool,
    /// Processes: every process, not only those using IPC.
    pub all: bool,
}

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
    pub expanded: BTreeSet<i32>,
    pub expand_all: bool,
    pub help: bool,
    pub input: Option<Input>,
    /// The event log sticks to its end.
    pub follow: bool,
    /// Set by the last draw: what Enter opens, and the open detail's links.
    pub enter: Option<Target>,
    pub links: Vec<Target>,
}

impl App {
    pub fn new(store: Store, theme: Theme) -> Self {
        let mut views: [ViewState; 7] = Default::default();
        // Busiest and worst first where it matters.
        views[View::Overview.index()].desc = true;
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
            input: None,
            follow: true,
            enter: None,
            links: Vec::new(),
        }
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

    fn go(&mut self, view: View) {
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
        self.detail = ListState::default();
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

    fn typing(&mut self, key: KeyEvent) -> Action {
        let Some(input) = self.input.as_mut() else {
            return Action::None;
        };
        let text = match input {
            Input::Filter(s) | Input::GoTo(s) => s,
        };
        match key.code {
            KeyCode::Char(c) => text.push(c),
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Enter => {
                let done = self.input.take();
                if let Some(Input::GoTo(s)) = done {
                    return match parse_time(&s) {
                        Some(t) => Action::Control(Control::SeekTo(t)),
                        None => Action::Redraw,
                    };
                }
                return Action::Redraw;
            }
            KeyCode::Esc => {
                if let Some(Input::Filter(_)) = self.input.take() {
                    self.view_state().filter.clear();
                }
                return Action::Redraw;
            }
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

    /// Handles one key.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('d')) {
            return Action::Quit;
        }
        if self.input.is_some() {
            return self.typing(key);
        }
        if self.help {
            return match key.code {
                KeyCode::Char('q') => Action::Quit,
                KeyCode::Char('?') | KeyCode::Esc | KeyCode::Enter => {
                    self.help = false;
                    Action::Redraw
                }
                _ => Action::None,
            };
        }
        if self.replay() {
            let c = match key.code {
                KeyCode::Char(' ') | KeyCode::Char('p') => Some(Control::TogglePause),
                KeyCode::Char('.') => Some(Control::Step),
                KeyCode::Char('[') => Some(Control::Seek(-10.0)),
                KeyCode::Char(']') => Some(Control::Seek(10.0)),
                KeyCode::Char('-') => Some(Control::Speed(0.5)),
                KeyCode::Char('+') | KeyCode::Char('=') => Some(Control::Speed(2.0)),
                KeyCode::Char('g') => {
                    self.input = Some(Input::GoTo(String::new()));
                    return Action::Redraw;
                }
                _ => None,
            };
            if let Some(c) = c {
                return Action::Control(c);
            }
        }
        let view = self.screen.view;
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Tab => {
                self.go(View::ALL[(view.index() + 1) % View::ALL.len()]);
            }
            KeyCode::BackTab => {
                self.go(View::ALL[(view.index() + View::ALL.len() - 1) % View::ALL.len()]);
            }
            KeyCode::Char(c @ '1'..='7') => {
                self.go(View::ALL[c as usize - '1' as usize]);
            }
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('p') => {
                self.frozen = match self.frozen.take() {
                    Some(_) => None,
                    None => Some(Box::new(self.store.clone())),
                };
            }
            KeyCode::Char('/') => {
                let f = self.view_state().filter.clone();
                self.input = Some(Input::Filter(f));
            }
            KeyCode::Char('s') => {
                let n = view.sorts().len();
                let v = self.view_state();
                v.sort = (v.sort + 1) % n;
            }
            KeyCode::Char('S') => {
                let v = self.view_state();
                v.desc = !v.desc;
            }
            KeyCode::Esc => return self.esc(),
            KeyCode::Enter => {
                if self.screen.detail.is_some() {
                    let t = self.links.get(self.detail.selected).copied();
                    match t {
                        Some(t) => self.open(t),
                        None => return Action::None,
                    }
                } else {
                    match self.enter {
                        Some(t) => self.open(t),
                        None => return Action::None,
                    }
                }
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.list().step(-1);
                if view == View::Events {
                    self.follow = false;
                }
            }
            KeyCode::Down | KeyCode::Char('j') => self.list().step(1),
            KeyCode::PageUp => {
                let p = self.list().page.max(1) as isize;
                self.list().step(-p);
                if view == View::Events {
                    self.follow = false;
                }
            }
            KeyCode::PageDown => {
                let p = self.list().page.max(1) as isize;
                self.list().step(p);
            }
            KeyCode::Home | KeyCode::Char('g') => {
                self.list().home();
                if view == View::Events {
                    self.follow = false;
                }
            }
            KeyCode::End | KeyCode::Char('G') => {
                self.list().end();
                if view == View::Events {
                    self.follow = true;
                }
            }
            KeyCode::Char('f') if view == View::Events => self.follow = !self.follow,
            KeyCode::Char('a') if view == View::Processes => {
                let v = self.view_state();
                v.all = !v.all;
            }
            KeyCode::Right | KeyCode::Char('l') if view == View::Semaphores => {
                if let Some(Target::Sem(id)) = self.enter {
                    self.expanded.insert(id);
                }
            }
            KeyCode::Left | KeyCode::Char('h') if view == View::Semaphores => {
                if let Some(Target::Sem(id)) = self.enter {
                    self.expanded.remove(&id);
                    self.expand_all = false;
                }
            }
            KeyCode::Char('x') if view == View::Semaphores => {
                self.expand_all = !self.expand_all;
                if !self.expand_all {
                    self.expanded.clear();
                }
            }
            _ => return Action::None,
        }
        Action::Redraw
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

/// Every key, for the help view.
pub const KEYS: &[(&str, &str)] = &[
    ("Tab / Shift-Tab", "next / previous view"),
    (
        "1 … 7",
        "Overview, Semaphores, Shared memory, Queues, Processes, Events, Problems",
    ),
    ("↑ ↓  j k", "move the selection"),
    ("PgUp PgDn", "a page up / down"),
    (
        "Home End  g G",
        "first / last row (End: follow the event log)",
    ),
    (
        "Enter",
        "details of the selection; in details, go to the selected link",
    ),
    ("Esc", "back (from details, then clears the filter)"),
    ("/", "filter the view (Enter keeps it, Esc clears it)"),
    ("s  S", "sort by the next column / reverse the order"),
    ("→ ←  l h", "Semaphores: expand / collapse a set"),
    ("x", "Semaphores: expand / collapse every set"),
    ("f", "Events: follow the end of the log on / off"),
    ("a", "Processes: all processes / only those using IPC"),
    ("p", "pause the display (updates keep being collected)"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit"),
];

/// Replay keys (shown when replaying).
pub const REPLAY_KEYS: &[(&str, &str)] = &[
    ("Space  p", "pause / resume the replay"),
    (".", "one update forward (paused)"),
    ("[  ]", "10 s back / forward"),
    ("-  +", "half / double speed"),
    ("g", "go to a time (seconds or m:ss), Enter"),
];

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

    #[test]
    fn selection_follows_its_key_and_moves_by_index() {
        let mut l = ListState::default();
        l.resolve(&[10, 20, 30]);
        l.step(1);
        l.resolve(&[10, 20, 30]);
        assert_eq!((l.selected, l.key), (1, Some(20)));
        // Re-sorted: the selection follows 20.
        l.resolve(&[20, 30, 10]);
        assert_eq!((l.selected, l.key), (0, Some(20)));
        // Gone: the index stays, clamped.
        l.selected = 2;
        l.key = Some(99);
        l.resolve(&[1, 2]);
        assert_eq!((l.selected, l.key), (1, Some(2)));
        l.resolve(&[]);
        assert_eq!((l.selected, l.key), (0, None));
        // Scrolling keeps the selection visible.
        l.resolve(&(0..100).collect::<Vec<u64>>());
        l.selected = 50;
        l.scroll(10);
        assert_eq!(l.offset, 41);
        l.selected = 3;
        l.scroll(10);
        assert_eq!(l.offset, 3);
    }
}
