//! The Problems view and the header's alerts: a proven deadlock drawn with its threads, and
//! what the header says of losses and of running on snapshots alone.
use ratatui::style::Color;

use super::{
    tests::{app_on, busy_store, render, screen, stamped, text},
    view::View,
    App,
};
use crate::{
    feed::{KernelSample, ProbeStatus, Update},
    fixtures::{MONO, S},
    ui::theme::Theme,
};

#[test]
fn deadlock_is_drawn_as_a_cycle() {
    let mut app = app_on(View::Problems, busy_store());
    let s = screen(&mut app, 120, 40);
    assert!(
        s.contains("2301 transfer → sem 65538:0 → 2302 | 2302 transfer → sem 65537:0 → 2301"),
        "{s}"
    );
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("DEADLOCK"), "{s}");
    // The header alerts whatever the view.
    assert!(s.lines().nth(1).unwrap().contains("2 DEADLOCKS"), "{s}");
    // System V's and the robust mutexes' (one wait-for graph) counted together, each under
    // "Deadlocks", each step with what it waits on.
    let s = screen(&mut app, 160, 48);
    assert!(s.contains("Deadlocks (2)"), "{s}");
    assert!(
        s.contains(
            "3600 w3600 → mutex shared anonymous memory (inode 9)+0x100 → 3601 | 3601 w3601"
        ),
        "{s}"
    );
    assert!(s.contains("STUCK queue /jobs: 3200 w3200 blocked"), "{s}");
    assert!(s.contains("/dev/shm/psm_abc unused since"), "{s}");
}

#[test]
fn dropped_events_are_red_and_snapshot_only_is_said() {
    let mut store = busy_store();
    let mut k = KernelSample::default();
    k.stats.dropped = 7;
    store.ingest(&[stamped(MONO + 40 * S, Update::Kernel(Box::new(k)))]);
    let mut app = App::new(store, Theme::default());
    let t = render(&mut app, 120, 24);
    let s = text(&t);
    let line = s.lines().next().unwrap();
    let x = line.find("dropped 7").expect(line) as u16;
    let x = line[..x as usize].chars().count() as u16;
    assert_eq!(t.backend().buffer()[(x, 0)].fg, Color::Red);

    let mut store = busy_store();
    store.probe = ProbeStatus::SnapshotOnly("no permission to load BPF (run as root)".into());
    let mut app = App::new(store, Theme::default());
    let s = screen(&mut app, 120, 24);
    assert_eq!(s.matches("SNAPSHOTS ONLY").count(), 1, "{s}");
}
