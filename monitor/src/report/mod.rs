//! The report over a whole recording: the same model (and its one account) and analysis as
//! live, fed by the recording, plus what only a recording can tell (findings that came and
//! went, the longest wait of the whole session), judged for the recorded command's
//! processes ([`scope`]) with the rest of the machine as context.
pub mod scope;
mod text;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use scope::{Scope, ScopeDoc, ScopeMode};

use crate::{
    analysis::{self, Finding, IpcKind, What},
    event::errno_name,
    model::{CountSource, Model, ObjId, ObjKind, Since, WAIT_NS},
    output::{self, DeadlockDoc, LeakDoc, ObjectDoc, ProcessDoc, TallyDoc},
    record::{End, Reader},
};

/// The version of the JSON document.
pub const SCHEMA_VERSION: u32 = 2;

/// The recording's header, as the report shows it.
#[derive(Debug, Serialize)]
pub struct RecordingDoc {
    pub ipctop_version: String,
    pub kernel: String,
    pub host: String,
    pub started_unix_ns: u64,
    pub duration_s: f64,
    pub probe: String,
    pub every_call: bool,
    pub command: Option<Vec<String>>,
    pub end: Option<End>,
}

/// Every call of the recording: the kernel's counters when the probe ran, else the events.
#[derive(Debug, Serialize)]
pub struct CallsDoc {
    pub source: CountSource,
    #[serde(flatten)]
    pub total: TallyDoc,
    /// Events lost on the way (never silent).
    pub dropped: u64,
}

/// Failed calls of one syscall with one errno, and the processes that made them.
#[derive(Debug, Serialize)]
pub struct ErrorRow {
    pub syscall: &'static str,
    pub errno: String,
    pub count: u64,
    pub pids: BTreeSet<u32>,
}

/// A wait going on (at the end) or the longest one seen.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WaitDoc {
    pub pid: u32,
    pub tid: u32,
    pub comm: Option<String>,
    /// "sem", "msgrcv" or "msgsnd".
    pub on: &'static str,
    pub id: i32,
    /// Seconds it lasted (`exact`), or at least lasted (seen in /proc, or begun before the
    /// recording).
    pub seconds: f64,
    pub exact: bool,
    /// Still going at the end of the recording.
    pub still_waiting: bool,
}

/// Findings seen at some point of the recording, once each.
#[derive(Debug, Default, Serialize)]
pub struct AlongTheWay {
    pub leaks: Vec<LeakDoc>,
    pub deadlocks: Vec<DeadlockDoc>,
    pub long_waits: Vec<String>,
}

/// What happened outside the scope (another process's leak on a shared machine): reported,
/// never failing a gate unless `--scope all`.
#[derive(Debug, Default, Serialize)]
pub struct ContextDoc {
    pub leaks: Vec<LeakDoc>,
    pub deadlocks: Vec<DeadlockDoc>,
    pub errors: Vec<ErrorRow>,
    pub max_wait_s: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub recording: RecordingDoc,
    pub scope: ScopeDoc,
    /// The one definition of a wait: a blocking call at least this long (seconds).
    pub wait_threshold_s: f64,
    pub calls: CallsDoc,
    /// Failed calls in scope.
    pub errors: Vec<ErrorRow>,
    /// Every object that had calls, with its account.
    pub objects: Vec<ObjectDoc>,
    /// Every process that made calls, with its account.
    pub processes: Vec<ProcessDoc>,
    /// Waits going on when the recording ended (from the probe or /proc).
    pub still_waiting: Vec<WaitDoc>,
    /// In scope, as found at the end (objects the command left behind among them).
    pub leaks: Vec<LeakDoc>,
    pub deadlocks: Vec<DeadlockDoc>,
    pub along_the_way: AlongTheWay,
    /// The longest wait in scope (finished, going on, or seen in /proc), seconds.
    pub max_wait_s: f64,
    pub longest_wait: Option<WaitDoc>,
    pub context: ContextDoc,
    /// Where and why reading stopped before the end, if it did.
    pub stopped_early: Option<String>,
}

/// What only the passage of time tells: findings that came and went, waits as they grew.
#[derive(Default)]
struct Watch {
    seen_leaks: BTreeSet<(u64, IpcKind, i32)>,
    seen_deadlocks: BTreeSet<Vec<u32>>,
    seen_long: BTreeSet<(u32, IpcKind, i32)>,
    along: AlongTheWay,
    /// The longest wait seen going on, per tid.
    waits: BTreeMap<u32, WaitDoc>,
}

