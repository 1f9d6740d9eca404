//! The model's types: objects, processes, waits and holders.
use std::collections::BTreeSet;

use serde::Serialize;

use crate::{event::Syscall, sysv};

/// An IPC namespace: the inode of its `/proc/PID/ns/ipc` link (0 when unknown).
pub type NsId = u64;

/// An IPC object's identity: its namespace and id (ids are per namespace).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjId {
    pub ns: NsId,
    pub id: i32,
}

/// The kind of an IPC object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjKind {
    /// A semaphore set.
    Sem,
    /// A shared memory segment.
    Shm,
    /// A message queue.
    Msg,
}

impl ObjKind {
    /// The kind of object a syscall names.
    pub fn of(s: Syscall) -> Self {
        match s {
            Syscall::SEMGET | Syscall::SEMOP | Syscall::SEMTIMEDOP | Syscall::SEMCTL => {
                ObjKind::Sem
            }
            Syscall::SHMGET | Syscall::SHMAT | Syscall::SHMDT | Syscall::SHMCTL => ObjKind::Shm,
            _ => ObjKind::Msg,
        }
    }

    /// "sem", "shm" or "msq", as the views and documents name them.
    pub fn name(self) -> &'static str {
        match self {
            ObjKind::Sem => "sem",
            ObjKind::Shm => "shm",
            ObjKind::Msg => "msq",
        }
    }
}

/// A process that has a segment mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub pid: u32,
    pub shmid: i32,
    pub addr: u64,
    pub len: u64,
    pub writable: bool,
}

/// A shared memory segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub id: ObjId,
    pub key: i32,
    pub size: u64,
    /// Permission bits (0o777).
    pub perms: u32,
    /// IPC_RMID was called while it was attached: it goes when the last one detaches.
    pub marked_for_destroy: bool,
    pub locked: bool,
    pub owner_uid: u32,
    pub owner_gid: u32,
    pub creator_uid: u32,
    pub creator_gid: u32,
    pub creator_pid: u32,
    /// The last pid to attach or detach.
    pub last_pid: u32,
    pub nattch: u64,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub rss: Option<u64>,
    pub swap: Option<u64>,
    /// Backed by huge pages; `None` while no readable process has it attached.
    pub hugetlb: Option<bool>,
    /// The mappings of it, per process (from /proc/PID/maps, then shmat/shmdt events).
    pub attachments: Vec<Attachment>,
    /// The attachments account for every `nattch` (none hidden in an unreadable process).
    pub attachments_complete: bool,
    /// When the model first had it (monotonic ns): its creation's call, or the first snapshot
    /// that showed it.
    pub first_seen_ns: u64,
}

impl Segment {
    /// The pids that have it attached, sorted, each once.
    pub fn attached_pids(&self) -> Vec<u32> {
        let s: BTreeSet<u32> = self.attachments.iter().map(|a| a.pid).collect();
        s.into_iter().collect()
    }
}

/// One semaphore of a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Semaphore {
    pub semnum: u16,
    pub value: i32,
    pub ncnt: i32,
    pub zcnt: i32,
    /// GETPID: the last process to operate on it (0 = none).
    pub last_pid: u32,
}

/// A semaphore set.
#[derive(Clone, Debug, PartialEq)]
pub struct SemSet {
    pub id: ObjId,
    pub key: i32,
    pub nsems: u32,
    pub perms: u32,
    pub owner_uid: u32,
    pub owner_gid: u32,
    pub creator_uid: u32,
    pub creator_gid: u32,
    /// Last successful semop (unix s; 0 = never).
    pub otime: i64,
    pub ctime: i64,
    /// `None` when semctl was refused (see [`crate::model::Model::unknowns`]).
    pub semaphores: Option<Vec<Semaphore>>,
    /// Known only from a semget event (the kernel does not keep it).
    pub creator_pid: Option<u32>,
    /// The process whose SETVAL/SETALL the probe saw succeed on it (the values were set).
    pub values_set_by: Option<u32>,
    /// See [`Segment::first_seen_ns`].
    pub first_seen_ns: u64,
}

