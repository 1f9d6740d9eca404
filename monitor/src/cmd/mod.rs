//! The subcommands: each owns its arguments and its run function; `main.rs` only dispatches.
pub mod dashboard;
pub mod record;
pub mod replay;
pub mod report;
pub mod snapshot;
pub mod trace;
