//! Kernel samples on disk: the `kernel` line's body (and the rows and counters of
//! `kernel_delta` lines, [`super::KernelDelta`]) as their own types. These ARE the file format;
//! the internal [`crate::sample`] types carry no serde.
//!
//! The per-syscall counters and the histogram are lists on disk, not fixed arrays: a file
//! written when the probe knew fewer syscalls (or buckets) reads with zeros for the rest; one
//! with counts for more than this ipctop knows is refused rather than cut.
use monitor_ebpf::{HIST_BUCKETS, NSYS, NSYS_SYSV};
use serde::{Deserialize, Serialize};

use crate::{event::Syscall, sample};

/// The probe's counters: `calls` and `errors` per syscall, by [`Syscall`] index.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub calls: Vec<u64>,
    pub errors: Vec<u64>,
    #[serde(default, skip_serializing_if = "all_zero")]
    pub interrupted: Vec<u64>,
    #[serde(default, skip_serializing_if = "all_zero")]
    pub ended: Vec<u64>,
    pub dropped: u64,
    pub inflight_full: u64,
    pub agg_full: u64,
    pub sent: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lost_calls: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lost_holds: u64,
}

fn all_zero(v: &[u64]) -> bool {
    v.iter().all(|&x| x == 0)
}

fn is_zero<T: Default + PartialEq>(x: &T) -> bool {
    *x == T::default()
}

/// One aggregate row; `syscall` by name, `hist` by bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns_id: Option<u64>,
    pub id: Option<i32>,
    pub syscall: Syscall,
    pub calls: u64,
    pub errors: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interrupted: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ended: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    pub last_ns: u64,
    pub hist: Vec<u64>,
    /// The comm the kernel gave the row (format 3; absent: unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns_id: Option<u64>,
    pub semid: i32,
    pub semnum: u16,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
    pub held: i64,
    /// Absent in older recordings: then `max(held, 0)` and `max(-held, 0)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posted: Option<u64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub undo: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub last_ns: u64,
}

/// How full the probe's tables were: `[used, capacity]` each.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    pub agg: (u64, u64),
    pub holds: (u64, u64),
    pub threads: (u64, u64),
}

/// A retired row's key (see `sample::KernelSample::retired`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowKey {
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns_id: Option<u64>,
    pub id: Option<i32>,
    pub syscall: Syscall,
}

mirror! {
    Fill = sample::TableFill { same: agg, holds, threads; }
    RowKey = sample::RowKey { same: pid, start, ipc_ns, ns_id, id, syscall; }
}

impl From<&sample::Hold> for Hold {
    fn from(h: &sample::Hold) -> Self {
        let sample::Hold {
            ipc_ns,
            ns_id,
            semid,
            semnum,
            pid,
            tid,
            start,
            held,
            taken,
            given,
            posted,
            undo,
            last_ns,
        } = *h;
        // Written only when they say more than `held` does (older readers, and files, stay
        // as they were for a holder that never gave anything back).
        let derived = taken == held.max(0) as u64 && given == (-held).max(0) as u64;
        Hold {
            ipc_ns,
            ns_id,
            semid,
            semnum,
            pid,
            tid,
            start,
            held,
            taken: (!derived).then_some(taken),
            given: (!derived).then_some(given),
            posted,
            undo,
            last_ns,
        }
    }
}

impl From<Hold> for sample::Hold {
    fn from(h: Hold) -> Self {
        let Hold {
            ipc_ns,
            ns_id,
            semid,
            semnum,
            pid,
            tid,
            start,
            held,
            taken,
            given,
            posted,
            undo,
            last_ns,
        } = h;
        sample::Hold {
            ipc_ns,
            ns_id,
            semid,
            semnum,
            pid,
            tid,
            start,
            held,
            taken: taken.unwrap_or(held.max(0) as u64),
            given: given.unwrap_or((-held).max(0) as u64),
            posted,
            undo,
            last_ns,
        }
    }
}

