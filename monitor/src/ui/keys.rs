//! Every key, defined once: what it does, where, and its help text. [`App::on_key`] looks
//! keys up here and the help overlay is drawn from here, so the help cannot miss a key.
//!
//! [`App::on_key`]: super::app::App::on_key
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::view::View;

/// What a key does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    Quit,
    NextView,
    PrevView,
    /// `1`…`7`: the view of that number.
    ToView,
    Help,
    Pause,
    Filter,
    Sort,
    /// `<` `>`: sort by the shown column left / right of the sorted one.
    SortMove,
    Reverse,
    /// `n`: show one IPC namespace, the next in turn, or all.
    Namespace,
    Back,
    Open,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Follow,
    All,
    /// F5: the processes as a tree of their objects.
    Tree,
    /// F9: htop's kill; ipctop only says it never kills.
    NoKill,
    /// `N`: the namespace picker.
    Picker,
    Expand,
    Collapse,
    ExpandAll,
    // Replays.
    ReplayPause,
    Step,
    SeekBack,
    SeekForward,
    Slower,
    Faster,
    GoTo,
    // Typing (the filter, a replay time).
    Type,
    Erase,
    EraseWord,
    EraseAll,
    Keep,
    Cancel,
    // The help overlay.
    CloseHelp,
    // The namespace picker.
    Choose,
    ClosePicker,
}

/// A key: its code and whether Ctrl is held (Shift is part of the character).
pub type Key = (KeyCode, bool);

const fn c(ch: char) -> Key {
    (KeyCode::Char(ch), false)
}

const fn ctrl(ch: char) -> Key {
    (KeyCode::Char(ch), true)
}

const fn k(code: KeyCode) -> Key {
    (code, false)
}

/// One line of the help: the keys, how the help writes them, what they do, and the one
/// view they work in (`None`: everywhere).
pub struct Binding {
    pub keys: &'static [Key],
    pub label: &'static str,
    pub help: &'static str,
    pub cmd: Cmd,
    pub only: Option<View>,
}

const fn b(keys: &'static [Key], label: &'static str, help: &'static str, cmd: Cmd) -> Binding {
    Binding {
        keys,
        label,
        help,
        cmd,
        only: None,
    }
}

const fn on(
    view: View,
    keys: &'static [Key],
    label: &'static str,
    help: &'static str,
    cmd: Cmd,
) -> Binding {
    Binding {
        keys,
        label,
        help,
        cmd,
        only: Some(view),
    }
}

/// Paging, in the views and in this help.
const PAGE_UP: Binding = b(&[k(KeyCode::PageUp)], "PgUp", "a page up", Cmd::PageUp);
const PAGE_DOWN: Binding = b(
    &[k(KeyCode::PageDown)],
    "PgDn",
    "a page down",
    Cmd::PageDown,
);

/// The dashboard's keys.
pub const MAIN: &[Binding] = &[
    b(&[k(KeyCode::Tab)], "Tab", "next view", Cmd::NextView),
    b(
        &[k(KeyCode::BackTab)],
        "Shift-Tab",
        "previous view",
        Cmd::PrevView,
    ),
    b(
        &[
            c('1'),
            c('2'),
            c('3'),
            c('4'),
            c('5'),
            c('6'),
            c('7'),
            c('8'),
        ],
        "1 … 8",
        "Overview, Semaphores, Shared memory, Queues, Processes, Events, Problems, POSIX",
        Cmd::ToView,
    ),
    b(
        &[k(KeyCode::Up), c('k')],
        "↑  k",
        "move the selection up (details: scroll)",
        Cmd::Up,
    ),
    b(
        &[k(KeyCode::Down), c('j')],
        "↓  j",
        "move the selection down (details: scroll)",
        Cmd::Down,
    ),
    PAGE_UP,
    PAGE_DOWN,
    b(
        &[k(KeyCode::Home), c('g')],
        "Home  g",
        "first row",
        Cmd::Home,
    ),
    b(
        &[k(KeyCode::End), c('G')],
        "End  G",
        "last row (Events: follow the log)",
        Cmd::End,
    ),
    b(
        &[k(KeyCode::Enter)],
        "Enter",
        "details of the selection; in details, go to the selected link",
        Cmd::Open,
    ),
    b(
        &[k(KeyCode::Esc)],
        "Esc",
        "back (from details, then clears the filter)",
        Cmd::Back,
    ),
    b(
        &[c('/'), k(KeyCode::F(3)), k(KeyCode::F(4))],
        "/  F3  F4",
        "filter: rows with a column whose text contains it",
        Cmd::Filter,
    ),
    b(
        &[c('s'), k(KeyCode::F(6))],
        "s  F6",
        "sort by the next shown column (times and counts: largest first)",
        Cmd::Sort,
    ),
    b(
        &[c('<'), c('>')],
        "<  >",
        "sort by the shown column left / right of the sorted one",
        Cmd::SortMove,
    ),
    b(&[c('S')], "S", "reverse the order", Cmd::Reverse),
    b(
        &[c('n')],
        "n",
        "IPC namespaces: show the next one only, then all again",
        Cmd::Namespace,
    ),
    b(
        &[c('N')],
        "N",
        "IPC namespaces and containers: pick the one to show",
        Cmd::Picker,
    ),
    b(
        &[k(KeyCode::F(5))],
        "F5",
        "Processes as a tree: each with its objects below it (again: a list)",
        Cmd::Tree,
    ),
    on(
        View::Semaphores,
        &[k(KeyCode::Right), c('l')],
        "→  l",
        "Semaphores: expand a set",
        Cmd::Expand,
    ),
    on(
        View::Semaphores,
        &[k(KeyCode::Left), c('h')],
        "←  h",
        "Semaphores: collapse a set",
        Cmd::Collapse,
    ),
    on(
        View::Semaphores,
        &[c('x')],
        "x",
        "Semaphores: expand / collapse every set",
        Cmd::ExpandAll,
    ),
    on(
        View::Events,
        &[c('f')],
        "f",
        "Events: follow the end of the log on / off",
        Cmd::Follow,
    ),
    on(
        View::Processes,
        &[c('a')],
        "a",
        "Processes: all processes / only those using IPC",
        Cmd::All,
    ),
    b(
        &[c('p')],
        "p",
        "pause the display (updates keep being collected)",
        Cmd::Pause,
    ),
    b(&[c('?'), k(KeyCode::F(1))], "?  F1", "this help", Cmd::Help),
    b(
        &[k(KeyCode::F(9))],
        "F9",
        "nothing: ipctop only observes, it never kills or changes anything",
        Cmd::NoKill,
    ),
    b(
        &[c('q'), k(KeyCode::F(10)), ctrl('c'), ctrl('d')],
        "q  F10  Ctrl-C",
        "quit",
        Cmd::Quit,
    ),
];

