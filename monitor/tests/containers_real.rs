//! Containers as their users name them, with real runtimes (root; podman with runc, runc for
//! a Kubernetes-style pod; installed by `cargo xtask setup`): `--container` by name, by any
//! member of a shared namespace, by `namespace/pod`, pod uid and container name; a container
//! in the host's IPC namespace by its processes; a plain `unshare --ipc` namespace never
//! labelled `host`. The image is made here (busybox-static and a static C workload).
#[path = "support/containers/mod.rs"]
mod containers;
mod serve_support;
mod support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use containers::{have, Base, Docker, Pod, Podman, Workload};
use serde_json::Value;
use support::*;

/// `ipctop ARGS`: exit code, stdout, stderr.
fn ipctop(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(IPCTOP).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn snapshot(extra: &[&str]) -> Value {
    let mut args = vec!["snapshot", "--json"];
    args.extend(extra);
    let (code, out, err) = ipctop(&args);
    assert_eq!(code, Some(0), "snapshot {extra:?}: {err}");
    serde_json::from_str(&out).unwrap()
}

/// The semaphore sets of a snapshot document: (ipc_ns, semid, container).
fn sets(doc: &Value) -> Vec<(u64, i64, String)> {
    doc["semaphore_sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["ipc_ns"].as_u64().unwrap(),
                s["semid"].as_i64().unwrap(),
                s["container"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The finished semops of `pid` among a trace's events (glibc's semop is semtimedop).
fn semops_of(events: &[Value], pid: u32) -> usize {
    events
        .iter()
        .filter(|e| {
            e["pid"] == pid
                && (e["syscall"] == "semop" || e["syscall"] == "semtimedop")
                && e["in_progress"] != true
        })
        .count()
}

/// The semops (glibc's semop is semtimedop) of a report's account (`by_syscall`).
fn semops_in(account: &Value) -> u64 {
    ["semop", "semtimedop"]
        .iter()
        .map(|s| account["by_syscall"][s].as_u64().unwrap_or(0))
        .sum()
}

/// The container's calls carry its label; the only others in its namespace are this test's
/// own reads (`nsenter … ipcs`, the snapshots' `ipctop-nsread` thread): host processes
/// entering it, labelled by their own cgroup.
fn assert_labels(events: &[Value], pid: u32, label: &str) {
    for e in events {
        if e["pid"] == pid {
            assert_eq!(e["container"], label, "{e}");
        } else {
            let comm = e["comm"].as_str().unwrap_or("");
            assert!(comm == "ipcs" || comm.starts_with("ipctop"), "{e}");
            assert_eq!(e["container"], "host", "{e}");
        }
    }
}

fn can_run(test: &str, progs: &[&str]) -> bool {
    if !can_trace(test) {
        return false;
    }
    if let Some(p) = progs.iter().find(|p| !have(p)) {
        skip(
            test,
            &format!("{p} is not installed (cargo xtask setup installs it)"),
        );
        return false;
    }
    true
}

/// Waits until every workload has made its calls (its set's value is CALLS, read in its
/// namespace by nsenter).
fn wait_done(ws: &[&Workload]) {
    for w in ws {
        containers::wait_for(|| {
            let out = Command::new("nsenter")
                .arg(format!("--ipc=/proc/{}/ns/ipc", w.pid))
                .args(["ipcs", "-s", "-i", &w.semid.to_string()])
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stdout);
            // "semnum     value      ncount     zcount     pid" then "0  CALLS ...".
            let v: u32 = text.lines().find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 5 && f[0] == "0").then(|| f[1].parse().ok())?
            })?;
            (v == w.calls).then_some(())
        });
    }
}

