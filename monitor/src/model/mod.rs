//! The state model: every IPC object (keyed by IPC namespace and id), every process, and
//! their relations (attachments, waits, holders), and the one account of activity (calls,
//! failures, waits, rates: [`Account`]). Updates enter through one door, [`Model::apply`]
//! (snapshots, the probe's events, calls in progress and kernel samples); views, commands, the
//! report and the analysis read it through its accessors and never touch /proc.
//!
//! ```no_run
//! use ipctop::{feed::{Stamped, Update}, model::Model, snapshot};
//! let mut m = Model::new();
//! let snap = snapshot::take(&Default::default())?;
//! m.apply(&Stamped { mono_ns: snap.mono_ns, update: Update::Snapshot(Box::new(snap)) });
//! for seg in m.segments() {
//!     println!("{} attached by {:?}", seg.id.id, seg.attached_pids());
//! }
//! # anyhow::Ok(())
//! ```
//!
//! Times: `*_mono_ns` are CLOCK_MONOTONIC ns (as the probe stamps events); the kernel's object
//! times (`ctime`, `otime`, …) are unix seconds as /proc shows them, 0 meaning never.
//!
//! Files: `types.rs` (objects, processes, waits), `from_snapshot.rs`, `from_events.rs`,
//! `from_kernel.rs`, `account.rs` (the counts, and `account/lifecycle.rs`: what ends),
//! `waits.rs` (waits, waiters), `holds.rs` (holders, posters, who can release a waiter),
//! `history.rs`.
//!
//! Identities: an object is its kind, namespace and id from its birth to its end (a new
//! object of the same id starts afresh), a process its pid and start (a reused pid is another
//! process). What ends leaves the live model; its final account stays a while among the
//! account's retired entries. Every map here holds what exists now (or ended within the
//! retention window), not what ever existed.
pub mod account;
mod from_events;
mod from_kernel;
mod from_snapshot;
pub mod history;
mod holds;
mod nsgen;
mod posix;
mod scope;
mod tally;
mod types;
mod waits;

use std::collections::{BTreeMap, BTreeSet};

pub use account::{
    can_block, observer_comm, Account, CountSource, LateAdd, ObjKey, Retired, RetiredWhat, Tally,
    MAX_RETIRED, OBSERVER_COMM, RETENTION_NS, WAIT_NS,
};
pub use history::History;
pub use holds::{HoldRow, Releasers, SemRole};
pub use scope::{label_matches, Scope};
pub use types::*;

use crate::{
    feed::{Stamped, Update},
    snapshot::{Limits, Unknown},
};

/// The whole state. See the module documentation.
#[derive(Clone, Debug)]
pub struct Model {
    /// The home namespace: of the snapshots' top-level objects (ours, or `--ipc-ns`'s);
    /// processes and calls whose namespace is unknown are taken to be in it.
    home_ns: NsId,
    ns_pid: Option<u32>,
    /// What the accessors show (see [`Scope`]).
    scope: Scope,
    /// Each namespace's container label, from the last snapshot.
    ns_labels: BTreeMap<NsId, String>,
    /// CLOCK_REALTIME - CLOCK_MONOTONIC, ns.
    clock_offset_ns: i128,
    now_mono_ns: u64,
    segments: BTreeMap<ObjId, Segment>,
    sem_sets: BTreeMap<ObjId, SemSet>,
    queues: BTreeMap<ObjId, Queue>,
    processes: BTreeMap<u32, Process>,
    /// By tid.
    waits: BTreeMap<u32, Wait>,
    /// pid → the IPC namespace the kernel last stamped its calls with (see
    /// [`Model::ns_of_pid`]).
    event_ns: BTreeMap<u32, NsId>,
    /// (set, semnum) → each process's units taken and given (see `holds.rs`).
    holds: BTreeMap<(ObjId, u16), Vec<HoldRow>>,
    /// When the holds were last set (monotonic ns).
    holds_at: u64,
    /// What is remembered of each semaphore for its set's life (posters, lost units).
    sem_evidence: BTreeMap<(ObjId, u16), holds::Evidence>,
    /// Who sent to and received from each queue, for its life.
    queue_evidence: BTreeMap<ObjId, holds::QueueEvidence>,
    /// The kernel's never-reused id of each namespace (by inode), where the kernel has one:
    /// a new id for a known inode is a new namespace (the kernel reuses inodes).
    ns_ids: nsgen::NsGenerations,
    /// Since when the probe watches (monotonic ns): the last snapshot before its first data.
    probe_since_ns: Option<u64>,
    /// The last snapshot's time.
    last_snapshot_ns: Option<u64>,
    /// Objects removed lately (by the calls that removed them), and when: a snapshot taken
    /// before that (read while the call ran, arriving after it) does not bring them back.
    removed: BTreeMap<(ObjKind, ObjId), u64>,
    limits: BTreeMap<NsId, Limits>,
    shm_dev: Option<(u32, u32)>,
    unknowns: Vec<Unknown>,
    problems: Vec<String>,
    snapshots: u64,
    events: u64,
    /// The one account of activity (see [`Account`]).
    account: Account,
    /// The calls that created objects, as the probe saw them.
    created: BTreeMap<ObjKey, Creation>,
    /// Pids waiting per object (see [`Model::waiters`]), rebuilt on every update.
    waiters: BTreeMap<(ObjKind, ObjId), BTreeSet<u32>>,
    /// The last look at POSIX IPC (see `posix.rs`).
    posix: Option<Box<crate::posix::PosixSnapshot>>,
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

impl Model {
    pub fn new() -> Self {
        Self {
            home_ns: 0,
            ns_pid: None,
            scope: Scope::All,
            ns_labels: BTreeMap::new(),
            clock_offset_ns: crate::event::Clock::now().offset_ns(),
            // Driven by the inputs (snapshots, events, set_now), so that replays and tests
            // see their own time.
            now_mono_ns: 0,
            segments: BTreeMap::new(),
            sem_sets: BTreeMap::new(),
            queues: BTreeMap::new(),
            processes: BTreeMap::new(),
            waits: BTreeMap::new(),
            holds: BTreeMap::new(),
            holds_at: 0,
            sem_evidence: BTreeMap::new(),
            queue_evidence: BTreeMap::new(),
            ns_ids: Default::default(),
            probe_since_ns: None,
            last_snapshot_ns: None,
            removed: BTreeMap::new(),
            event_ns: BTreeMap::new(),
            limits: BTreeMap::new(),
            shm_dev: None,
            unknowns: Vec::new(),
            problems: Vec::new(),
            snapshots: 0,
            events: 0,
            account: Account::default(),
            waiters: BTreeMap::new(),
            created: BTreeMap::new(),
            posix: None,
        }
    }

