//! The state model: every IPC object (keyed by IPC namespace and id), every process, and
//! their relations (attachments, waits, holders), kept up to date by snapshots
//! ([`Model::apply_snapshot`]) and by the probe's events ([`Model::apply_event`]), with rates
//! and histories for the dashboard. Views and the analysis read it and never touch /proc.
//!
//! ```no_run
//! use ipctop::{model::Model, snapshot};
//! let mut m = Model::new();
//! m.apply_snapshot(&snapshot::take(&Default::default())?);
//! // later, for each probe event: m.apply_event(&ev);
//! for seg in m.segments() {
//!     println!("{} attached by {:?}", seg.id.id, seg.attached_pids());
//! }
//! # anyhow::Ok(())
//! ```
//!
//! Times: `*_mono_ns` are CLOCK_MONOTONIC ns (as the probe stamps events); the kernel's object
//! times (`ctime`, `otime`, …) are unix seconds as /proc shows them, 0 meaning never.
pub mod history;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use history::{Activity, History, Series};

use crate::{
    event::{clock_ns, Args, Event, Syscall},
    snapshot::{self, sysvipc, Limits, Snapshot, Unknown, WaitCall},
    sysv,
};

/// An IPC namespace: the inode of its `/proc/PID/ns/ipc` link (0 when unknown).
pub type NsId = u64;

/// An IPC object's identity: its namespace and id (ids are per namespace).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjId {
    pub ns: NsId,
    pub id: i32,
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
    pub activity: Activity,
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
    /// `None` when semctl was refused (see [`Model::unknowns`]).
    pub semaphores: Option<Vec<Semaphore>>,
    /// Known only from a semget event (the kernel does not keep it).
    pub creator_pid: Option<u32>,
    pub activity: Activity,
    /// Tasks waiting on the set, per snapshot.
    pub waiters_series: Series,
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
    pub activity: Activity,
    pub qnum_series: Series,
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
    pub ipc_ns: Option<NsId>,
    pub cmdline: Option<String>,
    /// Its SYSV mappings; `None` when unknown (not readable, or another namespace).
    pub attachments: Option<Vec<Attachment>>,
    pub activity: Activity,
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
    fn new(semnum: u16, sem_op: i16, flg: u32) -> Self {
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
    /// Seen waiting by a snapshot at this time (monotonic ns): the wait began earlier.
    FirstSeen(u64),
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
}

impl Wait {
    /// Seconds it has waited, when its start is known exactly (from the probe).
    pub fn since_s(&self, now_mono_ns: u64) -> Option<f64> {
        match self.since {
            Since::Exact(t) => Some(now_mono_ns.saturating_sub(t) as f64 / 1e9),
            Since::FirstSeen(_) => None,
        }
    }

    /// Seconds it has at least waited (exact, or since a snapshot first saw it).
    pub fn at_least_s(&self, now_mono_ns: u64) -> f64 {
        let t = match self.since {
            Since::Exact(t) | Since::FirstSeen(t) => t,
        };
        now_mono_ns.saturating_sub(t) as f64 / 1e9
    }
}

/// How holders of a semaphore were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderSource {
    /// Events: these decremented it and have not incremented it back.
    Events,
    /// No events: the last process that operated on it (GETPID), a best guess.
    LastPidGuess,
}

/// What the probe counted in the kernel, as of its last sample.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelView {
    /// When the last sample was taken (monotonic ns); `None`: no probe.
    pub sample_at: Option<u64>,
    /// Calls per second between the last two samples (every process, every IPC call).
    pub calls_per_s: f64,
    pub total_calls: u64,
    /// Events lost on the way to userspace (never silent).
    pub dropped: u64,
    /// Calls and errors per syscall (index: [`Syscall::index`]).
    pub calls: [u64; crate::event::NSYS],
    pub errors: [u64; crate::event::NSYS],
    /// Per object (`'s'` semaphore set, `'m'` shared memory, `'q'` queue, id): counted in
    /// the kernel when it aggregates.
    pub objects: BTreeMap<(char, i32), ObjectActivity>,
}

/// Calls on one object since the probe started.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectActivity {
    pub calls: u64,
    pub errors: u64,
    /// Time spent in semop/msgsnd/msgrcv on it (contention), and the longest such call.
    pub wait_ns: u64,
    pub max_wait_ns: u64,
    /// Calls per process.
    pub by_pid: BTreeMap<u32, u64>,
}

/// Who holds a semaphore.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Holders {
    pub pids: Vec<u32>,
    pub source: HolderSource,
}