#[test]
fn podman_containers_by_name_shared_namespaces_and_host_ipc() {
    let test = "podman_containers";
    if !can_run(test, &["podman", "runc", "gcc", "tar", "nsenter"]) {
        return;
    }
    let t0 = Instant::now();
    let base = Base::new("podman");
    let mut pm = Podman::new(&base, "p");
    let n = std::process::id();
    let mut host_sets = Ids::default();
    let a = pm.run(&format!("it{n}-web"), "private", 300, 60);
    let b = pm.run(&format!("it{n}-db"), "private", 700, 60);
    let d = pm.run(&format!("it{n}-owner"), "shareable", 200, 60);
    let e = pm.run(
        &format!("it{n}-app"),
        &format!("container:{}", d.name),
        100,
        60,
    );
    let h = pm.run(&format!("it{n}-hostipc"), "host", 400, 60);
    host_sets.sems.push(h.semid);
    assert_ne!(a.ipc_ns(), b.ipc_ns());
    assert_eq!(d.ipc_ns(), e.ipc_ns());

    // Nothing named: one sentence with what exists, exit 2.
    let (code, _, err) = ipctop(&["snapshot", "--container", "no-such-container"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("podman:{}", a.name)), "{err}");
    assert!(
        err.contains(&format!("podman:{} (host IPC)", h.name)),
        "{err}"
    );
    // The runtime, when said, must be the container's.
    let (code, _, err) = ipctop(&["snapshot", "--container", &format!("docker:{}", a.name)]);
    assert_eq!(code, Some(2), "{err}");

    // Tracers and a recorder started before the calls.
    let trace_a = start_trace(&["--container", &a.name]);
    let trace_e = start_trace(&["--container", &e.id[..12]]);
    let trace_h = start_trace(&["--container", &format!("podman:{}", h.name)]);
    let dir = recording::tmpdir("ct-rec");
    let rec_path = dir.0.join("h.ipctop");
    let mut rec = Proc::spawn(Command::new(IPCTOP).args([
        "record",
        "--every-call",
        "--container",
        &h.name,
        "-o",
        rec_path.to_str().unwrap(),
    ]));
    rec.wait_stderr("ipctop: recording", Duration::from_secs(30));
    // And the whole machine, the kernel's counts (the default).
    let all_path = dir.0.join("all.ipctop");
    let mut rec_all =
        Proc::spawn(Command::new(IPCTOP).args(["record", "-o", all_path.to_str().unwrap()]));
    rec_all.wait_stderr("ipctop: recording", Duration::from_secs(30));
    // serve of the --ipc=host container: its processes, by cgroup, in the host's namespace.
    let (serve_h, port) = serve_container(&h.name);
    // Another process of the host's namespace calling beside it: context, never judged.
    let mut beside = Proc::spawn(Command::new(WORKLOAD).args([
        "--name",
        &format!("it{n}-beside"),
        "--wait-go",
        "burst",
        "250",
    ]));
    for w in [&a, &b, &d, &e, &h] {
        w.go();
    }
    beside.go();
    let beside_pid = beside.json(Duration::from_secs(30))["pid"]
        .as_u64()
        .unwrap() as u32;
    wait_done(&[&a, &b, &d, &e, &h]);
    std::thread::sleep(Duration::from_millis(800));

    // snapshot: a container by name shows its own namespace, labelled with its name.
    let label_a = format!("podman:{}", a.name);
    assert_eq!(
        sets(&snapshot(&["--container", &a.name])),
        vec![(a.ipc_ns(), i64::from(a.semid), label_a.clone())]
    );
    // The shared namespace: named by both, selected by either (name, id prefix, full id).
    let shared = format!("podman:{},podman:{}", e.name, d.name);
    let mut want = vec![
        (d.ipc_ns(), i64::from(d.semid), shared.clone()),
        (d.ipc_ns(), i64::from(e.semid), shared.clone()),
    ];
    want.sort();
    for sel in [&d.name, &e.name, &d.id[..8].to_string(), &e.id] {
        let mut got = sets(&snapshot(&["--container", sel]));
        got.sort();
        assert_eq!(got, want, "--container {sel}");
    }
    // A host process entering the shared namespace does not relabel it.
    let mut intruder = Command::new("nsenter")
        .arg(format!("--ipc=/proc/{}/ns/ipc", d.pid))
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let all = snapshot(&[]);
    let _ = intruder.kill();
    let _ = intruder.wait();
    for (ns, _, label) in sets(&all) {
        if ns == d.ipc_ns() {
            assert_eq!(label, shared);
        }
    }
    // The host's IPC namespace is "host", whoever shares it; a container in it is selected by
    // its processes (cgroup): exactly its set and its process, none of the host's.
    let host_ns = 0xEFFF_FFFFu64;
    assert!(sets(&all)
        .iter()
        .any(|(ns, id, l)| *ns == host_ns && *id == i64::from(h.semid) && l == "host"));
    let doc_h = snapshot(&["--container", &h.name]);
    assert_eq!(
        sets(&doc_h),
        vec![(host_ns, i64::from(h.semid), "host".to_string())]
    );
    let pids: Vec<u64> = doc_h["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(
        pids,
        vec![u64::from(h.pid)],
        "only the container's processes"
    );
    for f in doc_h["findings"].as_array().unwrap() {
        assert!(f["ipc_ns"].is_u64() && f["container"].is_string(), "{f}");
    }

    // serve: its set with its 400 calls, and no other object of the host's namespace.
    assert_eq!(
        served_semops(port, host_ns, h.semid, 400),
        vec![(host_ns.to_string(), "sem".into(), h.semid.to_string())]
    );
    serve_h.signal(libc::SIGTERM);

    // trace: each container's calls exact, nobody else's.
    let (ev_a, _, code) = stop_trace(trace_a);
    assert_eq!(code, Some(0));
    assert_eq!(semops_of(&ev_a, a.pid), 300);
    assert!(
        ev_a.iter().all(|e| e["ipc_ns"] == a.ipc_ns()),
        "another namespace's call"
    );
    assert_labels(&ev_a, a.pid, &label_a);
    let (ev_e, _, _) = stop_trace(trace_e);
    assert_eq!(
        (semops_of(&ev_e, d.pid), semops_of(&ev_e, e.pid)),
        (200, 100)
    );
    assert!(ev_e.iter().all(|x| x["ipc_ns"] == d.ipc_ns()));
    let (ev_h, _, _) = stop_trace(trace_h);
    assert_eq!(semops_of(&ev_h, h.pid), 400);
    assert!(
        ev_h.iter().all(|x| x["pid"] == h.pid),
        "only the container's processes"
    );

    // record --container of the --ipc=host container: its 400 calls, no one else's.
    rec.signal(libc::SIGTERM);
    assert_eq!(rec.wait(Duration::from_secs(30)), Some(0), "record failed");
    let mut reader = ipctop::record::open(&rec_path).unwrap();
    let (mut mine, mut others) = (0, 0);
    while let Some(s) = reader.next_update() {
        if let ipctop::feed::Update::Events(evs) = s.update {
            for ev in evs.iter().filter(|e| !e.in_progress()) {
                if ev.pid == h.pid && ev.syscall.name().starts_with("sem") {
                    mine += 1;
                } else if ev.pid != h.pid {
                    others += 1;
                }
            }
        }
    }
    assert_eq!((mine, others), (400, 0));
    beside.release();
    assert_eq!(
        beside.wait(Duration::from_secs(30)),
        Some(0),
        "burst failed"
    );

    // report --container of the --ipc=host container: judged are its 400 calls, exact; the
    // other process's calls beside it are context.
    let (code, rep, err) = recording::report(&rec_path, &["--container", &h.name]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        rep["scope"]["judged"],
        format!("container podman:{}", h.name)
    );
    assert_eq!(rep["calls"]["calls"], 400, "{}", rep["calls"]);
    assert_eq!(rep["scope"]["pids"], serde_json::json!([h.pid]));
    let judged_pids: Vec<u64> = rep["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(judged_pids, vec![u64::from(h.pid)]);
    assert!(!judged_pids.contains(&u64::from(beside_pid)));
    assert!(
        rep["context"]["calls"]["calls"].as_u64().unwrap() >= 400 + 250,
        "{}",
        rep["context"]["calls"]
    );
    for w in rep["still_waiting"].as_array().unwrap() {
        assert!(w["ipc_ns"].is_u64(), "{w}");
    }
    // A private-IPC container in a recording of the whole machine (the kernel's counts): its
    // 300 calls judged, exact; the machine's are context.
    rec_all.signal(libc::SIGTERM);
    assert_eq!(
        rec_all.wait(Duration::from_secs(30)),
        Some(0),
        "record failed"
    );
    let (code, rep, err) = recording::report(&all_path, &["--container", &a.name]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(rep["scope"]["judged"], format!("container {}", a.name));
    assert_eq!(rep["calls"]["source"], "kernel");
    // Its namespace's processes: the container's, and this test's `nsenter … ipcs` (host
    // processes that entered it, each a few semctl).
    assert_eq!(semops_in(&rep["calls"]), 300, "{}", rep["calls"]);
    let ctx = rep["context"]["calls"]["calls"].as_u64().unwrap();
    assert!(ctx >= 300 + 700 + 400 + 250, "{}", rep["context"]["calls"]);
    let mut judged_calls = 0;
    for p in rep["processes"].as_array().unwrap() {
        if p["pid"] == a.pid {
            assert_eq!((p["calls"].as_u64(), semops_in(p)), (Some(300), 300), "{p}");
        } else {
            assert_eq!(p["comm"], "ipcs", "{p}");
            assert_eq!(p["calls"], p["by_syscall"]["semctl"], "{p}");
        }
        judged_calls += p["calls"].as_u64().unwrap();
    }
    assert_eq!(rep["calls"]["calls"], judged_calls, "{}", rep["calls"]);
    // For people: what is judged, and the rest as context.
    let out = Command::new(IPCTOP)
        .arg("report")
        .arg(&all_path)
        .args(["--container", &a.name])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("Judged: container {} (", a.name))
            && text.contains("Context (not judged; outside --container/--ipc-ns)"),
        "{text}"
    );
    // Nothing of that name in the recording: one sentence, exit 2.
    let (code, _, err) = recording::report(&all_path, &["--container", "no-such-container"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("has no container"), "{err}");
    drop(host_sets);
    eprintln!("{test}: {:?}", t0.elapsed());
}

/// `ipctop serve --container NAME` started: it and its port.
fn serve_container(name: &str) -> (Proc, u16) {
    let serve = Proc::spawn(Command::new(IPCTOP).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "0.5",
        "--container",
        name,
    ]));
    let started = serve.wait_stderr("ipctop: serving", Duration::from_secs(30));
    let port = serve_support::served_port(started.last().unwrap());
    (serve, port)
}

