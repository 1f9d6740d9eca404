//! The gates of smoke tests: `--fail-on` conditions, met by the judged processes only.
use super::{obj_kind, text, Report};

/// A `--fail-on` condition.
#[derive(Clone, Debug, PartialEq)]
pub enum FailOn {
    Leak,
    /// A proven deadlock, at any time of the recording.
    Deadlock,
    /// A waiter nobody alive could release, at any time.
    Stuck,
    /// An object stalled (blocked threads whose releasers could not be known), at any time.
    Stalled,
    Error,
    Drops,
    /// A wait longer than this many seconds.
    Wait(f64),
}

impl std::str::FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "leak" | "leaks" => Ok(FailOn::Leak),
            "deadlock" | "deadlocks" => Ok(FailOn::Deadlock),
            "stuck" => Ok(FailOn::Stuck),
            "stalled" => Ok(FailOn::Stalled),
            "error" | "errors" => Ok(FailOn::Error),
            "drops" | "drop" => Ok(FailOn::Drops),
            w => match w.strip_prefix("wait>").map(str::parse::<f64>) {
                Some(Ok(secs)) if secs.is_finite() && secs >= 0.0 => Ok(FailOn::Wait(secs)),
                _ => Err(format!(
                    "unknown --fail-on condition {w:?} (leak, deadlock, stuck, stalled, error, \
                     drops, wait>SECS)"
                )),
            },
        }
    }
}

impl Report {
    /// The conditions met by the judged processes, each as one line for stderr.
    pub fn failures(&self, conds: &[FailOn]) -> Vec<String> {
        let mut out = Vec::new();
        let along = &self.along_the_way;
        let names = |v: &mut dyn Iterator<Item = String>| v.collect::<Vec<_>>().join("; ");
        for c in conds {
            match c {
                FailOn::Leak if !self.leaks.is_empty() => out.push(format!(
                    "leak: {} leaked object(s) at the end: {}",
                    self.leaks.len(),
                    self.leaks
                        .iter()
                        .map(|l| format!("{} {}", obj_kind(l.kind).name(), l.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                FailOn::Deadlock
                    if !along.deadlocks.is_empty() || along.posix_of("deadlock").count() > 0 =>
                {
                    out.push(format!(
                        "deadlock: {} deadlock(s): {}",
                        along.deadlocks.len() + along.posix_of("deadlock").count(),
                        names(
                            &mut along
                                .deadlocks
                                .iter()
                                .map(|d| format!("pids {:?} (threads {:?})", d.pids, d.tids))
                                .chain(along.posix_of("deadlock").map(|f| format!(
                                    "pids {:?} (threads {:?}; {})",
                                    f.pids, f.tids, f.object
                                )))
                        )
                    ))
                }
                FailOn::Stuck if !along.stuck.is_empty() || along.posix_stuck().count() > 0 => out
                    .push(format!(
                        "stuck: {} waiter(s) nobody alive could release: {}",
                        along.stuck.len() + along.posix_stuck().count(),
                        names(
                            &mut along.stuck.iter().map(|f| f.reason.clone()).chain(
                                along
                                    .posix_stuck()
                                    .map(|f| format!("{}: {}", f.object, f.reason))
                            )
                        )
                    )),
                FailOn::Stalled if !along.stalled.is_empty() => out.push(format!(
                    "stalled: {} object(s): {}",
                    along.stalled.len(),
                    names(&mut along.stalled.iter().map(|f| f.reason.clone()))
                )),
                FailOn::Error if !self.errors.is_empty() => out.push(format!(
                    "error: {} failed call(s): {}",
                    self.errors.iter().map(|e| e.count).sum::<u64>(),
                    self.errors
                        .iter()
                        .map(|e| format!(
                            "{} {} ×{} (pids {:?})",
                            e.syscall, e.errno, e.count, e.pids
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                FailOn::Drops if self.calls.dropped > 0 => out.push(format!(
                    "drops: {} lost ({} calls missing from the per-process figures, the rest \
                     events)",
                    self.calls.dropped, self.calls.lost_calls
                )),
                FailOn::Wait(secs) if self.max_wait_s > *secs => out.push(format!(
                    "wait>{secs}: the longest wait was {}",
                    self.longest_wait
                        .as_ref()
                        .map_or(format!("{:.3} s", self.max_wait_s), text::wait_text)
                )),
                _ => {}
            }
        }
        out
    }
}
