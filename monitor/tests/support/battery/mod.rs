//! The scenario battery of ipctop's judgements: real situations (`ipctop-workload judge …`,
//! each in a private IPC namespace) observed by every surface at once — `snapshot --json`
//! (repeatedly), `serve` (scraped), `record` then `report --json` and its `--fail-on` gates,
//! and the dashboard in tmux (Problems and Overview) — with a verdict per finding kind
//! (deadlock, stuck, stalled, leak, long_wait, error) and the holders shown, compared with
//! what each situation is.
//!
//! Shared by the root tests (`monitor/tests/judgements_real.rs`) and `cargo xtask battery`
//! (which includes this directory), so both hold ipctop to the same table. It needs only std,
//! serde_json and nix (signal, process), which both crates have.
#![allow(dead_code)]

pub mod extract;
pub mod judge;
pub mod proc;
pub mod render;
pub mod session;
pub mod surfaces;
pub mod table;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

pub use judge::Outcome;
pub use table::{scenarios, Scenario};

/// A kind of finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Proven: a cycle of threads each waiting for what another holds.
    Deadlock,
    /// A waiter nobody alive can release.
    Stuck,
    /// Blocked threads that cannot be proven deadlocked.
    Stalled,
    Leak,
    /// A wait longer than [`LONG_WAIT_S`].
    LongWait,
    /// Failed calls.
    Error,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Deadlock,
        Kind::Stuck,
        Kind::Stalled,
        Kind::Leak,
        Kind::LongWait,
        Kind::Error,
    ];

    /// As JSON documents name it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Deadlock => "deadlock",
            Kind::Stuck => "stuck",
            Kind::Stalled => "stalled",
            Kind::Leak => "leak",
            Kind::LongWait => "long_wait",
            Kind::Error => "error",
        }
    }

    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The `--fail-on` condition for it.
    pub fn gate(self) -> String {
        match self {
            Kind::LongWait => format!("wait>{LONG_WAIT_S}"),
            k => k.name().to_string(),
        }
    }
}

/// Where ipctop shows its judgements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Surface {
    /// `ipctop snapshot --json`, taken again and again: no probe, no history.
    Snapshot,
    /// `ipctop serve`, scraped.
    Serve,
    /// `ipctop report --json` on what `ipctop record` wrote.
    Report,
    /// `ipctop report --fail-on KIND`: its exit code.
    Gate,
    /// The dashboard in tmux: Problems (7) and Overview (1).
    Dashboard,
}

impl Surface {
    pub const ALL: [Surface; 5] = [
        Surface::Snapshot,
        Surface::Serve,
        Surface::Report,
        Surface::Gate,
        Surface::Dashboard,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Surface::Snapshot => "snapshot",
            Surface::Serve => "serve",
            Surface::Report => "report",
            Surface::Gate => "gate",
            Surface::Dashboard => "dashboard",
        }
    }

    /// Whether it has the probe's history of the calls (all but the snapshot).
    pub fn history(self) -> bool {
        self != Surface::Snapshot
    }

    /// Whether it can show a kind at all (a snapshot has no probe: no failed calls).
    pub fn shows(self, k: Kind) -> bool {
        !(self == Surface::Snapshot && k == Kind::Error)
    }
}

/// The one long-wait threshold of the battery (seconds): every surface is run with it.
pub const LONG_WAIT_S: f64 = 15.0;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    pub ipctop: PathBuf,
    pub workload: PathBuf,
    /// Scenarios at once.
    pub jobs: usize,
    /// Progress lines on stderr.
    pub verbose: bool,
    /// Keep each run's recording and the last output of every surface here, in a directory
    /// per scenario (with the run's table).
    pub keep: Option<PathBuf>,
}

/// Runs `names` (every scenario when empty), `cfg.jobs` at once, the longest first; calls
/// `done` with each outcome as it comes. Returns the outcomes in table order.
pub fn run(cfg: &Config, names: &[String], done: &(dyn Fn(&Outcome) + Sync)) -> Vec<Outcome> {
    let mut todo: Vec<&'static Scenario> = scenarios()
        .iter()
        .filter(|s| names.is_empty() || names.iter().any(|n| n == s.name))
        .collect();
    todo.sort_by(|a, b| b.expected_s().total_cmp(&a.expected_s()));
    let queue = Mutex::new(todo);
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        for _ in 0..cfg.jobs.max(1) {
            sc.spawn(|| loop {
                let next = {
                    let mut q = queue.lock().unwrap();
                    (!q.is_empty()).then(|| q.remove(0))
                };
                let Some(s) = next else { break };
                let o = session::run_one(cfg, s);
                done(&o);
                outcomes.lock().unwrap().push(o);
            });
        }
    });
    let mut v = outcomes.into_inner().unwrap();
    let order = |o: &Outcome| scenarios().iter().position(|s| s.name == o.scenario.name);
    v.sort_by_key(order);
    v
}

/// The battery run once per process in the background, for tests that each wait for their
/// scenario's outcome (so that scenarios run `jobs` at once however many test threads there
/// are).
pub struct Background {
    results: Mutex<BTreeMap<&'static str, Arc<Outcome>>>,
    arrived: std::sync::Condvar,
}

impl Background {
    /// Starts the scenarios `names` in a thread of its own.
    pub fn start(cfg: Config, names: Vec<String>) -> &'static Background {
        let bg: &'static Background = Box::leak(Box::new(Background {
            results: Mutex::new(BTreeMap::new()),
            arrived: std::sync::Condvar::new(),
        }));
        std::thread::spawn(move || {
            run(&cfg, &names, &|o| {
                bg.results
                    .lock()
                    .unwrap()
                    .insert(o.scenario.name, Arc::new(o.clone()));
                bg.arrived.notify_all();
            });
        });
        bg
    }

    /// The outcome of scenario `name`, waiting for it at most `timeout`.
    pub fn outcome(&self, name: &str, timeout: Duration) -> Option<Arc<Outcome>> {
        let end = std::time::Instant::now() + timeout;
        let mut r = self.results.lock().unwrap();
        loop {
            if let Some(o) = r.get(name) {
                return Some(Arc::clone(o));
            }
            let left = end.checked_duration_since(std::time::Instant::now())?;
            r = self.arrived.wait_timeout(r, left).unwrap().0;
        }
    }
}