/// How many processes of another namespace were seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OtherNamespace {
    pub ns: NsId,
    pub processes: usize,
}

/// The whole state. See the module documentation.
#[derive(Clone, Debug)]
pub struct Model {
    view_ns: NsId,
    ns_pid: Option<u32>,
    /// CLOCK_REALTIME - CLOCK_MONOTONIC, ns.
    clock_offset_ns: i128,
    now_mono_ns: u64,
    segments: BTreeMap<ObjId, Segment>,
    sem_sets: BTreeMap<ObjId, SemSet>,
    queues: BTreeMap<ObjId, Queue>,
    processes: BTreeMap<u32, Process>,
    /// By tid.
    waits: BTreeMap<u32, Wait>,
    /// (set, semnum) → pid → units decremented and not given back (from events).
    holds: BTreeMap<(ObjId, u16), BTreeMap<u32, i64>>,
    limits: BTreeMap<NsId, Limits>,
    shm_dev: Option<(u32, u32)>,
    unknowns: Vec<Unknown>,
    problems: Vec<String>,
    snapshots: u64,
    events: u64,
    /// What the probe counts in the kernel (see [`Model::apply_kernel`]).
    kernel: KernelView,
    /// Every IPC call seen, per second.
    pub calls: History,
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

fn ns_of_read(p: &snapshot::ProcRead, fallback: NsId) -> NsId {
    p.ipc_ns.unwrap_or(fallback)
}

impl Model {
    pub fn new() -> Self {
        let mono = clock_ns(libc::CLOCK_MONOTONIC);
        let real = clock_ns(libc::CLOCK_REALTIME);
        Self {
            view_ns: 0,
            ns_pid: None,
            clock_offset_ns: real as i128 - mono as i128,
            // Driven by the inputs (snapshots, events, set_now), so that replays and tests
            // see their own time.
            now_mono_ns: 0,
            segments: BTreeMap::new(),
            sem_sets: BTreeMap::new(),
            queues: BTreeMap::new(),
            processes: BTreeMap::new(),
            waits: BTreeMap::new(),
            holds: BTreeMap::new(),
            limits: BTreeMap::new(),
            shm_dev: None,
            unknowns: Vec::new(),
            problems: Vec::new(),
            snapshots: 0,
            events: 0,
            kernel: KernelView::default(),
            calls: History::default(),
        }
    }

    // ---- reading ----

    /// The namespace the views show (the one the last snapshot read).
    pub fn view_ns(&self) -> NsId {
        self.view_ns
    }

    /// `--ipc-ns PID` of the last snapshot.
    pub fn ns_pid(&self) -> Option<u32> {
        self.ns_pid
    }

    /// The latest monotonic time seen (snapshot or event), ns.
    pub fn now_mono_ns(&self) -> u64 {
        self.now_mono_ns
    }

    /// Unix seconds of a monotonic stamp.
    pub fn unix_s(&self, mono_ns: u64) -> f64 {
        (mono_ns as i128 + self.clock_offset_ns) as f64 / 1e9
    }

    /// The current unix time in seconds (of [`Self::now_mono_ns`]).
    pub fn now_unix_s(&self) -> f64 {
        self.unix_s(self.now_mono_ns)
    }

    /// The monotonic → wall-clock conversion in use (of the last snapshot), for printing
    /// event times as `ipctop trace` does (the dashboard's event log).
    pub fn clock(&self) -> crate::event::Clock {
        crate::event::Clock::with_offset(self.clock_offset_ns)
    }

    /// Segments of the viewed namespace, by id.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.values().filter(|s| s.id.ns == self.view_ns)
    }

    pub fn sem_sets(&self) -> impl Iterator<Item = &SemSet> {
        self.sem_sets.values().filter(|s| s.id.ns == self.view_ns)
    }

    pub fn queues(&self) -> impl Iterator<Item = &Queue> {
        self.queues.values().filter(|s| s.id.ns == self.view_ns)
    }

    pub fn segment(&self, shmid: i32) -> Option<&Segment> {
        self.segments.get(&self.oid(shmid))
    }

    pub fn sem_set(&self, semid: i32) -> Option<&SemSet> {
        self.sem_sets.get(&self.oid(semid))
    }

    pub fn queue(&self, msqid: i32) -> Option<&Queue> {
        self.queues.get(&self.oid(msqid))
    }

    /// Every process seen, of every namespace.
    pub fn all_processes(&self) -> impl Iterator<Item = &Process> {
        self.processes.values()
    }

