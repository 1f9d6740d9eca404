//! Kernel samples on disk as changes (format 2): the first sample of a recording is written
//! whole (a `kernel` line); each later one as a `kernel_delta` line holding the counters, the
//! aggregate rows that are new or whose counts moved, the keys of the rows that went away
//! (pruned by the probe) and the holds when they changed. A row seen before is written as
//! the differences of its counts ([`Moved`]: small numbers, mostly zeros); a new one whole.
//! The reader rebuilds every sample whole, so the model sees exactly the samples the recorder
//! saw.
//!
//! A busy host's table has tens of thousands of rows of which a few hundred move in a
//! second: written whole every second it was megabytes a sample (a recording reached 7 GB in
//! 14 minutes).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use monitor_ebpf::HIST_BUCKETS;

use super::wire_kernel::{self as wire, aggregates, holds_in, holds_out};
use crate::{
    event::Syscall,
    sample::{Aggregate, Hold, KernelSample},
};

/// The changes of the kernel sample since the previous `kernel` or `kernel_delta` line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelDelta {
    pub stats: wire::Stats,
    pub undecodable: u64,
    /// Rows new, whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<wire::Aggregate>,
    /// Rows seen before whose counts moved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<Moved>,
    /// Rows gone: `[pid, id, syscall]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gone: Vec<(u32, Option<i32>, Syscall)>,
    /// The holds, when they changed (absent: as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holds: Option<Vec<wire::Hold>>,
}

/// A row that moved: `[pid, id, syscall, Δcalls, Δerrors, Δtotal_ns, max_ns, last_ns,
/// [[bucket, Δcount]…]]`, the differences wrapping (exact whatever the counts do).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moved(
    pub u32,
    pub Option<i32>,
    pub Syscall,
    pub i64,
    pub i64,
    pub i64,
    pub u64,
    pub u64,
    pub Vec<(u8, i64)>,
);

fn diff(new: u64, old: u64) -> i64 {
    new.wrapping_sub(old) as i64
}

impl Moved {
    fn between(old: &Aggregate, new: &Aggregate) -> Moved {
        Moved(
            new.pid,
            new.id,
            new.syscall,
            diff(new.calls, old.calls),
            diff(new.errors, old.errors),
            diff(new.total_ns, old.total_ns),
            new.max_ns,
            new.last_ns,
            (0..HIST_BUCKETS)
                .filter(|&b| new.hist[b] != old.hist[b])
                .map(|b| (b as u8, diff(new.hist[b], old.hist[b])))
                .collect(),
        )
    }

    /// The row it makes of `old`; `None` for a bucket out of range.
    fn apply(&self, old: &Aggregate) -> Option<Aggregate> {
        let add = |x: u64, d: i64| x.wrapping_add(d as u64);
        let mut a = Aggregate {
            calls: add(old.calls, self.3),
            errors: add(old.errors, self.4),
            total_ns: add(old.total_ns, self.5),
            max_ns: self.6,
            last_ns: self.7,
            ..*old
        };
        for &(b, d) in &self.8 {
            let h = a.hist.get_mut(usize::from(b))?;
            *h = add(*h, d);
        }
        Some(a)
    }
}

/// A row's identity, ordered as the probe orders its rows.
type Key = (u32, Option<i32>, u8);

fn key(a: &Aggregate) -> Key {
    (a.pid, a.id, a.syscall.index() as u8)
}

/// The sample last written or read: the base of the next delta.
#[derive(Default)]
struct Base {
    rows: BTreeMap<Key, Aggregate>,
    holds: Vec<Hold>,
}

