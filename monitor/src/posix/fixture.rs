//! Tests only: a POSIX look as `take` would return it, in a namespace and at a time the
//! caller gives (the fixtures' `NS`, `NOW`, `MONO`: shared by the analysis, exporter and
//! dashboard tests; this module does not import them, so that `posix` depends on nothing of
//! the tests').
use super::*;

const S: u64 = 1_000_000_000;

/// The namespace and the time of the look (unix s), set by [`posix`] for the builders.
#[derive(Clone, Copy)]
struct At {
    ns: u64,
    now: i64,
}

fn blocked(at: At, pid: u32) -> Blocked {
    Blocked {
        pid,
        tid: pid,
        asleep_since_unix_ns: Some((at.now as u64 - 30) * S),
    }
}

fn opener(pid: u32, access: &'static str) -> Opener {
    Opener { pid, fd: 3, access }
}

fn queue(at: At, name: &str, ino: u64, curmsgs: i64) -> MqRead {
    MqRead {
        ipc_ns: at.ns,
        name: name.into(),
        dev: 20,
        ino,
        uid: 1000,
        gid: 1000,
        mode: 0o600,
        mtime_s: at.now - 120,
        ctime_s: at.now - 3600,
        attr: Some(MqAttr {
            curmsgs,
            maxmsg: 10,
            msgsize: 8192,
        }),
        openers: Vec::new(),
        receivers: Vec::new(),
        senders: Vec::new(),
    }
}

fn object(at: At, name: &str, ino: u64, kind: ShmKind, size: u64) -> ShmObject {
    ShmObject {
        dev: 25,
        ino,
        name: name.into(),
        kind,
        ipc_ns: Some(at.ns),
        mnt_ns: vec![4026531841],
        size,
        uid: 1000,
        gid: 1000,
        mode: 0o600,
        atime_s: at.now - 600,
        mtime_s: at.now - 900,
        ctime_s: at.now - 900,
        openers: Vec::new(),
        mappers: Vec::new(),
        sem: None,
    }
}

fn wait(at: At, pid: u32, on: WaitObject, offset: u64, sync: SyncKind) -> FutexWait {
    FutexWait {
        pid,
        tid: pid,
        comm: format!("w{pid}"),
        ipc_ns: Some(at.ns),
        addr: 0x7f00_0000_0000 + offset,
        op: 0x109,
        val: 0,
        private: false,
        on,
        offset,
        word: None,
        sync,
        asleep_since_unix_ns: Some((at.now as u64 - 30) * S),
    }
}

/// Queues: "/jobs" (empty, its one receiver blocked, nobody to send: stuck), "/results" (3
/// messages, nobody has it open: unused), "/ok" (a receiver blocked and a sender alive).
/// /dev/shm: "psm_abc" (unused), semaphore "mp-1" at 0 with 3 waiters (3400–3402), "x"
/// deleted and mapped by 3500. Futex waits: 1201 and 1202 on a semaphore at +0x80 of System
/// V segment 32768, robust mutexes AB/BA between 3600 and 3601 (a deadlock) and 3602 waiting
/// for 3603, which runs (none).
pub(crate) fn posix(ns: u64, now: i64, mono_ns: u64) -> PosixSnapshot {
    let at = At { ns, now };
    let mut jobs = queue(at, "/jobs", 101, 0);
    jobs.openers.push(opener(3200, "r"));
    jobs.receivers.push(blocked(at, 3200));
    let results = queue(at, "/results", 102, 3);
    let mut ok = queue(at, "/ok", 103, 0);
    ok.openers = vec![opener(3300, "r"), opener(3301, "w")];
    ok.receivers.push(blocked(at, 3300));
    let unused = object(at, "psm_abc", 201, ShmKind::Shm, 1 << 20);
    let mut sem = object(at, "mp-1", 202, ShmKind::Semaphore, 32);
    sem.sem = Some(SemWord {
        value: 0,
        nwaiters: 3,
    });
    for pid in 3400..3403 {
        sem.mappers.push(Mapper {
            pid,
            start: 0x7f00_0000_0000,
            end: 0x7f00_0000_1000,
            offset: 0,
        });
    }
    let mut deleted = object(at, "x", 203, ShmKind::Deleted, 4096);
    deleted.mappers.push(Mapper {
        pid: 3500,
        start: 0x7f00_0000_0000,
        end: 0x7f00_0000_1000,
        offset: 0,
    });
    let sem_on = WaitObject::ShmFile {
        dev: 25,
        ino: 202,
        name: "mp-1".into(),
    };
    let sysv = WaitObject::SysvShm {
        shmid: 32768,
        ipc_ns: Some(at.ns),
    };
    let anon = WaitObject::SharedAnon { dev: 1, ino: 9 };
    let semk = |n| SyncKind::Semaphore {
        value: Some(0),
        nwaiters: Some(n),
    };
    let robust = |t| SyncKind::RobustMutex { owner: Some(t) };
    let mut futex_waits: Vec<FutexWait> = (3400..3403)
        .map(|p| wait(at, p, sem_on.clone(), 0, semk(3)))
        .collect();
    futex_waits.push(wait(at, 1201, sysv.clone(), 0x80, semk(2)));
    futex_waits.push(wait(at, 1202, sysv, 0x80, semk(2)));
    futex_waits.push(wait(at, 3600, anon.clone(), 0x100, robust(3601)));
    futex_waits.push(wait(at, 3601, anon.clone(), 0, robust(3600)));
    futex_waits.push(wait(at, 3602, anon, 0x200, robust(3603)));
    let procs = [3200, 3300, 3301, 3400, 3401, 3402, 3500, 3600, 3601, 3602]
        .into_iter()
        .map(|pid| PosixProc {
            pid,
            comm: format!("w{pid}"),
            start_ticks: 100,
            ipc_ns: Some(at.ns),
            mnt_ns: Some(4026531841),
            // The semaphore's third waiter has a thread that could post it.
            threads: if pid == 3402 { 2 } else { 1 },
        })
        .collect();
    PosixSnapshot {
        unix_ns: now as u64 * S,
        mono_ns,
        queues: vec![jobs, results, ok],
        shm: vec![unused, sem, deleted],
        futex_waits,
        procs,
        unknowns: Vec::new(),
        method: "fixture".into(),
        unread_pids: Vec::new(),
    }
}
