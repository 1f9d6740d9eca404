//! `ipctop trace`: every System V IPC call of every process, one line each, like strace.
use std::{
    collections::{BTreeMap, HashSet},
    io::{self, Write},
    sync::atomic::Ordering,
    time::Duration,
};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::{
    event::{clock_ns, Clock, Event, Syscall, NSYS},
    exit,
    line::{json_line, text_line_in},
    probe::{self, Probe, ProbeOptions},
};

#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub probe: super::ProbeArgs,
    #[command(flatten)]
    pub scope: super::ScopeArgs,
    /// One JSON object per line, and a summary object at the end.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = super::duration_secs)]
    pub duration: Option<f64>,
    /// Ring buffer size in MiB (a power of two, 1 to 1024).
    #[arg(long, default_value_t = 32, value_name = "MIB", value_parser = buffer_mib)]
    pub buffer_mib: u32,
    /// Show a call as in progress once it has run this long (ms).
    #[arg(long, default_value_t = 200, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub blocked_after_ms: u64,
    /// Print only the calls that stand out: failures, semop/msgsnd/msgrcv calls that waited at
    /// least --wait-ms, creates, removals, attaches and control commands. The others are
    /// counted in the kernel (see kernel_calls in the summary), which costs the traced
    /// programs less.
    #[arg(long)]
    pub notable: bool,
    /// With --notable: the wait that makes a semop/msgsnd/msgrcv notable, in ms.
    #[arg(long, default_value_t = 1.0, value_name = "MS", value_parser = super::number_in(0.0, 3.6e6, "ms"))]
    pub wait_ms: f64,
}

/// `--buffer-mib`: a power of two from 1 to 1024 (the ring buffer's size must fit in u32).
fn buffer_mib(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if n.is_power_of_two() && n <= 1024 => Ok(n),
        _ => Err(format!("{s} is not a power of two from 1 to 1024")),
    }
}

/// The counts reconcile: `total + dropped + aggregated + after_end + unaccounted ==
/// kernel_calls` (`unaccounted` is 0 unless the ring buffer could not be drained in time).
#[derive(Debug, Default, Serialize)]
struct Summary {
    /// Calls printed (those that finished by the end).
    total: u64,
    /// Calls lost on the way (ring buffer full in the kernel, or undecodable).
    dropped: u64,
    by_syscall: BTreeMap<&'static str, u64>,
    /// Finished calls the kernel counted for the filter (exact, lost ones included), up to
    /// the moment the summary was taken.
    kernel_calls: u64,
    /// Of those, calls counted after the end (`--duration`, Ctrl-C) and not printed: the
    /// probe is detached before the count is taken, so this stays 0 unless the kernel's
    /// count moved between detaching and reading it.
    after_end: u64,
    /// Calls in progress when the trace began (printed first, as strace does on attaching).
    in_progress_at_start: u64,
    /// Calls the kernel counted by the end that did not arrive before the drain's deadline.
    unaccounted: u64,
    /// Calls whose arguments were lost because the per-thread table was full.
    entries_lost: u64,
    /// Of `dropped`: records that arrived but did not decode.
    undecodable: u64,
    /// With --notable: calls counted in the kernel without a line of their own.
    aggregated: u64,
    /// Calls of namespaces that --ipc-ns/--container leave out (received, not printed).
    other_namespaces: u64,
}

pub fn run(args: TraceArgs) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        // Named as an ipctop's: other ipctops know its calls as an observer's.
        .thread_name("ipctop-rt")
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(trace(args))
}

