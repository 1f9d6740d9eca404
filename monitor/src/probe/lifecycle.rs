//! The kernel tables' lifecycle: they hold only what is alive. A thread's exit frees its slot
//! in the kernel (the `sched_process_exit` program, after flushing it); [`Probe::prune`],
//! run at every sample, deletes the `AGG` and `HOLDS` rows of processes that are gone (no
//! /proc/PID, or one with another start: the pid was reused) and of objects that are removed
//! (absent from the latest snapshot of their namespace, idle for [`IDLE_NS`] and no live
//! thread's running row). A deleted aggregate row's final counts are handed over once, in
//! the next [`Probe::sample`] (its key in `retired`). A slot whose thread is gone but whose
//! exit the program did not see (a thread that exec'd under another id) is folded into the
//! tables from here.
use std::{
    collections::{HashMap as StdMap, HashSet},
    os::fd::{AsFd, AsRawFd},
};

use aya::maps::{Array, HashMap, Map, PerCpuHashMap, PerCpuValues};
use monitor_ebpf::{sys, AggKey, AggVal, HoldKey, HoldVal, Slot, SLOTS_ENTRIES};

use super::{
    tables::{add_hold, add_val, empty_row, hold_of, merge, row_key, slot_acc},
    Aggregate, Hold, Probe,
};

/// How long a removed object's row must have been idle before it is deleted (a call that
/// flushes to it at that moment would start a new row: counted, never lost, but better
/// rare).
pub const IDLE_NS: u64 = 2_000_000_000;

/// The objects that exist, per IPC namespace, as the latest snapshot read them: what
/// [`Probe::prune`] keeps rows for.
#[derive(Clone, Debug, Default)]
pub struct LiveObjects {
    /// CLOCK_MONOTONIC ns when the snapshot began: a row used since may be of an object it
    /// did not see.
    pub taken_ns: u64,
    /// Namespace inode → the ids in it.
    pub namespaces: StdMap<u64, NsIds>,
}

/// The ids of one namespace's objects.
#[derive(Clone, Debug, Default)]
pub struct NsIds {
    pub sem: HashSet<i32>,
    pub shm: HashSet<i32>,
    pub msg: HashSet<i32>,
}

impl LiveObjects {
    /// Whether the object a row of syscall `sys` names by `id` in namespace `ns` is known to
    /// be gone: its namespace was read and the id is not in it.
    fn removed(&self, ns: u32, id: i32, sys_index: u8) -> bool {
        if ns == 0 || id < 0 {
            return false;
        }
        let Some(ids) = self.namespaces.get(&u64::from(ns)) else {
            return false;
        };
        let set = match sys_index {
            sys::SEMGET | sys::SEMOP | sys::SEMTIMEDOP | sys::SEMCTL => &ids.sem,
            sys::SHMGET | sys::SHMAT | sys::SHMDT | sys::SHMCTL => &ids.shm,
            _ => &ids.msg,
        };
        !set.contains(&id)
    }
}

/// What the lifecycle keeps between samples.
#[derive(Default)]
pub(super) struct Life {
    /// Rows deleted since the last sample, with their final counts.
    pub(super) retired: Vec<Aggregate>,
    /// The `HOLDS` rows of gone processes deleted since the last sample: listed once more in
    /// it, so that what a process held when it died is known even when it lived between two
    /// samples (a lock taken without SEM_UNDO by a process that then exits: its waiters are
    /// stuck, and only this row says so).
    pub(super) retired_holds: Vec<Hold>,
    /// Calls and operations userspace could not fold into a full table.
    pub(super) lost_calls: u64,
    pub(super) lost_holds: u64,
    /// What the last sample read of the tables, for the next [`Probe::prune_sampled`].
    pub(super) seen: Option<Seen>,
    /// Processes (pid, start) last found alive by their /proc/PID/stat, and when.
    alive: StdMap<(u32, u64), std::time::Instant>,
    /// [`Probe::prune_sampled`] calls so far.
    prunes: u64,
}

