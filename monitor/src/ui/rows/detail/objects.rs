//! The details of an object (a semaphore set, a segment, a queue): what it is, its figures,
//! the processes involved (links), its history, and what to run next.
use super::parts::{account_text, ago_said, ending, last_by, obj_title, users};
use crate::{
    model::{HolderSource, ObjId, ObjKind},
    ui::{
        fmt::{pids, size},
        rows::{
            blind::{said, unknown, Blind},
            cx::Cx,
            doc::Doc,
            queues, shm,
            table::Value,
            waits,
        },
        view::{PosixId, Target},
    },
};

pub fn sem(cx: &Cx, oid: ObjId) -> Doc {
    let mut d = Doc::new(obj_title(cx, "Semaphore set", oid));
    let id = oid.id;
    let m = &cx.s.model;
    let Some(s) = m.sem_set_at(oid) else {
        d.text(format!("Semaphore set {id} is gone."));
        return d;
    };
    d.text(format!(
        "Semaphore set {id}  key {}  {} semaphores  perms {:04o}  owner {}  creator {}{}",
        crate::event::Key(s.key),
        s.nsems,
        s.perms,
        cx.owner(s.owner_uid, s.owner_gid),
        cx.user(s.creator_uid),
        s.creator_pid.map_or(String::new(), |p| format!(" pid {p}"))
    ));
    d.text(format!(
        "created {}, last semop {}",
        ago_said(cx, s.ctime),
        ago_said(cx, s.otime),
    ));
    d.text(account_text(cx, cx.acct(ObjKind::Sem, oid)));
    let by_sem = waits::by_sem(cx);
    let mut involved: Vec<(u32, String)> = Vec::new();
    d.head("Semaphores");
    match &s.semaphores {
        None => d.text(match unknown(cx, Blind::SemValues) {
            Some(u) => format!("  values unknown: {}", said(u)),
            None => "  values unknown (semctl refused)".into(),
        }),
        Some(vals) => {
            for x in vals {
                let holders = match m.holders(s.id, x.semnum) {
                    Some(h) => {
                        for &p in &h.pids {
                            involved.push((p, format!("holds #{}", x.semnum)));
                        }
                        format!(
                            "held by {}{}",
                            pids(h.pids, 4),
                            if h.source == HolderSource::LastPidGuess {
                                " (guess: last op)"
                            } else {
                                ""
                            }
                        )
                    }
                    None => "no holder".into(),
                };
                let w = by_sem.get(&(oid, x.semnum)).cloned().unwrap_or_default();
                for &p in &w.pids {
                    involved.push((p, format!("waits on #{}", x.semnum)));
                }
                let waiting = match w.threads() {
                    0 => "nobody waiting".to_string(),
                    n => format!(
                        "{} waiting ({})",
                        crate::ui::fmt::threads(n, w.pids.len()),
                        pids(w.pids.iter().copied(), 4)
                    ),
                };
                d.text(format!(
                    "  #{:<3} value {:<5} ncnt {:<3} zcnt {:<3} {holders}; {waiting}; last op by {}",
                    x.semnum,
                    x.value,
                    x.ncnt,
                    x.zcnt,
                    match x.last_pid {
                        0 => "nobody yet".to_string(),
                        p => p.to_string(),
                    }
                ));
                if x.last_pid != 0 {
                    involved.push((x.last_pid, format!("last op on #{}", x.semnum)));
                }
            }
        }
    }
    if let Some(p) = s.creator_pid {
        involved.push((p, "created it".into()));
    }
    users(cx, ObjKind::Sem, oid, &mut involved);
    ending(cx, &mut d, involved, ObjKind::Sem, oid);
    d
}

