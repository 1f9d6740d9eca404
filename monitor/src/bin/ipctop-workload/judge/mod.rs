//! Situations for the scenario battery of ipctop's judgements (`ipctop-workload judge NAME`):
//! ordinary patterns that must never be called deadlocks, real deadlocks (between processes,
//! threads, or a process and itself; across a System V lock and a robust mutex), a stuck wait, waits and objects from before ipctop
//! started, waiters killed in a call, leaks and idle daemons, a neighbour and two namespaces.
//!
//! Each runs in a private IPC namespace (unshare(CLONE_NEWIPC) first, before anything is
//! made): a kill of the whole process group leaves nothing behind, the namespace dies with
//! its processes. The protocol, one JSON object a line on stdout:
//! - `{"phase":"ns","situation","pid","ipc_ns","waiting"}` at once; with `--wait-go` it then
//!   waits for a line on stdin (EOF: it ends, having made nothing);
//! - `{"phase":"ready",…}` once set up, with the `pids` and `tids` of each role (an object of
//!   lists), the `semids` and `msqids` (ids of its namespace) and what else the situation
//!   knows (its ground truth, checked in the kernel before saying so);
//! - some situations say more later (`killed`).
//!
//! It then runs until stdin closes or SIGTERM/SIGINT, and kills its children and removes its
//! objects on every way out (children die with it: PR_SET_PDEATHSIG).
mod lifecycle;
mod locks;
mod mixed;
mod patterns;

use std::time::Duration;

use anyhow::Context;
use ipctop::sysv::{IPC_CREAT, IPC_PRIVATE};
use nix::sched::{unshare, CloneFlags};
use serde_json::{json, Value};

use crate::common::Cleanup;
use crate::sysv_mut::{self, sembuf};

#[derive(clap::Args)]
pub struct Cmd {
    #[command(subcommand)]
    situation: Situation,
}

#[derive(clap::Subcommand, Clone, Copy)]
pub enum Situation {
    /// A producer posts a job semaphore every 200 ms; three workers block on it, take a job,
    /// work 50 ms, loop. Never a deadlock; the producer is the poster.
    WorkerPool,
    /// Two producers and a slow consumer (an item every 3 s) over empty/full/mutex
    /// semaphores. Never a deadlock.
    BoundedBuffer,
    /// A pool of 2 taken by 4 workers (150 ms each); every 2.5 s a ticker closes a gate the
    /// holders pass for 0.7 s, so that all four are blocked at once, and it resolves.
    CountingPool,
    /// Four processes take turns on one binary semaphore (SEM_UNDO), 50 ms holds, forever.
    ContendedLock,
    /// Two processes: A then B, and B then A (after rounds that went well). A deadlock.
    Abba,
    /// Three processes in a cycle over three locks. A deadlock.
    Cycle3,
    /// A holds a System V lock and waits on a robust process-shared mutex (in a System V
    /// segment) that B owns; B waits on A's lock. A deadlock across both kinds.
    SemMutex,
    /// A process takes a lock, then waits for it again. A deadlock.
    SelfDeadlock,
    /// Two threads of one process, A then B and B then A. A deadlock (of threads).
    AbbaThreads,
    /// A holder takes a lock without SEM_UNDO and exits; a waiter waits: stuck, nobody alive
    /// can raise it.
    Stuck,
    /// A thread of a child blocked on a semaphore from the start (for the monitor started
    /// long after): a long wait.
    EarlyWaiter,
    /// One child blocked in semop and one in msgrcv, SIGKILLed after KILL_AFTER seconds (then
    /// `{"phase":"killed"}`): no failed calls.
    KilledWaiter {
        #[arg(long, default_value_t = 4.0)]
        kill_after: f64,
    },
    /// Creates a set and a queue, operates once on each, then sleeps (alive): never a leak.
    IdleDaemon,
    /// Children create a queue, send and receive two messages, and exit without removing it
    /// (empty): a leak once its users are gone.
    QueueLeft,
    /// Two locks taken by a live, running process (not blocked); two waiters whose zero-ops
    /// made each the other's "last operating pid": no deadlock, no guessed one.
    NearDeadlockGuess,
    /// A pair deadlocked AB/BA, another pair deadlocked until it is killed after
    /// TRANSIENT_FOR seconds (then `{"phase":"transient_gone"}`), and a process making failing
    /// calls (EAGAIN, EINVAL) every 200 ms: the unrelated neighbour of a recorded command.
    Neighbour {
        #[arg(long, default_value_t = 5.0)]
        transient_for: f64,
    },
    /// A clean command: a lock and a queue used every 100 ms by a thread, no failed call, no
    /// wait; removes its objects and exits 0 when stdin closes.
    Clean,
    /// Known calls in this namespace (A) and in a child's own (B): CALLS_A and CALLS_B semops
    /// after the set-up's three calls each, and in B seven more of which five fail (EAGAIN).
    /// Ready says `ns_a`, `ns_b`, `calls_a`, `calls_b` (every call made in each) and
    /// `by_syscall_a`, `by_syscall_b`.
    TwoNamespaces {
        #[arg(long, default_value_t = 300)]
        calls_a: u32,
        #[arg(long, default_value_t = 700)]
        calls_b: u32,
    },
}

