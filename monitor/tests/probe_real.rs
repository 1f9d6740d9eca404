//! The real probe against real processes: loads the eBPF program, runs ipctop-workload
//! scenarios and checks what `ipctop trace --json` reports against what the workload did.
//! Needs root (as CI runs); skipped with a printed reason otherwise.
mod support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use support::*;

const T: Duration = Duration::from_secs(30);

fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["syscall"].as_str().unwrap())
        .collect()
}

/// Runs a workload scenario under a trace filtered on its unique comm; returns the
/// workload's JSON line, the trace's events and summary.
fn traced(tag: &str, scenario: &[&str]) -> (Value, Vec<Value>, Value) {
    traced_in(&[], &[], tag, scenario).1
}

/// [`traced`] with the trace in a prepared mount namespace and extra trace arguments;
/// also returns the trace's start message.
fn traced_in(
    setup: &[&str],
    extra: &[&str],
    tag: &str,
    scenario: &[&str],
) -> (String, (Value, Vec<Value>, Value)) {
    let name = unique_name(tag);
    let mut args = vec!["--comm", &name];
    args.extend_from_slice(extra);
    let (trace, msg) = start_trace_in(setup, &args);
    let mut wl = Proc::spawn(
        Command::new(WORKLOAD)
            .args(["--name", &name, "--wait-go"])
            .args(scenario),
    );
    let waiting = wl.json(T);
    assert_eq!(waiting["waiting"], true);
    wl.go();
    let out = wl.json(T);
    assert_eq!(wl.wait(T), Some(0), "workload failed");
    // No pause needed: on SIGTERM the trace detaches, then reads until it has every event the
    // kernel counted as sent (its summary's counts are final).
    let (events, summary, code) = stop_trace(trace);
    assert_eq!(code, Some(0), "trace exit code; summary {summary}");
    (msg, (out, events, summary))
}

#[test]
fn basic_calls_are_seen_once_each_with_decoded_arguments() {
    if !can_trace("basic_calls") {
        return;
    }
    // Raw tracepoints, asked for.
    let (msg, (out, ev, summary)) =
        traced_in(&[UNMOUNT_TRACEFS], &["--attach", "raw"], "bas", &["basic"]);
    assert!(
        msg.contains("raw tracepoints sys_enter/sys_exit (as asked)"),
        "{msg}"
    );
    check_basic(&out, &ev, &summary);
}

#[test]
fn auto_without_tracefs_mounts_it_where_nobody_else_sees_it() {
    if !can_trace("auto_private_tracefs") {
        return;
    }
    // No tracefs (in a mount namespace of the test's own): ipctop mounts it on a thread of its
    // own and uses the per-syscall tracepoints; its main mount namespace stays without it.
    let name = unique_name("bau");
    let (trace, msg) = start_trace_in(&[UNMOUNT_TRACEFS], &["--comm", &name]);
    assert!(msg.contains("per-syscall tracepoints"), "{msg}");
    assert!(msg.contains("mount namespace of its own"), "{msg}");
    let mounts = std::fs::read_to_string(format!("/proc/{}/mounts", trace.pid())).unwrap();
    assert!(!mounts.contains(" tracefs "), "{mounts}");
    let mut wl = Proc::spawn(Command::new(WORKLOAD).args(["--name", &name, "basic"]));
    let out = wl.json(T);
    assert_eq!(wl.wait(T), Some(0));
    let (ev, summary, code) = stop_trace(trace);
    assert_eq!(code, Some(0));
    check_basic(&out, &ev, &summary);
}

#[test]
fn basic_calls_through_the_per_syscall_tracepoints() {
    if !can_trace("basic_tracepoints") {
        return;
    }
    let (msg, (out, ev, summary)) = traced_in(
        &[MOUNT_TRACEFS],
        &["--attach", "tracepoint"],
        "bat",
        &["basic"],
    );
    assert!(msg.contains("per-syscall tracepoints"), "{msg}");
    check_basic(&out, &ev, &summary);
}

