//! The keys at work: switching views, selecting, opening details and coming back, pausing
//! while updates keep coming, and a replay's controls and position.
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{
    app::{Action, App, Target, View},
    ns_view_tests::oid,
    tests::{app_on, busy_store, ev, key, screen, stamped},
    theme::Theme,
};
use crate::{
    feed::{Control, Position, ProbeStatus, Source, Stamped, Update},
    fixtures::{semop, MONO, S},
};

#[test]
fn keys_switch_views_select_open_and_come_back() {
    let mut app = app_on(View::Overview, busy_store());
    assert_eq!(key(&mut app, KeyCode::Tab), Action::Redraw);
    assert_eq!(app.screen.view, View::Semaphores);
    assert_eq!(key(&mut app, KeyCode::BackTab), Action::Redraw);
    assert_eq!(app.screen.view, View::Overview);
    key(&mut app, KeyCode::Char('7'));
    assert_eq!(app.screen.view, View::Problems);
    for _ in 0..View::ALL.len() {
        key(&mut app, KeyCode::Tab);
    }
    assert_eq!(app.screen.view, View::Problems, "Tab cycles");

    // Processes: select 1202, open it, jump to its set, and back.
    key(&mut app, KeyCode::Char('5'));
    screen(&mut app, 80, 24);
    key(&mut app, KeyCode::Char('/'));
    for c in "1202".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("filter:1202"), "{s}");
    assert_eq!(app.enter(), Some(Target::Proc(1202)));
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.screen.detail, Some(Target::Proc(1202)));
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("sem 65536 #1"), "{s}");
    assert_eq!(app.links().first(), Some(&Target::Sem(oid(65536))));
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        (app.screen.view, app.screen.detail),
        (View::Semaphores, Some(Target::Sem(oid(65536))))
    );
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("Semaphore set 65536"), "{s}");
    key(&mut app, KeyCode::Esc);
    assert_eq!(
        app.screen.detail,
        Some(Target::Proc(1202)),
        "back to the process"
    );
    key(&mut app, KeyCode::Esc);
    assert_eq!(
        (app.screen.view, app.screen.detail),
        (View::Processes, None)
    );
    key(&mut app, KeyCode::Esc);
    assert!(
        app.views[View::Processes.index()].filter.is_empty(),
        "Esc clears the filter"
    );

    // Selection moves and sticks to its row; sort cycles and reverses.
    key(&mut app, KeyCode::Char('3'));
    screen(&mut app, 80, 24);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char('j'));
    screen(&mut app, 80, 24);
    assert_eq!(app.enter(), Some(Target::Shm(oid(32770))));
    key(&mut app, KeyCode::Char('k'));
    screen(&mut app, 80, 24);
    assert_eq!(app.enter(), Some(Target::Shm(oid(32769))));
    // `s`: sizes start largest first, the column marked.
    key(&mut app, KeyCode::Char('s'));
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("sort:size↓"), "{s}");
    assert!(s.contains("▼SIZE"), "{s}");
    assert_eq!(
        app.enter(),
        Some(Target::Shm(oid(32769))),
        "the selection follows its row"
    );
    key(&mut app, KeyCode::End);
    screen(&mut app, 80, 24);
    assert_eq!(
        app.enter(),
        Some(Target::Shm(oid(32770))),
        "the smallest last"
    );

    // Semaphores expand and collapse.
    key(&mut app, KeyCode::Char('2'));
    screen(&mut app, 80, 24);
    key(&mut app, KeyCode::Right);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("├ #0") && s.contains("└ #3"), "{s}");
    key(&mut app, KeyCode::Left);
    let s = screen(&mut app, 80, 24);
    assert!(!s.contains("├ #0"), "{s}");

    // Help opens and closes; p pauses the display; q and Ctrl-C quit.
    key(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    key(&mut app, KeyCode::Esc);
    assert!(!app.help);
    key(&mut app, KeyCode::Char('p'));
    assert!(app.paused());
    key(&mut app, KeyCode::Char('p'));
    assert!(!app.paused());
    assert_eq!(key(&mut app, KeyCode::Char('q')), Action::Quit);
    assert_eq!(
        app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Action::Quit
    );
}

#[test]
fn pause_freezes_the_display_while_updates_keep_coming() {
    let mut app = app_on(View::Events, busy_store());
    let before = app.store.logged;
    key(&mut app, KeyCode::Char('p'));
    let t = MONO + 60 * S;
    app.store.ingest(&[stamped(
        t,
        Update::Events(vec![ev(
            1201,
            "pg-worker",
            t,
            Some(t + 1000),
            semop(65536, 2, -1),
            Some(0),
        )]),
    )]);
    assert_eq!(app.store.logged, before + 1);
    let s = screen(&mut app, 120, 24);
    assert!(s.contains("PAUSED"), "{s}");
    assert!(!s.contains("semid=65536, [{2,-1"), "{s}");
    key(&mut app, KeyCode::Char('p'));
    let s = screen(&mut app, 120, 24);
    assert!(s.contains("semid=65536, [{2,-1"), "{s}");
}

/// A replay-like source, to check the controls and the position.
struct FakeReplay {
    pos: Position,
    got: Vec<Control>,
}

impl Source for FakeReplay {
    fn drain(&mut self) -> Vec<Stamped> {
        Vec::new()
    }
    fn probe_status(&self) -> ProbeStatus {
        ProbeStatus::Replay
    }
    fn control(&mut self, c: Control) {
        self.got.push(c);
    }
    fn position(&self) -> Option<Position> {
        Some(self.pos.clone())
    }
}

#[test]
fn replay_keys_map_to_controls_and_the_position_shows() {
    let mut src = FakeReplay {
        pos: Position {
            at_s: 75.0,
            total_s: Some(600.0),
            speed: 2.0,
            paused: true,
            damaged: None,
        },
        got: Vec::new(),
    };
    let mut store = busy_store();
    store.probe = src.probe_status();
    store.position = src.position();
    let mut app = App::new(store, Theme::default());
    for c in [' ', '.', '[', ']', '-', '+'] {
        if let Action::Control(c) = key(&mut app, KeyCode::Char(c)) {
            src.control(c);
        }
    }
    key(&mut app, KeyCode::Char('g'));
    for c in "1:30".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    if let Action::Control(c) = key(&mut app, KeyCode::Enter) {
        src.control(c);
    }
    assert_eq!(
        src.got,
        [
            Control::TogglePause,
            Control::Step,
            Control::Seek(-10.0),
            Control::Seek(10.0),
            Control::Speed(0.5),
            Control::Speed(2.0),
            Control::SeekTo(90.0),
        ]
    );
    let s = screen(&mut app, 100, 24);
    assert!(
        s.contains("replay 0:01:15/0:10:00 x2") && s.contains("PAUSED"),
        "{s}"
    );
}
