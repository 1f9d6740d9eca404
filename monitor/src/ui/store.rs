//! What the dashboard knows: the model (fed through `Model::apply`, the one door), the
//! findings, and the event log (a sample of the calls: those the probe sends up). Every count,
//! failure, wait and rate is read from the model's account; nothing is counted here. Kept
//! apart from the view state (selection, scroll, filters: `app.rs`).
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use crate::{
    analysis::{self, Finding},
    event::Event,
    feed::{Position, ProbeStatus, Stamped, Update},
    model::{Model, NsId, ObjId, ObjKind, Scope, WaitOn},
};

/// Lines kept in the event log.
pub const LOG_KEEP: usize = 10_000;

/// What a process uses, gathered once per update for the process views.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcUse {
    pub sets: BTreeSet<ObjId>,
    pub queues: BTreeSet<ObjId>,
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
    /// The findings on POSIX IPC (from the model's last look at it), computed with those.
    pub posix_findings: Vec<analysis::posix::PosixFinding>,
    pub info: SessionInfo,
    pub probe: ProbeStatus,
    pub position: Option<Position>,
    /// Finished calls and calls seen blocking (with when they were logged), oldest first.
    pub log: VecDeque<(Event, u64)>,
    /// Lines ever added to the log (the log's end, for following it).
    pub logged: u64,
    /// Of those, finished calls (the rest: calls seen blocking).
    pub logged_finished: u64,
    pub uses: BTreeMap<u32, ProcUse>,
    /// The first time stamp of the session (monotonic ns).
    pub first_mono_ns: Option<u64>,
    /// Bumped on every change.
    pub generation: u64,
    /// Calls in progress already logged (tid, start).
    inflight: HashSet<(u32, Option<u64>)>,
    /// User and group names.
    pub names: super::names::Names,
    /// Histories the model keeps no series of (see `trends`), one point per sample.
    pub trends: super::trends::Trends,
    /// A slot per IPC namespace the model knows, kept while it does (a gone one's slot
    /// serves the next new one): a namespace's slot is its part of the rows' keys (see
    /// [`Store::obj_key`]), the same for as long as it lives.
    ns_slots: Vec<Option<NsId>>,
    ns_slot: BTreeMap<NsId, usize>,
    /// Each known namespace's name in the views (see [`ns_labels`]), and how many are in
    /// scope.
    pub ns_names: BTreeMap<NsId, String>,
    pub ns_shown: usize,
    /// The file a live session is also recorded to (`--record`), for the header.
    pub recording: Option<String>,
}

impl Store {
    pub fn new(info: SessionInfo, probe: ProbeStatus, cfg: analysis::Config) -> Self {
        Self {
            model: Model::new(),
            cfg,
            findings: Vec::new(),
            posix_findings: Vec::new(),
            info,
            probe,
            position: None,
            log: VecDeque::new(),
            logged: 0,
            logged_finished: 0,
            uses: BTreeMap::new(),
            first_mono_ns: None,
            generation: 0,
            inflight: HashSet::new(),
            names: Default::default(),
            trends: Default::default(),
            ns_slots: Vec::new(),
            ns_slot: BTreeMap::new(),
            ns_names: BTreeMap::new(),
            ns_shown: 0,
            recording: None,
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
        } else if self.log.len() == self.log.capacity() {
            // Doubling, but never past the bound (16,384 lines' room for 10,000: 3 MB).
            let n = self.log.len();
            self.log.reserve_exact((n * 2).clamp(64, LOG_KEEP) - n);
        }
        self.log.push_back((ev, at));
        self.logged += 1;
    }

    /// Logs a finished call (the event log is a sample: the calls the probe sent up).
    pub fn note_event(&mut self, ev: &Event, at: u64) {
        if ev.in_progress() {
            return;
        }
        self.log_push(*ev, at);
        self.logged_finished += 1;
        self.inflight.remove(&(ev.tid, ev.start_ns));
    }

