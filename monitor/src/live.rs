//! The live source: the probe's events, its calls in progress, its counters and the periodic
//! /proc snapshots, each on a background task, merged into one [`crate::feed::Stamped`] stream.
//! Without the probe (no permission, a kernel that refuses it) it runs on snapshots alone
//! and says why in its [`ProbeStatus`].
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::{
    sync::{mpsc, oneshot, Semaphore},
    task::JoinHandle,
};

use crate::{
    event::clock_ns,
    feed::{KernelSample, ProbeStatus, Source, Stamped, Update},
    probe::{self, AttachMode, LiveObjects, NsIds, Probe, ProbeOptions, ReaderStats},
    snapshot,
};

/// The objects of the latest snapshot, per namespace, for the probe's pruning (shared by the
/// snapshot task, which writes it, and the kernel task).
type Objects = Arc<std::sync::Mutex<Option<LiveObjects>>>;

/// What exists, per namespace, in a snapshot: the namespaces whose objects were read
/// without a problem (a namespace read only in part would make its missing objects look
/// removed).
fn live_objects(s: &snapshot::Snapshot) -> LiveObjects {
    let mut namespaces = std::collections::HashMap::new();
    let home_whole = !s.problems.iter().any(|p| p.contains("sysvipc"));
    if let (Some(ns), true) = (s.ipc_ns, home_whole) {
        namespaces.insert(
            ns,
            NsIds {
                sem: s.sem.iter().map(|x| x.row.semid).collect(),
                shm: s.shm.iter().map(|x| x.shmid).collect(),
                msg: s.msg.iter().map(|x| x.row.msqid).collect(),
            },
        );
    }
    for o in s.others.iter().filter(|o| o.problems.is_empty()) {
        namespaces.insert(
            o.ipc_ns,
            NsIds {
                sem: o.sem.iter().map(|x| x.row.semid).collect(),
                shm: o.shm.iter().map(|x| x.shmid).collect(),
                msg: o.msg.iter().map(|x| x.row.msqid).collect(),
            },
        );
    }
    LiveObjects {
        taken_ns: s.mono_ns,
        namespaces,
    }
}

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
    /// Entries of the probe's aggregate and hold tables (`None`: its default).
    pub table_entries: Option<u32>,
    /// While the probe sees no IPC call (none counted, none sent, none in progress) since the
    /// last snapshot and that snapshot saw nobody blocked, a /proc snapshot only every this
    /// many intervals (1: every interval). What needs no IPC call to change (processes
    /// forked or ended, a segment's attachments with them) is then at most this many
    /// intervals old.
    pub idle_every: u32,
    /// The probe's events on their way to the consumer at most (`None`: no bound): else a
    /// consumer slower than the events holds them all (1 GB measured). At the bound the ring
    /// buffer's reader waits; what the kernel cannot then put there it counts (`dropped`).
    pub max_queued_events: Option<usize>,
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
            table_entries: None,
            idle_every: 1,
            max_queued_events: None,
        }
    }
}

/// A running live session. Dropping it stops its tasks (and detaches the probe).
pub struct LiveSource {
    rx: mpsc::Receiver<Stamped>,
    status: ProbeStatus,
    tasks: Vec<JoinHandle<()>>,
    /// Asks the kernel task to detach the probe and send everything that is left; it answers
    /// once the final counters are in the stream.
    finish: Option<mpsc::Sender<oneshot::Sender<()>>>,
    /// Detaches the probe when the source is dropped, at once and whatever its task is doing.
    detacher: Option<probe::Detacher>,
    /// The bound on events on their way (see [`LiveOptions::max_queued_events`]).
    backlog: Option<Backlog>,
}

/// Permits for the events between the probe's reader and the consumer: taken before a batch
/// goes into the stream (a batch over the bound takes all), given back as it is taken.
#[derive(Clone, Debug)]
struct Backlog(Arc<Semaphore>, usize);

impl Backlog {
    fn new(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Self(Arc::new(Semaphore::new(max)), max)
    }

    async fn reserve(&self, n: usize) {
        if let Ok(p) = self.0.acquire_many(n.min(self.1) as u32).await {
            p.forget();
        }
    }

