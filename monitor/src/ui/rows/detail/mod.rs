//! The details of what Enter opens, as documents of lines and links (`rows::doc`): an
//! object's (`objects.rs`), a process's and a deadlock's (`process.rs`), with what they share
//! (`parts.rs`), their history charts (`chart.rs`) and the commands to run next
//! (`hints.rs`); a POSIX object's and a process's POSIX side (`posix.rs`). The app takes a detail's links from here; drawing never decides them.
pub mod chart;
mod hints;
mod objects;
mod parts;
mod posix;
mod process;

use super::{cx::Cx, doc::Doc};
use crate::ui::view::Target;

/// The details of `target`.
pub fn doc(cx: &Cx, target: Target) -> Doc {
    match target {
        Target::Sem(id) => objects::sem(cx, id),
        Target::Shm(id) => objects::segment(cx, id),
        Target::Queue(id) => objects::queue(cx, id),
        Target::Proc(pid) => process::process(cx, pid),
        Target::Deadlock(pid) => process::deadlock(cx, pid),
        Target::Posix(id) => posix::doc(cx, id),
    }
}
