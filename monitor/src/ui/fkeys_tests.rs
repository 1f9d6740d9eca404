//! htop's keys where they map (F3/F4 filter, F5 a tree of processes and their objects, F6
//! sort, F9 never kills), the namespace picker (`N`), and where in a long list the selection
//! is; the recording indicator.
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{
    app::{Action, Input, Target, View},
    ns_view_tests::oid,
    tests::{app_on, busy_store, key, screen},
};
use crate::model::Scope;

fn f(n: u8) -> KeyCode {
    KeyCode::F(n)
}

#[test]
fn f3_and_f4_filter_f6_sorts_and_f9_kills_nothing() {
    let mut app = app_on(View::Shm, busy_store());
    screen(&mut app, 80, 24);
    for n in [3, 4] {
        key(&mut app, f(n));
        assert_eq!(app.input, Some(Input::Filter(String::new())), "F{n}");
        key(&mut app, KeyCode::Esc);
        assert!(app.input.is_none());
    }
    key(&mut app, f(6));
    let s = screen(&mut app, 80, 24);
    // KEY is not shown at 80 columns: the next one shown.
    assert!(s.contains("sort:size↓"), "F6 sorts by the next column: {s}");
    let before = (app.screen, app.store.generation);
    assert_eq!(key(&mut app, f(9)), Action::Redraw);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("ipctop only observes"), "{s}");
    assert_eq!(
        (app.screen, app.store.generation),
        before,
        "F9 changes nothing"
    );
    // The word goes with the next key.
    key(&mut app, KeyCode::Down);
    assert!(!screen(&mut app, 80, 24).contains("only observes"));
}

#[test]
fn f5_shows_each_process_with_its_objects_and_enter_goes_to_one() {
    let mut app = app_on(View::Overview, busy_store());
    key(&mut app, f(5));
    assert_eq!(app.screen.view, View::Processes);
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("and their objects"), "{s}");
    // 1202 waits on set 65536, and uses it; 1200 has two segments attached.
    let lines: Vec<&str> = s.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("1202 pg-worker"))
        .unwrap();
    assert!(
        lines[at + 1].contains("sem 65536 #1") && lines[at + 1].contains("waits"),
        "{s}"
    );
    assert!(s.contains("shm 32768") && s.contains("attached"), "{s}");
    // The object's row opens the object; a filter keeps the objects that match, with their
    // process.
    key(&mut app, KeyCode::Char('/'));
    for c in "32769".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    let s = screen(&mut app, 120, 40);
    assert!(
        s.contains("1200 postgres") && !s.contains("shm 32768"),
        "{s}"
    );
    key(&mut app, KeyCode::Down);
    screen(&mut app, 120, 40);
    assert_eq!(app.enter(), Some(Target::Shm(oid(32769))));
    key(&mut app, f(5));
    assert!(!screen(&mut app, 120, 40).contains("and their objects"));
}

#[test]
fn n_upper_picks_a_namespace_and_all_again() {
    let mut app = app_on(View::Semaphores, super::ns_view_tests::two_sets());
    key(&mut app, KeyCode::Char('N'));
    let s = screen(&mut app, 120, 30);
    assert!(s.contains("Show which IPC namespace?"), "{s}");
    assert!(
        s.contains("* every IPC namespace (2 known)"),
        "the current one is marked: {s}"
    );
    assert!(s.contains("docker:3f4e5a6b7c8d"), "{s}");
    // The container's.
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    assert!(app.picker.is_none());
    assert_eq!(
        app.store.model.scope(),
        &Scope::Ns(super::ns_view_tests::NS2)
    );
    let s = screen(&mut app, 120, 30);
    assert!(s.contains("docker:3f4e5a6b7c8d only"), "{s}");
    // Esc closes it without a change; Up then Enter: all again.
    key(&mut app, KeyCode::Char('N'));
    key(&mut app, KeyCode::Esc);
    assert_eq!(
        app.store.model.scope(),
        &Scope::Ns(super::ns_view_tests::NS2)
    );
    key(&mut app, KeyCode::Char('N'));
    for _ in 0..3 {
        key(&mut app, KeyCode::Up);
    }
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.store.model.scope(), &Scope::All);
    let q = app.on_key(KeyEvent::new(KeyCode::Char('N'), KeyModifiers::NONE));
    assert_eq!(q, Action::Redraw);
    assert_eq!(key(&mut app, KeyCode::Char('q')), Action::Quit);
}

#[test]
fn a_long_list_says_where_the_selection_is() {
    let mut app = app_on(View::Events, busy_store());
    let s = screen(&mut app, 80, 24);
    // Following the log: the last of those kept (the title says how many).
    let kept: usize = s
        .split(" kept")
        .next()
        .and_then(|h| h.rsplit(" of ").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count kept in the title: {s}"));
    assert!(kept > 20, "{s}");
    assert!(s.contains(&format!(" {kept}/{kept} ")), "{s}");
    key(&mut app, KeyCode::Home);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains(&format!(" 1/{kept} ")), "{s}");
    // A list that fits says nothing.
    let mut app = app_on(View::Shm, busy_store());
    let s = screen(&mut app, 80, 24);
    assert!(!s.contains("/4 "), "{s}");
}

#[test]
fn a_recorded_session_says_so_in_the_header() {
    let mut store = busy_store();
    store.recording = Some("/var/tmp/run.ipctop.zst".into());
    let mut app = app_on(View::Overview, store);
    let s = screen(&mut app, 160, 48);
    assert!(
        s.lines()
            .next()
            .unwrap()
            .contains("REC /var/tmp/run.ipctop.zst"),
        "{s}"
    );
    // At 80 columns the short form.
    let s = screen(&mut app, 80, 24);
    assert!(s.lines().next().unwrap().contains("REC"), "{s}");
    let mut app = app_on(View::Overview, busy_store());
    assert!(!screen(&mut app, 160, 48).contains("REC"));
}
