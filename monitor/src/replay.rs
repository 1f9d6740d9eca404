//! The replay source: a recording played back through the same feed as live, on its own
//! clock — paused, stepped, sought, faster or slower. It needs no root and no probe.
use std::time::Instant;

use crate::{
    feed::{Control, Position, ProbeStatus, Source, Stamped, Update},
    record::Reader,
};

pub struct ReplaySource {
    updates: Vec<Stamped>,
    /// Index of the next update to hand out.
    cursor: usize,
    /// Recording time of the first update (ns).
    t0: u64,
    /// Recording-relative position (ns).
    at_ns: u64,
    total_ns: u64,
    speed: f64,
    paused: bool,
    last: Instant,
    damage: Option<String>,
    /// A seek backwards: the next drain starts with a reset.
    reset: bool,
}

/// Speeds are kept within these.
const MIN_SPEED: f64 = 1.0 / 64.0;
const MAX_SPEED: f64 = 256.0;

impl ReplaySource {
    /// Reads the whole recording (up to any damage, which the position reports).
    pub fn new(mut reader: Reader, speed: f64) -> ReplaySource {
        let mut updates = Vec::new();
        while let Some(s) = reader.next_update() {
            updates.push(s);
        }
        // Updates of one recording are written in the order they were observed; keep that
        // order but make time monotonic for the clock.
        let t0 = updates.first().map_or(0, |s| s.mono_ns);
        let mut max = t0;
        for s in &mut updates {
            max = max.max(s.mono_ns);
            s.mono_ns = max;
        }
        ReplaySource {
            total_ns: max - t0,
            updates,
            cursor: 0,
            t0,
            at_ns: 0,
            speed: speed.clamp(MIN_SPEED, MAX_SPEED),
            paused: false,
            last: Instant::now(),
            damage: reader.damage().map(str::to_string),
            reset: false,
        }
    }

    fn advance_clock(&mut self) {
        let now = Instant::now();
        if !self.paused {
            let dt = now.duration_since(self.last).as_nanos() as f64 * self.speed;
            self.at_ns = (self.at_ns + dt as u64).min(self.total_ns);
        }
        self.last = now;
    }

    fn seek_to_ns(&mut self, target: u64) {
        let target = target.min(self.total_ns);
        if target < self.at_ns {
            self.cursor = 0;
            self.reset = true;
        }
        self.at_ns = target;
    }

    /// Whether everything has been handed out.
    pub fn finished(&self) -> bool {
        self.cursor >= self.updates.len()
    }
}

impl Source for ReplaySource {
    fn drain(&mut self) -> Vec<Stamped> {
        self.advance_clock();
        let mut out = Vec::new();
        if std::mem::take(&mut self.reset) {
            out.push(Stamped {
                mono_ns: self.t0,
                update: Update::Reset,
            });
        }
        let until = self.t0 + self.at_ns;
        while let Some(s) = self.updates.get(self.cursor) {
            if s.mono_ns > until {
                break;
            }
            out.push(s.clone());
            self.cursor += 1;
        }
        out
    }

    fn probe_status(&self) -> ProbeStatus {
        ProbeStatus::Replay
    }

    fn control(&mut self, c: Control) {
        self.advance_clock();
        match c {
            Control::Pause => self.paused = true,
            Control::Resume => self.paused = false,
            Control::TogglePause => self.paused = !self.paused,
            Control::Step => {
                self.paused = true;
                if let Some(s) = self.updates.get(self.cursor) {
                    self.at_ns = s.mono_ns - self.t0;
                }
            }
            Control::Seek(secs) => {
                let t = self.at_ns as f64 + secs * 1e9;
                self.seek_to_ns(t.max(0.0) as u64);
            }
            Control::SeekTo(secs) => self.seek_to_ns((secs.max(0.0) * 1e9) as u64),
            Control::Speed(f) => self.speed = (self.speed * f).clamp(MIN_SPEED, MAX_SPEED),
        }
    }

    fn position(&self) -> Option<Position> {
        Some(Position {
            at_s: self.at_ns as f64 / 1e9,
            total_s: Some(self.total_ns as f64 / 1e9),
            speed: self.speed,
            paused: self.paused,
            damaged: self.damage.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(times: &[u64]) -> ReplaySource {
        let updates = times
            .iter()
            .map(|&t| Stamped {
                mono_ns: t,
                update: Update::Kernel(Box::default()),
            })
            .collect::<Vec<_>>();
        let t0 = times[0];
        ReplaySource {
            total_ns: times[times.len() - 1] - t0,
            updates,
            cursor: 0,
            t0,
            at_ns: 0,
            speed: 1.0,
            paused: true,
            last: Instant::now(),
            damage: None,
            reset: false,
        }
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn paused_step_seek_and_reset() {
        let mut r = src(&[100 * S, 101 * S, 105 * S, 120 * S]);
        assert_eq!(r.drain().len(), 1, "the first update is at position 0");
        r.control(Control::Step);
        assert_eq!(r.drain().len(), 1);
        assert_eq!(r.position().unwrap().at_s, 1.0);
        r.control(Control::Seek(10.0));
        assert_eq!(r.drain().len(), 1, "105 s is within +10 s");
        assert_eq!(r.position().unwrap().at_s, 11.0);
        r.control(Control::Seek(-10.0));
        let d = r.drain();
        assert!(
            matches!(d[0].update, Update::Reset),
            "seeking back starts over"
        );
        assert_eq!(d.len(), 3, "reset, then the updates at 0 s and 1 s");
        r.control(Control::SeekTo(1000.0));
        assert_eq!(r.drain().len(), 2);
        assert!(r.finished());
        assert_eq!(r.position().unwrap().at_s, 20.0, "clamped to the end");
    }

    #[test]
    fn speed_is_bounded() {
        let mut r = src(&[0, S]);
        for _ in 0..20 {
            r.control(Control::Speed(2.0));
        }
        assert_eq!(r.position().unwrap().speed, MAX_SPEED);
        for _ in 0..40 {
            r.control(Control::Speed(0.5));
        }
        assert_eq!(r.position().unwrap().speed, MIN_SPEED);
    }
}
