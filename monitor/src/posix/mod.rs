//! POSIX IPC from /proc (no probe): message queues (per IPC namespace, listed from a private
//! mount of their `mqueue` filesystem), shared memory and named semaphores (the files of
//! `/dev/shm` of every mount namespace), who has them open or mapped (/proc/PID/fd and
//! /proc/PID/maps, matched by device and inode, never by path), who is blocked sending to or
//! receiving from a queue (/proc/PID/task/TID/syscall: `mq_timedsend`/`mq_timedreceive` on a
//! descriptor), and every thread in a futex wait on an address in a shared mapping, resolved
//! to the object and offset it falls in (a `/dev/shm` file, a System V segment, a memfd or
//! shared anonymous memory) with the 8 bytes there read from the waiter's memory
//! (process_vm_readv): a semaphore's value and waiter count, a robust or PI mutex's owner.
//!
//! It only observes: a queue's attributes come from `mq_getattr` on a descriptor opened in
//! the private mount (its file is never read: reading it resets the queue's times); a named
//! semaphore nobody maps is read with `O_NOATIME`; nothing is written. What cannot be read
//! (another user's processes without root, a namespace that cannot be entered) is said in
//! [`PosixSnapshot::unknowns`], never guessed.
//!
//! Files: `scan.rs` the processes (namespaces, descriptors, shared mappings, blocked calls),
//! `mq.rs` the queues, `shm.rs` the `/dev/shm` directories, `futex.rs` waits resolved and
//! memory read, `parse.rs` the /proc text.
#[cfg(test)]
pub(crate) mod fixture;
mod futex;
mod mq;
pub mod parse;
mod scan;
mod shm;

use serde::Serialize;

/// A user of an object: a process with it open (a descriptor) or mapped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Opener {
    pub pid: u32,
    pub fd: u32,
    /// How it is open: "r", "w" or "rw".
    pub access: &'static str,
}

/// A process's mapping of an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mapper {
    pub pid: u32,
    pub start: u64,
    pub end: u64,
    /// The object's offset at `start`.
    pub offset: u64,
}

/// A thread blocked on a queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Blocked {
    pub pid: u32,
    pub tid: u32,
    /// Unix ns by which it had gone to sleep at the latest (a lower bound of its wait's age,
    /// from its scheduler clock); `None`: not readable.
    pub asleep_since_unix_ns: Option<u64>,
}

/// `mq_getattr`'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MqAttr {
    pub curmsgs: i64,
    pub maxmsg: i64,
    pub msgsize: i64,
}

/// A POSIX message queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MqRead {
    /// Its IPC namespace (inode).
    pub ipc_ns: u64,
    /// Its name, with the leading `/`.
    pub name: String,
    pub dev: u64,
    pub ino: u64,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    /// The queue's times (unix s): last send or receive (`mtime`), creation or change.
    pub mtime_s: i64,
    pub ctime_s: i64,
    /// `None`: could not be read (said in the unknowns).
    pub attr: Option<MqAttr>,
    pub openers: Vec<Opener>,
    pub receivers: Vec<Blocked>,
    pub senders: Vec<Blocked>,
}

/// What a `/dev/shm` entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShmKind {
    /// `shm_open`'s objects.
    Shm,
    /// `sem_open`'s (`sem.NAME`).
    Semaphore,
    /// Removed from the directory but still mapped or open (its name as maps shows it).
    Deleted,
}

/// A semaphore's value and waiter count, as read from memory (glibc's 64-bit `sem_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SemWord {
    pub value: u32,
    pub nwaiters: u32,
}

/// A POSIX shared memory object or named semaphore (a file of a `/dev/shm`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShmObject {
    /// The device of its `/dev/shm` (one per tmpfs: mount namespaces may share it).
    pub dev: u64,
    pub ino: u64,
    /// The file's name in /dev/shm (without `sem.` for a semaphore).
    pub name: String,
    pub kind: ShmKind,
    /// The IPC namespace of the processes whose /dev/shm this is (of the first seen).
    pub ipc_ns: Option<u64>,
    /// The mount namespaces that see this /dev/shm (inodes).
    pub mnt_ns: Vec<u64>,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    /// The file's times (unix s).
    pub atime_s: i64,
    pub mtime_s: i64,
    pub ctime_s: i64,
    pub openers: Vec<Opener>,
    pub mappers: Vec<Mapper>,
    /// A semaphore's value and waiters (`None` for other objects, or unreadable).
    pub sem: Option<SemWord>,
}

impl ShmObject {
    /// Whether no process has it open or mapped.
    pub fn unused(&self) -> bool {
        self.openers.is_empty() && self.mappers.is_empty()
    }
    /// The last time its file shows a use (unix s): the latest of its times.
    pub fn last_touched_s(&self) -> i64 {
        self.atime_s.max(self.mtime_s).max(self.ctime_s)
    }
}

/// What a futex word is, as far as the waiter's call and memory tell (see
/// [`parse::classify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SyncKind {
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
    /// A condition variable, a plain mutex, or another protocol: not told apart.
    Other,
}

impl SyncKind {
    /// The tid that holds it, when the word says.
    pub fn owner(&self) -> Option<u32> {
        match self {
            SyncKind::RobustMutex { owner } | SyncKind::PiMutex { owner } => *owner,
            _ => None,
        }
    }
}

