//! A tally of calls — counts, failures by errno, interrupted calls, time blocked, waits and
//! their histogram (the kernel's buckets), and the rate over the last samples — kept by the
//! account for the total, each syscall, object, process and (object, process).
use std::collections::{BTreeMap, VecDeque};

use monitor_ebpf::HIST_BUCKETS;

use super::account::{RATE_WINDOW_NS, WAIT_NS};
use crate::event::{Syscall, NSYS};

/// The histogram bucket of a duration, as the kernel computes it: bucket 0 under 2 µs
/// (µs = ns >> 10), bucket i those of [2^i, 2^(i+1)) µs, the last everything longer.
pub fn hist_bucket(ns: u64) -> usize {
    let us = ns >> 10;
    if us <= 1 {
        0
    } else {
        ((63 - us.leading_zeros()) as usize).min(HIST_BUCKETS - 1)
    }
}

/// The bounds of a histogram bucket in µs (the kernel's µs: ns >> 10): from, and below
/// (`None` for the last bucket, which holds everything longer).
pub fn hist_bounds_us(bucket: usize) -> (u64, Option<u64>) {
    match bucket {
        0 => (0, Some(2)),
        b if b >= HIST_BUCKETS - 1 => (1 << (HIST_BUCKETS - 1), None),
        b => (1 << b, Some(1 << (b + 1))),
    }
}

/// Cumulative call counts at past samples, for rates.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Points(pub(super) VecDeque<(u64, u64)>);

impl Points {
    pub(super) fn push(&mut self, t: u64, calls: u64, prev_sample: Option<u64>) {
        if self.0.is_empty() {
            if let Some(p) = prev_sample.filter(|&p| p < t) {
                // Not there at the previous sample: it had no calls then.
                self.0.push_back((p, 0));
            }
        }
        self.0.push_back((t, calls));
        while self.0.len() > 2 && self.0[1].0 + RATE_WINDOW_NS <= t {
            self.0.pop_front();
        }
    }

    pub(super) fn rate(&self) -> f64 {
        let (Some(&(t1, c1)), Some(&(t0, c0))) = (self.0.back(), self.0.front()) else {
            return 0.0;
        };
        if t1 <= t0 {
            return 0.0;
        }
        c1.saturating_sub(c0) as f64 / ((t1 - t0) as f64 / 1e9)
    }
}

/// The counts of one subject (everything, a syscall, an object, a process, or one process on
/// one object).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    /// Calls finished.
    pub calls: u64,
    /// Of those, per syscall (index: [`Syscall::index`]).
    pub by_syscall: [u64; NSYS],
    /// Of those, failed (an errno returned; calls a signal interrupted and calls ended by
    /// their process's death are not failures).
    pub errors: u64,
    /// Failed calls by syscall and errno (from the events: the probe sends every failure, so
    /// these sum to `errors` unless events were dropped).
    pub errnos: BTreeMap<(Syscall, i32), u64>,
    /// Calls a signal interrupted (the kernel's ERESTART* codes; strace's `= ?`) while the
    /// process lived on.
    pub interrupted: u64,
    /// Calls ended by their process's death (killed while blocked): neither failed nor
    /// interrupted.
    pub ended: u64,
    /// Time spent in blocking calls (semop, semtimedop, msgsnd, msgrcv), ns.
    pub blocked_ns: u64,
    /// Blocking calls that took at least [`WAIT_NS`].
    pub waits: u64,
    /// The longest blocking call, ns.
    pub max_wait_ns: u64,
    /// Blocking calls by duration (see [`hist_bucket`]).
    pub hist: [u64; HIST_BUCKETS],
    /// Monotonic ns of the last call seen.
    pub last_mono_ns: Option<u64>,
    /// The process that made it (from the events).
    pub last_pid: Option<u32>,
    pub(super) points: Points,
    /// What `errors`, `interrupted` and `ended` are made of: every call that returned < 0,
    /// and the interrupted and ended ones as the kernel counted them and as the events told
    /// (the larger of the two is taken: a kernel that tells them apart counts every one, the
    /// events of an older recording are the only count, and dropped events only lower theirs).
    pub(super) raw: RawErrors,
}

/// See [`Tally::raw`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RawErrors {
    pub(super) negative: u64,
    pub(super) interrupted_kernel: u64,
    pub(super) interrupted_events: u64,
    pub(super) ended_kernel: u64,
    pub(super) ended_events: u64,
}

impl RawErrors {
    /// Interrupted and ended calls: each the larger of the two counts, unless that counts a
    /// call twice (the kernel said interrupted, and the model saw its process gone while it
    /// was blocked before the call's event came): then one source's split, the kernel's first.
    fn split(&self) -> (u64, u64) {
        let (ik, ek) = (self.interrupted_kernel, self.ended_kernel);
        let (ie, ee) = (self.interrupted_events, self.ended_events);
        let (i, e) = (ik.max(ie), ek.max(ee));
        if i + e <= (ik + ek).max(ie + ee) {
            (i, e)
        } else if ik + ek >= ie + ee {
            (ik, ek)
        } else {
            (ie, ee)
        }
    }
}

