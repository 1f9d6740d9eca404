//! The probe's POSIX queue calls (issue 26) against strace and the workload's own word: a C
//! program compiled here (tests/support/posix/mq_calls.c) makes N mq_timedsend and N
//! mq_timedreceive, one mq_timedreceive that times out (ETIMEDOUT) and one that blocks ~50 ms
//! until its child sends, K more pairs as raw syscalls, one mq_getattr and one mq_open that
//! fails (ENOENT), in an IPC namespace of its own (its queue goes with it whatever happens).
//! `ipctop trace` must count every call exactly as `strace -f -c` counts the same run, and
//! `ipctop record -- CMD` + `report --json` the same per syscall, with the errors and the wait
//! — for the 64-bit program and for the same program built with `gcc -m32` (the i386 calls
//! 277–282, with glibc's mq_timedsend/receive on a 32-bit timespec, 279/280, and the raw
//! ones on a 64-bit one, 418/419), in the default attach mode (the 32-bit path attached while
//! a 32-bit process lives). `--attach raw` says that it follows none of them, and does not.
//!
//! Needs root (the probe, namespaces); fails rather than skips under IPCTOP_REQUIRE_ROOT=1.
mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    sync::{Mutex, MutexGuard, OnceLock},
    time::Duration,
};

use serde_json::Value;
use support::{recording::*, *};

const SOURCE: &str = include_str!("support/posix/mq_calls.c");

/// Successful send/receive pairs the workload makes before its two special receives.
const N: u64 = 200;
/// Pairs it makes besides as raw syscalls (the time64 ones, built 32-bit).
const K: u64 = 50;

/// Which build of the workload: native, or `gcc -m32` (a 32-bit process: the i386 calls).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Abi {
    X64,
    I386,
}

/// The workload, compiled once per test binary and ABI under a name of its own (its comm,
/// which the trace filters on); `None`: no compiler (or, for I386, no gcc-multilib).
fn workload(abi: Abi) -> Option<&'static PathBuf> {
    static X64: OnceLock<Option<PathBuf>> = OnceLock::new();
    static I386: OnceLock<Option<PathBuf>> = OnceLock::new();
    let pid = std::process::id();
    match abi {
        Abi::X64 => X64
            .get_or_init(|| compile_c("posix-mq", "mq_calls.c", SOURCE, &format!("pmq{pid}"), &[])),
        Abi::I386 => I386.get_or_init(|| {
            compile_c(
                "posix-mq32",
                "mq_calls.c",
                SOURCE,
                &format!("pq32{pid}"),
                &["-m32"],
            )
        }),
    }
    .as_ref()
}

fn comm_of(bin: &Path) -> String {
    bin.file_name().unwrap().to_string_lossy().into_owned()
}

/// Runs `prefix… WORKLOAD N /name K` in a new IPC namespace; fails unless the workload said
/// "ok". Returns its pids (parent, child).
fn run_workload(prefix: &[&str], wl: &Path) -> (u64, u64) {
    let out = Command::new("unshare")
        .arg("--ipc")
        .args(prefix)
        .arg(wl)
        .arg(N.to_string())
        .arg("/ipctop-test-mq")
        .arg(K.to_string())
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

/// strace -c's table(s) (one per personality): syscall → (calls, errors).
fn strace_counts(text: &str) -> BTreeMap<String, (u64, u64)> {
    let mut m: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if !(f.len() == 5 || f.len() == 6) || f[0].parse::<f64>().is_err() {
            continue;
        }
        let name = f[f.len() - 1];
        if name == "total" {
            continue;
        }
        let errors: u64 = if f.len() == 6 {
            f[4].parse().unwrap()
        } else {
            0
        };
        let c = m.entry(name.to_string()).or_default();
        c.0 += f[3].parse::<u64>().unwrap();
        c.1 += errors;
    }
    m
}

/// What strace must count of the workload's run, by its names for the ABI.
fn expected(abi: Abi) -> BTreeMap<String, (u64, u64)> {
    let mut m = BTreeMap::from([
        ("mq_open".to_string(), (2, 1)),
        ("mq_unlink".to_string(), (1, 0)),
        ("mq_getsetattr".to_string(), (1, 0)),
        ("mq_timedreceive".to_string(), (N + K + 2, 1)),
        ("mq_timedsend".to_string(), (N + K + 1, 0)),
    ]);
    if abi == Abi::I386 {
        m.insert("mq_timedsend".into(), (N + 1, 0));
        m.insert("mq_timedreceive".into(), (N + 2, 1));
        m.insert("mq_timedsend_time64".into(), (K, 0));
        m.insert("mq_timedreceive_time64".into(), (K, 0));
    }
    m
}

