//! A snapshot (/proc/sysvipc, semctl, /proc/PID) replaces what it covers in the model.
use std::collections::{BTreeMap, BTreeSet};

use super::{
    Attachment, Model, NsId, ObjId, ObjKind, Process, Queue, Segment, SemSet, Semaphore, Since,
    Sop, Source, Wait, WaitOn,
};
use crate::snapshot::{self, sysvipc, Snapshot, WaitCall};

/// Takes the objects of namespace `ns` out of `map` (keys sort by namespace first).
fn take_ns<T>(map: &mut BTreeMap<ObjId, T>, ns: NsId) -> BTreeMap<ObjId, T> {
    let mut mine = map.split_off(&ObjId { ns, id: i32::MIN });
    if let Some(next) = ns.checked_add(1) {
        let mut after = mine.split_off(&ObjId {
            ns: next,
            id: i32::MIN,
        });
        map.append(&mut after);
    }
    mine
}

fn ns_of_read(p: &snapshot::ProcRead, fallback: NsId) -> NsId {
    p.ipc_ns.unwrap_or(fallback)
}

impl Model {
    /// Replaces what the snapshot covers (the objects of its namespace, every process, the
    /// waits seen in /proc) and keeps what only events know (creators, exact wait
    /// starts, holders of processes still alive).
    pub(super) fn apply_snapshot(&mut self, snap: &Snapshot) {
        let ns = snap.ipc_ns.unwrap_or(0);
        let before = self.object_keys();
        // Removals older than this snapshot are in it; the others it must not undo.
        self.removed.retain(|_, t| *t >= snap.mono_ns);
        self.home_ns = ns;
        if !snap.ns_labels.is_empty() {
            self.ns_labels = snap.ns_labels.iter().cloned().collect();
        }
        self.ns_pid = snap.ns_pid;
        self.clock_offset_ns = snap.unix_ns as i128 - snap.mono_ns as i128;
        self.now_mono_ns = self.now_mono_ns.max(snap.mono_ns);
        self.snapshots += 1;
        self.shm_dev = snap.shm_dev.or(self.shm_dev);
        self.unknowns = snap.unknowns.clone();
        self.problems = snap.problems.clone();
        self.limits.insert(ns, snap.limits.clone());
        for o in &snap.others {
            self.limits.insert(o.ipc_ns, o.limits.clone());
        }

        // Processes (all namespaces).
        self.processes.clear();
        for p in &snap.processes {
            let pns = ns_of_read(p, ns);
            self.processes.insert(
                p.pid,
                Process {
                    pid: p.pid,
                    ppid: p.ppid,
                    comm: p.comm.clone(),
                    state: p.state,
                    uid: p.uid,
                    start_unix_ns: p.start_unix_ns,
                    start_ticks: p.start_ticks,
                    threads: p.threads,
                    observer: p.observer,
                    ipc_ns: p.ipc_ns.or((pns == ns).then_some(ns)),
                    cmdline: p.cmdline.clone(),
                    attachments: p.attachments.as_ref().map(|v| {
                        v.iter()
                            .map(|m| Attachment {
                                pid: p.pid,
                                shmid: m.shmid,
                                addr: m.start,
                                len: m.end - m.start,
                                writable: m.writable,
                            })
                            .collect()
                    }),
                },
            );
        }

        // Attachments and hugetlb per segment, from the processes of its namespace.
        let mut attached: BTreeMap<ObjId, Vec<Attachment>> = BTreeMap::new();
        let mut hugetlb: BTreeMap<ObjId, bool> = BTreeMap::new();
        for p in &snap.processes {
            if !matches!(p.state, c if c != 'Z' && c != 'X') {
                continue;
            }
            let Some(maps) = &p.attachments else {
                continue;
            };
            let pns = ns_of_read(p, ns);
            for m in maps {
                let id = ObjId {
                    ns: pns,
                    id: m.shmid,
                };
                attached.entry(id).or_default().push(Attachment {
                    pid: p.pid,
                    shmid: m.shmid,
                    addr: m.start,
                    len: m.end - m.start,
                    writable: m.writable,
                });
                if let Some(dev) = self.shm_dev {
                    hugetlb.insert(id, m.dev != dev);
                }
            }
        }

        let t = snap.mono_ns;
        let mut reborn = self.replace_segments(ns, &snap.shm, &mut attached, &hugetlb, t);
        for o in &snap.others {
            reborn.extend(self.replace_segments(o.ipc_ns, &o.shm, &mut attached, &hugetlb, t));
        }

        // Waits: keep the probe's (exact) ones of live threads; replace the /proc ones.
        let mut waits = BTreeMap::new();
        for p in &snap.processes {
            let pns = ns_of_read(p, ns);
            for tw in p.waits.iter().flatten() {
                let on = match &tw.call {
                    WaitCall::Sem {
                        semid,
                        nsops,
                        sops,
                        timed,
                    } => WaitOn::Sem {
                        semid: *semid,
                        nsops: *nsops,
                        sops: sops.as_ref().map(|v| {
                            v.iter()
                                .map(|s| Sop::new(s.num, s.op, s.flg as u16 as u32))
                                .collect()
                        }),
                        timed: *timed,
                    },
                    WaitCall::Msgrcv {
                        msqid,
                        msgsz,
                        msgtyp,
                    } => WaitOn::MsgRcv {
                        msqid: *msqid,
                        msgtyp: *msgtyp,
                        msgsz: *msgsz,
                    },
                    WaitCall::Msgsnd { msqid, msgsz } => WaitOn::MsgSnd {
                        msqid: *msqid,
                        msgsz: *msgsz,
                    },
                };
                let prev = self
                    .waits
                    .remove(&tw.tid)
                    .filter(|w| w.on.id() == on.id() && w.pid == p.pid);
                // Since when: the probe's start when it saw one; else when the thread went to
                // sleep by (its scheduler clock), kept from the first sighting; else when a
                // snapshot first saw it.
                let asleep = tw
                    .asleep_since_ns
                    .filter(|&t| t <= snap.mono_ns)
                    .map(Since::Asleep);
                let w = match prev {
                    Some(mut w) if w.source == Source::Events => {
                        w.wchan = tw.wchan.clone();
                        w.seen_ns = w.seen_ns.max(snap.mono_ns);
                        w
                    }
                    prev => Wait {
                        pid: p.pid,
                        tid: tw.tid,
                        ns: pns,
                        since: match prev.map(|w| w.since) {
                            Some(s @ Since::Exact(_)) => s,
                            Some(Since::Asleep(t)) => Since::Asleep(t),
                            Some(Since::FirstSeen(t)) => asleep.unwrap_or(Since::FirstSeen(t)),
                            None => asleep.unwrap_or(Since::FirstSeen(snap.mono_ns)),
                        },
                        on,
                        source: Source::Proc,
                        wchan: tw.wchan.clone(),
                        seen_ns: snap.mono_ns,
                    },
                };
                waits.insert(tw.tid, w);
            }
        }
        // Probe waits that /proc did not see: kept while their process lives and /proc could
        // not tell (unreadable), else the call has ended.
        for (tid, w) in std::mem::take(&mut self.waits) {
            let readable = snap
                .processes
                .iter()
                .find(|p| p.pid == w.pid)
                .map(|p| p.waits.is_some());
            if w.source == Source::Events && readable == Some(false) {
                waits.insert(tid, w);
            }
        }
        self.waits = waits;

        // Semaphore sets and queues, per namespace read.
        reborn.extend(self.replace_sets(ns, &snap.sem, t));
        reborn.extend(self.replace_queues(ns, &snap.msg, t));
        for o in &snap.others {
            reborn.extend(self.replace_sets(o.ipc_ns, &o.sem, t));
            reborn.extend(self.replace_queues(o.ipc_ns, &o.msg, t));
        }
        // A namespace with no process left (and not read) is gone, and its objects with it.
        let live: BTreeSet<NsId> = snap
            .processes
            .iter()
            .filter(|p| p.state != 'Z' && p.state != 'X')
            .map(|p| ns_of_read(p, ns))
            .chain(snap.namespaces_read())
            .chain([ns])
            .collect();
        self.segments.retain(|k, _| live.contains(&k.ns));
        self.sem_sets.retain(|k, _| live.contains(&k.ns));
        // What was seen done to sets that no longer exist (a set made and removed between two
        // snapshots is never in one): forgotten, so that it stays bounded.
        let read: BTreeSet<NsId> = std::iter::once(ns).chain(snap.namespaces_read()).collect();
        let sets = &self.sem_sets;
        self.sem_evidence
            .retain(|(set, _), _| sets.contains_key(set) || !read.contains(&set.ns));
        self.queues.retain(|k, _| live.contains(&k.ns));
        self.limits.retain(|k, _| live.contains(k));

        self.objects_changed(before, &reborn);
        // Processes that ended, or whose pid another has now: out of the live account.
        let procs = &self.processes;
        self.account
            .processes_alive(|pid| procs.get(&pid).filter(|p| p.alive()).map(|p| p.start_ticks));
        // Holds seen as events (no kernel samples): forget the dead and the removed.
        if self.account.kernel_at().is_none() {
            let (procs, sets) = (&self.processes, &self.sem_sets);
            let mut holds = std::mem::take(&mut self.holds);
            holds.retain(|(set, _), rows| {
                rows.retain(|r| procs.get(&r.pid).is_some_and(|p| p.alive()));
                !rows.is_empty() && sets.contains_key(set)
            });
            self.replace_holds(holds);
        }
        self.last_snapshot_ns = Some(snap.mono_ns);
    }

