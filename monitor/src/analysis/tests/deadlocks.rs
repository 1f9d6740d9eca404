//! Deadlocks (the wait-for graph) and who holds what: from last pids, from events, guessed holders.
use super::*;

fn deadlocks_of(f: &[Finding]) -> Vec<&Finding> {
    f.iter()
        .filter(|f| matches!(f.what, What::Deadlock { .. }))
        .collect()
}

/// Set 30 held by 901 (last pid), set 31 held by 902; each waits on the other's.
fn ab_ba() -> Snapshot {
    let mut s = snap();
    s.sem.push(sem(30, &[(0, 1, 901)], NOW - 5));
    s.sem.push(sem(31, &[(0, 1, 902)], NOW - 5));
    let mut a = proc_(901, NOW - 100);
    a.waits = Some(vec![sem_wait(901, 31, 0, -1)]);
    let mut b = proc_(902, NOW - 100);
    b.waits = Some(vec![sem_wait(902, 30, 0, -1)]);
    s.processes.extend([a, b]);
    s
}

#[test]
fn ab_ba_deadlock_from_last_pids() {
    let mut s = ab_ba();
    // A bystander blocked on a semaphore whose last user is not waiting: no cycle.
    s.sem.push(sem(32, &[(1, 0, 903), (0, 1, 903)], NOW - 5));
    let mut c = proc_(904, NOW - 100);
    c.waits = Some(vec![sem_wait(904, 32, 1, -1)]);
    s.processes.extend([c, proc_(903, NOW - 100)]);

    let f = run(&s);
    let d = deadlocks_of(&f);
    assert_eq!(d.len(), 1, "{f:#?}");
    let What::Deadlock { pids, cycle } = &d[0].what else {
        unreachable!()
    };
    assert_eq!(pids, &[901, 902]);
    assert_eq!(
        cycle
            .iter()
            .map(|c| (c.pid, c.semid, c.semnum, c.sem_op, c.held_by))
            .collect::<Vec<_>>(),
        [(901, 31, 0, -1, 902), (902, 30, 0, -1, 901)]
    );
    assert!(cycle
        .iter()
        .all(|c| c.holder_source == HolderSource::LastPidGuess));
    assert!(d[0].reason.contains("best guess"), "{}", d[0].reason);
    // No other findings: no leaks, nothing uninitialised.
    assert_eq!(f.len(), 1, "{f:#?}");
}

#[test]
fn three_way_cycle_and_the_blocking_op_of_many() {
    let mut s = snap();
    s.sem.push(sem(
        40,
        &[(0, 1, 1001), (0, 1, 1002), (0, 1, 1003), (5, 0, 1)],
        NOW - 5,
    ));
    for (pid, num) in [(1001u32, 1u16), (1002, 2), (1003, 0)] {
        let mut p = proc_(pid, NOW - 100);
        // Each semop has an op that can proceed (on semaphore 3) before the blocking one.
        p.waits = Some(vec![TaskWait {
            tid: pid,
            call: WaitCall::Sem {
                semid: 40,
                nsops: 2,
                sops: Some(vec![
                    RawSop {
                        num: 3,
                        op: -1,
                        flg: 0,
                    },
                    RawSop {
                        num,
                        op: -1,
                        flg: 0x1000,
                    },
                ]),
                timed: true,
            },
            wchan: None,
            asleep_since_ns: None,
        }]);
        s.processes.push(p);
    }
    let f = run(&s);
    let d = deadlocks_of(&f);
    assert_eq!(d.len(), 1, "{f:#?}");
    let What::Deadlock { pids, .. } = &d[0].what else {
        unreachable!()
    };
    assert_eq!(pids, &[1001, 1002, 1003]);
}