impl Situation {
    fn name(self) -> &'static str {
        match self {
            Situation::WorkerPool => "worker_pool",
            Situation::BoundedBuffer => "bounded_buffer",
            Situation::CountingPool => "counting_pool",
            Situation::ContendedLock => "contended_lock",
            Situation::Abba => "abba",
            Situation::Cycle3 => "cycle3",
            Situation::SemMutex => "sem_mutex",
            Situation::SelfDeadlock => "self_deadlock",
            Situation::AbbaThreads => "abba_threads",
            Situation::Stuck => "stuck",
            Situation::EarlyWaiter => "early_waiter",
            Situation::KilledWaiter { .. } => "killed_waiter",
            Situation::IdleDaemon => "idle_daemon",
            Situation::QueueLeft => "queue_left",
            Situation::NearDeadlockGuess => "near_deadlock_guess",
            Situation::Neighbour { .. } => "neighbour",
            Situation::Clean => "clean",
            Situation::TwoNamespaces { .. } => "two_namespaces",
        }
    }
}

/// The situation's private namespace and what it says on stdout.
pub struct Said {
    situation: &'static str,
    ipc_ns: u64,
}

impl Said {
    /// Prints `{"phase":PHASE,"situation","pid","ipc_ns", …v}`.
    pub fn say(&self, phase: &str, v: Value) {
        let mut o = json!({
            "phase": phase,
            "situation": self.situation,
            "pid": std::process::id(),
            "ipc_ns": self.ipc_ns,
        });
        if let (Some(o), Value::Object(v)) = (o.as_object_mut(), v) {
            o.extend(v);
        }
        crate::common::ready(o);
    }
}

pub fn run(cmd: Cmd, wait_go: bool) -> anyhow::Result<()> {
    let sit = cmd.situation;
    unshare(CloneFlags::CLONE_NEWIPC).context("unshare(CLONE_NEWIPC) (needs root)")?;
    let said = Said {
        situation: sit.name(),
        ipc_ns: ns_inode("self").context("reading /proc/self/ns/ipc")?,
    };
    said.say("ns", json!({ "waiting": wait_go }));
    if wait_go {
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).unwrap_or(0) == 0 {
            return Ok(());
        }
    }
    match sit {
        Situation::WorkerPool => patterns::worker_pool(&said),
        Situation::BoundedBuffer => patterns::bounded_buffer(&said),
        Situation::CountingPool => patterns::counting_pool(&said),
        Situation::ContendedLock => patterns::contended_lock(&said),
        Situation::Abba => locks::ring(&said, 2, locks::Actors::Processes),
        Situation::Cycle3 => locks::ring(&said, 3, locks::Actors::Processes),
        Situation::SemMutex => mixed::sem_and_mutex(&said),
        Situation::SelfDeadlock => locks::ring(&said, 1, locks::Actors::Processes),
        Situation::AbbaThreads => locks::ring(&said, 2, locks::Actors::Threads),
        Situation::Stuck => locks::stuck(&said),
        Situation::NearDeadlockGuess => locks::near_deadlock_guess(&said),
        Situation::Neighbour { transient_for } => locks::neighbour(&said, transient_for),
        Situation::EarlyWaiter => lifecycle::early_waiter(&said),
        Situation::KilledWaiter { kill_after } => lifecycle::killed_waiter(&said, kill_after),
        Situation::IdleDaemon => lifecycle::idle_daemon(&said),
        Situation::QueueLeft => lifecycle::queue_left(&said),
        Situation::Clean => lifecycle::clean(&said),
        Situation::TwoNamespaces { calls_a, calls_b } => {
            lifecycle::two_namespaces(&said, calls_a, calls_b)
        }
    }
}

