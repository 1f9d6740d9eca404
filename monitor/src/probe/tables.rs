//! Reading the probe's maps: its counters, its aggregates and holds (the shared maps plus what
//! each thread's slot, in `SLOTS` or `INFLIGHT`, has not flushed yet), how full its tables
//! are, the calls in progress, and a whole [`KernelSample`] (with the rows pruning retired,
//! see `lifecycle.rs`).
use std::collections::HashMap as StdMap;

use aya::maps::{Array, HashMap, PerCpuArray, PerCpuHashMap};
use monitor_ebpf::{
    AggKey, AggVal, HoldKey, HoldVal, Ident, Slot, Stats, INFLIGHT_MAX_ENTRIES, NSYS, SLOTS_ENTRIES,
};

use super::{Aggregate, Hold, KernelStats, Probe};
use crate::{
    decode,
    event::{start_ticks, Event},
    sample::{KernelSample, RowKey, TableFill},
};

fn nonzero(v: u64) -> Option<u64> {
    (v != 0).then_some(v)
}

/// The row a kernel key names.
pub(super) fn row_key(k: &AggKey) -> Option<RowKey> {
    Some(RowKey {
        pid: k.ident.tgid,
        start: start_ticks(k.ident.start),
        ipc_ns: nonzero(u64::from(k.ident.ipc_ns)),
        ns_id: nonzero(k.ident.ns_id),
        id: (k.id >= 0).then_some(k.id),
        syscall: crate::event::Syscall::from_index(k.sys)?,
    })
}

/// The row of a kernel key and value (`None`: a syscall index the probe does not follow).
pub fn row_of(k: &AggKey, v: &AggVal) -> Option<Aggregate> {
    let mut row = empty_row(&row_key(k)?);
    merge(&mut row, v);
    Some(row)
}

/// An empty row of `key`.
pub(super) fn empty_row(k: &RowKey) -> Aggregate {
    Aggregate {
        pid: k.pid,
        start: k.start,
        ipc_ns: k.ipc_ns,
        ns_id: k.ns_id,
        id: k.id,
        syscall: k.syscall,
        ..Default::default()
    }
}

/// Adds `v` into `a`.
pub(super) fn add_val(a: &mut AggVal, v: &AggVal) {
    a.calls += v.calls;
    a.errors += v.errors;
    a.interrupted += v.interrupted;
    a.ended += v.ended;
    a.total_ns += v.total_ns;
    a.max_ns = a.max_ns.max(v.max_ns);
    a.last_ns = a.last_ns.max(v.last_ns);
    for (h, x) in a.hist.iter_mut().zip(v.hist.iter()) {
        *h += x;
    }
    if a.comm[0] == 0 {
        a.comm = v.comm;
    }
}

/// A slot's running aggregate, with the slot's comm (the kernel names rows when it makes
/// them in `AGG`).
pub(super) fn slot_acc(slot: &monitor_ebpf::Slot) -> AggVal {
    AggVal {
        comm: slot.comm,
        ..slot.acc
    }
}

/// A row's counts as the kernel's value.
fn val_of(a: &Aggregate) -> AggVal {
    AggVal {
        calls: a.calls,
        errors: a.errors,
        interrupted: a.interrupted,
        ended: a.ended,
        total_ns: a.total_ns,
        max_ns: a.max_ns,
        last_ns: a.last_ns,
        hist: a.hist,
        comm: a.comm.map_or([0; 16], |c| c.0),
    }
}

/// Adds `v` into row `a`.
pub(super) fn merge(a: &mut Aggregate, v: &AggVal) {
    let mut sum = val_of(a);
    add_val(&mut sum, v);
    *a = Aggregate {
        calls: sum.calls,
        errors: sum.errors,
        interrupted: sum.interrupted,
        ended: sum.ended,
        total_ns: sum.total_ns,
        max_ns: sum.max_ns,
        last_ns: sum.last_ns,
        hist: sum.hist,
        comm: (sum.comm[0] != 0).then_some(crate::event::Comm(sum.comm)),
        ..*a
    };
}

/// Adds row `b`'s counts into `a`.
fn add_rows(a: &mut Aggregate, b: &Aggregate) {
    merge(a, &val_of(b));
}

/// Adds `d` into `v` (a hold's operations).
pub(super) fn add_hold(v: &mut HoldVal, d: &HoldVal) {
    v.taken += d.taken;
    v.given += d.given;
    v.posted += d.posted;
    v.undo += d.undo;
    v.last_ns = v.last_ns.max(d.last_ns);
}

/// A hold row as the sample has it.
pub(super) fn hold_of(k: &HoldKey, v: &HoldVal) -> Hold {
    let id: &Ident = &k.ident;
    Hold {
        ipc_ns: nonzero(u64::from(id.ipc_ns)),
        ns_id: nonzero(id.ns_id),
        semid: k.semid,
        semnum: k.semnum,
        pid: id.tgid,
        tid: (k.tid != 0).then_some(k.tid),
        start: start_ticks(id.start),
        held: v.taken as i64 - (v.given - v.posted.min(v.given)) as i64,
        taken: v.taken,
        given: v.given,
        posted: Some(v.posted),
        undo: v.undo,
        last_ns: v.last_ns,
    }
}

