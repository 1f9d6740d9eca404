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

    /// Counts `n` calls made between two samples, spread evenly over the seconds from
    /// `from_ns` to `to_ns` (what a sample tells: how many, not when).
    pub fn spread(&mut self, from_ns: u64, to_ns: u64, n: u64) {
        if to_ns <= from_ns || n == 0 {
            self.add(to_ns, n.min(u32::MAX as u64) as u32);
            return;
        }
        let (span, mut given, mut t) = (to_ns - from_ns, 0u64, from_ns);
        while t < to_ns {
            let end = ((t / 1_000_000_000 + 1) * 1_000_000_000).min(to_ns);
            let upto = (n as u128 * (end - from_ns) as u128 / span as u128) as u64;
            self.add(t, (upto - given).min(u32::MAX as u64) as u32);
            given = upto;
            t = end;
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
    fn spread_shares_a_sample_between_its_seconds() {
        let mut h = History::default();
        h.spread(10 * S + S / 2, 12 * S + S / 2, 200);
        assert_eq!(h.series(13 * S, 3), [50, 100, 50]);
    }
}
