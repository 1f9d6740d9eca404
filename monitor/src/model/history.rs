//! Rates and histories for the dashboard: per-second call counts and sampled values.
use std::collections::VecDeque;

/// How many seconds / samples are kept.
pub const KEEP: usize = 120;

/// Counts per second of CLOCK_MONOTONIC, for the last [`KEEP`] seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// The second of the last bucket.
    last_sec: u64,
    buckets: VecDeque<u32>,
}

impl History {
    /// Counts `n` at monotonic time `mono_ns` (late stamps go to their own second if kept).
    pub fn add(&mut self, mono_ns: u64, n: u32) {
        let sec = mono_ns / 1_000_000_000;
        if self.buckets.is_empty() {
            self.last_sec = sec;
            self.buckets.push_back(0);
        }
        if sec > self.last_sec {
            let gap = (sec - self.last_sec).min(KEEP as u64) as usize;
            for _ in 0..gap {
                self.buckets.push_back(0);
            }
            self.last_sec = sec;
            while self.buckets.len() > KEEP {
                self.buckets.pop_front();
            }
        }
        let back = (self.last_sec - sec) as usize;
        if back < self.buckets.len() {
            let i = self.buckets.len() - 1 - back;
            self.buckets[i] = self.buckets[i].saturating_add(n);
        }
    }

    /// The last `n` whole seconds before `now_mono_ns`, oldest first (zeros where idle).
    pub fn series(&self, now_mono_ns: u64, n: usize) -> Vec<u32> {
        let now = now_mono_ns / 1_000_000_000;
        (1..=n as u64)
            .rev()
            .map(|ago| {
                let sec = now.saturating_sub(ago);
                if self.buckets.is_empty() || sec > self.last_sec {
                    return 0;
                }
                let back = (self.last_sec - sec) as usize;
                if back < self.buckets.len() {
                    self.buckets[self.buckets.len() - 1 - back]
                } else {
                    0
                }
            })
            .collect()
    }

    /// The mean rate per second over the last `window_s` whole seconds.
    pub fn rate(&self, now_mono_ns: u64, window_s: usize) -> f64 {
        let w = window_s.max(1);
        self.series(now_mono_ns, w)
            .iter()
            .map(|&x| x as f64)
            .sum::<f64>()
            / w as f64
    }
}

/// A sampled value (queue length, waiters…), one point per snapshot, last [`KEEP`] points.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Series {
    points: VecDeque<(u64, u64)>,
}

impl Series {
    pub fn push(&mut self, mono_ns: u64, value: u64) {
        self.points.push_back((mono_ns, value));
        while self.points.len() > KEEP {
            self.points.pop_front();
        }
    }

    /// (monotonic ns, value), oldest first.
    pub fn points(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.points.iter().copied()
    }

    pub fn last(&self) -> Option<u64> {
        self.points.back().map(|p| p.1)
    }
}

/// What the probe's events said about an object or a process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    pub calls: u64,
    pub errors: u64,
    /// Monotonic ns of the last call seen.
    pub last_mono_ns: Option<u64>,
    pub last_pid: Option<u32>,
    pub per_sec: History,
}

impl Activity {
    pub fn record(&mut self, mono_ns: u64, pid: u32, failed: bool) {
        self.calls += 1;
        self.errors += failed as u64;
        self.last_mono_ns = Some(self.last_mono_ns.map_or(mono_ns, |l| l.max(mono_ns)));
        self.last_pid = Some(pid);
        self.per_sec.add(mono_ns, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const S: u64 = 1_000_000_000;

    #[test]
    fn history_counts_per_second_and_forgets() {
        let mut h = History::default();
        h.add(10 * S, 1);
        h.add(10 * S + 5, 2);
        h.add(12 * S, 4);
        assert_eq!(h.series(13 * S, 4), [0, 3, 0, 4]);
        assert_eq!(h.rate(13 * S, 4), 7.0 / 4.0);
        h.add(11 * S, 1); // late
        assert_eq!(h.series(13 * S, 3), [3, 1, 4]);
        h.add(1000 * S, 1);
        assert_eq!(h.series(1001 * S, 2), [0, 1]);
        assert_eq!(h.series(13 * S, 3), [0, 0, 0]);
        assert!(h.buckets.len() <= KEEP);
    }

    #[test]
    fn series_keeps_the_last_points() {
        let mut s = Series::default();
        for i in 0..200 {
            s.push(i, i * 2);
        }
        assert_eq!(s.points().count(), KEEP);
        assert_eq!(s.last(), Some(398));
    }
}
