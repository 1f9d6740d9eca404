//! The details of view 8's POSIX rows: Enter on each kind of row (a queue, a /dev/shm
//! object, a named semaphore, a deleted object still mapped, a System V segment's and shared
//! anonymous memory's futex waits) opens its detail, with the facts of the model's last look
//! (`posix/fixture.rs`) and the POSIX findings; its links lead to the processes (and a
//! segment's to its System V detail); a process's detail gives its POSIX side. Snapshots of
//! each at 80x24 and 120x40.
use ratatui::crossterm::event::KeyCode;

use super::{
    app::{App, Target, View},
    ns_view_tests::oid,
    tests::{app_on, busy_store, key, render, screen},
    theme::Theme,
    view::PosixId,
};
use crate::fixtures::NS;

/// The fixture's POSIX look: /dev/shm's device, and the shared anonymous memory's.
const SHM_DEV: u64 = 25;
const ANON: PosixId = PosixId::MemWaits { dev: 1, ino: 9 };

fn queue(ino: u64) -> Target {
    Target::Posix(PosixId::Queue { ns: NS, ino })
}

fn shm(ino: u64) -> Target {
    Target::Posix(PosixId::Shm { dev: SHM_DEV, ino })
}

/// Each kind of row of view 8: its NAME, its snapshot's name, what Enter opens.
fn kinds() -> [(&'static str, &'static str, Target); 7] {
    [
        ("/jobs", "queue_stuck", queue(101)),
        ("/results", "queue_unused", queue(102)),
        ("/mp-1", "semaphore", shm(202)),
        ("psm_abc", "shm_unused", shm(201)),
        ("x (deleted)", "shm_deleted", shm(203)),
        (
            "System V segment 32768",
            "sysv_waits",
            Target::Posix(PosixId::SysvWaits(oid(32768))),
        ),
        (
            "shared anonymous memory (inode 9)",
            "anon_waits",
            Target::Posix(ANON),
        ),
    ]
}

fn posix_app() -> App {
    app_on(View::Posix, busy_store())
}

/// Selects the row of view 8 whose NAME is `name` and returns what Enter opens.
fn enter_on(app: &mut App, name: &str) -> Option<Target> {
    let t = Theme::default();
    let (e, s) = app.entry_of(View::Posix).unwrap();
    let at = e
        .order
        .iter()
        .position(|&l| e.table.value(s, t, e.table.row(l), 1).text(&t) == name)
        .unwrap_or_else(|| panic!("no row {name}"));
    let list = &mut app.views[View::Posix.index()].list;
    (list.selected, list.moved) = (at, true);
    app.enter()
}

/// The detail of `t` as text, and its links.
fn detail(app: &mut App, t: Target) -> (String, Vec<Target>) {
    app.open(t);
    render(app, 120, 40);
    let s = app.shown().clone();
    let cx = super::rows::Cx::new(&s, app.theme);
    let d = super::rows::detail::doc(&cx, t);
    (d.plain_text(), app.links())
}

fn has(text: &str, wants: &[&str]) {
    for w in wants {
        assert!(text.contains(w), "{w:?} missing from:\n{text}");
    }
}

#[test]
fn enter_on_each_posix_row_opens_its_detail() {
    let mut app = posix_app();
    for (name, _, want) in kinds() {
        assert_eq!(enter_on(&mut app, name), Some(want), "{name}");
        key(&mut app, KeyCode::Enter);
        assert_eq!(app.screen.detail, Some(want), "{name}");
        assert_eq!(app.screen.view, View::Posix);
        key(&mut app, KeyCode::Esc);
        assert_eq!(app.screen.detail, None);
    }
}

#[test]
fn a_queue_says_who_waits_how_long_and_why_it_is_stuck() {
    let mut app = posix_app();
    let (s, links) = detail(&mut app, queue(101));
    has(
        &s,
        &[
            "Queue /jobs  perms 0600",
            "perms 0600",
            "0 of max 10 messages, each at most 8 KiB; bytes unknown",
            "blocked: 1 thread (3200) receiving",
            "last send or receive 2m23s ago; changed 1h00m ago (POSIX look 23.0s ago)",
            "STUCK 1 thread(s) blocked receiving from it and no live process has it open for \
             sending",
            "3200 w3200: tid 3200 blocked receiving ≥30.0s, open r (fd 3)",
            "cat /proc/3200/task/3200/syscall",
            "jq --arg v /jobs '.posix.queues[] | select(.name == $v)'",
        ],
    );
    assert_eq!(links, [Target::Proc(3200)]);
    // Left by an exited process: its messages, and unused since its last use.
    let (s, links) = detail(&mut app, queue(102));
    has(
        &s,
        &[
            "3 of max 10 messages",
            "nobody blocked sending or receiving",
            "UNUSED since 2m23s ago: no process has it open (3 message(s) in it)",
            "none known",
        ],
    );
    assert!(links.is_empty());
    // Served: a receiver waits, a sender could send; not stuck.
    let (s, links) = detail(&mut app, queue(103));
    assert!(!s.contains("STUCK"), "{s}");
    has(&s, &["3301 w3301: open w (fd 3)"]);
    assert_eq!(links, [Target::Proc(3300), Target::Proc(3301)]);
}

