//! `ipctop trace` against what really happens (root: loads the probe): calls already blocked
//! when it starts are listed first, as strace does on attaching; with traffic going on past
//! `--duration`, its summary reconciles with the kernel's count.
mod support;

use serde_json::Value;
use support::*;

#[test]
fn trace_lists_calls_in_progress_at_start_and_its_summary_reconciles() {
    if !can_trace("trace_in_progress") {
        return;
    }
    let name = unique_name("trc");
    // In its own IPC namespace: a semop blocked before the trace starts, and a paced loop
    // running on past its end.
    let out = in_own_ipc_ns(&format!(
        "W=\"$W --name {name}\"; $W block >/dev/null & B=$!; \
         $W paced-loop --rate 5000 --secs 4 >/dev/null & L=$!; sleep 0.5; \
         $I trace --comm {name} --json --duration 1.5; \
         kill $B; wait $L; wait"
    ));
    let lines = json_lines(&out);
    // First: the blocked semop, in progress, its start unknown (begun before the probe).
    let first = &lines[0];
    assert_eq!(first["in_progress"], true, "{first}");
    assert_eq!(first["syscall"], "semtimedop", "{first}");
    assert_eq!(first["ret"], Value::Null);
    let s = &lines.last().unwrap()["summary"];
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    assert!(n("in_progress_at_start") >= 1, "{s}");
    let finished = lines
        .iter()
        .filter(|l| l.get("syscall").is_some() && l["in_progress"] != true)
        .count() as u64;
    assert_eq!(finished, n("total"), "{s}");
    assert_eq!(n("unaccounted"), 0, "{s}");
    assert_eq!(
        n("total") + n("dropped") + n("aggregated") + n("after_end"),
        n("kernel_calls"),
        "{s}"
    );
    // The loop went on after the end, but the probe is detached before the count is taken:
    // the kernel's count stops where the printed lines stop, nothing is left unexplained.
    assert_eq!(n("after_end"), 0, "{s}");
    assert_eq!(n("dropped"), 0, "{s}");
}

/// Waits until process `pid` is blocked in semtimedop (its /proc/PID/syscall says 220).
fn wait_blocked_in_semop(pid: u32) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(format!("/proc/{pid}/syscall"))
        .unwrap_or_default()
        .starts_with("220 ")
    {
        assert!(
            std::time::Instant::now() < end,
            "{pid} never blocked in semop"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_call_its_process_death_ended_is_said_ended_not_failed() {
    if !can_trace("trace_ended") {
        return;
    }
    use std::{process::Command, time::Duration};
    let name = unique_name("tre");
    let trace = start_trace(&["--comm", &name]);
    let mut ids = Ids::default();
    let mut run = |sig: i32| -> u64 {
        let mut wl = Proc::spawn(Command::new(WORKLOAD).args(["--name", &name, "block"]));
        let out = wl.json(Duration::from_secs(30));
        ids.sems.push(out["semid"].as_i64().unwrap() as i32);
        let pid = out["pid"].as_u64().unwrap();
        wait_blocked_in_semop(pid as u32);
        wl.signal(sig);
        wl.wait(Duration::from_secs(30));
        pid
    };
    let (killed, termed) = (run(libc::SIGKILL), run(libc::SIGTERM));
    let (events, summary, code) = stop_trace(trace);
    assert_eq!(code, Some(0), "{summary}");
    let semop = |pid: u64| -> &Value {
        events
            .iter()
            .find(|e| e["pid"] == pid && e["syscall"] == "semtimedop")
            .unwrap_or_else(|| panic!("no semop of {pid}: {events:#?}"))
    };
    let k = semop(killed);
    assert_eq!(k["ended"], true, "{k}");
    assert_eq!(
        (&k["ret"], &k["errno"]),
        (&Value::Null, &Value::Null),
        "{k}"
    );
    assert!(k.get("interrupted").is_none(), "{k}");
    // A handled signal (the workload's SIGTERM handler, no SA_RESTART): EINTR, as strace.
    let t = semop(termed);
    assert!(t.get("ended").is_none(), "{t}");
    assert_eq!(t["errno"], "EINTR", "{t}");
}