#[test]
fn deadlock_and_long_waits_from_events() {
    let mut s = snap();
    // Last pids say 1 (a red herring); the events know better.
    s.sem.push(sem(50, &[(1, 0, 1)], NOW - 5));
    s.sem.push(sem(51, &[(1, 0, 1)], NOW - 5));
    s.processes.extend([
        proc_(1101, NOW - 100),
        proc_(1102, NOW - 100),
        proc_(1, NOW - 9999),
    ]);
    let mut m = model(&s);
    let t = MONO + S;
    m.feed_event(&ev(1101, t, Some(t + 10), semop(50, 0, -1), Some(0)));
    m.feed_event(&ev(1102, t, Some(t + 10), semop(51, 0, -1), Some(0)));
    m.feed_event(&ev(1101, t + 100, None, semop(51, 0, -1), None));
    m.feed_event(&ev(1102, t + 100, None, semop(50, 0, -1), None));
    assert_eq!(
        m.sem_set(50).unwrap().semaphores.as_ref().unwrap()[0].value,
        0
    );
    assert_eq!(m.waits().count(), 2);
    assert!(m.waits().all(|w| w.source == Source::Events));
    let h = m.holders(m.sem_set(50).unwrap().id, 0).unwrap();
    assert_eq!(
        (h.pids.as_slice(), h.source),
        (&[1101][..], HolderSource::Events)
    );

    m.feed_now(t + 100 + 30 * S);
    let f = analyze(&m, &Config::default());
    let d = deadlocks_of(&f);
    assert_eq!(d.len(), 1, "{f:#?}");
    let What::Deadlock { pids, cycle } = &d[0].what else {
        unreachable!()
    };
    assert_eq!(pids, &[1101, 1102]);
    assert!(cycle
        .iter()
        .all(|c| c.holder_source == HolderSource::Events));
    assert!(d[0].reason.contains("from the probe"));
    let long: Vec<_> = f
        .iter()
        .filter_map(|f| match f.what {
            What::LongWait {
                pid,
                exact,
                waited_s,
                ..
            } => Some((pid, exact, waited_s.round() as i64)),
            _ => None,
        })
        .collect();
    assert_eq!(long, [(1101, true, 30), (1102, true, 30)]);

    // 1101 gives up (EINTR), then releases its semaphore: the cycle is gone.
    m.feed_event(&ev(
        1101,
        t + 100,
        Some(t + 200),
        semop(51, 0, -1),
        Some(-4),
    ));
    m.feed_event(&ev(1101, t + 300, Some(t + 310), semop(50, 0, 1), Some(0)));
    assert_eq!(m.waits().count(), 1);
    assert!(m.holders(m.sem_set(50).unwrap().id, 0).unwrap().source == HolderSource::LastPidGuess);
    let f = analyze(&m, &Config::default());
    assert!(deadlocks_of(&f).is_empty(), "{f:#?}");

    // A snapshot that still sees 1102 blocked keeps the exact start of the probe's wait.
    let mut s2 = s.clone();
    s2.mono_ns = t + 100 + 40 * S;
    s2.unix_ns += 40 * S;
    s2.processes[1].waits = Some(vec![sem_wait(1102, 50, 0, -1)]);
    m.feed_snapshot(&s2);
    let w = m.waits().next().unwrap();
    assert_eq!((w.pid, w.source), (1102, Source::Events));
    assert_eq!(w.since_s(m.now_mono_ns()).map(|x| x.round()), Some(40.0));
}

#[test]
fn guessed_holders_with_the_probe_attached_say_so_truthfully() {
    // The AB/BA of ab_ba_deadlock_from_last_pids, with the probe running (kernel samples):
    // its holders are still GETPID guesses, and the reason says why — not "without the probe".
    let mut m = model(&ab_ba());
    m.feed_kernel(MONO + S, crate::sample::KernelSample::default());
    let f = analyze(&m, &Config::default());
    let d = deadlocks_of(&f);
    assert_eq!(d.len(), 1, "{f:#?}");
    assert!(
        !d[0].reason.contains("without the probe"),
        "{}",
        d[0].reason
    );
    assert!(
        d[0].reason.contains("the probe saw no process"),
        "{}",
        d[0].reason
    );
    assert!(
        d[0].reason.contains("held by pid 902 (guess)"),
        "{}",
        d[0].reason
    );
}

#[test]
fn a_waiter_is_never_its_own_holder() {
    // 1330 was the last to operate on semaphore 0 of set 95 (GETPID) and now waits on it.
    let mut s = snap();
    s.sem.push(sem(95, &[(0, 1, 1330)], NOW - 5));
    let mut p = proc_(1330, NOW - 100);
    p.waits = Some(vec![sem_wait(1330, 95, 0, -1)]);
    s.processes.push(p);
    let m = model(&s);
    let w = m.waits().next().unwrap();
    let (op, h) = m.wait_holders(w).unwrap();
    assert_eq!(op.semnum, 0);
    assert!(h.is_none(), "{h:?}");
    let f = analyze(&m, &Config::default());
    let doc = serde_json::to_value(crate::output::snapshot::to_json(&m, &f)).unwrap();
    assert_eq!(doc["waits"][0]["holders"], serde_json::Value::Null, "{doc}");
    let t = crate::cmd::snapshot::tables(&m, &f);
    assert!(!t.contains("1330 (guess)"), "{t}");
}
