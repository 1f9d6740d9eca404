//! The report over a whole recording: the same model (and its one account) and analysis as
//! live, fed by the recording, plus what only a recording can tell (findings that came and
//! went, the longest wait of the whole session), judged for the recorded command's
//! processes ([`scope`]) within the namespaces of `--ipc-ns`/`--container`, with the rest of
//! the machine as context: every figure under "judged" — calls, failures, waits, findings,
//! the gates — is the judged processes' own (`judge`).
mod gate;
mod judge;
mod named;
pub mod scope;
mod text;
mod watch;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use gate::FailOn;
pub use scope::{Scope, ScopeDoc, ScopeMode};
pub use watch::AlongTheWay;

use crate::{
    analysis::{self, Finding, IpcKind, What},
    event::errno_name,
    model::{CountSource, Model, ObjId, ObjKind, WAIT_NS},
    output::{self, DeadlockDoc, FindingDoc, LeakDoc, ObjectDoc, ProcessDoc, TallyDoc},
    record::{End, Reader},
};

/// The version of the JSON document: 3 judges everything under `calls`, `errors`, the waits
/// and findings by the scope (the machine's under `context`), and adds stuck and stalled.
pub const SCHEMA_VERSION: u32 = 3;

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

/// Calls of the recording (the judged processes', or the machine's under `context`): the
/// kernel's counts when the probe ran, else the events.
#[derive(Debug, Serialize)]
pub struct CallsDoc {
    pub source: CountSource,
    #[serde(flatten)]
    pub total: TallyDoc,
    /// Events lost on the way, and calls the kernel counted but could not keep per process
    /// (its tables were full): of the whole machine, never silent.
    pub dropped: u64,
    /// Of `dropped`, the calls missing from the per-process figures.
    pub lost_calls: u64,
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
    /// The namespace of the object it waits on (inode; 0: unknown, a finished call's).
    pub ipc_ns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Seconds it lasted (`exact`), or at least lasted (seen in /proc, or begun before the
    /// recording).
    pub seconds: f64,
    pub exact: bool,
    /// Still going at the end of the recording.
    pub still_waiting: bool,
}

/// What happened outside the scope (another process's leak on a shared machine, the rest of
/// the machine's calls): reported, never failing a gate unless `--scope all`.
#[derive(Debug, Serialize)]
pub struct ContextDoc {
    /// The whole machine's calls (every namespace, every process followed).
    pub calls: CallsDoc,
    pub leaks: Vec<LeakDoc>,
    pub deadlocks: Vec<DeadlockDoc>,
    pub stuck: Vec<FindingDoc>,
    pub stalled: Vec<FindingDoc>,
    pub errors: Vec<ErrorRow>,
    pub max_wait_s: f64,
    pub along_the_way: AlongTheWay,
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
    /// Every object that had calls, with its account (those that ended during the recording
    /// with their final one).
    pub objects: Vec<ObjectDoc>,
    /// Every process that made calls, with its account (likewise).
    pub processes: Vec<ProcessDoc>,
    /// Objects and processes that ended, left out of those lists past 100,000 each.
    pub ended_left_out: u64,
    /// Waits going on when the recording ended (from the probe or /proc).
    pub still_waiting: Vec<WaitDoc>,
    /// In scope, as found at the end (objects the command left behind among them).
    pub leaks: Vec<LeakDoc>,
    pub deadlocks: Vec<DeadlockDoc>,
    /// Judged waiters nobody alive could release, at the end.
    pub stuck: Vec<FindingDoc>,
    /// Judged objects stalled at the end (blocked threads whose releasers could not be known).
    pub stalled: Vec<FindingDoc>,
    pub along_the_way: AlongTheWay,
    /// The longest wait in scope (finished, going on, or seen in /proc), seconds.
    pub max_wait_s: f64,
    pub longest_wait: Option<WaitDoc>,
    pub context: ContextDoc,
    /// Where and why reading stopped before the end, if it did.
    pub stopped_early: Option<String>,
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
            ipc_ns: w.ns,
            container: output::container(m, w.ns),
            seconds: w.at_least_s(now),
            exact: w.exact(),
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
    if !m.obj_in_scope(kind, id) {
        return false;
    }
    scope.is_all()
        || m.creation(kind, id)
            .is_some_and(|c| scope.has(c.pid, None, Some(&c.comm)))
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
            .filter(|c| scope.of_command(c.pid, None, Some(&c.comm)))
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

fn error_rows(errors: &judge::Errors) -> Vec<ErrorRow> {
    errors
        .iter()
        .map(|(&(sys, e), (n, pids))| ErrorRow {
            syscall: sys.name(),
            errno: errno_name(e).into_owned(),
            count: *n,
            pids: pids.clone(),
        })
        .collect()
}

/// Reads the whole recording and reports on it.
pub fn build(reader: Reader, cfg: &analysis::Config, mode: ScopeMode) -> Report {
    build_in(reader, cfg, mode, crate::model::Scope::All)
}

/// [`build`], on the namespaces of `ns` only (`--ipc-ns`, `--container`).
pub fn build_in(
    reader: Reader,
    cfg: &analysis::Config,
    mode: ScopeMode,
    ns: crate::model::Scope,
) -> Report {
    build_seen(reader, cfg, mode, ns).0
}

/// [`build_in`] for `--container`: one sentence instead when the recording has nothing of
/// that container (no namespace of its labels, no call of its cgroup), naming what it has.
pub fn build_scoped(
    reader: Reader,
    cfg: &analysis::Config,
    mode: ScopeMode,
    ns: crate::model::Scope,
) -> Result<Report, String> {
    let (report, seen) = build_seen(reader, cfg, mode, ns.clone());
    match seen.refusal(&ns) {
        None => Ok(report),
        Some(why) => Err(why),
    }
}

fn build_seen(
    mut reader: Reader,
    cfg: &analysis::Config,
    mode: ScopeMode,
    ns: crate::model::Scope,
) -> (Report, named::Seen) {
    let header = reader.header.clone();
    let mut scope = Scope::new(mode, header.command.as_deref())
        .with_command_pid(header.command_pid, header.forks_followed);
    let mut seen = named::Seen::default();
    let mut learner = named::Learner::of(&ns);
    let mut model = Model::new();
    model.set_scope(ns);
    let mut watch = watch::Watch::default();
    let mut judge = judge::Judge::default();
    let (mut first_t, mut last_t) = (None, 0u64);
    let mut forks_seen = 0;
    while let Some(s) = reader.next_update() {
        first_t.get_or_insert(s.mono_ns);
        last_t = last_t.max(s.mono_ns);
        match (&s.update, learner.as_mut()) {
            (crate::feed::Update::Snapshot(snap), _) => {
                seen.labels
                    .extend(snap.ns_labels.iter().map(|(_, l)| l.clone()));
            }
            (crate::feed::Update::Events(evs) | crate::feed::Update::InFlight(evs), Some(l)) => {
                seen.procs_found |= l.learn(&mut model, evs);
            }
            _ => {}
        }
        model.apply(&s);
        if let crate::feed::Update::Posix(_) = &s.update {
            let f = analysis::posix::findings(&model);
            watch.posix(&f, |f| posix_judged(&model, &scope, f));
        }
        if let crate::feed::Update::Snapshot(_) = &s.update {
            // The forks read since the last snapshot.
            scope.forks(&reader.forks()[forks_seen..], reader.forks_lost());
            forks_seen = reader.forks().len();
            scope.observe(&model);
            let f = analysis::analyze(&model, cfg);
            watch.findings(&model, &f, |f| finding_judged(&model, &scope, f));
        }
        judge.after_update(&model, &scope);
        watch.waits(&model);
    }
    let findings = analysis::analyze(&model, cfg);
    scope.forks(&reader.forks()[forks_seen..], reader.forks_lost());
    scope.observe(&model);
    watch.findings(&model, &findings, |f| finding_judged(&model, &scope, f));
    watch.waits(&model);
    let judged = judge.finish(&model, &scope);

    let acc = model.account();
    let pid_judged = |pid: u32| judge::pid_judged(&model, &scope, pid);
    // Everything judged, every namespace: the judged calls are the kernel's whole counts.
    let whole = scope.is_all() && matches!(model.scope(), crate::model::Scope::All);
    let calls_doc = |t: &crate::model::Tally| CallsDoc {
        source: acc.source(),
        total: TallyDoc::of(t),
        dropped: acc.lost(),
        lost_calls: acc.lost_calls(),
    };
    let calls = calls_doc(if whole { acc.total() } else { &judged.judged });

    // Waits: finished (the account, and the processes that ended), going on (the model's
    // waits, seen all along).
    let still: Vec<WaitDoc> = current_waits(&model, true);
    let wait_judged =
        |w: &WaitDoc| model.in_scope(w.ipc_ns) && judge::pid_judged(&model, &scope, w.pid);
    let still_judged: Vec<WaitDoc> = still.iter().filter(|w| wait_judged(w)).cloned().collect();
    let mut longest: BTreeMap<bool, WaitDoc> = BTreeMap::new();
    let mut consider = |k: bool, w: WaitDoc| {
        // Ties go to the first (an object named over a bare process).
        if longest.get(&k).is_none_or(|l| w.seconds > l.seconds) {
            longest.insert(k, w);
        }
    };
    let finished = |pid: u32, on: &'static str, id: ObjId, max_ns: u64| WaitDoc {
        pid,
        tid: pid,
        comm: model.comm_of(pid),
        on,
        id: id.id,
        ipc_ns: id.ns,
        container: output::container(&model, id.ns),
        seconds: max_ns as f64 / 1e9,
        exact: true,
        still_waiting: false,
    };
    for (&(kind, id), _) in acc.objects() {
        for (pid, t) in acc.users_of(kind, id).filter(|(_, t)| t.max_wait_ns > 0) {
            consider(
                pid_judged(pid),
                finished(pid, kind.name(), id, t.max_wait_ns),
            );
        }
    }
    for (k, l) in [
        (true, &judged.judged_longest),
        (false, &judged.context_longest),
    ] {
        if let Some(l) = l.as_ref().filter(|l| l.max_wait_ns > 0) {
            let mut w = finished(l.pid, "a call", ObjId { ns: 0, id: -1 }, l.max_wait_ns);
            w.comm = l.comm.clone().or(w.comm);
            consider(k, w);
        }
    }
    for w in watch.waits.values() {
        let mut w = w.clone();
        w.still_waiting = still.iter().any(|s| s.tid == w.tid && s.id == w.id);
        consider(wait_judged(&w), w);
    }

