//! Known situations for the snapshot's tests: orphaned segments, attached segments, blocked
//! semaphores, an AB/BA deadlock, a queue left with messages. Each prints one JSON line with
//! the pids and ids it made, holds until stdin closes (or SIGTERM), then kills its children
//! and removes its objects. Children die with the parent (PR_SET_PDEATHSIG).
use std::{
    io::{PipeReader, PipeWriter, Read, Write},
    time::{Duration, Instant},
};

use anyhow::Context;
use ipctop::sysv::{self, semcmd, IPC_CREAT, IPC_PRIVATE, SEM_UNDO};
use nix::{
    sched::{unshare, CloneFlags},
    sys::{
        prctl,
        signal::{kill, Signal},
        wait::waitpid,
    },
    unistd::{fork, getpid, getppid, pause, ForkResult, Pid},
};
use serde_json::json;

use crate::common::{hold, ready, Cleanup};
use crate::sysv_mut::{self, sembuf};

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// A segment made by a child that then exits: nattch 0, creator gone (a leak).
    /// Prints {"pid","creator_pid","shmid","size"}.
    OrphanShm,
    /// A segment attached by N child processes. Prints {"pid","shmid","attached_pids","size"}.
    ShmAttached {
        #[arg(default_value_t = 3)]
        n: usize,
    },
    /// A child blocked on semaphore 1 of a 3-semaphore set (initialised unless --uninit).
    /// Prints {"pid","semid","waiter_pid","semnum","sem_op"}.
    SemBlocked {
        /// Do not initialise the set (no SETALL, no semop): "used before initialised".
        #[arg(long)]
        uninit: bool,
    },
    /// Two children, each holding one semaphore (semop -1 with SEM_UNDO) of two sets and
    /// waiting for the other's. Prints `{"pid","semids":[A,B],"pids":[holds A, holds B]}`.
    Deadlock,
    /// A queue filled with N messages of 100 bytes by a child that then exits (a leak).
    /// Prints {"pid","msqid","sender_pid","qnum","cbytes"}.
    QueueLeft {
        #[arg(default_value_t = 3)]
        n: u64,
    },
    /// For the snapshot benchmark: in a private IPC namespace (unshare), about OBJECTS
    /// objects (3/10 segments, 3/10 queues with a message, the rest 2-semaphore sets) and PROCS
    /// children, each attaching two segments, one in ten blocked on a semaphore. Everything
    /// goes with the namespace when the processes exit. Prints {"pid","shm","sem","msg","procs"}.
    Many {
        #[arg(long, default_value_t = 10_000)]
        objects: usize,
        #[arg(long, default_value_t = 1_000)]
        procs: usize,
    },
}

pub fn run(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::OrphanShm => orphan_shm(),
        Cmd::ShmAttached { n } => shm_attached(n),
        Cmd::SemBlocked { uninit } => sem_blocked(uninit),
        Cmd::Deadlock => deadlock(),
        Cmd::QueueLeft { n } => queue_left(n),
        Cmd::Many { objects, procs } => many(objects, procs),
    }
}

/// A pipe for parent/child hand-offs of small integers.
pub(crate) struct Pipe {
    r: PipeReader,
    w: PipeWriter,
}

impl Pipe {
    pub(crate) fn new() -> anyhow::Result<Self> {
        let (r, w) = std::io::pipe().context("pipe")?;
        Ok(Self { r, w })
    }

    pub(crate) fn send(&self, v: i32) {
        let _ = (&self.w).write_all(&v.to_ne_bytes());
    }

    /// Reads one integer (None on EOF or error).
    pub(crate) fn recv(&self) -> Option<i32> {
        let mut b = [0u8; 4];
        (&self.r).read_exact(&mut b).ok()?;
        Some(i32::from_ne_bytes(b))
    }
}

/// Children to kill (SIGKILL) and reap on drop.
#[derive(Default)]
pub(crate) struct Kids(Vec<Pid>);

impl Kids {
    /// Forks a child that dies with us and runs `f`, then exits with its code.
    pub(crate) fn spawn(&mut self, f: impl FnOnce() -> i32) -> anyhow::Result<i32> {
        let parent = getpid();
        // SAFETY: the workload is single-threaded; the child only runs `f` and exits.
        match unsafe { fork() }.context("fork")? {
            ForkResult::Child => {
                let _ = prctl::set_pdeathsig(Signal::SIGKILL);
                if getppid() != parent {
                    // SAFETY: leave without running the parent's destructors.
                    unsafe { libc::_exit(1) };
                }
                let code = f();
                // SAFETY: as above.
                unsafe { libc::_exit(code) };
            }
            ForkResult::Parent { child } => {
                self.0.push(child);
                Ok(child.as_raw())
            }
        }
    }