#[test]
fn tracepoints_without_tracefs_say_so() {
    if !can_trace("no_tracefs") {
        return;
    }
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "{UNMOUNT_TRACEFS}; exec \"$0\" trace --attach tracepoint --duration 1"
        ))
        .arg(IPCTOP)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("needs tracefs, which is not mounted"), "{err}");
}

fn check_basic(out: &Value, ev: &[Value], summary: &Value) {
    let problems = support::basic::check_basic(out, ev, summary);
    assert!(problems.is_empty(), "{problems:#?}\n{ev:#?}");
    for e in ev {
        assert!(
            e["ts_ns"].as_u64().unwrap() > 1_600_000_000_000_000_000,
            "wall-clock time: {e}"
        );
    }
}

#[test]
fn eexist_from_a_racing_exclusive_create() {
    if !can_trace("eexist") {
        return;
    }
    let (out, ev, _) = traced("eex", &["eexist"]);
    let mut ids = Ids::default();
    ids.shms.push(out["shmid"].as_i64().unwrap() as i32);
    let gets: Vec<&Value> = ev.iter().filter(|e| e["syscall"] == "shmget").collect();
    assert_eq!(gets.len(), 2, "{ev:#?}");
    for g in &gets {
        assert_eq!(g["args"]["key"], out["key"]);
        assert_eq!(g["args"]["flags"], json!(["IPC_CREAT", "IPC_EXCL"]));
    }
    assert_eq!(gets[0]["ret"], out["shmid"]);
    assert_eq!(gets[1]["errno"], "EEXIST");
}

#[test]
fn eacces_from_an_unprivileged_child() {
    if !can_trace("eacces") {
        return;
    }
    let (out, ev, _) = traced("eac", &["eacces"]);
    let child = out["child_pid"].as_u64().unwrap();
    let at: Vec<&Value> = ev.iter().filter(|e| e["syscall"] == "shmat").collect();
    assert_eq!(at.len(), 1, "{ev:#?}");
    assert_eq!(at[0]["pid"], child);
    assert_eq!(at[0]["uid"], 65534);
    assert_eq!(at[0]["args"]["shmid"], out["shmid"]);
    assert_eq!(at[0]["errno"], "EACCES");
    assert_eq!(at[0]["ret"], -1);
}

#[test]
fn a_blocked_semop_is_seen_before_it_returns() {
    if !can_trace("blocked") {
        return;
    }
    let name = unique_name("blk");
    let trace = start_trace(&["--comm", &name, "--blocked-after-ms", "100"]);
    let mut wl = Proc::spawn(Command::new(WORKLOAD).args(["--name", &name, "block"]));
    let out = wl.json(T);
    let pid = out["pid"].as_u64().unwrap();
    let semid = out["semid"].as_i64().unwrap() as i32;
    let mut ids = Ids::default();
    ids.sems.push(semid);

    // The in-progress line comes while the workload is still blocked.
    let mut blocked = None;
    let end = Instant::now() + T;
    while Instant::now() < end {
        let Some(l) = trace.line(Duration::from_secs(1)) else {
            continue;
        };
        let v: Value = serde_json::from_str(&l).unwrap();
        if v["in_progress"] == true && v["pid"] == pid {
            blocked = Some(v);
            break;
        }
    }
    let blocked = blocked.expect("no in-progress line for the blocked semop");
    assert_eq!(blocked["syscall"], "semtimedop");
    assert_eq!(blocked["args"]["semid"], semid);
    assert_eq!(
        blocked["args"]["sops"],
        json!([{"sem_num":1,"sem_op":-1,"sem_flg":[]}])
    );
    assert_eq!(blocked["ret"], Value::Null);
    assert!(blocked["elapsed_ns"].as_u64().unwrap() >= 100_000_000);
    // It really is still blocked: the workload has not said it was released.
    assert!(wl.line(Duration::from_millis(200)).is_none());

    // Release it from here; the finished call follows, with its whole duration.
    sysv_mut::semop(semid, &mut [sysv_mut::sembuf(1, 1, 0)]).unwrap();
    let released = wl.json(T);
    assert_eq!(released["ok"], true);
    let mut done = None;
    let end = Instant::now() + T;
    while Instant::now() < end {
        let Some(l) = trace.line(Duration::from_secs(1)) else {
            continue;
        };
        let v: Value = serde_json::from_str(&l).unwrap();
        if v["pid"] == pid && v["syscall"] == "semtimedop" && v["in_progress"].is_null() {
            done = Some(v);
            break;
        }
    }
    let done = done.expect("no finished line for the semop");
    assert_eq!(done["ret"], 0);
    assert_eq!(done["ts_ns"], blocked["ts_ns"], "same call, same start");
    assert!(
        done["duration_ns"].as_u64().unwrap()
            >= released["released_after_ns"].as_u64().unwrap() / 2
    );
    wl.release();
    assert_eq!(wl.wait(T), Some(0));
    let (_, summary, _) = stop_trace(trace);
    assert_eq!(summary["dropped"], 0);
}

