//! What the benchmarks share: the root check and medians. (A folder, so that cargo does not
//! take it for a benchmark of its own.)
#![allow(dead_code)]

use std::time::Duration;

/// Ends the benchmark with one sentence unless it runs as root: a measurement that cannot
/// run must not pass for one that did (`cargo xtask bench` then fails).
pub fn require_root(what: &str) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("{what} needs root");
        std::process::exit(2);
    }
}

/// The median of `v`, in milliseconds with 0.1 ms precision.
pub fn median_ms(v: &mut [Duration]) -> f64 {
    ms(median(v))
}

/// The median of `v` (the upper one of an even count).
pub fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `d` in milliseconds with 0.1 ms precision.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// CPU time (user + system) a process has used, from /proc/PID/stat.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = procfs::process::Process::new(pid as i32)
        .and_then(|p| p.stat())
        .unwrap_or_else(|e| panic!("/proc/{pid}/stat: {e}"));
    (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64
}