    // ---- the one door ----

    /// Applies one update of the feed: the only way anything changes the model.
    pub fn apply(&mut self, s: &Stamped) {
        self.account.forget_old(s.mono_ns.max(self.now_mono_ns));
        match &s.update {
            Update::Events(evs) => {
                if !evs.is_empty() {
                    self.probe_started();
                }
                evs.iter().for_each(|ev| self.apply_event(ev));
            }
            Update::InFlight(evs) => {
                self.probe_started();
                self.in_flight(evs, s.mono_ns);
                evs.iter().for_each(|ev| self.apply_event(ev));
            }
            Update::Snapshot(snap) => {
                self.apply_snapshot(snap);
                self.follow_scope_forks();
                if !self.account.sampled() {
                    self.account.checkpoint(snap.mono_ns);
                }
            }
            Update::Kernel(k) => {
                self.probe_started();
                self.apply_kernel(s.mono_ns, k);
            }
            Update::Posix(p) => self.posix = Some(p.clone()),
            Update::Reset => {
                let scope = std::mem::take(&mut self.scope);
                *self = Model::new();
                self.scope = scope;
            }
        }
        self.now_mono_ns = self.now_mono_ns.max(s.mono_ns);
        self.index_waiters();
    }

    // ---- the scope ----

    /// Shows only the namespaces of `scope` (every accessor below that lists objects,
    /// processes or waits, and the analysis on it); nothing is dropped.
    pub fn set_scope(&mut self, scope: Scope) {
        self.scope = scope;
        self.follow_scope_forks();
        self.index_waiters();
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Whether the namespace `ns` is shown.
    pub fn in_scope(&self, ns: NsId) -> bool {
        self.scope.admits(ns, self.container_of(ns))
    }

    /// The container label of a namespace ("host", "docker:3f4e5a6b7c8d", …), when known.
    pub fn container_of(&self, ns: NsId) -> Option<&str> {
        self.ns_labels.get(&ns).map(String::as_str)
    }

    /// Every namespace known (with processes, objects or limits), ascending, with its label
    /// and counts; `in_scope` tells the ones shown.
    pub fn namespaces(&self) -> Vec<NsInfo> {
        let mut n: BTreeMap<NsId, NsInfo> = BTreeMap::new();
        let home = self.home_ns;
        let procs = self
            .processes
            .values()
            .map(|p| (p.ipc_ns.unwrap_or(home), 1, 0));
        let objs = self
            .segments
            .keys()
            .chain(self.sem_sets.keys())
            .chain(self.queues.keys())
            .map(|id| (id.ns, 0, 1));
        let limits = self.limits.keys().map(|&ns| (ns, 0, 0));
        for (ns, p, o) in procs.chain(objs).chain(limits) {
            let e = n.entry(ns).or_insert_with(|| NsInfo {
                ns,
                container: self.container_of(ns).map(str::to_string),
                home: ns == home,
                in_scope: self.in_scope(ns),
                processes: 0,
                objects: 0,
            });
            e.processes += p;
            e.objects += o;
        }
        n.into_values().collect()
    }

    /// The home namespace (ours, or `--ipc-ns PID`'s).
    pub fn home_ns(&self) -> NsId {
        self.home_ns
    }

    /// The one namespace that lookups by id alone ([`Self::segment`], …) and
    /// [`Self::limits`] use: the scope's when it names one namespace (or a container: its
    /// first namespace), else the home namespace.
    pub fn view_ns(&self) -> NsId {
        match &self.scope {
            Scope::All => self.home_ns,
            Scope::Ns(n) => *n,
            Scope::Procs { ns, .. } => *ns,
            Scope::Container(_) => self
                .ns_labels
                .keys()
                .copied()
                .find(|&ns| self.in_scope(ns))
                .unwrap_or(self.home_ns),
        }
    }

    // ---- reading ----

    /// `--ipc-ns PID` of the last snapshot.
    pub fn ns_pid(&self) -> Option<u32> {
        self.ns_pid
    }

    /// The latest monotonic time seen (snapshot or event), ns.
    pub fn now_mono_ns(&self) -> u64 {
        self.now_mono_ns
    }

    /// Unix seconds of a monotonic stamp.
    pub fn unix_s(&self, mono_ns: u64) -> f64 {
        (mono_ns as i128 + self.clock_offset_ns) as f64 / 1e9
    }

    /// The current unix time in seconds (of [`Self::now_mono_ns`]).
    pub fn now_unix_s(&self) -> f64 {
        self.unix_s(self.now_mono_ns)
    }

    /// The monotonic → wall-clock conversion in use (of the last snapshot), for printing
    /// event times as `ipctop trace` does (the dashboard's event log).
    pub fn clock(&self) -> crate::event::Clock {
        crate::event::Clock::with_offset(self.clock_offset_ns)
    }

    /// Segments of the namespaces in scope, by (namespace, id).
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments
            .values()
            .filter(|s| self.obj_in_scope(ObjKind::Shm, s.id))
    }

