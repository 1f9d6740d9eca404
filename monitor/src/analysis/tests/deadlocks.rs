//! Deadlocks (knots of blocked threads), stuck and stalled waiters, and who holds or raises a
//! semaphore: each rule with the cases that must be found and those that must not.
use super::*;
use crate::sample::{Hold, KernelSample};

fn kinds(f: &[Finding]) -> Vec<&'static str> {
    f.iter().map(|f| f.what.kind()).collect()
}

pub(super) fn deadlocks_of(f: &[Finding]) -> Vec<&Finding> {
    f.iter()
        .filter(|f| matches!(f.what, What::Deadlock { .. }))
        .collect()
}

/// A kernel hold row: `pid` (thread `tid`, or the process when `None`) took `taken` units
/// of semaphore `num` of `semid` and gave `given` (back, or all posted when it never took).
pub(super) fn hold(
    semid: i32,
    num: u16,
    pid: u32,
    tid: Option<u32>,
    taken: u64,
    given: u64,
) -> Hold {
    Hold {
        ipc_ns: Some(NS),
        semid,
        semnum: num,
        pid,
        tid,
        held: taken as i64 - given as i64,
        taken,
        given,
        posted: Some(if taken == 0 { given } else { 0 }),
        ..Default::default()
    }
}

/// The model as a live session sees it: a first snapshot without the sets (and the probe's
/// first sample after it: it watches from then), a snapshot with them, the kernel's holds,
/// then a snapshot in which the threads are blocked (asleep 30 s), and 30 s later.
pub(super) fn watched(sets: Vec<SemSetRead>, procs: Vec<ProcRead>, holds: Vec<Hold>) -> Model {
    let base = snap();
    let mut m = Model::new();
    m.feed_snapshot(&base);
    m.feed_kernel(MONO + S, KernelSample::default());
    let mut s1 = base.clone();
    s1.mono_ns = MONO + 2 * S;
    s1.unix_ns += 2 * S;
    s1.sem = sets;
    s1.processes = procs
        .iter()
        .cloned()
        .map(|mut p| {
            p.waits = Some(Vec::new());
            p
        })
        .collect();
    m.feed_snapshot(&s1);
    m.feed_kernel(
        MONO + 3 * S,
        KernelSample {
            holds,
            ..Default::default()
        },
    );
    let mut s2 = s1.clone();
    s2.mono_ns = MONO + 4 * S;
    s2.unix_ns += 2 * S;
    s2.processes = procs
        .into_iter()
        .map(|mut p| {
            for w in p.waits.iter_mut().flatten() {
                w.asleep_since_ns = Some(MONO + 3 * S);
            }
            p
        })
        .collect();
    m.feed_snapshot(&s2);
    m.feed_now(MONO + 34 * S);
    m
}

pub(super) fn waiting(pid: u32, waits: Vec<TaskWait>) -> ProcRead {
    let mut p = proc_(pid, NOW - 100);
    p.threads = waits.len().max(1) as u32;
    p.waits = Some(waits);
    p
}

/// Sets 30 and 31, binary locks: 901 holds 30 and waits on 31, 902 holds 31 and waits on 30.
fn ab_ba_sets() -> Vec<SemSetRead> {
    vec![
        sem(30, &[(0, 1, 901)], NOW - 30),
        sem(31, &[(0, 1, 902)], NOW - 30),
    ]
}

