//! Robust and PI mutexes in the one wait-for graph: a waiter is released only by the owner
//! its mutex's word names, beside System V's holders — a cycle through both kinds is one
//! deadlock, and nothing is one when the owner runs, waits on something else, is not proven
//! (a plain mutex, a semaphore), or when the stamps do not bound the waits.
use super::deadlocks::{deadlocks_of, hold, waiting, watched};
use super::*;
use crate::{
    feed::{Stamped, Update},
    posix::{FutexWait, PosixSnapshot, SyncKind, WaitObject},
    sample::Hold,
};

/// The look's time (monotonic): after the kernel's count of the holds (`MONO + 3 s`) and
/// the snapshot that saw the System V waits asleep since then.
const LOOK: u64 = MONO + 4 * S;

/// A unix time on the fixtures' clock (`fixtures::snapshot`'s).
fn unix(mono: u64) -> u64 {
    NOW as u64 * S + mono - MONO
}

/// `tid` (its process's only thread) waiting in /dev/shm/lock at `offset`, on a word
/// that says `sync`, asleep since `asleep` (monotonic).
fn futex(tid: u32, offset: u64, sync: SyncKind, asleep: u64) -> FutexWait {
    FutexWait {
        pid: tid,
        tid,
        comm: format!("p{tid}"),
        ipc_ns: Some(NS),
        addr: 0x7f00_0000_0000 + offset,
        op: 0x86,
        val: 0,
        private: false,
        on: WaitObject::ShmFile {
            dev: 25,
            ino: 7,
            name: "lock".into(),
        },
        offset,
        word: None,
        sync,
        asleep_since_unix_ns: Some(unix(asleep)),
    }
}

fn robust(owner: u32) -> SyncKind {
    SyncKind::RobustMutex { owner: Some(owner) }
}

fn look(m: &mut Model, waits: Vec<FutexWait>) {
    m.apply(&Stamped {
        mono_ns: LOOK,
        update: Update::Posix(Box::new(PosixSnapshot {
            unix_ns: unix(LOOK),
            mono_ns: LOOK,
            futex_waits: waits,
            ..Default::default()
        })),
    });
    m.feed_now(MONO + 34 * S);
}

/// 901 holds set 30 (a binary lock the probe saw it take) and waits on a robust mutex owned
/// by `owner`; 902 waits on set 30 (and, when `902_on_31`, on set 31 held by 903, which runs).
fn mixed(sync: SyncKind, asleep: u64, b_on_31: bool) -> Model {
    mixed_with(sync, asleep, b_on_31, 0)
}

/// [`mixed`], 901's last operation on set 30 seen by the probe at `a_last_op` (0: unknown).
fn mixed_with(sync: SyncKind, asleep: u64, b_on_31: bool, a_last_op: u64) -> Model {
    let b = if b_on_31 {
        sem_wait(902, 31, 0, -1)
    } else {
        sem_wait(902, 30, 0, -1)
    };
    let mut m = watched(
        vec![
            sem(30, &[(0, 1, 901)], NOW - 30),
            sem(31, &[(0, 1, 903)], NOW - 30),
        ],
        vec![
            waiting(901, Vec::new()),
            waiting(902, vec![b]),
            waiting(903, Vec::new()),
        ],
        vec![
            Hold {
                last_ns: a_last_op,
                ..hold(30, 0, 901, None, 3, 2)
            },
            hold(31, 0, 903, None, 1, 0),
        ],
    );
    look(&mut m, vec![futex(901, 0x40, sync, asleep)]);
    m
}

fn deadlocks(m: &Model) -> Vec<Finding> {
    deadlocks_of(&analyze(m, &Config::default()))
        .into_iter()
        .cloned()
        .collect()
}

#[test]
fn a_cycle_through_a_semaphore_and_a_robust_mutex_is_one_deadlock() {
    let m = mixed(robust(902), MONO + 2 * S, false);
    let d = deadlocks(&m);
    assert_eq!(d.len(), 1, "{d:#?}");
    let What::Deadlock { pids, tids, cycle } = &d[0].what else {
        unreachable!()
    };
    assert_eq!(
        (pids.as_slice(), tids.as_slice()),
        (&[901, 902][..], &[901, 902][..])
    );
    assert_eq!(d[0].ipc_ns, NS);
    assert_eq!(
        cycle
            .iter()
            .map(|c| (c.tid, c.ipc, c.id, c.by.clone(), c.role))
            .collect::<Vec<_>>(),
        [
            (901, IpcKind::Shm, -1, vec![902], StepRole::Owner),
            (902, IpcKind::Sem, 30, vec![901], StepRole::Holder)
        ]
    );
    let mx = cycle[0].mutex.as_ref().expect("the mutex step");
    assert_eq!(
        (mx.kind, mx.object.as_str(), mx.offset, mx.owner_tid),
        ("robust", "/dev/shm/lock", 0x40, 902)
    );
    assert!(cycle[1].mutex.is_none());
    for want in [
        "pid 901 waits on the robust mutex at /dev/shm/lock+0x40 owned by tid 902 (p902)",
        "pid 902 waits on semaphore 0 of set 30 (sem_op -1) held by pid 901 (p901)",
        "the mutexes' owners from their words",
    ] {
        assert!(d[0].reason.contains(want), "{want}: {}", d[0].reason);
    }
    // The JSON says the mutex; a System V step says none.
    let j = serde_json::to_value(&d[0]).unwrap();
    assert_eq!(j["cycle"][0]["mutex"]["object"], "/dev/shm/lock");
    assert!(j["cycle"][1].get("mutex").is_none());
    // And the POSIX findings do not say it again.
    assert!(posix::findings(&m).iter().all(|f| f.kind != "deadlock"));
    // A PI mutex is as good a proof.
    let pi = mixed(SyncKind::PiMutex { owner: Some(902) }, MONO + 2 * S, false);
    let d = deadlocks(&pi);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(
        d[0].reason.contains("the PI mutex at /dev/shm/lock+0x40"),
        "{}",
        d[0].reason
    );
}

