//! The document of `ipctop snapshot --json` (`schema_version` 2): the model and its
//! findings. Version 2: each finding carries its container; deadlocks are proven (with their
//! threads), `stuck` and `stalled` findings are new; a semaphore's holders say their role
//! (`lock`: held by, `signal`: raised by); a wait says how long at least (`waited_s`).
use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{DeadlockDoc, FindingDoc, LeakDoc};
use crate::{
    analysis::{self, Finding},
    model::{HolderSource, Model, NsId, SemRole, Sop, Source, Wait, WaitOn},
};

pub fn perms(p: u32) -> String {
    format!("{p:04o}")
}

/// The model and findings as the JSON document of `ipctop snapshot --json`.
pub fn to_json(m: &Model, findings: &[Finding]) -> Doc {
    let now = m.now_mono_ns();
    let alive = |pid: u32| m.process(pid).is_some_and(|p| p.alive());
    let container = |ns: NsId| super::container(m, ns);
    let shm: Vec<ShmJson> = m
        .segments()
        .map(|s| ShmJson {
            atime: s.atime,
            attached_pids: s.attached_pids(),
            attached_pids_complete: s.attachments_complete,
            container: container(s.id.ns),
            creator_alive: m.alive_at(s.creator_pid, s.ctime),
            creator_pid: s.creator_pid,
            creator_uid: s.creator_uid,
            ctime: s.ctime,
            dtime: s.dtime,
            futex_waits: m.segment_futex_waits(s.id).into_iter().cloned().collect(),
            hugetlb: s.hugetlb,
            ipc_ns: s.id.ns,
            key: s.key,
            last_pid: s.last_pid,
            locked: s.locked,
            marked_for_destroy: s.marked_for_destroy,
            nattch: s.nattch,
            owner_gid: s.owner_gid,
            owner_uid: s.owner_uid,
            perms: perms(s.perms),
            rss: s.rss,
            shmid: s.id.id,
            size: s.size,
            swap: s.swap,
        })
        .collect();
    let sem: Vec<SemSetJson> = m
        .sem_sets()
        .map(|s| SemSetJson {
            container: container(s.id.ns),
            creator_pid: s.creator_pid,
            creator_uid: s.creator_uid,
            ctime: s.ctime,
            ipc_ns: s.id.ns,
            key: s.key,
            nsems: s.nsems,
            otime: s.otime,
            owner_gid: s.owner_gid,
            owner_uid: s.owner_uid,
            perms: perms(s.perms),
            semaphores: s.semaphores.as_ref().map(|v| {
                v.iter()
                    .map(|x| {
                        let h = m.holders(s.id, x.semnum);
                        SemaphoreJson {
                            holders_source: h.as_ref().map(|h| h.source),
                            holders_role: h.as_ref().and_then(|h| h.role),
                            holders: h.map(|h| h.pids),
                            last_pid: x.last_pid,
                            ncnt: x.ncnt,
                            semnum: x.semnum,
                            value: x.value,
                            zcnt: x.zcnt,
                        }
                    })
                    .collect()
            }),
            semid: s.id.id,
        })
        .collect();
    let msg: Vec<QueueJson> = m
        .queues()
        .map(|q| QueueJson {
            cbytes: q.cbytes,
            container: container(q.id.ns),
            ctime: q.ctime,
            ipc_ns: q.id.ns,
            key: q.key,
            last_recv_alive: alive(q.last_recv_pid),
            last_recv_pid: q.last_recv_pid,
            last_send_alive: alive(q.last_send_pid),
            last_send_pid: q.last_send_pid,
            msqid: q.id.id,
            owner_uid: q.owner_uid,
            perms: perms(q.perms),
            qbytes: q.qbytes,
            qnum: q.qnum,
            rtime: q.rtime,
            stime: q.stime,
        })
        .collect();
    let waits: Vec<WaitJson> = m.waits().map(|w| wait_json(m, w, now)).collect();
    let processes: Vec<ProcessJson> = involved(m)
        .into_iter()
        .filter_map(|pid| m.process(pid))
        .map(|p| {
            let ns = m.process_ns(p.pid);
            ProcessJson {
                attached_shmids: p.attachments.as_ref().map(|_| p.attached_shmids()),
                cmdline: p.cmdline.clone(),
                comm: p.comm.clone(),
                container: container(ns),
                ipc_ns: p.ipc_ns,
                pid: p.pid,
                uid: p.uid,
                waiting: m.waits().any(|w| w.pid == p.pid),
            }
        })
        .collect();
    let leaks = super::leaks(m, findings);
    let deadlocks = super::deadlocks(m, findings);
    let limits: BTreeMap<&str, Value> = analysis::limit_usage(m)
        .into_iter()
        .map(|u| {
            (
                u.limit,
                json!({"what": u.what, "used": u.used, "max": u.max}),
            )
        })
        .collect();
    let l = m.limits().cloned().unwrap_or_default();
    let others = m.other_namespaces();
    let doc = Doc {
        schema_version: 2,
        taken_at_unix_s: m.now_unix_s(),
        ipc_namespace: json!({
            "inode": m.view_ns(),
            "home": m.home_ns(),
            "of_pid": m.ns_pid(),
            "scope": m.scope(),
            "namespaces": m.namespaces().into_iter().filter(|n| n.in_scope).collect::<Vec<_>>(),
            "other_namespaces_with_processes": others.len(),
            "processes_in_other_namespaces": others.iter().map(|o| o.processes).sum::<usize>(),
        }),
        shm_segments: shm,
        semaphore_sets: sem,
        message_queues: msg,
        processes,
        waits,
        leaks,
        deadlocks,
        findings: findings.iter().map(|f| super::finding(m, f)).collect(),
        limits: json!({
            "usage": limits,
            "semmsl": l.semmsl,
            "semopm": l.semopm,
            "shmmax": l.shmmax,
            "page_size": l.page_size,
        }),
        unknown: m
            .unknowns()
            .iter()
            .map(|u| json!({"what": u.what, "reason": u.reason, "pids": u.pids}))
            .collect(),
        problems: m.problems().to_vec(),
        posix: super::posix::doc(m),
    };
    doc
}