#[test]
fn ab_ba_is_a_deadlock_when_the_probe_saw_the_locks_taken() {
    let m = watched(
        ab_ba_sets(),
        vec![
            waiting(901, vec![sem_wait(901, 31, 0, -1)]),
            waiting(902, vec![sem_wait(902, 30, 0, -1)]),
        ],
        vec![hold(30, 0, 901, None, 3, 2), hold(31, 0, 902, None, 5, 4)],
    );
    let f = analyze(&m, &Config::default());
    let d = deadlocks_of(&f);
    assert_eq!(d.len(), 1, "{f:#?}");
    let What::Deadlock { pids, tids, cycle } = &d[0].what else {
        unreachable!()
    };
    assert_eq!(
        (pids.as_slice(), tids.as_slice()),
        (&[901, 902][..], &[901, 902][..])
    );
    assert_eq!(
        cycle
            .iter()
            .map(|c| (c.tid, c.id, c.semnum, c.sem_op, c.by.clone(), c.role))
            .collect::<Vec<_>>(),
        [
            (901, 31, Some(0), Some(-1), vec![902], StepRole::Holder),
            (902, 30, Some(0), Some(-1), vec![901], StepRole::Holder)
        ]
    );
    assert!(d[0].reason.contains("held by pid 902"), "{}", d[0].reason);
    // The holders are the lock's, shown as such.
    let h = m.holders(m.sem_set(30).unwrap().id, 0).unwrap();
    assert_eq!(
        (h.pids.as_slice(), h.source, h.verb()),
        (&[901][..], HolderSource::Events, "held by")
    );
    // Proven: no stalled finding beside it.
    assert!(!kinds(&f).contains(&"stalled"), "{f:#?}");
}

#[test]
fn without_the_probes_history_ab_ba_is_stalled_not_a_deadlock() {
    // The same situation seen by a snapshot alone: the holders are GETPID guesses, shown as
    // guesses, never concluded on.
    let mut s = snap();
    s.sem = ab_ba_sets();
    let mut a = waiting(901, vec![sem_wait(901, 31, 0, -1)]);
    let mut b = waiting(902, vec![sem_wait(902, 30, 0, -1)]);
    for p in [&mut a, &mut b] {
        p.waits.as_mut().unwrap()[0].asleep_since_ns = Some(MONO - 20 * S);
    }
    s.processes.extend([a, b]);
    let m = model(&s);
    let f = run(&s);
    assert!(deadlocks_of(&f).is_empty(), "{f:#?}");
    let stalled: Vec<_> = f
        .iter()
        .filter_map(|f| match &f.what {
            What::Stalled {
                id, tids, waited_s, ..
            } => Some((*id, tids.clone(), waited_s.round() as i64)),
            _ => None,
        })
        .collect();
    assert_eq!(
        stalled,
        [(30, vec![902], 20), (31, vec![901], 20)],
        "{f:#?}"
    );
    let h = m.holders(m.sem_set(30).unwrap().id, 0).unwrap();
    assert_eq!(
        (h.source, h.verb()),
        (HolderSource::LastPidGuess, "last operated by")
    );
    // With the probe running but blind to how the locks were taken (they were taken before
    // it started): the same.
    let mut m = model(&s);
    m.feed_kernel(MONO + S, KernelSample::default());
    let f = analyze(&m, &Config::default());
    assert!(deadlocks_of(&f).is_empty(), "{f:#?}");
    // The holder shown is still only a guess.
    let h = m.holders(m.sem_set(30).unwrap().id, 0).unwrap();
    assert_eq!(h.source, HolderSource::LastPidGuess);
}

#[test]
fn a_thread_waiting_on_what_its_own_process_holds_alone_is_a_self_deadlock() {
    let m = watched(
        vec![sem(40, &[(0, 1, 950)], NOW - 5)],
        vec![waiting(950, vec![sem_wait(950, 40, 0, -1)])],
        vec![hold(40, 0, 950, None, 2, 1)],
    );
    let f = analyze(&m, &Config::default());
    let d = deadlocks_of(&f);
    assert_eq!(d.len(), 1, "{f:#?}");
    let What::Deadlock { tids, cycle, .. } = &d[0].what else {
        unreachable!()
    };
    assert_eq!(tids, &[950]);
    assert_eq!(cycle[0].by, [950]);
    // With another thread free to give it back, it is not proven.
    let mut p = waiting(950, vec![sem_wait(950, 40, 0, -1)]);
    p.threads = 2;
    let m = watched(
        vec![sem(40, &[(0, 1, 950)], NOW - 5)],
        vec![p],
        vec![hold(40, 0, 950, None, 2, 1)],
    );
    assert!(deadlocks_of(&analyze(&m, &Config::default())).is_empty());
}

