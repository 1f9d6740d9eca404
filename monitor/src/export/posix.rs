//! POSIX IPC as metrics: per IPC namespace (the label scheme of the System V families:
//! `ipc_ns`, `kind`), from the model's last look at POSIX IPC and its findings; a queue's
//! messages per queue name. Never per pid, tid, or /dev/shm file (there may be thousands).
use std::collections::BTreeMap;

use super::{
    families::{
        Family, Sample, Value, POSIX_BLOCKED, POSIX_FINDINGS, POSIX_OBJECTS, POSIX_QUEUE_MESSAGES,
        POSIX_SHM_BYTES,
    },
    metrics::PosixNs,
};
use crate::{
    model::Model,
    posix::{ShmKind, SyncKind},
};

fn add(v: &mut Vec<(&'static str, u64)>, kind: &'static str, n: u64) {
    match v.iter_mut().find(|(k, _)| *k == kind) {
        Some((_, x)) => *x += n,
        None => v.push((kind, n)),
    }
}

/// Each namespace's POSIX figures (those in scope; every kind present, 0 included).
pub fn collect(model: &Model) -> Vec<PosixNs> {
    if model.posix().is_none() {
        return Vec::new();
    }
    let mut by: BTreeMap<u64, PosixNs> = BTreeMap::new();
    fn ns(by: &mut BTreeMap<u64, PosixNs>, n: u64) -> &mut PosixNs {
        by.entry(n).or_insert_with(|| PosixNs {
            ns: n,
            objects: ["mq", "shm", "sem", "deleted"].map(|k| (k, 0)).to_vec(),
            blocked: ["mq", "sem", "mutex", "futex"].map(|k| (k, 0)).to_vec(),
            findings: ["unused", "stuck_queue", "stuck_semaphore", "deleted_mapped"]
                .map(|k| (k, 0))
                .to_vec(),
            ..Default::default()
        })
    }
    for q in model.posix_queues() {
        let p = ns(&mut by, q.ipc_ns);
        add(&mut p.objects, "mq", 1);
        if let Some(a) = q.attr {
            p.queues.push((q.name.clone(), a.curmsgs));
        }
        add(
            &mut p.blocked,
            "mq",
            (q.receivers.len() + q.senders.len()) as u64,
        );
    }
    for o in model.posix_shm() {
        let p = ns(&mut by, o.ipc_ns.unwrap_or(0));
        let kind = match o.kind {
            ShmKind::Shm => "shm",
            ShmKind::Semaphore => "sem",
            ShmKind::Deleted => "deleted",
        };
        add(&mut p.objects, kind, 1);
        p.shm_bytes += o.size;
    }
    for w in model.futex_waits() {
        let kind = match w.sync {
            SyncKind::Semaphore { .. } => "sem",
            SyncKind::RobustMutex { .. } | SyncKind::PiMutex { .. } => "mutex",
            SyncKind::Other => "futex",
        };
        add(&mut ns(&mut by, w.ipc_ns.unwrap_or(0)).blocked, kind, 1);
    }
    for f in crate::analysis::posix::findings(model) {
        add(&mut ns(&mut by, f.ipc_ns.unwrap_or(0)).findings, f.kind, 1);
    }
    by.into_values().collect()
}

fn ns_label(ns: u64) -> (&'static str, String) {
    ("ipc_ns", ns.to_string())
}

/// The POSIX families of an exposition.
pub fn families(posix: &[PosixNs]) -> Vec<Family> {
    let mut out = Vec::new();
    let kinds = |spec, pick: fn(&PosixNs) -> &Vec<(&'static str, u64)>| Family {
        spec,
        samples: posix
            .iter()
            .flat_map(|p| {
                pick(p).iter().map(|&(k, n)| Sample {
                    labels: vec![ns_label(p.ns), ("kind", k.to_string())],
                    value: Value::Int(n),
                })
            })
            .collect(),
    };
    out.push(kinds(&POSIX_OBJECTS, |p| &p.objects));
    out.push(Family {
        spec: &POSIX_SHM_BYTES,
        samples: posix
            .iter()
            .map(|p| Sample {
                labels: vec![ns_label(p.ns)],
                value: Value::Int(p.shm_bytes),
            })
            .collect(),
    });
    out.push(Family {
        spec: &POSIX_QUEUE_MESSAGES,
        samples: posix
            .iter()
            .flat_map(|p| {
                p.queues.iter().map(|(name, n)| Sample {
                    labels: vec![ns_label(p.ns), ("name", name.clone())],
                    value: Value::Int((*n).max(0) as u64),
                })
            })
            .collect(),
    });
    out.push(kinds(&POSIX_BLOCKED, |p| &p.blocked));
    out.push(kinds(&POSIX_FINDINGS, |p| &p.findings));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        feed::{Stamped, Update},
        fixtures::{Feed, MONO, NS},
    };

    #[test]
    fn the_fixtures_posix_figures() {
        let mut m = Model::new();
        assert!(collect(&m).is_empty(), "nothing before a look");
        m.feed_snapshot(&crate::fixtures::snapshot(MONO, 1 << 30, None));
        m.apply(&Stamped {
            mono_ns: MONO,
            update: Update::Posix(Box::new(crate::posix::fixture::posix(
                NS,
                crate::fixtures::NOW,
                MONO,
            ))),
        });
        let p = collect(&m);
        assert_eq!(p.len(), 1);
        let p = &p[0];
        assert_eq!(p.ns, NS);
        assert_eq!(
            p.objects,
            [("mq", 3), ("shm", 1), ("sem", 1), ("deleted", 1)]
        );
        assert_eq!(p.shm_bytes, (1 << 20) + 32 + 4096);
        assert_eq!(
            p.blocked,
            [("mq", 2), ("sem", 5), ("mutex", 3), ("futex", 0)]
        );
        assert_eq!(
            p.findings,
            [
                ("unused", 2),
                ("stuck_queue", 1),
                ("stuck_semaphore", 0),
                ("deleted_mapped", 1)
            ]
        );
        let f = families(std::slice::from_ref(p));
        let q = f
            .iter()
            .find(|f| f.spec.name == "ipctop_posix_queue_messages")
            .unwrap();
        assert_eq!(q.samples.len(), 3);
        assert!(q
            .samples
            .iter()
            .any(|s| s.labels[1].1 == "/results" && s.value == Value::Int(3)));
    }
}