    /// Waits for a child to exit (for children that are meant to).
    pub(crate) fn reap(&mut self, pid: i32) {
        self.reap_ok(pid);
    }

    /// [`Kids::reap`], saying whether the child exited with 0.
    pub(crate) fn reap_ok(&mut self, pid: i32) -> bool {
        let pid = Pid::from_raw(pid);
        let st = waitpid(pid, None);
        self.0.retain(|&p| p != pid);
        matches!(st, Ok(nix::sys::wait::WaitStatus::Exited(_, 0)))
    }
}

impl Drop for Kids {
    fn drop(&mut self) {
        for &pid in &self.0 {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
    }
}

pub(crate) fn pause_forever() -> i32 {
    loop {
        pause();
    }
}

/// Polls `f` until it is true, for at most 10 s.
pub(crate) fn wait_until(what: &str, mut f: impl FnMut() -> bool) -> anyhow::Result<()> {
    let t = Instant::now();
    while !f() {
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn orphan_shm() -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    let p = Pipe::new()?;
    let size = 65536;
    let child = kids.spawn(
        || match sysv_mut::shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600) {
            Ok(id) => {
                p.send(id);
                0
            }
            Err(_) => {
                p.send(-1);
                1
            }
        },
    )?;
    let shmid = p.recv().context("no shmid from the child")?;
    anyhow::ensure!(shmid >= 0, "the child's shmget failed");
    c.shms.push(shmid);
    kids.reap(child);
    ready(json!({"pid": std::process::id(), "creator_pid": child, "shmid": shmid, "size": size}));
    hold();
    Ok(())
}

fn shm_attached(n: usize) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    let size = 16384;
    let shmid = sysv_mut::shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600).context("shmget")?;
    c.shms.push(shmid);
    let p = Pipe::new()?;
    let mut pids = Vec::new();
    for _ in 0..n {
        pids.push(kids.spawn(|| match sysv_mut::shmat(shmid, 0) {
            Ok(_) => {
                p.send(1);
                pause_forever()
            }
            Err(_) => {
                p.send(0);
                1
            }
        })?);
    }
    for _ in 0..n {
        anyhow::ensure!(p.recv() == Some(1), "a child could not attach");
    }
    ready(json!({"pid": std::process::id(), "shmid": shmid, "attached_pids": pids, "size": size}));
    hold();
    Ok(())
}

fn ncnt(semid: i32, semnum: i32) -> i32 {
    sysv::semctl_int(semid, semnum, semcmd::GETNCNT, 0).unwrap_or(-1)
}

fn sem_blocked(uninit: bool) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    let semid = sysv_mut::semget(IPC_PRIVATE, 3, IPC_CREAT | 0o600).context("semget")?;
    c.sems.push(semid);
    if !uninit {
        sysv_mut::semctl_setall(semid, &[1, 0, 1]).context("SETALL")?;
        // A first semop marks the set as initialised (sem_otime != 0).
        sysv_mut::semop(semid, &mut [sembuf(0, -1, 0), sembuf(0, 1, 0)]).context("semop")?;
    }
    let waiter = kids.spawn(|| {
        let _ = sysv_mut::semop(semid, &mut [sembuf(1, -1, 0)]);
        0
    })?;
    wait_until("the child to block", || ncnt(semid, 1) == 1)?;
    ready(
        json!({"pid": std::process::id(), "semid": semid, "waiter_pid": waiter, "semnum": 1, "sem_op": -1}),
    );
    hold();
    Ok(())
}