// The entries of the long lists as structs rather than `json!` maps (a map per object and a
// string per key cost more than the rest of the command): their fields are in the order
// serde_json gives a `json!` map (sorted by name), so that the document is the same.

/// One `shm_segments[]` entry.
#[derive(Debug, serde::Serialize)]
pub struct ShmJson {
    pub atime: i64,
    pub attached_pids: Vec<u32>,
    pub attached_pids_complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub creator_alive: bool,
    pub creator_pid: u32,
    pub creator_uid: u32,
    pub ctime: i64,
    pub dtime: i64,
    /// Threads in futex waits on an address in the segment (a process-shared semaphore or
    /// mutex inside it, as PostgreSQL's): POSIX waiters on a System V segment.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub futex_waits: Vec<crate::posix::FutexWait>,
    pub hugetlb: Option<bool>,
    pub ipc_ns: NsId,
    pub key: i32,
    pub last_pid: u32,
    pub locked: bool,
    pub marked_for_destroy: bool,
    pub nattch: u64,
    pub owner_gid: u32,
    pub owner_uid: u32,
    pub perms: String,
    pub rss: Option<u64>,
    pub shmid: i32,
    pub size: u64,
    pub swap: Option<u64>,
}

/// One `semaphore_sets[]` entry.
#[derive(Debug, serde::Serialize)]
pub struct SemSetJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub creator_pid: Option<u32>,
    pub creator_uid: u32,
    pub ctime: i64,
    pub ipc_ns: NsId,
    pub key: i32,
    pub nsems: u32,
    pub otime: i64,
    pub owner_gid: u32,
    pub owner_uid: u32,
    pub perms: String,
    pub semaphores: Option<Vec<SemaphoreJson>>,
    pub semid: i32,
}

/// One `semaphore_sets[].semaphores[]` entry.
#[derive(Debug, serde::Serialize)]
pub struct SemaphoreJson {
    pub holders: Option<Vec<u32>>,
    /// `lock` (the holders hold it) or `signal` (they raise it); `null`: a guess.
    pub holders_role: Option<SemRole>,
    pub holders_source: Option<HolderSource>,
    pub last_pid: u32,
    pub ncnt: i32,
    pub semnum: u16,
    pub value: i32,
    pub zcnt: i32,
}

/// One `message_queues[]` entry.
#[derive(Debug, serde::Serialize)]
pub struct QueueJson {
    pub cbytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub ctime: i64,
    pub ipc_ns: NsId,
    pub key: i32,
    pub last_recv_alive: bool,
    pub last_recv_pid: u32,
    pub last_send_alive: bool,
    pub last_send_pid: u32,
    pub msqid: i32,
    pub owner_uid: u32,
    pub perms: String,
    pub qbytes: Option<u64>,
    pub qnum: u64,
    pub rtime: i64,
    pub stime: i64,
}

/// One `processes[]` entry.
#[derive(Debug, serde::Serialize)]
pub struct ProcessJson {
    pub attached_shmids: Option<Vec<i32>>,
    pub cmdline: Option<String>,
    pub comm: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Its IPC namespace (inode), `null` when unreadable.
    pub ipc_ns: Option<NsId>,
    pub pid: u32,
    pub uid: Option<u32>,
    pub waiting: bool,
}

