//! The feed: one stream of time-stamped updates for the state model, whatever produces them
//! — the live probe and snapshots, or a recording being replayed. The dashboard, the recorder
//! and the report all consume it, and [`apply`] is the one place updates enter the model.
//!
//! ```text
//! live:   probe ring buffer ─┐
//!         in-flight scan    ─┼─▶ Stamped ─▶ apply(model) ─▶ analysis ─▶ views
//!         kernel counters   ─┤          └─▶ recorder
//!         /proc snapshots   ─┘
//! replay: recording file ───────▶ Stamped (same stream, with pause/seek/speed)
//! ```
use crate::{
    event::Event,
    model::Model,
    probe::{Aggregate, Hold, KernelStats},
    snapshot::Snapshot,
};

/// What changed.
#[derive(Clone, Debug)]
pub enum Update {
    /// Finished calls, in the order the kernel delivered them.
    Events(Vec<Event>),
    /// Every call in progress right now that has run at least the scan's threshold (the
    /// previous such set is replaced: calls missing from it have finished).
    InFlight(Vec<Event>),
    /// A look at /proc/sysvipc, semctl and /proc/PID.
    Snapshot(Box<Snapshot>),
    /// The probe's counters and in-kernel aggregates.
    Kernel(Box<KernelSample>),
    /// Start over with an empty model (a replay seeking backwards); what follows rebuilds it.
    Reset,
}

/// The probe's counters and in-kernel aggregates at one moment.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct KernelSample {
    pub stats: KernelStats,
    /// Per process, syscall and object (when the probe aggregates in the kernel).
    pub aggregates: Vec<Aggregate>,
    /// Who holds which semaphore, by net operations.
    pub holds: Vec<Hold>,
    /// Records that arrived but did not decode.
    pub undecodable: u64,
}

/// An update and when it happened (CLOCK_MONOTONIC ns of the machine it was observed on).
#[derive(Clone, Debug)]
pub struct Stamped {
    pub mono_ns: u64,
    pub update: Update,
}

/// Applies one update to the model.
pub fn apply(model: &mut Model, s: &Stamped) {
    match &s.update {
        Update::Events(evs) => {
            for ev in evs {
                model.apply_event(ev);
            }
        }
        Update::InFlight(evs) => {
            for ev in evs {
                model.apply_event(ev);
            }
        }
        Update::Snapshot(snap) => model.apply_snapshot(snap),
        Update::Kernel(k) => model.apply_kernel(s.mono_ns, k),
        Update::Reset => *model = Model::new(),
    }
    model.set_now(s.mono_ns);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        event::Syscall,
        model::{HolderSource, ObjId},
        probe::{Aggregate, Hold},
    };

    fn kernel(calls: u64, holds: Vec<Hold>, aggregates: Vec<Aggregate>) -> Update {
        let mut k = KernelSample::default();
        k.stats.calls[Syscall::SEMTIMEDOP.index()] = calls;
        k.stats.dropped = 2;
        k.undecodable = 1;
        k.holds = holds;
        k.aggregates = aggregates;
        Update::Kernel(Box::new(k))
    }

    #[test]
    fn kernel_samples_give_rates_drops_activity_and_holders() {
        let mut m = Model::new();
        let s = |t: u64, u| Stamped {
            mono_ns: t,
            update: u,
        };
        apply(&mut m, &s(1_000_000_000, kernel(100, vec![], vec![])));
        let agg = Aggregate {
            pid: 42,
            id: Some(7),
            syscall: Syscall::SEMTIMEDOP,
            calls: 1_100,
            errors: 1,
            total_ns: 3_000_000_000,
            max_ns: 2_000_000_000,
            last_ns: 0,
            hist: [0; monitor_ebpf::HIST_BUCKETS],
        };
        let hold = Hold {
            semid: 7,
            semnum: 1,
            pid: 42,
            held: 1,
        };
        apply(
            &mut m,
            &s(3_000_000_000, kernel(1_100, vec![hold], vec![agg])),
        );
        let k = m.kernel();
        assert_eq!(k.calls_per_s, 500.0);
        assert_eq!(k.dropped, 3);
        assert_eq!(k.total_calls, 1_100);
        let o = &k.objects[&('s', 7)];
        assert_eq!(
            (o.calls, o.errors, o.wait_ns, o.max_wait_ns),
            (1_100, 1, 3_000_000_000, 2_000_000_000)
        );
        assert_eq!(o.by_pid[&42], 1_100);
        let h = m
            .holders(
                ObjId {
                    ns: m.view_ns(),
                    id: 7,
                },
                1,
            )
            .unwrap();
        assert_eq!(h.pids, vec![42]);
        assert_eq!(h.source, HolderSource::Events);
        // A later sample without that hold: released.
        apply(&mut m, &s(4_000_000_000, kernel(1_200, vec![], vec![])));
        assert!(m
            .holders(
                ObjId {
                    ns: m.view_ns(),
                    id: 7
                },
                1
            )
            .is_none());
        assert_eq!(m.now_mono_ns(), 4_000_000_000);
    }
}
