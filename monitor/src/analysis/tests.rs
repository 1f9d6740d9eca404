//! Fixture tests: every rule, with the cases that must be flagged and those that must not.
//! Snapshots are built by hand (as the readers would return them) and fed to the model.
use super::*;
use crate::{
    event::{Args, Event, Flags},
    fixtures::{self, sem_wait, semop, Feed, QueueAges, MONO, NOW, NS, ROOT, S},
    model::{HolderSource, Model, Source},
    snapshot::{
        sysvipc::SHM_DEST, MapAttach, MsgRead, ProcRead, RawSop, SemSetRead, ShmRow, Snapshot,
        TaskWait, WaitCall,
    },
};

// This suite's fixtures: objects owned by root with key 0, events from a task named `t`.

fn snap() -> Snapshot {
    fixtures::snapshot(MONO, u64::MAX / 2, None)
}

/// A live process started at unix second `start`.
fn proc_(pid: u32, start: i64) -> ProcRead {
    fixtures::process(pid, &format!("p{pid}"), None, start)
}

fn shm(shmid: i32, cpid: u32, nattch: u64, ctime: i64) -> ShmRow {
    fixtures::shm(shmid, 0, 8192, cpid, nattch, ctime, ROOT)
}

fn sem(semid: i32, values: &[(i32, i32, u32)], otime: i64) -> SemSetRead {
    fixtures::sem(semid, 0, 0o600, ROOT, values, otime, NOW - 100_000)
}

fn msg(msqid: i32, qnum: u64, lspid: u32, lrpid: u32) -> MsgRead {
    let ages = QueueAges {
        sent: 50,
        received: 40,
        changed: 100,
    };
    fixtures::msg(msqid, 0, qnum, qnum * 10, (lspid, lrpid), ROOT, ages)
}

fn model(s: &Snapshot) -> Model {
    let mut m = Model::new();
    m.feed_snapshot(s);
    m
}

fn run(s: &Snapshot) -> Vec<Finding> {
    analyze(&model(s), &Config::default())
}

fn leaks_of(f: &[Finding]) -> Vec<(IpcKind, i32)> {
    f.iter()
        .filter_map(|f| match f.what {
            What::Leak { ipc, id } => Some((ipc, id)),
            _ => None,
        })
        .collect()
}

fn reason_of(f: &[Finding], ipc: IpcKind, id: i32) -> String {
    f.iter()
        .find(|f| f.what == What::Leak { ipc, id })
        .map(|f| f.reason.clone())
        .unwrap_or_default()
}

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

#[test]
fn sem_leaks_and_not() {
    let mut s = snap();
    let old = NOW - 3600;
    // 10: idle for an hour, its users gone, no waiters → leak.
    s.sem.push(sem(10, &[(1, 0, 600), (0, 0, 0)], old));
    // 11: a live process waits on it → not (even though idle and its last user is gone).
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
    // 15: last user's pid reused by a process started after the last semop → leak.
    s.sem.push(sem(15, &[(1, 0, 604)], old));
    s.processes.push(proc_(604, NOW - 60));

    let f = run(&s);
    assert_eq!(leaks_of(&f), [(IpcKind::Sem, 10), (IpcKind::Sem, 15)]);
    let r = reason_of(&f, IpcKind::Sem, 10);
    assert!(
        r.contains("unused for 3600 s") && r.contains("(600) are gone"),
        "{r}"
    );
    assert!(model(&s).sem_set(14).unwrap().semaphores.is_none());
}

#[test]
fn msg_leaks_and_not() {
    let mut s = snap();
    // 20: messages, sender gone, never received → leak.
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
    }]);
    s.processes.push(r);
    // 24: empty and everyone gone → not a leak (nothing held).
    s.msg.push(msg(24, 0, 807, 808));

    let f = run(&s);
    assert_eq!(leaks_of(&f), [(IpcKind::Msg, 20)]);
    assert!(reason_of(&f, IpcKind::Msg, 20).contains("last sender (pid 800) is gone"));
    let m = model(&s);
    assert_eq!(m.waits().count(), 1);
    assert_eq!(m.waits().next().unwrap().on.kind(), "msgrcv");
}

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

