//! Every event carries its IPC namespace and cgroup from the kernel: two `unshare --ipc`
//! namespaces, each process in its own cgroup, whose semaphore sets both have id 0, run a
//! semop burst of a known count each and exit (processes no snapshot has to see). `trace
//! --json` must stamp each event with the namespace of /proc/PID/ns/ipc, the cgroup's id and
//! its container (one cgroup named as Docker names them), a blocked call in a third namespace
//! likewise while in progress and when done, and a recording (the kernel aggregating) read into the model must count each (namespace,
//! id) exactly. The sets die with their namespaces; the guards kill the processes and remove
//! the cgroups whatever happens.
mod support;

use std::{
    os::unix::fs::MetadataExt,
    process::Command,
    time::{Duration, Instant},
};

use ipctop::{
    container::CgroupPaths,
    model::{Model, ObjId, ObjKind},
    record,
};
use serde_json::Value;
use support::{cgroup::TestCgroup, start_trace, stop_trace, unique_name, Proc, IPCTOP, WORKLOAD};

const DOCKER_ID: &str = "4e5a6b7c8d9f00112233445566778899aabbccddeeff00112233445566778899";

/// A burst in a new IPC namespace, held before its first call until `go` (so that it can be
/// put in its cgroup and its namespace read first).
struct Burst {
    proc: Proc,
    pid: u32,
    ipc_ns: u64,
    cgroup_id: u64,
    calls: u64,
}

fn burst(name: &str, calls: u64, cg: &TestCgroup) -> Burst {
    in_new_ns(name, &["burst", &calls.to_string()], calls, cg)
}

/// `ipctop-workload --name NAME --wait-go ARGS…` in a new IPC namespace and in `cg`.
fn in_new_ns(name: &str, args: &[&str], calls: u64, cg: &TestCgroup) -> Burst {
    let proc = Proc::spawn(
        Command::new("unshare")
            .args(["--ipc", WORKLOAD, "--name", name, "--wait-go"])
            .args(args),
    );
    let hello: Value = proc.json(Duration::from_secs(10));
    let pid = hello["pid"].as_u64().unwrap() as u32;
    assert_eq!(pid, proc.pid(), "unshare execs the workload");
    cg.enter(pid);
    let ipc_ns = std::fs::metadata(format!("/proc/{pid}/ns/ipc"))
        .unwrap()
        .ino();
    let mine = std::fs::metadata("/proc/self/ns/ipc").unwrap().ino();
    assert_ne!(ipc_ns, mine, "unshare --ipc made a new namespace");
    Burst {
        proc,
        pid,
        ipc_ns,
        cgroup_id: std::fs::metadata(&cg.leaf).unwrap().ino(),
        calls,
    }
}

/// Starts it and lets it end (a workload holds its objects until its stdin closes).
fn run(b: &mut Burst) {
    b.proc.go();
    b.proc.release();
    assert_eq!(
        b.proc.wait(Duration::from_secs(60)),
        Some(0),
        "burst failed"
    );
}

