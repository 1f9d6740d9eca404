//! The snapshot's cost with 10,000 objects and 1,000 processes, made by ipctop-workload in a
//! private IPC namespace (so the machine's namespace stays clean). Not a normal test (no timing
//! assertions); run by hand, as root:
//!
//!     cargo test -p monitor --release --test snapshot_bench -- --ignored --nocapture
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

#[test]
#[ignore = "a measurement, run by hand as root"]
fn snapshot_of_10000_objects_and_1000_processes() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root (unshare, --ipc-ns)");
        return;
    }
    let mut wl = Command::new(env!("CARGO_BIN_EXE_ipctop-workload"))
        .args(["many", "--objects", "10000", "--procs", "1000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let mut line = String::new();
    BufReader::new(wl.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let made: Value = serde_json::from_str(&line).expect("workload line");
    eprintln!("set up {made} in {:?}", t.elapsed());
    let pid = made["pid"].to_string();
    // Let the one-in-ten children block.
    std::thread::sleep(Duration::from_millis(500));
    let mut times = Vec::new();
    let mut doc = Value::Null;
    for _ in 0..5 {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_ipctop"))
            .args(["snapshot", "--json", "--ipc-ns", &pid])
            .output()
            .unwrap();
        times.push(t.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        doc = serde_json::from_slice(&out.stdout).unwrap();
    }
    drop(wl.stdin.take());
    let _ = wl.wait();
    let n = |k: &str| doc[k].as_array().map_or(0, |a| a.len());
    eprintln!(
        "snapshot --json --ipc-ns: {} segments, {} sets, {} queues, {} processes listed, {} waits, {} findings",
        n("shm_segments"),
        n("semaphore_sets"),
        n("message_queues"),
        n("processes"),
        n("waits"),
        n("findings"),
    );
    times.sort();
    eprintln!(
        "wall times (whole command): {times:?}; median {:?}",
        times[times.len() / 2]
    );
    assert_eq!(n("shm_segments") as u64, made["shm"].as_u64().unwrap());
    assert_eq!(n("semaphore_sets") as u64, made["sem"].as_u64().unwrap());
    assert_eq!(n("message_queues") as u64, made["msg"].as_u64().unwrap());
}
