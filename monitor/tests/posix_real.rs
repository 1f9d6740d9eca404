//! POSIX IPC as `ipctop snapshot --json` shows it, against situations made by a C program
//! compiled here (tests/support/posix/workload.c), each in private IPC and mount namespaces
//! with a tmpfs of its own on /dev/shm (so its objects go with it, and /dev/shm "of every
//! mount namespace" is what is read): a named semaphore with 3 processes in sem_wait, an
//! empty queue with a blocked receiver, a queue with 3 messages left by an exited process, a
//! /dev/shm object nobody uses, a process-shared sem_t in a System V segment with 2 waiters,
//! and an AB/BA deadlock of robust process-shared mutexes (a deadlock of the one wait-for
//! graph: `deadlocks`, not a POSIX finding). The ground truth is the
//! workload's own word (pids of the waiters, once /proc shows them asleep in their call) and
//! the kernel's (/proc/PID/ns/ipc, stat of its /dev/shm).
//!
//! Needs root (namespaces, mounts); fails rather than skips under IPCTOP_REQUIRE_ROOT=1.
mod serve_support;
mod support;

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::Duration,
};

use serde_json::Value;
use support::{skip, Proc, IPCTOP};

const SOURCE: &str = include_str!("support/posix/workload.c");

/// The workload, compiled once per test binary (`None`: no compiler, said by the caller).
fn workload() -> Option<&'static PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = format!("posix-workload-{}", std::process::id());
        support::compile_c("posix", "workload.c", SOURCE, &bin, &["-pthread"])
    })
    .as_ref()
}

/// A situation running in its own namespaces; killed (with its children) on drop.
struct Situation {
    /// Kept for its drop (which kills the situation).
    _proc: Proc,
    ready: Value,
    ipc_ns: u64,
    shm_dev: u64,
}

fn can_run(test: &str) -> Option<&'static PathBuf> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip(test, "it makes IPC and mount namespaces, which needs root");
        return None;
    }
    let w = workload();
    if w.is_none() {
        skip(test, "no C compiler (cc) to build its workload");
    }
    w
}

fn start(wl: &Path, args: &str) -> Situation {
    let script = format!(
        "mount -t tmpfs -o size=1m ipctop-test /dev/shm && exec {} {args}",
        wl.display()
    );
    let proc = Proc::spawn(Command::new("unshare").args([
        "--ipc",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ]));
    let line = proc
        .line(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{args}: not ready in 30 s"));
    let ready: Value = serde_json::from_str(
        line.strip_prefix("ready ")
            .unwrap_or_else(|| panic!("{args}: said {line:?}")),
    )
    .unwrap();
    let pid = proc.pid();
    let ipc_ns = std::fs::metadata(format!("/proc/{pid}/ns/ipc"))
        .unwrap()
        .ino();
    let shm_dev = std::fs::metadata(format!("/proc/{pid}/root/dev/shm"))
        .unwrap()
        .dev();
    Situation {
        _proc: proc,
        ready,
        ipc_ns,
        shm_dev,
    }
}

fn snapshot_json() -> Value {
    let out = Command::new(IPCTOP)
        .args(["snapshot", "--json"])
        .output()
        .expect("run ipctop snapshot");
    assert!(
        out.status.success(),
        "ipctop snapshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn u64s(v: &Value) -> Vec<u64> {
    let mut x: Vec<u64> = v
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    x.sort_unstable();
    x
}

fn posix(doc: &Value) -> &Value {
    doc.get("posix").expect("a posix section")
}

/// The findings of `kind` naming `pid`.
/// `ipctop record --duration SECS` of the whole machine, into a directory of its own (removed
/// on drop).
fn recorded(tag: &str, secs: u32) -> (support::recording::TempDir, PathBuf) {
    let dir = support::recording::tmpdir(tag);
    let file = dir.0.join("r.ipctop.zst");
    let out = Command::new(IPCTOP)
        .args(["record", "--duration", &secs.to_string(), "-o"])
        .arg(&file)
        .output()
        .expect("run ipctop record");
    assert!(
        out.status.success(),
        "record: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, file)
}

fn findings_of<'a>(doc: &'a Value, kind: &str, object: &str) -> Vec<&'a Value> {
    posix(doc)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind && f["object"].as_str().unwrap_or("").contains(object))
        .collect()
}

