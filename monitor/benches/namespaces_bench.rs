//! What knowing every namespace costs: the BTF offsets for the probe (read once at start),
//! listing the IPC namespaces of every process, and reading the objects of each (one setns
//! thread), with 50 extra namespaces of one semaphore set each. A benchmark (`cargo xtask
//! bench` runs it and keeps its line in bench/RESULTS.md), as root:
//!
//!     cargo bench -p monitor --bench namespaces_bench
//!
//! It ends with one machine-readable line (medians of 7, in milliseconds):
//!
//!     NAMESPACES_BENCH btf_ms=2.3 list_ms=4.1 read_ms=3.0 namespaces=53 processes=412
use std::{
    os::unix::fs::MetadataExt,
    process::{Child, Command},
    time::{Duration, Instant},
};

use ipctop::{
    kernel_btf::IpcNsOffsets,
    snapshot::{self, namespaces},
};

const EXTRA: usize = 50;

/// The namespace holders, killed and reaped on drop (their objects die with them).
struct Holders(Vec<Child>);

impl Drop for Holders {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

mod common;
use common::median_ms;

fn main() {
    common::require_root("namespaces_bench (unshare, setns)");
    let ours = std::fs::metadata("/proc/self/ns/ipc").unwrap().ino();
    let mut holders = Holders(Vec::new());
    for _ in 0..EXTRA {
        let c = Command::new("unshare")
            .args(["--ipc", "sleep", "300"])
            .spawn()
            .unwrap();
        holders.0.push(c);
    }
    for c in &holders.0 {
        let pid = c.id();
        let t = Instant::now();
        while std::fs::metadata(format!("/proc/{pid}/ns/ipc"))
            .map(|m| m.ino())
            .ok()
            == Some(ours)
        {
            assert!(t.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(2));
        }
        let st = Command::new("nsenter")
            .arg(format!("--ipc=/proc/{pid}/ns/ipc"))
            .args(["ipcmk", "-S", "1"])
            .output()
            .unwrap();
        assert!(st.status.success());
    }
    let (mut btf, mut list, mut read) = (vec![], vec![], vec![]);
    // A whole snapshot (every process, every namespace) against one of our namespace only,
    // interleaved.
    let (mut snap_all, mut snap_home) = (vec![], vec![]);
    let (mut n_ns, mut n_procs) = (0, 0);
    for _ in 0..7 {
        let t = Instant::now();
        IpcNsOffsets::of_running_kernel().unwrap();
        btf.push(t.elapsed());
        let t = Instant::now();
        let l = namespaces::list();
        list.push(t.elapsed());
        let t = Instant::now();
        let r = namespaces::read(&l.namespaces);
        read.push(t.elapsed());
        assert!(l.namespaces.len() > EXTRA);
        let sets: usize = r.iter().flatten().map(|o| o.sem.len()).sum();
        assert!(sets >= EXTRA, "{sets} sets read");
        let t = Instant::now();
        let all = snapshot::take(&snapshot::Options::default()).unwrap();
        snap_all.push(t.elapsed());
        assert!(
            all.others.len() >= EXTRA,
            "{} others read",
            all.others.len()
        );
        let t = Instant::now();
        snapshot::take(&snapshot::Options {
            home_only: true,
            ..Default::default()
        })
        .unwrap();
        snap_home.push(t.elapsed());
        n_ns = l.namespaces.len();
        n_procs = l.namespaces.iter().map(|n| n.pids.len()).sum::<usize>();
    }
    let line = format!(
        "NAMESPACES_BENCH btf_ms={} list_ms={} read_ms={} snapshot_all_ms={} \
         snapshot_home_ms={} namespaces={n_ns} processes={n_procs}",
        median_ms(&mut btf),
        median_ms(&mut list),
        median_ms(&mut read),
        median_ms(&mut snap_all),
        median_ms(&mut snap_home)
    );
    eprintln!("{line}");
    println!("{line}");
}
