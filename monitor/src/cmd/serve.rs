//! `ipctop serve`: headless, the dashboard's live source and model, exported as Prometheus
//! metrics on `GET /metrics` (see `export/`).
use std::{path::PathBuf, sync::Arc, time::Duration};

use crate::{
    analysis, exit,
    export::{self, http::HttpStats, server, Latest},
    feed::{ProbeStatus, Source},
    live::LiveSource,
};

/// `serve --help`: what it does and the metrics (checked against `export::families::SPECS`
/// by a test).
pub const METRICS_HELP: &str = "\
Export the live model as Prometheus/OpenMetrics metrics on GET /metrics (headless): the
dashboard's live source and model, Prometheus text format or OpenMetrics by the scraper's
Accept header (gzip when it takes it), on 127.0.0.1:9632 unless --listen says otherwise;
TLS and basic authentication from --web.config.file (the Prometheus exporter toolkit's
format).

Metrics (ipc_ns: the namespace's inode; kind: sem, shm, msg; id: the IPC id):
  ipctop_build_info{version,revision,kernel}                  info
  ipctop_probe_attached                                       gauge
  ipctop_snapshots_total                                      counter (stalled: stale data)
  ipctop_kernel_sample_timestamp_seconds                      gauge (when the counts were read)
  ipctop_namespace_info{ipc_ns,container}                     info (host, docker:ID, …)
  ipctop_calls_total{syscall}                                 counter, exact (kernel)
  ipctop_call_errors_total{syscall}                           counter, exact (kernel)
  ipctop_events_dropped_total                                 counter
  ipctop_events_shed_total                                    counter (serve behind the probe)
  ipctop_probe_table_full_total{table}                        counter (times a table was full)
  ipctop_probe_lost_calls_total                               counter (calls missing per object)
  ipctop_probe_lost_holds_total                               counter (semaphore operations)
  ipctop_probe_table_entries{table}                           gauge
  ipctop_probe_table_capacity{table}                          gauge
  ipctop_account_retired_early_total                          counter (final accounts forgotten)
  ipctop_objects{ipc_ns,kind}                                 gauge
  ipctop_object_limit{ipc_ns,kind}                            gauge
  ipctop_limit{ipc_ns,limit}, ipctop_limit_used{ipc_ns,limit} gauges (objects, semaphores)
  ipctop_limit_pages{ipc_ns,limit}                            gauge (shmall, pages)
  ipctop_limit_used_pages{ipc_ns,limit}                       gauge (pages)
  ipctop_blocked_threads{ipc_ns,kind}                         gauge
  ipctop_blocked_processes{ipc_ns,kind}                       gauge
  ipctop_longest_wait_seconds{ipc_ns}                         gauge
  ipctop_leaked_objects{ipc_ns,kind}                          gauge
  ipctop_deadlocks{ipc_ns}                                    gauge (proven)
  ipctop_stuck_threads{ipc_ns}                                gauge (proven)
  ipctop_stalled_threads{ipc_ns}                              gauge (unproven)
  ipctop_object_calls_total{ipc_ns,kind,id,syscall}           counter, exact (kernel)
  ipctop_object_errors_total{ipc_ns,kind,id,syscall,errno}    counter
  ipctop_object_wait_seconds{ipc_ns,kind,id}                  histogram (kernel buckets)
  ipctop_object_waiters{ipc_ns,kind,id}                       gauge (threads)
  ipctop_object_waiting_processes{ipc_ns,kind,id}             gauge
  ipctop_object_leaked{ipc_ns,kind,id}                        gauge, 1 when leaked
  ipctop_object_deadlocked{ipc_ns,kind,id}                    gauge, 1 when deadlocked
  ipctop_shm_size_bytes{ipc_ns,id}                            gauge
  ipctop_shm_attachments{ipc_ns,id}                           gauge (nattch)
  ipctop_shm_attached_processes{ipc_ns,id}                    gauge
  ipctop_queue_bytes{ipc_ns,id}                               gauge
  ipctop_queue_messages{ipc_ns,id}                            gauge
  ipctop_posix_objects{ipc_ns,kind}                           gauge (mq, shm, sem, deleted)
  ipctop_posix_shm_bytes{ipc_ns}                              gauge (/dev/shm)
  ipctop_posix_queue_messages{ipc_ns,name}                    gauge
  ipctop_posix_blocked_threads{ipc_ns,kind}                   gauge (mq, sem, mutex, futex)
  ipctop_posix_findings{ipc_ns,kind}                          gauge
  ipctop_comm_calls_total{ipc_ns,comm,syscall}                counter (kernel)
  ipctop_comm_wait_seconds_total{ipc_ns,comm}                 counter (kernel)
  ipctop_export_objects_cut{ipc_ns,kind}                      gauge (--max-objects)
  ipctop_export_comms_merged                                  gauge (--max-comms)
  ipctop_http_connections                                     gauge
  ipctop_http_connections_closed_total{reason}                counter
  ipctop_http_requests_total{code}                            counter
  process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
  process_open_fds, process_max_fds, process_start_time_seconds, process_threads
Never per pid or tid. Alerting rules, a Grafana dashboard and a systemd unit are in
assets/ (installed under /usr/share/ipctop by the .deb; see the README).";

/// How often serve looks at the calls in progress (see `serve`).
const SCAN: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub probe: super::ProbeArgs,
    /// Where to listen: ADDR:PORT, [IPV6]:PORT, HOST:PORT (every address of the name) or
    /// :PORT (every address). Loopback by default: give 0.0.0.0:PORT (or a host address) to
    /// let other machines scrape. Port 0 takes a free port (the one taken is printed).
    #[allow(rustdoc::broken_intra_doc_links)] // "[IPV6]" is help text, not a link
    #[arg(long, default_value = "127.0.0.1:9632", value_name = "ADDR:PORT")]
    pub listen: String,
    /// TLS and basic authentication, in the Prometheus exporter toolkit's web configuration
    /// format (tls_server_config, basic_auth_users with bcrypt hashes, http_server_config
    /// headers); read again when it or a certificate changes.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    /// Seconds between snapshots of /proc and samples of the probe (and new expositions):
    /// Prometheus's usual scrape interval by default; 5 gives fresher figures for about three
    /// times the CPU.
    #[arg(long, default_value_t = 15.0, value_name = "SECS")]
    pub interval: f64,
    #[command(flatten)]
    pub scope: super::ScopeArgs,
    /// Do not load the eBPF probe: snapshots of /proc only (no call counts, no histograms).
    #[arg(long)]
    pub no_probe: bool,
    /// At most this many objects get series of their own, the most active (calls, waiters,
    /// findings), ranked at every exposition; the rest are counted in
    /// ipctop_export_objects_cut.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub max_objects: usize,
    /// At most this many command names get series of their own (the rest are summed into
    /// comm="other").
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub max_comms: usize,
    /// A wait this long is a finding (a long wait; and, its holder unknown, a stalled object),
    /// as `snapshot`, `report` and the dashboard take it (seconds).
    #[arg(long, default_value_t = crate::analysis::LONG_WAIT_S, value_name = "SECS", value_parser = super::threshold_secs)]
    pub long_wait: f64,
}

