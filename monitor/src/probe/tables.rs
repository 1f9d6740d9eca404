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
pub(super) fn add_rows(a: &mut Aggregate, b: &Aggregate) {
    merge(a, &val_of(b));
}

/// `rows` (of `AGG`, as read) with each thread's running row of `slots` added, ordered by
/// key, one per key. The slots must be read after the map: a running row flushed into the
/// map in between is then missed for one sample, not counted twice (the account takes a row
/// that went down for a new one, so a double read would stay counted).
fn with_running(mut rows: Vec<Aggregate>, slots: &[(u32, Slot)]) -> Vec<Aggregate> {
    for (_, slot) in slots {
        if slot.acc_used != 0 {
            rows.extend(row_of(&slot.acc_key, &slot_acc(slot)));
        }
    }
    // Ordered by key through an index (a row is ~300 bytes: moved once, not by a sort);
    // rows of the same key added up in this order (the map's first, whose comm counts).
    let mut order: Vec<(RowKey, u32)> = rows
        .iter()
        .enumerate()
        .map(|(i, a)| (a.key(), i as u32))
        .collect();
    order.sort_unstable();
    let mut out: Vec<Aggregate> = Vec::with_capacity(order.len());
    for (k, i) in order {
        let r = std::mem::take(&mut rows[i as usize]);
        match out.last_mut() {
            Some(last) if last.key() == k => add_rows(last, &r),
            _ => out.push(r),
        }
    }
    out.retain(|a| a.calls > 0);
    out
}

