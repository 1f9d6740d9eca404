//! Semaphores used before they were initialised, and the patterns that are not that.
use super::*;

#[test]
fn used_before_initialised() {
    let mut s = snap();
    // 70: never a semop, never SETVAL, a waiter → flagged.
    s.sem.push(sem(70, &[(0, 1, 0)], 0));
    let mut p = proc_(1301, NOW - 100);
    p.waits = Some(vec![sem_wait(1301, 70, 0, -1)]);
    s.processes.push(p);
    // 71: never a semop but nobody waits → not.
    s.sem.push(sem(71, &[(0, 0, 0)], 0));
    // 72: initialised (otime set) with a waiter → not.
    s.sem.push(sem(72, &[(0, 1, 1302)], NOW - 5));
    s.processes.push(proc_(1302, NOW - 100));
    let f = run(&s);
    let u: Vec<_> = f
        .iter()
        .filter_map(|f| match &f.what {
            What::UsedBeforeInit { semid, waiters } => Some((*semid, waiters.clone(), &f.reason)),
            _ => None,
        })
        .collect();
    assert_eq!(u.len(), 1, "{f:#?}");
    assert_eq!((u[0].0, u[0].1.as_slice()), (70, &[1301][..]));
    assert!(u[0].2.contains("no SETVAL/SETALL"));
}

fn setval(semid: i32) -> Args {
    Args::Semctl {
        semid,
        semnum: 0,
        cmd: crate::event::Cmd {
            value: crate::sysv::semcmd::SETVAL,
            name: Some("SETVAL"),
        },
        arg: 0,
    }
}

fn used_before_init_of(m: &Model) -> Vec<i32> {
    analyze(m, &Config::default())
        .iter()
        .filter_map(|f| match &f.what {
            What::UsedBeforeInit { semid, .. } => Some(*semid),
            _ => None,
        })
        .collect()
}

#[test]
fn setval_then_wait_is_not_used_before_init() {
    // The python3-sysv-ipc pattern: create, SETVAL 0, others wait for a signal.
    let mut s = snap();
    // 80: SETVAL seen by /proc (sempid set by SETVAL), otime 0, a waiter → not.
    s.sem.push(sem(80, &[(0, 1, 1310)], 0));
    let mut p = proc_(1311, NOW - 100);
    p.waits = Some(vec![sem_wait(1311, 80, 0, -1)]);
    s.processes.extend([p, proc_(1310, NOW - 100)]);
    // 81: the snapshot read sempid 0, then the probe saw SETVAL → not.
    s.sem.push(sem(81, &[(0, 1, 0)], 0));
    let mut p = proc_(1312, NOW - 100);
    p.waits = Some(vec![sem_wait(1312, 81, 0, -1)]);
    s.processes.push(p);
    // 82: nothing set it, nothing seen: flagged (the control case).
    s.sem.push(sem(82, &[(0, 1, 0)], 0));
    let mut p = proc_(1313, NOW - 100);
    p.waits = Some(vec![sem_wait(1313, 82, 0, -1)]);
    s.processes.push(p);
    // 83: values unknown (semctl refused): nothing can be said.
    let mut r = sem(83, &[(0, 1, 0)], 0);
    r.values = Err(crate::snapshot::semvals::ReadFail::Denied);
    s.sem.push(r);
    let mut p = proc_(1314, NOW - 100);
    p.waits = Some(vec![sem_wait(1314, 83, 0, -1)]);
    s.processes.push(p);
    let mut m = model(&s);
    assert_eq!(used_before_init_of(&m), [81, 82]);
    let t = MONO + S;
    m.feed_event(&ev(1310, t, Some(t + 10), setval(81), Some(0)));
    assert_eq!(used_before_init_of(&m), [82]);
}

#[test]
fn a_changed_ctime_after_the_seen_creation_is_not_used_before_init() {
    let mut s = snap();
    s.processes.push(proc_(1320, NOW - 100));
    let mut m = model(&s);
    let t = MONO + S;
    let get = Args::Semget {
        key: crate::event::Key(0),
        nsems: 1,
        flags: Flags::new(0o1000, crate::event::GET_FLAGS),
        mode: crate::event::Mode(0o600),
    };
    m.feed_event(&ev(1320, t, Some(t + 10), get, Some(90)));
    // The next snapshot: ctime 30 s after the creation (a control call changed it, which the
    // probe missed), sempid 0, otime 0, a waiter → not flagged.
    let mut s2 = fixtures::snapshot(MONO + 40 * S, u64::MAX / 2, None);
    let mut r = fixtures::sem(90, 0, 0o600, ROOT, &[(0, 1, 0)], 0, NOW + 31);
    r.row.ctime = NOW + 31;
    s2.sem.push(r);
    let mut p = proc_(1321, NOW - 100);
    p.waits = Some(vec![sem_wait(1321, 90, 0, -1)]);
    s2.processes.extend([p, proc_(1320, NOW - 100)]);
    m.feed_snapshot(&s2);
    assert!(used_before_init_of(&m).is_empty());
}
