//! Reading the probe's maps: its counters, its aggregates and holds (the shared maps plus what
//! each thread's slot, in `SLOTS` or `INFLIGHT`, has not flushed yet), the calls in
//! progress, and pruning what the kernel keeps for threads and processes that are gone.
use std::{collections::HashMap as StdMap, path::Path};

use aya::maps::{Array, HashMap, PerCpuArray, PerCpuHashMap};
use monitor_ebpf::{AggKey, AggVal, HoldKey, Slot, Stats, HIST_BUCKETS, NSYS};

use super::{Aggregate, Hold, KernelStats, Probe};
use crate::{decode, event::Event};

/// Adds `v` into `a`.
fn merge(a: &mut Aggregate, v: &AggVal) {
    a.calls += v.calls;
    a.errors += v.errors;
    a.total_ns += v.total_ns;
    a.max_ns = a.max_ns.max(v.max_ns);
    a.last_ns = a.last_ns.max(v.last_ns);
    for (h, x) in a.hist.iter_mut().zip(v.hist.iter()) {
        *h += x;
    }
}

fn empty(k: &AggKey) -> Option<Aggregate> {
    Some(Aggregate {
        pid: k.tgid,
        id: (k.id >= 0).then_some(k.id),
        syscall: crate::event::Syscall::from_index(k.sys)?,
        calls: 0,
        errors: 0,
        total_ns: 0,
        max_ns: 0,
        last_ns: 0,
        hist: [0; HIST_BUCKETS],
        ..Default::default()
    })
}

/// What threads that are gone had not flushed (kept by userspace once their slot is pruned).
#[derive(Default)]
pub(super) struct Retired {
    agg: StdMap<AggKey, AggVal>,
}

impl Probe {
    /// Every thread's slot, by thread id: those in `SLOTS` (the indexes claimed in
    /// `SLOT_CLAIMS`) and those in `INFLIGHT`. A slot can go or change between listing and
    /// reading it: such a read is skipped.
    fn slots(&self) -> anyhow::Result<Vec<(u32, Slot)>> {
        let claims: HashMap<_, u32, u32> =
            HashMap::try_from(self.ebpf.map("SLOT_CLAIMS").expect("SLOT_CLAIMS"))?;
        let array: Array<_, Slot> = Array::try_from(self.ebpf.map("SLOTS").expect("SLOTS"))?;
        let mut out: Vec<(u32, Slot)> = claims
            .iter()
            .filter_map(Result::ok)
            .filter_map(|(idx, tid)| array.get(&idx, 0).ok().map(|s| (tid, s)))
            .filter(|(tid, s)| s.owner == *tid)
            .collect();
        let hash: HashMap<_, u32, Slot> =
            HashMap::try_from(self.ebpf.map("INFLIGHT").expect("INFLIGHT"))?;
        out.extend(hash.iter().filter_map(Result::ok));
        Ok(out)
    }

    /// The kernel's counters, summed over CPUs.
    pub fn stats(&self) -> anyhow::Result<KernelStats> {
        let map: PerCpuArray<_, Stats> =
            PerCpuArray::try_from(self.ebpf.map("STATS").expect("STATS"))?;
        let per_cpu = map.get(&0, 0)?;
        let mut s = KernelStats::default();
        for c in per_cpu.iter() {
            for i in 0..NSYS {
                s.calls[i] += c.calls[i];
                s.errors[i] += c.errors[i];
            }
            s.dropped += c.dropped;
            s.inflight_full += c.inflight_full;
            s.agg_full += c.agg_full;
            s.sent += c.sent;
        }
        Ok(s)
    }

    /// The kernel-side aggregates (aggregating mode), summed over CPUs and threads. While
    /// calls run, a thread's running aggregate may be read just before or after it moves to
    /// the shared map (a moment's miscount); once the calls stop the sums are exact.
    pub fn aggregates(&self) -> anyhow::Result<Vec<Aggregate>> {
        let map: PerCpuHashMap<_, AggKey, AggVal> =
            PerCpuHashMap::try_from(self.ebpf.map("AGG").expect("AGG"))?;
        let mut by_key: StdMap<AggKey, Aggregate> = StdMap::new();
        let mut add = |k: &AggKey, v: &AggVal| {
            if let Some(a) = by_key.get_mut(k) {
                merge(a, v);
            } else if let Some(mut a) = empty(k) {
                merge(&mut a, v);
                by_key.insert(*k, a);
            }
        };
        for item in map.iter() {
            let Ok((k, per_cpu)) = item else { continue };
            for v in per_cpu.iter() {
                add(&k, v);
            }
        }
        for (_, slot) in self.slots()? {
            if slot.acc_used != 0 {
                add(&slot.acc_key, &slot.acc);
            }
        }
        for (k, v) in &self.retired.agg {
            add(k, v);
        }
        let mut out: Vec<Aggregate> = by_key.into_values().filter(|a| a.calls > 0).collect();
        out.sort_by_key(|a| (a.pid, a.id, a.syscall.index()));
        Ok(out)
    }