    /// Every object the model has, by kind.
    fn object_keys(&self) -> BTreeSet<(ObjKind, ObjId)> {
        self.segments
            .keys()
            .map(|k| (ObjKind::Shm, *k))
            .chain(self.sem_sets.keys().map(|k| (ObjKind::Sem, *k)))
            .chain(self.queues.keys().map(|k| (ObjKind::Msg, *k)))
            .collect()
    }

    /// What a snapshot changed in the objects' lives: those gone ended (their account
    /// retires), those new were born — after the previous snapshot, or before ipctop when
    /// this is the first.
    fn objects_changed(&mut self, before: BTreeSet<(ObjKind, ObjId)>, reborn: &[(ObjKind, ObjId)]) {
        let after = self.object_keys();
        let ended = before.difference(&after).chain(reborn.iter());
        for &(kind, id) in ended.collect::<Vec<_>>() {
            self.created.remove(&(kind, id));
            if kind == ObjKind::Sem {
                self.forget_set(id);
            }
            if kind == ObjKind::Msg {
                self.queue_evidence.remove(&id);
            }
            self.account.object_ended((kind, id));
        }
        let born = self.last_snapshot_ns.unwrap_or(0);
        for &key in after.difference(&before).chain(reborn.iter()) {
            if self.account.object(key.0, key.1).is_none() {
                self.account.object_born(key, born, None);
            }
        }
    }

