//! Finished calls from the probe's events: what they change in the objects — their birth
//! (a new generation of an id), their removal, attachments, who set a set's values — and, when
//! the kernel keeps no holds, the holds. What a snapshot reads (values, queue lengths, times)
//! stays the snapshot's: one source per figure. Counting calls is the account's
//! (`account.rs`), blocked calls the waits' (`waits.rs`).
use super::{Attachment, Creation, Model, NsId, ObjId, ObjKey, ObjKind, Queue, Segment, SemSet};
use crate::{
    event::{Args, Event},
    sysv,
};

/// Processes whose namespace is remembered from their events, at most (cleared when full:
/// the snapshots' /proc reads know the live ones).
const EVENT_NS_CAP: usize = 65_536;

impl Model {
    /// Remembers the namespace the kernel stamped a process's call with.
    pub(super) fn note_event_ns(&mut self, pid: u32, ns: NsId) {
        if self.event_ns.len() >= EVENT_NS_CAP && !self.event_ns.contains_key(&pid) {
            self.event_ns.clear();
        }
        self.event_ns.insert(pid, ns);
    }

    /// Notes the call that created an object (a *get that returned an id not known before).
    fn note_creation(&mut self, kind: ObjKind, id: ObjId, ev: &Event) {
        let call = match (ev.args, ev.ret) {
            (Some(a), Some(r)) => format!("{}({a}) = {r}", ev.syscall),
            _ => ev.syscall.to_string(),
        };
        self.created.insert(
            (kind, id),
            Creation {
                pid: ev.pid,
                comm: ev.comm.to_string(),
                mono_ns: ev.end_ns.unwrap_or(0),
                call,
            },
        );
    }

    /// The object a finished call named (a created one for a *get that succeeded; the
    /// segment detached for shmdt). Negative ids name no object.
    pub(super) fn object_of(&self, ev: &Event, ns: NsId) -> Option<ObjKey> {
        let kind = ObjKind::of(ev.syscall);
        let id = match ev.args? {
            Args::Semget { .. } | Args::Shmget { .. } | Args::Msgget { .. } => {
                ev.ret.filter(|&r| r >= 0).map(|r| r as i32)?
            }
            Args::Shmdt { shmaddr } => {
                self.segments
                    .values()
                    .find(|s| {
                        s.id.ns == ns
                            && s.attachments
                                .iter()
                                .any(|a| a.pid == ev.pid && a.addr == shmaddr)
                    })?
                    .id
                    .id
            }
            a => a.id()?,
        };
        (id >= 0).then_some((kind, ObjId { ns, id }))
    }

    /// A *get that made a new object: the model's and the account's entries of that id, if
    /// any, were of an older object (a namespace's inode and ids are reused), which ends.
    pub(super) fn note_birth(&mut self, ev: &Event, ns: NsId, t: u64) {
        let (Some(args), Some(ret)) = (ev.args, ev.ret) else {
            return;
        };
        if ret < 0 {
            return;
        }
        let (kind, key, flags) = match args {
            Args::Semget { key, flags, .. } => (ObjKind::Sem, key, flags),
            Args::Shmget { key, flags, .. } => (ObjKind::Shm, key, flags),
            Args::Msgget { key, flags, .. } => (ObjKind::Msg, key, flags),
            _ => return,
        };
        let id = ObjId { ns, id: ret as i32 };
        let known = match kind {
            ObjKind::Sem => self.sem_sets.contains_key(&id),
            ObjKind::Shm => self.segments.contains_key(&id),
            ObjKind::Msg => self.queues.contains_key(&id),
        };
        // IPC_PRIVATE, or IPC_CREAT|IPC_EXCL that succeeded, always makes a new object;
        // otherwise a known id is the object opened again.
        let new =
            key.0 == libc::IPC_PRIVATE || flags.contains((libc::IPC_CREAT | libc::IPC_EXCL) as u32);
        if known && !new {
            return;
        }
        // The object already known of that namespace (the kernel's id for it, never reused)
        // and id is this very one: rows and snapshots travel apart from events, and under
        // load they came first. An id is not given again in a namespace before its sequence
        // wraps.
        let this_one = ev.ns_id.is_some() && self.account.object_ns_id((kind, id)) == ev.ns_id;
        if known && !this_one {
            self.object_gone(kind, id);
        }
        if !self.created.contains_key(&(kind, id)) {
            self.account.object_born((kind, id), t, ev.ns_id);
            self.note_creation(kind, id, ev);
        }
    }

