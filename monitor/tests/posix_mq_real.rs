//! The probe's POSIX queue calls (issue 26) against strace and the workload's own word: a C
//! program compiled here (tests/support/posix/mq_calls.c) makes N mq_timedsend and N
//! mq_timedreceive, one mq_timedreceive that times out (ETIMEDOUT) and one that blocks ~50 ms
//! until its child sends, in an IPC namespace of its own (its queue goes with it whatever
//! happens). `ipctop trace` must count every call exactly as `strace -f -c` counts the same
//! run, and `ipctop record -- CMD` + `report --json` the same per syscall, with the error and
//! the wait.
//!
//! Needs root (the probe, namespaces); fails rather than skips under IPCTOP_REQUIRE_ROOT=1.
mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::Duration,
};

use serde_json::Value;
use support::{recording::*, *};

const SOURCE: &str = include_str!("support/posix/mq_calls.c");

/// Successful send/receive pairs the workload makes before its two special receives.
const N: u64 = 200;

/// The workload, compiled once per test binary under a name of its own (its comm, which the
/// trace filters on); `None`: no compiler.
fn workload() -> Option<&'static PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = format!("pmq{}", std::process::id());
        compile_c("posix-mq", "mq_calls.c", SOURCE, &bin, &[])
    })
    .as_ref()
}

fn comm_of(bin: &Path) -> String {
    bin.file_name().unwrap().to_string_lossy().into_owned()
}

/// Runs `prefix… WORKLOAD N /name` in a new IPC namespace; fails unless the workload said
/// "ok". Returns its pids (parent, child).
fn run_workload(prefix: &[&str], wl: &Path) -> (u64, u64) {
    let out = Command::new("unshare")
        .arg("--ipc")
        .args(prefix)
        .arg(wl)
        .arg(N.to_string())
        .arg("/ipctop-test-mq")
        .output()
        .expect("unshare (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{prefix:?} workload: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ok "))
        .unwrap_or_else(|| panic!("workload said {stdout:?}"));
    let mut pids = line.split(' ').map(|p| p.trim().parse::<u64>().unwrap());
    (pids.next().unwrap(), pids.next().unwrap())
}

/// strace -c's table: syscall → (calls, errors).
fn strace_counts(text: &str) -> BTreeMap<String, (u64, u64)> {
    let mut m = BTreeMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if !(f.len() == 5 || f.len() == 6) || f[0].parse::<f64>().is_err() {
            continue;
        }
        let name = f[f.len() - 1];
        if name == "total" {
            continue;
        }
        let errors = if f.len() == 6 {
            f[4].parse().unwrap()
        } else {
            0
        };
        m.insert(name.to_string(), (f[3].parse().unwrap(), errors));
    }
    m
}

fn expected() -> BTreeMap<String, (u64, u64)> {
    BTreeMap::from([
        ("mq_timedreceive".to_string(), (N + 2, 1)),
        ("mq_timedsend".to_string(), (N + 1, 0)),
    ])
}

fn can_run(test: &str) -> Option<&'static PathBuf> {
    if !can_trace(test) {
        return None;
    }
    if Command::new("strace").arg("-V").output().is_err() {
        skip(test, "strace is not installed (the ground truth)");
        return None;
    }
    let w = workload();
    if w.is_none() {
        skip(test, "no C compiler (cc) to build its workload");
    }
    w
}