    /// Replaces the segments of namespace `ns` with those read (attachments taken from
    /// `attached`); returns the ids whose segment is another than before (a new one of the same id).
    fn replace_segments(
        &mut self,
        ns: NsId,
        rows: &[sysvipc::ShmRow],
        attached: &mut BTreeMap<ObjId, Vec<Attachment>>,
        hugetlb: &BTreeMap<ObjId, bool>,
        mono_ns: u64,
    ) -> Vec<(ObjKind, ObjId)> {
        let mut rest = take_ns(&mut self.segments, ns);
        let mut reborn = Vec::new();
        for r in rows {
            let id = ObjId { ns, id: r.shmid };
            if self.removed.contains_key(&(ObjKind::Shm, id)) {
                continue;
            }
            let old = rest.remove(&id);
            let had = old.is_some();
            // Another segment: another key or creator (IPC_RMID while attached zeroes the
            // key).
            let prev = old.filter(|p| (p.key == r.key || r.key == 0) && p.creator_pid == r.cpid);
            if had && prev.is_none() {
                reborn.push((ObjKind::Shm, id));
            }
            let att = attached.remove(&id).unwrap_or_default();
            // Each mapping counts once in nattch: equal counts mean none is hidden.
            let complete = att.len() as u64 == r.nattch;
            self.segments.insert(
                id,
                Segment {
                    id,
                    key: r.key,
                    size: r.size,
                    perms: r.mode & 0o777,
                    marked_for_destroy: r.mode & sysvipc::SHM_DEST != 0,
                    locked: r.mode & sysvipc::SHM_LOCKED != 0,
                    owner_uid: r.uid,
                    owner_gid: r.gid,
                    creator_uid: r.cuid,
                    creator_gid: r.cgid,
                    creator_pid: r.cpid,
                    last_pid: r.lpid,
                    nattch: r.nattch,
                    atime: r.atime,
                    dtime: r.dtime,
                    ctime: r.ctime,
                    rss: r.rss,
                    swap: r.swap,
                    hugetlb: hugetlb
                        .get(&id)
                        .copied()
                        .or(prev.as_ref().and_then(|p| p.hugetlb)),
                    attachments: att,
                    attachments_complete: complete,
                    first_seen_ns: prev.as_ref().map_or(mono_ns, |p| p.first_seen_ns),
                },
            );
        }
        // What the probe saw made after this snapshot was taken is not gone.
        self.segments
            .extend(rest.into_iter().filter(|(_, o)| o.first_seen_ns > mono_ns));
        reborn
    }

