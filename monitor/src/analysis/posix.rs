//! Findings on POSIX IPC, from the model's last look at it:
//! - **unused**: a /dev/shm object or a queue nobody has open or mapped, with the last time
//!   its file shows a use ("unused since …": a lock file idle between commands is not a
//!   leak, so it is never called one);
//! - **stuck queue**: threads blocked receiving (sending) on a queue that no live process has
//!   open for sending (receiving), other than processes all of whose threads wait on it
//!   (a process could still open it by name: said in the reason);
//! - **stuck semaphore**: threads blocked in sem_wait on a semaphore of a /dev/shm object
//!   (a named semaphore, or a `sem_t` in a shared memory object) whose value is 0, that no
//!   live process could post: every process that maps it or has it open has all its threads
//!   blocked on that very semaphore (a process could still open it by name: said in the
//!   reason) — the poster died, or let go of it;
//! - **deleted but mapped**: an object removed from /dev/shm that processes still map.
//!
//! A deadlock through robust or PI mutexes (their owners from their words) is no POSIX
//! finding: such waits are edges of the one wait-for graph (`knots.rs`, `mutex.rs`), beside
//! System V's, and a cycle of either kind or both is one `What::Deadlock`.
use std::collections::BTreeSet;

use serde::Serialize;

use crate::{
    model::Model,
    posix::{MqRead, ShmKind},
};

/// One finding on POSIX IPC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PosixFinding {
    /// "unused", "stuck_queue", "stuck_semaphore", "deleted_mapped".
    pub kind: &'static str,
    /// What it is about, in words ("queue /jobs", "/dev/shm/psm_1", …).
    pub object: String,
    pub ipc_ns: Option<u64>,
    pub pids: Vec<u32>,
    pub tids: Vec<u32>,
    /// For "unused": the last use its file shows (unix s).
    pub since_unix_s: Option<i64>,
    pub reason: String,
    /// Which object, for the views (the JSON names it in `object`).
    #[serde(skip)]
    pub at: PosixAt,
}

impl PosixFinding {
    /// Whether it is of waiters nobody alive could release (a stuck queue or semaphore).
    pub fn is_stuck(&self) -> bool {
        matches!(self.kind, "stuck_queue" | "stuck_semaphore")
    }
}

/// The object a POSIX finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PosixAt {
    /// A message queue: its IPC namespace and inode.
    Queue { ns: u64, ino: u64 },
    /// A /dev/shm object or named semaphore: the device of its /dev/shm and its inode.
    Shm { dev: u64, ino: u64 },
}

fn blocked_pids(q: &MqRead, send: bool) -> (Vec<u32>, Vec<u32>) {
    let b = if send { &q.senders } else { &q.receivers };
    let pids: BTreeSet<u32> = b.iter().map(|x| x.pid).collect();
    (
        pids.into_iter().collect(),
        b.iter().map(|x| x.tid).collect(),
    )
}

/// Whether process `pid` has a thread that is not among the `blocked` ones (its thread count
/// from the last look; 1 when unknown).
fn has_free_thread(m: &Model, pid: u32, blocked: usize) -> bool {
    let threads = m.posix().and_then(|p| p.proc(pid)).map_or(1, |p| p.threads);
    (blocked as u32) < threads.max(1)
}

/// Whether some live process could serve the queue's waiters on the other side: it has the
/// queue open for that direction and a thread not blocked on it.
fn served(m: &Model, q: &MqRead, waiters_send: bool) -> bool {
    let want = if waiters_send { 'r' } else { 'w' };
    q.openers.iter().any(|o| {
        let blocked = q
            .receivers
            .iter()
            .chain(&q.senders)
            .filter(|b| b.pid == o.pid)
            .count();
        o.access.contains(want) && has_free_thread(m, o.pid, blocked)
    })
}