impl Watch {
    fn findings(&mut self, m: &Model, findings: &[Finding]) {
        for f in findings {
            match &f.what {
                What::Leak { ipc, id } if self.seen_leaks.insert((f.ipc_ns, *ipc, *id)) => {
                    self.along
                        .leaks
                        .extend(output::leaks(m, std::slice::from_ref(f)));
                }
                What::Deadlock { pids, .. } => {
                    let mut k = pids.clone();
                    k.sort_unstable();
                    if self.seen_deadlocks.insert(k) {
                        self.along
                            .deadlocks
                            .extend(output::deadlocks(m, std::slice::from_ref(f)));
                    }
                }
                What::LongWait { pid, ipc, id, .. } if self.seen_long.insert((*pid, *ipc, *id)) => {
                    self.along.long_waits.push(f.reason.clone());
                }
                _ => {}
            }
        }
    }

    /// Every wait going on now, at its length so far.
    fn waits(&mut self, m: &Model) {
        for w in current_waits(m, false) {
            let e = self.waits.entry(w.tid).or_insert_with(|| w.clone());
            if w.seconds >= e.seconds {
                *e = w;
            }
        }
    }
}

fn current_waits(m: &Model, still: bool) -> Vec<WaitDoc> {
    let now = m.now_mono_ns();
    m.waits()
        .map(|w| WaitDoc {
            pid: w.pid,
            tid: w.tid,
            comm: m.comm_of(w.pid),
            on: w.on.kind(),
            id: w.on.id(),
            seconds: w.at_least_s(now),
            exact: matches!(w.since, Since::Exact(_)),
            still_waiting: still,
        })
        .collect()
}

fn ipc_kind(k: ObjKind) -> IpcKind {
    match k {
        ObjKind::Sem => IpcKind::Sem,
        ObjKind::Shm => IpcKind::Shm,
        ObjKind::Msg => IpcKind::Msg,
    }
}

fn obj_kind(k: IpcKind) -> ObjKind {
    match k {
        IpcKind::Sem => ObjKind::Sem,
        IpcKind::Shm => ObjKind::Shm,
        IpcKind::Msg => ObjKind::Msg,
    }
}

/// Whether an object concerns the scope: made or used by a process in it.
fn object_in_scope(m: &Model, scope: &Scope, kind: ObjKind, id: ObjId) -> bool {
    scope.is_all()
        || m.creation(kind, id)
            .is_some_and(|c| scope.has(c.pid, Some(&c.comm)))
        || creator_pid(m, kind, id.id).is_some_and(|p| scope.has_pid(m, p))
        || m.account()
            .users_of(kind, id)
            .any(|(p, _)| scope.has_pid(m, p))
}

fn creator_pid(m: &Model, kind: ObjKind, id: i32) -> Option<u32> {
    match kind {
        ObjKind::Sem => m.sem_set(id).and_then(|s| s.creator_pid),
        ObjKind::Shm => m.segment(id).map(|s| s.creator_pid),
        ObjKind::Msg => m.queue(id).and_then(|q| q.creator_pid),
    }
}

/// Objects the command created (the probe saw the call) and left behind: leaks whatever their
/// state, named with the call that made them.
fn left_behind(m: &Model, scope: &Scope) -> Vec<LeakDoc> {
    let mut out = Vec::new();
    let mut add = |kind: ObjKind, id: ObjId, state: String| {
        if let Some(c) = m
            .creation(kind, id)
            .filter(|c| scope.of_command(c.pid, Some(&c.comm)))
        {
            out.push(LeakDoc {
                kind: ipc_kind(kind),
                id: id.id,
                reason: format!(
                    "{} {} was created by the command (pid {} {}: {}) and is still there at \
                     the end ({state})",
                    kind.name(),
                    id.id,
                    c.pid,
                    c.comm,
                    c.call
                ),
                ipc_ns: id.ns,
                container: crate::output::container(m, id.ns),
            });
        }
    };
    for s in m.sem_sets() {
        add(ObjKind::Sem, s.id, format!("{} semaphores", s.nsems));
    }
    // A segment marked for destruction goes when its last user detaches: not left behind.
    for s in m.segments().filter(|s| !s.marked_for_destroy) {
        add(
            ObjKind::Shm,
            s.id,
            format!("{} bytes, {} attached", s.size, s.nattch),
        );
    }
    for q in m.queues() {
        add(
            ObjKind::Msg,
            q.id,
            format!("{} messages, {} bytes", q.qnum, q.cbytes),
        );
    }
    out
}