#[test]
fn ab_ba_between_threads_of_one_process_is_a_deadlock_of_those_threads() {
    // Process 960 has three threads: 961 holds A (50) and waits on B (51), 962 the other
    // way round; its main thread joins them (not blocked in IPC). The holds are per thread.
    let mut p = waiting(
        960,
        vec![sem_wait(961, 51, 0, -1), sem_wait(962, 50, 0, -1)],
    );
    p.threads = 3;
    let m = watched(
        vec![
            sem(50, &[(0, 1, 960)], NOW - 5),
            sem(51, &[(0, 1, 960)], NOW - 5),
        ],
        vec![p.clone()],
        vec![
            hold(50, 0, 960, Some(961), 2, 1),
            hold(51, 0, 960, Some(962), 2, 1),
        ],
    );
    let f = analyze(&m, &Config::default());
    let d = deadlocks_of(&f);
    assert_eq!(d.len(), 1, "{f:#?}");
    let What::Deadlock { pids, tids, .. } = &d[0].what else {
        unreachable!()
    };
    assert_eq!(
        (pids.as_slice(), tids.as_slice()),
        (&[960][..], &[961, 962][..])
    );
    // Known per process only, the free main thread could give either back: not proven.
    let m = watched(
        vec![
            sem(50, &[(0, 1, 960)], NOW - 5),
            sem(51, &[(0, 1, 960)], NOW - 5),
        ],
        vec![p],
        vec![hold(50, 0, 960, None, 2, 1), hold(51, 0, 960, None, 2, 1)],
    );
    assert!(deadlocks_of(&analyze(&m, &Config::default())).is_empty());
}

#[test]
fn three_way_cycle_and_the_blocking_op_of_many() {
    let procs: Vec<ProcRead> = [(1001u32, 1u16), (1002, 2), (1003, 0)]
        .into_iter()
        .map(|(pid, num)| {
            // Each semop has an op that can proceed (on semaphore 3) before the blocking one.
            waiting(
                pid,
                vec![TaskWait {
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
                }],
            )
        })
        .collect();
    let m = watched(
        vec![sem(
            40,
            &[(0, 1, 1001), (0, 1, 1002), (0, 1, 1003), (5, 0, 1)],
            NOW - 5,
        )],
        procs,
        vec![
            hold(40, 0, 1001, None, 2, 1),
            hold(40, 1, 1002, None, 2, 1),
            hold(40, 2, 1003, None, 2, 1),
        ],
    );
    let f = analyze(&m, &Config::default());
    let d = deadlocks_of(&f);
    assert_eq!(d.len(), 1, "{f:#?}");
    let What::Deadlock { pids, .. } = &d[0].what else {
        unreachable!()
    };
    assert_eq!(pids, &[1001, 1002, 1003]);
}

#[test]
fn a_worker_pool_is_no_deadlock_and_without_its_producer_its_workers_are_stuck() {
    // Set 60's semaphore 0 counts jobs: the producer 1200 posts, workers 1201 and 1202 take
    // (and have consumed jobs: they "hold" by the old rule) and both wait for more.
    let workers = || {
        vec![
            waiting(1201, vec![sem_wait(1201, 60, 0, -1)]),
            waiting(1202, vec![sem_wait(1202, 60, 0, -1)]),
        ]
    };
    let rows = vec![
        hold(60, 0, 1200, None, 0, 40),
        hold(60, 0, 1201, None, 21, 0),
        hold(60, 0, 1202, None, 19, 0),
    ];
    let mut procs = workers();
    procs.push(proc_(1200, NOW - 100));
    let m = watched(vec![sem(60, &[(0, 2, 1200)], NOW - 5)], procs, rows.clone());
    let f = analyze(&m, &Config::default());
    assert!(deadlocks_of(&f).is_empty(), "{f:#?}");
    assert!(
        !kinds(&f).contains(&"stuck") && !kinds(&f).contains(&"stalled"),
        "{f:#?}"
    );
    let h = m.holders(m.sem_set(60).unwrap().id, 0).unwrap();
    assert_eq!((h.pids.as_slice(), h.verb()), (&[1200][..], "raised by"));

    // The producer gone: nobody alive can post; the workers are stuck, not deadlocked.
    let m = watched(vec![sem(60, &[(0, 2, 1200)], NOW - 5)], workers(), rows);
    let f = analyze(&m, &Config::default());
    assert!(deadlocks_of(&f).is_empty(), "{f:#?}");
    let stuck: Vec<u32> = f
        .iter()
        .filter_map(|f| match f.what {
            What::Stuck { tid, .. } => Some(tid),
            _ => None,
        })
        .collect();
    assert_eq!(stuck, [1201, 1202], "{f:#?}");
    let why = &f.iter().find(|f| f.what.kind() == "stuck").unwrap().reason;
    assert!(why.contains("raised it (pid 1200) is gone"), "{why}");
}