    /// Applies one finished call to the objects it changed.
    pub(super) fn finished_call(&mut self, ev: &Event, ns: NsId, t: u64) {
        let Some(args) = ev.args else { return };
        match ObjKind::of(ev.syscall) {
            ObjKind::Sem => self.sem_event(ev, args, ns, t),
            ObjKind::Shm => self.shm_event(ev, args, ns, t),
            ObjKind::Msg => self.msg_event(ev, args, ns, t),
        }
    }

    /// Semaphore calls: holds (without the kernel's), who set the values, creation, removal.
    fn sem_event(&mut self, ev: &Event, args: Args, ns: NsId, t: u64) {
        let failed = ev.failed() || ev.ret.is_none_or(|r| r < 0);
        let ret = ev.ret.unwrap_or(-1);
        let unix_s = self.unix_s(t) as i64;
        let oid = |id: i32| ObjId { ns, id };
        match args {
            Args::Semop {
                semid,
                sops,
                sops_read,
                ..
            } => {
                // The kernel's holds are exact whenever it samples; events only stand in
                // for them without it (they are then every call).
                if failed || !sops_read || self.account.kernel_at().is_some() {
                    return;
                }
                let ops: Vec<(u16, i16, bool)> = sops
                    .as_slice()
                    .iter()
                    .map(|o| {
                        let undo = o.sem_flg.bits & crate::sysv::SEM_UNDO as u16 as u32 != 0;
                        (o.sem_num, o.sem_op, undo)
                    })
                    .collect();
                self.event_holds(oid(semid), ev.pid, &ops, t);
            }
            Args::Semctl {
                semid,
                semnum,
                cmd,
                arg,
            } => {
                let Some(s) = self.sem_sets.get_mut(&oid(semid)) else {
                    return;
                };
                if failed {
                    return;
                }
                let _ = (semnum, arg);
                match cmd.value & 0xff {
                    libc::IPC_RMID => self.object_gone(ObjKind::Sem, oid(semid)),
                    sysv::semcmd::SETVAL | sysv::semcmd::SETALL => {
                        s.values_set_by = Some(ev.pid);
                    }
                    _ => {}
                }
            }
            Args::Semget {
                key, nsems, mode, ..
            } if !failed => {
                let id = oid(ret as i32);
                if !self.sem_sets.contains_key(&id) {
                    self.note_creation(ObjKind::Sem, id, ev);
                }
                self.sem_sets.entry(id).or_insert_with(|| SemSet {
                    id,
                    key: key.0,
                    nsems: nsems.max(0) as u32,
                    perms: mode.0 & 0o777,
                    owner_uid: ev.uid,
                    owner_gid: ev.gid,
                    creator_uid: ev.uid,
                    creator_gid: ev.gid,
                    otime: 0,
                    ctime: unix_s,
                    semaphores: None,
                    creator_pid: Some(ev.pid),
                    values_set_by: None,
                    first_seen_ns: t,
                });
            }
            _ => {}
        }
    }

