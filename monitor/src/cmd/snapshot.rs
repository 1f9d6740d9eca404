//! `ipctop snapshot`: one look at the IPC objects, who uses them, waits, leaks and deadlocks,
//! as tables (ipcs, but joined) or JSON (`schema_version` 2). Reads only: it never creates,
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
    /// Print JSON (schema_version 2) instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub scope: super::ScopeArgs,
    /// Report waits at least this long (seconds; the same default as the dashboard, `replay`
    /// and `report`).
    #[arg(long, default_value_t = crate::analysis::LONG_WAIT_S, value_name = "SECS", value_parser = super::threshold_secs)]
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
    model.set_scope(args.scope.select_namespaces()?);
    model.apply(&crate::feed::Stamped {
        mono_ns: snap.mono_ns,
        update: crate::feed::Update::Snapshot(Box::new(snap)),
    });
    let posix = crate::posix::take();
    model.apply(&crate::feed::Stamped {
        mono_ns: posix.mono_ns,
        update: crate::feed::Update::Posix(Box::new(posix)),
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
        let mut t = tables(&model, &findings);
        super::snapshot_posix::tables(&model, &mut t);
        crate::text::inert(&t).into_owned()
    };
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e.into()),
    }
    Ok(exit::OK)
}

pub(super) fn user(uid: u32) -> String {
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

/// A kernel time (unix seconds; 0 never) as `ipcs -t` shows it, in local time.
pub(super) fn time(t: i64) -> String {
    if t == 0 {
        return "never".into();
    }
    let tm = nix::libc::time_t::from(t);
    // SAFETY: libc::tm is plain data; all zeroes is a valid value.
    let mut out = unsafe { std::mem::zeroed::<libc::tm>() };
    // SAFETY: localtime_r writes into our struct from a valid time_t.
    if unsafe { libc::localtime_r(&tm, &mut out) }.is_null() {
        return t.to_string();
    }
    format!(
        "{:02}-{:02} {:02}:{:02}:{:02}",
        out.tm_mon + 1,
        out.tm_mday,
        out.tm_hour,
        out.tm_min,
        out.tm_sec
    )
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
pub(super) fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
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

/// A namespace as the tables name it: its container label, else its inode.
fn ns_name(m: &Model, ns: crate::model::NsId) -> String {
    m.container_of(ns)
        .map_or_else(|| ns.to_string(), |l| crate::text::escape(l).into_owned())
}

/// The tables with an NS column first when objects of several namespaces are shown.
fn ns_table(
    out: &mut String,
    multi: bool,
    head: &[&str],
    mut rows: Vec<(u64, Vec<String>)>,
    m: &Model,
) {
    if multi {
        let mut h = vec!["NS"];
        h.extend_from_slice(head);
        let rows: Vec<Vec<String>> = rows
            .drain(..)
            .map(|(ns, mut r)| {
                let first = if r.first().is_some_and(|c| !c.is_empty()) {
                    ns_name(m, ns)
                } else {
                    String::new()
                };
                r.insert(0, first);
                r
            })
            .collect();
        table(out, &h, &rows);
    } else {
        let rows: Vec<Vec<String>> = rows.into_iter().map(|(_, r)| r).collect();
        table(out, head, &rows);
    }
}

/// The human tables.
pub fn tables(m: &Model, findings: &[Finding]) -> String {
    let mut o = String::new();
    let shown: Vec<_> = m.namespaces().into_iter().filter(|n| n.in_scope).collect();
    let multi = shown.iter().filter(|n| n.objects > 0).count() > 1;
    let _ = write!(
        o,
        "{} ({} with processes or objects):",
        crate::text::escape(&m.scope().describe()),
        shown.len()
    );
    for n in &shown {
        let _ = write!(o, " {}", n.ns);
        match (&n.container, n.home) {
            (Some(c), true) => {
                let _ = write!(o, " ({}, ours)", crate::text::escape(c));
            }
            (Some(c), false) => {
                let _ = write!(o, " ({})", crate::text::escape(c));
            }
            (None, true) => o.push_str(" (ours)"),
            (None, false) => {}
        }
        o.push(',');
    }
    o.pop();
    let others = m.other_namespaces();
    if !others.is_empty() {
        let n: usize = others.iter().map(|x| x.processes).sum();
        let _ = write!(
            o,
            "; {} other namespace(s) have {n} process(es): see them without --ipc-ns/--container",
            others.len()
        );
    }
    o.push_str("\n\n");

    let rows: Vec<(u64, Vec<String>)> = m
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
            let r = vec![
                s.id.id.to_string(),
                crate::event::Key(s.key).to_string(),
                humansize::format_size(s.size, humansize::BINARY),
                perms(s.perms),
                user(s.owner_uid),
                s.nattch.to_string(),
                pids(&s.attached_pids()),
                who(m, s.creator_pid, s.ctime),
                who(m, s.last_pid, s.atime.max(s.dtime)),
                time(s.atime),
                time(s.dtime),
                time(s.ctime),
                status.join(","),
            ];
            (s.id.ns, r)
        })
        .collect();
    let _ = writeln!(o, "Shared memory segments: {}", rows.len());
    if !rows.is_empty() {
        ns_table(
            &mut o,
            multi,
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
                "ATTACHED",
                "DETACHED",
                "CHANGED",
                "STATUS",
            ],
            rows,
            m,
        );
    }

    let mut rows = Vec::new();
    for s in m.sem_sets() {
        let head = vec![
            s.id.id.to_string(),
            crate::event::Key(s.key).to_string(),
            s.nsems.to_string(),
            perms(s.perms),
            user(s.owner_uid),
            time(s.otime),
            time(s.ctime),
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
                rows.push((s.id.ns, r));
            }
            Some(v) => {
                for (i, x) in v.iter().enumerate() {
                    let mut r = if i == 0 {
                        head.clone()
                    } else {
                        vec![String::new(); 7]
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
                    rows.push((s.id.ns, r));
                }
            }
        }
    }
    let _ = writeln!(o, "\nSemaphore sets: {}", m.sem_sets().count());
    if !rows.is_empty() {
        ns_table(
            &mut o,
            multi,
            &[
                "SEMID", "KEY", "NSEMS", "PERMS", "OWNER", "SEMOP", "CHANGED", "SEM", "VALUE",
                "NCNT", "ZCNT", "LAST PID", "HOLDER",
            ],
            rows,
            m,
        );
    }

    let rows: Vec<(u64, Vec<String>)> = m
        .queues()
        .map(|q| {
            let r = vec![
                q.id.id.to_string(),
                crate::event::Key(q.key).to_string(),
                perms(q.perms),
                user(q.owner_uid),
                q.qnum.to_string(),
                q.cbytes.to_string(),
                q.qbytes.map_or("?".into(), |b| b.to_string()),
                who(m, q.last_send_pid, q.stime),
                who(m, q.last_recv_pid, q.rtime),
                time(q.stime),
                time(q.rtime),
                time(q.ctime),
            ];
            (q.id.ns, r)
        })
        .collect();
    let _ = writeln!(o, "\nMessage queues: {}", rows.len());
    if !rows.is_empty() {
        ns_table(
            &mut o,
            multi,
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
                "SENT",
                "RECEIVED",
                "CHANGED",
            ],
            rows,
            m,
        );
    }

    let now = m.now_mono_ns();
    let rows: Vec<(u64, Vec<String>)> = m
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
            let r = vec![
                w.pid.to_string(),
                w.tid.to_string(),
                comm,
                what,
                w.since_s(now).map_or("?".into(), |s| format!("{s:.1}s")),
                holder,
            ];
            (w.ns, r)
        })
        .collect();
    let _ = writeln!(o, "\nBlocked: {}", rows.len());
    if !rows.is_empty() {
        ns_table(
            &mut o,
            multi,
            &["PID", "TID", "COMM", "WAITS ON", "SINCE", "HOLDER"],
            rows,
            m,
        );
    }

    let rows: Vec<(u64, Vec<String>)> = involved(m)
        .into_iter()
        .filter_map(|pid| m.process(pid))
        .map(|p| {
            let r = vec![
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
            ];
            (m.process_ns(p.pid), r)
        })
        .collect();
    let _ = writeln!(o, "\nProcesses: {}", rows.len());
    if !rows.is_empty() {
        ns_table(
            &mut o,
            multi,
            &["PID", "COMM", "USER", "ATTACHED", "COMMAND"],
            rows,
            m,
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
            What::Stuck { pid, tid, .. } => format!("stuck {pid}/{tid}"),
            What::Stalled { ipc, id, .. } => format!(
                "stalled {} {id}",
                match ipc {
                    IpcKind::Msg => "msg",
                    _ => "sem",
                }
            ),
            What::LongWait { pid, .. } => format!("long wait {pid}"),
            What::UsedBeforeInit { semid, .. } => format!("uninitialised sem {semid}"),
            What::LimitNear { limit, .. } => format!("limit {limit}"),
        };
        if multi {
            let _ = writeln!(o, "  [{}] {tag}: {}", ns_name(m, f.ipc_ns), f.reason);
        } else {
            let _ = writeln!(o, "  {tag}: {}", f.reason);
        }
    }

    for n in shown.iter().filter(|n| m.limits_of(n.ns).is_some()) {
        if multi {
            let _ = writeln!(o, "\nLimits of {} ({}):", n.ns, ns_name(m, n.ns));
        } else {
            let _ = writeln!(o, "\nLimits:");
        }
        for u in analysis::limit_usage_of(m, n.ns) {
            let _ = writeln!(
                o,
                "  {:<7} {} of {} {}",
                u.limit,
                u.used,
                u.max.map_or("?".into(), |x| x.to_string()),
                u.what
            );
        }
        let l = m.limits_of(n.ns).cloned().unwrap_or_default();
        let opt = |v: Option<u64>| v.map_or("?".into(), |x| x.to_string());
        // SHMMIN and SEMVMX are the kernel's constants (lsipc shows them too).
        let _ = writeln!(
            o,
            "  semmsl {} semaphores per set, semopm {} operations per semop, semvmx 32767 \
             the largest value\n  shmmax {} bytes per segment, shmmin 1, page size {}\n  \
             msgmax {} bytes per message, msgmnb {} bytes per queue (default)",
            opt(l.semmsl),
            opt(l.semopm),
            opt(l.shmmax),
            l.page_size,
            opt(l.msgmax),
            opt(l.msgmnb)
        );
    }
    if !m.unknowns().is_empty() {
        let _ = writeln!(o, "\nUnknown:");
        for u in m.unknowns() {
            let _ = write!(o, "  {}: {}", u.what, u.reason);
            if !u.pids.is_empty() {
                let _ = write!(o, " (pids {})", pids(&u.pids));
            }
            o.push('\n');
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
