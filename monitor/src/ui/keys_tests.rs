//! The keys: the help lists every key the handler accepts, in every mode, and the editing,
//! paging and sorting keys do what the help says.
use ratatui::{
    backend::TestBackend,
    crossterm::event::{KeyCode, KeyEvent, KeyModifiers},
    Terminal,
};

use super::{
    app::{Action, App, Input, View},
    keys::{self, Binding},
    tests::busy_store,
    theme::Theme,
    views,
};
use crate::feed::Position;

/// Every key a person could press: printable characters with and without Ctrl, and the
/// named keys.
fn candidates() -> Vec<KeyEvent> {
    let mut v = Vec::new();
    for c in ' '..='~' {
        v.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        v.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
    }
    for code in [
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Backspace,
        KeyCode::Delete,
        KeyCode::Insert,
    ] {
        v.push(KeyEvent::new(code, KeyModifiers::NONE));
    }
    for n in 1..=12 {
        v.push(KeyEvent::new(KeyCode::F(n), KeyModifiers::NONE));
    }
    v
}

fn draw(app: &mut App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| views::draw(f, app)).unwrap();
    let b = term.backend().buffer();
    (0..h)
        .map(|y| (0..w).map(|x| b[(x, y)].symbol()).collect::<String>() + "\n")
        .collect()
}

/// An app in `view`, with a filter being typed, the help, or replaying.
fn app(view: View, mode: &str) -> App {
    app_on(busy_store(), view, mode, true)
}

fn app_on(mut store: super::store::Store, view: View, mode: &str, drawn: bool) -> App {
    if mode == "replay" {
        store.position = Some(Position {
            at_s: 1.0,
            total_s: Some(10.0),
            speed: 1.0,
            paused: false,
            damaged: None,
        });
    }
    let mut app = App::new(store, Theme::default());
    app.on_key(KeyEvent::new(
        KeyCode::Char(char::from(b'1' + view.index() as u8)),
        KeyModifiers::NONE,
    ));
    // A filter to clear, so Esc has something to do.
    app.views[view.index()].filter = "1".into();
    if drawn {
        draw(&mut app, 80, 24);
    }
    match mode {
        "help" => app.help = true,
        "typing" => app.input = Some(Input::Filter("ab cd".into())),
        _ => {}
    }
    app
}

#[test]
fn the_help_lists_every_key_the_handler_accepts() {
    let mut shown = app(View::Overview, "normal");
    shown.help = true;
    // Tall enough for the whole help.
    let help = draw(&mut shown, 200, 70);
    let in_help = |b: &Binding| help.contains(b.label) && help.contains(b.help);
    for (_, table) in keys::SECTIONS {
        for b in *table {
            assert!(in_help(b), "{} is not in the help:\n{help}", b.label);
        }
    }
    let store = busy_store();
    for mode in ["normal", "replay", "help", "typing"] {
        for view in View::ALL {
            for k in candidates() {
                let mut a = app_on(store.clone(), view, mode, false);
                if a.on_key(k) == Action::None {
                    continue;
                }
                let tables: &[&[Binding]] = match mode {
                    "normal" => &[keys::MAIN],
                    "replay" => &[keys::REPLAY, keys::MAIN],
                    "help" => &[keys::HELP],
                    _ => &[keys::TYPING],
                };
                assert!(
                    tables.iter().any(|t| keys::find(t, &k, view).is_some()),
                    "{mode} {view:?}: {k:?} does something but the help does not list it"
                );
            }
        }
    }
}

#[test]
fn f1_helps_f10_quits_and_the_help_scrolls() {
    let mut a = app(View::Overview, "normal");
    let k = |c| KeyEvent::new(c, KeyModifiers::NONE);
    assert_eq!(a.on_key(k(KeyCode::F(1))), Action::Redraw);
    assert!(a.help);
    let top = draw(&mut a, 80, 24);
    a.on_key(k(KeyCode::PageDown));
    let next = draw(&mut a, 80, 24);
    assert_ne!(top, next, "PgDn scrolls the help");
    a.on_key(k(KeyCode::End));
    let end = draw(&mut a, 80, 24);
    assert!(end.contains("close this help"), "{end}");
    assert!(!top.contains("close this help"), "{top}");
    assert_eq!(a.on_key(k(KeyCode::F(10))), Action::Quit);
}

#[test]
fn filter_editing_keys() {
    let mut a = app(View::Processes, "typing");
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    a.on_key(ctrl('w'));
    assert_eq!(a.views[View::Processes.index()].filter, "ab ");
    a.on_key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
    assert_eq!(a.views[View::Processes.index()].filter, "ab");
    a.on_key(ctrl('u'));
    assert_eq!(a.views[View::Processes.index()].filter, "");
    assert!(a.input.is_some(), "still typing");
}

