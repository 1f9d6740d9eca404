//! `ipctop` (no subcommand): the live dashboard on this machine.
use std::time::Duration;

use crate::{analysis, exit, feed::Source, live::LiveSource, ui};

#[derive(Clone, Debug, clap::Args)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub probe: super::ProbeArgs,
    /// Seconds between snapshots of /proc (and samples of the probe's counters).
    #[arg(long, default_value_t = 1.0, value_name = "SECS", value_parser = super::interval_secs)]
    pub interval: f64,
    #[command(flatten)]
    pub scope: super::ScopeArgs,
    /// Do not load the eBPF probe: snapshots of /proc only.
    #[arg(long)]
    pub no_probe: bool,
    /// Flag waits at least this long (seconds; the same default as `report`).
    #[arg(long, default_value_t = crate::analysis::LONG_WAIT_S, value_name = "SECS", value_parser = super::threshold_secs)]
    pub long_wait: f64,
    /// Also record the session to this file (see `ipctop record`; .zst compresses).
    #[arg(long, value_name = "FILE")]
    pub record: Option<std::path::PathBuf>,
}

pub fn run(args: DashboardArgs) -> anyhow::Result<u8> {
    if let Some(path) = &args.record {
        crate::record::check_output(path)
            .map_err(|e| exit::Fatal::new(exit::USAGE, e.to_string()))?;
    }
    ui::check_terminal()?;
    let scope = args.scope.select_namespaces()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        // Named as an ipctop's: other ipctops know its calls as an observer's.
        .thread_name("ipctop-rt")
        .worker_threads(2)
        .enable_all()
        .build()?;
    let source = rt.block_on(LiveSource::start(crate::live::LiveOptions {
        // Nothing to redraw when nothing happens: /proc looked at every third interval
        // while the probe sees no IPC at all (an idle dashboard's main cost).
        idle_every: 3,
        // A dashboard slower than the events keeps at most this many (about 15 MB).
        max_queued_events: Some(32_768),
        ..args
            .probe
            .live_options(Duration::from_secs_f64(args.interval), args.no_probe)
    }))?;
    let mut source: Box<dyn Source> = Box::new(source);
    if let Some(path) = &args.record {
        let header = crate::cmd::record::header_here(
            Duration::from_secs_f64(args.interval),
            &source.probe_status(),
            false,
            None,
        );
        let rec = crate::record::Recorder::create(path, &header)
            .map_err(|e| exit::Fatal::new(exit::USAGE, format!("{e:#}")))?;
        source = Box::new(crate::record::Tee::new(source, rec));
    }
    let opts = ui::UiOptions {
        cfg: analysis::Config {
            long_wait_s: args.long_wait,
            ..Default::default()
        },
        scope,
        recording: args.record.as_ref().map(|p| p.display().to_string()),
        ..Default::default()
    };
    // The source's tasks run on the runtime's workers while the UI owns this thread.
    let r = ui::run_with(source, opts);
    rt.shutdown_timeout(Duration::from_millis(500));
    r
}

#[cfg(test)]
mod tests {
    use clap::{Args, Command};

    fn default_of(cmd: Command, arg: &str) -> String {
        let a = cmd
            .get_arguments()
            .find(|a| a.get_id() == arg)
            .unwrap_or_else(|| panic!("no --{arg}"));
        a.get_default_values()[0].to_string_lossy().into_owned()
    }

    #[test]
    fn one_long_wait_threshold_for_the_dashboard_and_report() {
        let dash = default_of(
            super::DashboardArgs::augment_args(Command::new("d")),
            "long_wait",
        );
        let report = default_of(
            super::super::report::ReportArgs::augment_args(Command::new("r")),
            "long_wait",
        );
        assert_eq!(dash, report);
    }
}
