//! The snapshot's cost with 10,000 objects and 1,000 processes, made by ipctop-workload in a
//! private IPC namespace (so the machine's namespace stays clean). A benchmark (`cargo xtask
//! bench` runs it and keeps its line in bench/RESULTS.md), as root:
//!
//!     cargo bench -p monitor --bench snapshot_bench
//!
//! It times, separately, the reading alone (`ipctop::snapshot::take` in this process, with
//! the model, analysis and JSON steps of `ipctop snapshot --json` after it) and the whole
//! command (`ipctop snapshot --json --ipc-ns PID`, a process of its own), and ends with one
//! machine-readable line (medians, in milliseconds with 0.1 ms precision) on stderr and
//! stdout:
//!
//!     SNAPSHOT_BENCH take_ms=61.3 command_ms=118.4 objects=10000 processes=1001 posix_ms=40.2
//!
//! `posix_ms` is the POSIX layer's look (`ipctop::posix::take`: every process's descriptors,
//! shared mappings and blocked calls, the queues of every IPC namespace through a private
//! mqueue mount, every /dev/shm), with the same processes, timed the same way.
//!
//! `objects` counts the objects read (segments + sets + queues), `processes` the processes
//! read (every process of the machine, not only the workload's).
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use ipctop::{analysis, cmd::snapshot::to_json, model::Model, snapshot};
use serde_json::Value;

mod common;
use common::{median, ms};

fn main() {
    common::require_root("snapshot_bench (unshare, --ipc-ns)");
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
    let pid = made["pid"].as_u64().unwrap() as u32;
    // Let the one-in-ten children block.
    std::thread::sleep(Duration::from_millis(500));

    // The reading alone, in this process, and the steps of `snapshot --json` after it.
    let opts = snapshot::Options {
        ipc_ns_pid: Some(pid),
        ..Default::default()
    };
    let (mut take_t, mut model_t, mut analysis_t, mut json_t) = (vec![], vec![], vec![], vec![]);
    let mut snap = snapshot::Snapshot::default();
    for _ in 0..7 {
        let t = Instant::now();
        snap = snapshot::take(&opts).expect("take");
        take_t.push(t.elapsed());
        let update = ipctop::feed::Stamped {
            mono_ns: snap.mono_ns,
            update: ipctop::feed::Update::Snapshot(Box::new(snap.clone())),
        };
        let t = Instant::now();
        let mut model = Model::new();
        model.apply(&update);
        model_t.push(t.elapsed());
        let t = Instant::now();
        let findings = analysis::analyze(&model, &analysis::Config::default());
        analysis_t.push(t.elapsed());
        let t = Instant::now();
        let text = serde_json::to_string_pretty(&to_json(&model, &findings)).unwrap();
        json_t.push(t.elapsed());
        assert!(text.len() > 1000);
    }
    let objects = snap.shm.len() + snap.sem.len() + snap.msg.len();
    let processes = snap.processes.len();
    let waits: usize = snap
        .processes
        .iter()
        .filter_map(|p| p.waits.as_ref())
        .map(Vec::len)
        .sum();
    let attached: usize = snap
        .processes
        .iter()
        .filter_map(|p| p.attachments.as_ref())
        .map(Vec::len)
        .sum();
    eprintln!(
        "take(): {} segments, {} sets, {} queues, {processes} processes, {attached} attachments, \
         {waits} waits, {} problems",
        snap.shm.len(),
        snap.sem.len(),
        snap.msg.len(),
        snap.problems.len(),
    );
    eprintln!(
        "in-process medians: take {:?}, model {:?}, analysis {:?}, JSON {:?}",
        median(&mut take_t),
        median(&mut model_t),
        median(&mut analysis_t),
        median(&mut json_t),
    );

    // The POSIX layer's look, with the same processes.
    let mut posix_t = Vec::new();
    let mut posix = ipctop::posix::PosixSnapshot::default();
    for _ in 0..7 {
        let t = Instant::now();
        posix = ipctop::posix::take();
        posix_t.push(t.elapsed());
    }
    eprintln!(
        "posix::take(): {} queues, {} /dev/shm objects, {} futex waits, {} unknowns; median {:?}",
        posix.queues.len(),
        posix.shm.len(),
        posix.futex_waits.len(),
        posix.unknowns.len(),
        median(&mut posix_t.clone()),
    );

    // The whole command.
    let mut times = Vec::new();
    let mut doc = Value::Null;
    for _ in 0..5 {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_ipctop"))
            .args(["snapshot", "--json", "--ipc-ns", &pid.to_string()])
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
    let take_med = median(&mut take_t);
    let cmd_med = median(&mut times);
    eprintln!("wall times (whole command): {times:?}; median {cmd_med:?}");
    let bench = format!(
        "SNAPSHOT_BENCH take_ms={:.1} command_ms={:.1} objects={objects} processes={processes} posix_ms={:.1}",
        ms(take_med),
        ms(cmd_med),
        ms(median(&mut posix_t)),
    );
    eprintln!("{bench}");
    println!("{bench}");
    assert_eq!(n("shm_segments") as u64, made["shm"].as_u64().unwrap());
    assert_eq!(n("semaphore_sets") as u64, made["sem"].as_u64().unwrap());
    assert_eq!(n("message_queues") as u64, made["msg"].as_u64().unwrap());
    assert_eq!(snap.shm.len() as u64, made["shm"].as_u64().unwrap());
    assert_eq!(snap.sem.len() as u64, made["sem"].as_u64().unwrap());
    assert_eq!(snap.msg.len() as u64, made["msg"].as_u64().unwrap());
    // Every child attached two segments; one in ten waits in semop.
    let procs = made["procs"].as_u64().unwrap() as usize;
    assert!(attached >= 2 * procs, "{attached} attachments");
    assert!(waits >= procs / 10, "{waits} waits");
}
