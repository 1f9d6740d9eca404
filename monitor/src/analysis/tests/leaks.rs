//! Leaks: segments, sets and queues nobody uses any more, and those that must not be called so.
use super::*;

#[test]
fn shm_leaks_and_not() {
    let mut s = snap();
    // 1: creator gone, nattch 0 → leak.
    s.shm.push(shm(1, 500, 0, NOW - 10));
    // 2: still attached by a live process → not.
    s.shm.push(shm(2, 501, 1, NOW - 10));
    let mut p = proc_(700, NOW - 1000);
    p.attachments = Some(vec![MapAttach {
        shmid: 2,
        start: 0x7f00_0000_0000,
        end: 0x7f00_0000_2000,
        dev: (0, 1),
        writable: true,
    }]);
    s.processes.push(p);
    // 3: creator alive (started before the segment) → not.
    s.shm.push(shm(3, 502, 0, NOW - 10));
    s.processes.push(proc_(502, NOW - 20));
    // 4: marked for destruction → not.
    let mut r = shm(4, 503, 0, NOW - 10);
    r.mode |= SHM_DEST;
    s.shm.push(r);
    // 5: the creator's pid now belongs to a process started after the segment → leak.
    s.shm.push(shm(5, 504, 0, NOW - 100));
    s.processes.push(proc_(504, NOW - 5));
    // 6: a zombie creator is gone → leak.
    s.shm.push(shm(6, 505, 0, NOW - 100));
    let mut z = proc_(505, NOW - 200);
    z.state = 'Z';
    s.processes.push(z);
    // 7: creator started within the same second as the segment (rounding) → alive, not.
    s.shm.push(shm(7, 506, 0, NOW - 10));
    s.processes.push(proc_(506, NOW - 10));

    let f = run(&s);
    assert_eq!(
        leaks_of(&f),
        [(IpcKind::Shm, 1), (IpcKind::Shm, 5), (IpcKind::Shm, 6)]
    );
    assert!(reason_of(&f, IpcKind::Shm, 1).contains("creator pid 500 is gone"));
    assert!(reason_of(&f, IpcKind::Shm, 5).contains("reused"));

    let m = model(&s);
    let seg = m.segment(2).unwrap();
    assert_eq!(seg.attached_pids(), [700]);
    assert!(seg.attachments_complete);
    assert_eq!(m.process(700).unwrap().attached_shmids(), [2]);
    assert!(m.segment(4).unwrap().marked_for_destroy);
}

/// A model of snapshot `s` in which the probe saw `made` create their objects first (before
/// the snapshot): (kind, id, creator pid, key).
fn made_by(s: &Snapshot, made: &[(IpcKind, i32, u32)]) -> Model {
    let mut m = Model::new();
    let t = MONO - 3700 * S;
    m.feed_snapshot(&fixtures::snapshot(t - S, u64::MAX / 2, None));
    for &(kind, id, pid) in made {
        let key = crate::event::Key(0);
        let flags = Flags::new(libc::IPC_CREAT as u32, crate::event::GET_FLAGS);
        let mode = crate::event::Mode(0o600);
        let args = match kind {
            IpcKind::Sem => Args::Semget {
                key,
                nsems: 1,
                flags,
                mode,
            },
            IpcKind::Msg => Args::Msgget { key, flags, mode },
            IpcKind::Shm => Args::Shmget {
                key,
                size: 4096,
                flags,
                mode,
            },
        };
        m.feed_event(&ev(pid, t, Some(t + 1), args, Some(id as i64)));
    }
    m.feed_snapshot(s);
    m
}

