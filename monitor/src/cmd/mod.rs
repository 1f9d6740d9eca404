//! The subcommands: each owns its arguments and its run function; `main.rs` only dispatches.
pub mod completions;
pub mod dashboard;
pub mod examples;
pub mod record;
pub mod replay;
pub mod report;
pub mod serve;
pub mod snapshot;
pub mod trace;

use crate::probe::AttachMode;

/// The probe options `trace`, `record` and the dashboard share.
#[derive(Clone, Debug, clap::Args)]
pub struct ProbeArgs {
    /// Where to hook into the kernel.
    #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
    pub attach: AttachMode,
    /// Only this process's calls (filtered in the kernel; snapshots still see everything).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Only the calls of tasks whose comm is exactly this (filtered in the kernel; comm is at
    /// most 15 bytes, so longer names are cut).
    #[arg(long)]
    pub comm: Option<String>,
    /// Say more (the verifier's log when the probe is refused).
    #[arg(short, long)]
    pub verbose: bool,
}