/// strace's counts under ipctop's names (the time64 calls are the same syscall to it).
fn merged(strace: &BTreeMap<String, (u64, u64)>) -> BTreeMap<String, (u64, u64)> {
    let mut m: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (k, v) in strace {
        let c = m
            .entry(k.trim_end_matches("_time64").to_string())
            .or_default();
        c.0 += v.0;
        c.1 += v.1;
    }
    m
}

/// One test at a time: a trace follows its workload's comm, which the others' runs share.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn can_run(test: &str, abi: Abi) -> Option<(MutexGuard<'static, ()>, &'static PathBuf)> {
    if !can_trace(test) {
        return None;
    }
    if Command::new("strace").arg("-V").output().is_err() {
        skip(test, "strace is not installed (the ground truth)");
        return None;
    }
    let Some(w) = workload(abi) else {
        skip(
            test,
            "no C compiler (cc) to build its workload (-m32: gcc-multilib, cargo xtask setup)",
        );
        return None;
    };
    Some((ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner()), w))
}

/// For a 32-bit case: a 32-bit process alive while the probe loads, so that the default
/// mode attaches its 32-bit path at once (it looks again only every 2 s); killed on drop.
/// Returned once it runs the 32-bit executable (right after the fork it is still a copy of
/// this test, which the probe's look would not count).
fn idle_32bit(abi: Abi, wl: &Path) -> Option<Proc> {
    (abi == Abi::I386).then(|| {
        let mut c = Command::new(wl);
        c.arg("idle");
        let p = Proc::spawn(&mut c);
        let exe = format!("/proc/{}/exe", p.pid());
        let end = std::time::Instant::now() + Duration::from_secs(30);
        while std::fs::read_link(&exe).ok().as_deref() != Some(wl) {
            assert!(std::time::Instant::now() < end, "{wl:?} never ran");
            std::thread::sleep(Duration::from_millis(10));
        }
        p
    })
}

/// Starts `ipctop trace` on the workload's comm (`attach` extra arguments) and checks that
/// its start line says which path follows the workload's calls.
fn start_trace_on(wl: &Path, abi: Abi, attach: &[&str]) -> Proc {
    let comm = comm_of(wl);
    let mut args = vec!["--comm", comm.as_str()];
    args.extend_from_slice(attach);
    let (trace, msg) = start_trace_in(&[], &args);
    let want = match (abi, attach.is_empty()) {
        (Abi::X64, true) => "per-syscall tracepoints",
        (Abi::I386, true) => "32-bit path attached: ",
        (_, false) => {
            "raw tracepoints sys_enter/sys_exit (as asked), without the POSIX queue calls"
        }
    };
    assert!(msg.contains(want), "{want:?} not in {msg}");
    trace
}

fn traced_exactly(test: &str, abi: Abi) {
    let Some((_one, wl)) = can_run(test, abi) else {
        return;
    };
    let idle = idle_32bit(abi, wl);
    let trace = start_trace_on(wl, abi, &[]);
    let dir = tmpdir(&format!("pmq-trace-{abi:?}"));
    let st = dir.0.join("strace.txt");
    let strace = ["strace", "-f", "-qq", "-c", "-o", st.to_str().unwrap()];
    let (parent, child) = run_workload(&[&strace[..], &["-e", "trace=/^mq_"]].concat(), wl);
    std::thread::sleep(Duration::from_millis(300));
    let (events, summary, code) = stop_trace(trace);
    drop(idle);
    assert_eq!(code, Some(0), "{summary}");
    let strace = strace_counts(&std::fs::read_to_string(&st).unwrap());
    assert_eq!(strace, expected(abi), "strace's own count of the run");

    let mut seen: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut timed_out = 0;
    let mut longest_receive_ns = 0u64;
    let mut prio2 = 0;
    for e in &events {
        let Some(name) = e["syscall"].as_str() else {
            continue;
        };
        assert!(
            e["pid"] == parent || e["pid"] == child,
            "a call of another process: {e}"
        );
        assert_eq!(e["compat"] == true, abi == Abi::I386, "{e}");
        let c = seen.entry(name.to_string()).or_default();
        c.0 += 1;
        if e["errno"].is_string() {
            c.1 += 1;
        }
        match name {
            "mq_timedreceive" => {
                if e["errno"] == "ETIMEDOUT" {
                    timed_out += 1;
                }
                let d = e["duration_ns"].as_u64().unwrap_or(0);
                longest_receive_ns = longest_receive_ns.max(d);
            }
            "mq_open" if e["errno"].is_string() => assert_eq!(e["errno"], "ENOENT", "{e}"),
            // The arguments, from the i386 registers too: the descriptor, length, priority.
            "mq_timedsend" => {
                let a = &e["args"];
                assert_eq!((&a["mqdes"], &a["msg_len"]), (&3.into(), &1.into()), "{e}");
                prio2 += u64::from(a["msg_prio"] == 2);
            }
            _ => {}
        }
    }
    assert_eq!(seen, merged(&strace), "trace's count against strace's");
    assert_eq!(timed_out, 1, "{seen:?}");
    assert_eq!(prio2, K, "the raw sends' priority 2");
    assert!(
        longest_receive_ns >= 1_000_000,
        "the blocking receive took {longest_receive_ns} ns"
    );
    let by = &summary["by_syscall"];
    assert_eq!(by["mq_timedsend"], N + K + 1, "{summary}");
    assert_eq!(by["mq_timedreceive"], N + K + 2, "{summary}");
    assert_eq!(summary["unaccounted"], 0, "{summary}");
    assert_eq!(summary["dropped"], 0, "{summary}");
}

