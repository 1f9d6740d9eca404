//! Every way out of a tracing ipctop (SIGTERM, Ctrl-C, `--duration`, `q` in the dashboard)
//! leaves nothing attached in the kernel, and the run's counts are exact up to the end.
//! Needs root (as CI runs); skipped with a printed reason otherwise. Not a timing test: how
//! fast the exit is lives in `cargo xtask bench`.
mod support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::bpf::prog_ids;
use support::*;

const T: Duration = Duration::from_secs(30);

fn bpftool(args: &[&str]) -> Option<Value> {
    let o = Command::new("bpftool").arg("-j").args(args).output().ok()?;
    o.status
        .success()
        .then(|| serde_json::from_slice(&o.stdout).ok())
        .flatten()
}

/// What of `progs` (or of process `pid`) the kernel still has attached: perf events (the
/// per-syscall tracepoints), links and the programs themselves. Waits up to 10 s for the
/// kernel to free them (programs go after an RCU grace period), then returns what is left.
fn left_attached(pid: u32, progs: &[u32]) -> Vec<String> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let mut left = Vec::new();
        if let Some(Value::Array(perf)) = bpftool(&["perf", "list"]) {
            for p in perf {
                let prog = p["prog_id"].as_u64().unwrap_or(0) as u32;
                if p["pid"].as_u64() == Some(u64::from(pid)) || progs.contains(&prog) {
                    left.push(format!("perf event {p}"));
                }
            }
        }
        if let Some(Value::Array(links)) = bpftool(&["link", "list"]) {
            for l in links {
                let prog = l["prog_id"].as_u64().unwrap_or(0) as u32;
                if progs.contains(&prog) {
                    left.push(format!("link {l}"));
                }
            }
        }
        for id in progs {
            if bpftool(&["prog", "show", "id", &id.to_string()]).is_some() {
                left.push(format!("program {id}"));
            }
        }
        if left.is_empty() || Instant::now() > end {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `ipctop-workload basic` under a trace filtered on its comm, ends the trace with
/// `stop` and checks the trace's counts and that nothing stays attached.
fn trace_ends_clean(tag: &str, extra: &[&str], stop: impl FnOnce(&Proc)) {
    let name = unique_name(tag);
    let mut args = vec!["--comm", name.as_str()];
    args.extend_from_slice(extra);
    let (mut trace, _) = start_trace_in(&[MOUNT_TRACEFS], &args);
    let pid = trace.pid();
    // Under `unshare … sh -c exec`, the pid is ipctop's own once it runs.
    let progs = prog_ids(pid);
    assert!(progs.len() >= 2, "ipctop holds no programs: {progs:?}");
    let mut wl = Proc::spawn(Command::new(WORKLOAD).args(["--name", &name, "basic"]));
    let out = wl.json(T);
    assert_eq!(wl.wait(T), Some(0));
    stop(&trace);
    let code = trace.wait(T);
    let lines = trace.rest(Duration::from_secs(5));
    let mut events = Vec::new();
    let mut summary = Value::Null;
    for l in lines {
        let v: Value = serde_json::from_str(&l).unwrap();
        match v.get("summary") {
            Some(s) => summary = s.clone(),
            None => events.push(v),
        }
    }
    assert_eq!(code, Some(0), "exit code; summary {summary}");
    let problems = support::basic::check_basic(&out, &events, &summary);
    assert!(problems.is_empty(), "{problems:#?}");
    let left = left_attached(pid, &progs);
    assert!(left.is_empty(), "still attached after the exit: {left:#?}");
}

#[test]
fn sigterm_leaves_nothing_attached_and_counts_exact() {
    if !can_trace("exit_sigterm") {
        return;
    }
    trace_ends_clean("xte", &[], |t| t.signal(libc::SIGTERM));
}

#[test]
fn ctrl_c_leaves_nothing_attached_and_counts_exact() {
    if !can_trace("exit_sigint") {
        return;
    }
    trace_ends_clean("xti", &[], |t| t.signal(libc::SIGINT));
}

#[test]
fn duration_leaves_nothing_attached_and_counts_exact() {
    if !can_trace("exit_duration") {
        return;
    }
    // Long enough for the workload to run inside it on a busy machine; the trace ends itself.
    trace_ends_clean("xtd", &["--duration", "4"], |_| {});
}

#[test]
fn record_sigterm_leaves_nothing_attached_and_counts_exact() {
    if !can_trace("exit_record") {
        return;
    }
    let name = unique_name("xre");
    let path = std::env::temp_dir().join(format!("{name}.ipctop.zst"));
    let rec = Proc::spawn(Command::new(IPCTOP).args([
        "record",
        "--every-call",
        "--comm",
        &name,
        "-o",
        path.to_str().unwrap(),
    ]));
    rec.wait_stderr("ipctop: recording to", T);
    let pid = rec.pid();
    let progs = prog_ids(pid);
    assert!(progs.len() >= 2, "ipctop holds no programs: {progs:?}");
    let mut wl = Proc::spawn(Command::new(WORKLOAD).args(["--name", &name, "basic"]));
    wl.json(T);
    assert_eq!(wl.wait(T), Some(0));
    rec.signal(libc::SIGTERM);
    let mut rec = rec;
    assert_eq!(rec.wait(T), Some(0));
    let left = left_attached(pid, &progs);
    // The recording's last kernel sample counts the 18 calls, and all 18 are in it.
    let report = Command::new(IPCTOP)
        .arg("report")
        .arg(&path)
        .arg("--json")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(left.is_empty(), "still attached after the exit: {left:#?}");
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(report.status.success(), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let by: u64 = v["calls"]["by_syscall"]
        .as_object()
        .unwrap_or_else(|| panic!("{v:#}"))
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(by, 18, "{:#}", v["calls"]);
    assert_eq!(v["calls"]["calls"], 18, "{:#}", v["calls"]);
    assert_eq!(v["calls"]["dropped"], 0, "{:#}", v["calls"]);
}

#[test]
fn dashboard_q_leaves_nothing_attached() {
    if !can_trace("exit_dashboard") {
        return;
    }
    if Command::new("script").arg("--version").output().is_err() {
        support::skip("exit_dashboard", "script (util-linux) is not installed");
        return;
    }
    // The dashboard in a pty of `script`; its keys come through script's stdin.
    let name = unique_name("xdq");
    let mut dash = Proc::spawn(Command::new("script").args([
        "-qfec",
        &format!("stty rows 40 cols 120; exec {IPCTOP} --comm {name}"),
        "/dev/null",
    ]));
    // The screen is drawn without newlines: wait for the dashboard's own pid and programs.
    let end = Instant::now() + T;
    let (pid, progs) = loop {
        let kids = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", dash.pid()))
            .unwrap_or_default();
        if let Some(pid) = kids.split_whitespace().next().and_then(|k| k.parse().ok()) {
            let progs = prog_ids(pid);
            if progs.len() >= 2 {
                break (pid, progs);
            }
        }
        assert!(Instant::now() < end, "the dashboard did not attach");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut wl = Proc::spawn(Command::new(WORKLOAD).args(["--name", &name, "basic"]));
    wl.json(T);
    assert_eq!(wl.wait(T), Some(0));
    use std::io::Write;
    let stdin = dash.stdin.as_mut().unwrap();
    stdin.write_all(b"q").unwrap();
    stdin.flush().unwrap();
    assert_eq!(dash.wait(T), Some(0), "the dashboard did not quit on q");
    let left = left_attached(pid, &progs);
    assert!(left.is_empty(), "still attached after q: {left:#?}");
}

/// The stop is exact, and the detach that goes on in the background ends even while the
/// loader lives on: a probe stopped in this (long-lived) test process counts nothing more —
/// the same calls again, made while its attachments may still be held, leave the counts as
/// they were — and, once dropped, nothing of it stays in the kernel.
#[test]
fn a_stopped_probe_counts_nothing_more_and_its_detach_ends_while_the_loader_lives() {
    if !can_trace("exit_stop") {
        return;
    }
    use ipctop::probe::{Probe, ProbeOptions};
    let name = unique_name("xst");
    let mut probe = Probe::load(&ProbeOptions {
        comm: Some(name.clone()),
        ..Default::default()
    })
    .expect("probe");
    let progs = prog_ids(std::process::id());
    assert!(
        progs.len() >= 2,
        "this process holds no programs: {progs:?}"
    );
    let basic = || {
        let mut wl = Proc::spawn(Command::new(WORKLOAD).args(["--name", &name, "basic"]));
        wl.json(T);
        assert_eq!(wl.wait(T), Some(0));
    };
    basic();
    probe.detach();
    let stopped = probe.stats().unwrap();
    assert_eq!(stopped.total_calls(), 18, "{stopped:?}");
    basic();
    let after = probe.stats().unwrap();
    assert_eq!(after.total_calls(), 18, "counted after the stop: {after:?}");
    drop(probe);
    let left = left_attached(std::process::id(), &progs);
    assert!(left.is_empty(), "still attached: {left:#?}");
}
