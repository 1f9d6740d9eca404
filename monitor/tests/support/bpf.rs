//! What a process holds of BPF, from /proc. Shared by the probe's exit and slot tests
//! (monitor/tests/probe_exit.rs, slots_real.rs) and `cargo xtask bench` (which includes
//! this file).
#![allow(dead_code)]

/// The ids of the BPF programs process `pid` holds (from its fds' fdinfo), sorted.
pub fn prog_ids(pid: u32) -> Vec<u32> {
    fdinfo_ids(pid, "prog_id:")
}

/// The ids of the BPF maps process `pid` holds, sorted.
pub fn map_ids(pid: u32) -> Vec<u32> {
    fdinfo_ids(pid, "map_id:")
}

/// The values of fdinfo line `field` over process `pid`'s fds, sorted, without repeats.
fn fdinfo_ids(pid: u32, field: &str) -> Vec<u32> {
    let mut ids: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter_map(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix(field))
                        .and_then(|v| v.trim().parse().ok())
                })
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids.dedup();
    ids
}
