//! Two IPC namespaces, each with its own semaphore set 0: every row, detail (Enter), rate and
//! history shows its own namespace's, never the other's; `n` moves the model's scope, so the
//! rows, the header's counts and the Problems view agree.
use ratatui::crossterm::event::KeyCode;

use super::{
    app::{App, Target, View},
    store::Store,
    tests::{app_on, base_snap, ev, info, key, proc_, screen, sem, stamped},
};
use crate::{
    event::Event,
    feed::{ProbeStatus, Stamped, Update},
    fixtures::{sem_wait, semop, MONO, NS, S},
    model::{ObjId, ObjKind, Scope},
    snapshot::namespaces::NsObjects,
};

pub(super) const NS2: u64 = NS + 7;

/// An object of the fixtures' (home) namespace, for the other suites.
pub(super) fn oid(id: i32) -> ObjId {
    ObjId { ns: NS, id }
}

const HOST_SET: ObjId = ObjId { ns: NS, id: 0 };
const BOX_SET: ObjId = ObjId { ns: NS2, id: 0 };

/// A snapshot at `mono`: set 0 of the host (key 0x11, operated on) and set 0 of a container
/// (key 0x22, never operated on, pid 20 waiting on it).
fn snap(mono: u64) -> Stamped {
    let mut s = base_snap(mono);
    s.sem.push(sem(0, 0x11, &[(1, 0, 10)], Some(5)));
    let mut boxed = proc_(20, "boxed", "boxed --wait", 60);
    boxed.ipc_ns = Some(NS2);
    boxed.waits = Some(vec![sem_wait(20, 0, 0, -1)]);
    s.processes = vec![proc_(10, "hostie", "hostie --spin", 60), boxed];
    s.others.push(NsObjects {
        ipc_ns: NS2,
        via_pid: Some(20),
        shm: Vec::new(),
        sem: vec![sem(0, 0x22, &[(0, 1, 0)], None)],
        msg: Vec::new(),
        limits: s.limits.clone(),
        problems: Vec::new(),
    });
    s.ns_labels = vec![(NS, "host".into()), (NS2, "docker:3f4e5a6b7c8d".into())];
    stamped(mono, Update::Snapshot(Box::new(s)))
}

/// A finished semop on set 0 of namespace `ns`, as the probe stamps it.
fn call(pid: u32, comm: &str, ns: u64, at: u64) -> Event {
    let e = ev(pid, comm, at, Some(at + 1000), semop(0, 0, 1), Some(0));
    Event {
        ipc_ns: Some(ns),
        ..e
    }
}

/// 25 calls a second on the host's set 0 and 2 on the container's, for 3 s between
/// snapshots a second apart.
pub(super) fn two_sets() -> Store {
    two_sets_0()
}

fn two_sets_0() -> Store {
    let mut store = Store::new(
        info(),
        ProbeStatus::Attached("raw tracepoints".into()),
        Default::default(),
    );
    for sec in 0..3 {
        let t0 = MONO + sec * S;
        let mut evs = Vec::new();
        for i in 0..25 {
            evs.push(call(10, "hostie", NS, t0 + 1 + i * S / 25));
        }
        for i in 0..2 {
            evs.push(call(21, "boxed-op", NS2, t0 + 1 + i * S / 2));
        }
        store.ingest(&[snap(t0), stamped(t0 + S - 1, Update::Events(evs))]);
    }
    store.ingest(&[snap(MONO + 3 * S)]);
    store
}

/// The screen's line that starts (after the border) with `start`.
fn row<'a>(s: &'a str, start: &str) -> &'a str {
    s.lines()
        .find(|l| l.trim_start_matches(['│', ' ']).starts_with(start))
        .unwrap_or_else(|| panic!("no row {start:?} in {s}"))
}