    /// Applies updates from the source: into the model (through `Model::apply`), and into what
    /// the dashboard keeps besides.
    pub fn ingest(&mut self, batch: &[Stamped]) {
        if batch.is_empty() {
            return;
        }
        // The trends are sampled at every sample of the account (the kernel's, else a
        // snapshot's while the probe does not sample), once what came at its time is applied:
        // live and replay, however the updates were batched, chart the same samples.
        let mut sample = false;
        for (i, s) in batch.iter().enumerate() {
            self.first_mono_ns.get_or_insert(s.mono_ns);
            sample |= match &s.update {
                Update::Kernel(_) => true,
                Update::Snapshot(_) => self.model.account().kernel_at().is_none(),
                Update::Reset => {
                    self.trends = Default::default();
                    false
                }
                _ => false,
            };
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
                Update::Reset => {
                    self.log.clear();
                    self.logged_finished = 0;
                    self.inflight.clear();
                }
                _ => {}
            }
            self.model.apply(s);
            let time_done = batch.get(i + 1).is_none_or(|n| n.mono_ns != s.mono_ns);
            if sample && time_done {
                sample = false;
                // Of every namespace, whatever the scope: `n` then shows each one's history.
                let scope = self.model.scope().clone();
                self.model.set_scope(Scope::All);
                self.trends.sample(&self.model, s.mono_ns);
                self.model.set_scope(scope);
            }
        }
        self.refresh();
    }

    /// Moves the clock (live: the waits' durations grow without new input).
    pub fn tick(&mut self, now_mono_ns: u64) {
        if now_mono_ns > self.model.now_mono_ns() {
            // An empty batch of events: the clock moves on, nothing else changes.
            self.model.apply(&Stamped {
                mono_ns: now_mono_ns,
                update: Update::Events(Vec::new()),
            });
            self.findings = analysis::analyze(&self.model, &self.cfg);
            self.generation += 1;
        }
    }

    /// Recomputes the findings and the per-process index.
    pub fn refresh(&mut self) {
        self.findings = analysis::analyze(&self.model, &self.cfg);
        self.posix_findings = analysis::posix::findings(&self.model);
        let m = &self.model;
        let mut uses: BTreeMap<u32, ProcUse> = BTreeMap::new();
        for s in m.sem_sets() {
            for x in s.semaphores.iter().flatten() {
                if x.last_pid != 0 {
                    uses.entry(x.last_pid).or_default().sets.insert(s.id);
                }
                if let Some(h) = m.holders(s.id, x.semnum) {
                    for p in h.pids {
                        uses.entry(p).or_default().sets.insert(s.id);
                    }
                }
            }
            if let Some(p) = s.creator_pid {
                uses.entry(p).or_default().sets.insert(s.id);
            }
        }
        for q in m.queues() {
            for p in [q.last_send_pid, q.last_recv_pid]
                .into_iter()
                .chain(q.creator_pid)
            {
                if p != 0 {
                    uses.entry(p).or_default().queues.insert(q.id);
                }
            }
        }
        for w in m.waits() {
            let u = uses.entry(w.pid).or_default();
            let id = ObjId {
                ns: w.ns,
                id: w.on.id(),
            };
            match w.on {
                WaitOn::Sem { .. } => u.sets.insert(id),
                _ => u.queues.insert(id),
            };
        }
        let acc = m.account();
        for ((kind, id), _) in acc.objects().filter(|((_, id), _)| m.in_scope(id.ns)) {
            for (pid, _) in acc.users_of(*kind, *id) {
                let u = uses.entry(pid).or_default();
                match kind {
                    ObjKind::Sem => u.sets.insert(*id),
                    ObjKind::Msg => u.queues.insert(*id),
                    ObjKind::Shm => false,
                };
            }
        }
        self.uses = uses;
        let known = m.namespaces();
        self.slot_namespaces(&known);
        self.ns_shown = known.iter().filter(|n| n.in_scope).count();
        self.ns_names = ns_labels(&known);
        self.generation += 1;
    }

    /// Shows only the namespaces of `scope` (the model's one filter: rows, header counts,
    /// Problems and findings all follow it).
    pub fn set_scope(&mut self, scope: Scope) {
        self.model.set_scope(scope);
        self.refresh();
    }

    /// Frees the slots of namespaces gone and gives the new ones a slot.
    fn slot_namespaces(&mut self, known: &[crate::model::NsInfo]) {
        let now: BTreeSet<NsId> = known.iter().map(|n| n.ns).collect();
        for slot in &mut self.ns_slots {
            if slot.is_some_and(|ns| !now.contains(&ns)) {
                self.ns_slot.remove(&slot.take().unwrap_or_default());
            }
        }
        for ns in now {
            if self.ns_slot.contains_key(&ns) {
                continue;
            }
            let i = match self.ns_slots.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    self.ns_slots.push(None);
                    self.ns_slots.len() - 1
                }
            };
            self.ns_slots[i] = Some(ns);
            self.ns_slot.insert(ns, i);
        }
    }

    /// An object's part of a row key: its namespace's slot above its id (12 bits of slot,
    /// so that a semaphore row can add 20 bits below: 4096 namespaces at once, past which
    /// rows of two could share a key).
    pub fn obj_key(&self, id: ObjId) -> u64 {
        let ns = self.ns_slot.get(&id.ns).copied();
        let ns = ns.unwrap_or(self.ns_slots.len()) as u64 & 0xfff;
        ns << 32 | u64::from(id.id as u32)
    }

    /// The object of a row key made by [`Store::obj_key`].
    pub fn obj_of_key(&self, k: u64) -> Option<ObjId> {
        let ns = (*self.ns_slots.get((k >> 32) as usize)?)?;
        Some(ObjId {
            ns,
            id: k as u32 as i32,
        })
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

    /// Calls and waits per second over the last sample: the account's totals (the kernel's
    /// counters when it samples) between its last two samples, one window for both; `None`
    /// before there are two samples.
    pub fn rates(&self) -> (Option<f64>, Option<f64>) {
        let total = self.trends.total();
        let last =
            |f: fn(&super::trends::Point) -> f32| total.rates(|p| f64::from(f(p))).last().copied();
        (last(|p| p.calls_s), last(|p| p.waits_s))
    }

    /// Finished calls the account counted that the event log never got (the probe sends only
    /// the notable ones when it aggregates): what the Events view leaves out.
    pub fn calls_not_logged(&self) -> u64 {
        self.model
            .account()
            .total()
            .calls
            .saturating_sub(self.logged_finished)
    }

    pub fn live(&self) -> bool {
        self.position.is_none() && !matches!(self.probe, ProbeStatus::Replay)
    }
}

