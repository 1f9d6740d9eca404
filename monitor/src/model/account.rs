//! The one account of activity: calls, failures by errno, interrupted and ended calls, time
//! spent in blocking calls, waits and their histogram, and rates — in total, per syscall, per
//! object, per process, per (object, process) and per (namespace, command name). Every figure
//! the dashboard, `snapshot`, `report` and the exporter show is read from here.
//!
//! Where the counts come from ([`CountSource`]):
//! - `Kernel`: the probe aggregates in the kernel (the dashboard, `record`, `serve`): each
//!   kernel row's growth since the previous sample is added ([`Growth`]), so what the kernel
//!   forgets (rows of processes that are gone and objects that are removed, handed over once
//!   with their final counts) stays counted here; the events (every failure is sent) add the
//!   errno of each failure.
//! - `Events`: the probe sends every call (`trace`, `record --every-call`), or a recording
//!   without aggregates: everything is counted from the events.
//!
//! Totals and per-syscall counts are the kernel's own counters whenever the probe samples
//! them (every process the probe follows, calls naming no object included).
//!
//! Identities and lifecycle (`lifecycle`): a process is its pid and start — a reused pid
//! starts a new entry —, an object its (kind, namespace, id) from its birth to its removal —
//! a new object of the same id starts a new entry. What ends (an exited process, a removed
//! object) leaves the live account with its final tally, kept among the retired for a
//! retention window ([`Account::retired_since`]), and its calls stay in the totals, the
//! syscalls and the per-command totals, which only grow. So the account holds what exists
//! now and what ended lately, whatever the time ipctop has run.
//!
//! Observers: other ipctops (known by their executable, from the snapshots, or by their
//! threads' names in their calls) count in the totals, per syscall and per process, never as
//! activity on the objects they look at, nor as their users.
mod events;
mod lifecycle;
mod rows;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use monitor_ebpf::HIST_BUCKETS;
use serde::Serialize;

pub use super::tally::{hist_bounds_us, hist_bucket, Growth, Tally};
use super::{tally::Points, History, NsId, ObjId, ObjKind};
use crate::{
    event::{Syscall, NSYS},
    sample::{KernelSample, RowKey},
};
pub use lifecycle::{LateAdd, Retired, RetiredWhat, MAX_RETIRED};

/// A blocking call (semop, semtimedop, msgsnd, msgrcv) that took at least this long waited:
/// 2^20 ns (1.05 ms), where the kernel's histogram bucket 10 begins, so that events and the
/// kernel's aggregates count the same calls. The one definition of "a wait".
pub const WAIT_NS: u64 = 1 << 20;

/// Rates are taken over this window (between the samples closest to it).
pub const RATE_WINDOW_NS: u64 = 5_000_000_000;

/// The comm of an ipctop's main thread, and the prefix of its other threads' names
/// (`ipctop-rt`, `ipctop-nsread`, `ipctop-detach`, …): an observer's calls carry one of these
/// (the snapshots know observers by their executable; this names those too short-lived for a
/// snapshot).
pub const OBSERVER_COMM: &str = "ipctop";

/// Whether a thread name is one of an ipctop's (not the test workload's).
pub fn observer_comm(comm: &str) -> bool {
    comm == OBSERVER_COMM || (comm.starts_with("ipctop-") && !comm.starts_with("ipctop-workl"))
}

/// How long what ended (exited processes, removed objects) keeps its final account in the
/// live model, by default.
pub const RETENTION_NS: u64 = 300_000_000_000;

/// Where the account's counts come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountSource {
    /// The events (every call sent, or no probe aggregates).
    #[default]
    Events,
    /// The kernel's aggregates (exact, as of the last sample).
    Kernel,
}

/// Whether a syscall can block (and so be a wait while in progress).
pub fn can_block(s: Syscall) -> bool {
    [
        Syscall::SEMOP,
        Syscall::SEMTIMEDOP,
        Syscall::MSGRCV,
        Syscall::MSGSND,
        Syscall::MQ_TIMEDSEND,
        Syscall::MQ_TIMEDRECEIVE,
    ]
    .contains(&s)
}

