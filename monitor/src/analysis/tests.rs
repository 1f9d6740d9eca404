//! Fixture tests: every rule, with the cases that must be flagged and those that must not.
//! Snapshots are built by hand (as the readers would return them) and fed to the model.
//! The shared fixtures are here; the tests, one file per rule, in `tests/`.
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

mod deadlocks;
mod init;
mod json;
mod leaks;
mod lifecycle;
mod limits;
mod mutex_graph;
mod waits;

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

fn ev(pid: u32, start: u64, end: Option<u64>, args: Args, ret: Option<i64>) -> Event {
    fixtures::ev(pid, "t", ROOT, start, end, args, ret)
}