/// A message queue.
#[derive(Clone, Debug, PartialEq)]
pub struct Queue {
    pub id: ObjId,
    pub key: i32,
    pub perms: u32,
    pub owner_uid: u32,
    pub owner_gid: u32,
    pub creator_uid: u32,
    pub creator_gid: u32,
    /// Bytes in the queue.
    pub cbytes: u64,
    /// Messages in the queue.
    pub qnum: u64,
    /// The queue's maximum size in bytes (`None`: not readable).
    pub qbytes: Option<u64>,
    pub last_send_pid: u32,
    pub last_recv_pid: u32,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    /// Known only from a msgget event.
    pub creator_pid: Option<u32>,
    /// See [`Segment::first_seen_ns`].
    pub first_seen_ns: u64,
}

/// A process.
#[derive(Clone, Debug, PartialEq)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    pub state: char,
    pub uid: Option<u32>,
    pub start_unix_ns: Option<u64>,
    /// /proc/PID/stat's starttime (ticks since boot): with the pid, its identity.
    pub start_ticks: Option<u64>,
    /// How many threads it has (0: unknown).
    pub threads: u32,
    /// Another ipctop (by its executable).
    pub observer: bool,
    pub ipc_ns: Option<NsId>,
    pub cmdline: Option<String>,
    /// Its SYSV mappings; `None` when unknown (not readable, or another namespace).
    pub attachments: Option<Vec<Attachment>>,
}

impl Process {
    /// Not a zombie.
    pub fn alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X')
    }

    /// The shmids it has attached, sorted, each once (empty when unknown).
    pub fn attached_shmids(&self) -> Vec<i32> {
        let s: BTreeSet<i32> = self.attachments.iter().flatten().map(|a| a.shmid).collect();
        s.into_iter().collect()
    }
}

/// One operation of a semop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Sop {
    pub semnum: u16,
    pub sem_op: i16,
    pub undo: bool,
    pub nowait: bool,
}

impl Sop {
    pub(super) fn new(semnum: u16, sem_op: i16, flg: u32) -> Self {
        Self {
            semnum,
            sem_op,
            undo: flg & sysv::SEM_UNDO as u16 as u32 != 0,
            nowait: flg & sysv::IPC_NOWAIT as u32 != 0,
        }
    }

    /// Whether it could proceed now on a semaphore of this value.
    pub fn can_proceed(&self, value: i32) -> bool {
        match self.sem_op {
            0 => value == 0,
            op if op < 0 => value >= -(op as i32),
            _ => true,
        }
    }
}

/// What a blocked thread waits on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitOn {
    /// semop/semtimedop; `sops` is `None` when they could not be read.
    Sem {
        semid: i32,
        nsops: u64,
        sops: Option<Vec<Sop>>,
        timed: bool,
    },
    MsgRcv {
        msqid: i32,
        msgtyp: i64,
        msgsz: u64,
    },
    MsgSnd {
        msqid: i32,
        msgsz: u64,
    },
}

impl WaitOn {
    /// "sem", "msgrcv" or "msgsnd".
    pub fn kind(&self) -> &'static str {
        match self {
            WaitOn::Sem { .. } => "sem",
            WaitOn::MsgRcv { .. } => "msgrcv",
            WaitOn::MsgSnd { .. } => "msgsnd",
        }
    }

    /// The kind of object it waits on.
    pub fn obj_kind(&self) -> ObjKind {
        match self {
            WaitOn::Sem { .. } => ObjKind::Sem,
            _ => ObjKind::Msg,
        }
    }

    pub fn id(&self) -> i32 {
        match *self {
            WaitOn::Sem { semid, .. } => semid,
            WaitOn::MsgRcv { msqid, .. } | WaitOn::MsgSnd { msqid, .. } => msqid,
        }
    }
}

/// Since when a wait lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// The call's start, from the probe (monotonic ns).
    Exact(u64),
    /// Asleep by this time at the latest, from the thread's scheduler clock (monotonic ns):
    /// the wait began before the probe saw it, and has lasted at least since then.
    Asleep(u64),
    /// Seen waiting by a snapshot at this time (monotonic ns): the wait began earlier.
    FirstSeen(u64),
}

