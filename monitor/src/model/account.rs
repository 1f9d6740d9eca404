//! The one account of activity: calls, failures by errno, interrupted calls, time spent in
//! blocking calls, waits and their histogram, and rates — in total, per syscall, per object,
//! per process and per (object, process). Every figure the dashboard, `snapshot`, `report` and
//! the exporter show is read from here.
//!
//! Where the counts come from ([`CountSource`]):
//! - `Kernel`: the probe aggregates in the kernel (the dashboard, `record`): calls, errors,
//!   times and histograms are the kernel's exact counts as of its last sample; the events
//!   (every failure is sent) add the errno of each failure and the interrupted calls.
//! - `Events`: the probe sends every call (`trace`, `record --every-call`), or a recording
//!   without aggregates: everything is counted from the events.
//!
//! Totals and per-syscall counts are the kernel's own counters whenever the probe samples
//! them (every process the probe follows, calls naming no object included).
//!
//! Observers: processes whose comm is `ipctop` (another ipctop polling the objects read-only;
//! ipctop never changes an object) count in the totals, per syscall and per process, but not
//! as activity on the objects they look at, nor as users of them.
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use monitor_ebpf::HIST_BUCKETS;
use serde::Serialize;

pub use super::tally::{hist_bounds_us, hist_bucket, Tally};
use super::{tally::Points, History, ObjId, ObjKind};
use crate::{
    event::{Event, Syscall, NSYS},
    sample::KernelSample,
};

/// A blocking call (semop, semtimedop, msgsnd, msgrcv) that took at least this long waited:
/// 2^20 ns (1.05 ms), where the kernel's histogram bucket 10 begins, so that events and the
/// kernel's aggregates count the same calls. The one definition of "a wait".
pub const WAIT_NS: u64 = 1 << 20;

/// Rates are taken over this window (between the samples closest to it).
pub const RATE_WINDOW_NS: u64 = 5_000_000_000;

/// The comm of an observer (see the module documentation).
pub const OBSERVER_COMM: &str = "ipctop";

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
    ]
    .contains(&s)
}

/// An object as the account knows it: its kind and identity.
pub type ObjKey = (ObjKind, ObjId);

/// See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Account {
    source: CountSource,
    total: Tally,
    syscalls: [Tally; NSYS],
    objects: BTreeMap<ObjKey, Tally>,
    processes: BTreeMap<u32, Tally>,
    pairs: BTreeMap<(ObjKey, u32), Tally>,
    observers: BTreeSet<u32>,
    /// The comm of each pid, as its last call said.
    comms: BTreeMap<u32, String>,
    /// The last failure of each (syscall, errno): pid, comm, monotonic ns.
    last_failures: BTreeMap<(Syscall, i32), (u32, String, u64)>,
    /// When the kernel's counters were last sampled (monotonic ns); `None`: never.
    kernel_at: Option<u64>,
    /// Events lost on the way to userspace (ring buffer full, undecodable).
    dropped: u64,
    /// Calls whose arguments were lost (the kernel's per-thread table was full).
    inflight_full: u64,
    /// Aggregates lost (the kernel's table was full).
    agg_full: u64,
    /// The last sample for rates.
    checkpoint: Option<u64>,
    /// Every call, per second (for the activity sparkline).
    history: History,
    /// Each object's calls per second between consecutive samples, the last
    /// [`RATES_KEPT`] (for its sparkline); dropped with the object's tally.
    object_rates: BTreeMap<ObjKey, VecDeque<f32>>,
}