/// The growth of one kernel row between two samples (or a whole row, new): what is added to
/// the tallies it concerns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Growth {
    pub calls: u64,
    pub by_syscall: [u64; NSYS],
    /// Calls that returned < 0 (interrupted and ended ones included).
    pub negative: u64,
    pub interrupted: u64,
    pub ended: u64,
    pub blocked_ns: u64,
    /// The row's longest call so far (a maximum, not a growth).
    pub max_ns: u64,
    /// The row's last call (monotonic ns; 0 none).
    pub last_ns: u64,
    pub hist: [u64; HIST_BUCKETS],
    /// Whether the calls can block (their time is waiting).
    pub blocking: bool,
}

impl Growth {
    pub fn is_empty(&self) -> bool {
        self.calls == 0 && self.negative == 0 && self.interrupted == 0 && self.ended == 0
    }
}

impl Tally {
    /// Whether anything was counted: calls, failures (an event's errno may come before the
    /// kernel's row that counts its call), interruptions, ends or time blocked.
    pub fn has_counts(&self) -> bool {
        self.calls > 0
            || self.errors > 0
            || !self.errnos.is_empty()
            || self.interrupted > 0
            || self.ended > 0
            || self.blocked_ns > 0
            || self.max_wait_ns > 0
            || self.raw != RawErrors::default()
    }

    /// Calls per second over the last [`RATE_WINDOW_NS`] of samples.
    pub fn rate(&self) -> f64 {
        self.points.rate()
    }

    /// Seconds spent in blocking calls.
    pub fn blocked_s(&self) -> f64 {
        self.blocked_ns as f64 / 1e9
    }

    /// The bucket of [`Tally::hist`] that holds the `q` quantile (0 < q ≤ 1) of the
    /// blocking calls' durations; `None` when there were none. What is known is the bucket,
    /// not the value: see [`hist_bounds_us`].
    pub fn wait_quantile(&self, q: f64) -> Option<usize> {
        let n: u64 = self.hist.iter().sum();
        if n == 0 {
            return None;
        }
        let want = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        self.hist.iter().position(|&c| {
            seen += c;
            seen >= want
        })
    }

    /// The longest blocking call, seconds.
    pub fn max_wait_s(&self) -> f64 {
        self.max_wait_ns as f64 / 1e9
    }

    /// The counts only the kernel's aggregates give when it aggregates (calls, failures,
    /// times); the errnos, the events' interrupted and ended calls and the last caller stay.
    pub(super) fn clear_counts(&mut self) {
        self.calls = 0;
        self.by_syscall = [0; NSYS];
        self.raw.negative = 0;
        self.raw.interrupted_kernel = 0;
        self.raw.ended_kernel = 0;
        self.blocked_ns = 0;
        self.waits = 0;
        self.max_wait_ns = 0;
        self.hist = [0; HIST_BUCKETS];
        self.settle();
    }

    /// `errors`, `interrupted` and `ended` from [`Tally::raw`].
    pub(super) fn settle(&mut self) {
        (self.interrupted, self.ended) = self.raw.split();
        self.errors = self
            .raw
            .negative
            .saturating_sub(self.interrupted)
            .saturating_sub(self.ended);
    }

    /// Adds a kernel row's growth (calls, failures, times; `with_calls` false: the times
    /// only, for the totals whose calls are the kernel's counters).
    pub(super) fn add_growth(&mut self, g: &Growth, with_calls: bool) {
        if with_calls {
            self.calls += g.calls;
            for (a, b) in self.by_syscall.iter_mut().zip(g.by_syscall) {
                *a += b;
            }
            self.raw.negative += g.negative;
            self.raw.interrupted_kernel += g.interrupted;
            self.raw.ended_kernel += g.ended;
            self.settle();
        }
        if g.blocking {
            self.add_wait(g.blocked_ns, g.max_ns, |h| {
                for (d, s) in h.iter_mut().zip(g.hist) {
                    *d += s;
                }
            });
        }
        if g.last_ns > 0 {
            self.note_last(g.last_ns, None);
        }
    }