    /// Semaphore sets of the namespaces in scope, by (namespace, id).
    pub fn sem_sets(&self) -> impl Iterator<Item = &SemSet> {
        self.sem_sets
            .values()
            .filter(|s| self.obj_in_scope(ObjKind::Sem, s.id))
    }

    /// Queues of the namespaces in scope, by (namespace, id).
    pub fn queues(&self) -> impl Iterator<Item = &Queue> {
        self.queues
            .values()
            .filter(|s| self.obj_in_scope(ObjKind::Msg, s.id))
    }

    /// A segment by id in [`Self::view_ns`] (ids are per namespace: prefer
    /// [`Self::segment_at`]).
    pub fn segment(&self, shmid: i32) -> Option<&Segment> {
        self.segments.get(&self.oid(shmid))
    }

    /// A set by id in [`Self::view_ns`] (prefer [`Self::sem_set_at`]).
    pub fn sem_set(&self, semid: i32) -> Option<&SemSet> {
        self.sem_sets.get(&self.oid(semid))
    }

    /// A queue by id in [`Self::view_ns`] (prefer [`Self::queue_at`]).
    pub fn queue(&self, msqid: i32) -> Option<&Queue> {
        self.queues.get(&self.oid(msqid))
    }

    /// A segment by its identity (any namespace, in scope or not).
    pub fn segment_at(&self, id: ObjId) -> Option<&Segment> {
        self.segments.get(&id)
    }

    pub fn sem_set_at(&self, id: ObjId) -> Option<&SemSet> {
        self.sem_sets.get(&id)
    }

    pub fn queue_at(&self, id: ObjId) -> Option<&Queue> {
        self.queues.get(&id)
    }

    /// Every process seen, of every namespace.
    pub fn all_processes(&self) -> impl Iterator<Item = &Process> {
        self.processes.values()
    }

    /// The processes of the namespaces in scope (one whose namespace is unknown counts in
    /// the home namespace), or of a [`Scope::Procs`].
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.processes.values().filter(|p| self.process_in_scope(p))
    }

    /// The IPC namespace of a process (as [`Self::process`] knows it, else as its calls were
    /// stamped, else the home namespace).
    pub fn process_ns(&self, pid: u32) -> NsId {
        self.ns_of_pid(pid)
    }

    pub fn process(&self, pid: u32) -> Option<&Process> {
        self.processes.get(&pid)
    }