    // Findings at the end: the judged ones, the rest context.
    let is_judged = |f: &Finding| finding_judged(&model, &scope, f);
    let (mine, theirs): (Vec<Finding>, Vec<Finding>) =
        findings.iter().cloned().partition(|f| is_judged(f));
    let mut leaks = left_behind(&model, &scope);
    for l in output::leaks(&model, &mine) {
        if !leaks
            .iter()
            .any(|x| x.kind == l.kind && x.id == l.id && x.ipc_ns == l.ipc_ns)
        {
            leaks.push(l);
        }
    }
    let of_kind = |v: &[Finding], kind: &str| -> Vec<FindingDoc> {
        v.iter()
            .filter(|f| f.what.kind() == kind)
            .map(|f| output::finding(&model, f))
            .collect()
    };
    let [context_along, judged_along] = watch.along;
    let context = ContextDoc {
        calls: calls_doc(acc.total()),
        leaks: output::leaks(&model, &theirs)
            .into_iter()
            .filter(|l| {
                !leaks
                    .iter()
                    .any(|x| x.kind == l.kind && x.id == l.id && x.ipc_ns == l.ipc_ns)
            })
            .collect(),
        deadlocks: output::deadlocks(&model, &theirs),
        stuck: of_kind(&theirs, "stuck"),
        stalled: of_kind(&theirs, "stalled"),
        errors: if whole {
            Vec::new()
        } else {
            error_rows(&judged.context_errors)
        },
        max_wait_s: longest.get(&false).map_or(0.0, |w| w.seconds),
        along_the_way: context_along,
    };
    let duration_s = first_t.map_or(0.0, |f| last_t.saturating_sub(f) as f64 / 1e9);
    let pids_seen: Vec<u32> = acc
        .processes()
        .map(|(p, _)| p)
        .chain(judged.ended_processes.iter().map(|p| p.pid))
        .collect();
    let mut errors = error_rows(&judged.judged_errors);
    if whole {
        errors.extend(error_rows(&judged.context_errors));
    }
    let report = Report {
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
        errors,
        objects: {
            let mut v = judged.ended_objects;
            v.extend(output::objects(&model));
            v
        },
        processes: {
            let mut v = judged.ended_processes;
            v.extend(output::processes(&model));
            v
        },
        ended_left_out: judged.ended_left_out,
        still_waiting: still_judged,
        leaks,
        deadlocks: output::deadlocks(&model, &mine),
        stuck: of_kind(&mine, "stuck"),
        stalled: of_kind(&mine, "stalled"),
        along_the_way: judged_along,
        max_wait_s: longest.get(&true).map_or(0.0, |w| w.seconds),
        longest_wait: longest.remove(&true),
        context,
        stopped_early: reader.damage().map(str::to_string),
    };
    (report, seen)
}

/// Whether a finding is the judged processes' (or objects').
/// Whether a POSIX finding is the judged processes': one of its processes is.
fn posix_judged(m: &Model, scope: &Scope, f: &analysis::posix::PosixFinding) -> bool {
    f.pids.iter().any(|&p| judge::pid_judged(m, scope, p))
}

fn finding_judged(m: &Model, scope: &Scope, f: &Finding) -> bool {
    judge::finding_judged(m, scope, f, |f| match f.what {
        What::Leak { ipc, id } => {
            object_in_scope(m, scope, obj_kind(ipc), ObjId { ns: f.ipc_ns, id })
        }
        _ => false,
    })
}

impl Report {
    /// The report for people.
    pub fn text(&self) -> String {
        text::render(self)
    }
}