/// How many per-object rates (one per sample) are kept.
pub const RATES_KEPT: usize = 60;

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

    /// One object's calls (observers left out).
    pub fn object(&self, kind: ObjKind, id: ObjId) -> Option<&Tally> {
        self.objects.get(&(kind, id))
    }

    /// One object's calls per second between consecutive samples, oldest first (at most
    /// [`RATES_KEPT`]).
    pub fn object_rates(&self, kind: ObjKind, id: ObjId) -> impl Iterator<Item = f32> + '_ {
        self.object_rates
            .get(&(kind, id))
            .into_iter()
            .flat_map(|v| v.iter().copied())
    }

    /// Every object that had calls, of every namespace.
    pub fn objects(&self) -> impl Iterator<Item = (&ObjKey, &Tally)> {
        self.objects.iter()
    }

    /// One process's calls (on every object, and those naming none).
    pub fn process(&self, pid: u32) -> Option<&Tally> {
        self.processes.get(&pid)
    }

    /// Every process that made calls.
    pub fn processes(&self) -> impl Iterator<Item = (u32, &Tally)> {
        self.processes.iter().map(|(&p, t)| (p, t))
    }

    /// The processes that used an object (observers left out), with their calls on it.
    pub fn users_of(&self, kind: ObjKind, id: ObjId) -> impl Iterator<Item = (u32, &Tally)> {
        let k = (kind, id);
        self.pairs
            .range((k, 0)..=(k, u32::MAX))
            .filter(|(_, t)| t.calls > 0 || t.interrupted > 0)
            .map(|((_, p), t)| (*p, t))
    }

    /// The objects a process used, with its calls on each.
    pub fn used_by(&self, pid: u32) -> impl Iterator<Item = (&ObjKey, &Tally)> {
        self.pairs
            .iter()
            .filter(move |((_, p), _)| *p == pid)
            .map(|((k, _), t)| (k, t))
    }

    /// The last failure of a syscall with an errno: (pid, comm, monotonic ns).
    pub fn last_failure(&self, s: Syscall, errno: i32) -> Option<(u32, &str, u64)> {
        self.last_failures
            .get(&(s, errno))
            .map(|(p, c, t)| (*p, c.as_str(), *t))
    }

    /// The comm a process's last call carried.
    pub fn comm(&self, pid: u32) -> Option<&str> {
        self.comms.get(&pid).map(String::as_str)
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

    /// Aggregates the kernel could not keep (its table was full).
    pub fn agg_full(&self) -> u64 {
        self.agg_full
    }

    /// Every call, per second.
    pub fn history(&self) -> &History {
        &self.history
    }

    // ---- updating (from the model) ----

    /// One finished call. `obj`: the object it named (`None`: none, or unknown).
    pub(super) fn event(&mut self, ev: &Event, obj: Option<ObjKey>) {
        if ev.in_progress() {
            return;
        }
        let t = ev.end_ns.unwrap_or(0);
        let comm = ev.comm.as_str();
        if comm == OBSERVER_COMM {
            self.observers.insert(ev.pid);
        }
        if self.comms.get(&ev.pid).is_none_or(|c| *c != comm) {
            self.comms.insert(ev.pid, comm.into_owned());
        }
        let observer = self.observers.contains(&ev.pid);
        let errno = ev.errno();
        if let Some(e) = errno {
            self.last_failures
                .insert((ev.syscall, e), (ev.pid, ev.comm.to_string(), t));
        }
        let interrupted = ev.interrupted().is_some();
        // In kernel mode the aggregates count calls, failures and waits; the totals and
        // syscalls count calls and failures from the kernel's counters once sampled.
        let from_events = self.source == CountSource::Events;
        let totals_from_events = from_events && self.kernel_at.is_none();
        let dur = ev.duration_ns();
        let touch = |x: &mut Tally, calls: bool, waits: bool| {
            if calls {
                x.calls += 1;
                x.by_syscall[ev.syscall.index()] += 1;
                x.errors += u64::from(errno.is_some());
            }
            if let (true, true, Some(d)) = (waits, can_block(ev.syscall), dur) {
                x.add_wait(d, d, |h| h[hist_bucket(d)] += 1);
            }
            if let Some(e) = errno {
                *x.errnos.entry((ev.syscall, e)).or_default() += 1;
            }
            x.interrupted += u64::from(interrupted);
            x.note_last(t, Some(ev.pid));
        };
        touch(&mut self.total, totals_from_events, from_events);
        touch(
            &mut self.syscalls[ev.syscall.index()],
            totals_from_events,
            from_events,
        );
        touch(
            self.processes.entry(ev.pid).or_default(),
            from_events,
            from_events,
        );
        if let (Some(k), false) = (obj, observer) {
            touch(self.objects.entry(k).or_default(), from_events, from_events);
            touch(
                self.pairs.entry((k, ev.pid)).or_default(),
                from_events,
                from_events,
            );
        }
    }

    /// A sample of the kernel's counters and aggregates (at monotonic `t`). `ns_of` maps a
    /// pid to its IPC namespace; `observer` says whether a pid is another ipctop.
    pub(super) fn kernel(
        &mut self,
        t: u64,
        k: &KernelSample,
        ns_of: impl Fn(u32) -> u64,
        observer: impl Fn(u32) -> bool,
    ) {
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
        for (i, x) in self.syscalls.iter_mut().enumerate() {
            x.calls = k.stats.calls[i];
            x.by_syscall = [0; NSYS];
            x.by_syscall[i] = x.calls;
            // The kernel counts a call a signal interrupted as failed; it is not.
            x.errors = k.stats.errors[i].saturating_sub(x.interrupted);
        }
        self.total.calls = k.stats.total_calls();
        self.total.by_syscall = k.stats.calls;
        self.total.errors = self.syscalls.iter().map(|x| x.errors).sum();
        if !k.aggregates.is_empty() && self.source != CountSource::Kernel {
            // From now on the kernel's counts: the rates start again from this sample.
            self.source = CountSource::Kernel;
            self.checkpoint = None;
            for x in self.all_tallies() {
                x.points = Points::default();
            }
        }
        if self.source == CountSource::Kernel {
            self.apply_aggregates(k, ns_of, observer);
        }
        // Wait figures of the totals: from the per-syscall tallies.
        let mut tot = std::mem::take(&mut self.total);
        tot.blocked_ns = 0;
        tot.max_wait_ns = 0;
        tot.hist = [0; HIST_BUCKETS];
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

    fn apply_aggregates(
        &mut self,
        k: &KernelSample,
        ns_of: impl Fn(u32) -> u64,
        observer: impl Fn(u32) -> bool,
    ) {
        self.processes.values_mut().for_each(Tally::clear_counts);
        self.objects.values_mut().for_each(Tally::clear_counts);
        self.pairs.values_mut().for_each(Tally::clear_counts);
        for x in &mut self.syscalls {
            x.blocked_ns = 0;
            x.max_wait_ns = 0;
            x.hist = [0; HIST_BUCKETS];
            x.waits = 0;
        }
        for a in &k.aggregates {
            if observer(a.pid) {
                self.observers.insert(a.pid);
            }
            let blocking = can_block(a.syscall);
            let add = |x: &mut Tally, with_calls: bool| {
                if with_calls {
                    x.calls += a.calls;
                    x.by_syscall[a.syscall.index()] += a.calls;
                    x.errors += a.errors;
                }
                if blocking {
                    x.add_wait(a.total_ns, a.max_ns, |h| {
                        for (d, s) in h.iter_mut().zip(a.hist) {
                            *d += s;
                        }
                    });
                }
                if a.last_ns > 0 {
                    x.note_last(a.last_ns, None);
                }
            };
            add(&mut self.syscalls[a.syscall.index()], false);
            add(self.processes.entry(a.pid).or_default(), true);
            let (Some(id), false) = (a.id, self.observers.contains(&a.pid)) else {
                continue;
            };
            let key = (
                ObjKind::of(a.syscall),
                ObjId {
                    ns: ns_of(a.pid),
                    id,
                },
            );
            add(self.objects.entry(key).or_default(), true);
            add(self.pairs.entry((key, a.pid)).or_default(), true);
        }
        // An observer found out since (its comm seen): never a user of what it looked at.
        let observers = &self.observers;
        self.pairs.retain(|(_, pid), _| !observers.contains(pid));
        // Interrupted calls were counted as failed by the kernel.
        let fix = |x: &mut Tally| x.errors = x.errors.saturating_sub(x.interrupted);
        self.processes.values_mut().for_each(fix);
        self.objects.values_mut().for_each(fix);
        self.pairs.values_mut().for_each(fix);
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
        for (k, x) in &self.objects {
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
            .chain(self.objects.values_mut())
            .chain(self.processes.values_mut())
            .chain(self.pairs.values_mut())
    }

    /// Whether checkpoints come from the kernel's samples.
    pub(super) fn sampled(&self) -> bool {
        self.kernel_at.is_some()
    }
}
