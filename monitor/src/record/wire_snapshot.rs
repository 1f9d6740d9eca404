//! Snapshots on disk: the `snapshot` line's body, as its own types. These ARE the file format
//! (the JSON field names and shapes of format 1 and 2 recordings); the internal
//! [`crate::snapshot`] types carry no serde and may change freely. The writer converts with
//! `From<&snapshot::Snapshot>`, the reader back with `From<Snapshot>`.
//!
//! Every conversion destructures without `..` (`mirror!`): a field added to an internal type
//! does not compile until it is given a place here — and a change here changes the file
//! format, which the golden test (`snapshots/…wire_snapshot…golden.snap`) catches: bump
//! [`super::FORMAT_VERSION`] and keep reading the older form.
use serde::{Deserialize, Serialize};

use crate::snapshot as snap;

/// A `snapshot` line's body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub unix_ns: u64,
    pub mono_ns: u64,
    pub ipc_ns: Option<u64>,
    pub ns_pid: Option<u32>,
    pub shm: Vec<ShmRow>,
    pub sem: Vec<SemSet>,
    pub msg: Vec<Queue>,
    pub processes: Vec<Process>,
    pub limits: Limits,
    /// Absent in recordings made before other namespaces were read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<NsObjects>,
    /// `[inode, label]` pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ns_labels: Vec<(u64, String)>,
    /// `[major, minor]`.
    pub shm_dev: Option<(u32, u32)>,
    pub problems: Vec<String>,
    pub unknowns: Vec<Unknown>,
}

/// What was read, or why not: `{"Ok": …}` or `{"Err": …}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Read<T> {
    Ok(T),
    Err(ReadFail),
}