/// The semaphores of /dev/shm objects with threads in sem_wait that no live process could
/// post (see the module's comment): per object and offset, its waiting pids and tids.
fn stuck_semaphores(m: &Model) -> Vec<(&crate::posix::ShmObject, u64, Vec<u32>, Vec<u32>)> {
    use crate::posix::SyncKind;
    let mut out = Vec::new();
    for o in m.posix_shm() {
        let mut by_offset: std::collections::BTreeMap<u64, Vec<(u32, u32)>> = Default::default();
        for w in m.shm_object_futex_waits(o.dev, o.ino) {
            // A value above 0 wakes them: not stuck (unknown: as the waiters found it, 0).
            if let SyncKind::Semaphore { value, .. } = w.sync {
                if value.unwrap_or(0) == 0 {
                    by_offset.entry(w.offset).or_default().push((w.pid, w.tid));
                }
            }
        }
        if by_offset.is_empty() {
            continue;
        }
        let users: BTreeSet<u32> = o
            .mappers
            .iter()
            .map(|x| x.pid)
            .chain(o.openers.iter().map(|x| x.pid))
            .collect();
        for (offset, waits) in by_offset {
            let could_post = users.iter().any(|&pid| {
                has_free_thread(m, pid, waits.iter().filter(|(p, _)| *p == pid).count())
            });
            if !could_post {
                let pids: BTreeSet<u32> = waits.iter().map(|(p, _)| *p).collect();
                let tids = waits.iter().map(|(_, t)| *t).collect();
                out.push((o, offset, pids.into_iter().collect(), tids));
            }
        }
    }
    out
}