#[test]
fn the_filter_matches_the_ids_shown_and_says_when_nothing_matches() {
    let mut a = app(View::Processes, "normal");
    // 1202 waits on sem 65536: its id finds it on Processes.
    a.views[View::Processes.index()].filter = "65536".into();
    let s = draw(&mut a, 80, 24);
    assert!(s.contains("1202 pg-worker"), "{s}");
    a.views[View::Processes.index()].filter = "xyz".into();
    let s = draw(&mut a, 80, 24);
    assert!(s.contains("nothing matches /xyz"), "{s}");
    assert!(!s.contains("no process uses"), "{s}");
}

#[test]
fn sort_never_picks_a_hidden_column() {
    let mut a = app(View::Processes, "normal");
    a.views[View::Processes.index()].filter.clear();
    // At 80 columns Processes hides CALLS (column 9): `s` passes over it.
    let s = draw(&mut a, 80, 24);
    assert!(!s.contains("CALLS"), "{s}");
    for _ in 0..12 {
        a.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE));
        let s = draw(&mut a, 80, 24);
        assert!(!s.contains("sort:calls"), "{s}");
    }
}

/// A POSIX finding's entry leads to its object's detail (which names its processes).
#[test]
fn a_posix_findings_entry_leads_to_its_object() {
    let mut a = app(View::Problems, "normal");
    a.views[View::Problems.index()].filter.clear();
    let k = |c| KeyEvent::new(c, KeyModifiers::NONE);
    draw(&mut a, 80, 24);
    let mut seen = Vec::new();
    for _ in 0..12 {
        seen.push(a.enter());
        if matches!(a.enter(), Some(super::Target::Posix(_))) {
            break;
        }
        a.on_key(k(KeyCode::Down));
        draw(&mut a, 80, 24);
    }
    let Some(super::Target::Posix(id)) = a.enter() else {
        panic!("no POSIX entry among {seen:?}");
    };
    assert!(
        matches!(id, super::view::PosixId::Queue { .. }),
        "the stuck queue first: {id:?}"
    );
    a.on_key(k(KeyCode::Enter));
    let s = draw(&mut a, 80, 24);
    assert!(s.contains("POSIX queue /jobs"), "{s}");
    a.on_key(k(KeyCode::Esc));
    let s = draw(&mut a, 80, 24);
    assert!(a.screen.detail.is_none(), "{s}");
}

#[test]
fn a_deadlock_entry_leads_to_its_processes_and_sets_and_esc_comes_back() {
    let mut a = app(View::Problems, "normal");
    a.views[View::Problems.index()].filter.clear();
    let k = |c| KeyEvent::new(c, KeyModifiers::NONE);
    draw(&mut a, 80, 24);
    // The first entry, under the "Deadlocks" heading, is selected.
    assert_eq!(a.enter(), Some(super::Target::Deadlock(2301)));
    a.on_key(k(KeyCode::Down));
    draw(&mut a, 80, 24);
    assert_eq!(
        a.enter(),
        Some(super::Target::Deadlock(3600)),
        "the next: the robust mutexes' deadlock, the graph's like System V's"
    );
    a.on_key(k(KeyCode::Up));
    draw(&mut a, 80, 24);
    assert_eq!(a.enter(), Some(super::Target::Deadlock(2301)));
    a.on_key(k(KeyCode::Enter));
    let s = draw(&mut a, 80, 24);
    insta::assert_snapshot!("detail_deadlock_80x24", s);
    for want in [
        "> 2301 transfer",
        "> 2302 transfer",
        "> sem 65537",
        "> sem 65538",
    ] {
        assert!(s.contains(want), "{want}:\n{s}");
    }
    a.on_key(k(KeyCode::Enter));
    let s = draw(&mut a, 80, 24);
    assert!(s.contains("Process 2301"), "{s}");
    a.on_key(k(KeyCode::Esc));
    let s = draw(&mut a, 80, 24);
    assert!(s.contains(" Deadlock "), "{s}");
    a.on_key(k(KeyCode::Esc));
    let s = draw(&mut a, 80, 24);
    assert!(
        s.contains("Problems (8)") && a.screen.detail.is_none(),
        "{s}"
    );
}

fn click(a: &mut App, x: u16, y: u16) -> Action {
    use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    a.on_mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: x,
        row: y,
        modifiers: KeyModifiers::NONE,
    })
}

/// Where `text` is on the screen (column, row).
fn at(screen: &str, text: &str) -> (u16, u16) {
    screen
        .lines()
        .enumerate()
        .find_map(|(y, l)| {
            l.find(text)
                .map(|b| (l[..b].chars().count() as u16, y as u16))
        })
        .unwrap_or_else(|| panic!("{text} not on\n{screen}"))
}