#[test]
fn no_deadlock_when_the_owner_runs() {
    // The owner, 903, is not blocked: it will unlock.
    let m = mixed(robust(903), MONO + 2 * S, false);
    assert!(deadlocks(&m).is_empty(), "{:#?}", deadlocks(&m));
}

#[test]
fn no_deadlock_when_the_owner_waits_on_something_else() {
    // 902 owns the mutex but waits on set 31, held by 903, which runs.
    let m = mixed(robust(902), MONO + 2 * S, true);
    assert!(deadlocks(&m).is_empty(), "{:#?}", deadlocks(&m));
}

#[test]
fn no_deadlock_when_the_owner_is_not_proven_by_the_word() {
    for sync in [
        SyncKind::Other,
        SyncKind::RobustMutex { owner: None },
        SyncKind::Semaphore {
            value: Some(0),
            nwaiters: Some(1),
        },
    ] {
        let m = mixed(sync, MONO + 2 * S, false);
        assert!(deadlocks(&m).is_empty(), "{sync:?}: {:#?}", deadlocks(&m));
    }
}

#[test]
fn no_deadlock_until_the_stamps_bound_the_waits() {
    // 901 asleep only after the kernel's count of the holds (MONO + 3 s): it may have given
    // set 30 back before it blocked.
    let m = mixed(robust(902), MONO + 3 * S + 1, false);
    assert!(deadlocks(&m).is_empty(), "{:#?}", deadlocks(&m));
    // Its sleep not known at all: not judged either.
    let mut m = mixed(robust(902), MONO + 2 * S, false);
    let mut w = futex(901, 0x40, robust(902), MONO);
    w.asleep_since_unix_ns = None;
    look(&mut m, vec![w]);
    assert!(deadlocks(&m).is_empty(), "{:#?}", deadlocks(&m));
    // The owner blocked only after the look began (its wait from the probe, begun later):
    // it may have unlocked after the word was read.
    let mut m = mixed(robust(902), MONO + 2 * S, false);
    m.apply(&Stamped {
        mono_ns: MONO + 2 * S,
        update: Update::Posix(Box::new(PosixSnapshot {
            unix_ns: unix(MONO + 2 * S),
            mono_ns: MONO + 2 * S,
            futex_waits: vec![futex(901, 0x40, robust(902), MONO + S)],
            ..Default::default()
        })),
    });
    m.feed_now(MONO + 34 * S);
    assert!(deadlocks(&m).is_empty(), "{:#?}", deadlocks(&m));
}

#[test]
fn robust_mutexes_ab_ba_alone_are_one_deadlock_of_the_graph() {
    let mut m = watched(
        Vec::new(),
        vec![waiting(911, Vec::new()), waiting(912, Vec::new())],
        Vec::new(),
    );
    look(
        &mut m,
        vec![
            futex(911, 0, robust(912), MONO + 2 * S),
            futex(912, 0x40, robust(911), MONO + 2 * S),
            // 913 waits on 914, which runs: nothing.
            futex(913, 0x80, robust(914), MONO + 2 * S),
        ],
    );
    let d = deadlocks(&m);
    assert_eq!(d.len(), 1, "once, not once per member: {d:#?}");
    let What::Deadlock { pids, cycle, .. } = &d[0].what else {
        unreachable!()
    };
    assert_eq!(pids, &[911, 912]);
    assert!(cycle.iter().all(|s| s.role == StepRole::Owner));
    assert!(!d[0].reason.contains("from the probe"), "{}", d[0].reason);
    assert!(posix::findings(&m).iter().all(|f| f.kind != "deadlock"));
}

#[test]
fn an_asleep_time_read_a_little_early_is_no_earlier_than_the_last_operation() {
    // 901's last semop at MONO + 2.5 s, its asleep time read as MONO + 2 s (scheduler clocks
    // are a tick coarse): the wait began after the operation and before the count.
    let m = mixed_with(robust(902), MONO + 2 * S, false, MONO + 2 * S + S / 2);
    assert_eq!(deadlocks(&m).len(), 1, "{:#?}", deadlocks(&m));
    // Seen operating after the look began: the wait the look saw may be over.
    let m = mixed_with(robust(902), MONO + 2 * S, false, LOOK + 1);
    assert!(deadlocks(&m).is_empty(), "{:#?}", deadlocks(&m));
}
