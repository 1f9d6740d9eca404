//! Per-semaphore reads through semctl (GETALL, GETNCNT, GETZCNT, GETPID), and the queue
//! fields /proc does not show (msg_qbytes, through IPC_STAT or MSG_STAT_ANY).
use std::{
    collections::{HashMap, HashSet},
    io,
};

use super::SemRow;
use crate::sysv::{self, ctlcmd, semcmd};

/// One semaphore as semctl reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemValue {
    pub value: i32,
    /// Tasks waiting for the value to increase.
    pub ncnt: i32,
    /// Tasks waiting for the value to become zero.
    pub zcnt: i32,
    /// The pid of the last semop/SETVAL/SETALL on it (0 = none yet).
    pub last_pid: i32,
}

/// Why a read could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFail {
    /// The object went away between listing and reading (normal).
    Gone,
    /// No read permission (needs read permission on the object or CAP_IPC_OWNER).
    Denied,
    /// Any other errno.
    Other(i32),
}

impl ReadFail {
    pub fn from_io(e: &io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::EIDRM) => ReadFail::Gone,
            Some(libc::EACCES) | Some(libc::EPERM) => ReadFail::Denied,
            Some(n) => ReadFail::Other(n),
            None => ReadFail::Other(0),
        }
    }
}

/// Reads every semaphore of a set.
pub fn read_set(semid: i32, nsems: u32) -> Result<Vec<SemValue>, ReadFail> {
    let fail = |e: io::Error| ReadFail::from_io(&e);
    let vals = sysv::semctl_getall(semid, nsems as usize).map_err(fail)?;
    let mut out = Vec::with_capacity(vals.len());
    for (n, &value) in vals.iter().enumerate() {
        let n = n as i32;
        out.push(SemValue {
            value: value as i32,
            ncnt: sysv::semctl_int(semid, n, semcmd::GETNCNT, 0).map_err(fail)?,
            zcnt: sysv::semctl_int(semid, n, semcmd::GETZCNT, 0).map_err(fail)?,
            last_pid: sysv::semctl_int(semid, n, semcmd::GETPID, 0).map_err(fail)?,
        });
    }
    Ok(out)
}

// msglen_t is c_ulong: u64 here, u32 on 32-bit targets.
#[allow(clippy::useless_conversion)]
fn qbytes(ds: &libc::msqid_ds) -> u64 {
    u64::from(ds.msg_qbytes)
}

/// A queue's maximum size in bytes (msg_qbytes): IPC_STAT, else MSG_STAT_ANY by index
/// (which needs no permission on the queue, since Linux 4.17).
pub fn queue_qbytes(msqid: i32) -> Result<u64, ReadFail> {
    match sysv::msgctl_stat(msqid, libc::IPC_STAT) {
        Ok((_, ds)) => Ok(qbytes(&ds)),
        Err(e) if ReadFail::from_io(&e) == ReadFail::Denied => {
            // The index is the low bits of the id (15 normally, 24 with ipcmni_extend).
            for mask in [0x7fff, 0xff_ffff] {
                if let Ok((id, ds)) = sysv::msgctl_stat(msqid & mask, ctlcmd::MSG_STAT_ANY) {
                    if id == msqid {
                        return Ok(qbytes(&ds));
                    }
                }
            }
            Err(ReadFail::Denied)
        }
        Err(e) => Err(ReadFail::from_io(&e)),
    }
}

/// What the last looks found of each semaphore set, so that a periodic snapshot reads only the
/// sets that changed. A set changed when its `sem_otime` (last semop) or `sem_ctime` (last
/// SETVAL, SETALL or IPC_SET) in /proc/sysvipc/sem is not older than the second of our last
/// read of it: then its values and last pids are read again (GETALL and GETPID). Its waiter
/// counts (GETNCNT, GETZCNT) are read only while a task is blocked on it or they were not zero.
/// An idle set costs no semctl at all.
///
/// Not seen: a SEM_UNDO adjustment made when a process exits (the kernel does not touch the
/// times for it) shows at the set's next change; a set whose last pid is the process that
/// exited is read again at once.
#[derive(Debug, Default)]
pub struct SemCache {
    /// One cache per IPC namespace (ids are per namespace), by its inode (0: unknown).
    by_ns: HashMap<u64, NsSemCache>,
    /// semctl calls made by the last read of every namespace together.
    pub calls: u64,
}

impl SemCache {
    /// Notes the processes of a snapshot: which sets have waiters, which pids are gone (per
    /// namespace; a process whose namespace is unknown counts in `home`'s).
    pub fn saw_processes(&mut self, procs: &[super::ProcRead], home: u64) {
        for (&ns, c) in &mut self.by_ns {
            c.saw_processes(procs, |p| p.ipc_ns.unwrap_or(home) == ns);
        }
    }

    /// Reads the sets of `rows` (of the namespace `ns`, the calling thread's) that changed
    /// since the last call for that namespace, and takes the others from the cache.
    pub fn read(
        &mut self,
        ns: u64,
        rows: Vec<SemRow>,
    ) -> Vec<(SemRow, Result<Vec<SemValue>, ReadFail>)> {
        let c = self.by_ns.entry(ns).or_default();
        let out = c.read(rows);
        self.calls = self.by_ns.values().map(|c| c.calls).sum();
        out
    }