impl Probe {
    /// Every thread's slot, by thread id: those in `SLOTS` (the indexes claimed in
    /// `SLOT_CLAIMS`) and those in `INFLIGHT`. A slot can go or change between listing and
    /// reading it: such a read is skipped.
    pub(super) fn slots(&self) -> anyhow::Result<Vec<(u32, Slot)>> {
        let claims: HashMap<_, u32, u32> =
            HashMap::try_from(self.ebpf.map("SLOT_CLAIMS").expect("SLOT_CLAIMS"))?;
        let array: Array<_, Slot> = Array::try_from(self.ebpf.map("SLOTS").expect("SLOTS"))?;
        // The kernel's iteration of a hash map starts over from its first bucket when the key
        // it stands on is deleted meanwhile (a thread exiting drops its claim): a key met
        // again is skipped — read twice, a long-lived thread's running aggregate was added
        // twice (a soak's steady process counted 403,012 calls for 202,006 at one sample).
        let mut claimed = std::collections::HashSet::new();
        let mut out: Vec<(u32, Slot)> = claims
            .iter()
            .filter_map(Result::ok)
            .filter(|(idx, _)| claimed.insert(*idx))
            .filter_map(|(idx, tid)| array.get(&idx, 0).ok().map(|s| (tid, s)))
            .filter(|(tid, s)| s.owner == *tid)
            .collect();
        let hash: HashMap<_, u32, Slot> =
            HashMap::try_from(self.ebpf.map("INFLIGHT").expect("INFLIGHT"))?;
        let mut tids = std::collections::HashSet::new();
        out.extend(
            hash.iter()
                .filter_map(Result::ok)
                .filter(|(tid, _)| tids.insert(*tid)),
        );
        Ok(out)
    }

    /// The kernel's counters, summed over CPUs (with the calls userspace could not fold into
    /// a full table in `lost_calls`).
    pub fn stats(&self) -> anyhow::Result<KernelStats> {
        let map: PerCpuArray<_, Stats> =
            PerCpuArray::try_from(self.ebpf.map("STATS").expect("STATS"))?;
        let per_cpu = map.get(&0, 0)?;
        let mut s = KernelStats::default();
        for c in per_cpu.iter() {
            for i in 0..NSYS {
                s.calls[i] += c.calls[i];
                s.errors[i] += c.errors[i];
                s.interrupted[i] += c.interrupted[i];
                s.ended[i] += c.ended[i];
            }
            s.dropped += c.dropped;
            s.inflight_full += c.inflight_full;
            s.agg_full += c.agg_full;
            s.sent += c.sent;
            s.lost_calls += c.lost_calls;
            s.lost_holds += c.lost_holds;
        }
        s.lost_calls += self.life.lost_calls;
        s.lost_holds += self.life.lost_holds;
        Ok(s)
    }

    /// The kernel's aggregate rows (aggregating mode) as they are now, summed over CPUs and
    /// threads, one per [`RowKey`], ordered by it. While calls run, a thread's running
    /// aggregate may be read just before or after it moves to the shared map (a moment's
    /// miscount, made good by the next read); once the calls stop the sums are exact.
    pub fn aggregates(&self) -> anyhow::Result<Vec<Aggregate>> {
        Ok(self.rows()?.0)
    }

    /// [`Probe::aggregates`] and how many entries `AGG` has.
    fn rows(&self) -> anyhow::Result<(Vec<Aggregate>, u64)> {
        let map: PerCpuHashMap<_, AggKey, AggVal> =
            PerCpuHashMap::try_from(self.ebpf.map("AGG").expect("AGG"))?;
        let mut by_key: StdMap<RowKey, Aggregate> = StdMap::new();
        let mut add = |k: &AggKey, v: &AggVal| {
            let Some(rk) = row_key(k) else { return };
            merge(by_key.entry(rk).or_insert_with(|| empty_row(&rk)), v);
        };
        let mut used = 0;
        // A key met again (the iteration started over, see `slots`) is not added twice.
        let mut met = std::collections::HashSet::new();
        for item in map.iter() {
            let Ok((k, per_cpu)) = item else { continue };
            if !met.insert(k) {
                continue;
            }
            used += 1;
            for v in per_cpu.iter() {
                add(&k, v);
            }
        }
        for (_, slot) in self.slots()? {
            if slot.acc_used != 0 {
                add(&slot.acc_key, &slot_acc(&slot));
            }
        }
        let mut out: Vec<Aggregate> = by_key.into_values().filter(|a| a.calls > 0).collect();
        out.sort_by_key(Aggregate::key);
        Ok((out, used))
    }

    /// Every process's operations on every semaphore it operated on (`held` = taken - given:
    /// above zero it holds units), with what threads have not flushed yet.
    pub fn holds(&self) -> anyhow::Result<Vec<Hold>> {
        Ok(self.hold_rows()?.0)
    }

