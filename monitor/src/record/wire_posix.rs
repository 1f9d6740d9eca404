//! POSIX looks on disk (format 5): the `posix` line's body, as its own types. These ARE the
//! file format; the internal [`crate::posix`] types carry only the `Serialize` of
//! `snapshot --json` and may change freely. The writer converts with `From<&PosixSnapshot>`,
//! the reader back with `From<Posix>`. Every conversion destructures without `..`: a field
//! added to an internal type does not compile until it is given a place here (and the golden
//! test then says the file format changed).
use serde::{Deserialize, Serialize};

use crate::posix as px;

/// A `posix` line's body: one look at POSIX IPC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Posix {
    pub unix_ns: u64,
    pub mono_ns: u64,
    pub queues: Vec<Queue>,
    pub shm: Vec<ShmObject>,
    pub futex_waits: Vec<FutexWait>,
    pub procs: Vec<Proc>,
    pub unknowns: Vec<String>,
    pub method: String,
    pub unread_pids: Vec<u32>,
}

/// An opener: `[pid, fd, access]` ("r", "w" or "rw").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Opener(pub u32, pub u32, pub String);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mapper {
    pub pid: u32,
    pub start: u64,
    pub end: u64,
    pub offset: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Blocked {
    pub pid: u32,
    pub tid: u32,
    pub asleep_since_unix_ns: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    pub ipc_ns: u64,
    pub name: String,
    pub dev: u64,
    pub ino: u64,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub mtime_s: i64,
    pub ctime_s: i64,
    /// `[curmsgs, maxmsg, msgsize]`, when read.
    pub attr: Option<[i64; 3]>,
    pub openers: Vec<Opener>,
    pub receivers: Vec<Blocked>,
    pub senders: Vec<Blocked>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShmKind {
    Shm,
    Semaphore,
    Deleted,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShmObject {
    pub dev: u64,
    pub ino: u64,
    pub name: String,
    pub kind: ShmKind,
    pub ipc_ns: Option<u64>,
    pub mnt_ns: Vec<u64>,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub atime_s: i64,
    pub mtime_s: i64,
    pub ctime_s: i64,
    pub openers: Vec<Opener>,
    pub mappers: Vec<Mapper>,
    /// A semaphore's `[value, nwaiters]`, when read.
    pub sem: Option<[u32; 2]>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sync {
    Semaphore {
        value: Option<u32>,
        nwaiters: Option<u32>,
    },
    RobustMutex {
        owner: Option<u32>,
    },
    PiMutex {
        owner: Option<u32>,
    },
    Other,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum On {
    SysvShm { shmid: i32, ipc_ns: Option<u64> },
    ShmFile { dev: u64, ino: u64, name: String },
    Memfd { dev: u64, ino: u64, name: String },
    SharedAnon { dev: u64, ino: u64 },
    File { dev: u64, ino: u64, path: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FutexWait {
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    pub ipc_ns: Option<u64>,
    pub addr: u64,
    pub op: u64,
    pub val: u64,
    pub private: bool,
    pub on: On,
    pub offset: u64,
    pub word: Option<u64>,
    pub sync: Sync,
    pub asleep_since_unix_ns: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proc {
    pub pid: u32,
    pub comm: String,
    pub start_ticks: u64,
    pub ipc_ns: Option<u64>,
    pub mnt_ns: Option<u64>,
    pub threads: u32,
}

mirror! {
    Mapper = px::Mapper { same: pid, start, end, offset; }
    Blocked = px::Blocked { same: pid, tid, asleep_since_unix_ns; }
    Proc = px::PosixProc { same: pid, comm, start_ticks, ipc_ns, mnt_ns, threads; }
    Posix = px::PosixSnapshot {
        same: unix_ns, mono_ns, unknowns, method, unread_pids;
        list: queues, shm, futex_waits, procs;
    }
}

impl From<&px::Opener> for Opener {
    fn from(o: &px::Opener) -> Self {
        let px::Opener { pid, fd, access } = o;
        Opener(*pid, *fd, (*access).to_string())
    }
}

impl From<Opener> for px::Opener {
    fn from(Opener(pid, fd, access): Opener) -> Self {
        let access = match access.as_str() {
            "r" => "r",
            "w" => "w",
            _ => "rw",
        };
        px::Opener { pid, fd, access }
    }
}

impl From<&px::MqRead> for Queue {
    fn from(q: &px::MqRead) -> Self {
        let px::MqRead {
            ipc_ns,
            name,
            dev,
            ino,
            uid,
            gid,
            mode,
            mtime_s,
            ctime_s,
            attr,
            openers,
            receivers,
            senders,
        } = q;
        Queue {
            ipc_ns: *ipc_ns,
            name: name.clone(),
            dev: *dev,
            ino: *ino,
            uid: *uid,
            gid: *gid,
            mode: *mode,
            mtime_s: *mtime_s,
            ctime_s: *ctime_s,
            attr: attr.map(|a| [a.curmsgs, a.maxmsg, a.msgsize]),
            openers: openers.iter().map(Into::into).collect(),
            receivers: receivers.iter().map(Into::into).collect(),
            senders: senders.iter().map(Into::into).collect(),
        }
    }
}

impl From<Queue> for px::MqRead {
    fn from(q: Queue) -> Self {
        let Queue {
            ipc_ns,
            name,
            dev,
            ino,
            uid,
            gid,
            mode,
            mtime_s,
            ctime_s,
            attr,
            openers,
            receivers,
            senders,
        } = q;
        px::MqRead {
            ipc_ns,
            name,
            dev,
            ino,
            uid,
            gid,
            mode,
            mtime_s,
            ctime_s,
            attr: attr.map(|[curmsgs, maxmsg, msgsize]| px::MqAttr {
                curmsgs,
                maxmsg,
                msgsize,
            }),
            openers: openers.into_iter().map(Into::into).collect(),
            receivers: receivers.into_iter().map(Into::into).collect(),
            senders: senders.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<&px::ShmKind> for ShmKind {
    fn from(k: &px::ShmKind) -> Self {
        match k {
            px::ShmKind::Shm => ShmKind::Shm,
            px::ShmKind::Semaphore => ShmKind::Semaphore,
            px::ShmKind::Deleted => ShmKind::Deleted,
        }
    }
}

impl From<ShmKind> for px::ShmKind {
    fn from(k: ShmKind) -> Self {
        match k {
            ShmKind::Shm => px::ShmKind::Shm,
            ShmKind::Semaphore => px::ShmKind::Semaphore,
            ShmKind::Deleted => px::ShmKind::Deleted,
        }
    }
}

impl From<&px::ShmObject> for ShmObject {
    fn from(o: &px::ShmObject) -> Self {
        let px::ShmObject {
            dev,
            ino,
            name,
            kind,
            ipc_ns,
            mnt_ns,
            size,
            uid,
            gid,
            mode,
            atime_s,
            mtime_s,
            ctime_s,
            openers,
            mappers,
            sem,
        } = o;
        ShmObject {
            dev: *dev,
            ino: *ino,
            name: name.clone(),
            kind: kind.into(),
            ipc_ns: *ipc_ns,
            mnt_ns: mnt_ns.clone(),
            size: *size,
            uid: *uid,
            gid: *gid,
            mode: *mode,
            atime_s: *atime_s,
            mtime_s: *mtime_s,
            ctime_s: *ctime_s,
            openers: openers.iter().map(Into::into).collect(),
            mappers: mappers.iter().map(Into::into).collect(),
            sem: sem.map(|s| [s.value, s.nwaiters]),
        }
    }
}

impl From<ShmObject> for px::ShmObject {
    fn from(o: ShmObject) -> Self {
        let ShmObject {
            dev,
            ino,
            name,
            kind,
            ipc_ns,
            mnt_ns,
            size,
            uid,
            gid,
            mode,
            atime_s,
            mtime_s,
            ctime_s,
            openers,
            mappers,
            sem,
        } = o;
        px::ShmObject {
            dev,
            ino,
            name,
            kind: kind.into(),
            ipc_ns,
            mnt_ns,
            size,
            uid,
            gid,
            mode,
            atime_s,
            mtime_s,
            ctime_s,
            openers: openers.into_iter().map(Into::into).collect(),
            mappers: mappers.into_iter().map(Into::into).collect(),
            sem: sem.map(|[value, nwaiters]| px::SemWord { value, nwaiters }),
        }
    }
}

impl From<&px::SyncKind> for Sync {
    fn from(s: &px::SyncKind) -> Self {
        match *s {
            px::SyncKind::Semaphore { value, nwaiters } => Sync::Semaphore { value, nwaiters },
            px::SyncKind::RobustMutex { owner } => Sync::RobustMutex { owner },
            px::SyncKind::PiMutex { owner } => Sync::PiMutex { owner },
            px::SyncKind::Other => Sync::Other,
        }
    }
}

impl From<Sync> for px::SyncKind {
    fn from(s: Sync) -> Self {
        match s {
            Sync::Semaphore { value, nwaiters } => px::SyncKind::Semaphore { value, nwaiters },
            Sync::RobustMutex { owner } => px::SyncKind::RobustMutex { owner },
            Sync::PiMutex { owner } => px::SyncKind::PiMutex { owner },
            Sync::Other => px::SyncKind::Other,
        }
    }
}

impl From<&px::WaitObject> for On {
    fn from(w: &px::WaitObject) -> Self {
        match w.clone() {
            px::WaitObject::SysvShm { shmid, ipc_ns } => On::SysvShm { shmid, ipc_ns },
            px::WaitObject::ShmFile { dev, ino, name } => On::ShmFile { dev, ino, name },
            px::WaitObject::Memfd { dev, ino, name } => On::Memfd { dev, ino, name },
            px::WaitObject::SharedAnon { dev, ino } => On::SharedAnon { dev, ino },
            px::WaitObject::File { dev, ino, path } => On::File { dev, ino, path },
        }
    }
}

impl From<On> for px::WaitObject {
    fn from(w: On) -> Self {
        match w {
            On::SysvShm { shmid, ipc_ns } => px::WaitObject::SysvShm { shmid, ipc_ns },
            On::ShmFile { dev, ino, name } => px::WaitObject::ShmFile { dev, ino, name },
            On::Memfd { dev, ino, name } => px::WaitObject::Memfd { dev, ino, name },
            On::SharedAnon { dev, ino } => px::WaitObject::SharedAnon { dev, ino },
            On::File { dev, ino, path } => px::WaitObject::File { dev, ino, path },
        }
    }
}

impl From<&px::FutexWait> for FutexWait {
    fn from(w: &px::FutexWait) -> Self {
        let px::FutexWait {
            pid,
            tid,
            comm,
            ipc_ns,
            addr,
            op,
            val,
            private,
            on,
            offset,
            word,
            sync,
            asleep_since_unix_ns,
        } = w;
        FutexWait {
            pid: *pid,
            tid: *tid,
            comm: comm.clone(),
            ipc_ns: *ipc_ns,
            addr: *addr,
            op: *op,
            val: *val,
            private: *private,
            on: on.into(),
            offset: *offset,
            word: *word,
            sync: sync.into(),
            asleep_since_unix_ns: *asleep_since_unix_ns,
        }
    }
}

impl From<FutexWait> for px::FutexWait {
    fn from(w: FutexWait) -> Self {
        let FutexWait {
            pid,
            tid,
            comm,
            ipc_ns,
            addr,
            op,
            val,
            private,
            on,
            offset,
            word,
            sync,
            asleep_since_unix_ns,
        } = w;
        px::FutexWait {
            pid,
            tid,
            comm,
            ipc_ns,
            addr,
            op,
            val,
            private,
            on: on.into(),
            offset,
            word,
            sync: sync.into(),
            asleep_since_unix_ns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of a look comes back from its file form, and the form is pinned.
    #[test]
    fn a_look_comes_back_whole_and_its_form_is_pinned() {
        let look = px::fixture::posix(4026531839, 1_700_000_000, 5_000_000_000_000);
        let wire = Posix::from(&look);
        let text = serde_json::to_string(&wire).unwrap();
        let back: px::PosixSnapshot = serde_json::from_str::<Posix>(&text).unwrap().into();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&look).unwrap()
        );
        insta::assert_snapshot!("wire_posix_golden", text);
    }
}