#[test]
fn each_set_0_shows_its_own_calls_rate_and_waiter() {
    let store = two_sets_0();
    let m = &store.model;
    let (host, boxed) = (
        m.object_account_at(ObjKind::Sem, HOST_SET).unwrap().clone(),
        m.object_account_at(ObjKind::Sem, BOX_SET).unwrap().clone(),
    );
    assert_eq!((host.calls, boxed.calls), (75, 6));
    assert!(host.rate() > 5.0 * boxed.rate() && boxed.rate() > 0.0);
    let mut app = app_on(View::Semaphores, store);
    let s = screen(&mut app, 150, 40);
    assert!(
        s.contains("IPC NS"),
        "two namespaces: the column shows: {s}"
    );
    // Each row its own namespace's figures: the waiter and the rate.
    let (h, b) = (
        row(&s, "▸ 0 "),
        s.lines().filter(|l| l.contains("▸ 0 ")).nth(1),
    );
    let b = b.unwrap_or_else(|| panic!("two sets 0: {s}"));
    assert!(h.contains("host") && !h.contains("docker"), "{h}");
    assert!(b.contains("docker:3f4e5a6b7c8d"), "{b}");
    assert!(
        b.contains(" 20 ") && !h.contains(" 20 "),
        "the waiter is the container's: {s}"
    );
    assert!(h.contains(&super::fmt::num(host.rate())), "{h}");
    assert!(b.contains(&super::fmt::num(boxed.rate())), "{b}");
    insta::assert_snapshot!("ns_two_sets_0_150x40", s);

    // Enter on each row opens its own set: its key, calls and waiter.
    let mut d = String::new();
    for (i, (set, label, k, calls, waiter)) in [
        (HOST_SET, "host", 0x11, 75, false),
        (BOX_SET, "docker:3f4e5a6b7c8d", 0x22, 6, true),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            key(&mut app, KeyCode::Esc);
            key(&mut app, KeyCode::Down);
            screen(&mut app, 150, 40);
        }
        assert_eq!(app.enter(), Some(Target::Sem(set)));
        key(&mut app, KeyCode::Enter);
        d = screen(&mut app, 100, 40);
        assert!(d.contains(&format!("Semaphore set 0 ({label})")), "{d}");
        assert!(d.contains(&format!("key 0x{k:08x}")), "{d}");
        assert!(d.contains(&format!(" {calls} calls")), "{d}");
        assert_eq!(d.contains("20 boxed"), waiter, "the waiter: {d}");
    }
    insta::assert_snapshot!("ns_detail_container_set_0_100x40", d);
}

#[test]
fn the_namespace_column_stays_on_a_small_terminal_while_several_are_shown() {
    // At 80x24 the lower-priority columns go first: the two sets 0 stay told apart.
    let mut app = app_on(View::Semaphores, two_sets_0());
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("IPC NS"), "{s}");
    let rows: Vec<&str> = s.lines().filter(|l| l.contains("▸ 0 ")).collect();
    assert_eq!(rows.len(), 2, "{s}");
    assert!(rows.iter().any(|r| r.contains("host")), "{s}");
    assert!(
        rows.iter().any(|r| r.contains("docker:3f4e5a6b7c8d")),
        "{s}"
    );
    insta::assert_snapshot!("ns_two_sets_0_80x24", s);
    // Each view that lists rows of several namespaces keeps it too.
    for v in [View::Overview, View::Processes] {
        let mut app = app_on(v, two_sets_0());
        let s = screen(&mut app, 80, 24);
        assert!(s.contains("IPC NS"), "{v:?}: {s}");
    }
    // And each problem names its namespace (the container's set used before init).
    let mut app = app_on(View::Problems, two_sets_0());
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("in docker:3f4e5a6b7c8d"), "{s}");
}

#[test]
fn the_history_is_each_sets_own() {
    let store = two_sets_0();
    let rates = |id| -> Vec<f32> { store.model.object_rates_at(ObjKind::Sem, id).collect() };
    assert_ne!(rates(HOST_SET), rates(BOX_SET));
    let trend = |id| {
        store
            .trends
            .object(ObjKind::Sem, id)
            .map(|t| t.points().len())
    };
    assert!(trend(HOST_SET).is_some() && trend(BOX_SET).is_some());
    let waiting = |id| {
        let t = store.trends.object(ObjKind::Sem, id).unwrap();
        t.points().map(|p| p.waiting).max()
    };
    assert_eq!((waiting(HOST_SET), waiting(BOX_SET)), (Some(0), Some(1)));
}

/// The header's second line.
fn header2(s: &str) -> &str {
    s.lines().nth(1).unwrap_or_default()
}