fn deadlock() -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    let mut sets = [0; 2];
    for s in &mut sets {
        *s = sysv_mut::semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600).context("semget")?;
        c.sems.push(*s);
        sysv_mut::semctl_setval(*s, 0, 1).context("SETVAL")?;
        sysv_mut::semop(*s, &mut [sembuf(0, -1, 0), sembuf(0, 1, 0)]).context("semop")?;
    }
    let held = Pipe::new()?;
    let mut pids = Vec::new();
    let mut gos = Vec::new();
    for i in 0..2 {
        let (mine, theirs) = (sets[i], sets[1 - i]);
        let go = Pipe::new()?;
        let held = &held;
        let go_ref = &go;
        pids.push(kids.spawn(|| {
            // A round that goes well first (its lock taken and given back), as a program's
            // would before it deadlocks: what shows the semaphore is a lock.
            let take = || sysv_mut::semop(mine, &mut [sembuf(0, -1, SEM_UNDO)]);
            let give = || sysv_mut::semop(mine, &mut [sembuf(0, 1, SEM_UNDO)]);
            if take().is_err() || give().is_err() || take().is_err() {
                held.send(0);
                return 1;
            }
            held.send(1);
            if go_ref.recv().is_none() {
                return 1;
            }
            let _ = sysv_mut::semop(theirs, &mut [sembuf(0, -1, SEM_UNDO)]);
            0
        })?);
        gos.push(go);
    }
    for _ in 0..2 {
        anyhow::ensure!(
            held.recv() == Some(1),
            "a child could not take its semaphore"
        );
    }
    for g in &gos {
        g.send(1);
    }
    wait_until("both children to block", || {
        ncnt(sets[0], 0) == 1 && ncnt(sets[1], 0) == 1
    })?;
    ready(json!({"pid": std::process::id(), "semids": sets, "pids": pids}));
    hold();
    Ok(())
}

fn queue_left(n: u64) -> anyhow::Result<()> {
    let mut c = Cleanup::default();
    let mut kids = Kids::default();
    let p = Pipe::new()?;
    let child = kids.spawn(|| {
        let Ok(q) = sysv_mut::msgget(IPC_PRIVATE, IPC_CREAT | 0o600) else {
            p.send(-1);
            return 1;
        };
        for _ in 0..n {
            if sysv_mut::msgsnd(q, 1, &[0x5a; 100], 0).is_err() {
                let _ = sysv_mut::msgctl_rmid(q);
                p.send(-1);
                return 1;
            }
        }
        p.send(q);
        0
    })?;
    let msqid = p.recv().context("no msqid from the child")?;
    anyhow::ensure!(msqid >= 0, "the child's msgget/msgsnd failed");
    c.msgs.push(msqid);
    kids.reap(child);
    ready(
        json!({"pid": std::process::id(), "msqid": msqid, "sender_pid": child, "qnum": n, "cbytes": n * 100}),
    );
    hold();
    Ok(())
}

fn many(objects: usize, procs: usize) -> anyhow::Result<()> {
    unshare(CloneFlags::CLONE_NEWIPC).context("unshare(CLONE_NEWIPC) (needs root)")?;
    let nshm = (objects * 3 / 10).clamp(1, 4000);
    let nmsg = objects * 3 / 10;
    let nsem = objects.saturating_sub(nshm + nmsg).max(1);
    let mut shms = Vec::with_capacity(nshm);
    for _ in 0..nshm {
        shms.push(sysv_mut::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600).context("shmget")?);
    }
    let mut sems = Vec::with_capacity(nsem);
    for _ in 0..nsem {
        let id = sysv_mut::semget(IPC_PRIVATE, 2, IPC_CREAT | 0o600).context("semget")?;
        sysv_mut::semctl_setall(id, &[1, 0]).context("SETALL")?;
        sysv_mut::semop(id, &mut [sembuf(0, -1, 0), sembuf(0, 1, 0)]).context("semop")?;
        sems.push(id);
    }
    for _ in 0..nmsg {
        let id = sysv_mut::msgget(IPC_PRIVATE, IPC_CREAT | 0o600).context("msgget")?;
        sysv_mut::msgsnd(id, 1, &[1; 16], 0).context("msgsnd")?;
    }
    let mut kids = Kids::default();
    let p = Pipe::new()?;
    for i in 0..procs {
        let (a, b) = (shms[i % nshm], shms[(i + 1) % nshm]);
        let sem = sems[i % nsem];
        kids.spawn(|| {
            let ok = sysv_mut::shmat(a, 0).is_ok() && sysv_mut::shmat(b, 0).is_ok();
            p.send(ok as i32);
            if i % 10 == 0 {
                let _ = sysv_mut::semop(sem, &mut [sembuf(1, -1, 0)]);
            }
            pause_forever()
        })?;
    }
    for _ in 0..procs {
        anyhow::ensure!(p.recv() == Some(1), "a child could not attach");
    }
    ready(
        json!({"pid": std::process::id(), "shm": nshm, "sem": nsem, "msg": nmsg, "procs": procs}),
    );
    hold();
    Ok(())
}
