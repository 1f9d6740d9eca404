//! `<` / `>` move the sort to the next shown column, and `n` cycles the IPC namespaces
//! shown (the IPC NS column appears once there is more than one).
use ratatui::crossterm::event::KeyCode;

use super::{
    app::View,
    store::Store,
    tests::{app_on, base_snap, busy_store, info, key, proc_, screen, stamped},
};
use crate::{
    feed::{ProbeStatus, Update},
    fixtures::{sem_wait, MONO, NS},
};

/// The footer's sort hint, e.g. `sort:waits↓`.
fn sort_hint(s: &str) -> String {
    let foot = s.lines().last().unwrap_or_default();
    foot.split("sort:")
        .nth(1)
        .and_then(|x| x.split("  ").next())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn angle_brackets_move_the_sort_to_the_next_shown_column() {
    let mut app = app_on(View::Processes, busy_store());
    let s = screen(&mut app, 200, 60);
    assert_eq!(sort_hint(&s), "pid↑", "{s}");
    // At the left edge, `<` stays.
    key(&mut app, KeyCode::Char('<'));
    assert_eq!(sort_hint(&screen(&mut app, 200, 60)), "pid↑");
    // Every column sorts: PID, then COMM, S, WAITING ON, WAITING (column 4), left to right;
    // counts largest first.
    key(&mut app, KeyCode::Char('>'));
    assert_eq!(sort_hint(&screen(&mut app, 200, 60)), "comm↑");
    for _ in 0..3 {
        key(&mut app, KeyCode::Char('>'));
    }
    let s = screen(&mut app, 200, 60);
    assert_eq!(sort_hint(&s), "waiting↓", "{s}");
    assert!(s.contains("▼WAITING "), "the column is marked: {s}");
    key(&mut app, KeyCode::Char('>'));
    assert_eq!(sort_hint(&screen(&mut app, 200, 60)), "blocked↓");
    key(&mut app, KeyCode::Char('<'));
    assert_eq!(sort_hint(&screen(&mut app, 200, 60)), "waiting↓");
    // At 80 columns WAITING and CALLS are left out: from BLOCKED, `>` goes to SEGS, SETS,
    // QUEUES, then skips CALLS to FAILED, the last.
    screen(&mut app, 80, 24);
    key(&mut app, KeyCode::Char('>'));
    let s = screen(&mut app, 80, 24);
    assert_eq!(sort_hint(&s), "blocked↓", "WAITING is not shown: {s}");
    for want in ["segs↓", "sets↓", "queues↓", "failed↓", "failed↓"] {
        key(&mut app, KeyCode::Char('>'));
        let s = screen(&mut app, 80, 24);
        assert_eq!(sort_hint(&s), want, "{s}");
        assert!(!s.contains("CALLS") && s.contains("FAILED"), "{s}");
    }
}

const OTHER: u64 = NS + 7;

/// Two namespaces: a waiter in ours, another in a container's.
fn two_namespaces() -> Store {
    let mut snap = base_snap(MONO);
    let mut ours = proc_(3100, "ours", "ours --lock", 60);
    ours.waits = Some(vec![sem_wait(3100, 5, 0, -1)]);
    let mut theirs = proc_(3200, "theirs", "theirs --lock", 60);
    theirs.ipc_ns = Some(OTHER);
    snap.processes = vec![ours, theirs];
    let mut store = Store::new(
        info(),
        ProbeStatus::Attached("raw tracepoints".into()),
        Default::default(),
    );
    store.ingest(&[stamped(MONO, Update::Snapshot(Box::new(snap)))]);
    store
}

#[test]
fn n_cycles_the_namespaces_and_the_column_says_which() {
    let mut app = app_on(View::Processes, two_namespaces());
    key(&mut app, KeyCode::Char('a'));
    let s = screen(&mut app, 200, 60);
    assert!(
        s.contains("IPC NS"),
        "two namespaces: the column shows: {s}"
    );
    assert!(s.contains("3100 ours") && s.contains("3200 theirs"), "{s}");
    assert!(s.contains(&OTHER.to_string()), "{s}");
    // Ours only.
    key(&mut app, KeyCode::Char('n'));
    let s = screen(&mut app, 200, 60);
    assert!(s.contains("3100 ours") && !s.contains("3200 theirs"), "{s}");
    assert!(s.contains(&format!("IPC ns {NS} only (n)")), "{s}");
    // Theirs only.
    key(&mut app, KeyCode::Char('n'));
    let s = screen(&mut app, 200, 60);
    assert!(!s.contains("3100 ours") && s.contains("3200 theirs"), "{s}");
    // All again.
    key(&mut app, KeyCode::Char('n'));
    let s = screen(&mut app, 200, 60);
    assert!(
        s.contains("3100 ours") && s.contains("3200 theirs") && !s.contains("only (n)"),
        "{s}"
    );
    // One namespace: no column (the busy store's processes are all ours).
    let mut one = app_on(View::Processes, busy_store());
    assert!(!screen(&mut one, 200, 60).contains("IPC NS"));
}