#[test]
fn events_carry_their_namespace_and_cgroup_and_count_per_namespace() {
    if !support::can_trace("events_carry_their_namespace_and_cgroup_and_count_per_namespace") {
        return;
    }
    let Some(paths) = CgroupPaths::system() else {
        support::skip(
            "events_carry_their_namespace_and_cgroup_and_count_per_namespace",
            "no unified cgroup hierarchy is mounted",
        );
        return;
    };
    let name = unique_name("nsev");
    let cg_a = TestCgroup::new(paths.mount(), "ipctop-nsev-a", "leaf");
    // B's cgroup is named as Docker names a container's (systemd driver): its events must
    // say so, from the cgroup id alone.
    let cg_b = TestCgroup::new(
        paths.mount(),
        "ipctop-nsev-b",
        &format!("docker-{DOCKER_ID}.scope"),
    );
    let dir = std::env::temp_dir().join(format!("ipctop-nsev-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    struct RmDir(std::path::PathBuf);
    impl Drop for RmDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = RmDir(dir.clone());
    let rec_path = dir.join("ns.ipctop");

    let trace = start_trace(&["--comm", &name]);
    // The recording aggregates in the kernel (the default): only the calls that stand out
    // (creates, removals) are sent; the bursts' semops are counted in the kernel by pid.
    let mut rec = Proc::spawn(
        Command::new(IPCTOP)
            .args(["record", "--interval", "0.25", "--comm", &name, "-o"])
            .arg(&rec_path),
    );
    rec.wait_stderr("recording to", Duration::from_secs(30));

    // Different counts, so that a mix-up shows.
    let mut a = burst(&name, 1_500, &cg_a);
    let mut b = burst(&name, 2_600, &cg_b);
    // A third namespace (its set id 0 too) whose process blocks for a second: trace lists its
    // call in progress (read from the probe's table and /proc) in its namespace.
    let mut c = in_new_ns(&name, &["block", "--release-after", "1"], 1, &cg_b);
    assert!(a.ipc_ns != b.ipc_ns && b.ipc_ns != c.ipc_ns && a.ipc_ns != c.ipc_ns);
    run(&mut a);
    run(&mut b);
    run(&mut c);
    // Both processes are gone before anything is read.
    std::thread::sleep(Duration::from_millis(600));
    let (events, _summary, code) = stop_trace(trace);
    assert_eq!(code, Some(0));
    rec.signal(libc::SIGTERM);
    assert_eq!(rec.wait(Duration::from_secs(30)), Some(0), "record failed");

    // trace --json: every event of each process stamped with its namespace and cgroup.
    for (w, container) in [(&a, "host"), (&b, "docker:4e5a6b7c8d9f")] {
        let mine: Vec<&Value> = events
            .iter()
            .filter(|e| e["pid"] == u64::from(w.pid))
            .collect();
        for e in &mine {
            assert_eq!(e["ipc_ns"], w.ipc_ns, "{e}");
            assert_eq!(e["cgroup_id"], w.cgroup_id, "{e}");
            assert_eq!(e["container"], container, "{e}");
        }
        let semops = mine
            .iter()
            .filter(|e| e["syscall"] == "semtimedop" && e["args"]["semid"] == 0 && e["ret"] == 0)
            .count() as u64;
        assert_eq!(semops, w.calls, "pid {}", w.pid);
        let created: Vec<&&Value> = mine.iter().filter(|e| e["syscall"] == "semget").collect();
        assert_eq!(created.len(), 1);
        assert_eq!(
            created[0]["ret"], 0,
            "the first set of a new namespace is id 0"
        );
    }

    // The blocked call: listed in progress, then finished, both in its own namespace.
    let waits: Vec<&Value> = events
        .iter()
        .filter(|e| e["pid"] == u64::from(c.pid) && e["args"]["semid"] == 0)
        .filter(|e| e["args"]["sops"][0]["sem_op"] == -1)
        .collect();
    assert!(
        waits.iter().any(|e| e["in_progress"] == true),
        "the wait was listed in progress: {waits:?}"
    );
    assert!(waits.iter().any(|e| e["ret"] == 0), "{waits:?}");
    for e in &waits {
        assert_eq!(e["ipc_ns"], c.ipc_ns, "{e}");
        assert_eq!(e["cgroup_id"], c.cgroup_id, "{e}");
        assert_eq!(e["container"], "docker:4e5a6b7c8d9f", "{e}");
    }

    // The recording into the model: each (namespace, 0) has its own burst's count, exactly.
    let mut r = record::open(&rec_path).expect("the recording reads");
    let mut m = Model::new();
    let t0 = Instant::now();
    while let Some(u) = r.next_update() {
        m.apply(&u);
        assert!(t0.elapsed() < Duration::from_secs(60));
    }
    assert!(r.damage().is_none(), "{:?}", r.damage());
    let acc = m.account();
    for w in [&a, &b] {
        // The workloads removed their sets at the end: their final accounts.
        let t = acc
            .object_final(
                ObjKind::Sem,
                ObjId {
                    ns: w.ipc_ns,
                    id: 0,
                },
            )
            .unwrap_or_else(|| panic!("no account of set 0 in namespace {}", w.ipc_ns));
        let semops = t.by_syscall[ipctop::event::Syscall::SEMTIMEDOP.index()];
        assert_eq!(semops, w.calls, "namespace {}", w.ipc_ns);
        assert_eq!(t.errors, 0);
    }
    let mine = std::fs::metadata("/proc/self/ns/ipc").unwrap().ino();
    assert!(
        acc.object(ObjKind::Sem, ObjId { ns: mine, id: 0 })
            .is_none_or(|t| t.by_syscall[ipctop::event::Syscall::SEMTIMEDOP.index()] == 0),
        "no burst counted in our own namespace"
    );
}
