//! The scenarios and what each is: per finding kind, must ipctop say it (Yes), must it not
//! (No, the default), or may it either way (Any); what a snapshot, which has no probe
//! history, may say instead; what a finding must name; and the checks beyond the kinds.
use super::Kind::{self, *};

/// What a surface must say of a kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Want {
    /// Shown at the end of the observation (naming what [`Scenario::named`] says).
    Yes,
    /// Shown at the end, or any of these kinds instead.
    YesOr(&'static [Kind]),
    /// Never shown, at any observation.
    No,
    /// Either (not counted; still checked for agreement between surfaces).
    Any,
}

/// When the situation starts, against the monitors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Start {
    /// Once every surface is up: the probe sees it all.
    AfterSurfaces,
    /// Before: the surfaces start this many seconds after it is ready.
    BeforeSurfaces(f64),
}

/// How the situation is run and recorded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Setup {
    /// The workload; `record --ipc-ns NS`; `report --ipc-ns NS`.
    Plain,
    /// `record -- WORKLOAD judge clean` (the command, which the live surfaces watch) beside
    /// `WORKLOAD judge neighbour` (another namespace); `report` judges the command.
    Neighbour,
    /// The workload's calls in namespaces A and B; `record` of every namespace; `report
    /// --ipc-ns` of each.
    TwoNamespaces,
}

/// What a must-fire finding must name: the pids (or tids) of these roles of the ready line,
/// or the objects it made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Named {
    Nothing,
    Pids(&'static [&'static str]),
    Tids(&'static [&'static str]),
    Objects,
}

/// Checks beyond the kinds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Check {
    /// "Held by" names exactly one pid whenever it names any, one of these roles'.
    HeldByOne(&'static str),
    /// No process of this role is "held by" (they only wait; a snapshot, which has no
    /// history, may say it guesses); a poster named is of the second role.
    NotHeldBy(&'static str, &'static str),
    /// A long wait's figure, where a surface gives one, counted from the wait's start (the
    /// ready line's `began_unix_ns`), not from ipctop's: at least this many seconds, and at
    /// least what the wait had lasted at the surface's last look (less 3 s).
    MinWait(f64),
    /// `trace` shows the killed waiters' calls ended by their exit, not failed.
    TraceEndedByExit,
    /// The report names the neighbour's deadlock and failing calls under context.
    Context,
    /// `report --ipc-ns A` (and B) totals, and the exporter's per-namespace counts, equal
    /// each namespace's own calls.
    Totals,
}

#[derive(Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    /// `ipctop-workload judge SITUATION ARGS…`.
    pub situation: &'static str,
    pub args: &'static [&'static str],
    pub setup: Setup,
    pub start: Start,
    /// How long the surfaces watch it after it is ready (seconds).
    pub window_s: f64,
    /// Kinds not listed: No.
    pub want: &'static [(Kind, Want)],
    /// On a surface without the probe's history (the snapshot), these replace `want`'s.
    pub without_history: &'static [(Kind, Want)],
    pub named: Named,
    pub checks: &'static [Check],
    /// Threads of these roles must still be blocked in semop at the end (the situation held:
    /// the kernel's word, else the run is void).
    pub blocked: &'static [&'static str],
}

impl Scenario {
    /// What `surface_history` (a surface with or without the probe's history) must say of `k`.
    pub fn want(&self, k: Kind, history: bool) -> Want {
        let find = |t: &[(Kind, Want)]| t.iter().find(|(x, _)| *x == k).map(|(_, w)| *w);
        (!history)
            .then(|| find(self.without_history))
            .flatten()
            .or_else(|| find(self.want))
            .unwrap_or(Want::No)
    }

    /// About how long a run takes (seconds), to start the longest first.
    pub fn expected_s(&self) -> f64 {
        let before = match self.start {
            Start::BeforeSurfaces(s) => s,
            Start::AfterSurfaces => 0.0,
        };
        before + self.window_s
    }
}

/// What a scenario is unless it says otherwise: run plainly, after the surfaces, watched 15 s,
/// nothing to be found.
const BASE: Scenario = Scenario {
    name: "",
    about: "",
    situation: "",
    args: &[],
    setup: Setup::Plain,
    start: Start::AfterSurfaces,
    window_s: 15.0,
    want: &[],
    without_history: &[],
    named: Named::Nothing,
    checks: &[],
    blocked: &[],
};

/// A window whose last look comes after the waits are long (`LONG_WAIT_S`, which the
/// surfaces are given): a snapshot, without the probe's history, says "stalled" only then.
const PAST_LONG_WAIT: f64 = super::LONG_WAIT_S + 8.0;

/// A deadlock of the ready line's "deadlocked" processes, still blocked at the end: proven on
/// the surfaces with history; a snapshot may only call it stalled.
const A_DEADLOCK: Scenario = Scenario {
    window_s: PAST_LONG_WAIT,
    want: &[(Deadlock, Want::Yes), (LongWait, Want::Any)],
    without_history: &[(Deadlock, Want::YesOr(&[Stalled])), (Stalled, Want::Any)],
    named: Named::Pids(&["deadlocked"]),
    blocked: &["deadlocked"],
    ..BASE
};