pub fn run(args: ServeArgs) -> anyhow::Result<u8> {
    if !(args.interval.is_finite() && args.interval >= 0.05) {
        return Err(
            exit::Fatal::new(exit::USAGE, "--interval must be at least 0.05 seconds").into(),
        );
    }
    let scope = args.scope.select_namespaces()?;
    let web = server::Web::load(args.web_config_file.clone())
        .map_err(|e| exit::Fatal::new(exit::USAGE, e))?;
    let listeners = server::bind(&args.listen).map_err(|e| exit::Fatal::new(exit::FAILURE, e))?;
    // The probe's side (the live source's tasks): its own runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .thread_name("ipctop-probe")
        .enable_all()
        .build()?;
    let r = rt.block_on(serve(args, scope, web, listeners));
    rt.shutdown_timeout(Duration::from_millis(500));
    r
}

/// A thread running `f` on a single-threaded runtime of its own.
fn thread_with_runtime<F>(name: &str, f: F) -> anyhow::Result<std::thread::JoinHandle<()>>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(2)
        .enable_all()
        .build()?;
    Ok(std::thread::Builder::new()
        .name(name.into())
        .spawn(move || rt.block_on(f))?)
}

async fn serve(
    args: ServeArgs,
    scope: crate::model::Scope,
    web: server::Web,
    listeners: Vec<std::net::TcpListener>,
) -> anyhow::Result<u8> {
    let (tls, users) = web.describe();
    let scheme = if tls { "https" } else { "http" };
    let urls: Vec<String> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| format!("{scheme}://{a}/metrics"))
        .collect();
    let interval = Duration::from_secs_f64(args.interval);
    let mut live = args.probe.live_options(interval, args.no_probe);
    // Blocked calls are looked for once a second, not ten times as for the dashboard: an
    // exposition shows them every interval, and the scan reads /proc for each blocked thread
    // (with a hundred of them it was most of serve's CPU).
    live.scan = SCAN.min(interval);
    let source = LiveSource::start(live).await?;
    // Before saying it serves: a signal right after that line must still end it cleanly.
    let mut signals = exit::Stop::install()?;
    let access = match (tls, users) {
        (_, 0) => String::new(),
        (true, n) => format!(", {n} user(s) with basic authentication"),
        (false, n) => format!(
            ", {n} user(s) with basic authentication without TLS (passwords travel in clear)"
        ),
    };
    let urls = urls.join(", ");
    match source.probe_status() {
        ProbeStatus::Attached(at) => {
            eprintln!("ipctop: serving {urls} (probe attached to {at}){access}")
        }
        ProbeStatus::SnapshotOnly(why) => {
            eprintln!("ipctop: serving {urls} from snapshots of /proc only: {why}{access}")
        }
        ProbeStatus::Replay => {}
    }
    let latest = Latest::default();
    let stats = Arc::new(HttpStats::default());
    let (stop_feed, feed_stop) = tokio::sync::oneshot::channel();
    let (feed_done, mut feed_ended) = tokio::sync::oneshot::channel::<()>();
    let run = export::run_feed(
        source,
        latest.clone(),
        export::Options {
            interval,
            max_objects: args.max_objects,
            max_comms: args.max_comms,
            analysis: analysis::Config {
                long_wait_s: args.long_wait,
                ..Default::default()
            },
            scope,
        },
        stats.clone(),
        feed_stop,
    );
    let feed = thread_with_runtime("ipctop-feed", async move {
        run.await;
        let _ = feed_done.send(());
    })?;
    let (stop_http, http_stop) = tokio::sync::oneshot::channel::<()>();
    let site = export::http::Site { latest, stats };
    let http = thread_with_runtime("ipctop-http", async move {
        let stop = async move {
            let _ = http_stop.await;
        };
        if let Err(e) = server::serve(listeners, site, web, stop).await {
            eprintln!("ipctop: {e}");
        }
    })?;
    let code = tokio::select! {
        _ = signals.recv() => exit::OK,
        _ = &mut feed_ended => {
            // The live source's tasks ended: nothing more to serve.
            eprintln!("ipctop: the live source ended; serve stops");
            exit::FAILURE
        }
    };
    let _ = stop_feed.send(());
    let _ = stop_http.send(());
    for t in [feed, http] {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    Ok(code)
}