#[test]
fn n_filters_the_rows_header_and_problems_alike() {
    let mut app: App = app_on(View::Semaphores, two_sets_0());
    let all = screen(&mut app, 150, 40);
    assert!(header2(&all).contains("1 thread waiting"), "{all}");
    assert!(
        all.contains("1 used before init"),
        "the container's set: {all}"
    );
    // The host alone: its set, no waiter, no finding.
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.store.model.scope(), &Scope::Ns(NS));
    let s = screen(&mut app, 150, 40);
    assert!(s.contains("IPC ns host only (n)"), "{s}");
    assert!(header2(&s).contains("0 waiting"), "{s}");
    assert!(s.contains("no alerts") && !s.contains("IPC NS"), "{s}");
    assert_eq!(s.matches("▸ 0 ").count(), 1, "{s}");
    assert!(s.contains("Semaphore sets (1)"), "{s}");
    key(&mut app, KeyCode::Char('7'));
    let p = screen(&mut app, 150, 40);
    assert!(
        p.contains("None found:")
            && p.contains("sets used before init")
            && !p.contains("Sets used before init ("),
        "Problems: {p}"
    );
    // The container alone: its set, its waiter, its finding (in Problems too).
    key(&mut app, KeyCode::Char('n'));
    let p = screen(&mut app, 150, 40);
    assert!(p.contains("IPC ns docker:3f4e5a6b7c8d only (n)"), "{p}");
    assert!(p.contains("Sets used before init (1)"), "{p}");
    assert!(p.contains("used before init sem 0"), "{p}");
    for _ in 0..4 {
        if app.enter().is_some() {
            break;
        }
        key(&mut app, KeyCode::Down);
        screen(&mut app, 150, 40);
    }
    assert_eq!(app.enter(), Some(Target::Sem(BOX_SET)), "{p}");
    key(&mut app, KeyCode::Char('2'));
    let s = screen(&mut app, 150, 40);
    assert!(
        header2(&s).contains("1 thread waiting") && s.contains("Semaphore sets (1)"),
        "{s}"
    );
    assert!(row(&s, "▸ 0 ").contains(" 20 "), "{s}");
    // All again.
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.store.model.scope(), &Scope::All);
    let s = screen(&mut app, 150, 40);
    assert_eq!(s.matches("▸ 0 ").count(), 2, "{s}");
    assert!(!s.contains("only (n)"), "{s}");
    // `/` matches the IPC NS column too.
    key(&mut app, KeyCode::Char('/'));
    for c in "docker".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    let s = screen(&mut app, 150, 40);
    assert_eq!(s.matches("▸ 0 ").count(), 1, "{s}");
    assert!(row(&s, "▸ 0 ").contains(" 20 "), "{s}");
}

#[test]
fn n_while_paused_filters_the_frozen_display_too() {
    let mut app = app_on(View::Semaphores, two_sets_0());
    key(&mut app, KeyCode::Char('p'));
    key(&mut app, KeyCode::Char('n'));
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.shown().model.scope(), &Scope::Ns(NS2));
    assert_eq!(app.store.model.scope(), &Scope::Ns(NS2));
    let s = screen(&mut app, 150, 40);
    assert_eq!(s.matches("▸ 0 ").count(), 1, "{s}");
    assert!(row(&s, "▸ 0 ").contains(" 20 "), "{s}");
}

#[test]
fn the_event_log_follows_the_scope() {
    let mut app = app_on(View::Events, two_sets_0());
    let s = screen(&mut app, 150, 40);
    assert!(s.contains("hostie") && s.contains("boxed-op"), "{s}");
    key(&mut app, KeyCode::Char('n'));
    let s = screen(&mut app, 150, 40);
    assert!(s.contains("hostie") && !s.contains("boxed-op"), "{s}");
    assert!(s.contains(&format!("IPC namespace {NS}")), "{s}");
    key(&mut app, KeyCode::Char('n'));
    let s = screen(&mut app, 150, 40);
    assert!(!s.contains("hostie") && s.contains("boxed-op"), "{s}");
}

#[test]
fn row_keys_name_the_namespace_and_a_gone_ones_slot_serves_the_next() {
    let mut store = two_sets_0();
    for id in [
        HOST_SET,
        BOX_SET,
        ObjId {
            ns: NS2,
            id: i32::MAX,
        },
    ] {
        assert_eq!(store.obj_of_key(store.obj_key(id)), Some(id));
    }
    assert_ne!(store.obj_key(HOST_SET), store.obj_key(BOX_SET));
    let boxed = store.obj_key(BOX_SET);
    // The container goes (no process of it in the next snapshot), another comes.
    let mut s = base_snap(MONO + 4 * S);
    let mut other = proc_(30, "other", "other", 1);
    other.ipc_ns = Some(NS2 + 1);
    s.processes = vec![proc_(10, "hostie", "hostie --spin", 60), other];
    store.ingest(&[stamped(MONO + 4 * S, Update::Snapshot(Box::new(s)))]);
    let third = ObjId { ns: NS2 + 1, id: 0 };
    assert_eq!(store.obj_key(third), boxed);
    assert_eq!(store.obj_of_key(boxed), Some(third));
    assert_eq!(store.obj_of_key(store.obj_key(HOST_SET)), Some(HOST_SET));
}