/// What a sample read of the tables: the keys of `AGG` (`None`: not read) and of `HOLDS`,
/// each with its last call's time, and the threads' running rows.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) agg: Option<Vec<(AggKey, u64)>>,
    pub(super) holds: Vec<(HoldKey, u64)>,
    running: HashSet<AggKey>,
    running_holds: HashSet<HoldKey>,
    /// Threads with a slot (alive as the sample was read).
    tids: HashSet<u32>,
}

impl Seen {
    /// Takes the threads' running rows and ids from their `slots`.
    pub(super) fn running(&mut self, slots: &[(u32, Slot)]) {
        for (tid, s) in slots {
            self.tids.insert(*tid);
            if s.acc_used != 0 {
                self.running.insert(s.acc_key);
            }
            if s.hold_used != 0 {
                self.running_holds.insert(s.hold_key);
            }
        }
    }
}

/// How long a process found alive by its /proc/PID/stat is taken for alive while its pid is
/// still in /proc (a pid reused meanwhile is found out at the latest this long after).
const ALIVE_RECHECK: std::time::Duration = std::time::Duration::from_secs(10);

/// [`Probe::prune_sampled`] looks for slots of gone threads whose exit the program did not
/// see (rare: a thread that exec'd) once in this many calls.
const SLOTS_EVERY: u64 = 5;

/// The pids /proc lists now (one directory read).
fn proc_pids() -> std::io::Result<HashSet<u32>> {
    Ok(std::fs::read_dir("/proc")?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect())
}

/// Whether process `pid` that started at `start` (clock ticks; `None`: unknown) still
/// exists: /proc/PID is there with that start. A zombie still exists.
fn process_alive(pid: u32, start: Option<u64>) -> bool {
    let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(start) = start else { return true };
    // Field 22, counted after the comm's closing parenthesis (the comm may hold any byte).
    let Some(close) = stat.iter().rposition(|&b| b == b')') else {
        return true;
    };
    let rest = String::from_utf8_lossy(&stat[close + 1..]);
    match rest
        .split_whitespace()
        .nth(19)
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(s) => s == start,
        None => true,
    }
}

fn thread_alive(tid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{tid}")).exists()
}

/// Looks up and deletes one entry in one step (`BPF_MAP_LOOKUP_AND_DELETE_ELEM`): what a
/// program adds after it is in a new entry, not lost between a read and a delete.
/// `value` is the buffer the kernel fills (per CPU for per-CPU maps).
fn lookup_and_delete(map: &Map, key: &[u8], value: &mut [u8]) -> std::io::Result<()> {
    let data = match map {
        Map::PerCpuHashMap(d) | Map::HashMap(d) => d,
        _ => return Err(std::io::Error::from_raw_os_error(libc::EINVAL)),
    };
    #[repr(C)]
    struct Attr {
        map_fd: u32,
        _pad: u32,
        key: u64,
        value: u64,
        flags: u64,
    }
    let attr = Attr {
        map_fd: data.fd().as_fd().as_raw_fd() as u32,
        _pad: 0,
        key: key.as_ptr() as u64,
        value: value.as_mut_ptr() as u64,
        flags: 0,
    };
    const BPF_MAP_LOOKUP_AND_DELETE_ELEM: libc::c_long = 21;
    // The attribute points at buffers that live through the call, of the map's key size and
    // (per CPU) value size.
    super::caps::bpf(BPF_MAP_LOOKUP_AND_DELETE_ELEM, &attr).map(|_| ())
}

fn bytes_of<T: aya::Pod>(v: &T) -> &[u8] {
    // SAFETY: plain old data, read as bytes.
    unsafe { std::slice::from_raw_parts((v as *const T).cast(), std::mem::size_of::<T>()) }
}

