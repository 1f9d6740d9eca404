//! Fixture builders shared by the unit tests (`analysis` and `ui`): snapshots as the readers
//! would return them and events as the decoder would. What the two suites' fixtures differ in
//! (owner, keys, sizes, times, command lines) is a parameter, so that each keeps its own data:
//! the analysis tests' objects belong to root, the dashboard's to a user.
use crate::{
    event::{Args, Comm, Event, Flags, SemOp, SemOps, Syscall, SEMBUF_FLAGS},
    feed::{Stamped, Update},
    snapshot::{
        Limits, MsgRead, MsgRow, ProcRead, RawSop, SemRow, SemSetRead, SemValue, ShmRow, Snapshot,
        TaskWait, WaitCall,
    },
};

/// The fixtures' IPC namespace.
pub(crate) const NS: u64 = 4026531839;
pub(crate) const S: u64 = 1_000_000_000;
/// Unix time of the fixtures' first snapshot (2023-11-14 22:13:20 UTC).
pub(crate) const NOW: i64 = 1_700_000_000;
/// The fixtures' monotonic "now" (the first snapshot's).
pub(crate) const MONO: u64 = 5_000 * S;
/// Owners (uid = gid = cuid = cgid) of objects and callers of events.
pub(crate) const ROOT: u32 = 0;
pub(crate) const USER: u32 = 1000;

/// An empty snapshot taken at monotonic `mono` (unix time `NOW` at `MONO`) in namespace `NS`,
/// with `shm_max` for both shmall and shmmax.
pub(crate) fn snapshot(mono: u64, shm_max: u64, shm_dev: Option<(u32, u32)>) -> Snapshot {
    Snapshot {
        unix_ns: (NOW as i128 * S as i128 + mono as i128 - MONO as i128) as u64,
        mono_ns: mono,
        ipc_ns: Some(NS),
        shm_dev,
        limits: Limits {
            semmsl: Some(32000),
            semmns: Some(1_024_000_000),
            semopm: Some(500),
            semmni: Some(32000),
            shmmni: Some(4096),
            shmall: Some(shm_max),
            shmmax: Some(shm_max),
            msgmni: Some(32000),
            msgmax: Some(8192),
            msgmnb: Some(16384),
            page_size: 4096,
        },
        ..Default::default()
    }
}

/// A live (sleeping) process of uid 1000 in namespace `NS`, started at unix second `start`,
/// with nothing attached and no waits.
pub(crate) fn process(pid: u32, comm: &str, cmdline: Option<&str>, start: i64) -> ProcRead {
    ProcRead {
        pid,
        ppid: 1,
        comm: comm.into(),
        state: 'S',
        uid: Some(1000),
        start_unix_ns: Some(start as u64 * S),
        start_ticks: Some(start as u64 * 100),
        threads: 1,
        observer: false,
        ipc_ns: Some(NS),
        attachments: Some(Vec::new()),
        waits: Some(Vec::new()),
        cmdline: cmdline.map(Into::into),
    }
}

/// A segment (mode 0600) created at unix second `ctime`, never attached or detached since
/// (lpid, atime and dtime 0), resident size unknown.
pub(crate) fn shm(
    shmid: i32,
    key: i32,
    size: u64,
    cpid: u32,
    nattch: u64,
    ctime: i64,
    owner: u32,
) -> ShmRow {
    ShmRow {
        key,
        shmid,
        mode: 0o600,
        size,
        cpid,
        lpid: 0,
        nattch,
        uid: owner,
        gid: owner,
        cuid: owner,
        cgid: owner,
        atime: 0,
        dtime: 0,
        ctime,
        rss: None,
        swap: None,
    }
}

/// A semaphore set with one `(value, ncnt, last_pid)` per semaphore (zcnt 0), last operated
/// on at unix second `otime` (0: never) and changed at `ctime`.
pub(crate) fn sem(
    semid: i32,
    key: i32,
    mode: u32,
    owner: u32,
    values: &[(i32, i32, u32)],
    otime: i64,
    ctime: i64,
) -> SemSetRead {
    SemSetRead {
        row: SemRow {
            key,
            semid,
            mode,
            nsems: values.len() as u32,
            uid: owner,
            gid: owner,
            cuid: owner,
            cgid: owner,
            otime,
            ctime,
        },
        values: Ok(values
            .iter()
            .map(|&(value, ncnt, last_pid)| SemValue {
                value,
                ncnt,
                zcnt: 0,
                last_pid: last_pid as i32,
            })
            .collect()),
    }
}

/// When a queue was last sent to, received from (only when it has a last receiver: else
/// rtime is 0) and changed, in seconds before `NOW`.
pub(crate) struct QueueAges {
    pub sent: i64,
    pub received: i64,
    pub changed: i64,
}

