//! `ipctop record`: a session to a file, headless; with a command, for its lifetime.
use std::{path::PathBuf, process::Stdio, time::Duration};

use crate::{
    event::clock_ns,
    exit,
    feed::{ProbeStatus, Source, Stamped, Update},
    live::{LiveOptions, LiveSource},
    model::account::WAIT_NS,
    record::{forks::ForkFollower, Header, Recorder, FORMAT_VERSION},
};

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub probe: super::ProbeArgs,
    /// The recording to write (zstd-compressed when it ends in .zst): always a new file,
    /// 0600; a regular file of that name is replaced, a symlink, device, FIFO or socket
    /// refused.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = super::duration_secs)]
    pub duration: Option<f64>,
    /// Record every call (larger files); by default calls that stand out are recorded with
    /// the kernel's exact per-process, per-object counts and wait times.
    #[arg(long)]
    pub every_call: bool,
    /// Seconds between snapshots of /proc.
    #[arg(long, default_value_t = 1.0, value_name = "SECS", value_parser = super::interval_secs)]
    pub interval: f64,
    /// `--ipc-ns`/`--container`: only the calls of those namespaces are recorded (snapshots,
    /// of every namespace, and the kernel's counts are recorded whole).
    #[command(flatten)]
    pub scope: super::ScopeArgs,
    /// A command to run and record: ipctop exits when it does, with its status.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// The header of a recording made here, now.
pub fn header_here(
    interval: Duration,
    probe: &ProbeStatus,
    every_call: bool,
    command: Option<Vec<String>>,
) -> Header {
    let uts = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uts.as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mono = clock_ns(libc::CLOCK_MONOTONIC);
    let real = clock_ns(libc::CLOCK_REALTIME);
    Header {
        ipctop_recording: FORMAT_VERSION,
        ipctop_version: env!("CARGO_PKG_VERSION").to_string(),
        event_version: monitor_ebpf::EVENT_VERSION,
        kernel: field(nix::sys::utsname::UtsName::release),
        host: field(nix::sys::utsname::UtsName::nodename),
        clock_offset_ns: (real as i128 - mono as i128) as i64,
        boot_time_unix_ns: real.saturating_sub(clock_ns(libc::CLOCK_BOOTTIME)),
        started_unix_ns: real,
        interval_ms: interval.as_millis() as u64,
        probe: match probe {
            ProbeStatus::Attached(how) => format!("attached: {how}"),
            ProbeStatus::SnapshotOnly(why) => format!("snapshots only: {why}"),
            ProbeStatus::Replay => "replay".into(),
        },
        every_call,
        command,
        command_pid: None,
        forks_followed: false,
    }
}

