//! What only the passage of time tells: findings that came and went (once each, judged or
//! context), and waits as they grew.
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::WaitDoc;
use crate::{
    analysis::{posix::PosixFinding, Finding, IpcKind, What},
    model::{Model, NsId},
    output::{self, DeadlockDoc, FindingDoc, LeakDoc},
};

/// Findings seen at some point of the recording, once each.
#[derive(Debug, Default, Serialize)]
pub struct AlongTheWay {
    pub leaks: Vec<LeakDoc>,
    pub deadlocks: Vec<DeadlockDoc>,
    /// Waiters nobody alive could release.
    pub stuck: Vec<FindingDoc>,
    /// Objects stalled (blocked threads whose releasers could not be known).
    pub stalled: Vec<FindingDoc>,
    pub long_waits: Vec<String>,
    /// POSIX findings (format 5 recordings carry the looks at POSIX IPC): stuck queues,
    /// objects deleted but mapped; unused objects are no findings (a robust-mutex deadlock
    /// is one of `deadlocks`).
    pub posix: Vec<PosixFinding>,
}

impl AlongTheWay {
    /// The POSIX findings of a kind ("deadlock", "stuck_queue", …).
    pub fn posix_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a PosixFinding> + 'a {
        self.posix.iter().filter(move |f| f.kind == kind)
    }

    /// The POSIX waiters nobody alive could release: stuck queues and semaphores.
    pub fn posix_stuck(&self) -> impl Iterator<Item = &PosixFinding> + '_ {
        self.posix.iter().filter(|f| f.is_stuck())
    }
}

/// A finding's identity across the recording (its kind, namespace, and what it names).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Seen {
    Leak(NsId, IpcKind, i32),
    Deadlock(NsId, Vec<u32>),
    Stuck(NsId, u32),
    Stalled(NsId, IpcKind, i32),
    Long(NsId, u32, IpcKind, i32),
    Posix(&'static str, String, Vec<u32>),
}

fn seen(f: &Finding) -> Option<Seen> {
    let ns = f.ipc_ns;
    Some(match &f.what {
        What::Leak { ipc, id } => Seen::Leak(ns, *ipc, *id),
        What::Deadlock { tids, .. } => {
            let mut k = tids.clone();
            k.sort_unstable();
            Seen::Deadlock(ns, k)
        }
        What::Stuck { tid, .. } => Seen::Stuck(ns, *tid),
        What::Stalled { ipc, id, .. } => Seen::Stalled(ns, *ipc, *id),
        What::LongWait { pid, ipc, id, .. } => Seen::Long(ns, *pid, *ipc, *id),
        _ => return None,
    })
}

/// The findings and waits of the recording as it is read.
#[derive(Default)]
pub(super) struct Watch {
    seen: BTreeSet<Seen>,
    /// Judged [1] and context [0].
    pub(super) along: [AlongTheWay; 2],
    /// The longest wait seen going on, per tid.
    pub(super) waits: BTreeMap<u32, WaitDoc>,
}

impl Watch {
    /// Notes the findings of this moment, each once, on its side.
    pub(super) fn findings(
        &mut self,
        m: &Model,
        findings: &[Finding],
        judged: impl Fn(&Finding) -> bool,
    ) {
        for f in findings {
            let Some(k) = seen(f) else { continue };
            if !self.seen.insert(k) {
                continue;
            }
            let along = &mut self.along[usize::from(judged(f))];
            let one = std::slice::from_ref(f);
            match &f.what {
                What::Leak { .. } => along.leaks.extend(output::leaks(m, one)),
                What::Deadlock { .. } => along.deadlocks.extend(output::deadlocks(m, one)),
                What::Stuck { .. } => along.stuck.push(output::finding(m, f)),
                What::Stalled { .. } => along.stalled.push(output::finding(m, f)),
                What::LongWait { .. } => along.long_waits.push(f.reason.clone()),
                _ => {}
            }
        }
    }

    /// Notes the POSIX findings of this moment (unused objects are none), each once, on its
    /// side.
    pub(super) fn posix(
        &mut self,
        findings: &[PosixFinding],
        judged: impl Fn(&PosixFinding) -> bool,
    ) {
        for f in findings.iter().filter(|f| f.kind != "unused") {
            if self
                .seen
                .insert(Seen::Posix(f.kind, f.object.clone(), f.pids.clone()))
            {
                self.along[usize::from(judged(f))].posix.push(f.clone());
            }
        }
    }

    /// Every wait going on now, at its length so far.
    pub(super) fn waits(&mut self, m: &Model) {
        for w in super::current_waits(m, false) {
            let e = self.waits.entry(w.tid).or_insert_with(|| w.clone());
            if w.seconds >= e.seconds {
                *e = w;
            }
        }
    }
}
