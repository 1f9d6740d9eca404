//! `ipctop snapshot`: one look at the IPC objects, who uses them, waits, leaks and deadlocks,
//! as tables (ipcs, but joined) or JSON (`schema_version` 1). Reads only: it never creates,
//! changes or removes an IPC object.
use std::{
    fmt::Write as _,
    io::{self, Write},
};

pub use crate::output::snapshot::{to_json, Doc};
use crate::{
    analysis::{self, Finding, IpcKind, What},
    exit,
    model::{Model, WaitOn},
    output::snapshot::{involved, perms},
    snapshot,
};

#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// Print JSON (schema_version 1) instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub scope: super::ScopeArgs,
    /// Report waits at least this long (seconds; the same default as the dashboard, `replay`
    /// and `report`).
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
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
    let snap = snapshot::take(&snapshot::Options::default())?;
    let mut model = Model::new();
    model.set_scope(args.scope.scope());
    model.apply(&crate::feed::Stamped {
        mono_ns: snap.mono_ns,
        update: crate::feed::Update::Snapshot(Box::new(snap)),
    });
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
                WaitOn::Sem { semid, .. } => match m.wait_holders(w) {
                    Some((op, h)) => (
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
                    ),
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