impl Since {
    /// The time it stands for (monotonic ns): exact, or a bound the wait began before.
    pub fn at_ns(self) -> u64 {
        match self {
            Since::Exact(t) | Since::Asleep(t) | Since::FirstSeen(t) => t,
        }
    }
}

/// Where a piece of knowledge came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// /proc (and semctl): a snapshot.
    Proc,
    /// The probe's events.
    Events,
}

/// A thread blocked in an IPC call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    pub pid: u32,
    pub tid: u32,
    pub ns: NsId,
    pub on: WaitOn,
    pub since: Since,
    pub source: Source,
    /// The kernel function it sleeps in (snapshots only).
    pub wchan: Option<String>,
    /// The last time it was seen still waiting (monotonic ns): a wait seen only by
    /// snapshots may have ended any time after.
    pub seen_ns: u64,
}

impl Wait {
    /// The latest time the wait can have begun (monotonic ns): its start from the probe; when
    /// its thread went to sleep by; or, for one only snapshots saw, the stamp of a later
    /// snapshot that saw it still (a snapshot is stamped when its scan starts, and reads a
    /// process later: the first one bounds nothing). `None`: not known yet.
    pub fn began_by(&self) -> Option<u64> {
        match self.since {
            Since::Exact(t) | Since::Asleep(t) => Some(t),
            Since::FirstSeen(t) => (self.seen_ns > t).then_some(self.seen_ns),
        }
    }

    /// Seconds it has waited, when its start is known exactly (from the probe).
    pub fn since_s(&self, now_mono_ns: u64) -> Option<f64> {
        match self.since {
            Since::Exact(t) => Some(now_mono_ns.saturating_sub(t) as f64 / 1e9),
            Since::Asleep(_) | Since::FirstSeen(_) => None,
        }
    }

    /// Seconds it has at least waited: exact from the probe; else from when it was asleep by
    /// (or first seen) until it was last seen waiting — never more than it waited.
    pub fn at_least_s(&self, now_mono_ns: u64) -> f64 {
        let until = match self.since {
            Since::Exact(_) => now_mono_ns,
            _ => now_mono_ns.min(self.seen_ns.max(self.since.at_ns())),
        };
        until.saturating_sub(self.since.at_ns()) as f64 / 1e9
    }

    /// Whether its age is exact (the probe saw it begin).
    pub fn exact(&self) -> bool {
        matches!(self.since, Since::Exact(_))
    }
}

/// How holders of a semaphore were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderSource {
    /// The probe's account of every operation (the kernel's exact counts, or every call):
    /// these took units and have not given them back (a lock), or raise it (a signal).
    Events,
    /// No probe: the last process that operated on it (GETPID), a guess — shown, never used
    /// to conclude anything.
    LastPidGuess,
}

/// Who holds a lock, or raises a signal semaphore.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Holders {
    pub pids: Vec<u32>,
    pub source: HolderSource,
    /// A lock's holders or a signal semaphore's posters (`None`: a guess).
    pub role: Option<super::SemRole>,
}

impl Holders {
    /// "held by", "raised by", or "last operated by" (a guess).
    pub fn verb(&self) -> &'static str {
        match self.role {
            Some(r) => r.verb(),
            None => "last operated by",
        }
    }
}

/// An IPC namespace the model knows (see `Model::namespaces`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NsInfo {
    /// The inode of its `/proc/PID/ns/ipc`.
    pub ns: NsId,
    /// Its container label ("host", "docker:3f4e5a6b7c8d", …), when known.
    pub container: Option<String>,
    /// The snapshots' home namespace (ours, or `--ipc-ns`'s).
    pub home: bool,
    /// Shown by the current scope.
    pub in_scope: bool,
    pub processes: usize,
    pub objects: usize,
}

/// How many processes of another namespace were seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OtherNamespace {
    pub ns: NsId,
    pub processes: usize,
}

/// How an object was created, as the probe saw it: the call that made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Creation {
    pub pid: u32,
    pub comm: String,
    /// Monotonic ns of the call.
    pub mono_ns: u64,
    /// The call as `trace` prints it: `msgget(IPC_PRIVATE, IPC_CREAT|0600) = 3`.
    pub call: String,
}