/// An object as the account knows it: its kind and identity.
pub type ObjKey = (ObjKind, ObjId);

/// What the account asks the model about a process.
pub trait Who {
    /// The IPC namespace it is in (for rows and events the kernel did not stamp).
    fn ns(&self, pid: u32) -> NsId;
    /// Its name, as /proc shows it.
    fn comm(&self, pid: u32) -> Option<String>;
    /// Whether it is another ipctop.
    fn observer(&self, pid: u32) -> bool;
    /// Its start (ticks since boot) as the last snapshot saw it.
    fn start(&self, pid: u32) -> Option<u64>;
    /// Whether the model has this object now.
    fn object_known(&self, key: &ObjKey) -> bool;
}

/// One process's entry: its identity and tally.
#[derive(Clone, Debug, Default)]
pub(super) struct ProcEntry {
    pub(super) start: Option<u64>,
    pub(super) ns: NsId,
    pub(super) comm: Option<String>,
    pub(super) tally: Tally,
}

/// One object's entry (its current generation).
#[derive(Clone, Debug, Default)]
pub(super) struct ObjEntry {
    /// When it was born (monotonic ns; 0: before ipctop saw it).
    pub(super) born_ns: u64,
    /// The kernel's id of its namespace, when its rows said it (see [`Account::apply_rows`]).
    pub(super) ns_id: Option<u64>,
    pub(super) tally: Tally,
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct Account {
    source: CountSource,
    total: Tally,
    syscalls: [Tally; NSYS],
    objects: BTreeMap<ObjKey, ObjEntry>,
    processes: BTreeMap<u32, ProcEntry>,
    pairs: BTreeMap<(ObjKey, u32), Tally>,
    /// The users of a live object that have ended (pid, calls), for its final account: at
    /// most [`lifecycle::MAX_ENDED_USERS`] per object, the rest counted in the last entry's
    /// pid 0.
    ended_users: BTreeMap<ObjKey, Vec<(u32, u64)>>,
    /// Per (namespace, command name): only grows (kept after the processes end).
    comm_totals: BTreeMap<(NsId, String), Tally>,
    observers: BTreeSet<u32>,
    /// The last failure of each (syscall, errno): pid, comm, monotonic ns.
    last_failures: BTreeMap<(Syscall, i32), (u32, String, u64)>,
    /// When the kernel's counters were last sampled (monotonic ns); `None`: never.
    kernel_at: Option<u64>,
    /// Events lost on the way to userspace (ring buffer full, undecodable).
    dropped: u64,
    /// Calls whose arguments were lost (the kernel's per-thread table was full).
    inflight_full: u64,
    /// Flushes to the kernel's aggregate table that found no room.
    agg_full: u64,
    /// Calls the kernel counted but could not keep per process and object (table full).
    lost_calls: u64,
    /// Semaphore operations the kernel could not keep per process (table full).
    lost_holds: u64,
    /// The last sample for rates.
    checkpoint: Option<u64>,
    /// Every call, per second (for the activity sparkline).
    history: History,
    /// Each object's calls per second between consecutive samples, the last
    /// [`RATES_KEPT`] (for its sparkline); dropped with the object's entry.
    object_rates: BTreeMap<ObjKey, VecDeque<f32>>,
    /// Each kernel row's counts at the last sample, to take its growth from.
    rows: HashMap<RowKey, rows::Row>,
    /// The newest kernel id seen per namespace inode, row by row (see
    /// [`Account::apply_rows`]): the inode's objects end when a newer namespace has it.
    row_ns: super::nsgen::NsGenerations,
    /// What ended lately, oldest first (see [`Account::retired_since`]).
    retired: VecDeque<Retired>,
    next_seq: u64,
    retention_ns: u64,
    /// Retired entries forgotten before their retention window ended (over [`MAX_RETIRED`]).
    retired_early: u64,
    /// What the current update added to retired entries (see [`Account::late_adds`]).
    late: Vec<LateAdd>,
    now_ns: u64,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            source: CountSource::default(),
            total: Tally::default(),
            syscalls: Default::default(),
            objects: BTreeMap::new(),
            processes: BTreeMap::new(),
            pairs: BTreeMap::new(),
            ended_users: BTreeMap::new(),
            comm_totals: BTreeMap::new(),
            observers: BTreeSet::new(),
            last_failures: BTreeMap::new(),
            kernel_at: None,
            dropped: 0,
            inflight_full: 0,
            agg_full: 0,
            lost_calls: 0,
            lost_holds: 0,
            checkpoint: None,
            history: History::default(),
            object_rates: BTreeMap::new(),
            rows: HashMap::new(),
            row_ns: Default::default(),
            retired: VecDeque::new(),
            next_seq: 0,
            retention_ns: RETENTION_NS,
            retired_early: 0,
            late: Vec::new(),
            now_ns: 0,
        }
    }
}