    /// Replaces the semaphore sets of namespace `ns` with those read; returns the ids whose
    /// set is another than before (another key).
    fn replace_sets(
        &mut self,
        ns: NsId,
        sets: &[snapshot::SemSetRead],
        mono_ns: u64,
    ) -> Vec<(ObjKind, ObjId)> {
        let mut rest = take_ns(&mut self.sem_sets, ns);
        let mut reborn = Vec::new();
        for s in sets {
            let r = &s.row;
            let id = ObjId { ns, id: r.semid };
            if self.removed.contains_key(&(ObjKind::Sem, id)) {
                continue;
            }
            let old = rest.remove(&id);
            let had = old.is_some();
            let prev = old.filter(|p| p.key == r.key);
            if had && prev.is_none() {
                reborn.push((ObjKind::Sem, id));
            }
            let semaphores = s.values.as_ref().ok().map(|v| {
                v.iter()
                    .enumerate()
                    .map(|(i, x)| Semaphore {
                        semnum: i as u16,
                        value: x.value,
                        ncnt: x.ncnt,
                        zcnt: x.zcnt,
                        last_pid: x.last_pid.max(0) as u32,
                    })
                    .collect::<Vec<_>>()
            });
            self.sem_sets.insert(
                id,
                SemSet {
                    id,
                    key: r.key,
                    nsems: r.nsems,
                    perms: r.mode & 0o777,
                    owner_uid: r.uid,
                    owner_gid: r.gid,
                    creator_uid: r.cuid,
                    creator_gid: r.cgid,
                    otime: r.otime,
                    ctime: r.ctime,
                    semaphores,
                    creator_pid: prev.as_ref().and_then(|p| p.creator_pid),
                    values_set_by: prev.as_ref().and_then(|p| p.values_set_by),
                    first_seen_ns: prev.as_ref().map_or(mono_ns, |p| p.first_seen_ns),
                },
            );
        }
        // What the probe saw made after this snapshot was taken is not gone.
        self.sem_sets
            .extend(rest.into_iter().filter(|(_, o)| o.first_seen_ns > mono_ns));
        reborn
    }

    /// Replaces the queues of namespace `ns` with those read; returns the ids whose queue is
    /// another than before (another key).
    fn replace_queues(
        &mut self,
        ns: NsId,
        queues: &[snapshot::MsgRead],
        mono_ns: u64,
    ) -> Vec<(ObjKind, ObjId)> {
        let mut rest = take_ns(&mut self.queues, ns);
        let mut reborn = Vec::new();
        for m in queues {
            let r = &m.row;
            let id = ObjId { ns, id: r.msqid };
            if self.removed.contains_key(&(ObjKind::Msg, id)) {
                continue;
            }
            let old = rest.remove(&id);
            let had = old.is_some();
            let prev = old.filter(|p| p.key == r.key);
            if had && prev.is_none() {
                reborn.push((ObjKind::Msg, id));
            }
            self.queues.insert(
                id,
                Queue {
                    id,
                    key: r.key,
                    perms: r.mode & 0o777,
                    owner_uid: r.uid,
                    owner_gid: r.gid,
                    creator_uid: r.cuid,
                    creator_gid: r.cgid,
                    cbytes: r.cbytes,
                    qnum: r.qnum,
                    qbytes: m.qbytes.ok(),
                    last_send_pid: r.lspid,
                    last_recv_pid: r.lrpid,
                    stime: r.stime,
                    rtime: r.rtime,
                    ctime: r.ctime,
                    creator_pid: prev.as_ref().and_then(|p| p.creator_pid),
                    first_seen_ns: prev.as_ref().map_or(mono_ns, |p| p.first_seen_ns),
                },
            );
        }
        // What the probe saw made after this snapshot was taken is not gone.
        self.queues
            .extend(rest.into_iter().filter(|(_, o)| o.first_seen_ns > mono_ns));
        reborn
    }
}