impl Base {
    /// From a whole sample; `None` when two rows share a key (no delta can say that).
    fn of(k: &KernelSample) -> Option<Base> {
        let mut rows = BTreeMap::new();
        for a in &k.aggregates {
            if rows.insert(key(a), *a).is_some() {
                return None;
            }
        }
        Some(Base {
            rows,
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
            (Some(base), Some(next)) => Encoded::Delta(Box::new(KernelDelta {
                stats: (&k.stats).into(),
                undecodable: k.undecodable,
                set: next
                    .rows
                    .iter()
                    .filter(|(key, _)| !base.rows.contains_key(key))
                    .map(|(_, a)| a.into())
                    .collect(),
                moved: next
                    .rows
                    .iter()
                    .filter_map(|(key, a)| {
                        let old = base.rows.get(key)?;
                        (old != a).then(|| Moved::between(old, a))
                    })
                    .collect(),
                gone: base
                    .rows
                    .iter()
                    .filter(|(key, _)| !next.rows.contains_key(key))
                    .map(|(_, a)| (a.pid, a.id, a.syscall))
                    .collect(),
                holds: (base.holds != next.holds).then(|| holds_out(&k.holds)),
            })),
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
        for (pid, id, sys) in &d.gone {
            base.rows.remove(&(*pid, *id, sys.index() as u8));
        }
        let stats = (&d.stats).try_into()?;
        for a in aggregates(&d.set)? {
            base.rows.insert(key(&a), a);
        }
        for m in &d.moved {
            let row = base
                .rows
                .get_mut(&(m.0, m.1, m.2.index() as u8))
                .ok_or("a kernel delta moving a row it never set")?;
            *row = m
                .apply(row)
                .ok_or("a kernel delta with a bad histogram bucket")?;
        }
        if let Some(h) = &d.holds {
            base.holds = holds_in(h);
        }
        Ok(KernelSample {
            stats,
            aggregates: base.rows.values().copied().collect(),
            holds: base.holds.clone(),
            undecodable: d.undecodable,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::KernelStats;

    fn row(pid: u32, id: Option<i32>, calls: u64) -> Aggregate {
        Aggregate {
            pid,
            id,
            syscall: Syscall::SEMOP,
            calls,
            errors: 0,
            total_ns: calls * 10,
            max_ns: 10,
            last_ns: calls,
            hist: [calls; HIST_BUCKETS],
            ..Default::default()
        }
    }

    fn sample(rows: Vec<Aggregate>, holds: Vec<Hold>, n: u64) -> KernelSample {
        let mut stats = KernelStats::default();
        stats.calls[0] = n;
        KernelSample {
            stats,
            aggregates: rows,
            holds,
            undecodable: n / 2,
            ..Default::default()
        }
    }

    /// Samples that grow, lose rows, change holds and stand still come back whole, and a
    /// delta carries only what moved.
    #[test]
    fn deltas_rebuild_every_sample() {
        let hold = |held| Hold {
            semid: 1,
            semnum: 0,
            pid: 5,
            held,
            ..Default::default()
        };
        let samples = [
            sample(vec![row(5, Some(1), 1), row(6, None, 2)], vec![hold(1)], 1),
            sample(vec![row(5, Some(1), 3), row(6, None, 2)], vec![hold(1)], 2),
            sample(vec![row(5, Some(1), 3), row(7, Some(2), 1)], vec![], 3),
            sample(vec![row(5, Some(1), 3), row(7, Some(2), 1)], vec![], 4),
            // Counts that go down (never seen; still exact).
            sample(vec![row(5, Some(1), 2), row(7, Some(2), 1)], vec![], 5),
            sample(vec![], vec![hold(2)], 6),
        ];
        let (mut enc, mut dec) = (Encoder::default(), Decoder::default());
        for (i, k) in samples.iter().enumerate() {
            let back = match enc.encode(k) {
                Encoded::Whole => {
                    assert_eq!(i, 0, "only the first sample is written whole");
                    dec.whole(k);
                    k.clone()
                }
                Encoded::Delta(d) => {
                    if i == 1 {
                        assert!(d.set.is_empty() && d.gone.is_empty() && d.holds.is_none());
                        assert_eq!(d.moved.len(), 1);
                        assert_eq!((d.moved[0].0, d.moved[0].3), (5, 2));
                    }
                    if i == 2 {
                        assert_eq!(d.set, vec![(&row(7, Some(2), 1)).into()]);
                        assert_eq!(d.gone, vec![(6, None, Syscall::SEMOP)]);
                    }
                    if i == 3 {
                        assert!(d.set.is_empty() && d.moved.is_empty() && d.gone.is_empty());
                        assert!(d.holds.is_none());
                    }
                    let json = serde_json::to_string(&d).unwrap();
                    dec.apply(serde_json::from_str(&json).unwrap()).unwrap()
                }
            };
            assert_eq!(back.aggregates, k.aggregates, "sample {i}");
            assert_eq!(back.holds, k.holds, "sample {i}");
            assert_eq!(back.stats, k.stats, "sample {i}");
            assert_eq!(back.undecodable, k.undecodable, "sample {i}");
        }
    }

    #[test]
    fn duplicate_keys_are_written_whole_and_a_delta_needs_a_base() {
        let mut enc = Encoder::default();
        let dup = sample(vec![row(5, Some(1), 1), row(5, Some(1), 2)], vec![], 1);
        assert!(matches!(enc.encode(&dup), Encoded::Whole));
        assert!(matches!(enc.encode(&dup), Encoded::Whole));
        let ok = sample(vec![row(5, Some(1), 1)], vec![], 1);
        assert!(matches!(enc.encode(&ok), Encoded::Whole));
        assert!(matches!(enc.encode(&ok), Encoded::Delta(_)));
        assert!(Decoder::default().apply(KernelDelta::default()).is_err());
    }
}