pub fn run(args: RecordArgs) -> anyhow::Result<u8> {
    // A bad output name is refused before the probe loads.
    crate::record::check_output(&args.output)
        .map_err(|e| exit::Fatal::new(exit::USAGE, e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        // Named as an ipctop's: other ipctops know its calls as an observer's.
        .thread_name("ipctop-rt")
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(record(args));
    // Not waiting for a task caught in a long read of the probe's tables (or any blocking
    // work): the recording is finished and closed by now.
    rt.shutdown_timeout(Duration::from_millis(500));
    result
}

/// `--ipc-ns`/`--container` in a recording: the calls (finished and in progress) of other
/// namespaces are left out, by the namespace the kernel stamped each with (calls without a
/// stamp are kept), and a container sharing the host's IPC namespace keeps its calls by the
/// cgroup the kernel stamped them with; snapshots and the kernel's counts are written whole.
struct NsFilter {
    selected: super::Selected,
    /// Each namespace's container label, from the last snapshot.
    labels: std::collections::BTreeMap<u64, String>,
    /// Labels of cgroup ids, for containers in the host's namespace.
    cgroups: crate::container::Labels,
}

impl NsFilter {
    fn apply(&mut self, mut s: crate::feed::Stamped) -> crate::feed::Stamped {
        use crate::feed::Update;
        match &mut s.update {
            Update::Snapshot(snap) => self.labels = snap.ns_labels.iter().cloned().collect(),
            Update::Events(evs) | Update::InFlight(evs)
                if self.selected.scope != crate::model::Scope::All =>
            {
                evs.retain(|e| {
                    let Some(ns) = e.ipc_ns else { return true };
                    let label = self.labels.get(&ns).map(String::as_str);
                    let cgroup = e.cgroup_id.and_then(|id| self.cgroups.of(id));
                    self.selected.admits(Some(ns), label, cgroup)
                });
            }
            _ => {}
        }
        s
    }
}

/// What of a queued update is still written once END_WRITES is over (false: none of it).
/// `last`: it is the last queued update of its kind.
/// - Every kernel sample: its counters, holds and retired rows (the final counts of processes
///   and objects that ended, in no later sample); its live rows only in the last sample,
///   whose cumulative counts carry what the ones before had (a row's growth is measured
///   against the last value seen, so nothing is counted twice or lost).
/// - Every snapshot.
/// - Of a list of events, all but those of calls that failed without waiting (counted in
///   `skipped`: their calls are in the kernel's counts all the same).
/// - Of the lists of calls in progress, the last only (each replaces the one before).
fn past_deadline(u: &mut Update, last: bool, skipped: &mut u64) -> bool {
    match u {
        Update::Events(evs) => {
            let before = evs.len();
            evs.retain(|e| !e.failed() || e.duration_ns().is_some_and(|d| d >= WAIT_NS));
            *skipped += (before - evs.len()) as u64;
            !evs.is_empty()
        }
        Update::InFlight(_) => last,
        Update::Kernel(k) if !last => {
            let retired: std::collections::HashSet<_> = k.retired.iter().collect();
            k.aggregates.retain(|a| retired.contains(&a.key()));
            true
        }
        _ => true,
    }
}

/// How long `record` goes on writing what was still queued once it stops.
const END_WRITES: Duration = Duration::from_secs(1);

/// Events written at most in one piece once it stops (see END_WRITES).
const END_PART: usize = 1024;

async fn record(args: RecordArgs) -> anyhow::Result<u8> {
    let interval = Duration::from_secs_f64(args.interval);
    let mut ns_filter = NsFilter {
        selected: args.scope.select()?,
        labels: Default::default(),
        cgroups: crate::container::Labels::system(),
    };
    let mut live = LiveSource::start(LiveOptions {
        interval,
        attach: args.probe.attach,
        every_call: args.every_call,
        target_pid: args.probe.pid,
        comm: args.probe.comm.clone(),
        ring_bytes: if args.every_call { 32 << 20 } else { 8 << 20 },
        verbose: args.probe.verbose,
        table_entries: args.probe.table_entries,
        ..Default::default()
    })
    .await?;
    // Before saying it is recording: a signal right after that line must still end it cleanly.
    let mut stop = crate::exit::Stop::install()?;
    let status = live.probe_status();
    match &status {
        ProbeStatus::Attached(how) => {
            eprintln!(
                "ipctop: recording to {} via {how}",
                crate::text::path(&args.output)
            )
        }
        ProbeStatus::SnapshotOnly(why) => eprintln!(
            "ipctop: recording snapshots only to {} (the probe cannot run: {why})",
            crate::text::path(&args.output)
        ),
        ProbeStatus::Replay => {}
    }
    let command = (!args.command.is_empty()).then(|| args.command.clone());
    // The command's process tree as it grows (fork events), listened to before it starts.
    let forks = match &command {
        Some(_) => match ForkFollower::start() {
            Ok(f) => Some(f),
            Err(e) => {
                if args.probe.verbose {
                    eprintln!("ipctop: the command's forks are not followed ({e}); its processes are found from the snapshots");
                }
                None
            }
        },
        None => None,
    };
    let mut child = match args.command.split_first() {
        Some((prog, rest)) => Some(
            tokio::process::Command::new(prog)
                .args(rest)
                .stdin(Stdio::inherit())
                .spawn()
                .map_err(|e| exit::Fatal::new(exit::USAGE, format!("cannot run {prog}: {e}")))?,
        ),
        None => None,
    };
    let command_pid = child.as_ref().and_then(|c| c.id());
    if let (Some(f), Some(pid)) = (&forks, command_pid) {
        f.set_root(pid);
    }
    let mut header = header_here(interval, &status, args.every_call, command);
    header.command_pid = command_pid;
    header.forks_followed = forks.is_some();
    let mut rec = match Recorder::create(&args.output, &header) {
        Ok(r) => r,
        Err(e) => {
            if let Some(c) = child.as_mut() {
                let _ = c.start_kill();
                let _ = c.wait().await;
            }
            return Err(exit::Fatal::new(exit::USAGE, format!("{e:#}")).into());
        }
    };
    let deadline = args
        .duration
        .map(|d| tokio::time::Instant::now() + Duration::from_secs_f64(d));
    let far = tokio::time::Instant::now() + Duration::from_secs(86400 * 365);
    let sleep = tokio::time::sleep_until(deadline.unwrap_or(far));
    tokio::pin!(sleep);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut ticks: u64 = 0;
    let mut exit_status: Option<i32> = None;
    let ended = |st: std::process::ExitStatus, exit_status: &mut Option<i32>| {
        use std::os::unix::process::ExitStatusExt;
        *exit_status = Some(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)));
        format!("the command exited ({st})")
    };

    let reason = loop {
        tokio::select! {
            s = live.next() => match s {
                Some(s) => rec.write(&ns_filter.apply(s))?,
                None => break "the live source ended".to_string(),
            },
            st = async { child.as_mut().unwrap().wait().await }, if child.is_some() => {
                child = None;
                break ended(st?, &mut exit_status);
            }
            _ = tick.tick() => {
                rec.tick()?;
                ticks += 1;
                if ticks.is_multiple_of(20) {
                    // Every 10 s, what a burst freed goes back to the system (see `memory`).
                    crate::memory::give_back();
                }
                if let Some(f) = &forks {
                    let t = clock_ns(libc::CLOCK_MONOTONIC);
                    rec.write_forks(t, &f.take())?;
                    rec.write_forks_lost(t, f.lost())?;
                }
                // Also asked directly: the wait above is woken by the runtime's I/O driver
                // (a pidfd), which a runtime busy with a large table may poll late.
                if let Some(st) = child.as_mut().map(|c| c.try_wait()).transpose()?.flatten() {
                    child = None;
                    break ended(st, &mut exit_status);
                }
            }
            _ = &mut sleep, if deadline.is_some() => break "--duration reached".to_string(),
            why = stop.recv() => break why.to_string(),
        }
    };
    // The probe detached, the last events and the exact final counters. A machine making
    // failing calls faster than they can be written leaves a backlog of their events queued:
    // everything is written for at most END_WRITES, then what the account needs still is
    // (see `past_deadline`: the kernel samples' counters and rows of what ended, the last one
    // whole, the snapshots, the events of calls that did not fail). The failed calls' events
    // left out are said; their calls are counted in the kernel's samples all the same. With
    // --every-call the events are the counts: all are written, however long it takes.
    let left = live.finish().await;
    let end_by = std::time::Instant::now() + END_WRITES;
    let last_of = |f: fn(&Update) -> bool| left.iter().rposition(|s| f(&s.update));
    let last = [
        last_of(|u| matches!(u, Update::InFlight(_))),
        last_of(|u| matches!(u, Update::Kernel(_))),
    ];
    let mut skipped: u64 = 0;
    for (i, s) in left.into_iter().enumerate() {
        let s = ns_filter.apply(s);
        let mono_ns = s.mono_ns;
        // A long list of events goes in parts, the deadline looked at before each: one list
        // of a flood's failures (tens of thousands) took seconds to write in one piece.
        let parts: Vec<Update> = match s.update {
            Update::Events(evs) if evs.len() > END_PART => evs
                .chunks(END_PART)
                .map(|c| Update::Events(c.to_vec()))
                .collect(),
            u => vec![u],
        };
        for mut update in parts {
            if !args.every_call
                && std::time::Instant::now() > end_by
                && !past_deadline(&mut update, last.contains(&Some(i)), &mut skipped)
            {
                continue;
            }
            rec.write(&Stamped { mono_ns, update })?;
        }
    }
    let reason = if skipped > 0 {
        eprintln!(
            "ipctop: the events of {skipped} failed calls still queued when the recording ended were left out (their calls are counted all the same)"
        );
        format!("{reason}; the events of {skipped} failed calls left out")
    } else {
        reason
    };
    if let Some(f) = forks {
        let t = clock_ns(libc::CLOCK_MONOTONIC);
        rec.write_forks(t, &f.take())?;
        rec.write_forks_lost(t, f.lost())?;
        if f.lost() > 0 {
            eprintln!(
                "ipctop: the kernel's fork events overflowed {} time(s): processes the command forked then may be judged as context",
                f.lost()
            );
        }
    }
    if let Some(mut c) = child {
        let _ = c.start_kill();
        let _ = c.wait().await;
    }
    let lines = rec.lines();
    let path = rec.path().to_path_buf();
    rec.finish(clock_ns(libc::CLOCK_MONOTONIC), &reason, exit_status)?;
    eprintln!(
        "ipctop: {lines} records written to {} ({reason})",
        crate::text::path(&path)
    );
    Ok(match exit_status {
        Some(code) => code.clamp(0, 255) as u8,
        None => exit::OK,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        event::{Args, Cmd, Syscall},
        fixtures::ev,
    };

    #[test]
    fn past_the_deadline_only_the_failed_calls_events_are_left_out() {
        let ctl = |id| Args::Semctl {
            semid: id,
            semnum: 0,
            cmd: Cmd {
                value: 0,
                name: Some("IPC_RMID"),
            },
            arg: 0,
        };
        let mut u = Update::Events(vec![
            ev(1, "flood", 0, 10, Some(20), ctl(7), Some(-22)),
            ev(2, "ipcrm", 0, 30, Some(40), ctl(5), Some(0)),
            ev(1, "flood", 0, 50, Some(60), ctl(8), Some(-22)),
            // A wait that failed (the set removed under it) is a wait: kept.
            ev(3, "w", 0, 100, Some(100 + WAIT_NS), ctl(9), Some(-43)),
            // Interrupted by a signal: no failure.
            ev(4, "i", 0, 100, Some(110), ctl(9), Some(-512)),
        ]);
        let mut skipped = 0;
        assert!(past_deadline(&mut u, false, &mut skipped));
        assert_eq!(skipped, 2);
        let Update::Events(evs) = &u else {
            unreachable!()
        };
        let pids: Vec<u32> = evs.iter().map(|e| e.pid).collect();
        assert_eq!(pids, [2, 3, 4]);
        // Only failures: nothing of the list is written.
        let mut u = Update::Events(vec![ev(1, "f", 0, 1, Some(2), ctl(7), Some(-22))]);
        assert!(!past_deadline(&mut u, false, &mut skipped));
        assert_eq!(skipped, 3);
        // Every kernel sample is written, with the rows of what ended; the live rows only in
        // the last one.
        let row = |pid, calls| crate::fixtures::agg(pid, Some(7), Syscall::SEMCTL, calls, 0);
        let sample = || {
            Update::Kernel(Box::new(crate::sample::KernelSample {
                aggregates: vec![row(1, 10), row(2, 20)],
                retired: vec![row(2, 20).key()],
                ..Default::default()
            }))
        };
        let pids = |u: &Update| match u {
            Update::Kernel(k) => k.aggregates.iter().map(|a| a.pid).collect::<Vec<_>>(),
            _ => unreachable!(),
        };
        let (mut k, mut last) = (sample(), sample());
        assert!(past_deadline(&mut k, false, &mut skipped));
        assert_eq!(pids(&k), [2], "the ended process's final row");
        assert!(past_deadline(&mut last, true, &mut skipped));
        assert_eq!(pids(&last), [1, 2], "the last sample whole");
        let mut f = Update::InFlight(Vec::new());
        assert!(!past_deadline(&mut f, false, &mut skipped));
        assert!(past_deadline(&mut f, true, &mut skipped));
        assert_eq!(skipped, 3);
    }
}