    /// Who holds which semaphore: processes whose successful semops on it sum to less than
    /// zero (they took more than they gave back).
    pub fn holds(&self) -> anyhow::Result<Vec<Hold>> {
        let map: HashMap<_, HoldKey, i64> =
            HashMap::try_from(self.ebpf.map("HOLDS").expect("HOLDS"))?;
        let mut net: StdMap<HoldKey, i64> = map.iter().filter_map(Result::ok).collect();
        for (_, slot) in self.slots()? {
            if slot.hold_used != 0 {
                *net.entry(slot.hold_key).or_default() += slot.hold_net;
            }
        }
        let mut out: Vec<Hold> = net
            .into_iter()
            .filter(|(_, n)| *n < 0)
            .map(|(k, n)| Hold {
                semid: k.semid,
                semnum: k.semnum,
                pid: k.tgid,
                held: -n,
                taken: (-n).max(0) as u64,
                ..Default::default()
            })
            .collect();
        out.sort_by_key(|h| (h.semid, h.semnum, h.pid));
        Ok(out)
    }

    /// Forgets what the kernel keeps for threads and processes that are gone: their
    /// slots (`SLOTS`, `INFLIGHT`: kept per thread, see the program; what they had not
    /// flushed is kept here) and their `HOLDS`. Returns how many entries went. Call it every few seconds.
    pub fn prune(&mut self) -> anyhow::Result<usize> {
        let alive = |id: u32| Path::new(&format!("/proc/{id}")).exists();
        let mut n = 0;
        let mut gone: Vec<Slot> = Vec::new();
        // In SLOTS: the slot zeroed first, then the claim dropped (the program claims only a
        // free index, and a claimed slot is whatever its owner left: zeros here).
        let dead: Vec<(u32, u32)> = {
            let claims: HashMap<_, u32, u32> =
                HashMap::try_from(self.ebpf.map("SLOT_CLAIMS").expect("SLOT_CLAIMS"))?;
            claims
                .iter()
                .filter_map(Result::ok)
                .filter(|(_, t)| !alive(*t))
                .collect()
        };
        if !dead.is_empty() {
            let mut array: Array<_, Slot> =
                Array::try_from(self.ebpf.map_mut("SLOTS").expect("SLOTS"))?;
            for &(idx, t) in &dead {
                let Ok(slot) = array.get(&idx, 0) else {
                    continue;
                };
                if slot.owner == t {
                    // SAFETY: Slot is plain old data; all zeros is a free slot.
                    array.set(idx, unsafe { std::mem::zeroed::<Slot>() }, 0)?;
                    gone.push(slot);
                }
            }
            let mut claims: HashMap<_, u32, u32> =
                HashMap::try_from(self.ebpf.map_mut("SLOT_CLAIMS").expect("SLOT_CLAIMS"))?;
            for (idx, _) in dead {
                let _ = claims.remove(&idx);
            }
        }
        let mut slots: HashMap<_, u32, Slot> =
            HashMap::try_from(self.ebpf.map_mut("INFLIGHT").expect("INFLIGHT"))?;
        let dead: Vec<(u32, Slot)> = slots
            .iter()
            .filter_map(Result::ok)
            .filter(|(t, _)| !alive(*t))
            .collect();
        for (t, slot) in dead {
            if slots.remove(&t).is_ok() {
                gone.push(slot);
            }
        }
        let mut orphan_holds = Vec::new();
        for slot in gone {
            n += 1;
            if slot.acc_used != 0 {
                let r = self.retired.agg.entry(slot.acc_key).or_default();
                r.calls += slot.acc.calls;
                r.errors += slot.acc.errors;
                r.total_ns += slot.acc.total_ns;
                r.max_ns = r.max_ns.max(slot.acc.max_ns);
                r.last_ns = r.last_ns.max(slot.acc.last_ns);
                for (h, x) in r.hist.iter_mut().zip(slot.acc.hist.iter()) {
                    *h += x;
                }
            }
            if slot.hold_used != 0 && slot.hold_net != 0 {
                orphan_holds.push((slot.hold_key, slot.hold_net));
            }
        }
        let mut holds: HashMap<_, HoldKey, i64> =
            HashMap::try_from(self.ebpf.map_mut("HOLDS").expect("HOLDS"))?;
        // A gone thread's unflushed net goes to HOLDS (its process may live on).
        for (k, net) in orphan_holds {
            if alive(k.tgid) {
                let old = holds.get(&k, 0).unwrap_or(0);
                let _ = holds.insert(k, old + net, 0);
            }
        }
        let dead: Vec<HoldKey> = holds
            .keys()
            .filter_map(Result::ok)
            .filter(|k| !alive(k.tgid))
            .collect();
        for k in dead {
            n += usize::from(holds.remove(&k).is_ok());
        }
        Ok(n)
    }

