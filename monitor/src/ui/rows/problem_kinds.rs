//! The row types of findings ([`Kind`]: mark, section, how the header counts it, how bad it
//! is) and a finding as a row ([`Problem`]), shared by System V's findings (`problems.rs`)
//! and POSIX's (`problems_posix.rs`).
use crate::ui::{theme::Tone, view::Target};

/// A kind of finding: its mark on a row, its section, its name in the header (one, many),
/// its tone, and its rank (the worst first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kind {
    pub mark: String,
    pub section: String,
    pub one: String,
    pub many: String,
    pub tone: Tone,
    pub rank: u8,
}

/// The kinds the analysis has: mark, section, the header's one and many, tone, rank.
pub const KNOWN: [(&str, &str, &str, &str, Tone, u8); 7] = [
    (
        "DEADLOCK",
        "Deadlocks",
        "DEADLOCK",
        "DEADLOCKS",
        Tone::Alert,
        0,
    ),
    (
        "STUCK",
        "Stuck: nobody alive can release it",
        "stuck",
        "stuck",
        Tone::Alert,
        1,
    ),
    (
        "limit",
        "Limits nearly reached",
        "limit near",
        "limits near",
        Tone::Alert,
        2,
    ),
    (
        "stalled",
        "Stalled: blocked long, holder unknown (not proven)",
        "stalled",
        "stalled",
        Tone::Warn,
        3,
    ),
    (
        "long wait",
        "Long waits",
        "long wait",
        "long waits",
        Tone::Warn,
        4,
    ),
    (
        "used before init",
        "Sets used before init",
        "used before init",
        "used before init",
        Tone::Warn,
        5,
    ),
    ("leak", "Leaks", "leak", "leaks", Tone::Warn, 6),
];

pub fn known(i: usize) -> Kind {
    let (mark, section, one, many, tone, rank) = KNOWN[i];
    Kind {
        mark: mark.into(),
        section: section.into(),
        one: one.into(),
        many: many.into(),
        tone,
        rank,
    }
}

/// A finding as a row: its kind, the line that says it, the lines below it, where it leads.
pub struct Problem {
    pub kind: Kind,
    pub text: String,
    pub more: Vec<String>,
    pub reason: String,
    pub target: Option<Target>,
}