#[test]
fn a_counting_pool_with_a_running_holder_is_no_deadlock() {
    // Value 0 of 2: 1301 holds a unit and works (runs); 1302 holds one and waits for a
    // second; 1303 waits. An OR-wait with a running holder.
    let m = watched(
        vec![sem(70, &[(0, 2, 1301)], NOW - 5)],
        vec![
            proc_(1301, NOW - 100),
            waiting(1302, vec![sem_wait(1302, 70, 0, -1)]),
            waiting(1303, vec![sem_wait(1303, 70, 0, -1)]),
        ],
        vec![
            hold(70, 0, 1301, None, 5, 4),
            hold(70, 0, 1302, None, 7, 6),
            hold(70, 0, 1303, None, 3, 3),
        ],
    );
    let f = analyze(&m, &Config::default());
    assert!(deadlocks_of(&f).is_empty(), "{f:#?}");
    assert!(!kinds(&f).contains(&"stuck"), "{f:#?}");
    // Every holder named.
    let h = m.holders(m.sem_set(70).unwrap().id, 0).unwrap();
    assert_eq!(h.pids, [1301, 1302]);
}

#[test]
fn a_lock_whose_holder_exited_without_undo_leaves_its_waiter_stuck() {
    let mut m = watched(
        vec![sem(80, &[(0, 1, 1401)], NOW - 5)],
        vec![
            proc_(1401, NOW - 100),
            waiting(1402, vec![sem_wait(1402, 80, 0, -1)]),
        ],
        vec![hold(80, 0, 1401, None, 2, 1)],
    );
    assert!(analyze(&m, &Config::default())
        .iter()
        .all(|f| !matches!(f.what, What::Stuck { .. })));
    // 1401 exits (a snapshot without it), and the kernel's row goes with it.
    let mut s = snap();
    s.mono_ns = MONO + 40 * S;
    s.unix_ns += 40 * S;
    s.sem = vec![sem(80, &[(0, 1, 1401)], NOW - 5)];
    let mut w = waiting(1402, vec![sem_wait(1402, 80, 0, -1)]);
    w.waits.as_mut().unwrap()[0].asleep_since_ns = Some(MONO + 3 * S);
    s.processes = vec![w];
    m.feed_snapshot(&s);
    m.feed_kernel(MONO + 41 * S, KernelSample::default());
    let f = analyze(&m, &Config::default());
    let stuck: Vec<&Finding> = f
        .iter()
        .filter(|f| matches!(f.what, What::Stuck { .. }))
        .collect();
    assert_eq!(stuck.len(), 1, "{f:#?}");
    assert!(
        stuck[0].reason.contains("pid 1401 exited holding 1 unit"),
        "{}",
        stuck[0].reason
    );
    assert!(deadlocks_of(&f).is_empty());
}

