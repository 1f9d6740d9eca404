//! `ipctop trace`: every System V IPC call of every process, one line each, like strace.
use std::{
    collections::{BTreeMap, HashSet},
    io::{self, Write},
    sync::atomic::Ordering,
    time::Duration,
};

use serde::Serialize;
use tokio::{signal::unix::SignalKind, sync::mpsc};

use crate::{
    event::{clock_ns, Clock, Event, Syscall, NSYS},
    exit,
    line::{json_line, text_line},
    probe::{self, Probe, ProbeOptions},
};

#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub probe: super::ProbeArgs,
    /// One JSON object per line, and a summary object at the end.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Ring buffer size in MiB (a power of two).
    #[arg(long, default_value_t = 32, value_name = "MIB")]
    pub buffer_mib: u32,
    /// Show a call as in progress once it has run this long (ms).
    #[arg(long, default_value_t = 200, value_name = "MS")]
    pub blocked_after_ms: u64,
    /// Print only the calls that stand out: failures, semop/msgsnd/msgrcv calls that waited at
    /// least --wait-ms, creates, removals, attaches and control commands. The others are
    /// counted in the kernel (see kernel_calls in the summary), which costs the traced
    /// programs less.
    #[arg(long)]
    pub notable: bool,
    /// With --notable: the wait that makes a semop/msgsnd/msgrcv notable, in ms.
    #[arg(long, default_value_t = 1.0, value_name = "MS")]
    pub wait_ms: f64,
}

#[derive(Debug, Default, Serialize)]
struct Summary {
    /// Calls printed (finished ones).
    total: u64,
    /// Calls lost on the way (ring buffer full in the kernel, or undecodable).
    dropped: u64,
    by_syscall: BTreeMap<&'static str, u64>,
    /// Finished calls the kernel counted for the filter (exact, lost ones included).
    kernel_calls: u64,
    /// Calls whose arguments were lost because the per-thread table was full.
    entries_lost: u64,
    /// Of `dropped`: records that arrived but did not decode.
    undecodable: u64,
    /// With --notable: calls counted in the kernel without a line of their own.
    aggregated: u64,
}