#[test]
fn a_named_semaphore_says_its_value_and_its_waiters() {
    let mut app = posix_app();
    let (s, links) = detail(&mut app, shm(202));
    has(
        &s,
        &[
            "/dev/shm/sem.mp-1  32 B  perms 0600",
            "semaphore value 0, 3 waiting (its word, read from memory)",
            "last use 10m23s ago",
            "Waiting in it (Enter to go)",
            "tid 3400 of 3400 w3400 at +0x0 ≥30.0s: semaphore value 0, 3 waiting",
            "tid 3402 of 3402 w3402 at +0x0",
            "3401 w3401: maps it at 0x7f0000000000-0x7f0000001000",
            "grep -l ' 00:19 202 ' /proc/[0-9]*/maps",
            "ls -li /dev/shm/sem.mp-1",
        ],
    );
    assert!(!s.contains("UNUSED"), "mapped and waited on: {s}");
    let procs: Vec<Target> = (3400..3403).map(Target::Proc).collect();
    assert_eq!(
        links,
        [procs.clone(), procs].concat(),
        "waiters, then users"
    );
}

#[test]
fn unused_and_deleted_objects_say_so() {
    let mut app = posix_app();
    let (s, links) = detail(&mut app, shm(201));
    has(
        &s,
        &[
            "/dev/shm/psm_abc  1 MiB",
            "UNUSED since 10m23s ago: no process has it open or mapped",
            "accessed 10m23s ago, modified 15m23s ago",
            "mount ns 4026531841",
        ],
    );
    assert!(links.is_empty());
    let (s, links) = detail(&mut app, shm(203));
    has(
        &s,
        &[
            "/dev/shm/x (deleted)  4 KiB",
            "DELETED removed from /dev/shm but still mapped (4096 bytes kept",
            "3500 w3500: maps it",
        ],
    );
    assert!(!s.contains("ls -li"), "no file to list: {s}");
    assert_eq!(links, [Target::Proc(3500)]);
}

#[test]
fn waits_in_a_system_v_segment_lead_to_the_segment_and_the_waiters() {
    let mut app = posix_app();
    let t = Target::Posix(PosixId::SysvWaits(oid(32768)));
    let (s, links) = detail(&mut app, t);
    has(
        &s,
        &[
            "2 threads in futex waits in System V segment 32768",
            "System V segment 32768 (1 GiB, nattch 4): its own details",
            "tid 1201 of 1201 pg-worker at +0x80 ≥30.0s: semaphore value 0, 2 waiting",
            "tid 1202 of 1202 pg-worker at +0x80",
            "ipcs -m -i 32768",
        ],
    );
    assert_eq!(
        links,
        [
            Target::Shm(oid(32768)),
            Target::Proc(1201),
            Target::Proc(1202)
        ]
    );
    // Enter on the first link: the segment's System V detail; on the next, the waiter.
    key(&mut app, KeyCode::Down);
    render(&mut app, 120, 40);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.screen.detail, Some(Target::Shm(oid(32768))));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.screen.detail, Some(t));
    render(&mut app, 120, 40);
    key(&mut app, KeyCode::Down);
    render(&mut app, 120, 40);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.screen.detail, Some(Target::Proc(1201)));
}

#[test]
fn mutex_waits_say_their_owners_and_the_deadlock() {
    let mut app = posix_app();
    let (s, links) = detail(&mut app, Target::Posix(ANON));
    has(
        &s,
        &[
            "3 threads in futex waits in shared anonymous memory (inode 9)",
            "DEADLOCK pid 3600 waits on the robust mutex at shared anonymous memory (inode 9)+0x100 owned by tid 3601",
            "tid 3600 of 3600 w3600 at +0x100 ≥30.0s: robust mutex held by tid 3601 (3601 w3601)",
            "tid 3602 of 3602 w3602 at +0x200 ≥30.0s: robust mutex held by tid 3603",
            "grep ' 00:01 9 ' /proc/3600/maps",
        ],
    );
    assert_eq!(
        links,
        [Target::Proc(3600), Target::Proc(3601), Target::Proc(3602)]
    );
}