static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "worker_pool",
        about: "a producer posts a job semaphore every 200 ms; three workers block on it, \
                take a job, work, loop: never a deadlock, the producer is the poster",
        situation: "worker-pool",
        checks: &[Check::NotHeldBy("workers", "producer")],
        ..BASE
    },
    Scenario {
        name: "bounded_buffer",
        about: "two producers, one consumer taking an item every 3 s (empty/full/mutex): \
                never a deadlock",
        situation: "bounded-buffer",
        ..BASE
    },
    Scenario {
        name: "counting_pool",
        about: "a pool of 2 shared by 4 workers, with a moment every 2.5 s when all four are \
                blocked (a ticker holds a gate): never a deadlock, it resolves itself",
        situation: "counting-pool",
        ..BASE
    },
    Scenario {
        name: "contended_lock",
        about: "4 processes take turns on a binary semaphore, 50 ms holds, forever: never a \
                deadlock, one holder at a time",
        situation: "contended-lock",
        checks: &[Check::HeldByOne("workers")],
        ..BASE
    },
    Scenario {
        name: "abba",
        about: "two processes take A then B and B then A: a deadlock of both",
        situation: "abba",
        ..A_DEADLOCK
    },
    Scenario {
        name: "cycle3",
        about: "three processes in a cycle over three locks: a deadlock of all three",
        situation: "cycle3",
        ..A_DEADLOCK
    },
    Scenario {
        name: "self_deadlock",
        about: "a process takes a lock, then waits for it again: a deadlock",
        situation: "self-deadlock",
        ..A_DEADLOCK
    },
    Scenario {
        name: "abba_threads",
        about: "two threads of one process, A then B and B then A: a deadlock naming the \
                threads",
        situation: "abba-threads",
        named: Named::Tids(&["deadlocked"]),
        ..A_DEADLOCK
    },
    Scenario {
        name: "sem_mutex",
        about: "A holds a System V lock and waits on a robust mutex (in a segment) that B \
                owns; B waits on A's lock: one deadlock of both, across the two kinds",
        situation: "sem-mutex",
        blocked: &["owns_mutex"],
        ..A_DEADLOCK
    },
    Scenario {
        name: "stuck",
        about: "a holder takes a lock without SEM_UNDO and exits; a waiter waits: stuck \
                (nobody alive can raise it), not a deadlock",
        situation: "stuck",
        want: &[(Stuck, Want::Yes), (LongWait, Want::Any)],
        without_history: &[(Stuck, Want::YesOr(&[Stalled])), (Stalled, Want::Any)],
        named: Named::Pids(&["waiter"]),
        blocked: &["waiter"],
        window_s: PAST_LONG_WAIT,
        ..BASE
    },
    Scenario {
        name: "early_waiter",
        about: "a thread blocked on a semaphore 20 s before ipctop starts: its wait shows at \
                least 19 s and trips wait>15",
        situation: "early-waiter",
        start: Start::BeforeSurfaces(20.0),
        // Short: a monitor that counts the wait from its own start must not reach 15 s.
        window_s: 4.0,
        want: &[
            (LongWait, Want::Yes),
            (Stuck, Want::Any),
            (Stalled, Want::Any),
        ],
        named: Named::Pids(&["waiter"]),
        checks: &[Check::MinWait(19.0)],
        blocked: &["waiter"],
        ..BASE
    },
    Scenario {
        name: "killed_waiter",
        about: "a process SIGKILLed while blocked in semop, another in msgrcv: no failed call, \
                and trace shows the calls ended by exit",
        situation: "killed-waiter",
        args: &["--kill-after", "4"],
        window_s: 12.0,
        want: &[(Stuck, Want::Any), (Stalled, Want::Any)],
        checks: &[Check::TraceEndedByExit],
        ..BASE
    },
    Scenario {
        name: "idle_daemon",
        about: "a daemon made a set and a queue, used each once and sleeps, from before \
                ipctop: never a leak",
        situation: "idle-daemon",
        start: Start::BeforeSurfaces(3.0),
        window_s: 10.0,
        ..BASE
    },
    Scenario {
        name: "queue_left",
        about: "processes made a queue, sent and received, and exited without removing it \
                (empty): a leak once its users are gone",
        situation: "queue-left",
        window_s: 10.0,
        want: &[(Leak, Want::Yes)],
        // The kernel keeps no creator for a queue: a snapshot (no probe history) cannot show
        // it abandoned, and a leak is claimed only on evidence.
        without_history: &[(Leak, Want::Any)],
        named: Named::Objects,
        ..BASE
    },
    Scenario {
        name: "near_deadlock_guess",
        about: "locks taken before ipctop by a live, running process; two waiters each the \
                other's last operating pid: no deadlock, no guessed one",
        situation: "near-deadlock-guess",
        start: Start::BeforeSurfaces(2.0),
        window_s: 12.0,
        want: &[(Stalled, Want::Any), (LongWait, Want::Any)],
        blocked: &["waiters"],
        ..BASE
    },
    Scenario {
        name: "neighbour",
        about: "record -- a clean command while unrelated pairs deadlock (one of them killed \
                after 5 s) and another process fails calls: the command's gates pass, the \
                neighbour is context",
        situation: "clean",
        setup: Setup::Neighbour,
        window_s: 12.0,
        checks: &[Check::Context],
        ..BASE
    },
    Scenario {
        name: "two_namespaces",
        about: "known call counts in namespaces A and B (B's with failed calls): report \
                --ipc-ns A totals equal A's own, and B's failures are not A's",
        situation: "two-namespaces",
        setup: Setup::TwoNamespaces,
        window_s: 6.0,
        checks: &[Check::Totals],
        ..BASE
    },
];

/// Every scenario, in table order.
pub fn scenarios() -> &'static [Scenario] {
    SCENARIOS
}
