//! The feed: one stream of time-stamped updates for the state model, whatever produces them
//! — the live probe and snapshots, or a recording being replayed. The dashboard, the recorder
//! and the report all consume it, and `Model::apply` is the one place updates enter the model.
//! (Data only: this module knows nothing of the model.)
//!
//! ```text
//! live:   probe ring buffer ─┐
//!         in-flight scan    ─┼─▶ Stamped ─▶ Model::apply ─▶ analysis ─▶ views
//!         kernel counters   ─┤          └─▶ recorder
//!         /proc snapshots   ─┘
//! replay: recording file ───────▶ Stamped (same stream, with pause/seek/speed)
//! ```
pub use crate::sample::KernelSample;
use crate::{event::Event, snapshot::Snapshot};

/// What changed.
#[derive(Clone, Debug)]
pub enum Update {
    /// Finished calls, in the order the kernel delivered them. An empty list only moves the
    /// clock on (a live dashboard's tick).
    Events(Vec<Event>),
    /// Every call in progress right now that has run at least the scan's threshold (the
    /// previous such set is replaced: calls missing from it have finished).
    InFlight(Vec<Event>),
    /// A look at /proc/sysvipc, semctl and /proc/PID.
    Snapshot(Box<Snapshot>),
    /// The probe's counters and in-kernel aggregates.
    Kernel(Box<KernelSample>),
    /// A look at POSIX IPC (queues, /dev/shm, futex waits in shared memory) from /proc:
    /// replaces the previous one. Not recorded (recordings carry System V only).
    Posix(Box<crate::posix::PosixSnapshot>),
    /// Start over with an empty model (a replay seeking backwards); what follows rebuilds it.
    Reset,
}

/// An update and when it happened (CLOCK_MONOTONIC ns of the machine it was observed on).
#[derive(Clone, Debug)]
pub struct Stamped {
    pub mono_ns: u64,
    pub update: Update,
}

/// Where the probe stands, for the header.
#[derive(Clone, Debug)]
pub enum ProbeStatus {
    /// Attached (where, in words).
    Attached(String),
    /// Not running: snapshots only (the one-sentence reason).
    SnapshotOnly(String),
    /// Replaying a recording (no probe here).
    Replay,
}

/// Controls of a replay (ignored by a live source).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Control {
    Pause,
    Resume,
    TogglePause,
    /// One update forward while paused.
    Step,
    /// Relative seek, in seconds of recorded time.
    Seek(f64),
    /// To this many seconds after the recording's start.
    SeekTo(f64),
    /// Multiply the speed by this factor.
    Speed(f64),
}

/// Where a replay is.
#[derive(Clone, Debug, PartialEq)]
pub struct Position {
    pub at_s: f64,
    pub total_s: Option<f64>,
    pub speed: f64,
    pub paused: bool,
    /// Where the recording was cut or damaged, if it was.
    pub damaged: Option<String>,
}

/// A source of updates: live or replay. The dashboard drains it on every tick (a live source
/// fills itself in the background; a replay hands out what is due at its clock).
pub trait Source: Send {
    /// Every update ready now (non-blocking), oldest first.
    fn drain(&mut self) -> Vec<Stamped>;
    fn probe_status(&self) -> ProbeStatus;
    /// Replay controls; a live source ignores them.
    fn control(&mut self, _c: Control) {}
    /// Replay position; `None` when live.
    fn position(&self) -> Option<Position> {
        None
    }
}
