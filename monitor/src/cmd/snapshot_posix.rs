//! The POSIX tables of `ipctop snapshot`: queues, /dev/shm objects and named semaphores,
//! futex waits in shared memory (System V segments included), POSIX findings, unknowns.
use std::fmt::Write as _;

use super::snapshot::{table, time, user};
use crate::{
    model::Model,
    output::posix::{age_s, QUEUE_BYTES},
    posix::{Blocked, Opener, ShmKind, SyncKind},
    text::escape,
};

fn openers(v: &[Opener], complete: bool) -> String {
    if v.is_empty() {
        return if complete { "-" } else { "?" }.into();
    }
    v.iter()
        .map(|o| format!("{}:{}", o.pid, o.access))
        .collect::<Vec<_>>()
        .join(",")
}

fn blocked(m: &Model, v: &[Blocked]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let now = m.posix().map_or(0, |p| p.unix_ns);
    v.iter()
        .map(|b| {
            let comm = m
                .posix()
                .and_then(|p| p.proc(b.pid))
                .map(|p| escape(&p.comm).into_owned())
                .unwrap_or_default();
            match age_s(now, b.asleep_since_unix_ns) {
                Some(s) => format!("{}/{} {comm} ≥{s:.1}s", b.pid, b.tid),
                None => format!("{}/{} {comm}", b.pid, b.tid),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appends the POSIX tables (nothing when POSIX IPC was not looked at).
pub fn tables(m: &Model, o: &mut String) {
    let Some(p) = m.posix() else {
        return;
    };
    let complete = p.users_complete();
    let rows: Vec<Vec<String>> = m
        .posix_queues()
        .map(|q| {
            let a = |f: fn(&crate::posix::MqAttr) -> i64| {
                q.attr.as_ref().map_or("?".into(), |a| f(a).to_string())
            };
            vec![
                escape(&q.name).into_owned(),
                q.ipc_ns.to_string(),
                a(|a| a.curmsgs),
                a(|a| a.maxmsg),
                a(|a| a.msgsize),
                format!("{:04o}", q.mode),
                user(q.uid),
                openers(&q.openers, complete),
                blocked(m, &q.receivers),
                blocked(m, &q.senders),
                time(q.mtime_s),
            ]
        })
        .collect();
    let _ = writeln!(
        o,
        "\nPOSIX message queues: {} (bytes {QUEUE_BYTES})",
        rows.len()
    );
    if !rows.is_empty() {
        table(
            o,
            &[
                "NAME",
                "IPC NS",
                "MSGS",
                "MAXMSG",
                "MSGSIZE",
                "PERMS",
                "OWNER",
                "OPEN BY",
                "RECEIVERS",
                "SENDERS",
                "LAST SEND/RECV",
            ],
            &rows,
        );
    }
    let rows: Vec<Vec<String>> = m
        .posix_shm()
        .map(|s| {
            let kind = match s.kind {
                ShmKind::Shm => "shm",
                ShmKind::Semaphore => "semaphore",
                ShmKind::Deleted => "deleted",
            };
            let mut mapped: Vec<u32> = s.mappers.iter().map(|x| x.pid).collect();
            mapped.dedup();
            let waiters = m.shm_object_futex_waits(s.dev, s.ino);
            vec![
                escape(&s.name).into_owned(),
                kind.into(),
                humansize::format_size(s.size, humansize::BINARY),
                format!("{:04o}", s.mode),
                user(s.uid),
                openers(&s.openers, complete),
                if mapped.is_empty() {
                    if complete { "-" } else { "?" }.into()
                } else {
                    mapped
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                },
                s.sem.map_or("-".into(), |w| w.value.to_string()),
                match (s.sem, waiters.len()) {
                    (Some(w), n) => format!("{} ({n} seen)", w.nwaiters),
                    (None, 0) => "-".into(),
                    (None, n) => format!("{n} seen"),
                },
                if s.kind == ShmKind::Deleted {
                    "-".into()
                } else {
                    time(s.last_touched_s())
                },
            ]
        })
        .collect();
    let _ = writeln!(
        o,
        "\nPOSIX shared memory and named semaphores (/dev/shm): {}",
        rows.len()
    );
    if !rows.is_empty() {
        table(
            o,
            &[
                "NAME",
                "KIND",
                "SIZE",
                "PERMS",
                "OWNER",
                "OPEN BY",
                "MAPPED BY",
                "VALUE",
                "WAITERS",
                "LAST USE",
            ],
            &rows,
        );
    }
    let rows: Vec<Vec<String>> = m
        .futex_waits()
        .map(|w| {
            let (kind, detail) = match w.sync {
                SyncKind::Semaphore { value, nwaiters } => (
                    "semaphore",
                    format!(
                        "value {} waiters {}",
                        value.map_or("?".into(), |v| v.to_string()),
                        nwaiters.map_or("?".into(), |v| v.to_string())
                    ),
                ),
                SyncKind::RobustMutex { owner } => (
                    "robust mutex",
                    owner.map_or("owner ?".into(), |t| format!("owner tid {t}")),
                ),
                SyncKind::PiMutex { owner } => (
                    "PI mutex",
                    owner.map_or("owner ?".into(), |t| format!("owner tid {t}")),
                ),
                SyncKind::Other => (
                    "futex",
                    w.word
                        .map_or("word ?".into(), |x| format!("word {:#x}", x & 0xffff_ffff)),
                ),
            };
            vec![
                w.pid.to_string(),
                w.tid.to_string(),
                escape(&w.comm).into_owned(),
                escape(&w.on.describe()).into_owned(),
                format!("{:#x}", w.offset),
                kind.into(),
                detail,
                age_s(p.unix_ns, w.asleep_since_unix_ns)
                    .map_or("?".into(), |s| format!("≥{s:.1}s")),
            ]
        })
        .collect();
    let _ = writeln!(o, "\nWaits in shared memory (futex): {}", rows.len());
    if !rows.is_empty() {
        table(
            o,
            &[
                "PID", "TID", "COMM", "IN", "OFFSET", "KIND", "STATE", "WAITING",
            ],
            &rows,
        );
    }
    let f = crate::analysis::posix::findings(m);
    let _ = writeln!(o, "\nPOSIX findings: {}", f.len());
    for x in f {
        let pids = if x.pids.is_empty() {
            String::new()
        } else {
            format!(
                " [pids {}]",
                x.pids
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        let since = x
            .since_unix_s
            .map(|s| format!(" since {}", time(s)))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  {} {}{since}{pids}: {}",
            x.kind.to_uppercase(),
            escape(&x.object),
            escape(&x.reason)
        );
    }
    if !p.unknowns.is_empty() {
        let _ = writeln!(o, "\nPOSIX unknown:");
        for u in &p.unknowns {
            let _ = writeln!(o, "  {}", escape(u));
        }
    }
}