/// What a futex address falls in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum WaitObject {
    /// A System V segment (its shmid; the waiter's IPC namespace).
    SysvShm {
        shmid: i32,
        #[serde(rename = "segment_ipc_ns")]
        ipc_ns: Option<u64>,
    },
    /// A file of a /dev/shm (an [`ShmObject`] by device and inode).
    ShmFile { dev: u64, ino: u64, name: String },
    /// A memfd (the waiter's; its name).
    Memfd { dev: u64, ino: u64, name: String },
    /// Shared anonymous memory (`/dev/zero`, of the waiter's process and its children).
    SharedAnon { dev: u64, ino: u64 },
    /// Another shared file mapping.
    File { dev: u64, ino: u64, path: String },
}

impl WaitObject {
    /// In words: "System V segment 32768", "/dev/shm/x", "memfd:x", ….
    pub fn describe(&self) -> String {
        match self {
            WaitObject::SysvShm { shmid, .. } => format!("System V segment {shmid}"),
            WaitObject::ShmFile { name, .. } => format!("/dev/shm/{name}"),
            WaitObject::Memfd { name, .. } => format!("memfd:{name}"),
            WaitObject::SharedAnon { ino, .. } => format!("shared anonymous memory (inode {ino})"),
            WaitObject::File { path, .. } => path.clone(),
        }
    }
}

/// A thread in a futex wait on an address in a shared mapping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FutexWait {
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    /// Its IPC namespace.
    pub ipc_ns: Option<u64>,
    pub addr: u64,
    pub op: u64,
    /// The value the call expects (its third argument).
    pub val: u64,
    pub private: bool,
    #[serde(flatten)]
    pub on: WaitObject,
    /// The address's offset in the object.
    pub offset: u64,
    /// The 8 bytes at the address (little-endian), when readable.
    pub word: Option<u64>,
    #[serde(flatten)]
    pub sync: SyncKind,
    /// As [`Blocked::asleep_since_unix_ns`].
    pub asleep_since_unix_ns: Option<u64>,
}

/// A process the POSIX objects name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PosixProc {
    pub pid: u32,
    pub comm: String,
    pub start_ticks: u64,
    pub ipc_ns: Option<u64>,
    pub mnt_ns: Option<u64>,
    pub threads: u32,
}

/// One look at POSIX IPC (see the module documentation).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PosixSnapshot {
    pub unix_ns: u64,
    pub mono_ns: u64,
    pub queues: Vec<MqRead>,
    pub shm: Vec<ShmObject>,
    pub futex_waits: Vec<FutexWait>,
    /// The processes named by an object or a wait.
    pub procs: Vec<PosixProc>,
    /// What could not be known, and why ("what: why").
    pub unknowns: Vec<String>,
    /// How the queues' attributes were read, in words.
    pub method: String,
    /// The processes whose descriptors, mappings or namespaces could not be read: users
    /// may be missing among them (findings that rest on users say so).
    pub unread_pids: Vec<u32>,
}

impl PosixSnapshot {
    /// Whether every process's descriptors and mappings were read.
    pub fn users_complete(&self) -> bool {
        self.unread_pids.is_empty()
    }

    /// The process `pid`, if named.
    pub fn proc(&self, pid: u32) -> Option<&PosixProc> {
        self.procs
            .binary_search_by_key(&pid, |p| p.pid)
            .ok()
            .map(|i| &self.procs[i])
    }
}

/// Takes a look (see the module documentation). Never fails: what cannot be read is said.
pub fn take() -> PosixSnapshot {
    let mono_ns = crate::event::clock_ns(libc::CLOCK_MONOTONIC);
    let unix_ns = crate::event::clock_ns(libc::CLOCK_REALTIME);
    let mut unknowns = Vec::new();
    let ids = scan::identities();
    let queues_read = mq::read_all(&ids, &mut unknowns);
    let dirs = shm::read_all(&ids, &mut unknowns);
    let mut devs: std::collections::HashSet<u64> = queues_read.iter().map(|q| q.dev).collect();
    devs.extend(dirs.iter().map(|d| d.dev));
    let scanned = scan::scan(&ids, &devs, unix_ns, &mut unknowns);
    let mut unread_pids: Vec<u32> = scanned
        .fd_denied
        .iter()
        .chain(&scanned.maps_denied)
        .chain(&ids.ns_denied)
        .copied()
        .collect();
    unread_pids.sort_unstable();
    unread_pids.dedup();
    let mut snap = PosixSnapshot {
        unix_ns,
        mono_ns,
        method: "queues listed in a private mount of each IPC namespace's mqueue filesystem; \
                 their attributes by mq_getattr on a descriptor opened there (the queue files \
                 are never read: that resets their times); users matched by device and inode"
            .into(),
        unread_pids,
        ..Default::default()
    };
    mq::join(&mut snap, queues_read, &scanned);
    shm::join(&mut snap, dirs, &scanned, &ids, &mut unknowns);
    futex::resolve(&mut snap, &scanned, &ids, &mut unknowns);
    // The processes named.
    let mut named = std::collections::BTreeSet::new();
    for q in &snap.queues {
        named.extend(q.openers.iter().map(|o| o.pid));
        named.extend(q.receivers.iter().chain(&q.senders).map(|b| b.pid));
    }
    for s in &snap.shm {
        named.extend(s.openers.iter().map(|o| o.pid));
        named.extend(s.mappers.iter().map(|o| o.pid));
    }
    named.extend(snap.futex_waits.iter().map(|w| w.pid));
    snap.procs = ids
        .procs
        .iter()
        .filter(|i| named.contains(&i.p.pid))
        .map(|i| i.p.clone())
        .collect();
    snap.unknowns = unknowns;
    snap
}