fn ev(pid: u32, start: u64, end: Option<u64>, args: Args, ret: Option<i64>) -> Event {
    fixtures::ev(pid, "t", ROOT, start, end, args, ret)
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
fn long_waits_without_the_probe_need_two_snapshots() {
    let mut s = snap();
    s.sem.push(sem(60, &[(0, 1, 1200)], NOW - 5));
    let mut p = proc_(1201, NOW - 100);
    p.waits = Some(vec![sem_wait(1201, 60, 0, -1)]);
    s.processes.extend([p, proc_(1200, NOW - 100)]);
    let mut m = model(&s);
    let long = |m: &Model| {
        analyze(m, &Config::default())
            .into_iter()
            .filter(|f| matches!(f.what, What::LongWait { .. }))
            .collect::<Vec<_>>()
    };
    assert!(long(&m).is_empty());
    assert_eq!(m.waits().next().unwrap().since_s(m.now_mono_ns()), None);
    let mut s2 = s.clone();
    s2.mono_ns += 20 * S;
    s2.unix_ns += 20 * S;
    m.feed_snapshot(&s2);
    let l = long(&m);
    assert_eq!(l.len(), 1);
    assert!(matches!(
        l[0].what,
        What::LongWait {
            pid: 1201,
            exact: false,
            ..
        }
    ));
    assert!(l[0].reason.contains("at least 20.0 s"), "{}", l[0].reason);
}

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

#[test]
fn limits_nearly_reached() {
    let mut s = snap();
    s.limits.shmmni = Some(10);
    s.limits.msgmni = Some(100);
    s.processes.push(proc_(1400, NOW - 1000));
    for i in 0..9 {
        let mut r = shm(100 + i, 1400, 0, NOW - 10);
        r.size = 4096 * 3;
        s.shm.push(r);
    }
    for i in 0..50 {
        s.msg.push(msg(200 + i, 0, 0, 0));
    }
    let f = run(&s);
    let l: Vec<_> = f
        .iter()
        .filter_map(|f| match f.what {
            What::LimitNear { limit, used, max } => Some((limit, used, max)),
            _ => None,
        })
        .collect();
    assert_eq!(l, [("shmmni", 9, 10)]);
    let usage = limit_usage(&model(&s));
    let pages = usage.iter().find(|u| u.limit == "shmall").unwrap();
    assert_eq!(pages.used, 27);
}

#[test]
fn shm_events_attach_detach_remove() {
    let mut s = snap();
    s.shm.push(shm(300, 1500, 0, NOW - 10));
    s.processes.push(proc_(1500, NOW - 100));
    let mut m = model(&s);
    let t = MONO + S;
    let at = |shmid| Args::Shmat {
        shmid,
        shmaddr: 0,
        flags: Flags::new(0, crate::event::SHMAT_FLAGS),
    };
    m.feed_event(&ev(1500, t, Some(t + 1), at(300), Some(0x7000_0000)));
    assert_eq!(m.segment(300).unwrap().attached_pids(), [1500]);
    assert_eq!(m.segment(300).unwrap().nattch, 1);
    assert_eq!(m.process(1500).unwrap().attached_shmids(), [300]);
    m.feed_event(&ev(
        1500,
        t + 2,
        Some(t + 3),
        Args::Shmctl {
            shmid: 300,
            cmd: crate::event::Cmd {
                value: 0,
                name: Some("IPC_RMID"),
            },
        },
        Some(0),
    ));
    assert!(m.segment(300).unwrap().marked_for_destroy);
    m.feed_event(&ev(
        1500,
        t + 4,
        Some(t + 5),
        Args::Shmdt {
            shmaddr: 0x7000_0000,
        },
        Some(0),
    ));
    assert!(m.segment(300).is_none());
    assert!(m.process(1500).unwrap().attached_shmids().is_empty());
    // The account: the shmdt counts on the segment it detached (found by its address).
    let a = m.account();
    assert_eq!(a.process(1500).unwrap().calls, 3);
    assert_eq!(a.total().calls, 3);
    let shm = crate::model::ObjId { ns: NS, id: 300 };
    assert_eq!(a.object(crate::model::ObjKind::Shm, shm).unwrap().calls, 3);
}

#[test]
fn processes_vanish_and_other_namespaces_are_counted() {
    let mut s = snap();
    s.processes.push(proc_(1600, NOW - 100));
    let mut other = proc_(1601, NOW - 100);
    other.ipc_ns = Some(NS + 1);
    other.attachments = None;
    let mut other2 = proc_(1602, NOW - 100);
    other2.ipc_ns = Some(NS + 1);
    s.processes.extend([other, other2]);
    let mut m = model(&s);
    // Every namespace by default; one when the scope says so, the others counted.
    assert_eq!(m.processes().count(), 3);
    m.set_scope(crate::model::Scope::Ns(NS));
    assert_eq!(m.processes().count(), 1);
    let o = m.other_namespaces();
    assert_eq!((o.len(), o[0].processes), (1, 2));
    let mut s2 = s.clone();
    s2.processes.truncate(1);
    let mut m2 = m.clone();
    m2.feed_snapshot(&s2);
    assert!(m2.other_namespaces().is_empty());
}

#[test]
fn json_has_the_issue_fields() {
    let mut s = snap();
    s.shm.push(shm(1, 500, 0, NOW - 10));
    s.sem.push(sem(30, &[(0, 1, 901)], NOW - 5));
    s.msg.push(msg(20, 3, 800, 0));
    let mut a = proc_(901, NOW - 100);
    a.waits = Some(vec![sem_wait(901, 30, 0, -1)]);
    s.processes.push(a);
    let m = model(&s);
    let f = analyze(&m, &Config::default());
    let doc = serde_json::to_value(crate::cmd::snapshot::to_json(&m, &f)).unwrap();
    assert_eq!(doc["schema_version"], 1);
    let has = |v: &serde_json::Value, keys: &[&str]| {
        for k in keys {
            assert!(v.get(k).is_some(), "no {k} in {v}");
        }
    };
    has(
        &doc["shm_segments"][0],
        &[
            "shmid",
            "key",
            "size",
            "perms",
            "owner_uid",
            "nattch",
            "attached_pids",
            "creator_pid",
            "creator_alive",
            "last_pid",
            "marked_for_destroy",
            "hugetlb",
        ],
    );
    assert_eq!(doc["shm_segments"][0]["perms"], "0600");
    has(
        &doc["semaphore_sets"][0],
        &["semid", "key", "nsems", "perms", "owner_uid", "semaphores"],
    );
    has(
        &doc["semaphore_sets"][0]["semaphores"][0],
        &["semnum", "value", "ncnt", "zcnt", "last_pid"],
    );
    has(
        &doc["message_queues"][0],
        &[
            "msqid",
            "key",
            "qnum",
            "qbytes",
            "last_send_pid",
            "last_recv_pid",
        ],
    );
    has(
        &doc["processes"][0],
        &["pid", "comm", "uid", "attached_shmids"],
    );
    has(
        &doc["waits"][0],
        &["pid", "kind", "semid", "semnum", "sem_op", "since_s"],
    );
    assert_eq!(doc["waits"][0]["kind"], "sem");
    assert!(doc["waits"][0]["since_s"].is_null());
    has(&doc["leaks"][0], &["kind", "id", "reason"]);
    assert_eq!(doc["leaks"][0]["kind"], "shm");
    has(&doc, &["deadlocks", "limits", "ipc_namespace", "unknown"]);
    // The tables render too.
    let t = crate::cmd::snapshot::tables(&m, &f);
    assert!(t.contains("leak shm 1"), "{t}");
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

#[test]
fn unknown_pids_are_not_named_none_or_zero() {
    // A queue with messages whose last receiver pid is 0 (nothing ever received).
    let mut s = snap();
    s.msg.push(msg(60, 3, 777, 0));
    let f = run(&s);
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