/// The inode of `/proc/WHO/ns/ipc` ("self", a pid or a tid).
pub fn ns_inode(who: &str) -> anyhow::Result<u64> {
    let link = std::fs::read_link(format!("/proc/{who}/ns/ipc"))?;
    let s = link.to_string_lossy();
    s.strip_prefix("ipc:[")
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("unexpected namespace link {s}"))
}

/// The calling thread's id.
pub fn gettid() -> i32 {
    nix::unistd::gettid().as_raw()
}

/// System call numbers (x86-64) a blocked thread shows in /proc/TID/syscall.
pub const NR_SEMOP: i64 = 65;
pub const NR_SEMTIMEDOP: i64 = 220;
pub const NR_MSGRCV: i64 = 70;

/// Whether thread `tid` is blocked in one of `nrs` (the kernel's own word: the first field of
/// /proc/TID/syscall; "running" otherwise). Read from /proc, so that checking makes no IPC
/// call a monitor would count.
pub fn blocked_in(tid: i32, nrs: &[i64]) -> bool {
    std::fs::read_to_string(format!("/proc/{tid}/syscall"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<i64>().ok())
        .is_some_and(|nr| nrs.contains(&nr))
}

/// Waits until every thread of `tids` is blocked in a semop (10 s at most).
pub fn wait_blocked_in_semop(tids: &[i32]) -> anyhow::Result<()> {
    crate::situations::wait_until("the waiters to block in semop", || {
        tids.iter()
            .all(|&t| blocked_in(t, &[NR_SEMOP, NR_SEMTIMEDOP]))
    })
}

/// A new private set with these values, marked as used (one semop: +1 then -1 on semaphore
/// 0, which sets sem_otime) so that nothing takes it for a set used before it was set up.
/// Three calls: semget, SETALL, semop.
pub fn new_set(c: &mut Cleanup, vals: &[u16]) -> anyhow::Result<i32> {
    let id =
        sysv_mut::semget(IPC_PRIVATE, vals.len() as i32, IPC_CREAT | 0o600).context("semget")?;
    c.sems.push(id);
    sysv_mut::semctl_setall(id, vals).context("SETALL")?;
    sysv_mut::semop(id, &mut [sembuf(0, 1, 0), sembuf(0, -1, 0)]).context("semop")?;
    Ok(id)
}

/// semop of one operation.
pub fn op(semid: i32, num: u16, delta: i16, flags: i16) -> std::io::Result<()> {
    sysv_mut::semop(semid, &mut [sembuf(num, delta, flags)])
}

/// Sleeps `d` in short steps, returning early (false) once the workload is told to stop.
pub fn nap(d: Duration) -> bool {
    let end = std::time::Instant::now() + d;
    while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
        if crate::common::stopped() {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
    !crate::common::stopped()
}

/// [`nap`] as a step of a loop: an error once the workload is told to stop.
pub fn pause(d: Duration) -> std::io::Result<()> {
    if nap(d) {
        Ok(())
    } else {
        Err(std::io::ErrorKind::Interrupted.into())
    }
}

/// A child's loop: runs `step` until it fails (its objects removed at the end, or a signal
/// to stop), then exits.
pub fn forever(mut step: impl FnMut() -> std::io::Result<()>) -> i32 {
    loop {
        if step().is_err() {
            return 1;
        }
    }
}
