//! The document of `ipctop snapshot --json` (`schema_version` 1): the model and its findings.
use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{DeadlockDoc, LeakDoc};
use crate::{
    analysis::{self, Finding},
    model::{HolderSource, Model, WaitOn},
};

pub fn perms(p: u32) -> String {
    format!("{p:04o}")
}

/// The model and findings as the JSON document of `ipctop snapshot --json`.
pub fn to_json(m: &Model, findings: &[Finding]) -> Doc {
    let now = m.now_mono_ns();
    let alive = |pid: u32| m.process(pid).is_some_and(|p| p.alive());
    let shm: Vec<ShmJson> = m
        .segments()
        .map(|s| ShmJson {
            atime: s.atime,
            attached_pids: s.attached_pids(),
            attached_pids_complete: s.attachments_complete,
            creator_alive: m.alive_at(s.creator_pid, s.ctime),
            creator_pid: s.creator_pid,
            creator_uid: s.creator_uid,
            ctime: s.ctime,
            dtime: s.dtime,
            hugetlb: s.hugetlb,
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
            creator_pid: s.creator_pid,
            creator_uid: s.creator_uid,
            ctime: s.ctime,
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
            ctime: q.ctime,
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
    let waits: Vec<Value> = m
        .waits()
        .map(|w| {
            let comm = m.process(w.pid).map(|p| p.comm.clone());
            let mut v = json!({
                "pid": w.pid,
                "tid": w.tid,
                "comm": comm,
                "kind": w.on.kind(),
                "since_s": w.since_s(now),
                "source": w.source,
                "wchan": w.wchan,
            });
            match &w.on {
                WaitOn::Sem {
                    semid,
                    sops,
                    nsops,
                    timed,
                    ..
                } => {
                    let (op, h) = m.wait_holders(w).unzip();
                    let h = h.flatten();
                    v["semid"] = json!(semid);
                    v["semnum"] = json!(op.map(|o| o.semnum));
                    v["sem_op"] = json!(op.map(|o| o.sem_op));
                    v["nsops"] = json!(nsops);
                    v["sops"] = json!(sops);
                    v["timed"] = json!(timed);
                    if op.is_some() {
                        v["holders"] = json!(h.as_ref().map(|h| &h.pids));
                        v["holders_source"] = json!(h.as_ref().map(|h| h.source));
                    }
                }
                WaitOn::MsgRcv {
                    msqid,
                    msgtyp,
                    msgsz,
                } => {
                    v["msqid"] = json!(msqid);
                    v["msgtyp"] = json!(msgtyp);
                    v["msgsz"] = json!(msgsz);
                }
                WaitOn::MsgSnd { msqid, msgsz } => {
                    v["msqid"] = json!(msqid);
                    v["msgsz"] = json!(msgsz);
                }
            }
            v
        })
        .collect();
    let processes: Vec<Value> = involved(m)
        .into_iter()
        .filter_map(|pid| m.process(pid))
        .map(|p| {
            json!({
                "pid": p.pid,
                "comm": p.comm,
                "uid": p.uid,
                "cmdline": p.cmdline,
                "attached_shmids": p.attachments.as_ref().map(|_| p.attached_shmids()),
                "waiting": m.waits().any(|w| w.pid == p.pid),
            })
        })
        .collect();
    let leaks = super::leaks(findings);
    let deadlocks = super::deadlocks(findings);
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
        schema_version: 1,
        taken_at_unix_s: m.now_unix_s(),
        ipc_namespace: json!({
            "inode": m.view_ns(),
            "of_pid": m.ns_pid(),
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
        findings: json!(findings),
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
            .map(|u| json!({"what": u.what, "reason": u.reason}))
            .collect(),
        problems: m.problems().to_vec(),
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
    pub creator_alive: bool,
    pub creator_pid: u32,
    pub creator_uid: u32,
    pub ctime: i64,
    pub dtime: i64,
    pub hugetlb: Option<bool>,
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
    pub creator_pid: Option<u32>,
    pub creator_uid: u32,
    pub ctime: i64,
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
    pub ctime: i64,
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
    pub processes: Vec<Value>,
    pub waits: Vec<Value>,
    pub leaks: Vec<LeakDoc>,
    pub deadlocks: Vec<DeadlockDoc>,
    pub findings: Value,
    pub limits: Value,
    pub unknown: Vec<Value>,
    pub problems: Vec<String>,
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
