//! Finished calls from the probe's events: what they change in the objects (values,
//! holders, attachments, queue lengths, creation, removal) until the next snapshot corrects
//! it. Counting them is the account's (`account.rs`), blocked calls the waits' (`waits.rs`).
use super::{Attachment, Creation, Model, NsId, ObjId, ObjKind, Queue, Segment, SemSet, Series};
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

    /// Applies one finished call to the objects it changed.
    pub(super) fn finished_call(&mut self, ev: &Event, ns: NsId, t: u64) {
        let Some(args) = ev.args else { return };
        match ObjKind::of(ev.syscall) {
            ObjKind::Sem => self.sem_event(ev, args, ns, t),
            ObjKind::Shm => self.shm_event(ev, args, ns, t),
            ObjKind::Msg => self.msg_event(ev, args, ns, t),
        }
    }

    /// Semaphore calls: values, holders, creation, removal.
    fn sem_event(&mut self, ev: &Event, args: Args, ns: NsId, t: u64) {
        let failed = ev.failed();
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
                let id = oid(semid);
                if failed || !sops_read {
                    return;
                }
                if let Some(s) = self.sem_sets.get_mut(&id) {
                    s.otime = unix_s;
                    if let Some(v) = s.semaphores.as_mut() {
                        for op in sops.as_slice() {
                            if let Some(x) = v.get_mut(op.sem_num as usize) {
                                x.value = (x.value + op.sem_op as i32).max(0);
                                x.last_pid = ev.pid;
                            }
                        }
                    }
                }
                for op in sops.as_slice().iter().filter(|o| o.sem_op != 0) {
                    let h = self.holds.entry((id, op.sem_num)).or_default();
                    let n = h.entry(ev.pid).or_default();
                    *n -= op.sem_op as i64;
                    if *n <= 0 {
                        h.remove(&ev.pid);
                    }
                }
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
                match cmd.value & 0xff {
                    libc::IPC_RMID => {
                        self.sem_sets.remove(&oid(semid));
                        self.holds.retain(|(set, _), _| *set != oid(semid));
                    }
                    sysv::semcmd::SETVAL => {
                        s.values_set_by = Some(ev.pid);
                        if let Some(x) = s
                            .semaphores
                            .as_mut()
                            .and_then(|v| v.get_mut(semnum as usize))
                        {
                            x.value = arg as i32;
                            x.last_pid = ev.pid;
                        }
                    }
                    sysv::semcmd::SETALL => {
                        s.values_set_by = Some(ev.pid);
                        for x in s.semaphores.iter_mut().flatten() {
                            x.last_pid = ev.pid;
                        }
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
                    waiters_series: Series::default(),
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
                            self.segments.remove(&id);
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
                        self.segments.remove(&oid(shmid));
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
                    qnum_series: Series::default(),
                });
            }
            Args::Msgsnd { msqid, msgsz, .. } => {
                let Some(q) = self.queues.get_mut(&oid(msqid)) else {
                    return;
                };
                if !failed {
                    q.qnum += 1;
                    q.cbytes += msgsz;
                    q.last_send_pid = ev.pid;
                    q.stime = unix_s;
                }
            }
            Args::Msgrcv { msqid, .. } => {
                let Some(q) = self.queues.get_mut(&oid(msqid)) else {
                    return;
                };
                if !failed {
                    q.qnum = q.qnum.saturating_sub(1);
                    q.cbytes = q.cbytes.saturating_sub(ret.max(0) as u64);
                    q.last_recv_pid = ev.pid;
                    q.rtime = unix_s;
                }
            }
            Args::Msgctl { msqid, cmd } if !failed && cmd.value & 0xff == libc::IPC_RMID => {
                self.queues.remove(&oid(msqid));
            }
            _ => {}
        }
    }
}
