//! `ipctop snapshot`: one look at the IPC objects, who uses them, waits, leaks and deadlocks,
//! as tables (ipcs, but joined) or JSON (`schema_version` 1). Reads only: it never creates,
//! changes or removes an IPC object.
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::{self, Write},
};

use serde_json::{json, Value};

use crate::{
    analysis::{self, Finding, IpcKind, What},
    exit,
    model::{HolderSource, Model, WaitOn},
    snapshot,
};

#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// Print JSON (schema_version 1) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Show the IPC namespace of this process instead of ours (needs root).
    #[arg(long, value_name = "PID")]
    pub ipc_ns: Option<u32>,
    /// Report waits at least this long (seconds).
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub long_wait: f64,
    /// A semaphore set unused this long, whose users are gone, is a leak (seconds).
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    pub sem_idle: f64,
}

pub fn run(args: SnapshotArgs) -> anyhow::Result<u8> {
    for (v, name) in [
        (args.long_wait, "--long-wait"),
        (args.sem_idle, "--sem-idle"),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(exit::Fatal::new(
                exit::USAGE,
                format!("{name} must be a number of seconds"),
            )
            .into());
        }
    }
    let snap = snapshot::take(&snapshot::Options {
        ipc_ns_pid: args.ipc_ns,
    })?;
    let mut model = Model::new();
    model.apply_snapshot(&snap);
    let cfg = analysis::Config {
        sem_idle_s: args.sem_idle,
        long_wait_s: args.long_wait,
        ..Default::default()
    };
    let findings = analysis::analyze(&model, &cfg);
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&to_json(&model, &findings))?;
        s.push('\n');
        crate::text::json_inert(&s).into_owned()
    } else {
        crate::text::inert(&tables(&model, &findings)).into_owned()
    };
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e.into()),
    }
    Ok(exit::OK)
}