/// One `waits[]` entry: the fields of its kind (sem: semid…; msgrcv/msgsnd: msqid…).
#[derive(Debug, serde::Serialize)]
pub struct WaitJson {
    pub comm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holders: Option<Option<Vec<u32>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holders_source: Option<Option<HolderSource>>,
    pub ipc_ns: NsId,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msgsz: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msgtyp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msqid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nsops: Option<u64>,
    pub pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sem_op: Option<Option<i16>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semnum: Option<Option<u16>>,
    pub since_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sops: Option<Option<Vec<Sop>>>,
    pub source: Source,
    pub tid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timed: Option<bool>,
    /// Seconds it has waited at least (exact when `since_s` is set: the probe saw it begin;
    /// else from its scheduler clock or since a snapshot first saw it).
    pub waited_s: f64,
    pub wchan: Option<String>,
}

fn wait_json(m: &Model, w: &Wait, now: u64) -> WaitJson {
    let mut v = WaitJson {
        comm: m.process(w.pid).map(|p| p.comm.clone()),
        container: super::container(m, w.ns),
        ipc_ns: w.ns,
        kind: w.on.kind(),
        pid: w.pid,
        since_s: w.since_s(now),
        source: w.source,
        tid: w.tid,
        waited_s: w.at_least_s(now),
        wchan: w.wchan.clone(),
        holders: None,
        holders_source: None,
        msgsz: None,
        msgtyp: None,
        msqid: None,
        nsops: None,
        sem_op: None,
        semid: None,
        semnum: None,
        sops: None,
        timed: None,
    };
    match &w.on {
        WaitOn::Sem {
            semid,
            sops,
            nsops,
            timed,
        } => {
            let (op, h) = m.wait_holders(w).unzip();
            let h = h.flatten();
            v.semid = Some(*semid);
            v.semnum = Some(op.map(|o| o.semnum));
            v.sem_op = Some(op.map(|o| o.sem_op));
            v.nsops = Some(*nsops);
            v.sops = Some(sops.clone());
            v.timed = Some(*timed);
            if op.is_some() {
                v.holders = Some(h.as_ref().map(|h| h.pids.clone()));
                v.holders_source = Some(h.as_ref().map(|h| h.source));
            }
        }
        WaitOn::MsgRcv {
            msqid,
            msgtyp,
            msgsz,
        } => {
            v.msqid = Some(*msqid);
            v.msgtyp = Some(*msgtyp);
            v.msgsz = Some(*msgsz);
        }
        WaitOn::MsgSnd { msqid, msgsz } => {
            v.msqid = Some(*msqid);
            v.msgsz = Some(*msgsz);
        }
    }
    v
}

/// The JSON document, its top level in this order (serde_json sorts the keys of a `json!`
/// map); serialise it directly (`serde_json::to_value` would sort them again).
#[derive(Debug, serde::Serialize)]
pub struct Doc {
    pub schema_version: u32,
    pub taken_at_unix_s: f64,
    pub ipc_namespace: Value,
    pub shm_segments: Vec<ShmJson>,
    pub semaphore_sets: Vec<SemSetJson>,
    pub message_queues: Vec<QueueJson>,
    pub processes: Vec<ProcessJson>,
    pub waits: Vec<WaitJson>,
    pub leaks: Vec<LeakDoc>,
    pub deadlocks: Vec<DeadlockDoc>,
    pub findings: Vec<FindingDoc>,
    pub limits: Value,
    pub unknown: Vec<Value>,
    pub problems: Vec<String>,
    /// POSIX IPC, when it was looked at (`ipctop snapshot` does; see `output/posix.rs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posix: Option<super::posix::PosixDoc>,
}

/// The processes worth listing: attached, waiting, or named by an object (creator, last
/// user, holder) in the viewed namespace; sorted.
pub fn involved(m: &Model) -> Vec<u32> {
    let mut s = std::collections::BTreeSet::new();
    for p in m.processes() {
        if p.attachments.as_ref().is_some_and(|a| !a.is_empty()) {
            s.insert(p.pid);
        }
    }
    for w in m.waits() {
        s.insert(w.pid);
    }
    for x in m.segments() {
        s.extend([x.creator_pid, x.last_pid]);
    }
    for x in m.sem_sets() {
        s.extend(x.creator_pid);
        s.extend(x.semaphores.iter().flatten().map(|y| y.last_pid));
    }
    for x in m.queues() {
        s.extend([x.last_send_pid, x.last_recv_pid]);
        s.extend(x.creator_pid);
    }
    s.into_iter()
        .filter(|&p| p != 0 && m.process(p).is_some())
        .collect()
}