/// `"Gone"`, `"Denied"` or `{"Other": errno}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ReadFail {
    Gone,
    Denied,
    Other(i32),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShmRow {
    pub key: i32,
    pub shmid: i32,
    pub mode: u32,
    pub size: u64,
    pub cpid: u32,
    pub lpid: u32,
    pub nattch: u64,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub rss: Option<u64>,
    pub swap: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SemRow {
    pub key: i32,
    pub semid: i32,
    pub mode: u32,
    pub nsems: u32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub otime: i64,
    pub ctime: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SemValue {
    pub value: i32,
    pub ncnt: i32,
    pub zcnt: i32,
    pub last_pid: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SemSet {
    pub row: SemRow,
    pub values: Read<Vec<SemValue>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MsgRow {
    pub key: i32,
    pub msqid: i32,
    pub mode: u32,
    pub cbytes: u64,
    pub qnum: u64,
    pub lspid: u32,
    pub lrpid: u32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    pub row: MsgRow,
    pub qbytes: Read<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub semmsl: Option<u64>,
    pub semmns: Option<u64>,
    pub semopm: Option<u64>,
    pub semmni: Option<u64>,
    pub shmmni: Option<u64>,
    pub shmall: Option<u64>,
    pub shmmax: Option<u64>,
    pub msgmni: Option<u64>,
    /// Absent in recordings made before it was read.
    #[serde(default)]
    pub msgmax: Option<u64>,
    #[serde(default)]
    pub msgmnb: Option<u64>,
    pub page_size: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NsObjects {
    pub ipc_ns: u64,
    pub via_pid: Option<u32>,
    pub shm: Vec<ShmRow>,
    pub sem: Vec<SemSet>,
    pub msg: Vec<Queue>,
    pub limits: Limits,
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unknown {
    pub what: String,
    pub reason: String,
    /// Absent in recordings made before pids were named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pids: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    /// One letter.
    pub state: char,
    pub uid: Option<u32>,
    pub start_unix_ns: Option<u64>,
    /// Format 3: /proc/PID/stat's starttime (ticks), the thread count and whether it is
    /// another ipctop; absent in older files (unknown, 0, no).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub threads: u32,
    #[serde(default, skip_serializing_if = "is_false")]
    pub observer: bool,
    pub ipc_ns: Option<u64>,
    pub attachments: Option<Vec<MapAttach>>,
    pub waits: Option<Vec<TaskWait>>,
    pub cmdline: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapAttach {
    pub shmid: i32,
    pub start: u64,
    pub end: u64,
    /// `[major, minor]`.
    pub dev: (u32, u32),
    pub writable: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskWait {
    pub tid: u32,
    pub call: WaitCall,
    pub wchan: Option<String>,
    /// Format 3: by when (monotonic ns) it had gone to sleep at the latest; absent before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asleep_since_ns: Option<u64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `{"Sem": {…}}`, `{"Msgrcv": {…}}` or `{"Msgsnd": {…}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WaitCall {
    Sem {
        semid: i32,
        nsops: u64,
        sops: Option<Vec<RawSop>>,
        timed: bool,
    },
    Msgrcv {
        msqid: i32,
        msgsz: u64,
        msgtyp: i64,
    },
    Msgsnd {
        msqid: i32,
        msgsz: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawSop {
    pub num: u16,
    pub op: i16,
    pub flg: i16,
}

mirror! {
    ShmRow = snap::ShmRow {
        same: key, shmid, mode, size, cpid, lpid, nattch, uid, gid, cuid, cgid, atime, dtime,
            ctime, rss, swap;
    }
    SemRow = snap::SemRow { same: key, semid, mode, nsems, uid, gid, cuid, cgid, otime, ctime; }
    SemValue = snap::SemValue { same: value, ncnt, zcnt, last_pid; }
    MsgRow = snap::MsgRow {
        same: key, msqid, mode, cbytes, qnum, lspid, lrpid, uid, gid, cuid, cgid, stime, rtime,
            ctime;
    }
    Limits = snap::Limits {
        same: semmsl, semmns, semopm, semmni, shmmni, shmall, shmmax, msgmni, msgmax, msgmnb,
            page_size;
    }
    Unknown = snap::Unknown { same: what, reason, pids; }
    MapAttach = snap::MapAttach { same: shmid, start, end, dev, writable; }
    RawSop = snap::RawSop { same: num, op, flg; }
    NsObjects = snap::namespaces::NsObjects {
        same: ipc_ns, via_pid, problems;
        one: limits;
        list: shm, sem, msg;
    }
    TaskWait = snap::TaskWait {
        same: tid, wchan, asleep_since_ns;
        one: call;
    }
    Process = snap::ProcRead {
        same: pid, ppid, comm, state, uid, start_unix_ns, start_ticks, threads, observer, ipc_ns,
            cmdline;
        opt_list: attachments, waits;
    }
    Snapshot = snap::Snapshot {
        same: unix_ns, mono_ns, ipc_ns, ns_pid, ns_labels, shm_dev, problems;
        one: limits;
        list: shm, sem, msg, processes, others, unknowns;
    }
}

fn out<'a, A: 'a, B: From<&'a A>>(v: &'a [A]) -> Vec<B> {
    v.iter().map(B::from).collect()
}

fn back<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(B::from).collect()
}

impl From<&snap::ReadFail> for ReadFail {
    fn from(f: &snap::ReadFail) -> Self {
        match *f {
            snap::ReadFail::Gone => ReadFail::Gone,
            snap::ReadFail::Denied => ReadFail::Denied,
            snap::ReadFail::Other(n) => ReadFail::Other(n),
        }
    }
}

impl From<ReadFail> for snap::ReadFail {
    fn from(f: ReadFail) -> Self {
        match f {
            ReadFail::Gone => snap::ReadFail::Gone,
            ReadFail::Denied => snap::ReadFail::Denied,
            ReadFail::Other(n) => snap::ReadFail::Other(n),
        }
    }
}

impl<T> Read<T> {
    fn out<A>(r: &Result<A, snap::ReadFail>, f: impl FnOnce(&A) -> T) -> Self {
        match r {
            Ok(v) => Read::Ok(f(v)),
            Err(e) => Read::Err(e.into()),
        }
    }

    fn back<A>(self, f: impl FnOnce(T) -> A) -> Result<A, snap::ReadFail> {
        match self {
            Read::Ok(v) => Ok(f(v)),
            Read::Err(e) => Err(e.into()),
        }
    }
}

impl From<&snap::SemSetRead> for SemSet {
    fn from(s: &snap::SemSetRead) -> Self {
        let snap::SemSetRead { row, values } = s;
        SemSet {
            row: row.into(),
            values: Read::out(values, |v| out(v)),
        }
    }
}

impl From<SemSet> for snap::SemSetRead {
    fn from(s: SemSet) -> Self {
        let SemSet { row, values } = s;
        snap::SemSetRead {
            row: row.into(),
            values: values.back(back),
        }
    }
}

impl From<&snap::MsgRead> for Queue {
    fn from(m: &snap::MsgRead) -> Self {
        let snap::MsgRead { row, qbytes } = m;
        Queue {
            row: row.into(),
            qbytes: Read::out(qbytes, |&q| q),
        }
    }
}

impl From<Queue> for snap::MsgRead {
    fn from(m: Queue) -> Self {
        let Queue { row, qbytes } = m;
        snap::MsgRead {
            row: row.into(),
            qbytes: qbytes.back(|q| q),
        }
    }
}

impl From<&snap::WaitCall> for WaitCall {
    fn from(c: &snap::WaitCall) -> Self {
        match c {
            snap::WaitCall::Sem {
                semid,
                nsops,
                sops,
                timed,
            } => WaitCall::Sem {
                semid: *semid,
                nsops: *nsops,
                sops: sops.as_deref().map(out),
                timed: *timed,
            },
            &snap::WaitCall::Msgrcv {
                msqid,
                msgsz,
                msgtyp,
            } => WaitCall::Msgrcv {
                msqid,
                msgsz,
                msgtyp,
            },
            &snap::WaitCall::Msgsnd { msqid, msgsz } => WaitCall::Msgsnd { msqid, msgsz },
        }
    }
}

impl From<WaitCall> for snap::WaitCall {
    fn from(c: WaitCall) -> Self {
        match c {
            WaitCall::Sem {
                semid,
                nsops,
                sops,
                timed,
            } => snap::WaitCall::Sem {
                semid,
                nsops,
                sops: sops.map(back),
                timed,
            },
            WaitCall::Msgrcv {
                msqid,
                msgsz,
                msgtyp,
            } => snap::WaitCall::Msgrcv {
                msqid,
                msgsz,
                msgtyp,
            },
            WaitCall::Msgsnd { msqid, msgsz } => snap::WaitCall::Msgsnd { msqid, msgsz },
        }
    }
}

#[cfg(test)]
#[path = "wire_snapshot_tests.rs"]
mod tests;
