//! The model on its own: the account (events, kernel samples, observers, interrupted calls,
//! rates), waits (in-flight scans replace each other, waiters per object) and holders.
use super::*;
use crate::{
    event::{Args, Cmd, Event, Syscall},
    fixtures::{self, ev, semop, Feed, MONO, NOW, NS, ROOT, S},
    sample::{Aggregate, Hold, KernelSample},
};

fn base() -> Model {
    let mut s = fixtures::snapshot(MONO, 1 << 30, None);
    s.processes
        .push(fixtures::process(42, "worker", None, NOW - 100));
    let mut observer = fixtures::process(77, "ipctop", Some("ipctop"), NOW - 100);
    observer.observer = true;
    s.processes.push(observer);
    s.sem.push(fixtures::sem(
        7,
        0x1234,
        0o600,
        ROOT,
        &[(1, 0, 0), (0, 0, 0)],
        NOW - 10,
        NOW - 50,
    ));
    let mut m = Model::new();
    m.feed_snapshot(&s);
    m
}

fn oid(id: i32) -> ObjId {
    ObjId { ns: NS, id }
}

fn semctl(semid: i32, cmd: i32, name: &'static str) -> Args {
    Args::Semctl {
        semid,
        semnum: 0,
        cmd: Cmd {
            value: cmd,
            name: Some(name),
        },
        arg: 0,
    }
}

/// `calls` calls of 2 ms each.
fn agg(pid: u32, id: Option<i32>, syscall: Syscall, calls: u64, errors: u64) -> Aggregate {
    Aggregate {
        total_ns: calls * 2_000_000,
        max_ns: 3_000_000,
        last_ns: MONO + S,
        hist: {
            let mut h = [0; monitor_ebpf::HIST_BUCKETS];
            h[account::hist_bucket(2_000_000)] = calls;
            h
        },
        ..fixtures::agg(pid, id, syscall, calls, errors)
    }
}

fn sample(aggs: Vec<Aggregate>, holds: Vec<Hold>) -> KernelSample {
    let mut k = KernelSample::default();
    for a in &aggs {
        k.stats.calls[a.syscall.index()] += a.calls;
        k.stats.errors[a.syscall.index()] += a.errors;
    }
    k.stats.dropped = 2;
    k.undecodable = 1;
    k.aggregates = aggs;
    k.holds = holds;
    k
}

#[test]
fn events_alone_make_the_account() {
    let mut m = base();
    let t = MONO + S;
    // Two quick semops, one that waited 5 ms, one refused.
    m.feed_event(&ev(
        42,
        "worker",
        ROOT,
        t,
        Some(t + 1_000),
        semop(7, 0, -1),
        Some(0),
    ));
    m.feed_event(&ev(
        42,
        "worker",
        ROOT,
        t + 2_000,
        Some(t + 3_000),
        semop(7, 0, 1),
        Some(0),
    ));
    m.feed_event(&ev(
        42,
        "worker",
        ROOT,
        t + 4_000,
        Some(t + 5_004_000),
        semop(7, 0, -1),
        Some(0),
    ));
    m.feed_event(&ev(
        42,
        "worker",
        ROOT,
        t + 6 * S / 1000,
        Some(t + 7 * S / 1000),
        semop(7, 5, -1),
        Some(-27),
    ));
    let a = m.account();
    assert_eq!(a.source(), CountSource::Events);
    let o = a.object(ObjKind::Sem, oid(7)).unwrap();
    assert_eq!((o.calls, o.errors, o.waits), (4, 1, 1));
    assert_eq!(o.errnos[&(Syscall::SEMTIMEDOP, 27)], 1);
    assert_eq!(o.max_wait_ns, 5_000_000);
    let p = a.process(42).unwrap();
    assert_eq!((p.calls, p.errors), (4, 1));
    assert_eq!(a.total().calls, 4);
    assert_eq!(a.users_of(ObjKind::Sem, oid(7)).count(), 1);
    assert_eq!(m.object_account(ObjKind::Sem, 7).unwrap().calls, 4);
}