/// Replay keys (they win over the others while replaying).
pub const REPLAY: &[Binding] = &[
    b(
        &[c(' '), c('p')],
        "Space  p",
        "pause / resume the replay",
        Cmd::ReplayPause,
    ),
    b(&[c('.')], ".", "one update forward (paused)", Cmd::Step),
    b(&[c('[')], "[", "10 s back", Cmd::SeekBack),
    b(&[c(']')], "]", "10 s forward", Cmd::SeekForward),
    b(&[c('-')], "-", "half speed", Cmd::Slower),
    b(&[c('+'), c('=')], "+", "double speed", Cmd::Faster),
    b(
        &[c('g')],
        "g",
        "go to a time (seconds or m:ss), Enter",
        Cmd::GoTo,
    ),
];

/// Keys while typing a filter or a time.
pub const TYPING: &[Binding] = &[
    b(&[], "letters", "typed into the filter", Cmd::Type),
    b(
        &[k(KeyCode::Backspace)],
        "Backspace",
        "erase a character",
        Cmd::Erase,
    ),
    b(&[ctrl('w')], "Ctrl-W", "erase a word", Cmd::EraseWord),
    b(&[ctrl('u')], "Ctrl-U", "erase everything", Cmd::EraseAll),
    b(&[k(KeyCode::Enter)], "Enter", "keep the filter", Cmd::Keep),
    b(&[k(KeyCode::Esc)], "Esc", "clear the filter", Cmd::Cancel),
    b(&[ctrl('c'), ctrl('d')], "Ctrl-C", "quit", Cmd::Quit),
];

/// Keys while this help is shown.
pub const HELP: &[Binding] = &[
    b(
        &[k(KeyCode::Up), c('k')],
        "↑  k",
        "scroll this help up",
        Cmd::Up,
    ),
    b(
        &[k(KeyCode::Down), c('j')],
        "↓  j",
        "scroll this help down",
        Cmd::Down,
    ),
    PAGE_UP,
    PAGE_DOWN,
    b(&[k(KeyCode::Home)], "Home", "top", Cmd::Home),
    b(&[k(KeyCode::End)], "End", "bottom", Cmd::End),
    b(
        &[k(KeyCode::Esc), c('?'), k(KeyCode::F(1)), k(KeyCode::Enter)],
        "Esc  ?  F1",
        "close this help",
        Cmd::CloseHelp,
    ),
    b(
        &[c('q'), k(KeyCode::F(10)), ctrl('c'), ctrl('d')],
        "q  F10",
        "quit",
        Cmd::Quit,
    ),
];

/// Keys while the namespace picker is shown.
pub const PICKER: &[Binding] = &[
    b(
        &[k(KeyCode::Up), c('k')],
        "↑  k",
        "the namespace above",
        Cmd::Up,
    ),
    b(
        &[k(KeyCode::Down), c('j')],
        "↓  j",
        "the namespace below",
        Cmd::Down,
    ),
    b(&[k(KeyCode::Enter)], "Enter", "show that one", Cmd::Choose),
    b(
        &[k(KeyCode::Esc), c('N')],
        "Esc  N",
        "close the picker",
        Cmd::ClosePicker,
    ),
    b(
        &[c('q'), k(KeyCode::F(10)), ctrl('c'), ctrl('d')],
        "q  F10",
        "quit",
        Cmd::Quit,
    ),
];

/// The help's sections, in order.
pub const SECTIONS: &[(&str, &[Binding])] = &[
    ("", MAIN),
    ("While typing a filter (/):", TYPING),
    ("Replays (ipctop replay):", REPLAY),
    ("In the namespace picker (N):", PICKER),
    ("In this help:", HELP),
];

/// The binding of `key` in `table` that works in `view`.
pub fn find(table: &'static [Binding], key: &KeyEvent, view: View) -> Option<&'static Binding> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    table.iter().find(|b| {
        b.only.is_none_or(|v| v == view)
            && (b.keys.contains(&(key.code, ctrl))
                || (b.cmd == Cmd::Type && !ctrl && matches!(key.code, KeyCode::Char(_))))
    })
}