fn perms(p: u32) -> String {
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
                    let op = m.blocking_sop(w);
                    v["semid"] = json!(semid);
                    v["semnum"] = json!(op.map(|o| o.semnum));
                    v["sem_op"] = json!(op.map(|o| o.sem_op));
                    v["nsops"] = json!(nsops);
                    v["sops"] = json!(sops);
                    v["timed"] = json!(timed);
                    if let Some(op) = op {
                        let h = m.holders(
                            crate::model::ObjId {
                                ns: w.ns,
                                id: *semid,
                            },
                            op.semnum,
                        );
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
    let leaks = leaks_json(findings);
    let deadlocks = deadlocks_json(findings);
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

/// `leaks[]` of the JSON documents: {kind, id, reason}.
pub fn leaks_json(findings: &[Finding]) -> Vec<Value> {
    findings
        .iter()
        .filter_map(|f| match &f.what {
            What::Leak { ipc, id } => Some(json!({"kind": ipc, "id": id, "reason": f.reason})),
            _ => None,
        })
        .collect()
}

/// `deadlocks[]` of the JSON documents: {pids, cycle, reason}.
pub fn deadlocks_json(findings: &[Finding]) -> Vec<Value> {
    findings
        .iter()
        .filter_map(|f| match &f.what {
            What::Deadlock { pids, cycle } => {
                Some(json!({"pids": pids, "cycle": cycle, "reason": f.reason}))
            }
            _ => None,
        })
        .collect()
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
    pub leaks: Vec<Value>,
    pub deadlocks: Vec<Value>,
    pub findings: Value,
    pub limits: Value,
    pub unknown: Vec<Value>,
    pub problems: Vec<String>,
}

/// The processes worth listing: attached, waiting, or named by an object (creator, last
/// user, holder) in the viewed namespace; sorted.
fn involved(m: &Model) -> Vec<u32> {
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

fn user(uid: u32) -> String {
    match nix::unistd::User::from_uid(uid.into()) {
        Ok(Some(u)) => u.name,
        _ => uid.to_string(),
    }
}

fn who(m: &Model, pid: u32, at_s: i64) -> String {
    if pid == 0 {
        return "-".into();
    }
    match m.process(pid) {
        Some(p) if m.alive_at(pid, at_s) => format!("{pid} {}", crate::text::escape(&p.comm)),
        _ => format!("{pid} (gone)"),
    }
}

fn key(k: i32) -> String {
    if k == 0 {
        "IPC_PRIVATE".into()
    } else {
        format!("{:#010x}", k as u32)
    }
}

fn pids(v: &[u32]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Left-aligned columns.
fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate() {
            let _ = write!(l, "{c:<width$}  ", width = w[i]);
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(out, &mut head.iter().copied());
    for r in rows {
        line(out, &mut r.iter().map(|s| s.as_str()));
    }
}

/// The human tables.
pub fn tables(m: &Model, findings: &[Finding]) -> String {
    let mut o = String::new();
    let others = m.other_namespaces();
    let _ = write!(o, "IPC namespace {}", m.view_ns());
    match m.ns_pid() {
        Some(p) => {
            let _ = write!(o, " (of pid {p})");
        }
        None => o.push_str(" (ours)"),
    }
    if !others.is_empty() {
        let n: usize = others.iter().map(|x| x.processes).sum();
        let _ = write!(
            o,
            "; {} other namespace(s) have {n} process(es): see them with --ipc-ns PID",
            others.len()
        );
    }
    o.push_str("\n\n");

    let rows: Vec<Vec<String>> = m
        .segments()
        .map(|s| {
            let mut status = Vec::new();
            if s.marked_for_destroy {
                status.push("dest");
            }
            if s.locked {
                status.push("locked");
            }
            if s.hugetlb == Some(true) {
                status.push("hugetlb");
            }
            vec![
                s.id.id.to_string(),
                key(s.key),
                humansize::format_size(s.size, humansize::BINARY),
                perms(s.perms),
                user(s.owner_uid),
                s.nattch.to_string(),
                pids(&s.attached_pids()),
                who(m, s.creator_pid, s.ctime),
                who(m, s.last_pid, s.atime.max(s.dtime)),
                status.join(","),
            ]
        })
        .collect();
    let _ = writeln!(o, "Shared memory segments: {}", rows.len());
    if !rows.is_empty() {
        table(
            &mut o,
            &[
                "SHMID",
                "KEY",
                "SIZE",
                "PERMS",
                "OWNER",
                "NATTCH",
                "ATTACHED BY",
                "CREATOR",
                "LAST",
                "STATUS",
            ],
            &rows,
        );
    }

    let mut rows = Vec::new();
    for s in m.sem_sets() {
        let head = vec![
            s.id.id.to_string(),
            key(s.key),
            s.nsems.to_string(),
            perms(s.perms),
            user(s.owner_uid),
        ];
        match &s.semaphores {
            None => {
                let mut r = head;
                r.extend([
                    "?".into(),
                    "?".into(),
                    "?".into(),
                    "?".into(),
                    "?".into(),
                    "unknown".into(),
                ]);
                rows.push(r);
            }
            Some(v) => {
                for (i, x) in v.iter().enumerate() {
                    let mut r = if i == 0 {
                        head.clone()
                    } else {
                        vec![String::new(); 5]
                    };
                    let h = m.holders(s.id, x.semnum);
                    r.extend([
                        x.semnum.to_string(),
                        x.value.to_string(),
                        x.ncnt.to_string(),
                        x.zcnt.to_string(),
                        who(m, x.last_pid, s.otime),
                        match h {
                            Some(h) if x.ncnt > 0 || x.zcnt > 0 => format!(
                                "{}{}",
                                pids(&h.pids),
                                if h.source == crate::model::HolderSource::LastPidGuess {
                                    " (guess)"
                                } else {
                                    ""
                                }
                            ),
                            _ => "-".into(),
                        },
                    ]);
                    rows.push(r);
                }
            }
        }
    }
    let _ = writeln!(o, "\nSemaphore sets: {}", m.sem_sets().count());
    if !rows.is_empty() {
        table(
            &mut o,
            &[
                "SEMID", "KEY", "NSEMS", "PERMS", "OWNER", "SEM", "VALUE", "NCNT", "ZCNT",
                "LAST PID", "HOLDER",
            ],
            &rows,
        );
    }

    let rows: Vec<Vec<String>> = m
        .queues()
        .map(|q| {
            vec![
                q.id.id.to_string(),
                key(q.key),
                perms(q.perms),
                user(q.owner_uid),
                q.qnum.to_string(),
                q.cbytes.to_string(),
                q.qbytes.map_or("?".into(), |b| b.to_string()),
                who(m, q.last_send_pid, q.stime),
                who(m, q.last_recv_pid, q.rtime),
            ]
        })
        .collect();
    let _ = writeln!(o, "\nMessage queues: {}", rows.len());
    if !rows.is_empty() {
        table(
            &mut o,
            &[
                "MSQID",
                "KEY",
                "PERMS",
                "OWNER",
                "MSGS",
                "BYTES",
                "MAX BYTES",
                "LAST SEND",
                "LAST RECV",
            ],
            &rows,
        );
    }

    let now = m.now_mono_ns();
    let rows: Vec<Vec<String>> = m
        .waits()
        .map(|w| {
            let comm = m
                .process(w.pid)
                .map_or(String::new(), |p| crate::text::escape(&p.comm).into_owned());
            let (what, holder) = match &w.on {
                WaitOn::Sem { semid, .. } => match m.blocking_sop(w) {
                    Some(op) => {
                        let h = m.holders(
                            crate::model::ObjId {
                                ns: w.ns,
                                id: *semid,
                            },
                            op.semnum,
                        );
                        (
                            format!("sem {semid}[{}] op {}", op.semnum, op.sem_op),
                            h.map_or("-".into(), |h| {
                                format!(
                                    "{}{}",
                                    pids(&h.pids),
                                    if h.source == crate::model::HolderSource::LastPidGuess {
                                        " (guess)"
                                    } else {
                                        ""
                                    }
                                )
                            }),
                        )
                    }
                    None => (format!("sem {semid}"), "-".into()),
                },
                WaitOn::MsgRcv { msqid, msgtyp, .. } => {
                    (format!("msgrcv {msqid} type {msgtyp}"), "-".into())
                }
                WaitOn::MsgSnd { msqid, .. } => (format!("msgsnd {msqid}"), "-".into()),
            };
            vec![
                w.pid.to_string(),
                w.tid.to_string(),
                comm,
                what,
                w.since_s(now).map_or("?".into(), |s| format!("{s:.1}s")),
                holder,
            ]
        })
        .collect();
    let _ = writeln!(o, "\nBlocked: {}", rows.len());
    if !rows.is_empty() {
        table(
            &mut o,
            &["PID", "TID", "COMM", "WAITS ON", "SINCE", "HOLDER"],
            &rows,
        );
    }

    let rows: Vec<Vec<String>> = involved(m)
        .into_iter()
        .filter_map(|pid| m.process(pid))
        .map(|p| {
            vec![
                p.pid.to_string(),
                crate::text::escape(&p.comm).into_owned(),
                p.uid.map_or("?".into(), user),
                match &p.attachments {
                    None => "?".into(),
                    Some(_) => {
                        let v = p.attached_shmids();
                        if v.is_empty() {
                            "-".into()
                        } else {
                            v.iter()
                                .map(|x| x.to_string())
                                .collect::<Vec<_>>()
                                .join(",")
                        }
                    }
                },
                crate::text::escape(p.cmdline.as_deref().unwrap_or_default()).into_owned(),
            ]
        })
        .collect();
    let _ = writeln!(o, "\nProcesses: {}", rows.len());
    if !rows.is_empty() {
        table(
            &mut o,
            &["PID", "COMM", "USER", "ATTACHED", "COMMAND"],
            &rows,
        );
    }

    let _ = writeln!(o, "\nFindings: {}", findings.len());
    for f in findings {
        let tag = match &f.what {
            What::Leak { ipc, id } => format!(
                "leak {} {id}",
                match ipc {
                    IpcKind::Shm => "shm",
                    IpcKind::Sem => "sem",
                    IpcKind::Msg => "msg",
                }
            ),
            What::Deadlock { pids: p, .. } => format!("deadlock {}", pids(p)),
            What::LongWait { pid, .. } => format!("long wait {pid}"),
            What::UsedBeforeInit { semid, .. } => format!("uninitialised sem {semid}"),
            What::LimitNear { limit, .. } => format!("limit {limit}"),
        };
        let _ = writeln!(o, "  {tag}: {}", f.reason);
    }

    let _ = writeln!(o, "\nLimits:");
    for u in analysis::limit_usage(m) {
        let _ = writeln!(
            o,
            "  {:<7} {} of {} {}",
            u.limit,
            u.used,
            u.max.map_or("?".into(), |x| x.to_string()),
            u.what
        );
    }
    if !m.unknowns().is_empty() {
        let _ = writeln!(o, "\nUnknown:");
        for u in m.unknowns() {
            let _ = writeln!(o, "  {}: {}", u.what, u.reason);
        }
    }
    if !m.problems().is_empty() {
        let _ = writeln!(o, "\nUnreadable:");
        for p in m.problems() {
            let _ = writeln!(o, "  {p}");
        }
    }
    o
}