#[test]
fn kernel_samples_replace_event_counts_and_give_rates() {
    let mut m = base();
    let t = MONO + S;
    // A failure the probe sends (its errno), also counted in the aggregates.
    m.feed_event(&ev(
        42,
        "worker",
        ROOT,
        t,
        Some(t + 1_000),
        semop(7, 9, -1),
        Some(-27),
    ));
    m.feed_kernel(
        t + S,
        sample(
            vec![agg(42, Some(7), Syscall::SEMTIMEDOP, 1_000, 1)],
            vec![],
        ),
    );
    m.feed_kernel(
        t + 3 * S,
        sample(
            vec![
                agg(42, Some(7), Syscall::SEMTIMEDOP, 3_000, 1),
                agg(42, None, Syscall::SEMGET, 4, 4),
            ],
            vec![],
        ),
    );
    let a = m.account();
    assert_eq!(a.source(), CountSource::Kernel);
    let o = a.object(ObjKind::Sem, oid(7)).unwrap();
    // Exact: the kernel's, not the one event's.
    assert_eq!((o.calls, o.errors), (3_000, 1));
    assert_eq!(o.errnos[&(Syscall::SEMTIMEDOP, 27)], 1);
    assert_eq!(o.rate(), 1_000.0);
    assert_eq!(o.waits, 3_000);
    assert_eq!(o.blocked_ns, 6_000_000_000);
    let p = a.process(42).unwrap();
    assert_eq!((p.calls, p.errors), (3_004, 5));
    assert_eq!(p.by_syscall[Syscall::SEMGET.index()], 4);
    assert_eq!(o.by_syscall[Syscall::SEMTIMEDOP.index()], 3_000);
    assert_eq!(a.total().by_syscall[Syscall::SEMGET.index()], 4);
    assert_eq!(a.total().calls, 3_004);
    assert_eq!(a.total().rate(), 1_002.0);
    assert_eq!(a.dropped(), 3);
    assert_eq!(a.syscall(Syscall::SEMGET).errors, 4);
}

#[test]
fn interrupted_calls_are_not_failures() {
    let mut m = base();
    let t = MONO + S;
    // ERESTARTSYS: a signal ended the wait.
    let e = ev(
        42,
        "worker",
        ROOT,
        t,
        Some(t + S),
        semop(7, 1, -1),
        Some(-512),
    );
    assert_eq!(e.errno(), None);
    assert_eq!(e.interrupted(), Some("ERESTARTSYS"));
    m.feed_event(&e);
    let o = m.object_account(ObjKind::Sem, 7).unwrap();
    assert_eq!((o.calls, o.errors, o.interrupted), (1, 0, 1));
    assert!(o.errnos.is_empty());
    // The kernel counts it as failed: the account does not.
    m.feed_kernel(
        t + 2 * S,
        sample(vec![agg(42, Some(7), Syscall::SEMTIMEDOP, 1, 1)], vec![]),
    );
    let a = m.account();
    assert_eq!(a.object(ObjKind::Sem, oid(7)).unwrap().errors, 0);
    assert_eq!(a.syscall(Syscall::SEMTIMEDOP).errors, 0);
    assert_eq!(a.total().errors, 0);
}

#[test]
fn another_ipctop_polling_is_no_activity_on_the_objects() {
    let mut m = base();
    let t = MONO + S;
    // pid 77 is an ipctop reading the set (IPC_STAT, GETALL), as a snapshot does.
    m.feed_event(&ev(
        77,
        "ipctop",
        ROOT,
        t,
        Some(t + 1_000),
        semctl(7, libc::IPC_STAT, "IPC_STAT"),
        Some(0),
    ));
    m.feed_event(&ev(
        77,
        "ipctop",
        ROOT,
        t + 2_000,
        Some(t + 3_000),
        semctl(7, 13, "GETALL"),
        Some(0),
    ));
    let a = m.account();
    assert_eq!(a.object(ObjKind::Sem, oid(7)).map_or(0, |t| t.calls), 0);
    assert_eq!(a.users_of(ObjKind::Sem, oid(7)).count(), 0);
    assert!(a.is_observer(77));
    // It still counts in the totals and as a process.
    assert_eq!(a.total().calls, 2);
    assert_eq!(a.process(77).unwrap().calls, 2);
    // The kernel's aggregates alike (its comm known from /proc).
    m.feed_kernel(
        t + S,
        sample(
            vec![
                agg(77, Some(7), Syscall::SEMCTL, 500, 0),
                agg(42, Some(7), Syscall::SEMTIMEDOP, 10, 0),
            ],
            vec![],
        ),
    );
    let a = m.account();
    assert_eq!(a.object(ObjKind::Sem, oid(7)).unwrap().calls, 10);
    let users: Vec<u32> = a.users_of(ObjKind::Sem, oid(7)).map(|(p, _)| p).collect();
    assert_eq!(users, [42]);
    assert_eq!(a.total().calls, 510);
}