/// The finished semops on set `semid` of the namespace `ns` a serve exposes, once they are
/// `want` (30 s at most), and every object it exposes then: (ipc_ns, kind, id).
fn served_semops(port: u16, ns: u64, semid: i32, want: u32) -> Vec<(String, String, String)> {
    let text = serve_support::eventually("serve's calls", Duration::from_secs(30), || {
        let text = serve_support::request(port, "GET", "/metrics", &[])?.text();
        let (ns, id) = (ns.to_string(), semid.to_string());
        let calls: f64 = ["semop", "semtimedop"]
            .iter()
            .flat_map(|sys| {
                serve_support::values(
                    &text,
                    "ipctop_object_calls_total",
                    &[
                        ("ipc_ns", &ns),
                        ("kind", "sem"),
                        ("id", &id),
                        ("syscall", sys),
                    ],
                )
            })
            .sum();
        (calls == f64::from(want)).then_some(text)
    });
    let label = |l: &str, k: &str| {
        l.split(&format!("{k}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("")
            .to_string()
    };
    let mut objects: Vec<(String, String, String)> = text
        .lines()
        .filter(|l| l.starts_with("ipctop_object_calls_total{"))
        .map(|l| (label(l, "ipc_ns"), label(l, "kind"), label(l, "id")))
        .collect();
    objects.sort();
    objects.dedup();
    objects
}

#[test]
fn docker_containers_by_name_and_host_ipc() {
    let test = "docker_containers";
    if !can_run(test, &["dockerd", "docker", "gcc", "tar", "nsenter"]) {
        return;
    }
    let t0 = Instant::now();
    let base = Base::new("docker");
    let mut dk = match Docker::start(&base) {
        Ok(d) => d,
        Err(why) => return skip(test, &why),
    };
    let n = std::process::id();
    let a = dk.run(&format!("it{n}-dweb"), "private", 300, 60);
    let h = dk.run(&format!("it{n}-dhost"), "host", 400, 60);
    // In the host's namespace its set outlives a container removed before it ends.
    let mut host_sets = Ids::default();
    host_sets.sems.push(h.semid);
    let host_ns = 0xEFFF_FFFFu64;
    assert_eq!(h.ipc_ns(), host_ns);

    let trace_a = start_trace(&["--container", &format!("docker:{}", a.name)]);
    let trace_h = start_trace(&["--container", &h.id[..12]]);
    let dir = recording::tmpdir("ct-docker");
    let path = dir.0.join("all.ipctop");
    let mut rec = Proc::spawn(Command::new(IPCTOP).args(["record", "-o", path.to_str().unwrap()]));
    rec.wait_stderr("ipctop: recording", Duration::from_secs(30));
    let (serve_h, port) = serve_container(&h.name);
    for w in [&a, &h] {
        w.go();
    }
    wait_done(&[&a, &h]);
    std::thread::sleep(Duration::from_millis(800));

    // snapshot: by name, each its own; the --ipc=host one exactly its set and process.
    let label_a = format!("docker:{}", a.name);
    assert_eq!(
        sets(&snapshot(&["--container", &a.name])),
        vec![(a.ipc_ns(), i64::from(a.semid), label_a.clone())]
    );
    let doc_h = snapshot(&["--container", &format!("docker:{}", h.name)]);
    assert_eq!(
        sets(&doc_h),
        vec![(host_ns, i64::from(h.semid), "host".to_string())]
    );
    assert_eq!(doc_h["processes"][0]["pid"], h.pid);
    assert_eq!(doc_h["processes"].as_array().unwrap().len(), 1);
    // serve: its 400 calls, no other object.
    assert_eq!(
        served_semops(port, host_ns, h.semid, 400),
        vec![(host_ns.to_string(), "sem".into(), h.semid.to_string())]
    );
    serve_h.signal(libc::SIGTERM);
    // trace: exact, each its own.
    let (ev_a, _, _) = stop_trace(trace_a);
    assert_eq!(semops_of(&ev_a, a.pid), 300);
    assert_labels(&ev_a, a.pid, &label_a);
    let (ev_h, _, _) = stop_trace(trace_h);
    assert_eq!(semops_of(&ev_h, h.pid), 400);
    assert!(ev_h.iter().all(|x| x["pid"] == h.pid));
    // report: the private container's 300 semops judged, the machine's context.
    rec.signal(libc::SIGTERM);
    assert_eq!(rec.wait(Duration::from_secs(30)), Some(0), "record failed");
    let (code, rep, err) = recording::report(&path, &["--container", &a.name]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(rep["scope"]["judged"], format!("container {}", a.name));
    let semops = semops_in(&rep["calls"]);
    assert_eq!(semops, 300, "{}", rep["calls"]);
    drop(host_sets);
    eprintln!("{test}: {:?}", t0.elapsed());
}

#[test]
fn kubernetes_pod_selected_as_namespace_slash_pod() {
    let test = "kubernetes_pod";
    if !can_run(test, &["runc", "gcc", "nsenter"]) {
        return;
    }
    let base = Base::new("pod");
    let mut pod = Pod::new(&base, "shop", &format!("cart-{}", std::process::id()));
    let sandbox = pod.run(None, None, &["/bin/busybox", "sleep", "60"]);
    let app_pid = pod.run(Some("api"), Some(sandbox), &["/bin/wl", "250", "60"]);
    let app = Workload {
        name: "api".into(),
        id: String::new(),
        pid: app_pid,
        semid: containers::wait_for(|| {
            let out = Command::new("nsenter")
                .arg(format!("--ipc=/proc/{app_pid}/ns/ipc"))
                .args(["ipcs", "-s"])
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 5 && f[0].starts_with("0x")).then(|| f[1].parse().ok())?
            })
        }),
        calls: 250,
    };
    let sel = format!("{}/{}", pod.namespace, pod.name);
    let label = format!("pod:{sel}");
    let trace = start_trace(&["--container", &sel]);
    app.go();
    wait_done(&[&app]);
    std::thread::sleep(Duration::from_millis(600));
    let (events, _, code) = stop_trace(trace);
    assert_eq!(code, Some(0));
    assert_eq!(semops_of(&events, app.pid), 250);
    assert_labels(&events, app.pid, &label);
    // namespace/pod, the pod's uid, the Kubernetes container name, the label.
    for s in [&sel, &pod.uid, &"api".to_string(), &label] {
        assert_eq!(
            sets(&snapshot(&["--container", s])),
            vec![(app.ipc_ns(), i64::from(app.semid), label.clone())],
            "--container {s}"
        );
    }
}