pub fn segment(cx: &Cx, oid: ObjId) -> Doc {
    let mut d = Doc::new(obj_title(cx, "Shared memory segment", oid));
    let id = oid.id;
    let Some(s) = cx.s.model.segment_at(oid) else {
        d.text(format!("Segment {id} is gone."));
        return d;
    };
    d.text(format!(
        "Segment {id}  key {}  {}  perms {:04o}  owner {}  flags {}",
        crate::event::Key(s.key),
        size(s.size),
        s.perms,
        cx.owner(s.owner_uid, s.owner_gid),
        shm::flags(s)
    ));
    d.text(format!(
        "created {} by pid {} ({}); nattch {}{}; last attach {}, detach {}, by pid {}",
        ago_said(cx, s.ctime),
        s.creator_pid,
        shm::creator_state(cx, s),
        s.nattch,
        if s.attachments_complete {
            String::new()
        } else {
            match unknown(cx, Blind::Maps) {
                Some(u) => format!(" (not all seen: {})", said(u)),
                None => " (some in processes we cannot read)".into(),
            }
        },
        ago_said(cx, s.atime),
        ago_said(cx, s.dtime),
        s.last_pid
    ));
    if let (Some(rss), Some(swap)) = (s.rss, s.swap) {
        d.text(format!("resident {}, swapped {}", size(rss), size(swap)));
    }
    // Process-shared semaphores and mutexes in it (PostgreSQL's): their own detail.
    let futex = cx.s.model.segment_futex_waits(oid);
    if !futex.is_empty() {
        let mut p: Vec<u32> = futex.iter().map(|w| w.pid).collect();
        p.sort_unstable();
        p.dedup();
        d.link(
            Target::Posix(PosixId::SysvWaits(oid)),
            format!(
                "{} in futex waits in it ({}): their details",
                crate::ui::fmt::threads(futex.len(), p.len()),
                pids(p, 4)
            ),
        );
    }
    let mut involved = Vec::new();
    for a in &s.attachments {
        involved.push((
            a.pid,
            format!(
                "attached at {:#x} ({})",
                a.addr,
                if a.writable { "rw" } else { "ro" }
            ),
        ));
    }
    if cx.alive(s.creator_pid) {
        involved.push((s.creator_pid, "created it".into()));
    }
    ending(cx, &mut d, involved, ObjKind::Shm, oid);
    d
}

pub fn queue(cx: &Cx, oid: ObjId) -> Doc {
    let mut d = Doc::new(obj_title(cx, "Message queue", oid));
    let id = oid.id;
    let Some(q) = cx.s.model.queue_at(oid) else {
        d.text(format!("Queue {id} is gone."));
        return d;
    };
    d.text(format!(
        "Queue {id}  key {}  perms {:04o}  owner {}  created {}",
        crate::event::Key(q.key),
        q.perms,
        cx.owner(q.owner_uid, q.owner_gid),
        ago_said(cx, q.ctime)
    ));
    // One snapshot's figures: messages, bytes and the maximum together.
    d.text(format!(
        "{} messages, {} of {}",
        q.qnum,
        size(q.cbytes),
        q.qbytes.map_or("?".into(), size)
    ));
    let fill = Value::Fill {
        bytes: q.cbytes,
        max: q.qbytes,
    };
    d.text(format!("  {}", fill.text(&cx.t)));
    d.text(format!(
        "last send {}, last receive {}",
        last_by(cx, q.stime, q.last_send_pid),
        last_by(cx, q.rtime, q.last_recv_pid),
    ));
    d.text(account_text(cx, cx.acct(ObjKind::Msg, oid)));
    let mut involved = Vec::new();
    if let Some((r, s)) = waits::by_queue(cx).get(&oid) {
        for &p in &r.pids {
            involved.push((p, "blocked receiving".to_string()));
        }
        for &p in &s.pids {
            involved.push((p, "blocked sending (full)".to_string()));
        }
        let b = queues::blocked_text(r, s);
        if !b.is_empty() {
            d.text(format!(
                "blocked: {} ({b})",
                crate::ui::fmt::threads(r.threads() + s.threads(), r.pids.len() + s.pids.len())
            ));
        }
    }
    for (p, r) in [
        (q.last_send_pid, "last sender"),
        (q.last_recv_pid, "last receiver"),
    ] {
        if p != 0 {
            involved.push((p, r.into()));
        }
    }
    if let Some(p) = q.creator_pid {
        involved.push((p, "created it".into()));
    }
    users(cx, ObjKind::Msg, oid, &mut involved);
    ending(cx, &mut d, involved, ObjKind::Msg, oid);
    d
}