/// How many per-object rates (one per sample) are kept.
pub const RATES_KEPT: usize = 60;

/// The name a process's calls are summed under when it is not known.
pub const UNKNOWN_COMM: &str = "unknown";

impl Account {
    // ---- reading ----

    /// Where the counts come from.
    pub fn source(&self) -> CountSource {
        self.source
    }

    /// Every call of every process followed (the kernel's counters when sampled).
    pub fn total(&self) -> &Tally {
        &self.total
    }

    /// The calls of one syscall.
    pub fn syscall(&self, s: Syscall) -> &Tally {
        &self.syscalls[s.index()]
    }

    /// One object's calls (observers left out), of its current generation.
    pub fn object(&self, kind: ObjKind, id: ObjId) -> Option<&Tally> {
        self.objects.get(&(kind, id)).map(|e| &e.tally)
    }

    /// One object's calls per second between consecutive samples, oldest first (at most
    /// [`RATES_KEPT`]).
    pub fn object_rates(&self, kind: ObjKind, id: ObjId) -> impl Iterator<Item = f32> + '_ {
        self.object_rates
            .get(&(kind, id))
            .into_iter()
            .flat_map(|v| v.iter().copied())
    }

    /// Every object that had calls and has not ended, of every namespace.
    pub fn objects(&self) -> impl Iterator<Item = (&ObjKey, &Tally)> {
        self.objects.iter().map(|(k, e)| (k, &e.tally))
    }

    /// One process's calls (on every object, and those naming none), of the process that has
    /// that pid now (or had it last).
    pub fn process(&self, pid: u32) -> Option<&Tally> {
        self.processes.get(&pid).map(|e| &e.tally)
    }

    /// The start (ticks) of the process whose calls [`Account::process`] gives, when known.
    pub fn process_start(&self, pid: u32) -> Option<u64> {
        self.processes.get(&pid).and_then(|e| e.start)
    }

    /// Every process that made calls and has not ended (or ended since the last snapshot).
    pub fn processes(&self) -> impl Iterator<Item = (u32, &Tally)> {
        self.processes.iter().map(|(&p, e)| (p, &e.tally))
    }

    /// The processes that used an object (observers left out), with their calls on it.
    pub fn users_of(&self, kind: ObjKind, id: ObjId) -> impl Iterator<Item = (u32, &Tally)> {
        let k = (kind, id);
        self.pairs
            .range((k, 0)..=(k, u32::MAX))
            .filter(|(_, t)| t.has_counts())
            .map(|((_, p), t)| (*p, t))
    }

    /// The objects a process used, with its calls on each.
    pub fn used_by(&self, pid: u32) -> impl Iterator<Item = (&ObjKey, &Tally)> {
        self.pairs
            .iter()
            .filter(move |((_, p), _)| *p == pid)
            .map(|((k, _), t)| (k, t))
    }

    /// Per (namespace, command name), every call since ipctop started: these only grow
    /// (a process's calls stay under its name after it ends).
    pub fn comm_totals(&self) -> impl Iterator<Item = ((NsId, &str), &Tally)> {
        self.comm_totals
            .iter()
            .map(|((ns, c), t)| ((*ns, c.as_str()), t))
    }

    /// The last failure of a syscall with an errno: (pid, comm, monotonic ns).
    pub fn last_failure(&self, s: Syscall, errno: i32) -> Option<(u32, &str, u64)> {
        self.last_failures
            .get(&(s, errno))
            .map(|(p, c, t)| (*p, c.as_str(), *t))
    }

    /// The comm of a process as its calls or the snapshots named it (of the one that has
    /// that pid now, else of the last that had it, while kept).
    pub fn comm(&self, pid: u32) -> Option<&str> {
        self.processes
            .get(&pid)
            .and_then(|e| e.comm.as_deref())
            .or_else(|| self.retired_comm(pid))
    }

    /// Whether a process is an observer (another ipctop).
    pub fn is_observer(&self, pid: u32) -> bool {
        self.observers.contains(&pid)
    }

    /// When the kernel's counters were last sampled; `None`: no probe sample yet.
    pub fn kernel_at(&self) -> Option<u64> {
        self.kernel_at
    }

    /// Events lost on the way to userspace (never silent).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Calls whose arguments the kernel could not keep (its per-thread table was full).
    pub fn inflight_full(&self) -> u64 {
        self.inflight_full
    }

    /// Flushes the kernel's aggregate table refused (it was full).
    pub fn agg_full(&self) -> u64 {
        self.agg_full
    }

    /// Calls counted in the totals that the kernel could not keep per process and object
    /// (its table was full): missing from those figures, never silently.
    pub fn lost_calls(&self) -> u64 {
        self.lost_calls
    }

    /// Semaphore operations the kernel could not keep per process (its table was full).
    pub fn lost_holds(&self) -> u64 {
        self.lost_holds
    }

    /// Everything lost on the way: events, and calls missing from the per-process and
    /// per-object figures. What `--fail-on drops` and the headers' "dropped" say.
    pub fn lost(&self) -> u64 {
        self.dropped + self.lost_calls + self.lost_holds
    }

    /// Every call, per second.
    pub fn history(&self) -> &History {
        &self.history
    }

    // ---- updating (from the model) ----

    /// A sample of the kernel's counters and aggregates (at monotonic `t`).
    pub(super) fn kernel(&mut self, t: u64, k: &KernelSample, who: &dyn Who) {
        self.now_ns = self.now_ns.max(t);
        if self.kernel_at.is_none() {
            // Totals from the kernel's counters from now on: their rates start again.
            self.total.points = Points::default();
            self.syscalls
                .iter_mut()
                .for_each(|x| x.points = Points::default());
            self.checkpoint = None;
        }
        self.kernel_at = Some(t);
        self.dropped = k.stats.dropped + k.undecodable;
        self.inflight_full = k.stats.inflight_full;
        self.agg_full = k.stats.agg_full;
        self.lost_calls = k.stats.lost_calls;
        self.lost_holds = k.stats.lost_holds;
        if !k.aggregates.is_empty() && self.source != CountSource::Kernel {
            // From now on the kernel's counts, whole from its first sample: what the events
            // counted until now is in there too.
            self.source = CountSource::Kernel;
            self.checkpoint = None;
            // What ended before is in the kernel's first sample too (its rows, retired
            // since, are handed over whole).
            for x in self.all_tallies() {
                x.points = Points::default();
                x.clear_counts();
            }
            for r in &mut self.retired {
                r.tally.clear_counts();
            }
            for x in &mut self.syscalls {
                x.blocked_ns = 0;
                x.max_wait_ns = 0;
                x.hist = [0; HIST_BUCKETS];
                x.waits = 0;
            }
        }
        for (i, x) in self.syscalls.iter_mut().enumerate() {
            x.calls = k.stats.calls[i];
            x.by_syscall = [0; NSYS];
            x.by_syscall[i] = x.calls;
            x.raw.negative = k.stats.errors[i];
            x.raw.interrupted_kernel = k.stats.interrupted[i];
            x.raw.ended_kernel = k.stats.ended[i];
            x.settle();
        }
        if self.source == CountSource::Kernel {
            self.apply_rows(k, who);
        }
        // Wait figures of the totals: from the per-syscall tallies.
        let mut tot = std::mem::take(&mut self.total);
        tot.blocked_ns = 0;
        tot.max_wait_ns = 0;
        tot.hist = [0; HIST_BUCKETS];
        tot.calls = k.stats.total_calls();
        tot.by_syscall = k.stats.calls;
        tot.raw.negative = k.stats.errors.iter().sum();
        tot.raw.interrupted_kernel = k.stats.interrupted.iter().sum();
        tot.raw.ended_kernel = k.stats.ended.iter().sum();
        tot.raw.interrupted_events = self.syscalls.iter().map(|x| x.raw.interrupted_events).sum();
        tot.raw.ended_events = self.syscalls.iter().map(|x| x.raw.ended_events).sum();
        tot.settle();
        for x in &self.syscalls {
            tot.add_wait(x.blocked_ns, x.max_wait_ns, |h| {
                for (a, b) in h.iter_mut().zip(x.hist) {
                    *a += b;
                }
            });
        }
        self.total = tot;
        self.checkpoint(t);
    }

    /// The entry of the process `pid` that started at `start`: a new one when the pid's
    /// entry is of another (earlier) process, which retires.
    pub(super) fn process_entry(
        &mut self,
        pid: u32,
        start: Option<u64>,
        ns: NsId,
        who: &dyn Who,
    ) -> &mut ProcEntry {
        let reused = matches!(
            (self.processes.get(&pid).and_then(|e| e.start), start),
            (Some(old), Some(new)) if new > old
        );
        if reused {
            self.process_ended(pid);
        }
        let e = self.processes.entry(pid).or_insert_with(|| ProcEntry {
            start,
            ns,
            comm: who.comm(pid),
            tally: Tally::default(),
        });
        if e.start.is_none() {
            e.start = start;
        }
        e
    }

    /// Notes a sample point for the rates (each kernel sample; each snapshot while there
    /// are none).
    pub(super) fn checkpoint(&mut self, t: u64) {
        if self.checkpoint.is_some_and(|c| t <= c) {
            return;
        }
        let prev = self.checkpoint;
        if let Some(&(t0, c0)) = self.total.points.0.back() {
            self.history
                .spread(t0, t, self.total.calls.saturating_sub(c0));
        }
        self.total.points.push(t, self.total.calls, prev);
        for (k, e) in &self.objects {
            let x = &e.tally;
            let rate = match x.points.0.back() {
                Some(&(t0, c0)) if t > t0 => {
                    x.calls.saturating_sub(c0) as f64 / ((t - t0) as f64 / 1e9)
                }
                _ => 0.0,
            };
            let v = self.object_rates.entry(*k).or_default();
            v.push_back(rate as f32);
            if v.len() > RATES_KEPT {
                v.pop_front();
            }
        }
        let objects = &self.objects;
        self.object_rates.retain(|k, _| objects.contains_key(k));
        for x in self.all_tallies() {
            x.points.push(t, x.calls, prev);
        }
        self.checkpoint = Some(t);
    }

    /// Every tally but the total.
    fn all_tallies(&mut self) -> impl Iterator<Item = &mut Tally> {
        self.syscalls
            .iter_mut()
            .chain(self.objects.values_mut().map(|e| &mut e.tally))
            .chain(self.processes.values_mut().map(|e| &mut e.tally))
            .chain(self.pairs.values_mut())
            .chain(self.comm_totals.values_mut())
    }

    /// Whether checkpoints come from the kernel's samples.
    pub(super) fn sampled(&self) -> bool {
        self.kernel_at.is_some()
    }
}

#[cfg(test)]
mod tests;