impl Probe {
    /// Deletes what the kernel keeps for what is gone (see the module's comment): slots of
    /// gone threads the exit program did not free (their running counts folded into the
    /// tables), the rows of gone processes, and — with `live`, the latest snapshot's objects
    /// — the rows of removed objects. The deleted aggregate rows go to the next
    /// [`Probe::sample`]. Returns how many entries went. It reads the tables whole and every
    /// process's /proc/PID/stat: [`Probe::prune_sampled`] is its cheap form for a loop.
    pub fn prune(&mut self, live: Option<&LiveObjects>) -> anyhow::Result<usize> {
        let n = self.prune_slots()?;
        let mut seen = Seen::default();
        seen.running(&self.slots()?);
        let mut agg = Vec::new();
        self.walk("AGG", |k: AggKey, v: &[AggVal]| {
            agg.push((k, v.iter().map(|x| x.last_ns).max().unwrap_or(0)));
        })?;
        seen.agg = Some(agg);
        self.walk("HOLDS", |k: HoldKey, v: &[HoldVal]| {
            seen.holds.push((k, v[0].last_ns))
        })?;
        let mut alive: StdMap<(u32, u64), bool> = StdMap::new();
        let mut is_alive = |tgid: u32, start_ns: u64| {
            *alive
                .entry((tgid, start_ns))
                .or_insert_with(|| process_alive(tgid, crate::event::start_ticks(start_ns)))
        };
        Ok(n + self.prune_rows(live, seen, &mut is_alive, &thread_alive)?)
    }

    /// [`Probe::prune`] for a loop that samples after each prune: it looks at what the last
    /// [`Probe::sample`] read of the tables instead of reading them again (a row begun since
    /// is looked at after the next sample), takes a process whose pid /proc still lists and
    /// whose /proc/PID/stat showed the same start less than `ALIVE_RECHECK` (10 s) ago for alive,
    /// and frees the slots of gone threads the exit program missed every `SLOTS_EVERY`th (5th)
    /// call. So a gone process's rows are deleted (their final counts handed over) within two
    /// samples of its end — within `ALIVE_RECHECK` more when its pid was reused at once —,
    /// a removed object's rows as with `prune`, one sample later at most, and a missed
    /// thread's slot within `SLOTS_EVERY` samples. The counts stay exact: a row is read as it
    /// is deleted. Without a sample since the last call it is [`Probe::prune`].
    pub fn prune_sampled(&mut self, live: Option<&LiveObjects>) -> anyhow::Result<usize> {
        let Some(mut seen) = self.life.seen.take() else {
            return self.prune(live);
        };
        self.life.prunes += 1;
        let mut n = 0;
        if self.life.prunes.is_multiple_of(SLOTS_EVERY) {
            n += self.prune_slots()?;
        }
        if seen.agg.is_none() {
            let mut agg = Vec::new();
            self.walk("AGG", |k: AggKey, v: &[AggVal]| {
                agg.push((k, v.iter().map(|x| x.last_ns).max().unwrap_or(0)));
            })?;
            seen.agg = Some(agg);
        }
        let pids = proc_pids()?;
        let mut cache = std::mem::take(&mut self.life.alive);
        let now = std::time::Instant::now();
        let mut looked: HashSet<(u32, u64)> = HashSet::new();
        let mut is_alive = |tgid: u32, start_ns: u64| {
            looked.insert((tgid, start_ns));
            if !pids.contains(&tgid) {
                return false;
            }
            if cache
                .get(&(tgid, start_ns))
                .is_some_and(|t| now.duration_since(*t) < ALIVE_RECHECK)
            {
                return true;
            }
            let alive = process_alive(tgid, crate::event::start_ticks(start_ns));
            if alive {
                cache.insert((tgid, start_ns), now);
            }
            alive
        };
        let tids = std::mem::take(&mut seen.tids);
        let r = self.prune_rows(live, seen, &mut is_alive, &|t| {
            tids.contains(&t) || thread_alive(t)
        });
        // Only the processes that still have rows are remembered.
        cache.retain(|k, _| looked.contains(k));
        self.life.alive = cache;
        Ok(n + r?)
    }

