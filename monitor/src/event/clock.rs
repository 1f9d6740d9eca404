//! The kernel's CLOCK_MONOTONIC stamps as wall-clock time.

/// Converts the kernel's CLOCK_MONOTONIC stamps to wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// realtime - monotonic, in ns.
    offset_ns: i128,
}

impl Clock {
    pub fn now() -> Self {
        let mono = clock_ns(libc::CLOCK_MONOTONIC);
        let real = clock_ns(libc::CLOCK_REALTIME);
        Self {
            offset_ns: real as i128 - mono as i128,
        }
    }

    pub fn with_offset(offset_ns: i128) -> Self {
        Self { offset_ns }
    }

    /// CLOCK_REALTIME - CLOCK_MONOTONIC, in ns.
    pub fn offset_ns(&self) -> i128 {
        self.offset_ns
    }

    /// Unix time in ns of a monotonic stamp.
    pub fn unix_ns(&self, mono_ns: u64) -> u64 {
        (mono_ns as i128 + self.offset_ns).max(0) as u64
    }
}

/// Reads a clock in ns.
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    // Both clocks always exist: clock_gettime cannot fail for them.
    nix::time::clock_gettime(nix::time::ClockId::from_raw(clock)).map_or(0, |ts| {
        ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
    })
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, the unit of /proc/PID/stat's starttime).
fn clk_tck() -> u64 {
    static TCK: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 {
            t as u64
        } else {
            100
        }
    })
}

/// A process start as the kernel keeps it (`start_boottime`, ns) in /proc/PID/stat's unit,
/// converted as the kernel converts it (`nsec_to_clock_t`); `None` for 0 (unknown).
pub fn start_ticks(ns: u64) -> Option<u64> {
    (ns != 0).then(|| ns / (1_000_000_000 / clk_tck()))
}