pub fn run(args: TraceArgs) -> anyhow::Result<u8> {
    if !args.buffer_mib.is_power_of_two() {
        return Err(exit::Fatal::new(exit::USAGE, "--buffer-mib must be a power of two").into());
    }
    if let Some(d) = args.duration {
        if !(d.is_finite() && d >= 0.0) {
            return Err(
                exit::Fatal::new(exit::USAGE, "--duration must be a number of seconds").into(),
            );
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(trace(args))
}

async fn trace(args: TraceArgs) -> anyhow::Result<u8> {
    let mut probe = Probe::load(&ProbeOptions {
        attach: args.probe.attach,
        target_pid: args.probe.pid,
        comm: args.probe.comm.clone(),
        ring_bytes: args.buffer_mib << 20,
        verbose: args.probe.verbose,
        send_all: !args.notable,
        wait_ns: (args.wait_ms.max(0.0) * 1e6) as u64,
        ..Default::default()
    })?;
    // Before saying it is tracing: a SIGTERM right after that line must still end it cleanly.
    let mut sigterm = tokio::signal::unix::signal(SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(SignalKind::interrupt())?;
    eprintln!(
        "ipctop: tracing System V IPC calls of {} via {}; Ctrl-C to stop",
        match (args.probe.pid, &args.probe.comm) {
            (Some(p), _) => format!("pid {p}"),
            (None, Some(c)) => format!("tasks named {c:?}"),
            (None, None) => "every process".to_string(),
        },
        probe.attached_to()
    );
    let clock = Clock::now();
    let (tx, mut rx) = mpsc::channel::<probe::Batch>(256);
    let poll = Duration::from_millis(50);
    let (reader, rstats) = probe::spawn_reader(probe.take_events()?, tx, poll)?;

    let deadline = args
        .duration
        .map(|d| tokio::time::Instant::now() + Duration::from_secs_f64(d));
    let sleep = tokio::time::sleep_until(
        deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86400 * 365)),
    );
    tokio::pin!(sleep);
    let mut prune = tokio::time::interval(Duration::from_secs(5));
    let mut scan = tokio::time::interval(Duration::from_millis(
        args.blocked_after_ms.clamp(10, 1000) / 2,
    ));

    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut by_syscall = [0u64; NSYS];
    let mut shown_blocked: HashSet<(u32, u64)> = HashSet::new();
    let blocked_after = Duration::from_millis(args.blocked_after_ms);
    // The kernel filters by pid and comm already; this keeps in-flight calls to the same.
    let comm = args
        .probe
        .comm
        .as_deref()
        .map(crate::event::Comm::from_str_lossy);
    let wanted = |ev: &Event| comm.is_none_or(|c| ev.comm == c);
    let mut pipe_closed = false;
    // Every record the reader passed on (filtered out or not), to know when all are in.
    let mut received = 0u64;

    let emit = |out: &mut io::BufWriter<_>, ev: &Event, now: u64| -> io::Result<()> {
        let line = if args.json {
            json_line(ev, &clock, now)
        } else {
            text_line(ev, &clock, now)
        };
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")
    };

    loop {
        tokio::select! {
            batch = rx.recv() => {
                let Some(batch) = batch else { break };
                received += batch.len() as u64;
                let now = clock_ns(libc::CLOCK_MONOTONIC);
                for ev in batch.iter().filter(|e| wanted(e)) {
                    by_syscall[ev.syscall.index()] += 1;
                    if emit(&mut out, ev, now).is_err() { pipe_closed = true; break; }
                }
                if pipe_closed || out.flush().is_err() { pipe_closed = true; break; }
            }
            _ = scan.tick() => {
                let now = clock_ns(libc::CLOCK_MONOTONIC);
                let inflight = probe.in_flight(blocked_after).unwrap_or_default();
                shown_blocked.retain(|k| inflight.iter().any(|e| (e.tid, e.start_ns.unwrap_or(0)) == *k));
                for ev in inflight.iter().filter(|e| wanted(e)) {
                    let Some(start) = ev.start_ns else { continue };
                    if shown_blocked.insert((ev.tid, start))
                        && emit(&mut out, ev, now).is_err()
                    {
                        pipe_closed = true;
                        break;
                    }
                }
                if pipe_closed || out.flush().is_err() { pipe_closed = true; break; }
            }
            _ = prune.tick() => {
                let _ = probe.prune();
            }
            _ = &mut sleep, if deadline.is_some() => break,
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
    }

    // Detach first (all tracepoints at once): from then on the kernel's counts are final, and
    // everything it sent is read before the summary, however fast or slow the reader was.
    probe.detach();
    let ks = probe.stats()?;
    if !pipe_closed {
        let end = tokio::time::Instant::now() + Duration::from_secs(2);
        rstats.kick.notify_one();
        while received + rstats.undecodable.load(Ordering::Relaxed) < ks.sent
            && tokio::time::Instant::now() < end
        {
            match tokio::time::timeout(Duration::from_millis(20), rx.recv()).await {
                Ok(Some(batch)) => {
                    received += batch.len() as u64;
                    let now = clock_ns(libc::CLOCK_MONOTONIC);
                    for ev in batch.iter().filter(|e| wanted(e)) {
                        by_syscall[ev.syscall.index()] += 1;
                        let _ = emit(&mut out, ev, now);
                    }
                }
                Ok(None) => break,
                Err(_) => rstats.kick.notify_one(),
            }
        }
    }
    reader.abort();
    let undecodable = rstats.undecodable.load(Ordering::Relaxed);
    let summary = Summary {
        total: by_syscall.iter().sum(),
        dropped: ks.dropped + undecodable,
        by_syscall: Syscall::all()
            .filter(|s| by_syscall[s.index()] > 0)
            .map(|s| (s.name(), by_syscall[s.index()]))
            .collect(),
        kernel_calls: ks.total_calls(),
        entries_lost: ks.inflight_full,
        undecodable,
        aggregated: ks.total_calls().saturating_sub(ks.sent),
    };
    if args.json {
        let _ = writeln!(out, "{}", serde_json::json!({ "summary": summary }));
    }
    let _ = out.flush();
    drop(out);
    let mut err = io::stderr().lock();
    let _ = writeln!(
        err,
        "ipctop: {} calls traced, {} dropped{}",
        summary.total,
        summary.dropped,
        if summary.entries_lost > 0 {
            format!(
                ", {} without arguments (per-thread table full)",
                summary.entries_lost
            )
        } else {
            String::new()
        }
    );
    Ok(if summary.dropped > 0 {
        exit::FAILURE
    } else {
        exit::OK
    })
}
