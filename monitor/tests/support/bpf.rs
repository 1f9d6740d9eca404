//! What a process holds of BPF, from /proc. Shared by the probe's exit tests
//! (monitor/tests/probe_exit.rs) and `cargo xtask bench` (which includes this file).
#![allow(dead_code)]

/// The ids of the BPF programs process `pid` holds (from its fds' fdinfo), sorted.
pub fn prog_ids(pid: u32) -> Vec<u32> {
    let mut ids: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter_map(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("prog_id:"))
                        .and_then(|v| v.trim().parse().ok())
                })
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids.dedup();
    ids
}