    /// Deletes the rows `seen` lists of gone processes (by `is_alive`) and removed objects,
    /// folds the `HOLDS` rows of gone threads (by `thread_alive`) into their process's.
    fn prune_rows(
        &mut self,
        live: Option<&LiveObjects>,
        seen: Seen,
        is_alive: &mut dyn FnMut(u32, u64) -> bool,
        thread_alive: &dyn Fn(u32) -> bool,
    ) -> anyhow::Result<usize> {
        let mut n = 0;
        let now = crate::event::clock_ns(libc::CLOCK_MONOTONIC);
        let removed_idle = |k_ns: u32, id: i32, sys: u8, last_ns: u64| {
            live.is_some_and(|l| {
                l.removed(k_ns, id, sys)
                    && last_ns < l.taken_ns
                    && now.saturating_sub(last_ns) >= IDLE_NS
            })
        };

        // AGG.
        let doomed: Vec<AggKey> = seen
            .agg
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, last)| {
                !is_alive(k.ident.tgid, k.ident.start)
                    || (!seen.running.contains(k)
                        && removed_idle(k.ident.ipc_ns, k.id, k.sys, *last))
            })
            .map(|(k, _)| k)
            .collect();
        if !doomed.is_empty() {
            let map = self.ebpf.map("AGG").expect("AGG");
            let cpus = aya::util::nr_cpus().map_err(|(_, e)| e)?;
            let stride = std::mem::size_of::<AggVal>().next_multiple_of(8);
            let mut buf = vec![0u8; stride * cpus];
            for k in doomed {
                if lookup_and_delete(map, bytes_of(&k), &mut buf).is_err() {
                    continue;
                }
                n += 1;
                let Some(rk) = row_key(&k) else { continue };
                let mut row = empty_row(&rk);
                for c in 0..cpus {
                    // SAFETY: the kernel wrote one AggVal per possible CPU at this stride.
                    let v: AggVal =
                        unsafe { std::ptr::read_unaligned(buf[c * stride..].as_ptr().cast()) };
                    merge(&mut row, &v);
                }
                if row.calls > 0 {
                    self.life.retired.push(row);
                }
            }
        }

        // HOLDS: dropped (a sample lists the holds of what lives), those of gone processes
        // handed over once more (`retired_holds`); a gone thread's row of a living process
        // into the process's own (tid 0), which only this writes (the kernel writes its
        // threads' rows; a gone thread writes no more). Its units stay the process's: the
        // kernel gives back only those taken with SEM_UNDO, at the process's exit. Each row
        // is read as it is deleted: what it is now, not what `seen` read.
        let mut gone_threads = Vec::new();
        let mut doomed = Vec::new();
        for (k, last) in seen.holds {
            let gone = !is_alive(k.ident.tgid, k.ident.start);
            if gone
                || (!seen.running_holds.contains(&k)
                    && removed_idle(k.ident.ipc_ns, k.semid, sys::SEMOP, last))
            {
                doomed.push((k, gone));
            } else if k.tid != 0
                && k.tid != k.ident.tgid
                && !seen.running_holds.contains(&k)
                && !thread_alive(k.tid)
            {
                gone_threads.push(k);
            }
        }
        let map = self.ebpf.map("HOLDS").expect("HOLDS");
        let take = |k: &HoldKey| -> Option<HoldVal> {
            let mut v = HoldVal::default();
            // SAFETY: HoldVal is plain old data, of the map's value size.
            let buf = unsafe {
                std::slice::from_raw_parts_mut(
                    (&mut v as *mut HoldVal).cast::<u8>(),
                    std::mem::size_of::<HoldVal>(),
                )
            };
            lookup_and_delete(map, bytes_of(k), buf).ok().map(|_| v)
        };
        let mut folds = Vec::new();
        for (k, gone) in doomed {
            let Some(v) = take(&k) else { continue };
            n += 1;
            if gone && (v.taken != 0 || v.given != 0) {
                self.life.retired_holds.push(hold_of(&k, &v));
            }
        }
        for k in gone_threads {
            if let Some(v) = take(&k) {
                folds.push((k, v));
            }
        }
        let mut holds: HashMap<_, HoldKey, HoldVal> =
            HashMap::try_from(self.ebpf.map_mut("HOLDS").expect("HOLDS"))?;
        for (k, v) in folds {
            let whole = HoldKey { tid: 0, ..k };
            let mut sum = holds.get(&whole, 0).unwrap_or_default();
            add_hold(&mut sum, &v);
            n += 1;
            if holds.insert(whole, sum, 0).is_err() {
                // Taken out of the table and no room for the process's row: put back.
                if holds.insert(k, v, 0).is_err() {
                    self.life.lost_holds += v.taken + v.given + v.posted;
                }
            }
        }
        Ok(n)
    }

    /// Rows the kernel had no room for and sent whole (see [`ReaderStats::spilled`]): handed
    /// over with the next sample as retired rows, exactly as pruned ones.
    ///
    /// [`ReaderStats::spilled`]: super::ReaderStats::spilled
    pub fn add_spilled(&mut self, rows: Vec<Aggregate>) {
        self.life.retired.extend(rows);
    }

    /// The rows pruning deleted since the last sample, with their final counts, taken (for a
    /// caller that prunes without sampling: what it does not take stays for the next sample).
    pub fn take_retired(&mut self) -> Vec<Aggregate> {
        std::mem::take(&mut self.life.retired)
    }

    /// Frees the slots of threads that are gone but whose exit the program did not see,
    /// folding what they had not flushed into `AGG` / `HOLDS` (nothing else writes those
    /// rows' running part any more). In `SLOTS`: the slot zeroed first, then the claim
    /// dropped (the program claims only a free index, and a claimed slot is whatever its
    /// owner left: zeros here).
    fn prune_slots(&mut self) -> anyhow::Result<usize> {
        let mut gone: Vec<Slot> = Vec::new();
        let dead: Vec<(u32, u32)> = {
            let claims: HashMap<_, u32, u32> =
                HashMap::try_from(self.ebpf.map("SLOT_CLAIMS").expect("SLOT_CLAIMS"))?;
            claims
                .iter()
                .filter_map(Result::ok)
                .filter(|(_, t)| !thread_alive(*t))
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
            for (idx, t) in dead {
                if claims.get(&idx, 0).is_ok_and(|c| c == t) && idx < SLOTS_ENTRIES {
                    let _ = claims.remove(&idx);
                }
            }
        }
        let mut slots: HashMap<_, u32, Slot> =
            HashMap::try_from(self.ebpf.map_mut("INFLIGHT").expect("INFLIGHT"))?;
        let dead: Vec<(u32, Slot)> = slots
            .iter()
            .filter_map(Result::ok)
            .filter(|(t, _)| !thread_alive(*t))
            .collect();
        for (t, slot) in dead {
            if slots.remove(&t).is_ok() {
                gone.push(slot);
            }
        }
        let n = gone.len();
        for slot in gone {
            if slot.acc_used != 0 {
                self.fold_acc(&slot.acc_key, &slot_acc(&slot))?;
            }
            if slot.hold_used != 0 {
                self.fold_hold(&slot.hold_key, &slot.hold, slot.hold_ops)?;
            }
        }
        Ok(n)
    }

    /// Adds a gone thread's running aggregate to its `AGG` row (on the first CPU's copy).
    fn fold_acc(&mut self, k: &AggKey, v: &AggVal) -> anyhow::Result<()> {
        let mut map: PerCpuHashMap<_, AggKey, AggVal> =
            PerCpuHashMap::try_from(self.ebpf.map_mut("AGG").expect("AGG"))?;
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| e)?;
        let mut vals: Vec<AggVal> = match map.get(k, 0) {
            Ok(per_cpu) => per_cpu.iter().copied().collect(),
            Err(_) => vec![AggVal::default(); cpus],
        };
        let Some(first) = vals.first_mut() else {
            return Ok(());
        };
        add_val(first, v);
        if map.insert(k, PerCpuValues::try_from(vals)?, 0).is_err() {
            self.life.lost_calls += v.calls;
        }
        Ok(())
    }

    /// Adds a gone thread's running hold to its `HOLDS` row.
    fn fold_hold(&mut self, k: &HoldKey, v: &HoldVal, ops: u64) -> anyhow::Result<()> {
        let mut map: HashMap<_, HoldKey, HoldVal> =
            HashMap::try_from(self.ebpf.map_mut("HOLDS").expect("HOLDS"))?;
        let mut old = map.get(k, 0).unwrap_or_default();
        add_hold(&mut old, v);
        if map.insert(k, old, 0).is_err() {
            self.life.lost_holds += ops;
        }
        Ok(())
    }
}
