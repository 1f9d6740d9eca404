//! Leaks, by evidence: an object is leaked when its creator is shown gone (dead, or its pid
//! reused since) and no live process uses it (attached, queued to or received from, operated
//! on, waiting on it). An object whose creator is alive is never a leak, whatever its age;
//! one whose creator is unknown (the kernel keeps no creator for sets and queues, and the
//! probe did not see them made) is not either: nothing shows it abandoned. Segments carry
//! their creator (`cpid`), so one that predates ipctop is "orphaned" once /proc shows that
//! pid gone.
use super::{Config, Finding, IpcKind, What};
use crate::model::{Model, ObjId, ObjKind};

/// What became of the process `pid` that was there at unix second `at_s`.
fn fate(m: &Model, pid: u32, at_s: i64) -> &'static str {
    if pid == 0 {
        "unknown"
    } else if m.process(pid).is_some_and(|p| p.alive()) && !m.alive_at(pid, at_s) {
        "reused (that pid now belongs to a process started later)"
    } else if m.alive_at(pid, at_s) {
        "alive"
    } else {
        "gone"
    }
}

/// Whether a live process uses the object: it waits on it, or made calls on it and is alive
/// (the same process: not a later one of its pid).
fn live_user(m: &Model, kind: ObjKind, id: ObjId) -> Option<u32> {
    m.waiters_at(kind, id).next().or_else(|| {
        m.account()
            .users_of(kind, id)
            .find(|(p, t)| {
                let at = t.last_mono_ns.map_or(0, |t| m.unix_s(t) as i64);
                m.alive_at(*p, at) && !m.account().is_observer(*p)
            })
            .map(|(p, _)| p)
    })
}

/// The creator of an object as the probe saw it made: its pid and the unix second.
fn creator(m: &Model, kind: ObjKind, id: ObjId) -> Option<(u32, i64)> {
    m.creation(kind, id)
        .map(|c| (c.pid, m.unix_s(c.mono_ns) as i64))
}

pub(super) fn leaks(m: &Model, cfg: &Config, out: &mut Vec<Finding>) {
    segments(m, out);
    sets(m, cfg, out);
    queues(m, out);
}

fn segments(m: &Model, out: &mut Vec<Finding>) {
    for s in m.segments() {
        if s.nattch > 0 || s.marked_for_destroy || s.creator_pid == 0 {
            continue;
        }
        if m.alive_at(s.creator_pid, s.ctime) {
            continue;
        }
        let last_use = s.ctime.max(s.atime).max(s.dtime);
        if m.alive_at(s.last_pid, last_use) || live_user(m, ObjKind::Shm, s.id).is_some() {
            continue;
        }
        let seen_made = m.creation(ObjKind::Shm, s.id).is_some();
        out.push(Finding {
            ipc_ns: s.id.ns,
            what: What::Leak {
                ipc: IpcKind::Shm,
                id: s.id.id,
            },
            reason: format!(
                "{}segment {} ({} bytes) is attached by nobody (nattch 0), is not marked for \
                 destruction, and its creator pid {} is {}; {}",
                if seen_made { "" } else { "orphaned: " },
                s.id.id,
                s.size,
                s.creator_pid,
                fate(m, s.creator_pid, s.ctime),
                if s.last_pid == 0 {
                    "it was never attached".to_string()
                } else {
                    format!(
                        "last attached/detached by pid {} ({})",
                        s.last_pid,
                        fate(m, s.last_pid, last_use)
                    )
                },
            ),
        });
    }
}

fn sets(m: &Model, cfg: &Config, out: &mut Vec<Finding>) {
    let now_s = m.now_unix_s();
    for s in m.sem_sets() {
        let Some(sems) = &s.semaphores else { continue };
        let Some((cpid, made_s)) = creator(m, ObjKind::Sem, s.id) else {
            continue;
        };
        if m.alive_at(cpid, made_s) {
            continue;
        }
        let last_use = s.otime.max(made_s);
        let mut idle = now_s - last_use as f64;
        if let Some(t) = m
            .object_account_at(ObjKind::Sem, s.id)
            .and_then(|a| a.last_mono_ns)
        {
            idle = idle.min(now_s - m.unix_s(t));
        }
        let waited = sems.iter().any(|x| x.ncnt > 0 || x.zcnt > 0);
        let user_alive = sems.iter().any(|x| m.alive_at(x.last_pid, last_use))
            || live_user(m, ObjKind::Sem, s.id).is_some();
        if waited || user_alive || idle < cfg.sem_idle_s {
            continue;
        }
        out.push(Finding {
            ipc_ns: s.id.ns,
            what: What::Leak {
                ipc: IpcKind::Sem,
                id: s.id.id,
            },
            reason: format!(
                "semaphore set {} has been unused for {:.0} s, nobody waits on it or uses it, \
                 and its creator pid {cpid} is {}",
                s.id.id,
                idle,
                fate(m, cpid, made_s),
            ),
        });
    }
}

fn queues(m: &Model, out: &mut Vec<Finding>) {
    for q in m.queues() {
        let Some((cpid, made_s)) = creator(m, ObjKind::Msg, q.id) else {
            continue;
        };
        if m.alive_at(cpid, made_s)
            || m.alive_at(q.last_send_pid, q.stime.max(made_s))
            || m.alive_at(q.last_recv_pid, q.rtime.max(made_s))
            || live_user(m, ObjKind::Msg, q.id).is_some()
        {
            continue;
        }
        out.push(Finding {
            ipc_ns: q.id.ns,
            what: What::Leak {
                ipc: IpcKind::Msg,
                id: q.id.id,
            },
            reason: format!(
                "queue {} ({} messages, {} bytes) is used by nobody alive: its creator pid \
                 {cpid} is {}, {}, {}, and nobody waits on it",
                q.id.id,
                q.qnum,
                q.cbytes,
                fate(m, cpid, made_s),
                match q.last_send_pid {
                    0 => "nothing was ever sent to it".to_string(),
                    p => format!("its last sender (pid {p}) is {}", fate(m, p, q.stime)),
                },
                match q.last_recv_pid {
                    0 => "nothing was ever received from it".to_string(),
                    p => format!("its last receiver (pid {p}) is {}", fate(m, p, q.rtime)),
                },
            ),
        });
    }
}