#[test]
fn the_mouse_clicks_tabs_rows_and_column_titles_and_the_wheel_scrolls() {
    let mut a = app(View::Overview, "normal");
    a.views[View::Overview.index()].filter.clear();
    let s = draw(&mut a, 80, 24);
    let (x, y) = at(&s, "5 Proc");
    assert_eq!(click(&mut a, x + 2, y), Action::Redraw);
    assert_eq!(a.screen.view, View::Processes);
    a.views[View::Processes.index()].filter.clear();
    let s = draw(&mut a, 80, 24);
    // A row: selected; clicked again: opened.
    let (x, y) = at(&s, "2301 transfer");
    click(&mut a, x, y);
    draw(&mut a, 80, 24);
    assert_eq!(a.enter(), Some(super::Target::Proc(2301)));
    click(&mut a, x, y);
    let s = draw(&mut a, 80, 24);
    assert!(s.contains("Process 2301 (Esc: back)"), "{s}");
    a.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    // A column title sorts by it, largest first, and again reverses.
    let s = draw(&mut a, 80, 24);
    let (x, y) = at(&s, "BLOCKED");
    click(&mut a, x + 1, y);
    let s = draw(&mut a, 80, 24);
    assert!(s.contains("sort:blocked↓") && s.contains("▼BLOCKED"), "{s}");
    click(&mut a, x + 1, y);
    let s = draw(&mut a, 80, 24);
    assert!(s.contains("sort:blocked↑"), "{s}");
    // The wheel moves the selection (from the top).
    use ratatui::crossterm::event::{MouseEvent, MouseEventKind};
    a.on_key(KeyEvent::new(KeyCode::Home, KeyModifiers::NONE));
    draw(&mut a, 80, 24);
    let before = a.views[View::Processes.index()].list.selected;
    a.on_mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 10,
        row: 10,
        modifiers: KeyModifiers::NONE,
    });
    draw(&mut a, 80, 24);
    draw(&mut a, 80, 24);
    assert_eq!(a.views[View::Processes.index()].list.selected, before + 3);
}

#[test]
fn an_objects_history_shows_its_rate_and_wait_histogram_with_percentiles() {
    let mut a = app(View::Semaphores, "normal");
    a.views[View::Semaphores.index()].filter.clear();
    a.open(super::Target::Sem(super::ns_view_tests::oid(65536)));
    draw(&mut a, 80, 24);
    // The history is at the end of the details: End scrolls there.
    a.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE));
    let s = draw(&mut a, 80, 24);
    insta::assert_snapshot!("detail_sem_history_80x24", s);
    assert!(
        s.contains("p50 <2µs  p95 <2.0ms  p99 <2.0ms  max 3.9s"),
        "{s}"
    );
    assert!(s.contains("percentiles are bucket bounds"), "{s}");
    assert!(s.contains("calls/s     █  now 2769  max 2769"), "{s}");
    // A process's own wait histogram, from its account.
    a.open(super::Target::Proc(1202));
    draw(&mut a, 80, 24);
    a.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE));
    let s = draw(&mut a, 80, 24);
    assert!(
        s.contains("Time in blocking calls") && s.contains("p50 "),
        "{s}"
    );
}

#[test]
fn partly_blind_the_overview_says_what_it_cannot_see() {
    use crate::{
        feed::{ProbeStatus, Stamped, Update},
        fixtures::MONO,
        snapshot::{Snapshot, Unknown},
    };
    let mut store = super::store::Store::new(
        super::store::SessionInfo::default(),
        ProbeStatus::SnapshotOnly("not root".into()),
        Default::default(),
    );
    let snap = Snapshot {
        mono_ns: MONO,
        unix_ns: crate::fixtures::NOW as u64 * 1_000_000_000,
        unknowns: vec![Unknown {
            what: "blocked calls (/proc/PID/task/*/syscall) of 4 processes".into(),
            reason: "reading another user's /proc/PID files needs ptrace access (run as root)"
                .into(),
            pids: Vec::new(),
        }],
        ..Default::default()
    };
    store.ingest(&[Stamped {
        mono_ns: MONO,
        update: Update::Snapshot(Box::new(snap)),
    }]);
    let mut a = App::new(store, Theme::default());
    let s = draw(&mut a, 80, 24);
    assert!(!s.contains("nobody is blocked"), "{s}");
    assert!(
        s.contains("no blocked call seen, but the blocked calls"),
        "{s}"
    );
    assert!(s.contains("of 4 processes"), "{s}");
    assert!(s.contains("(+? unreadable)"), "{s}");
    insta::assert_snapshot!("overview_blind_80x24", s);
    // The Processes view too: not "no process uses System V IPC".
    a.on_key(KeyEvent::new(KeyCode::Char('5'), KeyModifiers::NONE));
    let s = draw(&mut a, 80, 24);
    assert!(!s.contains("no process uses"), "{s}");
    assert!(
        s.contains("no process seen using System V IPC, but the blocked calls"),
        "{s}"
    );
}

#[test]
fn overview_at_120x40_cuts_nothing_mid_word() {
    let mut a = app(View::Overview, "normal");
    a.views[View::Overview.index()].filter.clear();
    let s = draw(&mut a, 120, 40);
    insta::assert_snapshot!("overview_120x40", s);
    // The deadlock's cycle: whole, or ending in an ellipsis.
    let line = s.lines().find(|l| l.contains("DEADLOCK 2301")).unwrap();
    assert!(line.contains("→ 2301") || line.contains('…'), "{line}");
}