async fn trace(args: TraceArgs) -> anyhow::Result<u8> {
    let selected = args.scope.select()?;
    let mut probe = Probe::load(&ProbeOptions {
        attach: args.probe.attach,
        target_pid: args.probe.pid,
        comm: args.probe.comm.clone(),
        ring_bytes: args.buffer_mib << 20,
        verbose: args.probe.verbose,
        send_all: !args.notable,
        wait_ns: (args.wait_ms.max(0.0) * 1e6) as u64,
        table_entries: args
            .probe
            .table_entries
            .unwrap_or(crate::probe::TABLE_ENTRIES),
        ..Default::default()
    })?;
    // Before saying it is tracing: a signal right after that line must still end it cleanly.
    let mut stop = crate::exit::Stop::install()?;
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
    // --ipc-ns/--container: by the namespace and cgroup the kernel stamped each call with
    // (calls of other namespaces are counted in `other_namespaces`, not printed).
    let labels = std::cell::RefCell::new(crate::container::Labels::system());
    if !selected.host_ipc.is_empty() && !labels.borrow().can_name() {
        eprintln!(
            "ipctop: the calls of {} (in the host's IPC namespace) cannot be told by their \
             cgroup here: no cgroup2 mount",
            crate::text::escape(&selected.host_ipc.join(", "))
        );
    }
    let outside = std::cell::Cell::new(0u64);
    let wanted = |ev: &Event| {
        if !comm.is_none_or(|c| ev.comm == c) {
            return false;
        }
        let admitted = match &selected.scope {
            crate::model::Scope::All => true,
            _ => {
                let mut labels = labels.borrow_mut();
                let label = ev.cgroup_id.and_then(|id| labels.of(id));
                selected.admits(ev.ipc_ns, None, label)
            }
        };
        // Finished calls only (calls in progress are listed again, and not counted).
        if !admitted && !ev.in_progress() {
            outside.set(outside.get() + 1);
        }
        admitted
    };
    // The output ends at a closed pipe (quietly) or at a write error (said, exit 1); the
    // calls received after the last good flush are counted as not written.
    let mut pipe_closed = false;
    let mut write_error: Option<io::Error> = None;
    let mut written = 0u64;
    let mut fail = |e: io::Error, closed: &mut bool| {
        if !exit::is_closed_pipe(&e) && write_error.is_none() {
            write_error = Some(e);
        }
        *closed = true;
    };
    // Every record the reader passed on (filtered out or not), to know when all are in.
    let mut received = 0u64;

    let emit = |out: &mut io::BufWriter<_>, ev: &Event, now: u64| -> io::Result<()> {
        let mut labels = labels.borrow_mut();
        let container = ev.cgroup_id.and_then(|id| labels.of(id));
        let line = if args.json {
            json_line(ev, &clock, now, container)
        } else {
            text_line_in(ev, &clock, now, container)
        };
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")
    };

    // Calls already in progress, as strace lists them when it attaches: from the probe's table
    // (their start known) and from /proc (begun before the probe: start unknown).
    let at_start = in_progress_now(&probe, args.probe.pid, blocked_after);
    for ev in at_start.iter().filter(|e| wanted(e)) {
        if let Some(s) = ev.start_ns {
            shown_blocked.insert((ev.tid, s));
        }
        if let Err(e) = emit(&mut out, ev, clock_ns(libc::CLOCK_MONOTONIC)) {
            fail(e, &mut pipe_closed);
            break;
        }
    }
    let in_progress_at_start = at_start.iter().filter(|e| wanted(e)).count() as u64;
    if !pipe_closed {
        if let Err(e) = out.flush() {
            fail(e, &mut pipe_closed);
        }
    }

    loop {
        if pipe_closed {
            break;
        }
        tokio::select! {
            batch = rx.recv() => {
                let Some(batch) = batch else { break };
                received += batch.len() as u64;
                let now = clock_ns(libc::CLOCK_MONOTONIC);
                for ev in batch.iter().filter(|e| wanted(e)) {
                    by_syscall[ev.syscall.index()] += 1;
                    if let Err(e) = emit(&mut out, ev, now) { fail(e, &mut pipe_closed); break; }
                }
                if !pipe_closed {
                    match out.flush() {
                        Ok(()) => written = by_syscall.iter().sum(),
                        Err(e) => fail(e, &mut pipe_closed),
                    }
                }
                if pipe_closed { break; }
            }
            _ = scan.tick() => {
                let now = clock_ns(libc::CLOCK_MONOTONIC);
                let inflight = probe.in_flight(blocked_after).unwrap_or_default();
                shown_blocked.retain(|k| inflight.iter().any(|e| (e.tid, e.start_ns.unwrap_or(0)) == *k));
                for ev in inflight.iter().filter(|e| wanted(e)) {
                    let Some(start) = ev.start_ns else { continue };
                    if shown_blocked.insert((ev.tid, start)) {
                        if let Err(e) = emit(&mut out, ev, now) { fail(e, &mut pipe_closed); break; }
                    }
                }
                if !pipe_closed {
                    if let Err(e) = out.flush() { fail(e, &mut pipe_closed); }
                }
                if pipe_closed { break; }
            }
            _ = prune.tick() => {
                // The summary counts from the kernel's counters: retired rows are not kept.
                let _ = probe.prune(None);
                let _ = probe.take_retired();
                rstats.spilled.lock().map(|mut s| s.clear()).ok();
            }
            _ = &mut sleep, if deadline.is_some() => break,
            _ = stop.recv() => break,
        }
    }

    // Detach first (all tracepoints at once): from then on the kernel's counts are final, and
    // every call it sent by then is read before the summary (in the ring buffer's order, with
    // a deadline), however fast or slow the reader was.
    probe.detach();
    let ks_end = probe.stats()?;
    if !pipe_closed {
        let end = tokio::time::Instant::now() + Duration::from_secs(2);
        rstats.kick.notify_one();
        while received
            + rstats.undecodable.load(Ordering::Relaxed)
            + rstats.rows.load(Ordering::Relaxed)
            < ks_end.sent
            && tokio::time::Instant::now() < end
        {
            match tokio::time::timeout(Duration::from_millis(20), rx.recv()).await {
                Ok(Some(batch)) => {
                    received += batch.len() as u64;
                    let now = clock_ns(libc::CLOCK_MONOTONIC);
                    for ev in batch.iter().filter(|e| wanted(e)) {
                        by_syscall[ev.syscall.index()] += 1;
                        if !pipe_closed {
                            if let Err(e) = emit(&mut out, ev, now) {
                                fail(e, &mut pipe_closed);
                            }
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => rstats.kick.notify_one(),
            }
        }
    }
    reader.abort();
    // The probe is detached: nothing finishes "after the end" any more, and this is 0 unless a
    // count moved between detaching and reading (kept so that the sum is checked, not assumed).
    let ks = probe.stats()?;
    let undecodable = rstats.undecodable.load(Ordering::Relaxed);
    let total: u64 = by_syscall.iter().sum();
    let dropped = ks_end.dropped + undecodable;
    let aggregated = ks_end
        .total_calls()
        .saturating_sub(ks_end.sent + ks_end.dropped);
    let after_end = ks.total_calls().saturating_sub(ks_end.total_calls());
    let summary = Summary {
        total,
        dropped,
        by_syscall: Syscall::all()
            .filter(|s| by_syscall[s.index()] > 0)
            .map(|s| (s.name(), by_syscall[s.index()]))
            .collect(),
        kernel_calls: ks.total_calls(),
        after_end,
        in_progress_at_start,
        unaccounted: ks
            .total_calls()
            .saturating_sub(total + dropped + aggregated + after_end + outside.get()),
        entries_lost: ks.inflight_full,
        undecodable,
        aggregated,
        other_namespaces: outside.get(),
    };
    if !pipe_closed {
        let r = if args.json {
            writeln!(out, "{}", serde_json::json!({ "summary": summary }))
        } else {
            Ok(())
        };
        match r.and_then(|_| out.flush()) {
            Ok(()) => written = summary.total,
            Err(e) => fail(e, &mut pipe_closed),
        }
    }
    drop(out);
    let unwritten = summary.total.saturating_sub(written);
    let mut err = io::stderr().lock();
    let _ = writeln!(
        err,
        "ipctop: {} calls traced, {} dropped, {} finished after the end (of {} the kernel \
         counted){}{}",
        summary.total,
        summary.dropped,
        summary.after_end,
        summary.kernel_calls,
        if summary.unaccounted > 0 {
            format!(", {} not drained in time", summary.unaccounted)
        } else {
            String::new()
        },
        if summary.entries_lost > 0 {
            format!(
                ", {} without arguments (per-thread table full)",
                summary.entries_lost
            )
        } else {
            String::new()
        }
    );
    if let Some(e) = &write_error {
        let _ = writeln!(
            err,
            "ipctop: {unwritten} of them could not be written to standard output: {e}"
        );
        return Ok(exit::FAILURE);
    }
    Ok(if summary.dropped > 0 {
        exit::FAILURE
    } else {
        exit::OK
    })
}

/// The calls in progress now: the probe's that have run `min_age` (younger ones are the
/// scan's, when they have) and, for threads it has none of, /proc's (begun before the probe
/// was attached). `pid`: only that process.
fn in_progress_now(probe: &Probe, pid: Option<u32>, min_age: Duration) -> Vec<Event> {
    use crate::{
        event::{Args, Comm, Flags, SemOp, SemOps, SEMBUF_FLAGS},
        snapshot::WaitCall,
    };
    // /proc first, the probe's table after: a wait /proc saw whose call the probe saw enter
    // is in the table by then.
    let snap = crate::snapshot::take(&Default::default());
    let known: HashSet<u32> = probe
        .in_flight(Duration::ZERO)
        .unwrap_or_default()
        .iter()
        .map(|e| e.tid)
        .collect();
    let mut out = probe.in_flight(min_age).unwrap_or_default();
    let Ok(snap) = snap else {
        return out;
    };
    for p in snap
        .processes
        .iter()
        .filter(|p| pid.is_none_or(|x| x == p.pid))
    {
        for w in p.waits.iter().flatten().filter(|w| !known.contains(&w.tid)) {
            let (syscall, args) = match &w.call {
                WaitCall::Sem {
                    semid, nsops, sops, ..
                } => (
                    Syscall::SEMTIMEDOP,
                    Args::Semop {
                        semid: *semid,
                        nsops: *nsops,
                        sops: SemOps::new(sops.iter().flatten().map(|s| SemOp {
                            sem_num: s.num,
                            sem_op: s.op,
                            sem_flg: Flags::new(s.flg as u16 as u32, SEMBUF_FLAGS),
                        })),
                        sops_read: sops.is_some(),
                        timeout_ns: None,
                        timeout_unreadable: false,
                    },
                ),
                WaitCall::Msgrcv {
                    msqid,
                    msgsz,
                    msgtyp,
                } => (
                    Syscall::MSGRCV,
                    Args::Msgrcv {
                        msqid: *msqid,
                        msgsz: *msgsz,
                        msgtyp: *msgtyp,
                        flags: Flags::new(0, crate::event::MSG_FLAGS),
                        mtype: None,
                        mtype_unreadable: false,
                    },
                ),
                WaitCall::Msgsnd { msqid, msgsz } => (
                    Syscall::MSGSND,
                    Args::Msgsnd {
                        msqid: *msqid,
                        mtype: None,
                        msgsz: *msgsz,
                        flags: Flags::new(0, crate::event::MSG_FLAGS),
                    },
                ),
            };
            out.push(Event {
                start_ns: None,
                end_ns: None,
                pid: p.pid,
                tid: w.tid,
                uid: p.uid.unwrap_or(0),
                gid: 0,
                comm: Comm::from_str_lossy(&p.comm),
                syscall,
                args: Some(args),
                ret: None,
                ipc_ns: p.ipc_ns,
                ns_id: None,
                proc_start: p.start_ticks,
                cgroup_id: probe::task_cgroup_id(p.pid, w.tid),
                compat: false,
                ended: false,
            });
        }
    }
    out
}