    /// Shared memory calls: attachments, creation, removal.
    fn shm_event(&mut self, ev: &Event, args: Args, ns: NsId, t: u64) {
        let failed = ev.failed();
        let ret = ev.ret.unwrap_or(-1);
        let unix_s = self.unix_s(t) as i64;
        let oid = |id: i32| ObjId { ns, id };
        match args {
            Args::Shmget {
                key,
                size,
                flags,
                mode,
            } if !failed => {
                let id = oid(ret as i32);
                if !self.segments.contains_key(&id) {
                    self.note_creation(ObjKind::Shm, id, ev);
                }
                self.segments.entry(id).or_insert_with(|| Segment {
                    id,
                    key: key.0,
                    size,
                    perms: mode.0 & 0o777,
                    marked_for_destroy: false,
                    locked: false,
                    owner_uid: ev.uid,
                    owner_gid: ev.gid,
                    creator_uid: ev.uid,
                    creator_gid: ev.gid,
                    creator_pid: ev.pid,
                    last_pid: 0,
                    nattch: 0,
                    atime: 0,
                    dtime: 0,
                    ctime: unix_s,
                    rss: None,
                    swap: None,
                    hugetlb: Some(flags.contains(sysv::SHM_HUGETLB as u32)),
                    attachments: Vec::new(),
                    attachments_complete: true,
                    first_seen_ns: t,
                });
            }
            Args::Shmat { shmid, .. } => {
                let Some(s) = self.segments.get_mut(&oid(shmid)) else {
                    return;
                };
                if failed {
                    return;
                }
                let a = Attachment {
                    pid: ev.pid,
                    shmid,
                    addr: ret as u64,
                    len: s.size,
                    writable: true,
                };
                s.nattch += 1;
                s.last_pid = ev.pid;
                s.atime = unix_s;
                s.attachments.push(a);
                if let Some(v) = self
                    .processes
                    .get_mut(&ev.pid)
                    .and_then(|p| p.attachments.as_mut())
                {
                    v.push(a);
                }
            }
            Args::Shmdt { shmaddr } if !failed => {
                let shmid = self
                    .segments
                    .values()
                    .filter(|s| s.id.ns == ns)
                    .find(|s| {
                        s.attachments
                            .iter()
                            .any(|a| a.pid == ev.pid && a.addr == shmaddr)
                    })
                    .map(|s| s.id);
                if let Some(id) = shmid {
                    if let Some(s) = self.segments.get_mut(&id) {
                        s.attachments
                            .retain(|a| !(a.pid == ev.pid && a.addr == shmaddr));
                        s.nattch = s.nattch.saturating_sub(1);
                        s.last_pid = ev.pid;
                        s.dtime = unix_s;
                        if s.marked_for_destroy && s.nattch == 0 {
                            self.object_gone(ObjKind::Shm, id);
                        }
                    }
                }
                if let Some(v) = self
                    .processes
                    .get_mut(&ev.pid)
                    .and_then(|p| p.attachments.as_mut())
                {
                    v.retain(|a| a.addr != shmaddr);
                }
            }
            Args::Shmctl { shmid, cmd } => {
                let Some(s) = self.segments.get_mut(&oid(shmid)) else {
                    return;
                };
                if !failed && cmd.value & 0xff == libc::IPC_RMID {
                    if s.nattch == 0 {
                        self.object_gone(ObjKind::Shm, oid(shmid));
                    } else {
                        s.marked_for_destroy = true;
                        s.key = 0;
                    }
                }
            }
            _ => {}
        }
    }

    /// Message queue calls: lengths, creation, removal.
    fn msg_event(&mut self, ev: &Event, args: Args, ns: NsId, t: u64) {
        let failed = ev.failed();
        let ret = ev.ret.unwrap_or(-1);
        let unix_s = self.unix_s(t) as i64;
        let oid = |id: i32| ObjId { ns, id };
        match args {
            Args::Msgget { key, mode, .. } if !failed => {
                let id = oid(ret as i32);
                if !self.queues.contains_key(&id) {
                    self.note_creation(ObjKind::Msg, id, ev);
                }
                self.queues.entry(id).or_insert_with(|| Queue {
                    id,
                    key: key.0,
                    perms: mode.0 & 0o777,
                    owner_uid: ev.uid,
                    owner_gid: ev.gid,
                    creator_uid: ev.uid,
                    creator_gid: ev.gid,
                    cbytes: 0,
                    qnum: 0,
                    qbytes: None,
                    last_send_pid: 0,
                    last_recv_pid: 0,
                    stime: 0,
                    rtime: 0,
                    ctime: unix_s,
                    creator_pid: Some(ev.pid),
                    first_seen_ns: t,
                });
            }
            // A queue's length, bytes, last sender and receiver are the snapshot's.
            Args::Msgctl { msqid, cmd } if !failed && cmd.value & 0xff == libc::IPC_RMID => {
                self.object_gone(ObjKind::Msg, oid(msqid));
            }
            _ => {}
        }
    }
}