    /// semctl calls made by the last read of namespace `ns`.
    pub fn calls_in(&self, ns: u64) -> u64 {
        self.by_ns.get(&ns).map_or(0, |c| c.calls)
    }

    /// Forgets the namespaces not in `keep` (gone, or no longer read).
    pub fn retain(&mut self, keep: &std::collections::BTreeSet<u64>) {
        self.by_ns.retain(|ns, _| keep.contains(ns));
    }
}

#[derive(Debug, Default)]
struct NsSemCache {
    sets: HashMap<i32, CachedSet>,
    /// Sets a task was blocked on (semop) at the last look at the processes.
    waiting: HashSet<i32>,
    /// Pids seen at the last look at the processes.
    pids: HashSet<u32>,
    /// semctl calls made by the last read (GETALL, GETPID, GETNCNT and GETZCNT together).
    calls: u64,
}

#[derive(Debug)]
struct CachedSet {
    key: i32,
    nsems: u32,
    /// CLOCK_REALTIME second of the read.
    read_s: i64,
    values: Result<Vec<SemValue>, ReadFail>,
}

impl NsSemCache {
    /// Notes the processes of a snapshot: which sets have waiters (among the processes of
    /// this namespace, `mine`), which pids are gone.
    fn saw_processes(
        &mut self,
        procs: &[super::ProcRead],
        mine: impl Fn(&super::ProcRead) -> bool,
    ) {
        self.waiting.clear();
        for w in procs
            .iter()
            .filter(|p| mine(p))
            .filter_map(|p| p.waits.as_ref())
            .flatten()
        {
            if let super::WaitCall::Sem { semid, .. } = w.call {
                self.waiting.insert(semid);
            }
        }
        let now: HashSet<u32> = procs.iter().map(|p| p.pid).collect();
        // A process gone may have had SEM_UNDO adjustments applied at its exit: the sets
        // whose last operation was its are read again.
        for c in self.sets.values_mut() {
            let Ok(v) = &c.values else { continue };
            if v.iter().any(|x| {
                let p = x.last_pid as u32;
                p != 0 && self.pids.contains(&p) && !now.contains(&p)
            }) {
                c.read_s = i64::MIN;
            }
        }
        self.pids = now;
    }

    /// Reads the sets of `rows` that changed since the last call, and takes the others from
    /// the cache.
    fn read(&mut self, rows: Vec<SemRow>) -> Vec<(SemRow, Result<Vec<SemValue>, ReadFail>)> {
        let now_s = (crate::event::clock_ns(libc::CLOCK_REALTIME) / 1_000_000_000) as i64;
        let mut calls = 0u64;
        let mut next = HashMap::with_capacity(rows.len());
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let n = row.nsems as u64;
            let prev = self
                .sets
                .remove(&row.semid)
                .filter(|c| c.key == row.key && c.nsems == row.nsems);
            let (values, read_s) = match prev {
                None => {
                    calls += 1 + 3 * n;
                    (read_set(row.semid, row.nsems), now_s)
                }
                Some(c) => {
                    let changed = row.otime.max(row.ctime) >= c.read_s;
                    let waiters = self.waiting.contains(&row.semid)
                        || c.values
                            .as_ref()
                            .is_ok_and(|v| v.iter().any(|x| x.ncnt != 0 || x.zcnt != 0));
                    match c.values {
                        Ok(old) if changed || waiters => {
                            let (v, k) = refresh(row.semid, old, changed, waiters);
                            calls += k;
                            (v, if changed { now_s } else { c.read_s })
                        }
                        Err(_) if changed => {
                            calls += 1 + 3 * n;
                            (read_set(row.semid, row.nsems), now_s)
                        }
                        v => (v, c.read_s),
                    }
                }
            };
            // Removed since it was listed: not an error, just gone.
            if values == Err(ReadFail::Gone) {
                continue;
            }
            next.insert(
                row.semid,
                CachedSet {
                    key: row.key,
                    nsems: row.nsems,
                    read_s,
                    values: values.clone(),
                },
            );
            out.push((row, values));
        }
        self.sets = next;
        self.calls = calls;
        out
    }
}

/// Reads again what may have changed of a set read before: values and last pids when it
/// `changed`, waiter counts when there are `waiters`. Returns the values and the semctl calls.
fn refresh(
    semid: i32,
    mut v: Vec<SemValue>,
    changed: bool,
    waiters: bool,
) -> (Result<Vec<SemValue>, ReadFail>, u64) {
    let fail = |e: io::Error| ReadFail::from_io(&e);
    let mut calls = 0u64;
    let r = (|| {
        if changed {
            calls += 1;
            let vals = sysv::semctl_getall(semid, v.len()).map_err(fail)?;
            for (n, (x, &value)) in v.iter_mut().zip(vals.iter()).enumerate() {
                calls += 1;
                x.value = value as i32;
                x.last_pid = sysv::semctl_int(semid, n as i32, semcmd::GETPID, 0).map_err(fail)?;
            }
        }
        if waiters {
            for (n, x) in v.iter_mut().enumerate() {
                calls += 2;
                x.ncnt = sysv::semctl_int(semid, n as i32, semcmd::GETNCNT, 0).map_err(fail)?;
                x.zcnt = sysv::semctl_int(semid, n as i32, semcmd::GETZCNT, 0).map_err(fail)?;
            }
        }
        Ok(())
    })();
    (r.map(|()| v), calls)
}
