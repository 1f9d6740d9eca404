//! Output documents as typed structs, shared by the commands and the report: the snapshot
//! document (`snapshot.rs`), findings as rows (leaks, deadlocks) and the account as rows (per
//! object, per process). Commands print them; nothing here reads /proc or the probe.
pub mod posix;
pub mod snapshot;

use serde::Serialize;

use crate::{
    analysis::{CycleStep, Finding, IpcKind, What},
    event::errno_name,
    model::{Model, NsId, ObjKey, Tally},
};

/// `leaks[]`: a leaked object, its namespace, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeakDoc {
    pub kind: IpcKind,
    pub id: i32,
    pub reason: String,
    /// The IPC namespace of the object (inode).
    pub ipc_ns: NsId,
    /// Its container label, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// `deadlocks[]`: the processes and threads of a deadlock, each thread's step (what it waits
/// on and who could release it), its namespace, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeadlockDoc {
    pub pids: Vec<u32>,
    pub tids: Vec<u32>,
    pub cycle: Vec<CycleStep>,
    pub reason: String,
    /// The IPC namespace of the cycle's processes and sets (inode).
    pub ipc_ns: NsId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// A finding as data: its kind and fields (as `analysis::What` names them), why, and where
/// (its namespace and container).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FindingDoc {
    #[serde(flatten)]
    pub what: What,
    pub reason: String,
    pub ipc_ns: NsId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// One finding as data.
pub fn finding(m: &Model, f: &Finding) -> FindingDoc {
    FindingDoc {
        what: f.what.clone(),
        reason: f.reason.clone(),
        ipc_ns: f.ipc_ns,
        container: container(m, f.ipc_ns),
    }
}

/// The container label of a namespace, as the model knows it.
pub fn container(m: &Model, ns: NsId) -> Option<String> {
    m.container_of(ns).map(str::to_string)
}

/// The leaks among findings.
pub fn leaks(m: &Model, findings: &[Finding]) -> Vec<LeakDoc> {
    findings
        .iter()
        .filter_map(|f| match &f.what {
            What::Leak { ipc, id } => Some(LeakDoc {
                kind: *ipc,
                id: *id,
                reason: f.reason.clone(),
                ipc_ns: f.ipc_ns,
                container: container(m, f.ipc_ns),
            }),
            _ => None,
        })
        .collect()
}

/// The deadlocks among findings.
pub fn deadlocks(m: &Model, findings: &[Finding]) -> Vec<DeadlockDoc> {
    findings
        .iter()
        .filter_map(|f| match &f.what {
            What::Deadlock { pids, tids, cycle } => Some(DeadlockDoc {
                pids: pids.clone(),
                tids: tids.clone(),
                cycle: cycle.clone(),
                reason: f.reason.clone(),
                ipc_ns: f.ipc_ns,
                container: container(m, f.ipc_ns),
            }),
            _ => None,
        })
        .collect()
}

/// Failed calls of one syscall with one errno.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrnoDoc {
    pub syscall: &'static str,
    pub errno: String,
    pub count: u64,
}

/// An account (see `model::Tally`) as data.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TallyDoc {
    pub calls: u64,
    /// Of those, per syscall (those made).
    pub by_syscall: std::collections::BTreeMap<&'static str, u64>,
    /// Calls per second over the last samples.
    pub rate_per_s: f64,
    pub errors: u64,
    pub errnos: Vec<ErrnoDoc>,
    /// Calls a signal interrupted (not errors).
    pub interrupted: u64,
    /// Calls ended by their process's death (killed while in them; not errors).
    pub ended: u64,
    /// Blocking calls that took at least `wait_threshold_s` (see the document).
    pub waits: u64,
    /// Time spent in blocking calls (semop, semtimedop, msgsnd, msgrcv), seconds.
    pub blocked_s: f64,
    pub max_wait_s: f64,
}

impl TallyDoc {
    pub fn of(t: &Tally) -> Self {
        Self {
            calls: t.calls,
            by_syscall: crate::event::Syscall::all()
                .filter(|s| t.by_syscall[s.index()] > 0)
                .map(|s| (s.name(), t.by_syscall[s.index()]))
                .collect(),
            rate_per_s: t.rate(),
            errors: t.errors,
            errnos: t
                .errnos
                .iter()
                .map(|(&(s, e), &count)| ErrnoDoc {
                    syscall: s.name(),
                    errno: errno_name(e).into_owned(),
                    count,
                })
                .collect(),
            interrupted: t.interrupted,
            ended: t.ended,
            waits: t.waits,
            blocked_s: t.blocked_s(),
            max_wait_s: t.max_wait_s(),
        }
    }
}

/// `objects[]`: one object's account, with the processes that used it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ObjectDoc {
    pub kind: &'static str,
    pub id: i32,
    /// The IPC namespace of the object (inode).
    pub ipc_ns: NsId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(flatten)]
    pub account: TallyDoc,
    /// The processes that made calls on it (observers left out), by pid.
    pub users: Vec<u32>,
}

/// `processes[]`: one process's account.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProcessDoc {
    pub pid: u32,
    pub comm: Option<String>,
    #[serde(flatten)]
    pub account: TallyDoc,
    /// Another ipctop (its calls are not activity on the objects it looks at).
    pub observer: bool,
}

/// Every object of the account in the model's scope (all namespaces by default), by kind,
/// namespace and id.
pub fn objects(m: &Model) -> Vec<ObjectDoc> {
    let a = m.account();
    a.objects()
        .filter(|((kind, id), _)| m.obj_in_scope(*kind, *id))
        .map(|(&(kind, id), t): (&ObjKey, &Tally)| ObjectDoc {
            kind: kind.name(),
            id: id.id,
            ipc_ns: id.ns,
            container: container(m, id.ns),
            account: TallyDoc::of(t),
            users: a.users_of(kind, id).map(|(p, _)| p).collect(),
        })
        .collect()
}

/// Every process of the account in the model's scope, by pid.
pub fn processes(m: &Model) -> Vec<ProcessDoc> {
    let a = m.account();
    a.processes()
        .filter(|&(pid, _)| m.pid_in_scope(pid))
        .map(|(pid, t)| ProcessDoc {
            pid,
            comm: m.comm_of(pid),
            account: TallyDoc::of(t),
            observer: a.is_observer(pid),
        })
        .collect()
}
