//! Real recordings of real workloads (root): what the report finds in them, a clean run's gates, the command's exit status, a recording killed with SIGKILL.
use super::*;

#[test]
fn a_recorded_deadlock_leak_and_refused_calls_are_reported_with_their_pids_and_ids() {
    if !can_trace("record_trouble") {
        return;
    }
    let d = tmpdir("trouble");
    let rec = d.0.join("trouble.ipctop.zst");
    let o = |n: &str| d.0.join(n).display().to_string();
    // Four scenarios under one recording: an AB/BA deadlock held for 2 s, an orphaned segment
    // left behind (a leak at the end), EEXIST and EACCES.
    let script = format!(
        "W={WORKLOAD}; $W --hold-for 2 deadlock > {} & $W --hold-for 2 --leave orphan-shm > {} & \
         $W eexist > {}; $W eacces > {}; wait",
        o("deadlock"),
        o("orphan"),
        o("eexist"),
        o("eacces")
    );
    let mut ids = Ids::default();
    let mut rec_cmd = Command::new(IPCTOP);
    rec_cmd
        .args(["record", "--interval", "0.25", "-o"])
        .arg(&rec)
        .args(["--", "sh", "-c", &script]);
    let mut p = Proc::spawn(&mut rec_cmd);
    p.wait_stderr("recording to", Duration::from_secs(30));
    // While it runs: a snapshot of the same situation, which has no history of who took
    // what: the two sets stalled, never a deadlock (the report, which saw the locks taken,
    // proves it).
    let mut live = Value::Null;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(100));
        let dl = read_json(&d.0.join("deadlock"));
        if dl.is_null() {
            continue;
        }
        let out = Command::new(IPCTOP)
            .args(["snapshot", "--json", "--long-wait", "0"])
            .output()
            .unwrap();
        let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
        let named = |f: &Value| {
            f["pids"]
                .as_array()
                .is_some_and(|a| a.iter().any(|p| dl["pids"].as_array().unwrap().contains(p)))
        };
        let f = snap["findings"].as_array().unwrap();
        assert!(
            !f.iter().any(|x| x["kind"] == "deadlock" && named(x)),
            "a snapshot proved a deadlock without history: {f:?}"
        );
        let stalled: Vec<&Value> = f
            .iter()
            .filter(|x| x["kind"] == "stalled" && named(x))
            .collect();
        if stalled.len() == 2 {
            live = Value::Array(stalled.into_iter().cloned().collect());
            break;
        }
    }
    assert_eq!(
        p.wait(Duration::from_secs(60)),
        Some(0),
        "record exits with the command's status"
    );
    let dl = read_json(&d.0.join("deadlock"));
    let orphan = read_json(&d.0.join("orphan"));
    let eexist = read_json(&d.0.join("eexist"));
    let eacces = read_json(&d.0.join("eacces"));
    ids.shms.push(orphan["shmid"].as_i64().unwrap() as i32);
    assert!(
        !live.is_null(),
        "the live snapshot saw both sets stalled {dl}"
    );

    let (code, r, err) = report(&rec, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(r["schema_version"], 3);
    assert_eq!(r["stopped_early"], Value::Null, "{r}");
    // The deadlock, along the way (the workload ended it), with its pids and sets; the same
    // as the live snapshot said.
    let found = r["along_the_way"]["deadlocks"].as_array().unwrap();
    let want_pids: std::collections::BTreeSet<u64> = dl["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let hit = found
        .iter()
        .find(|x| {
            x["pids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect::<std::collections::BTreeSet<_>>()
                == want_pids
        })
        .unwrap_or_else(|| panic!("deadlock {dl} not in {found:?}"));
    let semids: std::collections::BTreeSet<i64> = hit["cycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    let want_sets: std::collections::BTreeSet<i64> = dl["semids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(semids, want_sets);
    let live_sets: std::collections::BTreeSet<i64> = live
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        live_sets, want_sets,
        "the snapshot's stalled sets are the deadlock's"
    );
    // The orphaned segment: a leak at the end, with its id.
    let leak = r["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == orphan["shmid"])
        .unwrap_or_else(|| panic!("leak {orphan} not in {}", r["leaks"]));
    assert_eq!(leak["kind"], "shm");
    // The refused calls, with the pids that made them.
    let errs = r["errors"].as_array().unwrap();
    let has = |sys: &str, errno: &str, pid: &Value| {
        errs.iter().any(|e| {
            e["syscall"] == sys
                && e["errno"] == errno
                && e["pids"].as_array().unwrap().contains(pid)
        })
    };
    assert!(has("shmget", "EEXIST", &eexist["pid"]), "{errs:?}");
    assert!(has("shmat", "EACCES", &eacces["child_pid"]), "{errs:?}");
    assert_eq!(r["calls"]["dropped"], 0);
    assert!(r["calls"]["by_syscall"]["semtimedop"].as_u64().unwrap() >= 4);

    // Each gate fails for its own condition, and names it.
    for (cond, word) in [
        ("deadlock", "deadlock"),
        ("leak", "leak"),
        ("error", "EACCES"),
    ] {
        let (code, _, err) = report(&rec, &["--fail-on", cond]);
        assert_eq!(code, Some(1), "--fail-on {cond}: {err}");
        assert!(err.contains(word), "--fail-on {cond}: {err}");
    }
    let (code, _, err) = report(&rec, &["--fail-on", "drops,wait>600"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = report(&rec, &["--fail-on", "wait>0.5"]);
    assert_eq!(code, Some(1), "the deadlocked waits lasted ~2 s: {err}");
}

#[test]
fn a_clean_run_passes_every_gate() {
    if !can_trace("record_clean") {
        return;
    }
    let d = tmpdir("clean");
    let rec = d.0.join("clean.ipctop");
    // Its own IPC namespace (other tests' leaks are not its), and only its own calls.
    let name = unique_name("cln");
    let st = Command::new("unshare")
        .args([
            "--ipc",
            IPCTOP,
            "record",
            "--interval",
            "0.25",
            "--comm",
            &name,
            "-o",
        ])
        .arg(&rec)
        .args(["--", WORKLOAD, "--name", &name, "burst", "20000"])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let mode = std::fs::metadata(&rec).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    let (code, r, err) = report(&rec, &["--fail-on", "leak,deadlock,error,drops,wait>5"]);
    assert_eq!(code, Some(0), "{err} {r}");
    assert_eq!(r["calls"]["by_syscall"]["semtimedop"], 20_000, "{r}");
    assert_eq!(r["recording"]["end"]["exit_status"], 0);
}

#[test]
fn record_exits_with_the_commands_status() {
    if !can_trace("record_status") {
        return;
    }
    let d = tmpdir("status");
    let st = Command::new(IPCTOP)
        .args(["record", "-o"])
        .arg(d.0.join("s.ipctop"))
        .args(["--", "sh", "-c", "exit 7"])
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(7));
}

#[test]
fn a_recording_killed_with_sigkill_keeps_what_it_wrote() {
    if !can_trace("record_sigkill") {
        return;
    }
    let d = tmpdir("kill9");
    for name in ["k.ipctop", "k.ipctop.zst"] {
        let rec = d.0.join(name);
        let mut cmd = Command::new(IPCTOP);
        cmd.args(["record", "--interval", "0.2", "-o"])
            .arg(&rec)
            .args(["--", WORKLOAD, "--hold-for", "30", "sem-blocked"]);
        let mut p = Proc::spawn(&mut cmd);
        p.wait_stderr("recording to", Duration::from_secs(30));
        let ready: Value = p.json(Duration::from_secs(30));
        let waiter = ready["waiter_pid"].clone();
        let mut ids = Ids::default();
        ids.sems.push(ready["semid"].as_i64().unwrap() as i32);
        // Long enough for a flush after the waiter blocked; then no chance to finish.
        std::thread::sleep(Duration::from_millis(2500));
        p.signal(libc::SIGKILL);
        p.wait(Duration::from_secs(10));
        // The workload outlives ipctop (its parent): end it and its blocked child.
        for pid in [&ready["pid"], &waiter] {
            let pid = nix::unistd::Pid::from_raw(pid.as_i64().unwrap() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
        let (code, r, err) = report(&rec, &[]);
        assert_eq!(code, Some(0), "{name}: {err}");
        let why = r["stopped_early"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {r}"));
        assert!(
            why.contains("without its end mark")
                || why.contains("cut off")
                || why.contains("damaged"),
            "{why}"
        );
        assert!(err.contains(why), "said on stderr too: {err}");
        // What was written before the kill is there: the blocked waiter, still waiting when
        // the file ends.
        let waits = r["still_waiting"].as_array().unwrap();
        assert!(
            waits
                .iter()
                .any(|w| w["on"] == "sem" && w["id"] == ready["semid"] && w["pid"] == waiter),
            "{name}: {r}"
        );
    }
}
