//! What the dashboard knows: the model (fed through [`feed::apply`], the one door), the
//! findings, and what only the stream tells (the event log, failed calls by errno, wait time
//! per process). Kept apart from the view state (selection, scroll, filters: `app.rs`).
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use crate::{
    analysis::{self, Finding},
    event::{Event, Syscall},
    feed::{self, Position, ProbeStatus, Stamped, Update},
    model::{can_block, Model, WaitOn},
};

/// Lines kept in the event log.
pub const LOG_KEEP: usize = 10_000;

/// Failed calls of one errno and syscall.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrCount {
    pub count: u64,
    pub last_pid: u32,
    pub last_comm: String,
    pub last_mono_ns: u64,
}

/// What a process uses, gathered once per update for the process views.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcUse {
    pub sets: BTreeSet<i32>,
    pub queues: BTreeSet<i32>,
    /// Time spent blocked in finished calls (the probe's in-kernel totals when it
    /// aggregates, else the events seen), ns.
    pub waited_ns: u64,
    /// IPC calls counted (kernel aggregates, else events).
    pub calls: u64,
}

/// Where the session runs, for the header.
#[derive(Clone, Debug, Default)]
pub struct SessionInfo {
    pub host: String,
    pub kernel: String,
}

impl SessionInfo {
    /// This machine.
    pub fn here() -> Self {
        let uts = nix::sys::utsname::uname().ok();
        Self {
            host: uts
                .as_ref()
                .map(|u| u.nodename().to_string_lossy().into_owned())
                .unwrap_or_default(),
            kernel: uts
                .as_ref()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    pub model: Model,
    pub cfg: analysis::Config,
    pub findings: Vec<Finding>,
    pub info: SessionInfo,
    pub probe: ProbeStatus,
    pub position: Option<Position>,
    /// Finished calls and calls seen blocking (with when they were logged), oldest first.
    pub log: VecDeque<(Event, u64)>,
    /// Lines ever added to the log (the log's end, for following it).
    pub logged: u64,
    /// (errno, syscall) → failed calls.
    pub errnos: BTreeMap<(i32, Syscall), ErrCount>,
    pub uses: BTreeMap<u32, ProcUse>,
    /// The first time stamp of the session (monotonic ns).
    pub first_mono_ns: Option<u64>,
    /// Bumped on every change.
    pub generation: u64,
    /// Calls in progress already logged (tid, start).
    inflight: HashSet<(u32, Option<u64>)>,
    /// Per-pid wait and call totals: from the kernel's aggregates (exact, replaced on each
    /// sample) and from events (used while no aggregates were seen).
    kernel_pid: Option<BTreeMap<u32, (u64, u64)>>,
    event_pid: BTreeMap<u32, (u64, u64)>,
}

impl Store {
    pub fn new(info: SessionInfo, probe: ProbeStatus, cfg: analysis::Config) -> Self {
        Self {
            model: Model::new(),
            cfg,
            findings: Vec::new(),
            info,
            probe,
            position: None,
            log: VecDeque::new(),
            logged: 0,
            errnos: BTreeMap::new(),
            uses: BTreeMap::new(),
            first_mono_ns: None,
            generation: 0,
            inflight: HashSet::new(),
            kernel_pid: None,
            event_pid: BTreeMap::new(),
        }
    }

    /// A store over a model built elsewhere (tests, benchmarks).
    pub fn with_model(model: Model, info: SessionInfo, probe: ProbeStatus) -> Self {
        let mut s = Self::new(info, probe, analysis::Config::default());
        s.first_mono_ns = Some(model.now_mono_ns());
        s.model = model;
        s.refresh();
        s
    }

    fn log_push(&mut self, ev: Event, at: u64) {
        if self.log.len() >= LOG_KEEP {
            self.log.pop_front();
        }
        self.log.push_back((ev, at));
        self.logged += 1;
    }

    /// Notes what the model does not keep from one event (log, errnos, per-pid totals).
    pub fn note_event(&mut self, ev: &Event, at: u64) {
        if ev.in_progress() {
            return;
        }
        self.log_push(*ev, at);
        let e = self.event_pid.entry(ev.pid).or_default();
        e.1 += 1;
        if can_block(ev.syscall) {
            e.0 += ev.duration_ns().unwrap_or(0);
        }
        if let Some(errno) = ev.errno() {
            let c = self.errnos.entry((errno, ev.syscall)).or_default();
            c.count += 1;
            c.last_pid = ev.pid;
            c.last_comm = ev.comm.to_string();
            c.last_mono_ns = ev.ts_ns();
        }
        self.inflight.remove(&(ev.tid, ev.start_ns));
    }

    /// Applies updates from the source: into the model (through `feed::apply`), and into what
    /// the dashboard keeps besides.
    pub fn ingest(&mut self, batch: &[Stamped]) {
        if batch.is_empty() {
            return;
        }
        for s in batch {
            self.first_mono_ns.get_or_insert(s.mono_ns);
            match &s.update {
                Update::Events(evs) => {
                    for ev in evs {
                        self.note_event(ev, s.mono_ns);
                    }
                }
                Update::InFlight(evs) => {
                    let now: HashSet<(u32, Option<u64>)> =
                        evs.iter().map(|e| (e.tid, e.start_ns)).collect();
                    for ev in evs {
                        if !self.inflight.contains(&(ev.tid, ev.start_ns)) {
                            self.log_push(*ev, s.mono_ns);
                        }
                    }
                    self.inflight = now;
                }
                Update::Kernel(k) if !k.aggregates.is_empty() => {
                    let mut m: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
                    for a in &k.aggregates {
                        let e = m.entry(a.pid).or_default();
                        e.1 += a.calls;
                        if can_block(a.syscall) {
                            e.0 += a.total_ns;
                        }
                    }
                    self.kernel_pid = Some(m);
                }
                Update::Reset => {
                    self.log.clear();
                    self.errnos.clear();
                    self.inflight.clear();
                    self.kernel_pid = None;
                    self.event_pid.clear();
                }
                _ => {}
            }
            feed::apply(&mut self.model, s);
        }
        self.refresh();
    }

    /// Moves the clock (live: the waits' durations grow without new input).
    pub fn tick(&mut self, now_mono_ns: u64) {
        if now_mono_ns > self.model.now_mono_ns() {
            self.model.set_now(now_mono_ns);
            self.findings = analysis::analyze(&self.model, &self.cfg);
            self.generation += 1;
        }
    }

    /// Recomputes the findings and the per-process index.
    pub fn refresh(&mut self) {
        self.findings = analysis::analyze(&self.model, &self.cfg);
        let m = &self.model;
        let mut uses: BTreeMap<u32, ProcUse> = BTreeMap::new();
        for s in m.sem_sets() {
            for x in s.semaphores.iter().flatten() {
                if x.last_pid != 0 {
                    uses.entry(x.last_pid).or_default().sets.insert(s.id.id);
                }
                if let Some(h) = m.holders(s.id, x.semnum) {
                    for p in h.pids {
                        uses.entry(p).or_default().sets.insert(s.id.id);
                    }
                }
            }
            if let Some(p) = s.creator_pid {
                uses.entry(p).or_default().sets.insert(s.id.id);
            }
        }
        for q in m.queues() {
            for p in [q.last_send_pid, q.last_recv_pid]
                .into_iter()
                .chain(q.creator_pid)
            {
                if p != 0 {
                    uses.entry(p).or_default().queues.insert(q.id.id);
                }
            }
        }
        for w in m.waits() {
            let u = uses.entry(w.pid).or_default();
            match w.on {
                WaitOn::Sem { semid, .. } => u.sets.insert(semid),
                _ => u.queues.insert(w.on.id()),
            };
        }
        for (&(kind, id), o) in &m.kernel().objects {
            for &pid in o.by_pid.keys() {
                let u = uses.entry(pid).or_default();
                match kind {
                    's' => {
                        u.sets.insert(id);
                    }
                    'q' => {
                        u.queues.insert(id);
                    }
                    _ => {}
                }
            }
        }
        let totals = self.kernel_pid.as_ref().unwrap_or(&self.event_pid);
        for (&pid, &(waited, calls)) in totals {
            let u = uses.entry(pid).or_default();
            u.waited_ns = waited;
            u.calls = calls;
        }
        self.uses = uses;
        self.generation += 1;
    }

    /// Seconds since the session started (replay: the position in the recording).
    pub fn uptime_s(&self) -> f64 {
        if let Some(p) = &self.position {
            return p.at_s;
        }
        self.first_mono_ns.map_or(0.0, |t| {
            self.model.now_mono_ns().saturating_sub(t) as f64 / 1e9
        })
    }

    /// Calls per second: the kernel's exact rate when the probe samples, else the events'.
    pub fn calls_per_s(&self) -> f64 {
        let k = self.model.kernel();
        if k.sample_at.is_some() {
            k.calls_per_s
        } else {
            self.model.calls.rate(self.model.now_mono_ns(), 5)
        }
    }

    pub fn live(&self) -> bool {
        self.position.is_none() && !matches!(self.probe, ProbeStatus::Replay)
    }
}
