//! The dashboard's tests: insta snapshots of every view (80x24 and 200x60, with real-looking
//! data, empty states and a deadlock), tiny terminals, the ASCII and NO_COLOR looks, keys,
//! (The frame time is measured by `benches/frame_time.rs`; keys in `keys_tests.rs`.)
use ratatui::{
    backend::TestBackend,
    crossterm::event::{KeyCode, KeyEvent, KeyModifiers},
    style::Color,
    Terminal,
};

use super::{
    app::{Action, App, Target, View},
    ns_view_tests::oid,
    store::{SessionInfo, Store},
    theme::Theme,
    views,
};
use crate::{
    event::{Args, Event, Flags, Key, Mode, Syscall, GET_FLAGS},
    feed::{KernelSample, ProbeStatus, Stamped, Update},
    fixtures::{self, sem_wait, semop, QueueAges, MONO, NOW, NS, S, USER},
    sample::{Aggregate, Hold},
    snapshot::{
        sysvipc::SHM_DEST, MapAttach, MsgRead, ProcRead, SemSetRead, ShmRow, Snapshot, TaskWait,
        WaitCall,
    },
};

// This suite's fixtures: objects owned by uid 1000, with keys, sizes and resident sizes, and
// recently used; events from named processes.

const SHM_DEV: (u32, u32) = (0, 1);

pub(super) fn info() -> SessionInfo {
    SessionInfo {
        host: "db-prod-3".into(),
        kernel: "6.18.0-ipctop".into(),
    }
}

pub(super) fn base_snap(mono: u64) -> Snapshot {
    fixtures::snapshot(mono, 18_446_744_073_692_774_399, Some(SHM_DEV))
}

pub(super) fn proc_(pid: u32, comm: &str, cmd: &str, started_ago: i64) -> ProcRead {
    fixtures::process(pid, comm, Some(cmd), NOW - started_ago)
}

fn attach(shmid: i32, start: u64, len: u64, dev: (u32, u32)) -> MapAttach {
    MapAttach {
        shmid,
        start,
        end: start + len,
        dev,
        writable: true,
    }
}

/// Last attached by its creator a second after it was made, half of it resident.
pub(super) fn shm(
    shmid: i32,
    key: i32,
    size: u64,
    cpid: u32,
    nattch: u64,
    ctime_ago: i64,
) -> ShmRow {
    ShmRow {
        lpid: cpid,
        atime: NOW - ctime_ago + 1,
        rss: Some(size / 2),
        swap: Some(0),
        ..fixtures::shm(shmid, key, size, cpid, nattch, NOW - ctime_ago, USER)
    }
}

pub(super) fn sem(
    semid: i32,
    key: i32,
    vals: &[(i32, i32, u32)],
    otime_ago: Option<i64>,
) -> SemSetRead {
    let otime = otime_ago.map_or(0, |a| NOW - a);
    fixtures::sem(semid, key, 0o660, USER, vals, otime, NOW - 3600)
}

pub(super) fn msg(msqid: i32, key: i32, qnum: u64, cbytes: u64, lspid: u32, lrpid: u32) -> MsgRead {
    let ages = QueueAges {
        sent: 12,
        received: 30,
        changed: 7200,
    };
    fixtures::msg(msqid, key, qnum, cbytes, (lspid, lrpid), USER, ages)
}

pub(super) fn ev(
    pid: u32,
    comm: &str,
    start: u64,
    end: Option<u64>,
    args: Args,
    ret: Option<i64>,
) -> Event {
    fixtures::ev(pid, comm, USER, start, end, args, ret)
}

fn semget(key: i32) -> Args {
    Args::Semget {
        key: Key(key),
        nsems: 1,
        flags: Flags::new(0o3000, GET_FLAGS),
        mode: Mode(0o600),
    }
}

pub(super) fn agg(
    pid: u32,
    id: i32,
    syscall: Syscall,
    calls: u64,
    errors: u64,
    total_ms: u64,
) -> Aggregate {
    Aggregate {
        total_ns: total_ms * 1_000_000,
        max_ns: total_ms * 400_000,
        hist: hist(calls, total_ms),
        ..crate::fixtures::agg(pid, Some(id), syscall, calls, errors)
    }
}