    /// The calls in progress right now that have run at least `min_age` (blocked ones among
    /// them), oldest first. Calls whose entry was not seen have no start and are left out.
    /// The probe keeps no uid, gid or comm for calls in progress: they are read from /proc
    /// (a thread gone meanwhile keeps the probe's stale ones).
    pub fn in_flight(&self, min_age: std::time::Duration) -> anyhow::Result<Vec<Event>> {
        let now = crate::event::clock_ns(libc::CLOCK_MONOTONIC);
        let min_age = min_age.as_nanos() as u64;
        let mut out = Vec::new();
        for (_, slot) in self.slots()? {
            // Entries of finished calls (SYS_DONE) do not decode and are skipped.
            if let Ok(mut ev) = decode::decode_call(&slot.call) {
                if ev
                    .start_ns
                    .is_some_and(|s| now.saturating_sub(s) >= min_age)
                {
                    task_ids(&mut ev);
                    out.push(ev);
                }
            }
        }
        out.sort_by_key(|e| e.start_ns);
        Ok(out)
    }
}

/// The cgroup2 mount and the cgroup its top shows, read once.
fn cgroup2_mount() -> Option<&'static (std::path::PathBuf, String)> {
    static MOUNT: std::sync::OnceLock<Option<(std::path::PathBuf, String)>> =
        std::sync::OnceLock::new();
    MOUNT
        .get_or_init(|| {
            let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
            crate::container::cgroup_ids::cgroup2_mount(&mi)
        })
        .as_ref()
}

/// The id of a task's cgroup on the unified hierarchy, as the probe would stamp its calls.
pub fn task_cgroup_id(pid: u32, tid: u32) -> Option<u64> {
    cgroup_id(&format!("/proc/{pid}/task/{tid}"))
}

/// The id of a task's cgroup on the unified hierarchy (what `bpf_get_current_cgroup_id()`
/// returns): the inode of its directory, from its `cgroup` file in `dir` (/proc/PID/task/TID).
fn cgroup_id(dir: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let text = std::fs::read_to_string(format!("{dir}/cgroup")).ok()?;
    let path = crate::container::unified_path(&text)?;
    let (mount, root) = cgroup2_mount()?;
    let rel = path.strip_prefix(root.as_str())?.trim_start_matches('/');
    std::fs::metadata(mount.join(rel)).ok().map(|m| m.ino())
}

/// Fills a call in progress's comm, uid, gid, IPC namespace and cgroup from
/// /proc/PID/task/TID (the probe takes the last two only for calls it sends; a thread blocked
/// in a call cannot change them, so /proc is exact for as long as the call runs).
fn task_ids(ev: &mut Event) {
    use std::os::unix::fs::MetadataExt;
    let dir = format!("/proc/{}/task/{}", ev.pid, ev.tid);
    if ev.ipc_ns.is_none() {
        ev.ipc_ns = std::fs::metadata(format!("{dir}/ns/ipc"))
            .ok()
            .map(|m| m.ino());
    }
    if ev.cgroup_id.is_none() {
        ev.cgroup_id = cgroup_id(&dir);
    }
    if let Ok(comm) = std::fs::read_to_string(format!("{dir}/comm")) {
        ev.comm = crate::event::Comm::from_str_lossy(comm.trim_end_matches('\n'));
    }
    if let Ok(status) = std::fs::read_to_string(format!("{dir}/status")) {
        let first = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        };
        // The real ids (the first of real, effective, saved, fs), as the probe reports.
        if let Some(uid) = first("Uid:") {
            ev.uid = uid;
        }
        if let Some(gid) = first("Gid:") {
            ev.gid = gid;
        }
    }
}