#[test]
fn trace_counts_mq_calls_exactly_as_strace_does() {
    traced_exactly("posix_mq_trace", Abi::X64);
}

#[test]
fn trace_counts_32bit_mq_calls_exactly_as_strace_does() {
    traced_exactly("posix_mq_trace_32", Abi::I386);
}

/// The raw mode follows no POSIX queue call (its exit program's verifier budget is spent:
/// README, "POSIX IPC"), of either ABI: it says so, and the workload's calls give no event.
fn raw_mode_says_it_does_not_follow(test: &str, abi: Abi) {
    let Some((_one, wl)) = can_run(test, abi) else {
        return;
    };
    let trace = start_trace_on(wl, abi, &["--attach", "raw"]);
    let (parent, child) = run_workload(&[], wl);
    std::thread::sleep(Duration::from_millis(300));
    let (events, summary, code) = stop_trace(trace);
    assert_eq!(code, Some(0), "{summary}");
    assert!(parent > 0 && child > 0);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(summary["unaccounted"], 0, "{summary}");
}

#[test]
fn raw_mode_says_it_does_not_follow_mq_calls() {
    raw_mode_says_it_does_not_follow("posix_mq_raw", Abi::X64);
    raw_mode_says_it_does_not_follow("posix_mq_raw_32", Abi::I386);
}

fn recorded_exactly(test: &str, abi: Abi) {
    let Some((_one, wl)) = can_run(test, abi) else {
        return;
    };
    let idle = idle_32bit(abi, wl);
    let dir = tmpdir(&format!("pmq-rec-{abi:?}"));
    let rec = dir.0.join("mq.ipctop");
    let (parent, child) = run_workload(&[IPCTOP, "record", "-o", rec.to_str().unwrap(), "--"], wl);
    drop(idle);
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
    assert_eq!(sum(&by("mq_timedsend")), N + K + 1, "{ours:#?}");
    assert_eq!(sum(&by("mq_timedreceive")), N + K + 2, "{ours:#?}");
    assert_eq!(sum(&by("mq_open")), 2, "{ours:#?}");
    assert_eq!(sum(&by("mq_unlink")), 1, "{ours:#?}");
    assert_eq!(sum(&by("mq_getsetattr")), 1, "{ours:#?}");
    let mut errnos: Vec<(String, String, u64)> = ours
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
    errnos.sort();
    assert_eq!(
        errnos,
        vec![
            ("mq_open".into(), "ENOENT".into(), 1),
            ("mq_timedreceive".into(), "ETIMEDOUT".into(), 1)
        ],
        "{ours:#?}"
    );
    assert_eq!(sum(&|p: &Value| p["errors"].as_u64().unwrap()), 2);
    // The blocking receive (~50 ms) and the one that timed out (20 ms) are waits.
    let waits = sum(&|p: &Value| p["waits"].as_u64().unwrap());
    assert!(waits >= 2, "waits {waits}: {ours:#?}");
}

#[test]
fn record_and_report_count_mq_calls_per_syscall_with_the_error_and_the_wait() {
    recorded_exactly("posix_mq_record", Abi::X64);
}

#[test]
fn record_and_report_count_32bit_mq_calls() {
    recorded_exactly("posix_mq_record_32", Abi::I386);
}
