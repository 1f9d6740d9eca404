//! The live source: the probe's events, its calls in progress, its counters and the periodic
//! /proc snapshots, each on a background task, merged into one [`feed::Stamped`] stream.
//! Without the probe (no permission, a kernel that refuses it) it runs on snapshots alone
//! and says why in its [`ProbeStatus`].
use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use tokio::{sync::mpsc, task::JoinHandle};

use crate::{
    event::clock_ns,
    feed::{KernelSample, ProbeStatus, Source, Stamped, Update},
    probe::{self, AttachMode, Probe, ProbeOptions, ReaderStats},
    snapshot,
};

/// How a live session runs.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Snapshot (and kernel counter) period.
    pub interval: Duration,
    /// Calls in progress are looked at this often...
    pub scan: Duration,
    /// ...and reported once they have run this long.
    pub blocked_after: Duration,
    pub ipc_ns_pid: Option<u32>,
    pub attach: AttachMode,
    /// Every finished call to userspace (recording every call); else in-kernel aggregation.
    pub every_call: bool,
    /// Only this process (kernel filter).
    pub target_pid: Option<u32>,
    /// Only tasks with this comm (kernel filter).
    pub comm: Option<String>,
    /// Ring buffer bytes.
    pub ring_bytes: u32,
    /// Don't even try the probe.
    pub no_probe: bool,
    pub verbose: bool,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            scan: Duration::from_millis(100),
            blocked_after: Duration::from_millis(100),
            ipc_ns_pid: None,
            attach: AttachMode::Auto,
            every_call: false,
            target_pid: None,
            comm: None,
            ring_bytes: 4 << 20,
            no_probe: false,
            verbose: false,
        }
    }
}

/// A running live session. Dropping it stops its tasks (and detaches the probe).
pub struct LiveSource {
    rx: mpsc::Receiver<Stamped>,
    status: ProbeStatus,
    tasks: Vec<JoinHandle<()>>,
    /// Asks the kernel task for a counter sample and an in-flight scan right now.
    sample_now: Arc<tokio::sync::Notify>,
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl LiveSource {
    /// Starts the session on the current tokio runtime. Fails only when not even a snapshot
    /// can be taken (e.g. `--ipc-ns` of a process we may not enter).
    pub async fn start(opts: LiveOptions) -> anyhow::Result<LiveSource> {
        let snap_opts = snapshot::Options {
            ipc_ns_pid: opts.ipc_ns_pid,
        };
        // The first snapshot now, so that errors surface before anything is drawn.
        let first = {
            let o = snap_opts.clone();
            tokio::task::spawn_blocking(move || snapshot::take(&o)).await??
        };
        let (tx, rx) = mpsc::channel::<Stamped>(4096);
        tx.send(Stamped {
            mono_ns: first.mono_ns,
            update: Update::Snapshot(Box::new(first)),
        })
        .await?;
        let mut tasks = Vec::new();
        let sample_now = Arc::new(tokio::sync::Notify::new());
        let (probe, status) = if opts.no_probe {
            (
                None,
                ProbeStatus::SnapshotOnly("the probe was turned off (--no-probe)".into()),
            )
        } else {
            match Probe::load(&ProbeOptions {
                attach: opts.attach,
                target_pid: opts.target_pid,
                comm: opts.comm.clone(),
                ring_bytes: opts.ring_bytes,
                verbose: opts.verbose,
                send_all: opts.every_call,
                ..Default::default()
            }) {
                Ok(p) => {
                    let s = ProbeStatus::Attached(p.attached_to().to_string());
                    (Some(p), s)
                }
                Err(e) => (None, ProbeStatus::SnapshotOnly(format!("{e:#}"))),
            }
        };
        if let Some(mut probe) = probe {
            let (btx, mut brx) = mpsc::channel::<probe::Batch>(256);
            let (reader, rstats) =
                probe::spawn_reader(probe.take_events()?, btx, Duration::from_millis(50))?;
            tasks.push(reader);
            let etx = tx.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(batch) = brx.recv().await {
                    let mono_ns = clock_ns(libc::CLOCK_MONOTONIC);
                    let stamped = Stamped {
                        mono_ns,
                        update: Update::Events(batch),
                    };
                    if etx.send(stamped).await.is_err() {
                        return;
                    }
                }
            }));
            tasks.push(tokio::spawn(kernel_task(
                probe,
                tx.clone(),
                opts.clone(),
                rstats,
                sample_now.clone(),
            )));
        }
        tasks.push(tokio::spawn(snapshot_task(snap_opts, tx, opts.interval)));
        Ok(LiveSource {
            rx,
            status,
            tasks,
            sample_now,
        })
    }
}

