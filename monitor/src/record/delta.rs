//! Kernel samples on disk as changes (format 2 and later): the first sample of a recording
//! is written whole (a `kernel` line); each later one as a `kernel_delta` line holding the
//! counters, the aggregate rows that are new or whose counts moved, the keys of the rows that
//! went away, the keys the probe retired (format 3), the holds when they changed and how full
//! the kernel's tables are (format 3). A row seen before is written as the differences of its
//! counts ([`Moved`]: small numbers, mostly zeros); a new one whole. The reader rebuilds every
//! sample whole, so the model sees exactly the samples the recorder saw.
//!
//! Rows are keyed by their whole identity ([`RowKey`]: pid, process start, namespace, object,
//! syscall; format 3): one pid's rows of two namespaces, or of two processes that had the
//! pid in turn, never collide. Format 2 keyed rows by (pid, id, syscall), its rows having no
//! start or namespace: read as such.
//!
//! A busy host's table has tens of thousands of rows of which a few hundred move in a
//! second: written whole every second it was megabytes a sample (a recording reached 7 GB in
//! 14 minutes).
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use monitor_ebpf::HIST_BUCKETS;

use super::wire_kernel::{self as wire, aggregates, holds_in, holds_out};
use crate::{
    event::Syscall,
    sample::{Aggregate, Hold, KernelSample, RowKey},
};

/// A row's key on disk: `[pid, start, ipc_ns, ns_id, id, syscall]` (format 3; unknowns
/// null), or `[pid, id, syscall]` (format 2).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DiskKey {
    Full(
        u32,
        Option<u64>,
        Option<u64>,
        Option<u64>,
        Option<i32>,
        Syscall,
    ),
    Old(u32, Option<i32>, Syscall),
}

impl From<RowKey> for DiskKey {
    fn from(k: RowKey) -> Self {
        DiskKey::Full(k.pid, k.start, k.ipc_ns, k.ns_id, k.id, k.syscall)
    }
}

impl From<DiskKey> for RowKey {
    fn from(k: DiskKey) -> Self {
        match k {
            DiskKey::Full(pid, start, ipc_ns, ns_id, id, syscall) => RowKey {
                pid,
                start,
                ipc_ns,
                ns_id,
                id,
                syscall,
            },
            DiskKey::Old(pid, id, syscall) => RowKey {
                pid,
                start: None,
                ipc_ns: None,
                ns_id: None,
                id,
                syscall,
            },
        }
    }
}

/// The changes of the kernel sample since the previous `kernel` or `kernel_delta` line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelDelta {
    pub stats: wire::Stats,
    pub undecodable: u64,
    /// Rows new (or begun anew after the previous sample retired their key), whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<wire::Aggregate>,
    /// Rows seen before whose counts moved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<Moved>,
    /// Rows gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gone: Vec<DiskKey>,
    /// The sample's retired rows (format 3; see `sample::KernelSample::retired`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<DiskKey>,
    /// The holds, when they changed (absent: as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holds: Option<Vec<wire::Hold>>,
    /// How full the kernel's tables were (format 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<wire::Fill>,
}

/// A row that moved, the differences wrapping (exact whatever the counts do). Format 3:
/// `[key, Δcalls, Δerrors, Δinterrupted, Δended, Δtotal_ns, max_ns, last_ns,
/// [[bucket, Δcount]…]]`; format 2: `[pid, id, syscall, Δcalls, Δerrors, Δtotal_ns, max_ns,
/// last_ns, [[bucket, Δcount]…]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Moved {
    V3(DiskKey, i64, i64, i64, i64, i64, u64, u64, Vec<(u8, i64)>),
    V2(
        u32,
        Option<i32>,
        Syscall,
        i64,
        i64,
        i64,
        u64,
        u64,
        Vec<(u8, i64)>,
    ),
}

fn diff(new: u64, old: u64) -> i64 {
    new.wrapping_sub(old) as i64
}

/// The differences of one moved row, whatever the format.
struct Change<'a> {
    key: RowKey,
    calls: i64,
    errors: i64,
    interrupted: i64,
    ended: i64,
    total_ns: i64,
    max_ns: u64,
    last_ns: u64,
    hist: &'a [(u8, i64)],
}

impl Moved {
    fn between(old: &Aggregate, new: &Aggregate) -> Moved {
        Moved::V3(
            new.key().into(),
            diff(new.calls, old.calls),
            diff(new.errors, old.errors),
            diff(new.interrupted, old.interrupted),
            diff(new.ended, old.ended),
            diff(new.total_ns, old.total_ns),
            new.max_ns,
            new.last_ns,
            (0..HIST_BUCKETS)
                .filter(|&b| new.hist[b] != old.hist[b])
                .map(|b| (b as u8, diff(new.hist[b], old.hist[b])))
                .collect(),
        )
    }