#[test]
fn sem_leaks_and_not() {
    let mut s = snap();
    let old = NOW - 3600;
    // 10: made by 600 (gone), idle for an hour, no users, no waiters → leak.
    s.sem.push(sem(10, &[(1, 0, 600), (0, 0, 0)], old));
    // 11: a live process waits on it → not (even though idle and its creator is gone).
    s.sem.push(sem(11, &[(0, 1, 601)], old));
    let mut w = proc_(710, NOW - 7200);
    w.waits = Some(vec![sem_wait(710, 11, 0, -1)]);
    s.processes.push(w);
    // 12: used recently → not.
    s.sem.push(sem(12, &[(1, 0, 602)], NOW - 5));
    // 13: its last user is alive → not.
    s.sem.push(sem(13, &[(1, 0, 603)], old));
    s.processes.push(proc_(603, old - 10));
    // 14: values unknown (no permission) → never flagged.
    let mut u = sem(14, &[], old);
    u.values = Err(crate::snapshot::ReadFail::Denied);
    u.row.nsems = 2;
    s.sem.push(u);
    // 15: made by 604, whose pid now belongs to a process started since → leak.
    s.sem.push(sem(15, &[(1, 0, 605)], old));
    s.processes.push(proc_(604, NOW - 5));
    // 16: an idle daemon's set: its creator (alive) made it before ipctop → not.
    s.sem.push(sem(16, &[(1, 0, 606)], old));
    s.processes.push(proc_(606, NOW - 7200));
    // 17: made before ipctop by someone unknown, its users gone → not: no evidence.
    s.sem.push(sem(17, &[(1, 0, 607)], old));

    let made = [10, 11, 12, 13, 15].map(|id| (IpcKind::Sem, id, 600 + (id as u32 - 10).min(4)));
    let m = made_by(&s, &made);
    let f = analyze(&m, &Config::default());
    assert_eq!(
        leaks_of(&f),
        [(IpcKind::Sem, 10), (IpcKind::Sem, 15)],
        "{f:#?}"
    );
    let r = reason_of(&f, IpcKind::Sem, 10);
    assert!(r.contains("creator pid 600 is gone"), "{r}");
    assert!(reason_of(&f, IpcKind::Sem, 15).contains("reused"));
    assert!(m.sem_set(14).unwrap().semaphores.is_none());
}

#[test]
fn msg_leaks_and_not() {
    let mut s = snap();
    // 20: messages, creator and sender gone, never received → leak.
    s.msg.push(msg(20, 3, 800, 0));
    // 21: drained by a live reader → not.
    s.msg.push(msg(21, 0, 801, 802));
    s.processes.push(proc_(802, NOW - 1000));
    // 22: messages, but the receiver lives → not.
    s.msg.push(msg(22, 2, 803, 804));
    s.processes.push(proc_(804, NOW - 1000));
    // 23: messages of another type, a live reader waits in msgrcv → not.
    s.msg.push(msg(23, 1, 805, 0));
    let mut r = proc_(806, NOW - 1000);
    r.waits = Some(vec![TaskWait {
        tid: 806,
        call: WaitCall::Msgrcv {
            msqid: 23,
            msgsz: 64,
            msgtyp: 2,
        },
        wchan: None,
        asleep_since_ns: None,
    }]);
    s.processes.push(r);
    // 24: empty, left behind by processes that are all gone → a leak.
    s.msg.push(msg(24, 0, 807, 808));
    // 25: an idle daemon's queue (made before ipctop, its user alive) → not.
    s.msg.push(msg(25, 1, 809, 809));
    s.processes.push(proc_(809, NOW - 9000));
    // 26: made before ipctop by someone unknown, users gone → not: no evidence.
    s.msg.push(msg(26, 4, 810, 811));

    let made = [20, 21, 22, 23, 24].map(|id| (IpcKind::Msg, id, 800 + 2 * (id as u32 - 20)));
    let m = made_by(&s, &made);
    let f = analyze(&m, &Config::default());
    assert_eq!(leaks_of(&f), [(IpcKind::Msg, 20), (IpcKind::Msg, 24)]);
    assert!(reason_of(&f, IpcKind::Msg, 20).contains("last sender (pid 800) is gone"));
    assert!(reason_of(&f, IpcKind::Msg, 24).contains("0 messages"));
    assert_eq!(m.waits().count(), 1);
    assert_eq!(m.waits().next().unwrap().on.kind(), "msgrcv");
}

#[test]
fn unknown_pids_are_not_named_none_or_zero() {
    // A queue with messages whose last receiver pid is 0 (nothing ever received).
    let mut s = snap();
    s.msg.push(msg(60, 3, 777, 0));
    let m = made_by(&s, &[(IpcKind::Msg, 60, 776)]);
    let f = analyze(&m, &Config::default());
    let l: Vec<&Finding> = f
        .iter()
        .filter(|f| matches!(f.what, What::Leak { .. }))
        .collect();
    assert_eq!(l.len(), 1, "{f:#?}");
    assert!(
        l[0].reason.contains("nothing was ever received from it"),
        "{}",
        l[0].reason
    );
    assert!(!l[0].reason.contains("pid 0"), "{}", l[0].reason);
    assert!(!l[0].reason.contains("none"), "{}", l[0].reason);
}
