//! The probe's maps as the kernel shows them (bpftool), and processes made to have a chosen
//! pid (the kernel's `ns_last_pid`). Shared by the slot and table tests (slots_real.rs,
//! tables_real.rs).
#![allow(dead_code)]

use std::process::Command;

use serde_json::Value;

use super::Proc;

/// The id of the map called `name` among the maps this process holds.
pub fn my_map(name: &str) -> u32 {
    for id in super::bpf::map_ids(std::process::id()) {
        let o = Command::new("bpftool")
            .args(["-j", "map", "show", "id", &id.to_string()])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        if v["name"] == name {
            return id;
        }
    }
    panic!("this process holds no map {name}");
}

/// A map's entries as bytes: the key, and the value (one per CPU for per-CPU maps).
pub fn dump(map: u32) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
    let o = Command::new("bpftool")
        .args(["-j", "map", "dump", "id", &map.to_string()])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let bytes = |b: &Value| -> Vec<u8> {
        b.as_array()
            .unwrap()
            .iter()
            .map(|x| u8::from_str_radix(x.as_str().unwrap().trim_start_matches("0x"), 16).unwrap())
            .collect()
    };
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let vals = match e.get("values") {
                Some(per_cpu) => per_cpu
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| bytes(&c["value"]))
                    .collect(),
                None => vec![bytes(&e["value"])],
            };
            (bytes(&e["key"]), vals)
        })
        .collect()
}

/// The little-endian u32 at byte `at`.
pub fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// A map's entries as (key, value) u32s (their first four bytes; the first CPU's value).
pub fn entries(map: u32) -> Vec<(u32, u32)> {
    dump(map)
        .iter()
        .map(|(k, v)| (u32_at(k, 0), u32_at(&v[0], 0)))
        .collect()
}

/// Starts `cmd()` so that its pid is `want` (set through `ns_last_pid`; other processes
/// forking meanwhile can take it: tried again), or `None`.
pub fn spawn_with_pid(want: u32, cmd: impl Fn() -> Command) -> Option<Proc> {
    for _ in 0..50 {
        if std::path::Path::new(&format!("/proc/{want}")).exists() {
            return None;
        }
        std::fs::write("/proc/sys/kernel/ns_last_pid", (want - 1).to_string()).unwrap();
        let p = Proc::spawn(&mut cmd());
        if p.pid() == want {
            return Some(p);
        }
    }
    None
}