/// A `kernel` line's body: a whole sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub stats: Stats,
    pub aggregates: Vec<Aggregate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<RowKey>,
    pub holds: Vec<Hold>,
    pub undecodable: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<Fill>,
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
            interrupted,
            ended,
            dropped,
            inflight_full,
            agg_full,
            sent,
            lost_calls,
            lost_holds,
        } = *s;
        // The POSIX queue calls' counters (after System V's) only when one is not zero: a
        // recording without them is written as before (format 5's arrays of 12).
        let mq = [calls, errors, interrupted, ended]
            .iter()
            .any(|a| a[NSYS_SYSV..].iter().any(|&x| x != 0));
        let n = if mq { NSYS } else { NSYS_SYSV };
        Stats {
            calls: calls[..n].to_vec(),
            errors: errors[..n].to_vec(),
            interrupted: interrupted[..n].to_vec(),
            ended: ended[..n].to_vec(),
            lost_calls,
            lost_holds,
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
            interrupted,
            ended,
            dropped,
            inflight_full,
            agg_full,
            sent,
            lost_calls,
            lost_holds,
        } = s;
        Ok(sample::KernelStats {
            calls: array::<NSYS>(calls, MORE_SYSCALLS)?,
            errors: array::<NSYS>(errors, MORE_SYSCALLS)?,
            interrupted: array::<NSYS>(interrupted, MORE_SYSCALLS)?,
            ended: array::<NSYS>(ended, MORE_SYSCALLS)?,
            lost_calls: *lost_calls,
            lost_holds: *lost_holds,
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
            start,
            ipc_ns,
            ns_id,
            id,
            syscall,
            calls,
            errors,
            interrupted,
            ended,
            total_ns,
            max_ns,
            last_ns,
            hist,
            comm,
        } = *a;
        Aggregate {
            pid,
            start,
            ipc_ns,
            ns_id,
            id,
            syscall,
            calls,
            errors,
            interrupted,
            ended,
            total_ns,
            max_ns,
            last_ns,
            hist: hist.to_vec(),
            comm: comm.map(|c| c.as_str().into_owned()),
        }
    }
}

impl TryFrom<&Aggregate> for sample::Aggregate {
    type Error = &'static str;
    fn try_from(a: &Aggregate) -> Result<Self, Self::Error> {
        let Aggregate {
            pid,
            start,
            ipc_ns,
            ns_id,
            id,
            syscall,
            calls,
            errors,
            interrupted,
            ended,
            total_ns,
            max_ns,
            last_ns,
            hist,
            comm,
        } = a;
        Ok(sample::Aggregate {
            pid: *pid,
            start: *start,
            ipc_ns: *ipc_ns,
            ns_id: *ns_id,
            id: *id,
            syscall: *syscall,
            calls: *calls,
            errors: *errors,
            interrupted: *interrupted,
            ended: *ended,
            total_ns: *total_ns,
            max_ns: *max_ns,
            last_ns: *last_ns,
            hist: array::<HIST_BUCKETS>(hist, "a kernel aggregate with a bad histogram bucket")?,
            comm: comm.as_deref().map(crate::event::Comm::from_str_lossy),
        })
    }
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
            retired,
            holds,
            undecodable,
            fill,
        } = k;
        Sample {
            stats: stats.into(),
            aggregates: aggregates.iter().map(Aggregate::from).collect(),
            retired: retired.iter().map(RowKey::from).collect(),
            holds: holds_out(holds),
            undecodable: *undecodable,
            fill: fill.as_ref().map(Fill::from),
        }
    }
}

impl TryFrom<&Sample> for sample::KernelSample {
    type Error = &'static str;
    fn try_from(k: &Sample) -> Result<Self, Self::Error> {
        let Sample {
            stats,
            aggregates: rows,
            retired,
            holds,
            undecodable,
            fill,
        } = k;
        Ok(sample::KernelSample {
            stats: stats.try_into()?,
            aggregates: aggregates(rows)?,
            retired: retired.iter().map(|&r| r.into()).collect(),
            holds: holds_in(holds),
            undecodable: *undecodable,
            fill: (*fill).map(Into::into),
        })
    }
}

#[cfg(test)]
#[path = "wire_kernel_tests.rs"]
mod tests;