    /// The IPC limits of [`Self::view_ns`] (with what is used: see the analysis).
    pub fn limits(&self) -> Option<&Limits> {
        self.limits.get(&self.view_ns())
    }

    /// The IPC limits of a namespace (they are per namespace).
    pub fn limits_of(&self, ns: NsId) -> Option<&Limits> {
        self.limits.get(&ns)
    }

    /// Namespaces out of scope that have processes, and how many.
    pub fn other_namespaces(&self) -> Vec<OtherNamespace> {
        let mut n: BTreeMap<NsId, usize> = BTreeMap::new();
        for p in self.processes.values() {
            if let Some(ns) = p.ipc_ns.filter(|&ns| !self.in_scope(ns)) {
                *n.entry(ns).or_default() += 1;
            }
        }
        n.into_iter()
            .map(|(ns, processes)| OtherNamespace { ns, processes })
            .collect()
    }

    /// What could not be known, and why (from the last snapshot).
    pub fn unknowns(&self) -> &[Unknown] {
        &self.unknowns
    }

    /// Lines or files the last snapshot could not read.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The one account of activity: every count, failure, wait and rate shown anywhere.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// A process's comm: from /proc, else from its calls; `None`: never seen.
    pub fn comm_of(&self, pid: u32) -> Option<String> {
        self.processes
            .get(&pid)
            .map(|p| p.comm.clone())
            .or_else(|| self.account.comm(pid).map(str::to_string))
    }

    /// The call that created an object, if the probe saw it (kept after the object goes).
    pub fn creation(&self, kind: ObjKind, id: ObjId) -> Option<&Creation> {
        self.created.get(&(kind, id))
    }

    /// The identity of an object of [`Self::view_ns`].
    pub fn oid_of(&self, id: i32) -> ObjId {
        self.oid(id)
    }

    /// The account of an object of [`Self::view_ns`] (observers left out; prefer
    /// [`Self::object_account_at`]).
    pub fn object_account(&self, kind: ObjKind, id: i32) -> Option<&Tally> {
        self.account.object(kind, self.oid(id))
    }

    /// The account of an object (observers left out).
    pub fn object_account_at(&self, kind: ObjKind, id: ObjId) -> Option<&Tally> {
        self.account.object(kind, id)
    }

    /// An object's calls per second at each of the last samples, oldest first (of
    /// [`Self::view_ns`]; prefer [`Self::object_rates_at`]).
    pub fn object_rates(&self, kind: ObjKind, id: i32) -> impl Iterator<Item = f32> + '_ {
        self.account.object_rates(kind, self.oid(id))
    }

    /// An object's calls per second at each of the last samples, oldest first.
    pub fn object_rates_at(&self, kind: ObjKind, id: ObjId) -> impl Iterator<Item = f32> + '_ {
        self.account.object_rates(kind, id)
    }

    /// How many snapshots and events went in.
    pub fn counts(&self) -> (u64, u64) {
        (self.snapshots, self.events)
    }

    /// Whether the process `pid` is alive and could have existed at unix time `at_s`
    /// (it started no later than that, with a second of slack for the kernel's rounding):
    /// the guard against pid reuse. `at_s` 0 (never) means no constraint.
    pub fn alive_at(&self, pid: u32, at_s: i64) -> bool {
        if pid == 0 {
            return false;
        }
        let Some(p) = self.processes.get(&pid).filter(|p| p.alive()) else {
            return false;
        };
        match p.start_unix_ns {
            Some(start) if at_s > 0 => start as i128 <= (at_s as i128 + 1) * 1_000_000_000,
            _ => true,
        }
    }

    pub(super) fn oid(&self, id: i32) -> ObjId {
        ObjId {
            ns: self.view_ns(),
            id,
        }
    }

    /// The IPC namespace of a process: as the last snapshot read it, else as the kernel
    /// stamped its last call (a process that lived between two snapshots), else the home
    /// one. For the kernel's aggregates and holds, which carry no namespace, and for events
    /// of recordings made before events did.
    pub(super) fn ns_of_pid(&self, pid: u32) -> NsId {
        ns_of(&self.processes, &self.event_ns, self.home_ns, pid)
    }
}

/// See [`Model::ns_of_pid`].
fn ns_of(
    procs: &BTreeMap<u32, Process>,
    event_ns: &BTreeMap<u32, NsId>,
    home_ns: NsId,
    pid: u32,
) -> NsId {
    procs
        .get(&pid)
        .and_then(|p| p.ipc_ns)
        .or_else(|| event_ns.get(&pid).copied())
        .unwrap_or(home_ns)
}

#[cfg(test)]
mod ns_tests;
#[cfg(test)]
mod tests;
