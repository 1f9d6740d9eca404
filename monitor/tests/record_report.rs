//! Recording, replay's reader and the report: real recordings of real workloads (root), and
//! damaged, foreign and odd input (any user).
mod support;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde_json::Value;
use support::{recording::*, *};

fn read_json(p: &Path) -> Value {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    serde_json::from_str(s.lines().next().unwrap_or("null")).unwrap_or(Value::Null)
}

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
    // While it runs: the live view of the same deadlock, to compare with the report.
    let mut live = Value::Null;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(100));
        let dl = read_json(&d.0.join("deadlock"));
        if dl.is_null() {
            continue;
        }
        let out = Command::new(IPCTOP)
            .args(["snapshot", "--json"])
            .output()
            .unwrap();
        let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
        let pids = dl["pids"].clone();
        if let Some(x) = snap["deadlocks"].as_array().unwrap().iter().find(|x| {
            let mut a: Vec<u64> = x["pids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            a.sort();
            let mut b: Vec<u64> = pids
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            b.sort();
            a == b
        }) {
            live = x.clone();
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
    assert!(!live.is_null(), "the live snapshot saw the deadlock {dl}");

    let (code, r, err) = report(&rec, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(r["schema_version"], 2);
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
        .map(|s| s["semid"].as_i64().unwrap())
        .collect();
    let want_sets: std::collections::BTreeSet<i64> = dl["semids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(semids, want_sets);
    let live_sets: std::collections::BTreeSet<i64> = live["cycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["semid"].as_i64().unwrap())
        .collect();
    assert_eq!(live_sets, want_sets, "live and replayed analysis agree");
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
            // SAFETY: signalling processes this test started.
            unsafe { libc::kill(pid.as_i64().unwrap() as i32, libc::SIGKILL) };
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

/// A small real recording made without the probe (snapshots only), for the damage tests.
fn synthetic(dir: &Path, name: &str) -> PathBuf {
    use ipctop::{
        feed::{ProbeStatus, Stamped, Update},
        record::Recorder,
    };
    let path = dir.join(name);
    let header = ipctop::cmd::record::header_here(
        Duration::from_secs(1),
        &ProbeStatus::SnapshotOnly("test".into()),
        false,
        None,
    );
    let mut r = Recorder::create(&path, &header).unwrap();
    for _ in 0..3 {
        let snap = ipctop::snapshot::take(&Default::default()).unwrap();
        r.write(&Stamped {
            mono_ns: snap.mono_ns,
            update: Update::Snapshot(Box::new(snap)),
        })
        .unwrap();
    }
    r.finish(ipctop::event::clock_ns(libc::CLOCK_MONOTONIC), "test", None)
        .unwrap();
    path
}

#[test]
fn damaged_and_foreign_input_gets_one_sentence_and_the_right_exit_code() {
    let d = tmpdir("damage");
    let good = synthetic(&d.0, "good.ipctop");
    let (code, r, err) = report(&good, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(r["stopped_early"], Value::Null);

    let bytes = std::fs::read(&good).unwrap();
    let lines: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
        .collect();
    // Cut mid-line (in the third line): used up to the damage, which is named.
    let cut = d.0.join("cut.ipctop");
    std::fs::write(&cut, &bytes[..lines[1] + 40]).unwrap();
    let (code, r, err) = report(&cut, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        r["stopped_early"].as_str().unwrap().contains("line 3"),
        "{r}"
    );
    assert!(err.contains("line 3"), "{err}");
    // Truncated at a line boundary: no end mark.
    let trunc = d.0.join("trunc.ipctop");
    std::fs::write(&trunc, &bytes[..=lines[2]]).unwrap();
    let (code, r, _) = report(&trunc, &[]);
    assert_eq!(code, Some(0));
    assert!(
        r["stopped_early"]
            .as_str()
            .unwrap()
            .contains("without its end mark"),
        "{r}"
    );
    // A garbled line in the middle.
    let mut garbled = bytes.clone();
    for b in &mut garbled[lines[1] + 5..lines[1] + 25] {
        *b = b'#';
    }
    let g = d.0.join("garbled.ipctop");
    std::fs::write(&g, &garbled).unwrap();
    let (code, r, _) = report(&g, &[]);
    assert_eq!(code, Some(0));
    assert!(
        r["stopped_early"]
            .as_str()
            .unwrap()
            .contains("not a valid record"),
        "{r}"
    );

    // Not a recording at all: one sentence, exit 2, no panic.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let rnd = d.0.join("random.bin");
    std::fs::write(&rnd, &random).unwrap();
    let empty = d.0.join("empty.ipctop");
    std::fs::write(&empty, b"").unwrap();
    let json = d.0.join("other.json");
    std::fs::write(&json, b"{\"hello\": 1}\n").unwrap();
    let future = d.0.join("future.ipctop");
    std::fs::write(&future, b"{\"ipctop_recording\": 99}\n").unwrap();
    for (p, want) in [
        (rnd.as_path(), "not an ipctop recording"),
        (empty.as_path(), "is empty"),
        (json.as_path(), "not an ipctop recording"),
        (future.as_path(), "format version 99"),
        (d.0.as_path(), "is a directory"),
        (Path::new("/nonexistent/x.ipctop"), "No such file"),
    ] {
        let out = Command::new(IPCTOP).arg("report").arg(p).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", p.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{}: {err}", p.display());
        assert!(!err.contains("panicked"));
    }
    // A compressed recording cut short reads up to the cut.
    let zgood = synthetic(&d.0, "good.ipctop.zst");
    let z = std::fs::read(&zgood).unwrap();
    let zcut = d.0.join("cut.ipctop.zst");
    std::fs::write(&zcut, &z[..z.len() * 2 / 3]).unwrap();
    let (code, r, err) = report(&zcut, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(r["stopped_early"].is_string(), "{r}");
    // Bad usage.
    let out = Command::new(IPCTOP)
        .args(["report"])
        .arg(&good)
        .args(["--fail-on", "sunshine"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_demo_replays_through_the_dashboards_feed_with_seeks() {
    use ipctop::{
        analysis::{self, What},
        feed::{self, Control, Source},
        model::Model,
        replay::ReplaySource,
    };
    let open = ipctop::cmd::replay::opener(None).unwrap();
    let mut src = ReplaySource::new(open, 1.0).expect("the built-in demo reads");
    // The length comes from a pass in the background.
    let total = loop {
        if let Some(t) = src.position().unwrap().total_s {
            break t;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(total > 5.0, "{total}");
    let mut m = Model::new();
    let apply_all = |src: &mut ReplaySource, m: &mut Model| {
        for s in src.drain() {
            m.apply(&s);
        }
    };
    src.control(Control::Pause);
    // Mid-way the AB/BA deadlock is on, with two processes.
    src.control(Control::SeekTo(4.0));
    apply_all(&mut src, &mut m);
    let deadlocks = |m: &Model| {
        analysis::analyze(m, &Default::default())
            .into_iter()
            .filter_map(|f| match f.what {
                What::Deadlock { pids, .. } => Some(pids),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let d = deadlocks(&m);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].len(), 2);
    // Seeking back starts over (a Reset first): at 0.2 s there is no deadlock yet.
    src.control(Control::SeekTo(0.2));
    let ups = src.drain();
    assert!(matches!(ups[0].update, feed::Update::Reset));
    for s in &ups {
        m.apply(s);
    }
    assert!(deadlocks(&m).is_empty());
    // To the end: the deadlock is over, the leaks remain — as the report says.
    src.control(Control::SeekTo(total));
    apply_all(&mut src, &mut m);
    assert!(src.finished());
    let leaks: Vec<(String, i32)> = analysis::analyze(&m, &Default::default())
        .into_iter()
        .filter_map(|f| match f.what {
            What::Leak { ipc, id } => Some((format!("{ipc:?}"), id)),
            _ => None,
        })
        .collect();
    let rep = ipctop::report::build(
        ipctop::cmd::replay::demo().unwrap(),
        &Default::default(),
        ipctop::report::ScopeMode::All,
    );
    assert_eq!(leaks.len(), rep.leaks.len(), "{leaks:?} vs {:?}", rep.leaks);
    assert_eq!(leaks.len(), 2, "a segment and a queue: {leaks:?}");
    assert_eq!(rep.along_the_way.deadlocks.len(), 1);
}

#[test]
fn a_finished_call_is_never_still_waiting() {
    if !can_trace("report_finished_wait") {
        return;
    }
    let d = tmpdir("finished");
    let rec = d.0.join("f.ipctop");
    let name = unique_name("fin");
    // A semop blocked 1 s, released, then 2 s of nothing: the in-flight scans saw it
    // blocked, and a later scan lists nothing (that empty scan reaches the model too).
    in_own_ipc_ns(&format!(
        "$I record --interval 0.25 --comm {name} -o {} -- sh -c \
         \"$W --name {name} --hold-for 0 block --release-after 1 >/dev/null; sleep 2\"",
        rec.display()
    ));
    let (code, r, err) = report(&rec, &["--fail-on", "wait>3"]);
    assert_eq!(code, Some(0), "{err} {r}");
    assert_eq!(r["still_waiting"], serde_json::json!([]), "{r}");
    let w = &r["longest_wait"];
    let secs = w["seconds"].as_f64().unwrap();
    assert!((0.9..1.5).contains(&secs), "{w}");
    assert_eq!(w["still_waiting"], false, "{w}");
    let (code, _, err) = report(&rec, &["--fail-on", "wait>0.5"]);
    assert_eq!(code, Some(1), "the wait lasted 1 s: {err}");
    assert!(err.contains("finished"), "{err}");
}

#[test]
fn a_wait_begun_before_the_recording_trips_wait_gates() {
    if !can_trace("report_wait_before") {
        return;
    }
    let d = tmpdir("before");
    let rec = d.0.join("b.ipctop");
    // Blocked 1 s before the probe is attached; recorded 3 s more; released after.
    in_own_ipc_ns(&format!(
        "$W block >/dev/null & sleep 1; $I record --interval 0.25 --duration 3 -o {} \
         2>/dev/null; kill $!; wait",
        rec.display()
    ));
    let (code, r, err) = report(&rec, &["--fail-on", "wait>2"]);
    assert_eq!(code, Some(1), "a wait of at least ~3 s: {err} {r}");
    assert!(err.contains("at least"), "{err}");
    // The probe follows the whole machine: other tests' waits may be listed too; this one is
    // the wait whose start nobody saw.
    let still: Vec<&Value> = r["still_waiting"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["exact"] == false)
        .collect();
    assert_eq!(still.len(), 1, "{r}");
    let secs = still[0]["seconds"].as_f64().unwrap();
    let dur = r["recording"]["duration_s"].as_f64().unwrap();
    assert!(
        secs >= 2.0 && secs <= dur + 0.5,
        "{secs} s in a {dur} s recording"
    );
    let (code, _, err) = report(&rec, &["--fail-on", &format!("wait>{}", dur + 5.0)]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn record_cmd_judges_the_command_not_the_machine() {
    if !can_trace("report_scope") {
        return;
    }
    let d = tmpdir("scope");
    let (quiet, left) = (d.0.join("quiet.ipctop"), d.0.join("left.ipctop"));
    // Another process's leak (a segment whose creator is gone) before both recordings; then
    // a command that leaves nothing, and one that leaves an empty queue (ipcmk -Q).
    in_own_ipc_ns(&format!(
        "$W --hold-for 0 --leave orphan-shm >/dev/null; \
         $I record --interval 0.25 -o {} -- sh -c 'sleep 1' 2>/dev/null; \
         $I record --interval 0.25 -o {} -- ipcmk -Q >/dev/null 2>&1",
        quiet.display(),
        left.display()
    ));
    let (code, r, err) = report(&quiet, &["--fail-on", "leak"]);
    assert_eq!(
        code,
        Some(0),
        "another process's leak is context: {err} {r}"
    );
    assert_eq!(r["leaks"], serde_json::json!([]), "{r}");
    assert_eq!(r["context"]["leaks"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["context"]["leaks"][0]["kind"], "shm");
    // Judged whole, it fails.
    let (code, _, err) = report(&quiet, &["--fail-on", "leak", "--scope", "all"]);
    assert_eq!(code, Some(1), "{err}");

    let (code, r, err) = report(&left, &["--fail-on", "leak"]);
    assert_eq!(code, Some(1), "the empty queue the command left: {err} {r}");
    assert!(err.contains("msq"), "{err}");
    let leaks = r["leaks"].as_array().unwrap();
    assert_eq!(leaks.len(), 1, "{r}");
    assert_eq!(leaks[0]["kind"], "msg");
    let why = leaks[0]["reason"].as_str().unwrap();
    assert!(why.contains("msgget(") && why.contains("ipcmk"), "{why}");
    assert!(why.contains("0 messages"), "{why}");
}

#[test]
fn another_ipctops_polling_is_no_activity_on_the_objects() {
    if !can_trace("report_observer") {
        return;
    }
    let d = tmpdir("observer");
    let rec = d.0.join("o.ipctop");
    // A blocked semop while another ipctop takes snapshots: semctl IPC_STAT/GETALL/GETNCNT…
    // on the set, every 0.2 s. The probe follows tasks named ipctop only (the recorder
    // itself is left out by the probe): a small recording of the observers' calls alone.
    let out = in_own_ipc_ns(&format!(
        "timeout 60 $I record --interval 0.5 --comm ipctop -o {} -- sh -c \
         \"$W --hold-for 3 sem-blocked & sleep 0.5; \
           for i in 1 2 3 4 5 6 7 8; do $I snapshot >/dev/null; sleep 0.2; done; wait\"",
        rec.display()
    ));
    let ready: Value = out
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no ready line in {out:?}"));
    let semid = &ready["semid"];
    let (_, r, err) = report(&rec, &[]);
    let observers: Vec<&Value> = r["processes"]
        .as_array()
        .unwrap_or_else(|| panic!("{err} {r}"))
        .iter()
        .filter(|p| p["observer"] == true)
        .collect();
    assert!(!observers.is_empty(), "the snapshots' calls were seen: {r}");
    assert!(
        observers
            .iter()
            .all(|p| p["comm"] == "ipctop" && p["calls"].as_u64().unwrap() > 0),
        "{observers:?}"
    );
    // They count in the totals (semctl)…
    assert!(
        r["calls"]["by_syscall"]["semctl"].as_u64().unwrap() > 0,
        "{r}"
    );
    // …but not on the set, nor as its users: no activity on any object.
    let objects = r["objects"].as_array().unwrap();
    assert!(
        objects.iter().all(|o| o["users"] == serde_json::json!([])),
        "sem {semid}: {objects:?}"
    );
    assert!(
        objects.iter().all(|o| o["calls"] == 0),
        "sem {semid}: {objects:?}"
    );
}
