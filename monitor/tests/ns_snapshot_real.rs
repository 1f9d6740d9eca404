//! Every namespace in one snapshot, findings kept within their namespace: two `unshare --ipc`
//! namespaces, each in its own cgroup on the unified hierarchy (B's named as Docker names a
//! container's), whose first semaphore sets both have id 0 (a semop burst of a known count in
//! each, recorded), then in each a second set (id 1 in both) with a child blocked on its
//! semaphore 1, and in B a segment whose creator exited (a leak). `snapshot --json` must list
//! both id-0 sets with their namespaces and containers, the waits with holders of their own
//! namespace (the same ids in the other are not theirs), the leak in B only, no deadlock;
//! `report --json` of the recording counts each (namespace, 0) exactly; `--ipc-ns` and
//! `--container` keep one namespace, and `trace --ipc-ns` only its calls. Everything made here
//! dies with the namespaces when the processes are killed; the cgroups are removed on drop.
mod support;

use std::{
    os::unix::fs::MetadataExt,
    process::Command,
    time::{Duration, Instant},
};

use ipctop::container::CgroupPaths;
use serde_json::Value;
use support::{
    cgroup::TestCgroup, recording, start_trace, stop_trace, unique_name, Proc, IPCTOP, WORKLOAD,
};

const DOCKER_ID: &str = "5f6a7b8c9d0e11223344556677889900aabbccddeeff00112233445566778899";
const DOCKER_LABEL: &str = "docker:5f6a7b8c9d0e";

fn ns_of(pid: u32) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/ipc"))
        .unwrap()
        .ino()
}

/// A namespace: a sleeping process keeps it (and the objects left in it) until the end; the
/// workloads run inside it with nsenter.
struct Ns {
    _holder: Killed,
    pid: u32,
    inode: u64,
    calls: u64,
    others: Vec<Proc>,
}

/// A child killed and reaped on drop.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn new_ns(calls: u64, cg: &TestCgroup) -> Ns {
    let holder = Killed(support::sleeper_in_new_ipc_ns(300));
    let pid = holder.0.id();
    cg.enter(pid);
    let inode = ns_of(pid);
    assert_ne!(inode, ns_of(std::process::id()));
    Ns {
        _holder: holder,
        pid,
        inode,
        calls,
        others: Vec::new(),
    }
}

impl Ns {
    /// `ipctop-workload --leave ARGS` inside the namespace, moved into its cgroup before it
    /// starts (its children inherit it); its JSON line. Its objects stay (`--leave`) until the
    /// namespace goes.
    fn run_in(&mut self, name: &str, cg: &TestCgroup, args: &[&str]) -> Value {
        let mut p = Proc::spawn(
            Command::new("nsenter")
                .arg(format!("--ipc=/proc/{}/ns/ipc", self.pid))
                .args([WORKLOAD, "--name", name, "--wait-go", "--leave"])
                .args(args),
        );
        let hello = p.json(Duration::from_secs(10));
        let pid = hello["pid"].as_u64().unwrap() as u32;
        assert_eq!(ns_of(pid), self.inode);
        cg.enter(pid);
        p.go();
        let v = p.json(Duration::from_secs(60));
        self.others.push(p);
        v
    }

    /// The semop burst: the namespace's first set, id 0.
    fn run_burst(&mut self, name: &str, cg: &TestCgroup) {
        let calls = self.calls.to_string();
        let done = self.run_in(name, cg, &["burst", &calls]);
        assert_eq!(done["semid"], 0, "the first set of a new namespace is id 0");
        assert_eq!(done["calls"], self.calls);
    }
}