fn error_rows(m: &Model, keep: impl Fn(u32) -> bool) -> Vec<ErrorRow> {
    let mut rows: BTreeMap<(&'static str, i32), ErrorRow> = BTreeMap::new();
    for (pid, t) in m.account().processes().filter(|(p, _)| keep(*p)) {
        for (&(sys, e), &n) in &t.errnos {
            let r = rows.entry((sys.name(), e)).or_insert_with(|| ErrorRow {
                syscall: sys.name(),
                errno: errno_name(e).into_owned(),
                count: 0,
                pids: BTreeSet::new(),
            });
            r.count += n;
            r.pids.insert(pid);
        }
    }
    rows.into_values().collect()
}

/// Reads the whole recording and reports on it.
pub fn build(reader: Reader, cfg: &analysis::Config, mode: ScopeMode) -> Report {
    build_in(reader, cfg, mode, crate::model::Scope::All)
}

/// [`build`], on the namespaces of `ns` only (`--ipc-ns`, `--container`).
pub fn build_in(
    mut reader: Reader,
    cfg: &analysis::Config,
    mode: ScopeMode,
    ns: crate::model::Scope,
) -> Report {
    let header = reader.header.clone();
    let mut scope = Scope::new(mode, header.command.as_deref())
        .with_command_pid(header.command_pid, header.forks_followed);
    let mut model = Model::new();
    model.set_scope(ns);
    let mut watch = Watch::default();
    let (mut first_t, mut last_t) = (None, 0u64);
    let mut forks_seen = 0;
    while let Some(s) = reader.next_update() {
        first_t.get_or_insert(s.mono_ns);
        last_t = last_t.max(s.mono_ns);
        model.apply(&s);
        if let crate::feed::Update::Snapshot(_) = &s.update {
            // The forks read since the last snapshot.
            scope.forks(&reader.forks()[forks_seen..]);
            forks_seen = reader.forks().len();
            scope.observe(&model);
            watch.findings(&model, &analysis::analyze(&model, cfg));
        }
        watch.waits(&model);
    }
    let findings = analysis::analyze(&model, cfg);
    scope.forks(&reader.forks()[forks_seen..]);
    scope.observe(&model);
    watch.findings(&model, &findings);
    watch.waits(&model);

    let acc = model.account();
    let in_scope = |pid: u32| scope.has_pid(&model, pid);
    let calls = CallsDoc {
        source: acc.source(),
        total: TallyDoc::of(acc.total()),
        dropped: acc.dropped(),
    };

    // Waits: finished (the account), going on (the model's waits, seen all along).
    let still: Vec<WaitDoc> = current_waits(&model, true);
    // Still waiting at the end: the judged processes' (the rest of the machine, other
    // namespaces' processes among them, is context).
    let still_judged: Vec<WaitDoc> = still.iter().filter(|w| in_scope(w.pid)).cloned().collect();
    let mut longest: BTreeMap<bool, WaitDoc> = BTreeMap::new();
    let mut consider = |w: WaitDoc| {
        let k = in_scope(w.pid);
        // Ties go to the first (an object named over a bare process).
        if longest.get(&k).is_none_or(|l| w.seconds > l.seconds) {
            longest.insert(k, w);
        }
    };
    // Finished calls: per object and process (the calls whose object is known), else per
    // process.
    let finished = |pid: u32, on: &'static str, id: i32, t: &crate::model::Tally| WaitDoc {
        pid,
        tid: pid,
        comm: model.comm_of(pid),
        on,
        id,
        seconds: t.max_wait_s(),
        exact: true,
        still_waiting: false,
    };
    for (&(kind, id), _) in acc.objects() {
        for (pid, t) in acc.users_of(kind, id).filter(|(_, t)| t.max_wait_ns > 0) {
            consider(finished(pid, kind.name(), id.id, t));
        }
    }
    for (pid, t) in acc.processes().filter(|(_, t)| t.max_wait_ns > 0) {
        consider(finished(pid, "a call", -1, t));
    }
    for w in watch.waits.values() {
        let mut w = w.clone();
        w.still_waiting = still.iter().any(|s| s.tid == w.tid && s.id == w.id);
        consider(w);
    }

    let mut leaks = left_behind(&model, &scope);
    let mut context = ContextDoc {
        errors: if scope.is_all() {
            Vec::new()
        } else {
            error_rows(&model, |p| !in_scope(p))
        },
        max_wait_s: longest.get(&false).map_or(0.0, |w| w.seconds),
        ..Default::default()
    };
    for l in output::leaks(&model, &findings) {
        let id = ObjId {
            ns: l.ipc_ns,
            id: l.id,
        };
        if leaks
            .iter()
            .any(|x| x.kind == l.kind && x.id == l.id && x.ipc_ns == l.ipc_ns)
        {
            continue;
        }
        if object_in_scope(&model, &scope, obj_kind(l.kind), id) {
            leaks.push(l);
        } else {
            context.leaks.push(l);
        }
    }
    let (deadlocks, ctx_deadlocks): (Vec<_>, Vec<_>) = output::deadlocks(&model, &findings)
        .into_iter()
        .partition(|d| d.pids.iter().any(|&p| in_scope(p)));
    context.deadlocks = ctx_deadlocks;
    let duration_s = first_t.map_or(0.0, |f| last_t.saturating_sub(f) as f64 / 1e9);
    let pids_seen: Vec<u32> = acc.processes().map(|(p, _)| p).collect();
    Report {
        schema_version: SCHEMA_VERSION,
        recording: RecordingDoc {
            ipctop_version: header.ipctop_version.clone(),
            kernel: header.kernel.clone(),
            host: header.host.clone(),
            started_unix_ns: header.started_unix_ns,
            duration_s,
            probe: header.probe.clone(),
            every_call: header.every_call,
            command: header.command.clone(),
            end: reader.end().cloned(),
        },
        scope: scope.doc(&model, pids_seen.into_iter()),
        wait_threshold_s: WAIT_NS as f64 / 1e9,
        calls,
        errors: error_rows(&model, in_scope),
        objects: output::objects(&model),
        processes: output::processes(&model),
        still_waiting: still_judged,
        leaks,
        deadlocks,
        along_the_way: watch.along,
        max_wait_s: longest.get(&true).map_or(0.0, |w| w.seconds),
        longest_wait: longest.remove(&true),
        context,
        stopped_early: reader.damage().map(str::to_string),
    }
}