/// Every POSIX finding, in a stable order: deleted but mapped, stuck queues, stuck
/// semaphores, unused.
pub fn findings(m: &Model) -> Vec<PosixFinding> {
    let mut out = Vec::new();
    for o in m.posix_shm().filter(|o| o.kind == ShmKind::Deleted) {
        let pids: BTreeSet<u32> = o.mappers.iter().map(|x| x.pid).collect();
        out.push(PosixFinding {
            kind: "deleted_mapped",
            at: PosixAt::Shm {
                dev: o.dev,
                ino: o.ino,
            },
            object: format!("/dev/shm/{} (deleted, inode {})", o.name, o.ino),
            ipc_ns: o.ipc_ns,
            pids: pids.into_iter().collect(),
            tids: Vec::new(),
            since_unix_s: None,
            reason: format!(
                "removed from /dev/shm but still mapped ({} bytes kept until the last unmaps)",
                o.size
            ),
        });
    }
    // Users may be missing among processes that could not be read: the findings that rest
    // on users say which.
    let unread = m.posix().map_or(&[][..], |p| &p.unread_pids[..]);
    let caveat = if unread.is_empty() {
        String::new()
    } else {
        format!(
            "; as far as the readable processes show ({} could not be read: pids {})",
            unread.len(),
            unread
                .iter()
                .take(8)
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    for q in m.posix_queues() {
        for send in [false, true] {
            let (pids, tids) = blocked_pids(q, send);
            if pids.is_empty() || served(m, q, send) {
                continue;
            }
            let (side, other) = if send {
                ("sending to", "for receiving")
            } else {
                ("receiving from", "for sending")
            };
            out.push(PosixFinding {
                kind: "stuck_queue",
                at: PosixAt::Queue {
                    ns: q.ipc_ns,
                    ino: q.ino,
                },
                object: format!("queue {}", q.name),
                ipc_ns: Some(q.ipc_ns),
                pids,
                tids,
                since_unix_s: None,
                reason: format!(
                    "{} thread(s) blocked {side} it and no live process has it open {other} \
                     (one could still open it by name){caveat}",
                    if send {
                        q.senders.len()
                    } else {
                        q.receivers.len()
                    }
                ),
            });
        }
    }
    for (o, offset, pids, tids) in stuck_semaphores(m) {
        let what = match o.kind {
            ShmKind::Semaphore => format!("semaphore /{} (/dev/shm/sem.{})", o.name, o.name),
            ShmKind::Deleted => format!(
                "a semaphore at +{offset:#x} of /dev/shm/{} (deleted)",
                o.name
            ),
            _ => format!("a semaphore at +{offset:#x} of /dev/shm/{}", o.name),
        };
        out.push(PosixFinding {
            kind: "stuck_semaphore",
            at: PosixAt::Shm {
                dev: o.dev,
                ino: o.ino,
            },
            reason: format!(
                "{} thread(s) blocked in sem_wait on it, its value 0, and no live process that \
                 maps it or has it open could post it (their threads all wait on it: its \
                 poster ended or let go of it; one could still open it by name){caveat}",
                tids.len()
            ),
            object: what,
            ipc_ns: o.ipc_ns,
            pids,
            tids,
            since_unix_s: None,
        });
    }
    for o in m
        .posix_shm()
        .filter(|o| o.kind != ShmKind::Deleted && o.unused())
    {
        if !m.shm_object_futex_waits(o.dev, o.ino).is_empty() {
            continue;
        }
        let what = match o.kind {
            ShmKind::Semaphore => format!("semaphore /{} (/dev/shm/sem.{})", o.name, o.name),
            _ => format!("/dev/shm/{}", o.name),
        };
        out.push(PosixFinding {
            kind: "unused",
            at: PosixAt::Shm {
                dev: o.dev,
                ino: o.ino,
            },
            object: what,
            ipc_ns: o.ipc_ns,
            pids: Vec::new(),
            tids: Vec::new(),
            since_unix_s: Some(o.last_touched_s()),
            reason: format!(
                "no process has it open or mapped; its file's times show its last use{caveat}"
            ),
        });
    }
    for q in m.posix_queues().filter(|q| q.openers.is_empty()) {
        out.push(PosixFinding {
            kind: "unused",
            at: PosixAt::Queue {
                ns: q.ipc_ns,
                ino: q.ino,
            },
            object: format!("queue {}", q.name),
            ipc_ns: Some(q.ipc_ns),
            pids: Vec::new(),
            tids: Vec::new(),
            since_unix_s: Some(q.mtime_s.max(q.ctime_s)),
            reason: format!(
                "no process has it open{}; its last send or receive is its file's time{caveat}",
                q.attr
                    .map(|a| format!(" ({} message(s) in it)", a.curmsgs))
                    .unwrap_or_default()
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        feed::{Stamped, Update},
        fixtures::{MONO, NOW, NS},
        model::ObjId,
    };

    fn model() -> Model {
        use crate::fixtures::Feed;
        let mut m = Model::new();
        m.feed_snapshot(&crate::fixtures::snapshot(MONO, 1 << 30, None));
        m.apply(&Stamped {
            mono_ns: MONO,
            update: Update::Posix(Box::new(crate::posix::fixture::posix(NS, NOW, MONO))),
        });
        m
    }

    fn of<'a>(f: &'a [PosixFinding], kind: &str, object: &str) -> Vec<&'a PosixFinding> {
        f.iter()
            .filter(|x| x.kind == kind && x.object.contains(object))
            .collect()
    }

    #[test]
    fn each_finding_fires_on_its_situation() {
        let f = findings(&model());
        let stuck = of(&f, "stuck_queue", "/jobs");
        assert_eq!(stuck.len(), 1, "{f:#?}");
        assert_eq!((&stuck[0].pids, &stuck[0].tids), (&vec![3200], &vec![3200]));
        let unused = of(&f, "unused", "/results");
        assert_eq!(unused.len(), 1);
        assert!(unused[0].reason.contains("3 message(s)"));
        assert_eq!(unused[0].since_unix_s, Some(NOW - 120));
        let shm = of(&f, "unused", "psm_abc");
        assert_eq!(
            shm[0].since_unix_s,
            Some(NOW - 600),
            "the latest of its times"
        );
        assert_eq!(of(&f, "deleted_mapped", "/dev/shm/x")[0].pids, [3500]);
        // The robust mutexes' AB/BA is the wait-for graph's deadlock, not one of these.
        assert!(of(&f, "deadlock", "").is_empty(), "{f:#?}");
        let dl: Vec<_> = crate::analysis::analyze(&model(), &Default::default())
            .into_iter()
            .filter_map(|x| match x.what {
                crate::analysis::What::Deadlock { pids, .. } => Some((pids, x.ipc_ns)),
                _ => None,
            })
            .collect();
        assert_eq!(dl, [(vec![3600, 3601], NS)]);
    }

    #[test]
    fn and_not_where_it_does_not_hold() {
        let f = findings(&model());
        assert!(of(&f, "stuck_queue", "/ok").is_empty(), "3301 can send");
        assert!(of(&f, "unused", "mp-1").is_empty(), "mapped and waited on");
        assert!(of(&f, "unused", "/jobs").is_empty());
        assert!(
            f.iter().all(|x| !x.pids.contains(&3602)),
            "3602's owner runs: no deadlock"
        );
        // The queue's receiver also able to send (a thread not blocked) serves it.
        let mut m = model();
        let mut p = m.posix().unwrap().clone();
        p.procs.iter_mut().find(|x| x.pid == 3200).unwrap().threads = 2;
        p.queues[0].openers[0].access = "rw";
        m.apply(&Stamped {
            mono_ns: MONO,
            update: Update::Posix(Box::new(p)),
        });
        assert!(of(&findings(&m), "stuck_queue", "/jobs").is_empty());
    }

    /// The look with `f` applied to it.
    fn model_with(f: impl FnOnce(&mut crate::posix::PosixSnapshot)) -> Model {
        let mut m = model();
        let mut p = m.posix().unwrap().clone();
        f(&mut p);
        m.apply(&Stamped {
            mono_ns: MONO,
            update: Update::Posix(Box::new(p)),
        });
        m
    }

    #[test]
    fn a_semaphore_nobody_could_post_is_stuck() {
        // mp-1: three waiters, its only mappers; 3402 has a second thread that could post.
        assert!(of(&findings(&model()), "stuck_semaphore", "").is_empty());
        let one_thread = |p: &mut crate::posix::PosixSnapshot| {
            p.procs.iter_mut().find(|x| x.pid == 3402).unwrap().threads = 1;
        };
        let f = findings(&model_with(one_thread));
        let stuck = of(&f, "stuck_semaphore", "semaphore /mp-1");
        assert_eq!(stuck.len(), 1, "{f:#?}");
        assert_eq!(stuck[0].pids, [3400, 3401, 3402]);
        assert_eq!(stuck[0].tids, [3400, 3401, 3402]);
        // Not where it does not hold: another process has it open (it could map it and post);
        // its value above 0 (they are waking).
        let m = model_with(|p| {
            one_thread(p);
            p.shm[1].openers.push(crate::posix::Opener {
                pid: 3300,
                fd: 5,
                access: "rw",
            });
        });
        assert!(of(&findings(&m), "stuck_semaphore", "").is_empty());
        let m = model_with(|p| {
            one_thread(p);
            for w in &mut p.futex_waits {
                if let crate::posix::SyncKind::Semaphore { value, .. } = &mut w.sync {
                    *value = Some(1);
                }
            }
        });
        assert!(of(&findings(&m), "stuck_semaphore", "").is_empty());
    }

    #[test]
    fn findings_on_users_say_which_processes_could_not_be_read() {
        let mut m = model();
        let mut p = m.posix().unwrap().clone();
        p.unread_pids = vec![1, 77];
        m.apply(&Stamped {
            mono_ns: MONO,
            update: Update::Posix(Box::new(p)),
        });
        let f = findings(&m);
        for x in f
            .iter()
            .filter(|x| x.kind == "unused" || x.kind == "stuck_queue")
        {
            assert!(x.reason.contains("2 could not be read: pids 1,77"), "{x:?}");
        }
        assert!(f.iter().any(|x| x.kind == "stuck_queue"));
        for x in f.iter().filter(|x| x.kind == "deleted_mapped") {
            assert!(!x.reason.contains("could not be read"), "{x:?}");
        }
    }

    #[test]
    fn a_segments_waiters_are_its_futex_waits_in_scope() {
        let mut m = model();
        let seg = ObjId { ns: NS, id: 32768 };
        let pids: Vec<u32> = m.segment_futex_waits(seg).iter().map(|w| w.pid).collect();
        assert_eq!(pids, [1201, 1202]);
        assert!(m
            .segment_futex_waits(ObjId {
                ns: NS + 1,
                id: 32768
            })
            .is_empty());
        m.set_scope(crate::model::Scope::Ns(NS + 1));
        assert!(m.segment_futex_waits(seg).is_empty());
        assert_eq!(m.posix_queues().count(), 0);
        assert!(findings(&m).is_empty());
    }
}
