//! The replay source: a recording played back through the same feed as live, on its own
//! clock — paused, stepped, sought, faster or slower. It needs no root and no probe.
//!
//! It streams: the file is read as the clock reaches each record, never loaded whole, so a
//! recording of any size (or a small .zst that expands to gigabytes) replays in bounded
//! memory. Each drain reads for at most `BUDGET`, so the dashboard stays responsive (`q`
//! works) while a long seek catches up; meanwhile the position shows how far the reading has
//! got. A background pass reads the file once to learn its length (and any damage) for the
//! header. A seek backwards starts over (a reset, then the file again from its start), as
//! the model can only be rebuilt forwards.
use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use crate::{
    feed::{Control, Position, ProbeStatus, Source, Stamped, Update},
    record::{ReadError, Reader},
};

/// Opens the recording again from its start (for seeking back and for the length pass).
pub type Opener = Arc<dyn Fn() -> Result<Reader, ReadError> + Send + Sync>;

/// Most time one drain spends reading.
const BUDGET: Duration = Duration::from_millis(80);
/// Most updates one drain hands out (each may be a snapshot of a busy machine).
const MAX_BATCH: usize = 4096;

/// What the background pass learns: the last time in the file and where it is damaged.
#[derive(Default)]
struct Index {
    /// The latest record time (ns), once the pass is done.
    last_t: AtomicU64,
    done: AtomicBool,
    damage: Mutex<Option<String>>,
}

pub struct ReplaySource {
    open: Opener,
    reader: Reader,
    /// The next update, read but not yet due.
    next: Option<Stamped>,
    /// The reader reached its end (or damage).
    eof: bool,
    /// Recording time of the first update (ns).
    t0: u64,
    /// Latest time handed out (ns, absolute): times are made monotonic for the clock.
    max_t: u64,
    /// Recording-relative position of the clock (ns).
    at_ns: u64,
    /// Recording-relative time of the last update handed out (ns).
    delivered_ns: u64,
    /// The last drain stopped for its budget with due updates left (catching up).
    behind: bool,
    index: Arc<Index>,
    speed: f64,
    paused: bool,
    last: Instant,
    /// A seek backwards: the next drain starts with a reset.
    reset: bool,
}

/// Speeds are kept within these.
const MIN_SPEED: f64 = 1.0 / 64.0;
const MAX_SPEED: f64 = 256.0;

impl ReplaySource {
    /// Opens the recording (header and first update only) and starts the length pass.
    pub fn new(open: Opener, speed: f64) -> Result<ReplaySource, ReadError> {
        let mut reader = open()?;
        let next = reader.next_update();
        let t0 = next.as_ref().map_or(0, |s| s.mono_ns);
        let index = Arc::new(Index::default());
        {
            let (open, index) = (open.clone(), index.clone());
            std::thread::Builder::new()
                .name("ipctop-replay-index".into())
                .spawn(move || {
                    let mut last = 0;
                    let damage = match open() {
                        Ok(mut r) => {
                            while let Some(s) = r.next_update() {
                                last = last.max(s.mono_ns);
                            }
                            r.damage().map(str::to_string)
                        }
                        Err(e) => Some(e.to_string()),
                    };
                    *index.damage.lock().unwrap_or_else(|e| e.into_inner()) = damage;
                    index.last_t.store(last, Ordering::SeqCst);
                    index.done.store(true, Ordering::SeqCst);
                })
                .map_err(|e| ReadError::Io("the replay's reader thread".into(), e))?;
        }
        Ok(ReplaySource {
            open,
            eof: next.is_none(),
            reader,
            next,
            t0,
            max_t: t0,
            at_ns: 0,
            delivered_ns: 0,
            behind: false,
            index,
            speed: speed.clamp(MIN_SPEED, MAX_SPEED),
            paused: false,
            last: Instant::now(),
            reset: false,
        })
    }

    /// The recording's length (ns), once known: from the length pass, or from having read
    /// to the end.
    fn total_ns(&self) -> Option<u64> {
        if self.index.done.load(Ordering::SeqCst) {
            let last = self.index.last_t.load(Ordering::SeqCst);
            Some(last.saturating_sub(self.t0).max(self.delivered_ns))
        } else if self.eof && self.next.is_none() {
            Some(self.delivered_ns)
        } else {
            None
        }
    }