    fn taken(&self, s: &Stamped) {
        if let Update::Events(v) = &s.update {
            self.0.add_permits(v.len().min(self.1));
        }
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        if let Some(d) = &self.detacher {
            d.detach();
        }
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
            home_only: false,
        };
        // Only the semaphore sets that changed are read again (see `SemCache`): a live session
        // must not load what it watches.
        let cache = Arc::new(std::sync::Mutex::new(snapshot::SemCache::default()));
        // The first snapshot now, so that errors surface before anything is drawn.
        let first = take_snapshot(snap_opts.clone(), Some(cache.clone())).await??;
        let (tx, rx) = mpsc::channel::<Stamped>(4096);
        let backlog = opts.max_queued_events.map(Backlog::new);
        let mut tasks = Vec::new();
        let mut finish = None;
        let mut detacher = None;
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
                table_entries: opts.table_entries.unwrap_or(probe::TABLE_ENTRIES),
                ..Default::default()
            }) {
                Ok(p) => {
                    let s = ProbeStatus::Attached(p.attached_to().to_string());
                    (Some(p), s)
                }
                Err(e) => (None, ProbeStatus::SnapshotOnly(format!("{e:#}"))),
            }
        };
        // The first snapshot goes first in the stream; taken again when loading the probe
        // took long (a slow verifier), so that nothing after it is stamped much later than
        // it was taken.
        let first = if clock_ns(libc::CLOCK_MONOTONIC).saturating_sub(first.mono_ns)
            > FRESH_FIRST.as_nanos() as u64
        {
            match take_snapshot(snap_opts.clone(), Some(cache.clone())).await {
                Ok(Ok(again)) => again,
                _ => first,
            }
        } else {
            first
        };
        let objects: Objects = Arc::new(std::sync::Mutex::new(Some(live_objects(&first))));
        // Bumped whenever the probe sees IPC activity (see `LiveOptions::idle_every`).
        let mut activity: Option<Arc<AtomicU64>> = None;
        tx.send(Stamped {
            mono_ns: first.mono_ns,
            update: Update::Snapshot(Box::new(first)),
        })
        .await?;
        if let Some(mut probe) = probe {
            let seen = Arc::new(AtomicU64::new(0));
            activity = Some(seen.clone());
            detacher = Some(probe.detacher());
            // Bounded: a few batches wait here, the rest in the ring buffer.
            let batches = if backlog.is_some() { 4 } else { 256 };
            let (btx, mut brx) = mpsc::channel::<probe::Batch>(batches);
            let (reader, rstats) =
                probe::spawn_reader(probe.take_events()?, btx, Duration::from_millis(50))?;
            tasks.push(reader);
            let etx = tx.clone();
            // Records passed on into the stream (for `finish`, which waits for all of them).
            let forwarded = Arc::new(AtomicU64::new(0));
            let fwd = forwarded.clone();
            let events_seen = seen.clone();
            let room = backlog.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(batch) = brx.recv().await {
                    if let Some(b) = &room {
                        b.reserve(batch.len()).await;
                    }
                    let mono_ns = clock_ns(libc::CLOCK_MONOTONIC);
                    let n = batch.len() as u64;
                    if n > 0 {
                        events_seen.fetch_add(1, Ordering::Relaxed);
                    }
                    let stamped = Stamped {
                        mono_ns,
                        update: Update::Events(batch),
                    };
                    if etx.send(stamped).await.is_err() {
                        return;
                    }
                    fwd.fetch_add(n, Ordering::Relaxed);
                }
            }));
            let (ftx, frx) = mpsc::channel(1);
            finish = Some(ftx);
            tasks.push(tokio::spawn(kernel_task(
                probe,
                tx.clone(),
                opts.clone(),
                Pipe {
                    rstats,
                    forwarded,
                    finish: frx,
                    objects: objects.clone(),
                    activity: seen,
                },
            )));
        }
        tasks.push(tokio::spawn(snapshot_task(
            snap_opts,
            cache,
            tx,
            Cadence {
                interval: opts.interval,
                idle_every: opts.idle_every.max(1),
                activity,
            },
            objects,
        )));
        Ok(LiveSource {
            rx,
            status,
            tasks,
            finish,
            detacher,
            backlog,
        })
    }
}

/// How old the first snapshot may be when the probe is loaded before it is taken again.
const FRESH_FIRST: Duration = Duration::from_secs(1);

/// What the kernel task shares with the rest of the live source.
struct Pipe {
    rstats: Arc<ReaderStats>,
    forwarded: Arc<AtomicU64>,
    finish: mpsc::Receiver<oneshot::Sender<()>>,
    /// The latest snapshot's objects.
    objects: Objects,
    /// Bumped when a sample counted calls or calls are in progress.
    activity: Arc<AtomicU64>,
}

/// How often the snapshot task looks at /proc.
struct Cadence {
    interval: Duration,
    /// See [`LiveOptions::idle_every`].
    idle_every: u32,
    /// The probe's activity counter (`None`: no probe, every interval).
    activity: Option<Arc<AtomicU64>>,
}