#[test]
fn a_burst_of_200000_calls_arrives_whole() {
    if !can_trace("burst") {
        return;
    }
    let mut wl = Proc::spawn(Command::new(WORKLOAD).args(["--wait-go", "burst", "200000"]));
    let pid = wl.json(T)["pid"].as_u64().unwrap();
    let trace = start_trace(&["--pid", &pid.to_string()]);
    wl.go();
    let out = wl.json(Duration::from_secs(120));
    assert_eq!(wl.wait(T), Some(0));
    // Count while it streams: the trace must keep up with the pipe, not just the kernel.
    let mut n = 0u64;
    let mut summary = Value::Null;
    let end = Instant::now() + Duration::from_secs(120);
    while Instant::now() < end {
        match trace.line(Duration::from_secs(1)) {
            Some(l) if l.contains("\"syscall\":\"semtimedop\"") => n += 1,
            Some(_) => {}
            None if n >= 200_000 => break,
            None => {}
        }
    }
    let (_, s, code) = stop_trace(trace);
    if !s.is_null() {
        summary = s;
    }
    eprintln!(
        "burst: {n} events, workload {:.0} ns/call under the probe; summary {summary}",
        out["ns_per_call"].as_f64().unwrap()
    );
    assert_eq!(n, 200_000);
    assert_eq!(summary["dropped"], 0);
    assert_eq!(summary["by_syscall"]["semtimedop"], 200_000);
    assert_eq!(code, Some(0));
}

#[test]
fn drops_are_counted_never_silent() {
    if !can_trace("drops") {
        return;
    }
    let mut wl = Proc::spawn(Command::new(WORKLOAD).args(["--wait-go", "burst", "100000"]));
    let pid = wl.json(T)["pid"].as_u64().unwrap();
    let trace = start_trace(&["--pid", &pid.to_string(), "--buffer-mib", "1"]);
    // Freeze the consumer so the 1 MiB ring buffer overflows.
    trace.signal(libc::SIGSTOP);
    wl.go();
    wl.json(Duration::from_secs(120));
    assert_eq!(wl.wait(T), Some(0));
    trace.signal(libc::SIGCONT);
    // On SIGTERM the trace detaches and reads everything the kernel sent before its summary.
    let (ev, summary, code) = stop_trace(trace);
    let n = names(&ev).iter().filter(|s| **s == "semtimedop").count() as u64;
    let dropped = summary["dropped"].as_u64().unwrap();
    assert!(
        dropped > 0,
        "a frozen reader with 1 MiB must drop: {summary}"
    );
    assert!(n < 100_000);
    assert_eq!(
        n + dropped,
        summary["kernel_calls"].as_u64().unwrap() - 1,
        "the semctl IPC_RMID is the +1: {summary}"
    );
    assert_eq!(code, Some(1), "dropped events make the exit status 1");
}