#[test]
fn trace_counts_mq_calls_exactly_as_strace_does() {
    let Some(wl) = can_run("posix_mq_trace") else {
        return;
    };
    let comm = comm_of(wl);
    let (trace, msg) = start_trace_in(&[], &["--comm", &comm]);
    assert!(
        msg.contains("per-syscall tracepoints"),
        "the mq_* calls are followed by the per-syscall tracepoints only: {msg}"
    );
    let dir = tmpdir("pmq-trace");
    let st = dir.0.join("strace.txt");
    let (parent, child) = run_workload(
        &[
            "strace",
            "-f",
            "-qq",
            "-c",
            "-o",
            st.to_str().unwrap(),
            "-e",
            "trace=mq_timedsend,mq_timedreceive",
        ],
        wl,
    );
    std::thread::sleep(Duration::from_millis(300));
    let (events, summary, code) = stop_trace(trace);
    assert_eq!(code, Some(0), "{summary}");
    let strace = strace_counts(&std::fs::read_to_string(&st).unwrap());
    assert_eq!(strace, expected(), "strace's own count of the run");

    let mut seen: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut timed_out = 0;
    let mut longest_receive_ns = 0u64;
    for e in &events {
        let Some(name) = e["syscall"].as_str() else {
            continue;
        };
        assert!(
            e["pid"] == parent || e["pid"] == child,
            "a call of another process: {e}"
        );
        let c = seen.entry(name.to_string()).or_default();
        c.0 += 1;
        if e["errno"].is_string() {
            c.1 += 1;
        }
        if name == "mq_timedreceive" {
            if e["errno"] == "ETIMEDOUT" {
                timed_out += 1;
            }
            let d = e["duration_ns"].as_u64().unwrap_or(0);
            longest_receive_ns = longest_receive_ns.max(d);
        }
    }
    // Only the two calls strace was told to follow are compared; the workload's mq_open and
    // mq_unlink are counted too.
    let compared: BTreeMap<_, _> = seen
        .iter()
        .filter(|(k, _)| strace.contains_key(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(compared, strace, "trace's count against strace's");
    assert_eq!(seen.get("mq_open"), Some(&(1, 0)), "{seen:?}");
    assert_eq!(seen.get("mq_unlink"), Some(&(1, 0)), "{seen:?}");
    assert_eq!(timed_out, 1, "{seen:?}");
    assert!(
        longest_receive_ns >= 1_000_000,
        "the blocking receive took {longest_receive_ns} ns"
    );
    let by = &summary["by_syscall"];
    assert_eq!(by["mq_timedsend"], N + 1, "{summary}");
    assert_eq!(by["mq_timedreceive"], N + 2, "{summary}");
    assert_eq!(summary["unaccounted"], 0, "{summary}");
    assert_eq!(summary["dropped"], 0, "{summary}");
}

#[test]
fn record_and_report_count_mq_calls_per_syscall_with_the_error_and_the_wait() {
    let Some(wl) = can_run("posix_mq_record") else {
        return;
    };
    let dir = tmpdir("pmq-rec");
    let rec = dir.0.join("mq.ipctop");
    let (parent, child) = run_workload(&[IPCTOP, "record", "-o", rec.to_str().unwrap(), "--"], wl);
    let (code, r, err) = report(&rec, &[]);
    assert_eq!(code, Some(0), "{err}");
    let procs = r["processes"].as_array().expect("processes");
    let ours: Vec<&Value> = procs
        .iter()
        .filter(|p| p["pid"] == parent || p["pid"] == child)
        .collect();
    assert_eq!(ours.len(), 2, "both processes in {procs:#?}");
    let sum = |f: &dyn Fn(&Value) -> u64| ours.iter().map(|p| f(p)).sum::<u64>();
    let by = |s: &'static str| move |p: &Value| p["by_syscall"][s].as_u64().unwrap_or(0);
    assert_eq!(sum(&by("mq_timedsend")), N + 1, "{ours:#?}");
    assert_eq!(sum(&by("mq_timedreceive")), N + 2, "{ours:#?}");
    assert_eq!(sum(&by("mq_open")), 1, "{ours:#?}");
    assert_eq!(sum(&by("mq_unlink")), 1, "{ours:#?}");
    let errnos: Vec<(String, String, u64)> = ours
        .iter()
        .flat_map(|p| p["errnos"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            (
                e["syscall"].as_str().unwrap().to_string(),
                e["errno"].as_str().unwrap().to_string(),
                e["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        errnos,
        vec![("mq_timedreceive".into(), "ETIMEDOUT".into(), 1)],
        "{ours:#?}"
    );
    assert_eq!(sum(&|p: &Value| p["errors"].as_u64().unwrap()), 1);
    // The blocking receive (~50 ms) and the one that timed out (20 ms) are waits.
    let waits = sum(&|p: &Value| p["waits"].as_u64().unwrap());
    assert!(waits >= 2, "waits {waits}: {ours:#?}");
}
