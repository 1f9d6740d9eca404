//! Blocked threads as the rows say them: what a wait is on, for how long, who holds what it
//! needs, and the waiters of each semaphore and queue — threads, with their processes
//! (from `Model::waits`).
use std::collections::{BTreeMap, BTreeSet};

use super::{cx::Cx, table::Value};
use crate::{
    model::{HolderSource, ObjId, Wait, WaitOn},
    ui::fmt,
};

/// What a wait is on, short ("sem 5 #1", "msgrcv 7"), and its operation (the sem_op).
pub fn on(cx: &Cx, w: &Wait) -> (String, Value) {
    match &w.on {
        WaitOn::Sem { semid, nsops, .. } => match cx.s.model.blocking_sop(w) {
            Some(op) => (
                format!("sem {semid} #{}", op.semnum),
                Value::Int(op.sem_op.into()),
            ),
            None => (format!("sem {semid}"), Value::Text(format!("{nsops}op"))),
        },
        WaitOn::MsgRcv { msqid, .. } => (format!("msgrcv {msqid}"), Value::Blank),
        WaitOn::MsgSnd { msqid, .. } => (format!("msgsnd {msqid}"), Value::Blank),
    }
}

/// How long it has waited, growing live: exact when its start is known, else a lower bound
/// ("≥"), as the model's `Wait` says.
pub fn waited(cx: &Cx, w: &Wait) -> Value {
    match w.since_s(cx.now) {
        Some(s) => Value::Dur { s, at_least: false },
        None => Value::Dur {
            s: w.at_least_s(cx.now),
            at_least: true,
        },
    }
}

/// An object a wait names: of the wait's namespace.
pub fn obj(w: &Wait) -> ObjId {
    ObjId {
        ns: w.ns,
        id: w.on.id(),
    }
}

/// Who holds what a wait needs ("4242 worker"), or the queue's state.
pub fn held(cx: &Cx, w: &Wait) -> String {
    match &w.on {
        WaitOn::Sem { .. } => {
            let Some((op, h)) = cx.s.model.wait_holders(w) else {
                return "?".into();
            };
            match h {
                Some(h) => {
                    let mut s = h
                        .pids
                        .iter()
                        .take(3)
                        .map(|&p| format!("{p} {}", cx.comm(p)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    if h.source == HolderSource::LastPidGuess {
                        s.push_str(" (last op)");
                    }
                    // A signal semaphore's posters are not holders: said so.
                    if h.role == Some(crate::model::SemRole::Signal) {
                        s = format!("{} {s}", h.verb());
                    }
                    s
                }
                None if op.sem_op == 0 => "waits for zero".into(),
                None => "no holder known".into(),
            }
        }
        WaitOn::MsgRcv { .. } => match cx.s.model.queue_at(obj(w)) {
            Some(q) if q.qnum == 0 => "queue empty".into(),
            Some(q) => format!("{} msgs, none of its type", q.qnum),
            None => "queue gone".into(),
        },
        WaitOn::MsgSnd { .. } => match cx.s.model.queue_at(obj(w)) {
            Some(q) => format!(
                "full: {}/{}",
                fmt::size(q.cbytes),
                q.qbytes.map_or("?".into(), fmt::size)
            ),
            None => "queue gone".into(),
        },
    }
}

/// Blocked threads: their tids and their processes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Waiters {
    pub tids: BTreeSet<u32>,
    pub pids: BTreeSet<u32>,
}

impl Waiters {
    pub fn add(&mut self, w: &Wait) {
        self.tids.insert(w.tid);
        self.pids.insert(w.pid);
    }

    pub fn extend(&mut self, o: &Waiters) {
        self.tids.extend(&o.tids);
        self.pids.extend(&o.pids);
    }

    pub fn threads(&self) -> usize {
        self.tids.len()
    }

    /// The count of threads, then their processes: "2 1201,1202" (sorted by the count).
    pub fn value(&self) -> Value {
        if self.tids.is_empty() {
            return Value::Text("-".into());
        }
        Value::Int(self.tids.len() as i64).with(fmt::pids(self.pids.iter().copied(), 3))
    }
}

/// The waiters of each semaphore (set, semnum), by the operation each is blocked on.
pub fn by_sem(cx: &Cx) -> BTreeMap<(ObjId, u16), Waiters> {
    let mut m: BTreeMap<(ObjId, u16), Waiters> = BTreeMap::new();
    for w in cx.s.model.waits() {
        if let WaitOn::Sem { .. } = w.on {
            let n = cx.s.model.blocking_sop(w).map_or(0, |o| o.semnum);
            m.entry((obj(w), n)).or_default().add(w);
        }
    }
    m
}

/// Blocked on each queue: receiving (nothing of their type) and sending (full).
pub fn by_queue(cx: &Cx) -> BTreeMap<ObjId, (Waiters, Waiters)> {
    let mut m: BTreeMap<ObjId, (Waiters, Waiters)> = BTreeMap::new();
    for w in cx.s.model.waits() {
        match w.on {
            WaitOn::MsgRcv { .. } => m.entry(obj(w)).or_default().0.add(w),
            WaitOn::MsgSnd { .. } => m.entry(obj(w)).or_default().1.add(w),
            WaitOn::Sem { .. } => {}
        }
    }
    m
}

/// Every blocked thread of the namespaces shown, and their processes.
pub fn all(cx: &Cx) -> Waiters {
    let mut a = Waiters::default();
    for w in cx.s.model.waits() {
        a.add(w);
    }
    a
}