#[test]
fn in_flight_scans_replace_each_other_and_index_the_waiters() {
    let mut m = base();
    let t = MONO + S;
    let blocked = ev(42, "worker", ROOT, t, None, semop(7, 1, -1), None);
    let scan = |evs: Vec<Event>, at: u64| Stamped {
        mono_ns: at,
        update: Update::InFlight(evs),
    };
    m.apply(&scan(vec![blocked], t + S));
    assert_eq!(m.waits().count(), 1);
    assert_eq!(m.waiters(ObjKind::Sem, 7).collect::<Vec<_>>(), [42]);
    assert!(m.waiters(ObjKind::Msg, 7).next().is_none());
    assert_eq!(m.longest_wait_s(), Some(1.0));
    // The next scan does not have it: the call has finished (its exit not sent).
    m.apply(&scan(vec![], t + 2 * S));
    assert_eq!(m.waits().count(), 0);
    assert!(m.waiters(ObjKind::Sem, 7).next().is_none());
}

#[test]
fn kernel_holds_are_the_holders_and_a_later_sample_releases_them() {
    let mut m = base();
    let hold = Hold {
        semid: 7,
        semnum: 1,
        pid: 42,
        held: 1,
        taken: 1,
        ..Default::default()
    };
    m.feed_kernel(MONO + S, sample(vec![], vec![hold]));
    let h = m.holders(oid(7), 1).unwrap();
    assert_eq!(h.pids, [42]);
    assert_eq!(h.source, HolderSource::Events);
    m.feed_kernel(MONO + 2 * S, sample(vec![], vec![]));
    assert!(m.holders(oid(7), 1).is_none());
    assert_eq!(m.now_mono_ns(), MONO + 2 * S);
}

#[test]
fn creations_and_setval_are_remembered() {
    let mut m = base();
    let t = MONO + S;
    let get = Args::Semget {
        key: crate::event::Key(0),
        nsems: 1,
        flags: crate::event::Flags::new(0o1000, crate::event::GET_FLAGS),
        mode: crate::event::Mode(0o600),
    };
    m.feed_event(&ev(42, "worker", ROOT, t, Some(t + 1), get, Some(9)));
    let c = m.creation(ObjKind::Sem, oid(9)).unwrap();
    assert_eq!((c.pid, c.comm.as_str()), (42, "worker"));
    assert!(c.call.starts_with("semget(key=IPC_PRIVATE"), "{}", c.call);
    assert!(c.call.ends_with("= 9"), "{}", c.call);
    m.feed_event(&ev(
        42,
        "worker",
        ROOT,
        t + 2,
        Some(t + 3),
        semctl(9, 16, "SETVAL"),
        Some(0),
    ));
    assert_eq!(m.sem_set(9).unwrap().values_set_by, Some(42));
}

#[test]
fn each_object_keeps_a_bounded_rate_history_from_the_kernel_samples() {
    let mut m = base();
    let t = MONO + S;
    for (i, calls) in [1_000u64, 3_000, 3_500].into_iter().enumerate() {
        m.feed_kernel(
            t + (i as u64 + 1) * S,
            sample(
                vec![agg(42, Some(7), Syscall::SEMTIMEDOP, calls, 0)],
                vec![],
            ),
        );
    }
    let r: Vec<f32> = m.object_rates(ObjKind::Sem, 7).collect();
    // No calls until the first sample (the set was there since the snapshot); then the calls
    // between samples.
    assert_eq!(r[r.len() - 2..], [2_000.0, 500.0], "{r:?}");
    for i in 0..100u64 {
        m.feed_kernel(
            t + (i + 10) * S,
            sample(
                vec![agg(42, Some(7), Syscall::SEMTIMEDOP, 3_500 + i * 10, 0)],
                vec![],
            ),
        );
    }
    let r: Vec<f32> = m.object_rates(ObjKind::Sem, 7).collect();
    assert_eq!(r.len(), crate::model::account::RATES_KEPT);
    assert!(r.iter().all(|&x| x == 10.0), "{r:?}");
    assert_eq!(m.object_rates(ObjKind::Sem, 8).count(), 0);
}