fn snapshot_json(extra: &[&str]) -> Value {
    let out = Command::new(IPCTOP)
        .args(["snapshot", "--json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "snapshot {extra:?}: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn in_ns<'a>(list: &'a Value, ns: u64, id_key: &str, id: i64) -> Option<&'a Value> {
    list.as_array()
        .unwrap()
        .iter()
        .find(|x| x["ipc_ns"] == ns && x[id_key] == id)
}

#[test]
fn every_namespace_in_one_snapshot_and_findings_within_their_own() {
    const TEST: &str = "every_namespace_in_one_snapshot_and_findings_within_their_own";
    if !support::can_trace(TEST) {
        return;
    }
    let Some(paths) = CgroupPaths::system() else {
        support::skip(TEST, "no unified cgroup hierarchy is mounted");
        return;
    };
    let name = unique_name("nssnap");
    let cg_a = TestCgroup::new(paths.mount(), "ipctop-nssnap-a", "leaf");
    let cg_b = TestCgroup::new(
        paths.mount(),
        "ipctop-nssnap-b",
        &format!("docker-{DOCKER_ID}.scope"),
    );
    let dir = recording::tmpdir("nssnap");
    let rec_path = dir.0.join("ns.ipctop");

    let mut a = new_ns(1_700, &cg_a);
    let mut b = new_ns(2_900, &cg_b);
    let trace = start_trace(&["--comm", &name, "--ipc-ns", &a.pid.to_string()]);
    let mut rec = Proc::spawn(
        Command::new(IPCTOP)
            .args(["record", "--interval", "0.25", "--comm", &name, "-o"])
            .arg(&rec_path),
    );
    rec.wait_stderr("recording to", Duration::from_secs(30));
    // A second recording of B's namespace only (by its container): B's calls only.
    let rec_b_path = dir.0.join("ns-b.ipctop");
    let mut rec_b = Proc::spawn(
        Command::new(IPCTOP)
            .args(["record", "--interval", "0.25", "--comm", &name])
            .args(["--container", DOCKER_LABEL, "-o"])
            .arg(&rec_b_path),
    );
    rec_b.wait_stderr("recording to", Duration::from_secs(30));
    a.run_burst(&name, &cg_a);
    b.run_burst(&name, &cg_b);
    // Set 1 in each, a child blocked on its semaphore 1; in B also a leaked segment (id 0).
    let wa = a.run_in(&name, &cg_a, &["sem-blocked"]);
    let wb = b.run_in(&name, &cg_b, &["sem-blocked"]);
    let leak = b.run_in(&name, &cg_b, &["orphan-shm"]);
    assert_eq!(
        (wa["semid"].as_i64(), wb["semid"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(leak["shmid"], 0);
    std::thread::sleep(Duration::from_millis(600));
    for r in [&mut rec, &mut rec_b] {
        r.signal(libc::SIGTERM);
        assert_eq!(r.wait(Duration::from_secs(30)), Some(0), "record failed");
    }
    let (events, _summary, code) = stop_trace(trace);
    assert_eq!(code, Some(0));

    // snapshot --json: both namespaces, each object and wait in its own.
    let snap = snapshot_json(&[]);
    for (ns, label) in [(&a, None), (&b, Some(DOCKER_LABEL))] {
        let set0 = in_ns(&snap["semaphore_sets"], ns.inode, "semid", 0)
            .unwrap_or_else(|| panic!("set 0 of namespace {} not listed", ns.inode));
        if let Some(l) = label {
            assert_eq!(set0["container"], l, "{set0}");
        }
        assert!(in_ns(&snap["semaphore_sets"], ns.inode, "semid", 1).is_some());
    }
    for (ns, w, label) in [(&a, &wa, None), (&b, &wb, Some(DOCKER_LABEL))] {
        let waiter = w["waiter_pid"].as_u64().unwrap();
        let holder = w["pid"].as_u64().unwrap();
        let wait = snap["waits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["pid"] == waiter)
            .unwrap_or_else(|| panic!("the waiter {waiter} is not listed: {}", snap["waits"]));
        assert_eq!(wait["ipc_ns"], ns.inode, "{wait}");
        assert_eq!(wait["semid"], 1);
        assert_eq!(wait["semnum"], 1);
        // The holder is the set's own namespace's last user, never the other namespace's
        // process that used the set of the same id.
        assert_eq!(wait["holders"], serde_json::json!([holder]), "{wait}");
        if let Some(l) = label {
            assert_eq!(wait["container"], l);
        }
        let p = snap["processes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["pid"] == waiter)
            .expect("the waiter among the processes");
        assert_eq!(p["ipc_ns"], ns.inode);
    }
    let leaks: Vec<&Value> = snap["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["ipc_ns"] == a.inode || l["ipc_ns"] == b.inode)
        .collect();
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert_eq!(leaks[0]["ipc_ns"], b.inode);
    assert_eq!(leaks[0]["kind"], "shm");
    assert_eq!(leaks[0]["id"], 0);
    assert_eq!(leaks[0]["container"], DOCKER_LABEL);
    let ours: Vec<u64> = [&wa, &wb]
        .iter()
        .flat_map(|w| {
            [
                w["pid"].as_u64().unwrap(),
                w["waiter_pid"].as_u64().unwrap(),
            ]
        })
        .collect();
    for d in snap["deadlocks"].as_array().unwrap() {
        assert!(
            !d["pids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| ours.contains(&p.as_u64().unwrap())),
            "a deadlock across namespaces: {d}"
        );
    }

    // Filters: one namespace by pid or inode, or by container.
    for f in [
        vec!["--ipc-ns".to_string(), b.pid.to_string()],
        vec!["--ipc-ns".to_string(), b.inode.to_string()],
        vec!["--container".to_string(), DOCKER_ID[..12].to_string()],
    ] {
        let args: Vec<&str> = f.iter().map(String::as_str).collect();
        let s = snapshot_json(&args);
        for list in [
            "semaphore_sets",
            "shm_segments",
            "message_queues",
            "waits",
            "leaks",
        ] {
            for x in s[list].as_array().unwrap() {
                assert_eq!(x["ipc_ns"], b.inode, "{args:?} {list}: {x}");
            }
        }
        assert!(in_ns(&s["semaphore_sets"], b.inode, "semid", 0).is_some());
        assert_eq!(s["leaks"].as_array().unwrap().len(), 1, "{args:?}");
    }

    // trace --ipc-ns A: only A's calls (its burst's semops counted exactly).
    assert!(!events.is_empty());
    for e in &events {
        assert_eq!(e["ipc_ns"], a.inode, "{e}");
    }
    let semops = events
        .iter()
        .filter(|e| e["syscall"] == "semtimedop" && e["args"]["semid"] == 0 && e["ret"] == 0)
        .count() as u64;
    assert_eq!(semops, a.calls);

    // The recording: report --json counts each (namespace, 0) exactly.
    let (code, rep, err) = recording::report(&rec_path, &[]);
    assert!(code.is_some(), "{err}");
    let t0 = Instant::now();
    for ns in [&a, &b] {
        let o = rep["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == "sem" && o["id"] == 0 && o["ipc_ns"] == ns.inode)
            .unwrap_or_else(|| {
                panic!(
                    "no set 0 of namespace {} in the report: {} {err}",
                    ns.inode, rep["calls"]
                )
            });
        assert_eq!(o["by_syscall"]["semtimedop"], ns.calls, "{o}");
        // The container, from the labels the recording's snapshots carry.
        if ns.inode == b.inode {
            assert_eq!(o["container"], DOCKER_LABEL, "{o}");
        }
    }
    assert!(t0.elapsed() < Duration::from_secs(5));
    // report --ipc-ns B: B's objects and findings only (the leak among them).
    let b_inode = b.inode.to_string();
    let (code, rep_b, err) = recording::report(&rec_path, &["--ipc-ns", &b_inode]);
    assert!(code.is_some(), "{err}");
    let objs_b = rep_b["objects"].as_array().unwrap();
    assert!(objs_b.iter().all(|o| o["ipc_ns"] == b.inode), "{objs_b:?}");
    let set0 = objs_b.iter().find(|o| o["kind"] == "sem" && o["id"] == 0);
    assert_eq!(
        set0.expect("B's set 0")["by_syscall"]["semtimedop"],
        b.calls
    );
    let leaks_b = rep_b["leaks"].as_array().cloned().unwrap_or_default();
    for l in leaks_b
        .iter()
        .chain(rep_b["context"]["leaks"].as_array().into_iter().flatten())
    {
        assert_eq!(l["ipc_ns"], b.inode, "{l}");
    }

    // The recording of B only: every event recorded is B's.
    let mut r = ipctop::record::open(&rec_b_path).expect("the recording reads");
    let mut seen = 0;
    while let Some(u) = r.next_update() {
        if let ipctop::feed::Update::Events(evs) | ipctop::feed::Update::InFlight(evs) = &u.update {
            for e in evs {
                assert_eq!(e.ipc_ns, Some(b.inode), "{e:?}");
                seen += 1;
            }
        }
    }
    assert!(seen > 0, "no event of B recorded");
    drop((a, b));
}