/// A `--fail-on` condition.
#[derive(Clone, Debug, PartialEq)]
pub enum FailOn {
    Leak,
    Deadlock,
    Error,
    Drops,
    /// A wait longer than this many seconds.
    Wait(f64),
}

impl std::str::FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "leak" | "leaks" => Ok(FailOn::Leak),
            "deadlock" | "deadlocks" => Ok(FailOn::Deadlock),
            "error" | "errors" => Ok(FailOn::Error),
            "drops" | "drop" => Ok(FailOn::Drops),
            w => match w.strip_prefix("wait>").map(str::parse::<f64>) {
                Some(Ok(secs)) if secs.is_finite() && secs >= 0.0 => Ok(FailOn::Wait(secs)),
                _ => Err(format!(
                    "unknown --fail-on condition {w:?} (leak, deadlock, error, drops, wait>SECS)"
                )),
            },
        }
    }
}

impl Report {
    /// The conditions met (in scope), each as one line for stderr.
    pub fn failures(&self, conds: &[FailOn]) -> Vec<String> {
        let mut out = Vec::new();
        let deadlocks: Vec<&DeadlockDoc> = self
            .along_the_way
            .deadlocks
            .iter()
            .filter(|d| !self.context.deadlocks.iter().any(|c| c.pids == d.pids))
            .collect();
        for c in conds {
            match c {
                FailOn::Leak if !self.leaks.is_empty() => out.push(format!(
                    "leak: {} leaked object(s) at the end: {}",
                    self.leaks.len(),
                    self.leaks
                        .iter()
                        .map(|l| format!("{} {}", obj_kind(l.kind).name(), l.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                FailOn::Deadlock if !deadlocks.is_empty() => out.push(format!(
                    "deadlock: {} deadlock(s): {}",
                    deadlocks.len(),
                    deadlocks
                        .iter()
                        .map(|d| format!("pids {:?}", d.pids))
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
                FailOn::Error if !self.errors.is_empty() => out.push(format!(
                    "error: {} failed call(s): {}",
                    self.errors.iter().map(|e| e.count).sum::<u64>(),
                    self.errors
                        .iter()
                        .map(|e| format!(
                            "{} {} ×{} (pids {:?})",
                            e.syscall, e.errno, e.count, e.pids
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                FailOn::Drops if self.calls.dropped > 0 => {
                    out.push(format!("drops: {} events were lost", self.calls.dropped))
                }
                FailOn::Wait(secs) if self.max_wait_s > *secs => out.push(format!(
                    "wait>{secs}: the longest wait was {}",
                    self.longest_wait
                        .as_ref()
                        .map_or(format!("{:.3} s", self.max_wait_s), text::wait_text)
                )),
                _ => {}
            }
        }
        out
    }

    /// The report for people.
    pub fn text(&self) -> String {
        text::render(self)
    }
}