/// A histogram consistent with `agg`: the longest call (0.4 of the total) in its bucket, a
/// tenth of the calls waiting a millisecond or two, the rest quick.
fn hist(calls: u64, total_ms: u64) -> [u64; monitor_ebpf::HIST_BUCKETS] {
    use crate::model::account::hist_bucket;
    let mut h = [0; monitor_ebpf::HIST_BUCKETS];
    if calls == 0 {
        return h;
    }
    let waits = if total_ms > 0 { calls / 10 } else { 0 };
    h[hist_bucket(total_ms * 400_000)] += 1;
    h[hist_bucket(1_500_000)] += waits.saturating_sub(1);
    h[0] += calls - waits.max(1);
    h
}

pub(super) fn stamped(mono_ns: u64, update: Update) -> Stamped {
    Stamped { mono_ns, update }
}

/// A busy machine: a database with workers on semaphores (one blocked, one AB/BA
/// deadlock), shared memory (attached, hugetlb, marked for destruction, leaked), queues (one
/// with a blocked receiver, one full with a blocked sender, one left with messages), refused
/// calls, and the probe's counters — everything entering through `Store::ingest`.
pub fn busy_store() -> Store {
    let mut s = base_snap(MONO);
    let procs = [
        (1200, "postgres", "postgres -D /var/lib/pg", 86_400),
        (1201, "pg-worker", "postgres: worker 1", 80_000),
        (1202, "pg-worker", "postgres: worker 2", 80_000),
        (1203, "pg-writer", "postgres: background writer", 80_000),
        (2301, "transfer", "./bank transfer --from a --to b", 600),
        (2302, "transfer", "./bank transfer --from b --to a", 600),
        (
            3100,
            "mq-consumer",
            "/usr/bin/mq-consumer --queue jobs",
            5_000,
        ),
        (3101, "mq-producer", "/usr/bin/mq-producer --burst", 5_000),
        (4000, "init-race", "./init-race", 90),
        (4001, "init-race", "./init-race", 90),
        (3102, "mq-admin", "/usr/bin/mq-admin --purge", 60),
    ];
    for (pid, comm, cmd, ago) in procs {
        s.processes.push(proc_(pid, comm, cmd, ago));
    }
    // Shared memory: the database's buffer pool (hugetlb) attached by four, a scratch
    // segment, one marked for destruction still attached, one leaked by a dead creator.
    s.shm
        .push(shm(32768, 0x5432_0001, 1 << 30, 1200, 4, 86_000));
    s.shm.push(shm(32769, 0x5432_0002, 8 << 20, 1200, 1, 3_000));
    let mut dest = shm(32770, 0, 64 << 10, 1203, 1, 120);
    dest.mode |= SHM_DEST;
    s.shm.push(dest);
    s.shm.push(shm(32771, 0, 4 << 20, 999, 0, 20_000));
    let huge = (0, 17);
    for (i, pid) in [1200u32, 1201, 1202, 1203].into_iter().enumerate() {
        let p = s.processes.iter_mut().find(|p| p.pid == pid).unwrap();
        let a = p.attachments.as_mut().unwrap();
        a.push(attach(
            32768,
            0x7f00_0000_0000 + i as u64 * 0x1000_0000,
            1 << 30,
            huge,
        ));
        if pid == 1200 {
            a.push(attach(32769, 0x7f80_0000_0000, 8 << 20, SHM_DEV));
        }
        if pid == 1203 {
            a.push(attach(32770, 0x7f90_0000_0000, 64 << 10, SHM_DEV));
        }
    }
    // Semaphores: the database's lock set (1202 blocked on #1, held by 1201), the two
    // transfer locks (deadlocked: see the events), a set used before init, an idle leak.
    s.sem.push(sem(
        65536,
        0x5432_0010,
        &[(1, 0, 1203), (0, 1, 1201), (3, 0, 1200), (1, 0, 1203)],
        Some(2),
    ));
    s.sem
        .push(sem(65537, 0x0bad_0001, &[(0, 1, 2301)], Some(40)));
    s.sem
        .push(sem(65538, 0x0bad_0002, &[(0, 1, 2302)], Some(40)));
    s.sem
        .push(sem(65539, 0x1ce0_0001, &[(0, 1, 0), (0, 0, 0)], None));
    s.sem.push(sem(65540, 0, &[(1, 0, 888)], Some(90_000)));
    let p = s.processes.iter_mut().find(|p| p.pid == 1202).unwrap();
    p.waits = Some(vec![sem_wait(1202, 65536, 1, -1)]);
    let p = s.processes.iter_mut().find(|p| p.pid == 4000).unwrap();
    p.waits = Some(vec![sem_wait(4000, 65539, 0, -1)]);
    // Queues: jobs (consumer blocked, empty), results (full, producer blocked), a queue left
    // with messages by processes that are gone.
    s.msg.push(msg(0, 0x6a6f_6273, 0, 0, 3101, 3100));
    s.msg.push(msg(1, 0x7265_7375, 128, 16384, 3101, 3100));
    s.msg.push(msg(2, 0, 17, 2210, 777, 0));
    let p = s.processes.iter_mut().find(|p| p.pid == 3100).unwrap();
    p.waits = Some(vec![TaskWait {
        tid: 3100,
        call: WaitCall::Msgrcv {
            msqid: 0,
            msgsz: 8192,
            msgtyp: 0,
        },
        wchan: Some("do_msgrcv".into()),
        asleep_since_ns: None,
    }]);
    let p = s.processes.iter_mut().find(|p| p.pid == 3101).unwrap();
    p.waits = Some(vec![TaskWait {
        tid: 3101,
        call: WaitCall::Msgsnd {
            msqid: 1,
            msgsz: 256,
        },
        wchan: Some("do_msgsnd".into()),
        asleep_since_ns: None,
    }]);

    let mut store = Store::new(
        info(),
        ProbeStatus::Attached("per-syscall tracepoints syscalls/sys_{enter,exit}_*".into()),
        Default::default(),
    );
    // The probe watched before: it saw the transfer locks made (IPC_CREAT|IPC_EXCL).
    let made: Vec<Event> = [(2301, 0x0bad_0001, 65537), (2302, 0x0bad_0002, 65538)]
        .into_iter()
        .map(|(pid, key, id)| Event {
            ipc_ns: Some(NS),
            ..ev(
                pid,
                "transfer",
                MONO - 2 * S,
                Some(MONO - 2 * S + 5_000),
                semget(key),
                Some(id),
            )
        })
        .collect();
    store.ingest(&[stamped(MONO - 2 * S, Update::Events(made))]);
    store.ingest(&[stamped(MONO, Update::Snapshot(Box::new(s)))]);
    store.ingest(&[stamped(
        MONO,
        Update::Posix(Box::new(crate::posix::fixture::posix(NS, NOW, MONO))),
    )]);

    // Events: the transfers take their first lock, then block on the other's (a deadlock);
    // refused and racing calls; the workers' traffic.
    let t = MONO + S;
    let mut evs = vec![
        ev(
            2301,
            "transfer",
            t,
            Some(t + 20_000),
            semop(65537, 0, -1),
            Some(0),
        ),
        ev(
            2302,
            "transfer",
            t + 50_000,
            Some(t + 70_000),
            semop(65538, 0, -1),
            Some(0),
        ),
        ev(
            1201,
            "pg-worker",
            t + 100_000,
            Some(t + 103_000),
            semop(65536, 1, -1),
            Some(0),
        ),
        ev(
            4001,
            "init-race",
            t + 200_000,
            Some(t + 201_000),
            semget(0x1ce0_0001),
            Some(-17),
        ),
        ev(
            4001,
            "init-race",
            t + 300_000,
            Some(t + 300_900),
            semget(0x1ce0_0001),
            Some(-17),
        ),
        ev(
            3102,
            "mq-admin",
            t + 400_000,
            Some(t + 401_000),
            semget(0x5432_0010),
            Some(-13),
        ),
        ev(
            1203,
            "pg-writer",
            t + 500_000,
            Some(t + 500_500),
            semop(65540, 0, 0),
            Some(-43),
        ),
    ];
    for i in 0..30u64 {
        let at = t + 2 * S + i * 300_000_000;
        evs.push(ev(
            1203,
            "pg-writer",
            at,
            Some(at + 8_000),
            semop(65536, 0, -1),
            Some(0),
        ));
        evs.push(ev(
            1203,
            "pg-writer",
            at + 9_000,
            Some(at + 12_000),
            semop(65536, 0, 1),
            Some(0),
        ));
    }
    store.ingest(&[stamped(t + 12 * S, Update::Events(evs))]);
    let blocked = vec![
        ev(2301, "transfer", t + 5 * S, None, semop(65538, 0, -1), None),
        ev(
            2302,
            "transfer",
            t + 5 * S + 1000,
            None,
            semop(65537, 0, -1),
            None,
        ),
    ];
    store.ingest(&[stamped(t + 12 * S, Update::InFlight(blocked))]);
    // The probe's counters, twice (for a rate), with holders and per-object totals.
    // The counters are the aggregates' sums, as the kernel keeps them.
    let stats_of = |aggs: &[Aggregate]| {
        let mut st = crate::sample::KernelStats::default();
        for a in aggs {
            st.calls[a.syscall.index()] += a.calls;
            st.errors[a.syscall.index()] += a.errors;
        }
        st
    };
    let mut k = KernelSample::default();
    let aggregates = vec![
        agg(1201, 65536, Syscall::SEMTIMEDOP, 21_000, 0, 5_400),
        agg(1203, 65536, Syscall::SEMTIMEDOP, 30_000, 0, 2_100),
        agg(1202, 65536, Syscall::SEMTIMEDOP, 4_380, 0, 9_800),
        agg(2301, 65537, Syscall::SEMTIMEDOP, 1, 0, 0),
        agg(2302, 65538, Syscall::SEMTIMEDOP, 1, 0, 0),
        agg(1203, 65540, Syscall::SEMTIMEDOP, 1, 1, 0),
        agg(3100, 0, Syscall::MSGRCV, 9_000, 0, 61_000),
        agg(3101, 1, Syscall::MSGSND, 9_000, 0, 12_000),
        // Failed semgets name no object.
        Aggregate {
            id: None,
            ..agg(3102, 0, Syscall::SEMGET, 1, 1, 0)
        },
        Aggregate {
            id: None,
            ..agg(4001, 0, Syscall::SEMGET, 2, 2, 0)
        },
    ];
    // Two seconds earlier, a tenth fewer calls: the rates.
    k.aggregates = aggregates
        .iter()
        .map(|a| Aggregate {
            calls: a.calls - a.calls / 10,
            ..*a
        })
        .collect();
    k.stats = stats_of(&k.aggregates);
    store.ingest(&[stamped(t + 20 * S, Update::Kernel(Box::new(k.clone())))]);
    k.stats = stats_of(&aggregates);
    k.holds = vec![
        Hold {
            semid: 65537,
            semnum: 0,
            pid: 2301,
            held: 1,
            taken: 2,
            given: 1,
            ..Default::default()
        },
        Hold {
            semid: 65538,
            semnum: 0,
            pid: 2302,
            held: 1,
            taken: 2,
            given: 1,
            ..Default::default()
        },
        Hold {
            semid: 65536,
            semnum: 1,
            pid: 1201,
            held: 1,
            taken: 2,
            given: 1,
            ..Default::default()
        },
    ];
    k.aggregates = aggregates;
    store.ingest(&[stamped(t + 22 * S, Update::Kernel(Box::new(k)))]);
    // Names fixed, not this machine's: 1000 has one, 999 does not.
    store.names = super::names::Names::fixed(&[(0, "root"), (1000, "postgres")]);
    store
}