/// Each namespace's name: its container label ("host", "docker:3f4e5a6b7c8d"), with the
/// inode when another namespace has the same label; the inode alone when no label is known.
pub fn ns_labels(known: &[crate::model::NsInfo]) -> BTreeMap<NsId, String> {
    known
        .iter()
        .map(|n| {
            let name = match n.container.as_deref() {
                None => n.ns.to_string(),
                Some(l) => {
                    let l = crate::text::escape(l);
                    let shared = known
                        .iter()
                        .any(|o| o.ns != n.ns && o.container.as_deref() == n.container.as_deref());
                    if shared {
                        format!("{l} {}", n.ns)
                    } else {
                        l.into_owned()
                    }
                }
            };
            (n.ns, name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{ev, semop};

    #[test]
    fn the_event_log_keeps_its_bound_and_no_more_room_than_that() {
        let mut s = Store::new(
            SessionInfo::default(),
            ProbeStatus::Replay,
            Default::default(),
        );
        for i in 0..25_000u64 {
            let e = ev(1, "a", 0, i, Some(i + 1), semop(0, 0, 1), Some(0));
            s.note_event(&e, i);
            assert!(
                s.log.capacity() <= LOG_KEEP.max(64),
                "{i}: {}",
                s.log.capacity()
            );
        }
        assert_eq!((s.log.len(), s.logged), (LOG_KEEP, 25_000));
        assert_eq!(
            s.log.front().map(|(_, at)| *at),
            Some(15_000),
            "the newest kept"
        );
    }
}