/// In-flight scans every `scan`; every `interval` the kernel's tables pruned (rows of gone
/// processes and removed objects deleted, their final counts in this sample) and a sample
/// of its counters and rows; and at the end, the probe detached and every event and the
/// final counters sent.
async fn kernel_task(
    mut probe: Probe,
    tx: mpsc::Sender<Stamped>,
    opts: LiveOptions,
    mut pipe: Pipe,
) {
    let mut scan = tokio::time::interval(opts.scan);
    scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sample = tokio::time::interval(opts.interval);
    sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_inflight: Vec<(u32, Option<u64>)> = Vec::new();
    let mut last_calls = None;
    let rstats = pipe.rstats.clone();
    let sample_of = |probe: &mut Probe| -> Option<KernelSample> {
        let spilled = rstats
            .spilled
            .lock()
            .map(|mut s| s.take())
            .unwrap_or_default();
        probe.add_spilled(spilled);
        probe
            .sample(!opts.every_call, rstats.undecodable.load(Ordering::Relaxed))
            .ok()
    };
    loop {
        // A kernel sample is stamped with the time before it is read: every count in it (the
        // holds above all) is of at least that moment. Stamped after, a lock taken and given
        // back while the sample was read would look held by a contender that waits again
        // since: a false self-deadlock, seen under load when reading takes long.
        let mut stamp = None;
        let update = tokio::select! {
            _ = scan.tick() => {
                let calls = probe.in_flight(opts.blocked_after).unwrap_or_default();
                if !calls.is_empty() {
                    pipe.activity.fetch_add(1, Ordering::Relaxed);
                }
                // Only when the set changed: the waits' durations grow by themselves.
                let keys: Vec<(u32, Option<u64>)> = calls.iter().map(|e| (e.tid, e.start_ns)).collect();
                if keys == last_inflight {
                    continue;
                }
                last_inflight = keys;
                Update::InFlight(calls)
            }
            _ = sample.tick() => {
                let live = pipe.objects.lock().ok().and_then(|o| o.clone());
                let _ = probe.prune_sampled(live.as_ref());
                stamp = Some(clock_ns(libc::CLOCK_MONOTONIC));
                // A sample that could not be read is skipped (what it would have handed
                // over stays for the next one).
                let Some(k) = sample_of(&mut probe) else { continue };
                let calls: u64 = k.stats.calls.iter().sum();
                if last_calls.replace(calls) != Some(calls) {
                    pipe.activity.fetch_add(1, Ordering::Relaxed);
                }
                Update::Kernel(Box::new(k))
            }
            done = pipe.finish.recv() => {
                // Detached, the counts are final: wait (briefly) until every event the
                // kernel sent has gone into the stream, then send the final counters.
                probe.detach();
                let sent = probe.stats().map(|s| s.sent).unwrap_or(0);
                let end = tokio::time::Instant::now() + Duration::from_secs(2);
                while pipe.forwarded.load(Ordering::Relaxed)
                    + rstats.undecodable.load(Ordering::Relaxed)
                    + rstats.rows.load(Ordering::Relaxed)
                    < sent
                    && tokio::time::Instant::now() < end
                {
                    rstats.kick.notify_one();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let before = clock_ns(libc::CLOCK_MONOTONIC);
                if let Some(k) = sample_of(&mut probe) {
                    let s = Stamped {
                        mono_ns: before,
                        update: Update::Kernel(Box::new(k)),
                    };
                    let _ = tx.send(s).await;
                }
                if let Some(done) = done {
                    let _ = done.send(());
                }
                return;
            }
        };
        let s = Stamped {
            mono_ns: stamp.unwrap_or_else(|| clock_ns(libc::CLOCK_MONOTONIC)),
            update,
        };
        if tx.send(s).await.is_err() {
            return;
        }
    }
}

async fn snapshot_task(
    opts: snapshot::Options,
    cache: Arc<std::sync::Mutex<snapshot::SemCache>>,
    tx: mpsc::Sender<Stamped>,
    cadence: Cadence,
    objects: Objects,
) {
    let mut tick = tokio::time::interval(cadence.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await; // the first one was taken at start
    let mut posix_at: Option<std::time::Instant> = None;
    let seen = || cadence.activity.as_ref().map(|a| a.load(Ordering::Relaxed));
    // The activity when the last snapshot was taken, whether it saw anyone blocked, and the
    // intervals skipped since.
    let (mut seen_then, mut blocked, mut skipped) = (None, true, 0);
    loop {
        // POSIX IPC from /proc, after a System V snapshot (the first one's too), at most every
        // `POSIX_EVERY`: a look costs about as much as the snapshot (199 ms with 1,089
        // processes here), which every second would be a fifth of a core.
        if posix_at.is_none_or(|t| t.elapsed() >= POSIX_EVERY) {
            posix_at = Some(std::time::Instant::now());
            if let Ok(p) = take_posix().await {
                let s = Stamped {
                    mono_ns: p.mono_ns,
                    update: Update::Posix(Box::new(p)),
                };
                if tx.send(s).await.is_err() {
                    return;
                }
            }
        }
        tick.tick().await;
        let now = seen();
        if now.is_some() && now == seen_then && !blocked && skipped + 1 < cadence.idle_every {
            skipped += 1;
            continue;
        }
        (seen_then, skipped) = (now, 0);
        let o = opts.clone();
        let Ok(Ok(snap)) = take_snapshot(o, Some(cache.clone())).await else {
            // A failed look (the namespace's process went away, …) is skipped; the next
            // tick tries again.
            continue;
        };
        if let Ok(mut o) = objects.lock() {
            *o = Some(live_objects(&snap));
        }
        blocked = snap
            .processes
            .iter()
            .any(|p| p.waits.as_ref().is_some_and(|w| !w.is_empty()));
        let s = Stamped {
            mono_ns: snap.mono_ns,
            update: Update::Snapshot(Box::new(snap)),
        };
        if tx.send(s).await.is_err() {
            return;
        }
    }
}

/// Takes a snapshot on a thread of its own: a plain thread, not tokio's blocking pool, so that
/// ending the runtime never waits for a snapshot in progress (quitting stays instant).
async fn take_snapshot(
    o: snapshot::Options,
    cache: Option<Arc<std::sync::Mutex<snapshot::SemCache>>>,
) -> Result<anyhow::Result<snapshot::Snapshot>, oneshot::error::RecvError> {
    let (tx, rx) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("ipctop-snapshot".into())
        .spawn(move || {
            let _ = tx.send(snapshot::take_with(&o, cache.as_deref()));
        });
    if let Err(e) = spawned {
        return Ok(Err(e.into()));
    }
    rx.await
}

/// The POSIX look's least interval (see `snapshot_task`).
const POSIX_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A look at POSIX IPC on a thread of its own (as [`take_snapshot`]).
async fn take_posix() -> Result<crate::posix::PosixSnapshot, oneshot::error::RecvError> {
    let (tx, rx) = oneshot::channel();
    // A thread that cannot be made drops `tx`: the answer is then an error.
    let _ = std::thread::Builder::new()
        .name("ipctop-posix".into())
        .spawn(move || {
            let _ = tx.send(crate::posix::take());
        });
    rx.await
}

impl Source for LiveSource {
    fn drain(&mut self) -> Vec<Stamped> {
        let mut v = Vec::new();
        while let Ok(s) = self.rx.try_recv() {
            self.took(&s);
            v.push(s);
        }
        v
    }

    fn probe_status(&self) -> ProbeStatus {
        self.status.clone()
    }
}

impl LiveSource {
    /// Ends the session's probe side: detaches the probe (all tracepoints at once) and returns
    /// every update still on its way, the last events and the final, exact counters among
    /// them. Without a probe: what is queued. The snapshots go on until the source is dropped.
    pub async fn finish(&mut self) -> Vec<Stamped> {
        let mut out = Vec::new();
        if let Some(finish) = self.finish.take() {
            let (done_tx, mut done_rx) = oneshot::channel();
            if finish.send(done_tx).await.is_ok() {
                let end = tokio::time::Instant::now() + Duration::from_secs(3);
                loop {
                    tokio::select! {
                        s = self.rx.recv() => match s {
                            Some(s) => {
                                self.took(&s);
                                out.push(s);
                            }
                            None => break,
                        },
                        _ = &mut done_rx => break,
                        _ = tokio::time::sleep_until(end) => break,
                    }
                }
            }
        }
        out.extend(self.drain());
        out
    }

    /// Waits for the next update (for headless consumers such as `record`).
    pub async fn next(&mut self) -> Option<Stamped> {
        let s = self.rx.recv().await;
        if let Some(s) = &s {
            self.took(s);
        }
        s
    }

    /// The consumer has `s`: its events leave the backlog.
    fn took(&mut self, s: &Stamped) {
        if let Some(b) = &self.backlog {
            b.taken(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{ev, semop};

    #[tokio::test]
    async fn the_backlog_waits_for_the_consumer_and_a_batch_over_it_takes_it_all() {
        let (b, t) = (Backlog::new(10), |n| Stamped {
            mono_ns: 0,
            update: Update::Events(vec![ev(1, "a", 0, 1, Some(2), semop(0, 0, 1), Some(0)); n]),
        });
        b.reserve(6).await;
        let wait = |n| tokio::time::timeout(Duration::from_millis(50), b.reserve(n));
        assert!(wait(5).await.is_err(), "6 of 10 on their way");
        b.taken(&t(6));
        assert!(wait(25).await.is_ok(), "over the bound: takes it all");
        assert!(wait(1).await.is_err());
        b.taken(&t(25));
        assert_eq!(b.0.available_permits(), 10, "every permit back");
    }
}
