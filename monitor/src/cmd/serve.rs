//! `ipctop serve`: headless, the dashboard's live source and model, exported as Prometheus
//! metrics on `GET /metrics` (see `export/`).
use std::{net::SocketAddr, time::Duration};

use crate::{
    analysis, exit,
    export::{self, Latest},
    feed::{ProbeStatus, Source},
    live::LiveSource,
};

/// `serve --help`: what it does and the metrics (checked against `export::families::SPECS`
/// by a test).
pub const METRICS_HELP: &str = "\
Export the live model as Prometheus/OpenMetrics metrics on GET /metrics (headless): the
dashboard's live source and model, Prometheus text format or OpenMetrics by the scraper's
Accept header, on 127.0.0.1:9632 unless --listen says otherwise.

Metrics (ipc_ns: the namespace's inode; kind: sem, shm, msg; id: the IPC id):
  ipctop_build_info{version}                                  info
  ipctop_probe_attached                                       gauge
  ipctop_snapshots_total                                      counter (stalled: stale data)
  ipctop_namespace_info{ipc_ns,container}                     info (host, docker:ID, …)
  ipctop_calls_total{syscall}                                 counter, exact (kernel)
  ipctop_call_errors_total{syscall}                           counter, exact (kernel)
  ipctop_events_dropped_total                                 counter
  ipctop_probe_table_full_total{table}                        counter
  ipctop_objects{ipc_ns,kind}                                 gauge
  ipctop_object_limit{ipc_ns,kind}                            gauge
  ipctop_limit{ipc_ns,limit}, ipctop_limit_used{ipc_ns,limit} gauges (kernel units)
  ipctop_blocked_threads{ipc_ns,kind}                         gauge
  ipctop_longest_wait_seconds{ipc_ns}                         gauge
  ipctop_leaked_objects{ipc_ns,kind}                          gauge
  ipctop_deadlocks{ipc_ns}                                    gauge
  ipctop_object_calls_total{ipc_ns,kind,id,syscall}           counter, exact (kernel)
  ipctop_object_errors_total{ipc_ns,kind,id,syscall,errno}    counter
  ipctop_object_wait_seconds{ipc_ns,kind,id}                  histogram (kernel)
  ipctop_object_waiters{ipc_ns,kind,id}                       gauge
  ipctop_object_leaked{ipc_ns,kind,id}                        gauge, 1 when leaked
  ipctop_object_deadlocked{ipc_ns,kind,id}                    gauge, 1 when in a cycle
  ipctop_shm_size_bytes{ipc_ns,id}                            gauge
  ipctop_shm_attachments{ipc_ns,id}                           gauge (nattch)
  ipctop_shm_attached_processes{ipc_ns,id}                    gauge
  ipctop_queue_bytes{ipc_ns,id}                               gauge
  ipctop_queue_messages{ipc_ns,id}                            gauge
  ipctop_comm_calls_total{ipc_ns,comm,syscall}                counter (kernel)
  ipctop_comm_wait_seconds_total{ipc_ns,comm}                 counter (kernel)
  ipctop_export_objects_cut{ipc_ns,kind}                      gauge (--max-objects)
  ipctop_export_comms_merged                                  gauge (--max-comms)
Never per pid or tid. Alerting rules, a Grafana dashboard and a systemd unit are in
assets/ (see the README).";

#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub probe: super::ProbeArgs,
    /// Address to listen on. Loopback by default: give 0.0.0.0:PORT (or a host address) to
    /// let other machines scrape.
    #[arg(long, default_value = "127.0.0.1:9632", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// Seconds between snapshots of /proc and samples of the probe (and new expositions).
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub interval: f64,
    #[command(flatten)]
    pub scope: super::ScopeArgs,
    /// Do not load the eBPF probe: snapshots of /proc only (no call counts, no histograms).
    #[arg(long)]
    pub no_probe: bool,
    /// At most this many objects get series of their own (the rest are counted in
    /// ipctop_export_objects_cut).
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub max_objects: usize,
    /// At most this many command names get series of their own (the rest are summed into
    /// comm="other").
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub max_comms: usize,
}

pub fn run(args: ServeArgs) -> anyhow::Result<u8> {
    if !(args.interval.is_finite() && args.interval >= 0.05) {
        return Err(
            exit::Fatal::new(exit::USAGE, "--interval must be at least 0.05 seconds").into(),
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let r = rt.block_on(serve(args));
    rt.shutdown_timeout(Duration::from_millis(500));
    r
}

async fn serve(args: ServeArgs) -> anyhow::Result<u8> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            exit::Fatal::new(
                exit::FAILURE,
                format!("cannot listen on {}: {e}", args.listen),
            )
        })?;
    let interval = Duration::from_secs_f64(args.interval);
    let source = LiveSource::start(args.probe.live_options(interval, args.no_probe)).await?;
    // Before saying it serves: a signal right after that line must still end it cleanly.
    let mut signals = exit::Stop::install()?;
    match source.probe_status() {
        ProbeStatus::Attached(at) => {
            eprintln!(
                "ipctop: serving http://{}/metrics (probe attached to {at})",
                args.listen
            )
        }
        ProbeStatus::SnapshotOnly(why) => eprintln!(
            "ipctop: serving http://{}/metrics from snapshots of /proc only: {why}",
            args.listen
        ),
        ProbeStatus::Replay => {}
    }
    let latest = Latest::default();
    let feed = tokio::spawn(export::run_feed(
        source,
        latest.clone(),
        export::Options {
            interval,
            max_objects: args.max_objects,
            max_comms: args.max_comms,
            analysis: analysis::Config::default(),
            scope: args.scope.scope(),
        },
    ));
    let stop = async move {
        signals.recv().await;
    };
    export::http::serve(listener, latest, stop).await?;
    feed.abort();
    Ok(exit::OK)
}