#[test]
fn an_unshared_namespace_is_not_the_host() {
    let test = "unshared_not_host";
    if !can_run(test, &["nsenter", "ipcmk"]) {
        return;
    }
    let mut child = sleeper_in_new_ipc_ns(60);
    let pid = child.id();
    let out = Command::new("nsenter")
        .arg(format!("--ipc=/proc/{pid}/ns/ipc"))
        .args(["ipcmk", "-S", "2"])
        .output()
        .unwrap();
    assert!(out.status.success());
    use std::os::unix::fs::MetadataExt;
    let ns = std::fs::metadata(format!("/proc/{pid}/ns/ipc"))
        .unwrap()
        .ino();
    let all = sets(&snapshot(&[]));
    let mine: Vec<_> = all.iter().filter(|s| s.0 == ns).collect();
    assert_eq!(mine.len(), 1, "{all:?}");
    assert_eq!(mine[0].2, format!("ns:{ns}"));
    // `--container host` is the init namespace only.
    let host = sets(&snapshot(&["--container", "host"]));
    assert!(host.iter().all(|s| s.0 == 0xEFFF_FFFF), "{host:?}");
    // Its own label selects it.
    let own = sets(&snapshot(&["--container", &format!("ns:{ns}")]));
    assert_eq!(own.len(), 1, "{own:?}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn blind_to_containers_says_so_once() {
    let test = "blind_to_containers";
    if !can_run(test, &["unshare"]) {
        return;
    }
    // ipctop in a cgroup namespace of its own (as in a container without --cgroupns=host).
    let blind = |args: &[&str]| {
        let out = Command::new("unshare")
            .arg("--cgroup")
            .arg(IPCTOP)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let why = "ipctop runs in a cgroup namespace of its own";
    // Nothing named: refused, and why names may be missing, in one sentence.
    let (code, err) = blind(&["snapshot", "--container", "no-such-container"]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no container or IPC namespace") && err.contains(why),
        "{err}"
    );
    // Selected all the same (a label as shown): said once.
    let (code, err) = blind(&["snapshot", "--container", "host"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(err.matches(why).count(), 1, "{err}");
}