fn empty_store() -> Store {
    let mut store = Store::new(
        info(),
        ProbeStatus::Attached("raw tracepoints".into()),
        Default::default(),
    );
    store.ingest(&[stamped(MONO, Update::Snapshot(Box::new(base_snap(MONO))))]);
    store
}

/// The screen as text, one line per row.
pub(super) fn text(t: &Terminal<TestBackend>) -> String {
    let b = t.backend().buffer();
    let mut out = String::new();
    for y in 0..b.area.height {
        let mut line = String::new();
        for x in 0..b.area.width {
            line.push_str(b[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(super) fn render(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| views::draw(f, app)).unwrap();
    t
}

pub(super) fn screen(app: &mut App, w: u16, h: u16) -> String {
    text(&render(app, w, h))
}

pub(super) fn key(app: &mut App, c: KeyCode) -> Action {
    app.on_key(KeyEvent::new(c, KeyModifiers::NONE))
}

pub(super) fn app_on(view: View, store: Store) -> App {
    let mut app = App::new(store, Theme::default());
    app.screen.view = view;
    app
}

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

#[test]
fn every_view_with_data() {
    for view in View::ALL {
        for (w, h) in SIZES {
            let mut app = app_on(view, busy_store());
            if view == View::Semaphores {
                app.expanded.insert(oid(65536));
            }
            let name = format!("{}_{w}x{h}", view.title().to_lowercase().replace(' ', "_"));
            insta::assert_snapshot!(name, screen(&mut app, w, h));
        }
    }
}

#[test]
fn every_view_empty() {
    for view in View::ALL {
        let mut app = app_on(view, empty_store());
        let name = format!("empty_{}", view.title().to_lowercase().replace(' ', "_"));
        insta::assert_snapshot!(name, screen(&mut app, 80, 24));
    }
}

#[test]
fn help_and_details() {
    for (w, h) in SIZES {
        let mut app = app_on(View::Overview, busy_store());
        key(&mut app, KeyCode::Char('?'));
        insta::assert_snapshot!(format!("help_{w}x{h}"), screen(&mut app, w, h));
        for (name, t) in [
            ("detail_sem", Target::Sem(oid(65536))),
            ("detail_shm", Target::Shm(oid(32768))),
            ("detail_queue", Target::Queue(oid(1))),
            ("detail_proc", Target::Proc(1200)),
        ] {
            let mut app = app_on(View::Overview, busy_store());
            app.open(t);
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(&mut app, w, h));
        }
    }
}

#[test]
fn tiny_terminals_never_panic() {
    for view in View::ALL {
        for (w, h) in [
            (40, 12),
            (20, 5),
            (16, 3),
            (10, 2),
            (1, 1),
            (300, 2),
            (2, 100),
        ] {
            let mut app = app_on(view, busy_store());
            app.expand_all = true;
            render(&mut app, w, h);
            app.help = true;
            render(&mut app, w, h);
            app.help = false;
            app.open(Target::Proc(1202));
            render(&mut app, w, h);
        }
    }
    let mut app = app_on(View::Overview, busy_store());
    insta::assert_snapshot!("overview_40x12", screen(&mut app, 40, 12));
    insta::assert_snapshot!("overview_20x5", screen(&mut app, 20, 5));
}

#[test]
fn ascii_borders_and_no_color() {
    let mut app = App::new(
        busy_store(),
        Theme {
            color: false,
            unicode: false,
        },
    );
    let t = render(&mut app, 80, 24);
    let s = text(&t);
    insta::assert_snapshot!("overview_ascii_80x24", s);
    assert!(s.is_ascii(), "{s}");
    let b = t.backend().buffer();
    for c in b.content() {
        assert_eq!(c.fg, Color::Reset, "a colour under NO_COLOR: {c:?}");
        assert_eq!(c.bg, Color::Reset);
    }
    // The 16-colour theme uses named ANSI colours only.
    let mut app = App::new(busy_store(), Theme::default());
    let t = render(&mut app, 200, 60);
    for c in t.backend().buffer().content() {
        assert!(
            !matches!(c.fg, Color::Rgb(..) | Color::Indexed(_)),
            "not one of the 16 colours: {c:?}"
        );
    }
}
