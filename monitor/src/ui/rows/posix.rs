//! POSIX IPC (view 8): queues, /dev/shm objects and named semaphores, and the other shared
//! memory threads wait in (a System V segment's process-shared semaphores, a memfd, shared
//! anonymous memory) — one row each, with the columns the System V views have where they
//! mean the same (MSGS, SIZE, users, BLOCKED, the last use, OWNER, PERMS, IPC NS). Every
//! figure is the model's last look at POSIX IPC; nothing is counted here.
use std::collections::BTreeMap;

use super::{
    cx::Cx,
    table::{col, rcol, Column, Row, Table, Value, HIDE},
};
use crate::{
    model::Model,
    posix::{FutexWait, ShmKind, SyncKind, WaitObject},
    ui::{
        theme::Tone,
        view::{PosixId, Target},
    },
};

const COLS: [Column; 11] = [
    col("TYPE", 9, 0).asc(),
    col("NAME", 24, 0).asc(),
    rcol("MSGS", 6, 1),
    col("VALUE", 14, 1),
    rcol("SIZE", 8, 2),
    col("USERS", 14, 1),
    col("BLOCKED", 16, 0).desc(),
    rcol("LAST USE", 9, 3).asc(),
    col("OWNER", 8, 5),
    col("PERMS", 5, 6),
    col("IPC NS", 10, HIDE),
];

/// "3 pids 101,102,+1": waiters as threads, with their processes.
fn blocked(pids: &[u32], what: &str) -> Value {
    if pids.is_empty() {
        return Value::Text("-".into());
    }
    let mut p = pids.to_vec();
    p.sort_unstable();
    p.dedup();
    Value::Int(pids.len() as i64).with(format!(
        "{what}{}",
        crate::ui::fmt::pids(p.iter().copied(), 2)
    ))
}

fn sync_text(w: &FutexWait) -> String {
    match w.sync {
        SyncKind::Semaphore { value, .. } => {
            format!("sem {}", value.map_or("?".into(), |v| v.to_string()))
        }
        SyncKind::RobustMutex { owner } | SyncKind::PiMutex { owner } => {
            format!("held by {}", owner.map_or("?".into(), |t| t.to_string()))
        }
        SyncKind::Other => "futex".into(),
    }
}

/// The object a futex wait falls in, as the detail Enter opens names it.
pub fn wait_target(m: &Model, w: &FutexWait) -> PosixId {
    match &w.on {
        WaitObject::ShmFile { dev, ino, .. } => PosixId::Shm {
            dev: *dev,
            ino: *ino,
        },
        WaitObject::SysvShm { .. } => PosixId::SysvWaits(
            m.futex_wait_segment(w)
                .expect("a wait in a System V segment has one"),
        ),
        WaitObject::Memfd { dev, ino, .. }
        | WaitObject::SharedAnon { dev, ino }
        | WaitObject::File { dev, ino, .. } => PosixId::MemWaits {
            dev: *dev,
            ino: *ino,
        },
    }
}

/// A stable row id: of the object's kind and identity.
fn row_id(key: PosixId) -> u64 {
    let (kind, a, b) = match key {
        PosixId::Queue { ns, ino } => (1u64, ns, ino),
        PosixId::Shm { dev, ino } => (2, dev, ino),
        PosixId::SysvWaits(o) => (3, o.ns, o.id as u64),
        PosixId::MemWaits { dev, ino } => (4, dev, ino),
    };
    kind.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ a.rotate_left(21) ^ b
}