#[test]
fn named_semaphore_with_three_waiters() {
    let Some(wl) = can_run("named_semaphore_with_three_waiters") else {
        return;
    };
    let s = start(wl, "sem /ipctop-sem 3");
    let waiters = u64s(&s.ready["waiters"]);
    assert_eq!(waiters.len(), 3);
    let doc = snapshot_json();
    let p = posix(&doc);
    let objs: Vec<&Value> = p["shm_objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["dev"] == s.shm_dev && o["name"] == "ipctop-sem")
        .collect();
    assert_eq!(objs.len(), 1, "the semaphore once: {objs:?}");
    let o = objs[0];
    assert_eq!(o["kind"], "semaphore");
    assert_eq!(o["sem"]["value"], 0, "{o}");
    assert_eq!(o["sem"]["nwaiters"], 3, "{o}");
    // Every waiter maps it; the waits resolve to it by device and inode.
    let mut mappers = u64s(&Value::from(
        o["mappers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["pid"].clone())
            .collect::<Vec<_>>(),
    ));
    mappers.dedup();
    for w in &waiters {
        assert!(
            mappers.contains(w),
            "waiter {w} among the mappers {mappers:?}"
        );
    }
    let waits: Vec<&Value> = p["futex_waits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["object"] == "shm_file" && w["ino"] == o["ino"] && w["dev"] == o["dev"])
        .collect();
    let mut pids: Vec<u64> = waits.iter().filter_map(|w| w["pid"].as_u64()).collect();
    pids.sort_unstable();
    assert_eq!(pids, waiters, "the 3 waiters, named: {waits:?}");
    for w in waits {
        assert_eq!(w["kind"], "semaphore", "{w}");
        assert_eq!(w["offset"], 0);
        assert!(w["waited_at_least_s"].as_f64().is_some(), "{w}");
    }
    assert!(findings_of(&doc, "unused", "ipctop-sem").is_empty());
    // Its maker still maps it, with a thread free to post it: not stuck.
    assert!(findings_of(&doc, "stuck_semaphore", "ipctop-sem").is_empty());
    drop(s);
}

#[test]
fn a_named_semaphore_its_maker_let_go_of_is_stuck() {
    let Some(wl) = can_run("a_named_semaphore_its_maker_let_go_of_is_stuck") else {
        return;
    };
    let s = start(wl, "sem /ipctop-sem 3 let-go");
    let waiters = u64s(&s.ready["waiters"]);
    let doc = snapshot_json();
    let stuck = findings_of(&doc, "stuck_semaphore", "ipctop-sem");
    assert_eq!(stuck.len(), 1, "{stuck:?}");
    assert_eq!(u64s(&stuck[0]["pids"]), waiters, "{}", stuck[0]);
    assert_eq!(stuck[0]["ipc_ns"], s.ipc_ns, "{}", stuck[0]);
    // Recorded, the gate fails on it as on a stuck System V waiter.
    let (_dir, file) = recorded("posix-semstuck", 3);
    let ns = s.ipc_ns.to_string();
    let gate = Command::new(IPCTOP)
        .arg("report")
        .arg(&file)
        .args(["--ipc-ns", &ns, "--fail-on", "stuck"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&gate.stderr);
    assert!(
        gate.status.code() == Some(1) && said.contains("semaphore /ipctop-sem"),
        "the gate fails on the stuck semaphore: {:?} {said}",
        gate.status
    );
    drop(s);
}

#[test]
fn empty_queue_with_blocked_receiver_is_stuck() {
    let Some(wl) = can_run("empty_queue_with_blocked_receiver_is_stuck") else {
        return;
    };
    let s = start(wl, "mqrecv /ipctop-q1");
    let receiver = s.ready["receiver"].as_u64().unwrap();
    let doc = snapshot_json();
    let qs: Vec<&Value> = posix(&doc)["queues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["ipc_ns"] == s.ipc_ns)
        .collect();
    assert_eq!(qs.len(), 1, "its namespace's one queue: {qs:?}");
    let q = qs[0];
    assert_eq!(q["name"], "/ipctop-q1");
    assert_eq!(q["attr"]["curmsgs"], 0);
    assert_eq!(q["attr"]["maxmsg"], 4);
    assert_eq!(q["attr"]["msgsize"], 64);
    assert_eq!(q["receivers"].as_array().unwrap().len(), 1, "{q}");
    assert_eq!(q["receivers"][0]["pid"], receiver);
    assert_eq!(q["receivers"][0]["tid"], receiver);
    assert!(q["senders"].as_array().unwrap().is_empty());
    let openers = q["openers"].as_array().unwrap();
    assert_eq!(openers.len(), 1, "{q}");
    assert_eq!(
        (&openers[0]["pid"], &openers[0]["access"]),
        (&receiver.into(), &"r".into())
    );
    let stuck = findings_of(&doc, "stuck_queue", "/ipctop-q1");
    assert_eq!(stuck.len(), 1, "{stuck:?}");
    assert_eq!(u64s(&stuck[0]["pids"]), [receiver]);
    drop(s);
}

#[test]
fn queue_left_with_three_messages() {
    let Some(wl) = can_run("queue_left_with_three_messages") else {
        return;
    };
    let s = start(wl, "mqleave /ipctop-q2");
    let maker = s.ready["maker"].as_u64().unwrap();
    assert!(maker > 0);
    let doc = snapshot_json();
    let qs: Vec<&Value> = posix(&doc)["queues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["ipc_ns"] == s.ipc_ns)
        .collect();
    assert_eq!(qs.len(), 1, "{qs:?}");
    let q = qs[0];
    assert_eq!(q["name"], "/ipctop-q2");
    assert_eq!(q["attr"]["curmsgs"], 3, "{q}");
    assert_eq!(q["attr"]["maxmsg"], 8);
    assert!(q["openers"].as_array().unwrap().is_empty(), "{q}");
    let unused = findings_of(&doc, "unused", "queue /ipctop-q2");
    assert_eq!(unused.len(), 1, "{unused:?}");
    assert!(unused[0]["reason"]
        .as_str()
        .unwrap()
        .contains("3 message(s)"));
    assert!(unused[0]["since_unix_s"].as_i64().unwrap() > 0);
    // Reading it changed nothing: the queue's times are what its last send left.
    let again = snapshot_json();
    let q2 = posix(&again)["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["ipc_ns"] == s.ipc_ns)
        .cloned()
        .unwrap();
    assert_eq!(
        (&q["mtime_s"], &q["ctime_s"]),
        (&q2["mtime_s"], &q2["ctime_s"])
    );
    assert_eq!(q2["attr"]["curmsgs"], 3);
    drop(s);
}

#[test]
fn shm_object_nobody_uses() {
    let Some(wl) = can_run("shm_object_nobody_uses") else {
        return;
    };
    let s = start(wl, "shm /ipctop-psm");
    let doc = snapshot_json();
    let objs: Vec<&Value> = posix(&doc)["shm_objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["dev"] == s.shm_dev)
        .collect();
    assert_eq!(objs.len(), 1, "its /dev/shm's one object: {objs:?}");
    let o = objs[0];
    assert_eq!(
        (&o["name"], &o["kind"], &o["size"]),
        (&"ipctop-psm".into(), &"shm".into(), &12288.into())
    );
    assert!(o["openers"].as_array().unwrap().is_empty());
    assert!(o["mappers"].as_array().unwrap().is_empty());
    assert_eq!(
        u64s(&o["mnt_ns"]).len(),
        1,
        "one mount namespace sees it: {o}"
    );
    let unused = findings_of(&doc, "unused", "/dev/shm/ipctop-psm");
    assert_eq!(unused.len(), 1, "{unused:?}");
    assert_eq!(unused[0]["ipc_ns"], s.ipc_ns);
    drop(s);
}

#[test]
fn sem_t_in_a_sysv_segment_shows_its_waiters_on_the_segment() {
    let Some(wl) = can_run("sem_t_in_a_sysv_segment_shows_its_waiters_on_the_segment") else {
        return;
    };
    let s = start(wl, "sysv 2");
    let shmid = s.ready["shmid"].as_i64().unwrap();
    let waiters = u64s(&s.ready["waiters"]);
    let doc = snapshot_json();
    let segs: Vec<&Value> = doc["shm_segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["ipc_ns"] == s.ipc_ns && x["shmid"] == shmid)
        .collect();
    assert_eq!(segs.len(), 1, "the segment: {segs:?}");
    let seg = segs[0];
    let waits = seg["futex_waits"].as_array().expect("its futex waits");
    let mut pids: Vec<u64> = waits.iter().filter_map(|w| w["pid"].as_u64()).collect();
    pids.sort_unstable();
    assert_eq!(pids, waiters, "{seg}");
    for w in waits {
        assert_eq!(w["object"], "sysv_shm");
        assert_eq!(w["offset"], 128);
        assert_eq!(w["kind"], "semaphore", "{w}");
        assert_eq!(w["value"], 0);
        assert_eq!(w["nwaiters"], 2);
    }
    drop(s);
}

#[test]
fn robust_mutex_abba_is_a_deadlock() {
    let Some(wl) = can_run("robust_mutex_abba_is_a_deadlock") else {
        return;
    };
    let s = start(wl, "abba");
    let pids = u64s(&s.ready["pids"]);
    let doc = snapshot_json();
    // A deadlock of the one wait-for graph (the owners from the mutexes' words), once: not
    // said again among the POSIX findings.
    let dl: Vec<&Value> = doc["deadlocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| u64s(&f["pids"]) == pids)
        .collect();
    assert_eq!(
        dl.len(),
        1,
        "one deadlock of {pids:?}: {:?}",
        doc["deadlocks"]
    );
    assert!(
        findings_of(&doc, "deadlock", "").is_empty(),
        "{:?}",
        posix(&doc)["findings"]
    );
    for step in dl[0]["cycle"].as_array().unwrap() {
        assert_eq!(step["role"], "owner", "{step}");
        assert_eq!(step["mutex"]["kind"], "robust", "{step}");
    }
    assert_eq!(dl[0]["ipc_ns"], s.ipc_ns, "in its namespace");
    assert_eq!(
        u64s(&dl[0]["tids"]),
        pids,
        "single-threaded: tids are the pids"
    );
    for w in posix(&doc)["futex_waits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| pids.contains(&w["pid"].as_u64().unwrap()))
    {
        assert_eq!(w["kind"], "robust_mutex", "{w}");
        assert_eq!(w["object"], "shared_anon");
        let owner = w["owner"].as_u64().unwrap();
        assert!(
            pids.contains(&owner) && owner != w["pid"].as_u64().unwrap(),
            "{w}"
        );
    }
    drop(s);
}

#[test]
fn text_says_posix_too() {
    let Some(wl) = can_run("text_says_posix_too") else {
        return;
    };
    let s = start(wl, "sysv 2");
    let shmid = s.ready["shmid"].as_i64().unwrap();
    let out = Command::new(IPCTOP).arg("snapshot").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for w in u64s(&s.ready["waiters"]) {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{w} ")) && l.contains("System V segment"))
            .unwrap_or_else(|| panic!("no wait line for {w} in:\n{text}"));
        assert!(
            line.contains(&format!("System V segment {shmid}")),
            "{line}"
        );
        assert!(line.contains("value 0 waiters 2"), "{line}");
    }
    drop(s);
}

#[test]
fn serve_exports_posix_per_namespace() {
    let Some(wl) = can_run("serve_exports_posix_per_namespace") else {
        return;
    };
    let sem = start(wl, "sem /ipctop-ssem 3");
    let q = start(wl, "mqrecv /ipctop-sq");
    let serve = Proc::spawn(Command::new(IPCTOP).args([
        "serve",
        "--no-probe",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "0.5",
    ]));
    let started = serve.wait_stderr("ipctop: serving", Duration::from_secs(30));
    let port = serve_support::served_port(started.last().unwrap());
    let (sns, qns) = (sem.ipc_ns.to_string(), q.ipc_ns.to_string());
    let text = serve_support::eventually("the POSIX series", Duration::from_secs(30), || {
        let (_, _, t) = serve_support::http(port, "GET", "/metrics", None)?;
        t.contains(&format!("ipctop_posix_queue_messages{{ipc_ns=\"{qns}\""))
            .then_some(t)
    });
    let v = |name: &str, labels: &[(&str, &str)]| serve_support::value(&text, name, labels);
    assert_eq!(
        v(
            "ipctop_posix_queue_messages",
            &[("ipc_ns", &qns), ("name", "/ipctop-sq")]
        ),
        Some(0.0)
    );
    assert_eq!(
        v(
            "ipctop_posix_blocked_threads",
            &[("ipc_ns", &qns), ("kind", "mq")]
        ),
        Some(1.0)
    );
    assert_eq!(
        v(
            "ipctop_posix_findings",
            &[("ipc_ns", &qns), ("kind", "stuck_queue")]
        ),
        Some(1.0)
    );
    assert_eq!(
        v("ipctop_posix_objects", &[("ipc_ns", &sns), ("kind", "sem")]),
        Some(1.0),
        "its own /dev/shm's one semaphore"
    );
    assert_eq!(
        v(
            "ipctop_posix_blocked_threads",
            &[("ipc_ns", &sns), ("kind", "sem")]
        ),
        Some(3.0)
    );
    drop((sem, q, serve));
}

/// A recording carries the looks at POSIX IPC (format 5): its report finds the robust-mutex
/// deadlock along the way (a deadlock of the one wait-for graph, with System V's) and
/// `--fail-on deadlock` fails on it, in its namespace; judged on another namespace (the
/// host's) it is context and the gate passes.
#[test]
fn a_recorded_robust_mutex_deadlock_fails_the_gate() {
    let Some(wl) = can_run("a_recorded_robust_mutex_deadlock_fails_the_gate") else {
        return;
    };
    let s = start(wl, "abba");
    let pids = u64s(&s.ready["pids"]);
    let (_dir, file) = recorded("posix-record", 4);
    let ns = s.ipc_ns.to_string();
    let (code, doc, _) = support::recording::report(&file, &["--ipc-ns", &ns]);
    assert_eq!(code, Some(0), "{doc}");
    let found: Vec<&Value> = doc["along_the_way"]["deadlocks"]
        .as_array()
        .expect("along_the_way.deadlocks")
        .iter()
        .filter(|f| u64s(&f["pids"]) == pids)
        .collect();
    assert_eq!(found.len(), 1, "{}", doc["along_the_way"]);
    assert!(
        doc["along_the_way"]["posix"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|f| f["kind"] != "deadlock"),
        "said once: {}",
        doc["along_the_way"]
    );
    let gate = Command::new(IPCTOP)
        .arg("report")
        .arg(&file)
        .args(["--ipc-ns", &ns, "--fail-on", "deadlock"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&gate.stderr);
    assert!(
        gate.status.code() == Some(1)
            && said.contains("deadlock: 1 deadlock(s)")
            && said.contains(&format!("pids {pids:?}")),
        "the gate fails on the POSIX deadlock, once: {:?} {said}",
        gate.status
    );
    let host = std::fs::metadata("/proc/self/ns/ipc")
        .unwrap()
        .ino()
        .to_string();
    let (_, doc, _) = support::recording::report(&file, &["--ipc-ns", &host]);
    let judged = doc["along_the_way"]["deadlocks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        judged.iter().all(|f| u64s(&f["pids"]) != pids),
        "another namespace's deadlock is not judged: {judged:?}"
    );
    drop(s);
}