#[test]
fn without_privilege_one_clear_sentence() {
    if !can_trace("unprivileged") {
        return;
    }
    use std::os::unix::process::CommandExt;
    let out = Command::new(IPCTOP)
        .args(["trace", "--duration", "1"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("needs root or CAP_BPF"), "{err}");
    assert!(err.contains("ipctop snapshot"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn notable_mode_prints_what_stands_out_and_counts_the_rest() {
    if !can_trace("notable") {
        return;
    }
    // --wait-ms 1000: no call of `basic` waits that long, so exactly the five fast
    // semop/semtimedop/msgsnd/msgrcv calls are aggregated in the kernel.
    let (_, (_, ev, summary)) =
        traced_in(&[], &["--notable", "--wait-ms", "1000"], "not", &["basic"]);
    assert_eq!(
        names(&ev),
        [
            "semget", "semctl", "semctl", "shmget", "shmat", "shmdt", "shmctl", "msgget", "msgctl",
            "semctl", "shmctl", "msgctl", "semctl"
        ]
    );
    assert_eq!(ev[12]["errno"], "EINVAL");
    assert_eq!(summary["kernel_calls"], 18, "{summary}");
    assert_eq!(summary["aggregated"], 5, "{summary}");
    assert_eq!(summary["dropped"], 0);
}

#[test]
fn in_kernel_aggregates_holders_and_calls_in_progress() {
    if !can_trace("aggregates") {
        return;
    }
    use ipctop::{event::Syscall, probe::*};
    let name = unique_name("agg");
    let mut probe = Probe::load(&ProbeOptions {
        comm: Some(name.clone()),
        send_all: false,
        ..Default::default()
    })
    .expect("probe");
    let mut wl = Proc::spawn(Command::new(WORKLOAD).args(["--name", &name, "block"]));
    let out = wl.json(T);
    let pid = out["pid"].as_u64().unwrap() as u32;
    let semid = out["semid"].as_i64().unwrap() as i32;
    let mut ids = Ids::default();
    ids.sems.push(semid);

    // Blocked: the call is in progress, with its arguments, for the workload's pid.
    let blocked = wait_in_flight(&probe, pid, T);
    assert_eq!(blocked.syscall, Syscall::SEMTIMEDOP);
    assert_eq!(blocked.args.unwrap().id(), Some(semid));
    std::thread::sleep(Duration::from_millis(300));
    // This test process is the probe's loader, which the probe ignores: the release below
    // is not counted, and the workload's -1 is its own.
    sysv_mut::semop(semid, &mut [sysv_mut::sembuf(1, 1, 0)]).unwrap();
    assert_eq!(wl.json(T)["ok"], true);

    let holds = probe.holds().unwrap();
    let mine: Vec<(i32, u16, u32, i64)> = holds
        .iter()
        .filter(|h| h.pid == pid && h.held != 0)
        .map(|h| (h.semid, h.semnum, h.pid, h.held))
        .collect();
    assert_eq!(mine, [(semid, 1, pid, 1)], "{holds:?}");
    let aggs = probe.aggregates().unwrap();
    let get = aggs
        .iter()
        .find(|a| a.pid == pid && a.syscall == Syscall::SEMGET)
        .expect("semget aggregate");
    assert_eq!((get.calls, get.errors, get.id), (1, 0, Some(semid)));
    let op = aggs
        .iter()
        .find(|a| a.pid == pid && a.syscall == Syscall::SEMTIMEDOP)
        .expect("semop aggregate");
    assert_eq!((op.calls, op.errors, op.id), (1, 0, Some(semid)));
    assert!(op.total_ns >= 300_000_000, "waited at least 300 ms: {op:?}");
    assert_eq!(op.max_ns, op.total_ns);
    assert_eq!(op.hist.iter().sum::<u64>(), 1);
    // 2^18 µs ≈ 262 ms ≤ wait < 2^19 µs... unless the machine was slow: at least bucket 18.
    assert!(op.hist[..18].iter().all(|&n| n == 0), "{:?}", op.hist);
    let stats = probe.stats().unwrap();
    assert_eq!(stats.dropped, 0);
    wl.release();
    assert_eq!(wl.wait(T), Some(0));
    // The workload is gone: prune forgets its thread's entry and its holds.
    std::thread::sleep(Duration::from_millis(100));
    probe.prune(None).unwrap();
    assert!(probe.holds().unwrap().iter().all(|h| h.pid != pid));
}