/// `HOLDS` as read with each thread's running operations of `slots` added (read after the
/// map, as in [`with_running`]), ordered.
fn holds_with_running(mut rows: StdMap<HoldKey, HoldVal>, slots: &[(u32, Slot)]) -> Vec<Hold> {
    for (_, slot) in slots {
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
    out
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
    /// Calls `f` with every entry of hash map `name` (of key `K` and value `V`; one value per
    /// possible CPU for a per-CPU map), each key once: in batches (see `batch.rs`), else by
    /// aya's iterator.
    pub(super) fn walk<K, V>(&self, name: &str, mut f: impl FnMut(K, &[V])) -> anyhow::Result<()>
    where
        K: aya::Pod + Eq + std::hash::Hash,
        V: aya::Pod,
    {
        let map = self
            .ebpf
            .map(name)
            .ok_or_else(|| anyhow::anyhow!("the probe has no {name} map"))?;
        match super::batch::for_each(map, &mut f) {
            Ok(()) => return Ok(()),
            Err(super::batch::Error::Refused) => {}
            Err(e) => return Err(e.into()),
        }
        // The kernel's iteration of a hash map starts over from its first bucket when the key
        // it stands on is deleted meanwhile (a thread exiting drops its claim): a key met
        // again is skipped — read twice, a long-lived thread's running aggregate was added
        // twice (a soak's steady process counted 403,012 calls for 202,006 at one sample).
        let mut met = std::collections::HashSet::new();
        if matches!(map, aya::maps::Map::PerCpuHashMap(_)) {
            let m: PerCpuHashMap<_, K, V> = PerCpuHashMap::try_from(map)?;
            for (k, v) in m.iter().filter_map(Result::ok) {
                if met.insert(k) {
                    f(k, &v);
                }
            }
        } else {
            let m: HashMap<_, K, V> = HashMap::try_from(map)?;
            for (k, v) in m.iter().filter_map(Result::ok) {
                if met.insert(k) {
                    f(k, std::slice::from_ref(&v));
                }
            }
        }
        Ok(())
    }

    /// The claimed indexes of `SLOTS`, with the thread that holds each.
    pub(super) fn claims(&self) -> anyhow::Result<Vec<(u32, u32)>> {
        let mut out = Vec::new();
        self.walk("SLOT_CLAIMS", |idx: u32, tid: &[u32]| {
            out.push((idx, tid[0]))
        })?;
        Ok(out)
    }

    /// Every thread's slot, by thread id: those in `SLOTS` (the indexes claimed in
    /// `SLOT_CLAIMS`) and those in `INFLIGHT`. A slot can go or change between listing and
    /// reading it: such a read is skipped.
    pub(super) fn slots(&self) -> anyhow::Result<Vec<(u32, Slot)>> {
        Ok(self.slots_counted()?.0)
    }

    /// [`Probe::slots`] and how many threads have one (claims and `INFLIGHT` entries).
    fn slots_counted(&self) -> anyhow::Result<(Vec<(u32, Slot)>, u64)> {
        let array: Array<_, Slot> = Array::try_from(self.ebpf.map("SLOTS").expect("SLOTS"))?;
        let claims = self.claims()?;
        let mut n = claims.len() as u64;
        let mut out: Vec<(u32, Slot)> = claims
            .into_iter()
            .filter_map(|(idx, tid)| array.get(&idx, 0).ok().map(|s| (tid, s)))
            .filter(|(tid, s)| s.owner == *tid)
            .collect();
        self.walk("INFLIGHT", |tid: u32, s: &[Slot]| {
            n += 1;
            out.push((tid, s[0]));
        })?;
        Ok((out, n))
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
        let (rows, used) = self.agg_rows(None)?;
        Ok((with_running(rows, &self.slots()?), used))
    }

    /// `AGG`'s rows, one per key, as read (the threads' running rows not in them: see
    /// [`with_running`]), and how many entries it has; each key and its last call's time
    /// into `seen` (for pruning).
    fn agg_rows(
        &self,
        mut seen: Option<&mut Vec<(AggKey, u64)>>,
    ) -> anyhow::Result<(Vec<Aggregate>, u64)> {
        // One row per key of the map (a walk meets each key once), each thread's running
        // row beside them; then ordered, and rows of the same key added up (in this order:
        // the map's first, whose comm counts).
        let mut rows: Vec<Aggregate> = Vec::new();
        let mut used = 0;
        self.walk("AGG", |k: AggKey, per_cpu: &[AggVal]| {
            used += 1;
            if let Some(seen) = seen.as_deref_mut() {
                seen.push((k, per_cpu.iter().map(|v| v.last_ns).max().unwrap_or(0)));
            }
            let Some((first, rest)) = per_cpu.split_first() else {
                return;
            };
            let mut sum = *first;
            for v in rest {
                add_val(&mut sum, v);
            }
            rows.extend(row_of(&k, &sum));
        })?;
        Ok((rows, used))
    }

    /// Every process's operations on every semaphore it operated on (`held` = taken - given:
    /// above zero it holds units), with what threads have not flushed yet.
    pub fn holds(&self) -> anyhow::Result<Vec<Hold>> {
        Ok(self.hold_rows()?.0)
    }

    /// [`Probe::holds`] and how many entries `HOLDS` has.
    fn hold_rows(&self) -> anyhow::Result<(Vec<Hold>, u64)> {
        let (rows, used) = self.hold_map(None)?;
        Ok((holds_with_running(rows, &self.slots()?), used))
    }

    /// `HOLDS` as read, and how many entries it has; each key and its last operation's time
    /// into `seen` (for pruning).
    fn hold_map(
        &self,
        mut seen: Option<&mut Vec<(HoldKey, u64)>>,
    ) -> anyhow::Result<(StdMap<HoldKey, HoldVal>, u64)> {
        let mut rows: StdMap<HoldKey, HoldVal> = StdMap::new();
        self.walk("HOLDS", |k: HoldKey, v: &[HoldVal]| {
            if let Some(seen) = seen.as_deref_mut() {
                seen.push((k, v[0].last_ns));
            }
            rows.insert(k, v[0]);
        })?;
        let used = rows.len() as u64;
        Ok((rows, used))
    }

    /// Everything the probe counts now, for the model: the counters; in aggregating mode
    /// (`rows`) every row the kernel holds and, once, the final counts of the rows pruning
    /// deleted since the previous sample (their keys in `retired`; a live row of such a key
    /// began after the deletion and waits for the next sample, so that no key is twice in
    /// one); every hold; how full the tables are.
    pub fn sample(&mut self, rows: bool, undecodable: u64) -> anyhow::Result<KernelSample> {
        let stats = self.stats()?;
        // The maps, then the threads' slots, once for the whole sample (after the maps: see
        // `with_running`); what it reads of the tables is what the next `prune_sampled`
        // looks at.
        let mut seen = super::lifecycle::Seen::default();
        let (live, agg_used) = if rows {
            let mut keys = Vec::new();
            let r = self.agg_rows(Some(&mut keys))?;
            seen.agg = Some(keys);
            r
        } else {
            (Vec::new(), 0)
        };
        let (hold_map, holds_used) = self.hold_map(Some(&mut seen.holds))?;
        let (slots, threads) = self.slots_counted()?;
        let live = with_running(live, &slots);
        let mut holds = holds_with_running(hold_map, &slots);
        seen.running(&slots);
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
        self.life.seen = Some(seen);
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
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = StdMap::new();
        for (_, slot) in self.slots()? {
            // Entries of finished calls (SYS_DONE) do not decode and are skipped.
            if let Ok(mut ev) = decode::decode_call(&slot.call) {
                let Some(start) = ev.start_ns.filter(|s| now.saturating_sub(*s) >= min_age) else {
                    continue;
                };
                ev.ipc_ns = nonzero(u64::from(slot.ident.ipc_ns));
                ev.ns_id = nonzero(slot.ident.ns_id);
                // A thread still blocked in the same call is not read again (see `TaskIds`).
                let key = (ev.pid, ev.tid, start);
                let got = match ids.remove(&key) {
                    Some(t) => t,
                    None => TaskIds::read(ev.pid, ev.tid, ev.ipc_ns.is_none()),
                };
                got.fill(&mut ev);
                seen.insert(key, got);
                out.push(ev);
            }
        }
        *ids = seen;
        out.sort_by_key(|e| e.start_ns);
        Ok(out)
    }
}

/// What /proc/PID/task/TID says of a thread in a call (uid, gid, comm, IPC namespace,
/// cgroup id), kept by the in-flight scan for as long as the thread is in that same call (by
/// thread and call start): a thread blocked in a call cannot change them, so the first read
/// stays exact, and a thousand blocked threads are not read again ten times a second.
#[derive(Clone, Debug, Default)]
pub(super) struct TaskIds {
    ipc_ns: Option<u64>,
    cgroup_id: Option<u64>,
    comm: Option<crate::event::Comm>,
    uid: Option<u32>,
    gid: Option<u32>,
}

/// The scan's [`TaskIds`] by (pid, tid, call start).
pub(super) type IdCache = std::sync::Mutex<StdMap<(u32, u32, u64), TaskIds>>;

impl TaskIds {
    /// Reads them from /proc/PID/task/TID (the probe takes the cgroup only for calls it
    /// sends; the namespace only when `need_ns`: the slot had none). What cannot be read
    /// (a thread gone meanwhile) is `None`: the probe's stale values stay.
    fn read(pid: u32, tid: u32, need_ns: bool) -> TaskIds {
        use std::os::unix::fs::MetadataExt;
        let dir = format!("/proc/{pid}/task/{tid}");
        let mut ids = TaskIds {
            ipc_ns: need_ns
                .then(|| std::fs::metadata(format!("{dir}/ns/ipc")).ok())
                .flatten()
                .map(|m| m.ino()),
            cgroup_id: cgroup_id(&dir),
            comm: std::fs::read_to_string(format!("{dir}/comm"))
                .ok()
                .map(|c| crate::event::Comm::from_str_lossy(c.trim_end_matches('\n'))),
            ..Default::default()
        };
        if let Ok(status) = std::fs::read_to_string(format!("{dir}/status")) {
            let first = |key: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse().ok())
            };
            // The real ids (the first of real, effective, saved, fs), as the probe reports.
            ids.uid = first("Uid:");
            ids.gid = first("Gid:");
        }
        ids
    }

    /// Puts them on `ev` (its slot's IPC namespace and any cgroup it has kept first).
    fn fill(&self, ev: &mut Event) {
        ev.ipc_ns = ev.ipc_ns.or(self.ipc_ns);
        ev.cgroup_id = ev.cgroup_id.or(self.cgroup_id);
        if let Some(c) = self.comm {
            ev.comm = c;
        }
        if let Some(u) = self.uid {
            ev.uid = u;
        }
        if let Some(g) = self.gid {
            ev.gid = g;
        }
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
