//! Kernel samples on disk: the `kernel` line's body (and the rows and counters of
//! `kernel_delta` lines, [`super::KernelDelta`]) as their own types. These ARE the file format;
//! the internal [`crate::sample`] types carry no serde.
//!
//! The per-syscall counters and the histogram are lists on disk, not fixed arrays: a file
//! written when the probe knew fewer syscalls (or buckets) reads with zeros for the rest; one
//! with counts for more than this ipctop knows is refused rather than cut.
use monitor_ebpf::{HIST_BUCKETS, NSYS};
use serde::{Deserialize, Serialize};

use crate::{event::Syscall, sample};

/// The probe's counters: `calls` and `errors` per syscall, by [`Syscall`] index.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub calls: Vec<u64>,
    pub errors: Vec<u64>,
    pub dropped: u64,
    pub inflight_full: u64,
    pub agg_full: u64,
    pub sent: u64,
}

/// One aggregate row; `syscall` by name, `hist` by bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub pid: u32,
    pub id: Option<i32>,
    pub syscall: Syscall,
    pub calls: u64,
    pub errors: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    pub last_ns: u64,
    pub hist: Vec<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    pub semid: i32,
    pub semnum: u16,
    pub pid: u32,
    pub held: i64,
}

/// A `kernel` line's body: a whole sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub stats: Stats,
    pub aggregates: Vec<Aggregate>,
    pub holds: Vec<Hold>,
    pub undecodable: u64,
}

/// A list on disk as the fixed array inside: shorter is padded with zeros, longer refused
/// unless what is beyond is zero.
fn array<const N: usize>(v: &[u64], what: &'static str) -> Result<[u64; N], &'static str> {
    let mut a = [0; N];
    let (head, tail) = v.split_at(v.len().min(N));
    if tail.iter().any(|&x| x != 0) {
        return Err(what);
    }
    a[..head.len()].copy_from_slice(head);
    Ok(a)
}

impl From<&sample::KernelStats> for Stats {
    fn from(s: &sample::KernelStats) -> Self {
        let sample::KernelStats {
            calls,
            errors,
            dropped,
            inflight_full,
            agg_full,
            sent,
        } = *s;
        Stats {
            calls: calls.to_vec(),
            errors: errors.to_vec(),
            dropped,
            inflight_full,
            agg_full,
            sent,
        }
    }
}

const MORE_SYSCALLS: &str = "a kernel sample counting more syscalls than this ipctop knows";

impl TryFrom<&Stats> for sample::KernelStats {
    type Error = &'static str;
    fn try_from(s: &Stats) -> Result<Self, Self::Error> {
        let Stats {
            calls,
            errors,
            dropped,
            inflight_full,
            agg_full,
            sent,
        } = s;
        Ok(sample::KernelStats {
            calls: array::<NSYS>(calls, MORE_SYSCALLS)?,
            errors: array::<NSYS>(errors, MORE_SYSCALLS)?,
            dropped: *dropped,
            inflight_full: *inflight_full,
            agg_full: *agg_full,
            sent: *sent,
        })
    }
}

impl From<&sample::Aggregate> for Aggregate {
    fn from(a: &sample::Aggregate) -> Self {
        let sample::Aggregate {
            pid,
            id,
            syscall,
            calls,
            errors,
            total_ns,
            max_ns,
            last_ns,
            hist,
        } = *a;
        Aggregate {
            pid,
            id,
            syscall,
            calls,
            errors,
            total_ns,
            max_ns,
            last_ns,
            hist: hist.to_vec(),
        }
    }
}

impl TryFrom<&Aggregate> for sample::Aggregate {
    type Error = &'static str;
    fn try_from(a: &Aggregate) -> Result<Self, Self::Error> {
        let Aggregate {
            pid,
            id,
            syscall,
            calls,
            errors,
            total_ns,
            max_ns,
            last_ns,
            hist,
        } = a;
        Ok(sample::Aggregate {
            pid: *pid,
            id: *id,
            syscall: *syscall,
            calls: *calls,
            errors: *errors,
            total_ns: *total_ns,
            max_ns: *max_ns,
            last_ns: *last_ns,
            hist: array::<HIST_BUCKETS>(hist, "a kernel aggregate with a bad histogram bucket")?,
        })
    }
}

mirror! {
    Hold = sample::Hold { same: semid, semnum, pid, held; }
}

/// Rows and holds, converted one by one (the holds cannot fail).
pub(super) fn aggregates(v: &[Aggregate]) -> Result<Vec<sample::Aggregate>, &'static str> {
    v.iter().map(sample::Aggregate::try_from).collect()
}

pub(super) fn holds_in(v: &[Hold]) -> Vec<sample::Hold> {
    v.iter().map(|&h| h.into()).collect()
}

pub(super) fn holds_out(v: &[sample::Hold]) -> Vec<Hold> {
    v.iter().map(Hold::from).collect()
}

impl From<&sample::KernelSample> for Sample {
    fn from(k: &sample::KernelSample) -> Self {
        let sample::KernelSample {
            stats,
            aggregates,
            holds,
            undecodable,
        } = k;
        Sample {
            stats: stats.into(),
            aggregates: aggregates.iter().map(Aggregate::from).collect(),
            holds: holds_out(holds),
            undecodable: *undecodable,
        }
    }
}

impl TryFrom<&Sample> for sample::KernelSample {
    type Error = &'static str;
    fn try_from(k: &Sample) -> Result<Self, Self::Error> {
        let Sample {
            stats,
            aggregates: rows,
            holds,
            undecodable,
        } = k;
        Ok(sample::KernelSample {
            stats: stats.try_into()?,
            aggregates: aggregates(rows)?,
            holds: holds_in(holds),
            undecodable: *undecodable,
        })
    }
}

#[cfg(test)]
#[path = "wire_kernel_tests.rs"]
mod tests;