#[test]
fn a_process_detail_gives_its_posix_side() {
    let mut app = posix_app();
    // A PostgreSQL backend: its System V wait side and its futex wait in the segment.
    let (s, links) = detail(&mut app, Target::Proc(1201));
    has(
        &s,
        &["tid 1201 in System V segment 32768 at +0x80 ≥30.0s: semaphore value 0, 2 waiting"],
    );
    assert!(links.contains(&Target::Posix(PosixId::SysvWaits(oid(32768)))));
    assert!(!s.contains("not blocked in an IPC call"), "{s}");
    // Processes the /proc snapshot did not list but the POSIX look saw.
    let (s, links) = detail(&mut app, Target::Proc(3200));
    has(
        &s,
        &[
            "Process 3200 w3200: seen by the last look at POSIX IPC",
            "tid 3200 blocked receiving from POSIX queue /jobs ≥30.0s",
            "POSIX objects open or mapped",
            "queue /jobs (0 messages): open r (fd 3)",
        ],
    );
    let q = queue(101);
    assert_eq!(links, [q, q]);
    let (s, links) = detail(&mut app, Target::Proc(3401));
    has(
        &s,
        &[
            "tid 3401 in semaphore /mp-1 at +0x0 ≥30.0s: semaphore value 0, 3 waiting",
            "semaphore /mp-1 (32 B): maps it",
        ],
    );
    let sem = shm(202);
    assert_eq!(links, [sem, sem]);
    // Enter on its wait goes back to the semaphore.
    key(&mut app, KeyCode::Down);
    render(&mut app, 120, 40);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.screen.detail, Some(sem));
}

#[test]
fn an_object_gone_since_says_so() {
    let mut app = posix_app();
    for t in [
        PosixId::Queue { ns: NS, ino: 999 },
        PosixId::Shm { dev: 1, ino: 999 },
        PosixId::MemWaits { dev: 1, ino: 999 },
    ] {
        let (s, links) = detail(&mut app, Target::Posix(t));
        assert!(s.contains("gone") || s.contains("any more"), "{t:?}: {s}");
        assert!(links.is_empty());
    }
}

#[test]
fn posix_details_snapshots() {
    let shots = kinds()
        .into_iter()
        .map(|(_, shot, t)| (shot, t))
        .chain([("proc_posix", Target::Proc(3401))]);
    for (name, t) in shots {
        for (w, h) in [(80, 24), (120, 40)] {
            let mut app = posix_app();
            app.open(t);
            insta::assert_snapshot!(
                format!("posix_detail_{name}_{w}x{h}"),
                screen(&mut app, w, h)
            );
        }
    }
    // The first screen at 80x24 says who waits, on what, for how long.
    let mut app = posix_app();
    app.open(queue(101));
    let s = screen(&mut app, 80, 24);
    has(&s, &["3200", "receiving", "≥30.0s"]);
}

#[test]
fn odd_names_and_what_the_look_could_not_read_are_said() {
    use super::tests::stamped;
    use crate::{
        feed::Update,
        fixtures::{MONO, NOW},
        posix::SyncKind,
    };
    let mut store = busy_store();
    let mut p = crate::posix::fixture::posix(NS, NOW, MONO);
    // A queue whose name needs quoting and has a control character, unreadable attributes.
    p.queues[0].name = "/it's\x1b[2J".into();
    p.queues[0].attr = None;
    // A semaphore whose word could not be read; a wait of unknown age on another lock.
    p.shm[1].sem = None;
    p.futex_waits[0].asleep_since_unix_ns = None;
    p.futex_waits[0].sync = SyncKind::Other;
    p.futex_waits[0].word = Some(2);
    store.ingest(&[stamped(MONO, Update::Posix(Box::new(p)))]);
    let mut app = app_on(View::Posix, store);
    let (s, _) = detail(&mut app, queue(101));
    has(
        &s,
        &[
            "Queue /it's\\x1b[2J",
            "messages and limits unknown: mq_getattr could not read it",
            "jq --arg v '/it'\\''s\\x1b[2J'",
        ],
    );
    assert!(
        !s.contains('\x1b'),
        "no control character reaches the screen: {s:?}"
    );
    let (s, _) = detail(&mut app, shm(202));
    has(
        &s,
        &[
            "semaphore value unknown: its word was not readable",
            "tid 3400 of 3400 w3400 at +0x0 for how long unknown: futex word 0x2",
        ],
    );
}
