//! What the probe counts in the kernel, as plain data: its counters ([`KernelStats`]), its
//! per-process/syscall/object aggregates ([`Aggregate`]) and its net semaphore operations
//! ([`Hold`]), gathered at one moment into a [`KernelSample`]. A leaf module: the probe fills
//! these, the feed carries them, the recording stores them (in its own form, `record/wire_kernel.rs`) and the model reads them, and none
//! of those needs the others for it.
use crate::event::Syscall;
use monitor_ebpf::{HIST_BUCKETS, NSYS};

/// The probe's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    pub calls: [u64; NSYS],
    pub errors: [u64; NSYS],
    pub dropped: u64,
    pub inflight_full: u64,
    pub agg_full: u64,
    pub sent: u64,
}

impl KernelStats {
    pub fn total_calls(&self) -> u64 {
        self.calls.iter().sum()
    }
}

/// One process's calls of one syscall on one object, counted in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aggregate {
    pub pid: u32,
    /// The object's id; `None` for calls that name none (failed *get, shmdt).
    pub id: Option<i32>,
    pub syscall: Syscall,
    pub calls: u64,
    pub errors: u64,
    /// Sum and maximum of the calls' durations, ns (for semop/msg calls: time waited).
    pub total_ns: u64,
    pub max_ns: u64,
    /// CLOCK_MONOTONIC ns of the last call's exit.
    pub last_ns: u64,
    /// Log2 histogram of durations in µs (see `monitor_ebpf::HIST_BUCKETS`).
    pub hist: [u64; HIST_BUCKETS],
}

/// A process holding a semaphore: it decremented it by `held` more than it incremented it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hold {
    pub semid: i32,
    pub semnum: u16,
    pub pid: u32,
    pub held: i64,
}

/// The probe's counters and in-kernel aggregates at one moment.
#[derive(Clone, Debug, Default)]
pub struct KernelSample {
    pub stats: KernelStats,
    /// Per process, syscall and object (when the probe aggregates in the kernel).
    pub aggregates: Vec<Aggregate>,
    /// Who holds which semaphore, by net operations.
    pub holds: Vec<Hold>,
    /// Records that arrived but did not decode.
    pub undecodable: u64,
}