    /// [`Probe::holds`] and how many entries `HOLDS` has.
    fn hold_rows(&self) -> anyhow::Result<(Vec<Hold>, u64)> {
        let map: HashMap<_, HoldKey, HoldVal> =
            HashMap::try_from(self.ebpf.map("HOLDS").expect("HOLDS"))?;
        let mut rows: StdMap<HoldKey, HoldVal> = map.iter().filter_map(Result::ok).collect();
        let used = rows.len() as u64;
        for (_, slot) in self.slots()? {
            if slot.hold_used != 0 {
                add_hold(rows.entry(slot.hold_key).or_default(), &slot.hold);
            }
        }
        let mut out: Vec<Hold> = rows
            .iter()
            .filter(|(_, v)| v.taken != 0 || v.given != 0)
            .map(|(k, v)| hold_of(k, v))
            .collect();
        out.sort_by_key(|h| (h.ipc_ns, h.semid, h.semnum, h.pid, h.start));
        Ok((out, used))
    }

    /// Threads with a slot: claimed indexes of `SLOTS` and entries of `INFLIGHT`.
    fn threads_used(&self) -> anyhow::Result<u64> {
        let claims: HashMap<_, u32, u32> =
            HashMap::try_from(self.ebpf.map("SLOT_CLAIMS").expect("SLOT_CLAIMS"))?;
        let hash: HashMap<_, u32, Slot> =
            HashMap::try_from(self.ebpf.map("INFLIGHT").expect("INFLIGHT"))?;
        // Distinct keys (an iteration may start over, see `slots`).
        let claimed: std::collections::HashSet<u32> =
            claims.keys().filter_map(Result::ok).collect();
        let tids: std::collections::HashSet<u32> = hash.keys().filter_map(Result::ok).collect();
        Ok((claimed.len() + tids.len()) as u64)
    }

    /// Everything the probe counts now, for the model: the counters; in aggregating mode
    /// (`rows`) every row the kernel holds and, once, the final counts of the rows pruning
    /// deleted since the previous sample (their keys in `retired`; a live row of such a key
    /// began after the deletion and waits for the next sample, so that no key is twice in
    /// one); every hold; how full the tables are.
    pub fn sample(&mut self, rows: bool, undecodable: u64) -> anyhow::Result<KernelSample> {
        let stats = self.stats()?;
        let (live, agg_used) = if rows { self.rows()? } else { (Vec::new(), 0) };
        let (mut holds, holds_used) = self.hold_rows()?;
        // The rows of processes that died since the last sample, once (see `Life`); never
        // beside a live row of the same key (a row made again since is the one that counts).
        let hold_key = |h: &Hold| (h.ipc_ns, h.semid, h.semnum, h.pid, h.tid, h.start);
        let now: std::collections::HashSet<_> = holds.iter().map(hold_key).collect();
        holds.extend(
            std::mem::take(&mut self.life.retired_holds)
                .into_iter()
                .filter(|h| !now.contains(&hold_key(h))),
        );
        holds.sort_by_key(|h| (h.ipc_ns, h.semid, h.semnum, h.pid, h.start));
        let threads = self.threads_used()?;
        // Everything read: the retired rows are handed over now, once.
        let mut retired_rows: StdMap<RowKey, Aggregate> = StdMap::new();
        for r in std::mem::take(&mut self.life.retired) {
            // Deleted twice since the last sample (it began anew in between): both counts.
            match retired_rows.entry(r.key()) {
                std::collections::hash_map::Entry::Occupied(mut o) => add_rows(o.get_mut(), &r),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(r);
                }
            }
        }
        let mut retired: Vec<RowKey> = retired_rows.keys().copied().collect();
        retired.sort();
        let mut aggregates: Vec<Aggregate> = live
            .into_iter()
            .filter(|a| !retired_rows.contains_key(&a.key()))
            .collect();
        aggregates.extend(retired_rows.into_values());
        aggregates.sort_by_key(Aggregate::key);
        let fill = TableFill {
            agg: (agg_used, u64::from(self.table_entries)),
            holds: (holds_used, u64::from(self.table_entries)),
            threads: (threads, u64::from(SLOTS_ENTRIES + INFLIGHT_MAX_ENTRIES)),
        };
        Ok(KernelSample {
            stats,
            aggregates,
            retired,
            holds,
            undecodable,
            fill: Some(fill),
        })
    }

    /// The calls in progress right now that have run at least `min_age` (blocked ones among
    /// them), oldest first. Calls whose entry was not seen have no start and are left out.
    /// The probe keeps no uid, gid or comm for calls in progress: they are read from /proc
    /// (a thread gone meanwhile keeps the probe's stale ones); the IPC namespace is the one
    /// the thread's slot keeps.
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
                    ev.ipc_ns = nonzero(u64::from(slot.ident.ipc_ns));
                    ev.ns_id = nonzero(slot.ident.ns_id);
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

/// Fills a call in progress's comm, uid, gid, IPC namespace (when the slot had none) and
/// cgroup from /proc/PID/task/TID (the probe takes the cgroup only for calls it sends; a
/// thread blocked in a call cannot change them, so /proc is exact for as long as the call
/// runs).
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