/// Another IPC namespace (a container's), whose set 7 is not ours.
const OTHER_NS: u64 = 4026532500;
const THEIRS: ObjId = ObjId {
    ns: OTHER_NS,
    id: 7,
};

/// A call stamped by the kernel with its namespace.
fn in_ns(mut e: Event, ns: u64) -> Event {
    e.ipc_ns = Some(ns);
    e
}

#[test]
fn events_count_on_the_object_of_their_own_namespace() {
    let mut m = base();
    let t = MONO + S;
    // Process 500 lives between two snapshots in another namespace: only its events know.
    for i in 0..3 {
        let s = t + i * 10_000;
        m.feed_event(&in_ns(
            ev(
                500,
                "db",
                ROOT,
                s,
                Some(s + 1_000),
                semop(7, 0, -1),
                Some(0),
            ),
            OTHER_NS,
        ));
    }
    for i in 0..2 {
        let s = t + 100_000 + i * 10_000;
        m.feed_event(&in_ns(
            ev(
                42,
                "worker",
                ROOT,
                s,
                Some(s + 1_000),
                semop(7, 1, 1),
                Some(0),
            ),
            NS,
        ));
    }
    let a = m.account();
    let ours = a.object(ObjKind::Sem, oid(7)).unwrap();
    let theirs = a.object(ObjKind::Sem, THEIRS).unwrap();
    assert_eq!((ours.calls, theirs.calls), (2, 3));
    let users: Vec<u32> = a.users_of(ObjKind::Sem, oid(7)).map(|(p, _)| p).collect();
    assert_eq!(users, [42]);
    // Their semops made 500 no holder of ours; the values are the snapshot's (one source).
    let v = m.sem_set(7).unwrap().semaphores.clone().unwrap();
    assert_eq!((v[0].value, v[1].value), (1, 0));
    assert!(m.holders(oid(7), 0).is_none());
    assert_eq!(m.holders(THEIRS, 0).unwrap().pids, [500]);
}

#[test]
fn kernel_aggregates_of_a_process_only_events_saw_go_to_its_namespace() {
    let mut m = base();
    let t = MONO + S;
    // One event (a failure the probe sends) tells 500's namespace; the kernel's aggregates
    // and holds name only pids.
    m.feed_event(&in_ns(
        ev(
            500,
            "db",
            ROOT,
            t,
            Some(t + 1_000),
            semop(7, 9, -1),
            Some(-27),
        ),
        OTHER_NS,
    ));
    m.feed_kernel(
        t + S,
        sample(
            vec![
                agg(500, Some(7), Syscall::SEMTIMEDOP, 40, 1),
                agg(42, Some(7), Syscall::SEMTIMEDOP, 5, 0),
            ],
            vec![Hold {
                semid: 7,
                semnum: 0,
                pid: 500,
                held: 1,
                taken: 1,
                ..Default::default()
            }],
        ),
    );
    let a = m.account();
    assert_eq!(a.object(ObjKind::Sem, oid(7)).unwrap().calls, 5);
    let theirs = a.object(ObjKind::Sem, THEIRS).unwrap();
    assert_eq!((theirs.calls, theirs.errors), (40, 1));
    assert!(m.holders(oid(7), 0).is_none());
    assert_eq!(m.holders(THEIRS, 0).unwrap().pids, [500]);
}

#[test]
fn events_without_a_namespace_fall_back_to_the_processes_one() {
    // A recording of an older ipctop: no stamps; pid 42 is in the viewed namespace.
    let mut m = base();
    let t = MONO + S;
    m.feed_event(&ev(
        42,
        "worker",
        ROOT,
        t,
        Some(t + 1_000),
        semop(7, 0, -1),
        Some(0),
    ));
    assert_eq!(m.object_account(ObjKind::Sem, 7).unwrap().calls, 1);
}