    /// Takes back another tally's counts that were added into this one (its calls, failures,
    /// times, errnos; the longest call stays).
    pub(super) fn retract(&mut self, o: &Tally) {
        self.calls = self.calls.saturating_sub(o.calls);
        for (a, b) in self.by_syscall.iter_mut().zip(o.by_syscall) {
            *a = a.saturating_sub(b);
        }
        let r = &mut self.raw;
        r.negative = r.negative.saturating_sub(o.raw.negative);
        r.interrupted_kernel = r
            .interrupted_kernel
            .saturating_sub(o.raw.interrupted_kernel);
        r.interrupted_events = r
            .interrupted_events
            .saturating_sub(o.raw.interrupted_events);
        r.ended_kernel = r.ended_kernel.saturating_sub(o.raw.ended_kernel);
        r.ended_events = r.ended_events.saturating_sub(o.raw.ended_events);
        self.settle();
        for (k, n) in &o.errnos {
            if let Some(x) = self.errnos.get_mut(k) {
                *x = x.saturating_sub(*n);
            }
        }
        self.errnos.retain(|_, n| *n > 0);
        self.blocked_ns = self.blocked_ns.saturating_sub(o.blocked_ns);
        for (a, b) in self.hist.iter_mut().zip(o.hist) {
            *a = a.saturating_sub(b);
        }
        self.waits = self.hist[hist_bucket(WAIT_NS)..].iter().sum();
    }

    /// Adds another tally's counts (calls, failures, times, errnos) into this one.
    pub fn absorb(&mut self, o: &Tally) {
        self.calls += o.calls;
        for (a, b) in self.by_syscall.iter_mut().zip(o.by_syscall) {
            *a += b;
        }
        // Each tally's own split, summed (the larger of two sums is not the sum of the larger).
        let (i, e) = o.raw.split();
        self.raw.negative += o.raw.negative;
        self.raw.interrupted_kernel += i;
        self.raw.interrupted_events += i;
        self.raw.ended_kernel += e;
        self.raw.ended_events += e;
        self.settle();
        for (k, n) in &o.errnos {
            *self.errnos.entry(*k).or_default() += n;
        }
        self.add_wait(o.blocked_ns, o.max_wait_ns, |h| {
            for (d, s) in h.iter_mut().zip(o.hist) {
                *d += s;
            }
        });
        if let Some(t) = o.last_mono_ns {
            self.note_last(t, o.last_pid);
        }
    }

    pub(super) fn add_wait(
        &mut self,
        total_ns: u64,
        max_ns: u64,
        hist: impl Fn(&mut [u64; HIST_BUCKETS]),
    ) {
        self.blocked_ns += total_ns;
        self.max_wait_ns = self.max_wait_ns.max(max_ns);
        hist(&mut self.hist);
        self.waits = self.hist[hist_bucket(WAIT_NS)..].iter().sum();
    }

    pub(super) fn note_last(&mut self, t: u64, pid: Option<u32>) {
        self.last_mono_ns = Some(self.last_mono_ns.map_or(t, |l| l.max(t)));
        if pid.is_some() {
            self.last_pid = pid;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::account::WAIT_NS;

    #[test]
    fn wait_quantiles_are_buckets() {
        let mut t = Tally::default();
        assert_eq!(t.wait_quantile(0.5), None);
        // 90 calls under 2 µs, 9 in [8, 16) µs, 1 in the last bucket.
        t.hist[0] = 90;
        t.hist[3] = 9;
        t.hist[HIST_BUCKETS - 1] = 1;
        assert_eq!(t.wait_quantile(0.5), Some(0));
        assert_eq!(t.wait_quantile(0.9), Some(0));
        assert_eq!(t.wait_quantile(0.95), Some(3));
        assert_eq!(t.wait_quantile(0.99), Some(3));
        assert_eq!(t.wait_quantile(1.0), Some(HIST_BUCKETS - 1));
        assert_eq!(hist_bounds_us(0), (0, Some(2)));
        assert_eq!(hist_bounds_us(3), (8, Some(16)));
        assert_eq!(hist_bounds_us(HIST_BUCKETS - 1), (1 << 23, None));
        // The bounds agree with how durations are put in buckets.
        assert_eq!(hist_bucket(9 << 10), 3);
    }

    #[test]
    fn buckets_match_the_kernel() {
        assert_eq!(hist_bucket(0), 0);
        assert_eq!(hist_bucket(2047), 0);
        assert_eq!(hist_bucket(2048), 1);
        assert_eq!(hist_bucket(WAIT_NS - 1), 9);
        assert_eq!(hist_bucket(WAIT_NS), 10);
        assert_eq!(hist_bucket(u64::MAX), HIST_BUCKETS - 1);
    }

    #[test]
    fn rates_are_taken_over_the_window() {
        let mut p = Points::default();
        let s = 1_000_000_000;
        p.push(10 * s, 100, Some(9 * s));
        assert_eq!(p.rate(), 100.0);
        for i in 1..=10 {
            p.push((10 + i) * s, 100 + 50 * i, None);
        }
        assert_eq!(p.rate(), 50.0);
        assert!(p.0.len() <= 7);
    }
}