/// In-flight scans every `scan`; counters and aggregates every `interval`; pruning.
async fn kernel_task(
    mut probe: Probe,
    tx: mpsc::Sender<Stamped>,
    opts: LiveOptions,
    rstats: Arc<ReaderStats>,
    sample_now: Arc<tokio::sync::Notify>,
) {
    let mut scan = tokio::time::interval(opts.scan);
    scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sample = tokio::time::interval(opts.interval);
    sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut prune = tokio::time::interval(Duration::from_secs(5));
    let mut last_inflight: Vec<(u32, Option<u64>)> = Vec::new();
    let sample_of = |probe: &Probe| KernelSample {
        stats: probe.stats().unwrap_or_default(),
        aggregates: if opts.every_call {
            Vec::new()
        } else {
            probe.aggregates().unwrap_or_default()
        },
        holds: probe.holds().unwrap_or_default(),
        undecodable: rstats.undecodable.load(Ordering::Relaxed),
    };
    loop {
        let update = tokio::select! {
            _ = sample_now.notified() => Update::Kernel(Box::new(sample_of(&probe))),
            _ = scan.tick() => {
                let calls = probe.in_flight(opts.blocked_after).unwrap_or_default();
                // Only when the set changed: the waits' durations grow by themselves.
                let keys: Vec<(u32, Option<u64>)> = calls.iter().map(|e| (e.tid, e.start_ns)).collect();
                if keys == last_inflight {
                    continue;
                }
                last_inflight = keys;
                Update::InFlight(calls)
            }
            _ = sample.tick() => Update::Kernel(Box::new(sample_of(&probe))),
            _ = prune.tick() => {
                let _ = probe.prune();
                continue;
            }
        };
        let s = Stamped {
            mono_ns: clock_ns(libc::CLOCK_MONOTONIC),
            update,
        };
        if tx.send(s).await.is_err() {
            return;
        }
    }
}

async fn snapshot_task(opts: snapshot::Options, tx: mpsc::Sender<Stamped>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await; // the first one was taken at start
    loop {
        tick.tick().await;
        let o = opts.clone();
        let Ok(Ok(snap)) = tokio::task::spawn_blocking(move || snapshot::take(&o)).await else {
            // A failed look (the namespace's process went away, …) is skipped; the next
            // tick tries again.
            continue;
        };
        let s = Stamped {
            mono_ns: snap.mono_ns,
            update: Update::Snapshot(Box::new(snap)),
        };
        if tx.send(s).await.is_err() {
            return;
        }
    }
}

impl Source for LiveSource {
    fn drain(&mut self) -> Vec<Stamped> {
        let mut v = Vec::new();
        while let Ok(s) = self.rx.try_recv() {
            v.push(s);
        }
        v
    }

    fn probe_status(&self) -> ProbeStatus {
        self.status.clone()
    }
}

impl LiveSource {
    /// Asks for the probe's counters right away (at the end of a recording, so that its last
    /// sample is exact); they arrive as a `Kernel` update shortly.
    pub fn sample_now(&self) {
        self.sample_now.notify_one();
    }

    /// Waits for the next update (for headless consumers such as `record`).
    pub async fn next(&mut self) -> Option<Stamped> {
        self.rx.recv().await
    }
}