    fn advance_clock(&mut self) {
        let now = Instant::now();
        if !self.paused {
            let dt = now.duration_since(self.last).as_nanos() as f64 * self.speed;
            self.at_ns = self.at_ns.saturating_add(dt as u64);
            if let Some(total) = self.total_ns() {
                self.at_ns = self.at_ns.min(total);
            }
        }
        self.last = now;
    }

    /// The next update (read from the file if needed), not taken.
    fn peek(&mut self) -> Option<&Stamped> {
        if self.next.is_none() && !self.eof {
            match self.reader.next_update() {
                Some(mut s) => {
                    // Written in the order observed; time made monotonic for the clock.
                    self.max_t = self.max_t.max(s.mono_ns);
                    s.mono_ns = self.max_t;
                    self.next = Some(s);
                }
                None => self.eof = true,
            }
        }
        self.next.as_ref()
    }

    fn seek_to_ns(&mut self, target: u64) {
        let target = self.total_ns().map_or(target, |t| target.min(t));
        if target < self.delivered_ns {
            // Start over: the model is rebuilt from the beginning.
            match (self.open)() {
                Ok(r) => {
                    self.reader = r;
                    self.next = None;
                    self.eof = false;
                    self.max_t = self.t0;
                    self.delivered_ns = 0;
                    self.reset = true;
                }
                // The file went away meanwhile: stay where we are.
                Err(_) => return,
            }
        }
        self.at_ns = target;
    }

    /// The recording's header.
    pub fn header(&self) -> &crate::record::Header {
        &self.reader.header
    }

    /// Whether everything has been handed out.
    pub fn finished(&mut self) -> bool {
        self.peek().is_none()
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
        let until = self.t0.saturating_add(self.at_ns);
        let started = Instant::now();
        self.behind = false;
        while let Some(s) = self.peek() {
            if s.mono_ns > until {
                break;
            }
            if out.len() >= MAX_BATCH || started.elapsed() >= BUDGET {
                self.behind = true;
                break;
            }
            let s = self.next.take().expect("peeked");
            self.delivered_ns = s.mono_ns - self.t0;
            out.push(s);
        }
        if let Some(total) = self.total_ns() {
            self.at_ns = self.at_ns.min(total);
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
                let t0 = self.t0;
                if let Some(s) = self.peek() {
                    self.at_ns = s.mono_ns - t0;
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
        // While catching up, the position is how far the reading has got (a progress
        // indicator on long reads).
        let at = if self.behind {
            self.delivered_ns
        } else {
            self.at_ns
        };
        let damaged = self
            .reader
            .damage()
            .map(str::to_string)
            .or_else(|| self.index.damage.lock().ok().and_then(|d| d.clone()));
        Some(Position {
            at_s: at as f64 / 1e9,
            total_s: self.total_ns().map(|t| t as f64 / 1e9),
            speed: self.speed,
            paused: self.paused,
            damaged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{from_reader, Body, Header, Line};

    /// A recording of counter samples at these times.
    fn src(times: &[u64]) -> ReplaySource {
        let header = Header {
            ipctop_recording: crate::record::FORMAT_VERSION,
            ipctop_version: "test".into(),
            event_version: monitor_ebpf::EVENT_VERSION,
            kernel: String::new(),
            host: String::new(),
            clock_offset_ns: 0,
            boot_time_unix_ns: 0,
            started_unix_ns: 0,
            interval_ms: 1000,
            probe: String::new(),
            every_call: false,
            command: None,
            command_pid: None,
            forks_followed: false,
        };
        let mut text = serde_json::to_string(&header).unwrap() + "\n";
        for &t in times {
            let l = Line {
                t,
                body: Body::Kernel(Box::default()),
            };
            text += &(serde_json::to_string(&l).unwrap() + "\n");
        }
        let text: Arc<[u8]> = text.into_bytes().into();
        let open: Opener =
            Arc::new(move || from_reader(Box::new(std::io::Cursor::new(text.clone())), "test"));
        let mut r = ReplaySource::new(open, 1.0).unwrap();
        r.paused = true;
        while r.total_ns().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        r
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn paused_step_seek_and_reset() {
        let mut r = src(&[100 * S, 101 * S, 105 * S, 120 * S]);
        assert_eq!(r.position().unwrap().total_s, Some(20.0));
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
    fn time_is_made_monotonic() {
        let mut r = src(&[10 * S, 12 * S, 11 * S, 13 * S]);
        r.control(Control::SeekTo(100.0));
        let t: Vec<u64> = r.drain().iter().map(|s| s.mono_ns / S).collect();
        assert_eq!(t, [10, 12, 12, 13]);
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