    fn change(&self) -> Change<'_> {
        match self {
            Moved::V3(k, c, e, i, en, t, max, last, h) => Change {
                key: (*k).into(),
                calls: *c,
                errors: *e,
                interrupted: *i,
                ended: *en,
                total_ns: *t,
                max_ns: *max,
                last_ns: *last,
                hist: h,
            },
            Moved::V2(pid, id, sys, c, e, t, max, last, h) => Change {
                key: DiskKey::Old(*pid, *id, *sys).into(),
                calls: *c,
                errors: *e,
                interrupted: 0,
                ended: 0,
                total_ns: *t,
                max_ns: *max,
                last_ns: *last,
                hist: h,
            },
        }
    }
}

impl Change<'_> {
    /// The row it makes of `old`; `None` for a bucket out of range.
    fn apply(&self, old: &Aggregate) -> Option<Aggregate> {
        let add = |x: u64, d: i64| x.wrapping_add(d as u64);
        let mut a = Aggregate {
            calls: add(old.calls, self.calls),
            errors: add(old.errors, self.errors),
            interrupted: add(old.interrupted, self.interrupted),
            ended: add(old.ended, self.ended),
            total_ns: add(old.total_ns, self.total_ns),
            max_ns: self.max_ns,
            last_ns: self.last_ns,
            ..*old
        };
        for &(b, d) in self.hist {
            let h = a.hist.get_mut(usize::from(b))?;
            *h = add(*h, d);
        }
        Some(a)
    }
}

/// The sample last written or read: the base of the next delta.
#[derive(Default)]
struct Base {
    rows: BTreeMap<RowKey, Aggregate>,
    /// The keys that sample retired: a row of one of them after it began anew.
    retired: BTreeSet<RowKey>,
    holds: Vec<Hold>,
}

impl Base {
    /// From a whole sample; `None` when two rows share a key (no delta can say that).
    fn of(k: &KernelSample) -> Option<Base> {
        let mut rows = BTreeMap::new();
        for a in &k.aggregates {
            if rows.insert(a.key(), *a).is_some() {
                return None;
            }
        }
        Some(Base {
            rows,
            retired: k.retired.iter().copied().collect(),
            holds: k.holds.clone(),
        })
    }
}

/// What the writer writes for a kernel sample.
pub enum Encoded {
    Whole,
    Delta(Box<KernelDelta>),
}

/// Turns successive samples into deltas (the writer's side).
#[derive(Default)]
pub struct Encoder {
    base: Option<Base>,
}

impl Encoder {
    pub fn encode(&mut self, k: &KernelSample) -> Encoded {
        let next = Base::of(k);
        let out = match (&self.base, &next) {
            (Some(base), Some(next)) => {
                // A row of a key the base retired began anew: written whole.
                let seen =
                    |key: &RowKey| base.rows.contains_key(key) && !base.retired.contains(key);
                Encoded::Delta(Box::new(KernelDelta {
                    stats: (&k.stats).into(),
                    undecodable: k.undecodable,
                    set: next
                        .rows
                        .iter()
                        .filter(|(key, _)| !seen(key))
                        .map(|(_, a)| a.into())
                        .collect(),
                    moved: next
                        .rows
                        .iter()
                        .filter(|(key, _)| seen(key))
                        .filter_map(|(key, a)| {
                            let old = base.rows.get(key)?;
                            (old != a).then(|| Moved::between(old, a))
                        })
                        .collect(),
                    gone: base
                        .rows
                        .keys()
                        .filter(|key| !next.rows.contains_key(key))
                        .map(|&key| key.into())
                        .collect(),
                    retired: k.retired.iter().map(|&key| key.into()).collect(),
                    holds: (base.holds != next.holds).then(|| holds_out(&k.holds)),
                    fill: k.fill.as_ref().map(wire::Fill::from),
                }))
            }
            _ => Encoded::Whole,
        };
        self.base = next;
        out
    }
}

/// Rebuilds whole samples from a whole one and the deltas after it (the reader's side).
#[derive(Default)]
pub struct Decoder {
    base: Option<Base>,
}

impl Decoder {
    /// A whole sample read: the base of the deltas that follow.
    pub fn whole(&mut self, k: &KernelSample) {
        self.base = Base::of(k);
    }

    /// The whole sample a delta stands for; an error when there is nothing to apply it to.
    pub fn apply(&mut self, d: KernelDelta) -> Result<KernelSample, &'static str> {
        let base = self
            .base
            .as_mut()
            .ok_or("a kernel delta with no whole kernel sample before it")?;
        for key in &d.gone {
            base.rows.remove(&RowKey::from(*key));
        }
        let stats = (&d.stats).try_into()?;
        for a in aggregates(&d.set)? {
            base.rows.insert(a.key(), a);
        }
        for m in &d.moved {
            let c = m.change();
            let row = base
                .rows
                .get_mut(&c.key)
                .ok_or("a kernel delta moving a row it never set")?;
            *row = c
                .apply(row)
                .ok_or("a kernel delta with a bad histogram bucket")?;
        }
        if let Some(h) = &d.holds {
            base.holds = holds_in(h);
        }
        let retired: Vec<RowKey> = d.retired.iter().map(|&k| k.into()).collect();
        base.retired = retired.iter().copied().collect();
        Ok(KernelSample {
            stats,
            aggregates: base.rows.values().copied().collect(),
            retired,
            holds: base.holds.clone(),
            undecodable: d.undecodable,
            fill: d.fill.map(Into::into),
        })
    }
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