/// Every POSIX object of the namespaces shown, queues first.
pub fn table(cx: &Cx) -> Table {
    let m = &cx.s.model;
    let mut cols = COLS.to_vec();
    cols[10] = cx.ns_column();
    let mut rows = Vec::new();
    for q in m.posix_queues() {
        let mut users: Vec<u32> = q.openers.iter().map(|o| o.pid).collect();
        users.dedup();
        let rcv: Vec<u32> = q.receivers.iter().map(|b| b.pid).collect();
        let snd: Vec<u32> = q.senders.iter().map(|b| b.pid).collect();
        let warn = !rcv.is_empty() || !snd.is_empty();
        let key = PosixId::Queue {
            ns: q.ipc_ns,
            ino: q.ino,
        };
        let cells = vec![
            Value::Text("queue".into()),
            Value::Text(crate::text::escape(&q.name).into_owned()),
            q.attr.map_or(Value::Unknown, |a| Value::Int(a.curmsgs)),
            q.attr.map_or(Value::Unknown, |a| {
                Value::Text(format!("max {}×{}", a.maxmsg, a.msgsize))
            }),
            Value::Unknown,
            Value::Pids(users),
            if snd.is_empty() {
                blocked(&rcv, "rcv ")
            } else {
                blocked(&[rcv, snd.clone()].concat(), "rcv/snd ")
            },
            cx.since(q.mtime_s),
            Value::Text(cx.user(q.uid)),
            Value::Perms(q.mode),
            Value::Text(cx.ns_label(q.ipc_ns)),
        ];
        rows.push(
            Row::new(row_id(key), cells, Some(Target::Posix(key))).tone(if warn {
                Tone::Warn
            } else {
                Tone::Plain
            }),
        );
    }
    for o in m.posix_shm() {
        let waits = m.shm_object_futex_waits(o.dev, o.ino);
        let wpids: Vec<u32> = waits.iter().map(|w| w.pid).collect();
        let mut users: Vec<u32> = o
            .openers
            .iter()
            .map(|x| x.pid)
            .chain(o.mappers.iter().map(|x| x.pid))
            .collect();
        users.sort_unstable();
        users.dedup();
        let (kind, name) = match o.kind {
            ShmKind::Shm => ("shm", o.name.clone()),
            ShmKind::Semaphore => ("semaphore", format!("/{}", o.name)),
            ShmKind::Deleted => ("deleted", format!("{} (deleted)", o.name)),
        };
        let value = match o.sem {
            Some(s) => Value::Int(s.value.into()).with(format!("{} waiting", s.nwaiters)),
            None if o.kind == ShmKind::Semaphore => Value::Unknown,
            None => Value::Text("-".into()),
        };
        let cells = vec![
            Value::Text(kind.into()),
            Value::Text(crate::text::escape(&name).into_owned()),
            Value::Text("-".into()),
            value,
            Value::Size(o.size),
            Value::Pids(users),
            blocked(&wpids, ""),
            if o.kind == ShmKind::Deleted {
                Value::Ago(None)
            } else {
                cx.since(o.last_touched_s())
            },
            Value::Text(cx.user(o.uid)),
            Value::Perms(o.mode),
            Value::Text(o.ipc_ns.map(|n| cx.ns_label(n)).unwrap_or_default()),
        ];
        let warn = !wpids.is_empty() || o.kind == ShmKind::Deleted;
        let key = PosixId::Shm {
            dev: o.dev,
            ino: o.ino,
        };
        rows.push(
            Row::new(row_id(key), cells, Some(Target::Posix(key))).tone(if warn {
                Tone::Warn
            } else {
                Tone::Plain
            }),
        );
    }
    // Other shared memory with waiters: grouped by object.
    let mut others: BTreeMap<PosixId, Vec<&FutexWait>> = BTreeMap::new();
    for w in m.futex_waits() {
        if !matches!(w.on, WaitObject::ShmFile { .. }) {
            others.entry(wait_target(m, w)).or_default().push(w);
        }
    }
    for (key, ws) in others {
        let kind = match ws[0].on {
            WaitObject::SysvShm { .. } => "sysv shm",
            WaitObject::Memfd { .. } => "memfd",
            WaitObject::SharedAnon { .. } => "anon shm",
            _ => "file",
        };
        let name = ws[0].on.describe();
        let pids: Vec<u32> = ws.iter().map(|w| w.pid).collect();
        let cells = vec![
            Value::Text(kind.into()),
            Value::Text(crate::text::escape(&name).into_owned()),
            Value::Text("-".into()),
            Value::Text(sync_text(ws[0])),
            Value::Unknown,
            Value::Pids(Vec::new()),
            blocked(&pids, ""),
            Value::Ago(None),
            Value::Text("-".into()),
            Value::Text("-".into()),
            Value::Text(ws[0].ipc_ns.map(|n| cx.ns_label(n)).unwrap_or_default()),
        ];
        rows.push(Row::new(row_id(key), cells, Some(Target::Posix(key))).tone(Tone::Warn));
    }
    Table {
        name: "POSIX".into(),
        note: m
            .posix()
            .is_none()
            .then(|| ("POSIX IPC not looked at yet".into(), Tone::Dim)),
        columns: cols,
        rows,
        empty: "no POSIX queues, /dev/shm objects or futex waits in shared memory in the IPC \
                namespaces shown"
            .into(),
        sort: (0, false),
        counts: true,
        fill: None,
        built_sorted: None,
    }
}