    /// The processes of the viewed namespace.
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.processes
            .values()
            .filter(|p| p.ipc_ns.unwrap_or(self.view_ns) == self.view_ns)
    }

    pub fn process(&self, pid: u32) -> Option<&Process> {
        self.processes.get(&pid)
    }

    /// Blocked threads of the viewed namespace, by tid.
    pub fn waits(&self) -> impl Iterator<Item = &Wait> {
        self.waits.values().filter(|w| w.ns == self.view_ns)
    }

    /// The IPC limits of the viewed namespace (with what is used: see the analysis).
    pub fn limits(&self) -> Option<&Limits> {
        self.limits.get(&self.view_ns)
    }

    /// Other namespaces that have processes, and how many.
    pub fn other_namespaces(&self) -> Vec<OtherNamespace> {
        let mut n: BTreeMap<NsId, usize> = BTreeMap::new();
        for p in self.processes.values() {
            if let Some(ns) = p.ipc_ns.filter(|&ns| ns != self.view_ns) {
                *n.entry(ns).or_default() += 1;
            }
        }
        n.into_iter()
            .map(|(ns, processes)| OtherNamespace { ns, processes })
            .collect()
    }

    /// What could not be known, and why (from the last snapshot).
    pub fn unknowns(&self) -> &[Unknown] {
        &self.unknowns
    }

    /// Lines or files the last snapshot could not read.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// How many snapshots and events went in.
    pub fn counts(&self) -> (u64, u64) {
        (self.snapshots, self.events)
    }

    /// Whether the process `pid` is alive and could have existed at unix time `at_s`
    /// (it started no later than that, with a second of slack for the kernel's rounding):
    /// the guard against pid reuse. `at_s` 0 (never) means no constraint.
    pub fn alive_at(&self, pid: u32, at_s: i64) -> bool {
        if pid == 0 {
            return false;
        }
        let Some(p) = self.processes.get(&pid).filter(|p| p.alive()) else {
            return false;
        };
        match p.start_unix_ns {
            Some(start) if at_s > 0 => start as i128 <= (at_s as i128 + 1) * 1_000_000_000,
            _ => true,
        }
    }

    /// The operation a semop wait is blocked on: the first that cannot proceed with the
    /// current values, else the first.
    pub fn blocking_sop(&self, w: &Wait) -> Option<Sop> {
        let WaitOn::Sem { semid, sops, .. } = &w.on else {
            return None;
        };
        let sops = sops.as_ref()?;
        let sems = self
            .sem_sets
            .get(&ObjId {
                ns: w.ns,
                id: *semid,
            })
            .and_then(|s| s.semaphores.as_ref());
        sops.iter()
            .find(|op| {
                sems.and_then(|v| v.get(op.semnum as usize))
                    .is_some_and(|s| !op.can_proceed(s.value))
            })
            .or(sops.first())
            .copied()
    }

    /// Who holds semaphore `semnum` of set `set`: from the events if they saw decrements not
    /// given back, else the last pid that operated on it (a best guess), else `None`.
    pub fn holders(&self, set: ObjId, semnum: u16) -> Option<Holders> {
        if let Some(h) = self.holds.get(&(set, semnum)) {
            let pids: Vec<u32> = h.iter().filter(|(_, &n)| n > 0).map(|(&p, _)| p).collect();
            if !pids.is_empty() {
                return Some(Holders {
                    pids,
                    source: HolderSource::Events,
                });
            }
        }
        let s = self
            .sem_sets
            .get(&set)?
            .semaphores
            .as_ref()?
            .get(semnum as usize)?;
        (s.last_pid != 0).then(|| Holders {
            pids: vec![s.last_pid],
            source: HolderSource::LastPidGuess,
        })
    }

    fn oid(&self, id: i32) -> ObjId {
        ObjId {
            ns: self.view_ns,
            id,
        }
    }

    fn ns_of_pid(&self, pid: u32) -> NsId {
        self.processes
            .get(&pid)
            .and_then(|p| p.ipc_ns)
            .unwrap_or(self.view_ns)
    }

    // ---- snapshots ----

    /// Replaces what the snapshot covers (the objects of its namespace, every process, the
    /// waits seen in /proc) and keeps what only events know (activity, creators, exact wait
    /// starts, holders of processes still alive).
    pub fn apply_snapshot(&mut self, snap: &Snapshot) {
        let ns = snap.ipc_ns.unwrap_or(0);
        self.view_ns = ns;
        self.ns_pid = snap.ns_pid;
        self.clock_offset_ns = snap.unix_ns as i128 - snap.mono_ns as i128;
        self.now_mono_ns = self.now_mono_ns.max(snap.mono_ns);
        self.snapshots += 1;
        self.shm_dev = snap.shm_dev.or(self.shm_dev);
        self.unknowns = snap.unknowns.clone();
        self.problems = snap.problems.clone();
        self.limits.insert(ns, snap.limits.clone());

        // Processes (all namespaces).
        let mut old_procs = std::mem::take(&mut self.processes);
        for p in &snap.processes {
            let pns = ns_of_read(p, ns);
            let old = old_procs
                .remove(&p.pid)
                .filter(|o| o.start_unix_ns == p.start_unix_ns);
            self.processes.insert(
                p.pid,
                Process {
                    pid: p.pid,
                    ppid: p.ppid,
                    comm: p.comm.clone(),
                    state: p.state,
                    uid: p.uid,
                    start_unix_ns: p.start_unix_ns,
                    ipc_ns: p.ipc_ns.or((pns == ns).then_some(ns)),
                    cmdline: p.cmdline.clone(),
                    attachments: p.attachments.as_ref().map(|v| {
                        v.iter()
                            .map(|m| Attachment {
                                pid: p.pid,
                                shmid: m.shmid,
                                addr: m.start,
                                len: m.end - m.start,
                                writable: m.writable,
                            })
                            .collect()
                    }),
                    activity: old.map(|o| o.activity).unwrap_or_default(),
                },
            );
        }

        // Attachments and hugetlb per segment, from the processes of this namespace.
        let mut attached: BTreeMap<i32, Vec<Attachment>> = BTreeMap::new();
        let mut hugetlb: BTreeMap<i32, bool> = BTreeMap::new();
        for p in &snap.processes {
            if ns_of_read(p, ns) != ns || !matches!(p.state, c if c != 'Z' && c != 'X') {
                continue;
            }
            let Some(maps) = &p.attachments else {
                continue;
            };
            for m in maps {
                attached.entry(m.shmid).or_default().push(Attachment {
                    pid: p.pid,
                    shmid: m.shmid,
                    addr: m.start,
                    len: m.end - m.start,
                    writable: m.writable,
                });
                if let Some(dev) = self.shm_dev {
                    hugetlb.insert(m.shmid, m.dev != dev);
                }
            }
        }

        let mut rest = BTreeMap::new();
        for (k, v) in std::mem::take(&mut self.segments) {
            if k.ns == ns {
                rest.insert(k, v);
            } else {
                self.segments.insert(k, v);
            }
        }
        for r in &snap.shm {
            let id = ObjId { ns, id: r.shmid };
            let prev = rest.remove(&id).filter(|p| p.key == r.key || r.key == 0);
            let att = attached.remove(&r.shmid).unwrap_or_default();
            // Each mapping counts once in nattch: equal counts mean none is hidden.
            let complete = att.len() as u64 == r.nattch;
            self.segments.insert(
                id,
                Segment {
                    id,
                    key: r.key,
                    size: r.size,
                    perms: r.mode & 0o777,
                    marked_for_destroy: r.mode & sysvipc::SHM_DEST != 0,
                    locked: r.mode & sysvipc::SHM_LOCKED != 0,
                    owner_uid: r.uid,
                    owner_gid: r.gid,
                    creator_uid: r.cuid,
                    creator_gid: r.cgid,
                    creator_pid: r.cpid,
                    last_pid: r.lpid,
                    nattch: r.nattch,
                    atime: r.atime,
                    dtime: r.dtime,
                    ctime: r.ctime,
                    rss: r.rss,
                    swap: r.swap,
                    hugetlb: hugetlb
                        .get(&r.shmid)
                        .copied()
                        .or(prev.as_ref().and_then(|p| p.hugetlb)),
                    attachments: att,
                    attachments_complete: complete,
                    activity: prev.map(|p| p.activity).unwrap_or_default(),
                },
            );
        }

        // Waits: keep the probe's (exact) ones of live threads; replace the /proc ones.
        let mut waits = BTreeMap::new();
        for p in &snap.processes {
            let pns = ns_of_read(p, ns);
            for tw in p.waits.iter().flatten() {
                let on = match &tw.call {
                    WaitCall::Sem {
                        semid,
                        nsops,
                        sops,
                        timed,
                    } => WaitOn::Sem {
                        semid: *semid,
                        nsops: *nsops,
                        sops: sops.as_ref().map(|v| {
                            v.iter()
                                .map(|s| Sop::new(s.num, s.op, s.flg as u16 as u32))
                                .collect()
                        }),
                        timed: *timed,
                    },
                    WaitCall::Msgrcv {
                        msqid,
                        msgsz,
                        msgtyp,
                    } => WaitOn::MsgRcv {
                        msqid: *msqid,
                        msgtyp: *msgtyp,
                        msgsz: *msgsz,
                    },
                    WaitCall::Msgsnd { msqid, msgsz } => WaitOn::MsgSnd {
                        msqid: *msqid,
                        msgsz: *msgsz,
                    },
                };
                let prev = self
                    .waits
                    .remove(&tw.tid)
                    .filter(|w| w.on.id() == on.id() && w.pid == p.pid);
                let w = match prev {
                    Some(mut w) if w.source == Source::Events => {
                        w.wchan = tw.wchan.clone();
                        w
                    }
                    prev => Wait {
                        pid: p.pid,
                        tid: tw.tid,
                        ns: pns,
                        since: prev.map_or(Since::FirstSeen(snap.mono_ns), |w| w.since),
                        on,
                        source: Source::Proc,
                        wchan: tw.wchan.clone(),
                    },
                };
                waits.insert(tw.tid, w);
            }
        }
        // Probe waits that /proc did not see: kept while their process lives and /proc could
        // not tell (unreadable), else the call has ended.
        for (tid, w) in std::mem::take(&mut self.waits) {
            let readable = snap
                .processes
                .iter()
                .find(|p| p.pid == w.pid)
                .map(|p| p.waits.is_some());
            if w.source == Source::Events && readable == Some(false) {
                waits.insert(tid, w);
            }
        }
        self.waits = waits;

        // Semaphore sets.
        let mut rest: BTreeMap<ObjId, SemSet> = BTreeMap::new();
        for (k, v) in std::mem::take(&mut self.sem_sets) {
            if k.ns == ns {
                rest.insert(k, v);
            } else {
                self.sem_sets.insert(k, v);
            }
        }
        for s in &snap.sem {
            let r = &s.row;
            let id = ObjId { ns, id: r.semid };
            let prev = rest.remove(&id).filter(|p| p.key == r.key);
            let semaphores = s.values.as_ref().ok().map(|v| {
                v.iter()
                    .enumerate()
                    .map(|(i, x)| Semaphore {
                        semnum: i as u16,
                        value: x.value,
                        ncnt: x.ncnt,
                        zcnt: x.zcnt,
                        last_pid: x.last_pid.max(0) as u32,
                    })
                    .collect::<Vec<_>>()
            });
            let mut series = prev
                .as_ref()
                .map(|p| p.waiters_series.clone())
                .unwrap_or_default();
            if let Some(v) = &semaphores {
                series.push(
                    snap.mono_ns,
                    v.iter().map(|x| (x.ncnt + x.zcnt).max(0) as u64).sum(),
                );
            }
            self.sem_sets.insert(
                id,
                SemSet {
                    id,
                    key: r.key,
                    nsems: r.nsems,
                    perms: r.mode & 0o777,
                    owner_uid: r.uid,
                    owner_gid: r.gid,
                    creator_uid: r.cuid,
                    creator_gid: r.cgid,
                    otime: r.otime,
                    ctime: r.ctime,
                    semaphores,
                    creator_pid: prev.as_ref().and_then(|p| p.creator_pid),
                    activity: prev.map(|p| p.activity).unwrap_or_default(),
                    waiters_series: series,
                },
            );
        }

        // Queues.
        let mut rest: BTreeMap<ObjId, Queue> = BTreeMap::new();
        for (k, v) in std::mem::take(&mut self.queues) {
            if k.ns == ns {
                rest.insert(k, v);
            } else {
                self.queues.insert(k, v);
            }
        }
        for m in &snap.msg {
            let r = &m.row;
            let id = ObjId { ns, id: r.msqid };
            let prev = rest.remove(&id).filter(|p| p.key == r.key);
            let mut series = prev
                .as_ref()
                .map(|p| p.qnum_series.clone())
                .unwrap_or_default();
            series.push(snap.mono_ns, r.qnum);
            self.queues.insert(
                id,
                Queue {
                    id,
                    key: r.key,
                    perms: r.mode & 0o777,
                    owner_uid: r.uid,
                    owner_gid: r.gid,
                    creator_uid: r.cuid,
                    creator_gid: r.cgid,
                    cbytes: r.cbytes,
                    qnum: r.qnum,
                    qbytes: m.qbytes.ok(),
                    last_send_pid: r.lspid,
                    last_recv_pid: r.lrpid,
                    stime: r.stime,
                    rtime: r.rtime,
                    ctime: r.ctime,
                    creator_pid: prev.as_ref().and_then(|p| p.creator_pid),
                    activity: prev.map(|p| p.activity).unwrap_or_default(),
                    qnum_series: series,
                },
            );
        }

        // Holders: forget the dead and the removed.
        let (procs, sets) = (&self.processes, &self.sem_sets);
        self.holds.retain(|(set, _), h| {
            h.retain(|pid, n| *n > 0 && procs.get(pid).is_some_and(|p| p.alive()));
            !h.is_empty() && sets.contains_key(set)
        });
    }

    // ---- events ----

    /// Applies one probe event: a call in progress starts a wait; a finished one ends it and
    /// updates the objects (values, holders, attachments, queue lengths, creation, removal)
    /// until the next snapshot corrects them.
    pub fn apply_event(&mut self, ev: &Event) {
        self.events += 1;
        let t = ev.end_ns.or(ev.start_ns).unwrap_or(self.now_mono_ns);
        self.now_mono_ns = self.now_mono_ns.max(t);
        let ns = self.ns_of_pid(ev.pid);
        let unix_s = self.unix_s(t) as i64;
        let failed = ev.failed();
        if !ev.in_progress() {
            self.calls.add(t, 1);
            if let Some(p) = self.processes.get_mut(&ev.pid) {
                p.activity.record(t, ev.pid, failed);
            }
        }
        let Some(args) = ev.args else {
            if !ev.in_progress() {
                self.waits.remove(&ev.tid);
            }
            return;
        };
        if ev.in_progress() {
            let on = match args {
                Args::Semop {
                    semid,
                    nsops,
                    sops,
                    sops_read,
                    timeout_ns,
                } => WaitOn::Sem {
                    semid,
                    nsops,
                    sops: sops_read.then(|| {
                        sops.as_slice()
                            .iter()
                            .map(|s| Sop::new(s.sem_num, s.sem_op, s.sem_flg.bits))
                            .collect()
                    }),
                    timed: timeout_ns.is_some(),
                },
                Args::Msgrcv {
                    msqid,
                    msgsz,
                    msgtyp,
                    ..
                } => WaitOn::MsgRcv {
                    msqid,
                    msgtyp,
                    msgsz,
                },
                Args::Msgsnd { msqid, msgsz, .. } => WaitOn::MsgSnd { msqid, msgsz },
                _ => return,
            };
            let since = match ev.start_ns {
                Some(s) => Since::Exact(s),
                None => Since::FirstSeen(t),
            };
            self.waits.insert(
                ev.tid,
                Wait {
                    pid: ev.pid,
                    tid: ev.tid,
                    ns,
                    on,
                    since,
                    source: Source::Events,
                    wchan: None,
                },
            );
            return;
        }
        self.waits.remove(&ev.tid);
        let ret = ev.ret.unwrap_or(-1);
        let oid = |id: i32| ObjId { ns, id };
        match args {
            Args::Semop {
                semid,
                sops,
                sops_read,
                ..
            } => {
                let id = oid(semid);
                if let Some(s) = self.sem_sets.get_mut(&id) {
                    s.activity.record(t, ev.pid, failed);
                }
                if failed || !sops_read {
                    return;
                }
                if let Some(s) = self.sem_sets.get_mut(&id) {
                    s.otime = unix_s;
                    if let Some(v) = s.semaphores.as_mut() {
                        for op in sops.as_slice() {
                            if let Some(x) = v.get_mut(op.sem_num as usize) {
                                x.value = (x.value + op.sem_op as i32).max(0);
                                x.last_pid = ev.pid;
                            }
                        }
                    }
                }
                for op in sops.as_slice().iter().filter(|o| o.sem_op != 0) {
                    let h = self.holds.entry((id, op.sem_num)).or_default();
                    let n = h.entry(ev.pid).or_default();
                    *n -= op.sem_op as i64;
                    if *n <= 0 {
                        h.remove(&ev.pid);
                    }
                }
            }
            Args::Semctl {
                semid,
                semnum,
                cmd,
                arg,
            } => {
                let Some(s) = self.sem_sets.get_mut(&oid(semid)) else {
                    return;
                };
                s.activity.record(t, ev.pid, failed);
                if failed {
                    return;
                }
                match cmd.value & 0xff {
                    libc::IPC_RMID => {
                        self.sem_sets.remove(&oid(semid));
                        self.holds.retain(|(set, _), _| *set != oid(semid));
                    }
                    sysv::semcmd::SETVAL => {
                        if let Some(x) = s
                            .semaphores
                            .as_mut()
                            .and_then(|v| v.get_mut(semnum as usize))
                        {
                            x.value = arg as i32;
                            x.last_pid = ev.pid;
                        }
                    }
                    sysv::semcmd::SETALL => {
                        for x in s.semaphores.iter_mut().flatten() {
                            x.last_pid = ev.pid;
                        }
                    }
                    _ => {}
                }
            }
            Args::Semget {
                key, nsems, mode, ..
            } if !failed => {
                let id = oid(ret as i32);
                let mut a = Activity::default();
                a.record(t, ev.pid, false);
                self.sem_sets.entry(id).or_insert_with(|| SemSet {
                    id,
                    key: key.0,
                    nsems: nsems.max(0) as u32,
                    perms: mode.0 & 0o777,
                    owner_uid: ev.uid,
                    owner_gid: ev.gid,
                    creator_uid: ev.uid,
                    creator_gid: ev.gid,
                    otime: 0,
                    ctime: unix_s,
                    semaphores: None,
                    creator_pid: Some(ev.pid),
                    activity: a,
                    waiters_series: Series::default(),
                });
            }
            Args::Shmget {
                key,
                size,
                flags,
                mode,
            } if !failed => {
                let id = oid(ret as i32);
                let mut a = Activity::default();
                a.record(t, ev.pid, false);
                self.segments.entry(id).or_insert_with(|| Segment {
                    id,
                    key: key.0,
                    size,
                    perms: mode.0 & 0o777,
                    marked_for_destroy: false,
                    locked: false,
                    owner_uid: ev.uid,
                    owner_gid: ev.gid,
                    creator_uid: ev.uid,
                    creator_gid: ev.gid,
                    creator_pid: ev.pid,
                    last_pid: 0,
                    nattch: 0,
                    atime: 0,
                    dtime: 0,
                    ctime: unix_s,
                    rss: None,
                    swap: None,
                    hugetlb: Some(flags.contains(sysv::SHM_HUGETLB as u32)),
                    attachments: Vec::new(),
                    attachments_complete: true,
                    activity: a,
                });
            }
            Args::Msgget { key, mode, .. } if !failed => {
                let id = oid(ret as i32);
                let mut a = Activity::default();
                a.record(t, ev.pid, false);
                self.queues.entry(id).or_insert_with(|| Queue {
                    id,
                    key: key.0,
                    perms: mode.0 & 0o777,
                    owner_uid: ev.uid,
                    owner_gid: ev.gid,
                    creator_uid: ev.uid,
                    creator_gid: ev.gid,
                    cbytes: 0,
                    qnum: 0,
                    qbytes: None,
                    last_send_pid: 0,
                    last_recv_pid: 0,
                    stime: 0,
                    rtime: 0,
                    ctime: unix_s,
                    creator_pid: Some(ev.pid),
                    activity: a,
                    qnum_series: Series::default(),
                });
            }
            Args::Shmat { shmid, .. } => {
                let Some(s) = self.segments.get_mut(&oid(shmid)) else {
                    return;
                };
                s.activity.record(t, ev.pid, failed);
                if failed {
                    return;
                }
                let a = Attachment {
                    pid: ev.pid,
                    shmid,
                    addr: ret as u64,
                    len: s.size,
                    writable: true,
                };
                s.nattch += 1;
                s.last_pid = ev.pid;
                s.atime = unix_s;
                s.attachments.push(a);
                if let Some(v) = self
                    .processes
                    .get_mut(&ev.pid)
                    .and_then(|p| p.attachments.as_mut())
                {
                    v.push(a);
                }
            }
            Args::Shmdt { shmaddr } if !failed => {
                let shmid = self
                    .segments
                    .values()
                    .filter(|s| s.id.ns == ns)
                    .find(|s| {
                        s.attachments
                            .iter()
                            .any(|a| a.pid == ev.pid && a.addr == shmaddr)
                    })
                    .map(|s| s.id);
                if let Some(id) = shmid {
                    if let Some(s) = self.segments.get_mut(&id) {
                        s.attachments
                            .retain(|a| !(a.pid == ev.pid && a.addr == shmaddr));
                        s.nattch = s.nattch.saturating_sub(1);
                        s.last_pid = ev.pid;
                        s.dtime = unix_s;
                        s.activity.record(t, ev.pid, false);
                        if s.marked_for_destroy && s.nattch == 0 {
                            self.segments.remove(&id);
                        }
                    }
                }
                if let Some(v) = self
                    .processes
                    .get_mut(&ev.pid)
                    .and_then(|p| p.attachments.as_mut())
                {
                    v.retain(|a| a.addr != shmaddr);
                }
            }
            Args::Shmctl { shmid, cmd } => {
                let Some(s) = self.segments.get_mut(&oid(shmid)) else {
                    return;
                };
                s.activity.record(t, ev.pid, failed);
                if !failed && cmd.value & 0xff == libc::IPC_RMID {
                    if s.nattch == 0 {
                        self.segments.remove(&oid(shmid));
                    } else {
                        s.marked_for_destroy = true;
                        s.key = 0;
                    }
                }
            }
            Args::Msgsnd { msqid, msgsz, .. } => {
                let Some(q) = self.queues.get_mut(&oid(msqid)) else {
                    return;
                };
                q.activity.record(t, ev.pid, failed);
                if !failed {
                    q.qnum += 1;
                    q.cbytes += msgsz;
                    q.last_send_pid = ev.pid;
                    q.stime = unix_s;
                }
            }
            Args::Msgrcv { msqid, .. } => {
                let Some(q) = self.queues.get_mut(&oid(msqid)) else {
                    return;
                };
                q.activity.record(t, ev.pid, failed);
                if !failed {
                    q.qnum = q.qnum.saturating_sub(1);
                    q.cbytes = q.cbytes.saturating_sub(ret.max(0) as u64);
                    q.last_recv_pid = ev.pid;
                    q.rtime = unix_s;
                }
            }
            Args::Msgctl { msqid, cmd } => {
                if let Some(q) = self.queues.get_mut(&oid(msqid)) {
                    q.activity.record(t, ev.pid, failed);
                }
                if !failed && cmd.value & 0xff == libc::IPC_RMID {
                    self.queues.remove(&oid(msqid));
                }
            }
            _ => {}
        }
    }

    /// Advances the model's clock (for views that redraw without new input).
    pub fn set_now(&mut self, mono_ns: u64) {
        self.now_mono_ns = self.now_mono_ns.max(mono_ns);
    }

    /// Applies the probe's counters and in-kernel aggregates: exact call counts and rates,
    /// drops, per-object and per-process activity, and holders (net operations per process
    /// and semaphore, which replace what events alone could tell).
    pub fn apply_kernel(&mut self, mono_ns: u64, k: &crate::feed::KernelSample) {
        let prev = self.kernel.sample_at.map(|t| (t, self.kernel.total_calls));
        let total = k.stats.total_calls();
        if let Some((t, n)) = prev {
            let dt = mono_ns.saturating_sub(t) as f64 / 1e9;
            if dt > 0.0 {
                self.kernel.calls_per_s = total.saturating_sub(n) as f64 / dt;
            }
        }
        self.kernel.sample_at = Some(mono_ns);
        self.kernel.total_calls = total;
        self.kernel.dropped = k.stats.dropped + k.undecodable;
        self.kernel.calls = k.stats.calls;
        self.kernel.errors = k.stats.errors;
        if !k.aggregates.is_empty() {
            self.kernel.objects.clear();
            for a in &k.aggregates {
                let Some(id) = a.id else { continue };
                let kind = match a.syscall.name() {
                    n if n.starts_with("sem") => 's',
                    n if n.starts_with("shm") => 'm',
                    _ => 'q',
                };
                let o = self.kernel.objects.entry((kind, id)).or_default();
                o.calls += a.calls;
                o.errors += a.errors;
                if can_block(a.syscall) {
                    o.wait_ns += a.total_ns;
                    o.max_wait_ns = o.max_wait_ns.max(a.max_ns);
                }
                *o.by_pid.entry(a.pid).or_default() += a.calls;
            }
        }
        // Holders: the kernel's net counts are authoritative (they saw every semop since the
        // probe started, events only the notable ones).
        self.holds.clear();
        for h in &k.holds {
            let id = self.oid(h.semid);
            self.holds
                .entry((id, h.semnum))
                .or_default()
                .insert(h.pid, h.held);
        }
        self.set_now(mono_ns);
    }

    /// The probe's view: exact counts, rate, drops (zero/None without the probe).
    pub fn kernel(&self) -> &KernelView {
        &self.kernel
    }
}

/// Whether a syscall can block (and so be a wait while in progress).
pub fn can_block(s: Syscall) -> bool {
    [
        Syscall::SEMOP,
        Syscall::SEMTIMEDOP,
        Syscall::MSGRCV,
        Syscall::MSGSND,
    ]
    .contains(&s)
}
