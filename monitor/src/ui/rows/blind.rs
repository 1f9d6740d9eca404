//! What the last snapshot could not read, by kind, so that each view says it where its
//! answer would be ("nobody is blocked" becomes "the blocked calls of 4 processes could not
//! be read: …"). The kinds are recognised from the model's unknowns (`snapshot::Unknown`, a
//! sentence and its reason) in this one place.
use super::cx::Cx;
use crate::snapshot::Unknown;

/// A kind of fact that can be unreadable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blind {
    /// Threads blocked in IPC calls (/proc/PID/task/*/syscall).
    Waits,
    /// Segments attached (/proc/PID/maps).
    Maps,
    /// Semaphore values, waiter counts, last pids (semctl).
    SemValues,
}

impl Blind {
    /// How the snapshot readers begin the sentence of this kind.
    fn prefix(self) -> &'static str {
        match self {
            Blind::Waits => "blocked calls",
            Blind::Maps => "attached segments",
            Blind::SemValues => "semaphore values",
        }
    }
}

/// What could not be read of this kind, and why; `None`: nothing.
pub fn unknown<'a>(cx: &Cx<'a>, kind: Blind) -> Option<&'a Unknown> {
    cx.s.model
        .unknowns()
        .iter()
        .find(|u| u.what.starts_with(kind.prefix()))
}

/// "the {what} could not be read: {reason}", for where an answer would be.
pub fn said(u: &Unknown) -> String {
    format!("the {} could not be read: {}", u.what, u.reason)
}