/// A queue (mode 0600, qbytes 16384) holding `qnum` messages of `cbytes` bytes in all, last
/// sent to by `lspid` and received from by `lrpid` (0: never).
pub(crate) fn msg(
    msqid: i32,
    key: i32,
    qnum: u64,
    cbytes: u64,
    (lspid, lrpid): (u32, u32),
    owner: u32,
    ages: QueueAges,
) -> MsgRead {
    MsgRead {
        row: MsgRow {
            key,
            msqid,
            mode: 0o600,
            cbytes,
            qnum,
            lspid,
            lrpid,
            uid: owner,
            gid: owner,
            cuid: owner,
            cgid: owner,
            stime: NOW - ages.sent,
            rtime: if lrpid != 0 { NOW - ages.received } else { 0 },
            ctime: NOW - ages.changed,
        },
        qbytes: Ok(16384),
    }
}

/// Thread `tid` blocked in semop on one semaphore (untimed).
pub(crate) fn sem_wait(tid: u32, semid: i32, num: u16, op: i16) -> TaskWait {
    TaskWait {
        tid,
        call: WaitCall::Sem {
            semid,
            nsops: 1,
            sops: Some(vec![RawSop { num, op, flg: 0 }]),
            timed: false,
        },
        wchan: Some("do_semtimedop".into()),
        asleep_since_ns: None,
    }
}

/// A call by `pid` (its own single thread, uid and gid `owner`) from `start` to `end` (None:
/// still in flight), the syscall following from `args`.
pub(crate) fn ev(
    pid: u32,
    comm: &str,
    owner: u32,
    start: u64,
    end: Option<u64>,
    args: Args,
    ret: Option<i64>,
) -> Event {
    let syscall = match args {
        Args::Semop { .. } => Syscall::SEMTIMEDOP,
        Args::Semget { .. } => Syscall::SEMGET,
        Args::Shmget { .. } => Syscall::SHMGET,
        Args::Shmat { .. } => Syscall::SHMAT,
        Args::Shmdt { .. } => Syscall::SHMDT,
        Args::Shmctl { .. } => Syscall::SHMCTL,
        Args::Msgsnd { .. } => Syscall::MSGSND,
        Args::Msgrcv { .. } => Syscall::MSGRCV,
        Args::Msgget { .. } => Syscall::MSGGET,
        _ => Syscall::SEMCTL,
    };
    Event {
        start_ns: Some(start),
        end_ns: end,
        pid,
        tid: pid,
        uid: owner,
        gid: owner,
        comm: Comm::from_str_lossy(comm),
        syscall,
        args: Some(args),
        ret,
        ipc_ns: None,
        ns_id: None,
        proc_start: None,
        compat: false,
        ended: false,
        cgroup_id: None,
    }
}

/// A semop of one operation (flag SEM_UNDO), its sops read.
pub(crate) fn semop(semid: i32, num: u16, op: i16) -> Args {
    Args::Semop {
        semid,
        nsops: 1,
        sops: SemOps::new([SemOp {
            sem_num: num,
            sem_op: op,
            sem_flg: Flags::new(0x1000, SEMBUF_FLAGS),
        }]),
        sops_read: true,
        timeout_ns: None,
        timeout_unreadable: false,
    }
}

/// Feeding a model in tests, through its one door ([`crate::model::Model::apply`]).
pub(crate) trait Feed {
    fn feed_snapshot(&mut self, s: &Snapshot);
    fn feed_event(&mut self, ev: &Event);
    fn feed_kernel(&mut self, mono: u64, k: crate::sample::KernelSample);
    /// Moves the clock on (an empty batch of events).
    fn feed_now(&mut self, mono: u64);
}

impl Feed for crate::model::Model {
    fn feed_snapshot(&mut self, s: &Snapshot) {
        self.apply(&Stamped {
            mono_ns: s.mono_ns,
            update: Update::Snapshot(Box::new(s.clone())),
        });
    }

    fn feed_event(&mut self, ev: &Event) {
        let at = ev.end_ns.or(ev.start_ns).unwrap_or(0);
        // A call in progress, alone: as an event (an in-flight scan would replace the others).
        self.apply(&Stamped {
            mono_ns: at,
            update: Update::Events(vec![*ev]),
        });
    }

    fn feed_kernel(&mut self, mono: u64, k: crate::sample::KernelSample) {
        self.apply(&Stamped {
            mono_ns: mono,
            update: Update::Kernel(Box::new(k)),
        });
    }

    fn feed_now(&mut self, mono: u64) {
        self.apply(&Stamped {
            mono_ns: mono,
            update: Update::Events(Vec::new()),
        });
    }
}

/// A process's calls of one syscall on one object, as the kernel aggregates them, with no
/// time spent (tests set the times and histogram they need).
pub fn agg(
    pid: u32,
    id: Option<i32>,
    syscall: Syscall,
    calls: u64,
    errors: u64,
) -> crate::sample::Aggregate {
    crate::sample::Aggregate {
        pid,
        id,
        syscall,
        calls,
        errors,
        total_ns: 0,
        max_ns: 0,
        last_ns: 0,
        hist: [0; monitor_ebpf::HIST_BUCKETS],
        ..Default::default()
    }
}
