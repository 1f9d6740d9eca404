//! A deadlock across System V and POSIX in the one wait-for graph, against the real thing:
//! `ipctop-workload judge sem-mutex` (its own IPC namespace) makes A hold a System V lock
//! and wait on a process-shared robust mutex in a System V segment that B owns, while B waits
//! on A's lock. The ground truth is the kernel's: /proc/TID/syscall shows A in futex and B in
//! semop before the workload says ready.
//!
//! `record` (25 s: the POSIX looks come every 5 s at most, and a loaded machine starts the
//! situation late) watches from before the locks are taken (the probe's counts name A as the lock's
//! holder; the mutex's word names B as its owner): `report` finds exactly one deadlock naming
//! both, its steps in words, and `--fail-on deadlock` fails the gate. `snapshot`, which has no
//! probe, cannot know who holds the lock: it must not call it a deadlock, and shows the mutex
//! wait with its owner. Everything dies with the workload's namespace.
//!
//! Needs root (the probe, a namespace); fails rather than skips under IPCTOP_REQUIRE_ROOT=1.
mod support;

use std::{process::Command, time::Duration};

use serde_json::Value;
use support::{can_trace, recording, Proc, IPCTOP, WORKLOAD};

fn u64s(v: &Value) -> Vec<u64> {
    let mut x: Vec<u64> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    x.sort_unstable();
    x
}

/// The deadlocks of a list naming exactly `pids`.
fn naming<'a>(list: &'a Value, pids: &[u64]) -> Vec<&'a Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|d| u64s(&d["pids"]) == pids)
        .collect()
}

#[test]
fn a_semaphore_and_a_robust_mutex_in_one_cycle_are_one_deadlock() {
    if !can_trace("a_semaphore_and_a_robust_mutex_in_one_cycle_are_one_deadlock") {
        return;
    }
    let mut wl = Proc::spawn(Command::new(WORKLOAD).args(["--wait-go", "judge", "sem-mutex"]));
    let ns = wl.json(Duration::from_secs(30));
    assert_eq!(ns["phase"], "ns", "{ns}");
    let ipc_ns = ns["ipc_ns"].as_u64().expect("ipc_ns").to_string();
    let dir = recording::tmpdir("posix-graph");
    let file = dir.0.join("r.ipctop.zst");
    let mut rec = Proc::spawn(
        Command::new(IPCTOP)
            .args(["record", "--duration", "25", "-o"])
            .arg(&file),
    );
    rec.wait_stderr("ipctop: recording", Duration::from_secs(60));
    wl.go();
    let ready = wl.json(Duration::from_secs(30));
    assert_eq!(ready["phase"], "ready", "{ready}");
    let pids = u64s(&ready["pids"]["deadlocked"]);
    let (a, b) = (
        ready["pids"]["holds_sem"][0].as_u64().unwrap(),
        ready["pids"]["owns_mutex"][0].as_u64().unwrap(),
    );
    let shmid = ready["shmids"][0].as_i64().unwrap();
    let semid = ready["semids"][0].as_i64().unwrap();

    // snapshot: no probe, so no holder of the lock is known: no deadlock claimed; the mutex
    // wait is shown, in its segment, with its owner from the word.
    let out = Command::new(IPCTOP)
        .args(["snapshot", "--json", "--ipc-ns", &ipc_ns])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        naming(&snap["deadlocks"], &pids).is_empty(),
        "a snapshot cannot prove the lock's holder: {}",
        snap["deadlocks"]
    );
    let fw: Vec<&Value> = snap["posix"]["futex_waits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["pid"] == a)
        .collect();
    assert_eq!(fw.len(), 1, "{}", snap["posix"]["futex_waits"]);
    assert_eq!(
        (&fw[0]["kind"], &fw[0]["owner"], &fw[0]["shmid"]),
        (
            &Value::from("robust_mutex"),
            &Value::from(b),
            &Value::from(shmid)
        ),
        "{}",
        fw[0]
    );

    assert_eq!(rec.wait(Duration::from_secs(60)), Some(0), "record ended");
    // The situation held to the end (the kernel's word), else the run proves nothing.
    let syscall = |tid: u64| std::fs::read_to_string(format!("/proc/{tid}/syscall")).unwrap();
    assert!(syscall(a).starts_with("202 "), "A in futex: {}", syscall(a));
    assert!(
        ["65 ", "220 "].iter().any(|nr| syscall(b).starts_with(nr)),
        "B in semop: {}",
        syscall(b)
    );

    let (code, doc, err) = recording::report(&file, &["--ipc-ns", &ipc_ns]);
    assert_eq!(code, Some(0), "{err}");
    let along = naming(&doc["along_the_way"]["deadlocks"], &pids);
    assert_eq!(along.len(), 1, "one deadlock: {}", doc["along_the_way"]);
    let all = doc["along_the_way"]["deadlocks"].as_array().unwrap().len()
        + doc["along_the_way"]["posix"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["kind"] == "deadlock")
            .count();
    assert_eq!(all, 1, "said once: {}", doc["along_the_way"]);
    let d = along[0];
    let steps = d["cycle"].as_array().unwrap();
    let step = |pid: u64| steps.iter().find(|s| s["pid"] == pid).unwrap();
    assert_eq!(step(a)["role"], "owner", "{d}");
    assert_eq!(step(a)["mutex"]["owner_tid"], b, "{d}");
    assert_eq!(step(a)["id"], shmid, "{d}");
    assert_eq!(
        (&step(b)["role"], &step(b)["id"]),
        (&Value::from("holder"), &Value::from(semid))
    );
    let reason = d["reason"].as_str().unwrap();
    for want in [
        format!(
            "pid {a} waits on the robust mutex at System V segment {shmid}+0x0 owned by tid {b}"
        ),
        format!("pid {b} waits on semaphore 0 of set {semid} (sem_op -1) held by pid {a}"),
    ] {
        assert!(reason.contains(&want), "{want}: {reason}");
    }
    // At the end too (still blocked when the recording stopped).
    assert_eq!(
        naming(&doc["deadlocks"], &pids).len(),
        1,
        "{}",
        doc["deadlocks"]
    );

    // The gate fails on it, naming both.
    let gate = Command::new(IPCTOP)
        .arg("report")
        .arg(&file)
        .args(["--ipc-ns", &ipc_ns, "--fail-on", "deadlock"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&gate.stderr);
    assert_eq!(gate.status.code(), Some(1), "{said}");
    assert!(
        said.contains("deadlock: 1 deadlock(s)") && said.contains(&format!("pids {pids:?}")),
        "{said}"
    );
    wl.release();
    assert!(
        wl.wait(Duration::from_secs(10)).is_some(),
        "the workload ends"
    );
}