#[test]
fn deadlocks_from_every_call_as_events() {
    // Without kernel samples (every call sent), the holds come from the semops.
    let mut s = snap();
    s.processes
        .extend([proc_(1101, NOW - 100), proc_(1102, NOW - 100)]);
    let mut m = model(&s);
    let t = MONO + S;
    // The sets appear after the probe started.
    m.feed_now(t);
    let mut s2 = s.clone();
    s2.mono_ns = t + 5;
    s2.sem.push(sem(50, &[(0, 1, 1)], NOW - 5));
    s2.sem.push(sem(51, &[(0, 1, 1)], NOW - 5));
    m.feed_event(&ev(1101, t + 6, Some(t + 7), semop(50, 0, 1), Some(0)));
    m.feed_snapshot(&s2);
    // A round that went well each (taken and given back: locks), then each takes its own.
    for (pid, set) in [(1101, 50), (1102, 51)] {
        m.feed_event(&ev(pid, t + 8, Some(t + 8), semop(set, 0, -1), Some(0)));
        m.feed_event(&ev(pid, t + 9, Some(t + 9), semop(set, 0, 1), Some(0)));
    }
    m.feed_event(&ev(1101, t + 10, Some(t + 11), semop(50, 0, -1), Some(0)));
    m.feed_event(&ev(1102, t + 10, Some(t + 11), semop(51, 0, -1), Some(0)));
    m.feed_event(&ev(1101, t + 100, None, semop(51, 0, -1), None));
    m.feed_event(&ev(1102, t + 100, None, semop(50, 0, -1), None));
    assert!(m.waits().all(|w| w.source == Source::Events));
    let h = m.holders(m.sem_set(50).unwrap().id, 0).unwrap();
    assert_eq!(
        (h.pids.as_slice(), h.source),
        (&[1101][..], HolderSource::Events)
    );
    m.feed_now(t + 100 + 30 * S);
    let f = analyze(&m, &Config::default());
    assert_eq!(deadlocks_of(&f).len(), 1, "{f:#?}");
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

    // 1101 gives up (EINTR), then releases its semaphore: no deadlock.
    m.feed_event(&ev(
        1101,
        t + 100,
        Some(t + 200),
        semop(51, 0, -1),
        Some(-4),
    ));
    m.feed_event(&ev(1101, t + 300, Some(t + 310), semop(50, 0, 1), Some(0)));
    assert_eq!(m.waits().count(), 1);
    let f = analyze(&m, &Config::default());
    assert!(deadlocks_of(&f).is_empty(), "{f:#?}");
}

#[test]
fn a_guessed_holder_that_waits_on_it_is_no_holder() {
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

/// A contender of a lock, seen waiting by a snapshot stamped just before a kernel sample that
/// shows it holding (it took the lock, the sample read it, it gave it back and waits again —
/// the snapshot read the process after its stamp): no self-deadlock until a later snapshot
/// bounds when the wait began; then, still holding by the kernel's next count, it is one.
#[test]
fn a_contender_seen_waiting_by_a_snapshot_stamped_before_the_holds_is_not_its_own_holder() {
    let base = snap();
    let mut m = Model::new();
    m.feed_snapshot(&base);
    m.feed_kernel(MONO + S, KernelSample::default());
    let mut s1 = base.clone();
    s1.mono_ns = MONO + 2 * S;
    s1.unix_ns += 2 * S;
    s1.sem = vec![sem(40, &[(0, 1, 950)], NOW - 5)];
    let mut p = waiting(950, Vec::new());
    s1.processes = vec![p.clone()];
    m.feed_snapshot(&s1);
    let held = |at: u64| KernelSample {
        holds: vec![Hold {
            last_ns: at,
            ..hold(40, 0, 950, None, 2, 1)
        }],
        ..Default::default()
    };
    let ms = 1_000_000;
    // The lock taken at 3 s - 10 ms; the sample stamped at 3 s (before it was read).
    m.feed_kernel(MONO + 3 * S, held(MONO + 3 * S - 10 * ms));
    // The snapshot stamped at 3 s - 1 ms, written after: it read 950 asleep since 3.03 s.
    let mut s2 = s1.clone();
    s2.mono_ns = MONO + 3 * S - ms;
    let mut w = sem_wait(950, 40, 0, -1);
    w.asleep_since_ns = Some(MONO + 3 * S + 30 * ms);
    p.waits = Some(vec![w.clone()]);
    s2.processes = vec![p.clone()];
    m.feed_snapshot(&s2);
    m.feed_now(MONO + 3 * S + 50 * ms);
    let f = analyze(&m, &Config::default());
    assert!(deadlocks_of(&f).is_empty(), "{f:#?}");
    // Seen still waiting at 4 s, and the kernel's count at 5 s still has it holding, with no
    // operation since: a self-deadlock, proven.
    let mut s3 = s2.clone();
    s3.mono_ns = MONO + 4 * S;
    m.feed_snapshot(&s3);
    m.feed_kernel(MONO + 5 * S, held(MONO + 3 * S - 10 * ms));
    m.feed_now(MONO + 6 * S);
    let f = analyze(&m, &Config::default());
    assert_eq!(deadlocks_of(&f).len(), 1, "{f:#?}");
}
