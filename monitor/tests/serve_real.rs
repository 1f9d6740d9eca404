//! `ipctop serve` for real: the eBPF probe, known workloads, the scraped exposition checked
//! against what the workloads did and by `promtool check metrics`, then a real Prometheus
//! server (Debian's) scraping it and answering queries. Also: the alerting rules' promtool
//! unit tests, and the README, `--help`, rules and dashboard naming only metrics that exist.
//!
//! Needs root and Debian's `prometheus` package (CI installs it: `cargo xtask setup`);
//! skipped with the reason otherwise, failing instead where IPCTOP_REQUIRE_ROOT=1.
mod serve_support;
mod support;

use std::{
    collections::BTreeSet,
    io::{Read, Write},
    net::TcpStream,
    process::Command,
    time::{Duration, Instant},
};

use ipctop::export::families::{Type, SPECS};
use serde_json::Value;
use serve_support::*;
use support::*;

const T: Duration = Duration::from_secs(30);
const BURST: u64 = 2000;

/// Runs a workload that prints its JSON line and exits (leaving its objects with --leave).
fn run_once(args: &[&str]) -> Value {
    let mut p = Proc::spawn(Command::new(WORKLOAD).args(args));
    let v = p.json(T);
    assert_eq!(p.wait(T), Some(0), "workload {args:?} failed");
    v
}

#[test]
fn serve_exports_exact_counts_leaks_deadlocks_and_prometheus_scrapes_them() {
    const NAME: &str = "serve_real";
    if !can_trace(NAME) {
        return;
    }
    if !have("promtool") || !have("prometheus") {
        skip(
            NAME,
            "Debian's prometheus package is not installed (cargo xtask setup)",
        );
        return;
    }
    let mut ids = Ids::default();
    // Port 0: the port taken is the one said.
    let serve = Proc::spawn(Command::new(IPCTOP).args([
        "serve",
        "--listen",
        "localhost:0",
        "--interval",
        "0.5",
    ]));
    let started = serve.wait_stderr("ipctop: serving", T);
    let line = started.last().unwrap();
    assert!(line.contains("probe attached"), "{started:?}");
    assert!(!line.contains(":0/"), "the real port, not 0: {line}");
    let port = served_port(line);
    let listen = format!("127.0.0.1:{port}");

    // A client that never finishes its headers is cut off after the header timeout.
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
        let t = Instant::now();
        let mut buf = Vec::new();
        let r = s.read_to_end(&mut buf).map_err(|e| e.kind());
        (t.elapsed(), r)
    });

    // Known workloads (ids to match by: the machine is not quiet).
    let burst = run_once(&["--leave", "burst", &BURST.to_string()]);
    let burst_id = burst["semid"].as_i64().unwrap() as i32;
    ids.sems.push(burst_id);
    let eacces = run_once(&["--leave", "eacces"]);
    let eacces_id = eacces["shmid"].as_i64().unwrap() as i32;
    ids.shms.push(eacces_id);
    let deadlock = Proc::spawn(Command::new(WORKLOAD).arg("deadlock"));
    let d = deadlock.json(T);
    let dl: Vec<i32> = d["semids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as i32)
        .collect();
    ids.sems.extend(&dl);
    let orphan = Proc::spawn(Command::new(WORKLOAD).arg("orphan-shm"));
    let orphan_id = orphan.json(T)["shmid"].as_i64().unwrap() as i32;
    ids.shms.push(orphan_id);
    let blocked = Proc::spawn(Command::new(WORKLOAD).arg("sem-blocked"));
    let blocked_id = blocked.json(T)["semid"].as_i64().unwrap() as i32;
    ids.sems.push(blocked_id);
    let queue = Proc::spawn(Command::new(WORKLOAD).args(["queue-left", "3"]));
    let queue_id = queue.json(T)["msqid"].as_i64().unwrap() as i32;
    ids.msgs.push(queue_id);
    let q = queue_id.to_string();

    let (b, e, o, d0, d1, w) = (
        burst_id.to_string(),
        eacces_id.to_string(),
        orphan_id.to_string(),
        dl[0].to_string(),
        dl[1].to_string(),
        blocked_id.to_string(),
    );
    let text = eventually("the workloads in the exposition", T, || {
        let (status, head, body) = http(port, "GET", "/metrics", None)?;
        assert_eq!(status, 200);
        assert!(head.contains("text/plain; version=0.0.4"), "{head}");
        let calls = |sys: &str| {
            value(
                &body,
                "ipctop_object_calls_total",
                &[("kind", "sem"), ("id", &b), ("syscall", sys)],
            )
            .unwrap_or(0.0)
        };
        let ready = calls("semop") + calls("semtimedop") == BURST as f64
            && value(&body, "ipctop_object_deadlocked", &[("id", &d1)]) == Some(1.0)
            && value(
                &body,
                "ipctop_object_leaked",
                &[("kind", "shm"), ("id", &o)],
            ) == Some(1.0)
            && value(
                &body,
                "ipctop_object_waiters",
                &[("kind", "sem"), ("id", &w)],
            ) == Some(1.0)
            && value(
                &body,
                "ipctop_object_errors_total",
                &[("id", &e), ("errno", "EACCES")],
            )
            .is_some()
            && value(&body, "ipctop_queue_messages", &[("id", &q)]) == Some(3.0);
        ready.then_some(body)
    });
    // Exact counts of the loop's set: every semop, its one semget, nothing else.
    let at = |name: &str, labels: &[(&str, &str)]| value(&text, name, labels);
    let sem_calls = at(
        "ipctop_object_calls_total",
        &[("kind", "sem"), ("id", &b), ("syscall", "semtimedop")],
    )
    .unwrap_or(0.0)
        + at(
            "ipctop_object_calls_total",
            &[("kind", "sem"), ("id", &b), ("syscall", "semop")],
        )
        .unwrap_or(0.0);
    assert_eq!(sem_calls, BURST as f64);
    assert_eq!(
        at(
            "ipctop_object_calls_total",
            &[("kind", "sem"), ("id", &b), ("syscall", "semget")]
        ),
        Some(1.0)
    );
    // Its histogram counts every semop, cumulative up to +Inf.
    assert_eq!(
        at(
            "ipctop_object_wait_seconds_bucket",
            &[("kind", "sem"), ("id", &b), ("le", "+Inf")]
        ),
        Some(BURST as f64)
    );
    assert_eq!(
        at(
            "ipctop_object_wait_seconds_count",
            &[("kind", "sem"), ("id", &b)]
        ),
        Some(BURST as f64)
    );
    // The refused shmat, by errno.
    assert_eq!(
        at(
            "ipctop_object_errors_total",
            &[
                ("kind", "shm"),
                ("id", &e),
                ("syscall", "shmat"),
                ("errno", "EACCES")
            ]
        ),
        Some(1.0)
    );
    // The leak, the deadlock (both sets), the blocked waiter.
    assert!(at("ipctop_leaked_objects", &[("kind", "shm")]).unwrap() >= 1.0);
    assert!(at("ipctop_deadlocks", &[]).unwrap() >= 1.0);
    assert_eq!(at("ipctop_object_deadlocked", &[("id", &d0)]), Some(1.0));
    assert!(at("ipctop_blocked_threads", &[("kind", "sem")]).unwrap() >= 3.0);
    assert!(at("ipctop_longest_wait_seconds", &[]).unwrap() > 0.0);
    assert_eq!(at("ipctop_probe_attached", &[]), Some(1.0));
    // No series per pid or tid.
    assert!(!text.contains("pid=\"") && !text.contains("tid=\""));

    // Valid exposition, as promtool reads it.
    let (ok, out) = promtool(&["check", "metrics"], Some(&text));
    assert!(ok, "promtool check metrics: {out}");
    // The histogram's bounds are the kernel's: powers of two of nanoseconds (2^11 to 2^33,
    // a run of them around the calls seen), then +Inf.
    let mut bounds: Vec<String> = text
        .lines()
        .filter(|l| {
            l.starts_with("ipctop_object_wait_seconds_bucket{")
                && l.contains(&format!("id=\"{b}\""))
        })
        .filter_map(|l| {
            l.split("le=\"")
                .nth(1)?
                .split('"')
                .next()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(bounds.pop().as_deref(), Some("+Inf"));
    let ns: Vec<u64> = bounds
        .iter()
        .map(|b| (b.parse::<f64>().unwrap() * 1e9).round() as u64)
        .collect();
    assert!(!ns.is_empty(), "no bounds but +Inf");
    let first = ns[0].trailing_zeros();
    let want: Vec<u64> = (first..first + ns.len() as u32)
        .map(|k| 1u64 << k)
        .collect();
    assert_eq!(ns, want, "le bounds {bounds:?}");
    assert!(
        (11..=33).contains(&first) && first as usize + ns.len() <= 34,
        "{bounds:?}"
    );
    // Build info: version, revision, kernel.
    let uname =
        String::from_utf8(Command::new("uname").arg("-r").output().unwrap().stdout).unwrap();
    assert_eq!(
        value(
            &text,
            "ipctop_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("kernel", uname.trim())
            ]
        ),
        Some(1.0),
        "{}",
        text.lines()
            .find(|l| l.starts_with("ipctop_build_info"))
            .unwrap_or_default()
    );
    assert!(value(&text, "process_resident_memory_bytes", &[]).unwrap() > 1e6);
    assert!(value(&text, "process_open_fds", &[]).unwrap() >= 3.0);

    // gzip when asked for: the same kind of exposition, valid, much smaller.
    let gz = request(port, "GET", "/metrics", &[("Accept-Encoding", "gzip")]).unwrap();
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("Content-Encoding").as_deref(), Some("gzip"));
    assert_eq!(
        gz.header("Content-Length")
            .and_then(|l| l.parse::<usize>().ok()),
        Some(gz.body.len())
    );
    let unzipped = gunzip(&gz.body);
    assert!(unzipped.contains("ipctop_object_calls_total{"));
    assert!(
        gz.body.len() * 3 < unzipped.len(),
        "{} of {}",
        gz.body.len(),
        unzipped.len()
    );
    let (ok, out) = promtool(&["check", "metrics"], Some(&unzipped));
    assert!(ok, "promtool check metrics (gzip): {out}");

    // OpenMetrics when asked for, with the same samples.
    let (status, head, om) = http(
        port,
        "GET",
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(
        head.contains("application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(om.ends_with("# EOF\n"));
    assert!(om.contains("# TYPE ipctop_object_calls counter"));
    // Only GET/HEAD of /metrics and /.
    assert_eq!(http(port, "POST", "/metrics", None).unwrap().0, 405);
    assert_eq!(http(port, "GET", "/nothing", None).unwrap().0, 404);
    let (status, _, landing) = http(port, "GET", "/", None).unwrap();
    assert_eq!(status, 200);
    assert!(landing.contains("/metrics"));

    // A real Prometheus scraping it every second (OpenMetrics, gzip), loopback only.
    let dir = TempDir::new("prometheus");
    let (prom, prom_port) = prometheus(&dir, std::slice::from_ref(&listen), "");
    let q_calls = format!(
        "sum(ipctop_object_calls_total{{kind=\"sem\",id=\"{b}\",syscall=~\"semop|semtimedop\"}})"
    );
    eventually("Prometheus to have scraped the loop's calls", T, || {
        (query(prom_port, &q_calls)? == BURST as f64).then_some(())
    });
    eventually("Prometheus to see the deadlock", T, || {
        let q = format!("ipctop_object_deadlocked{{kind=\"sem\",id=\"{d0}\"}}");
        (query(prom_port, &q)? == 1.0 && query(prom_port, "max(ipctop_deadlocks)")? >= 1.0)
            .then_some(())
    });
    assert_eq!(query(prom_port, "up{job=\"ipctop\"}"), Some(1.0));
    // The dashboard: each of its queries runs in this Prometheus, and every metric it names
    // is in this exposition.
    for (what, q) in dashboard_queries() {
        let q = q
            .replace("$__rate_interval", "1m")
            .replace("$ipc_ns", ".*")
            .replace("$instance", ".*")
            .replace("$container", ".*");
        let q = q
            .strip_prefix("label_values(")
            .map(|r| r.rsplit_once(',').map_or(r, |(sel, _)| sel).to_string())
            .unwrap_or(q);
        assert!(
            query_all(prom_port, &q).is_some(),
            "{what}: Prometheus refused {q}: {:?}",
            query_error(prom_port, &q)
        );
        for n in mentioned(&q) {
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&format!("{n}{{")) || l.starts_with(&format!("{n} "))),
                "{what} queries {n}, which is not in the exposition"
            );
        }
    }
    eventually(
        "the dashboard's per-namespace panels to have data",
        T,
        || {
            let q = "sum by (instance, ipc_ns, kind) (ipctop_blocked_threads) * on (instance, ipc_ns) group_left (container) ipctop_namespace_info";
            let r = query_all(prom_port, q)?;
            r.iter()
                .any(|s| s["metric"]["container"].as_str() == Some("host"))
                .then_some(())
        },
    );
    // The histogram works in PromQL.
    let q = format!("histogram_quantile(0.5, ipctop_object_wait_seconds_bucket{{id=\"{b}\"}})");
    assert!(query(prom_port, &q).is_some_and(|v| v > 0.0 && v < 8.4));
    drop(prom);
    let (waited, r) = slow.join().unwrap();
    assert!(
        r.is_ok(),
        "the slow client was not cut off: {r:?} after {waited:?}"
    );
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(30),
        "the slow client was cut off after {waited:?} (header timeout 10 s)"
    );
    drop((deadlock, orphan, blocked, queue, serve));
}

#[test]
fn without_the_probe_serve_exports_what_snapshots_know_and_says_so() {
    // --no-probe needs no root: this runs everywhere.
    let port = free_port();
    let serve = Proc::spawn(Command::new(IPCTOP).args([
        "serve",
        "--no-probe",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--interval",
        "0.5",
    ]));
    let started = serve.wait_stderr("ipctop: serving", T);
    assert!(
        started.last().unwrap().contains("snapshots of /proc only"),
        "{started:?}"
    );
    let text = eventually("an exposition", T, || {
        let (status, _, body) = http(port, "GET", "/metrics", None)?;
        (status == 200 && body.contains("ipctop_objects{")).then_some(body)
    });
    assert_eq!(value(&text, "ipctop_probe_attached", &[]), Some(0.0));
    // No counts it cannot know.
    assert!(!text.contains("ipctop_calls_total") && !text.contains("ipctop_object_calls_total"));
    assert!(value(&text, "ipctop_deadlocks", &[]).is_some());
    if have("promtool") {
        let (ok, out) = promtool(&["check", "metrics"], Some(&text));
        assert!(ok, "promtool check metrics: {out}");
    }
    // SIGTERM: a clean stop.
    let mut serve = serve;
    serve.signal(libc::SIGTERM);
    assert_eq!(serve.wait(T), Some(0));
}

/// The names a text mentions that look like our metrics.
fn mentioned(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for prefix in ["ipctop_", "process_"] {
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            // A name, not the end of another word.
            let whole =
                i == 0 || !rest[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            if whole {
                out.insert(tail[..end].to_string());
            }
            rest = &tail[end..];
        }
    }
    out
}

/// Every name a scrape can hold (histograms' `_bucket`, `_sum`, `_count`).
fn exposed() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in SPECS {
        out.insert(s.name.to_string());
        if s.ty == Type::Histogram {
            for suffix in ["_bucket", "_sum", "_count"] {
                out.insert(format!("{}{suffix}", s.name));
            }
        }
    }
    out
}

/// Every query of the Grafana dashboard (panels and variables): (where, query).
fn dashboard_queries() -> Vec<(String, String)> {
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("assets/grafana/ipctop-dashboard.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let mut out = Vec::new();
    for v in dash["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["query"]["query"].as_str() {
            out.push((format!("variable {}", v["name"]), q.to_string()));
        }
    }
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                format!("panel {}", p["title"]),
                t["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

/// The specs whose series carry `ipc_ns`.
fn per_namespace(name: &str) -> bool {
    let base = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    SPECS
        .iter()
        .any(|s| (s.name == name || s.name == base) && s.labels.contains(&"ipc_ns"))
}

#[test]
fn the_dashboard_chooses_and_keeps_namespaces_apart() {
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("assets/grafana/ipctop-dashboard.json")).unwrap(),
    )
    .unwrap();
    let vars: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    for v in ["instance", "container", "ipc_ns"] {
        assert!(vars.contains(&v), "no ${v} variable: {vars:?}");
    }
    let by = regex_lite_by();
    for (what, q) in dashboard_queries() {
        if what.starts_with("variable") {
            continue;
        }
        let names = mentioned(&q);
        let ns_metrics: Vec<&String> = names
            .iter()
            .filter(|n| per_namespace(n) && n.as_str() != "ipctop_namespace_info")
            .collect();
        if ns_metrics.is_empty() {
            continue;
        }
        // Each per-namespace series chosen by the $ipc_ns variable...
        for n in &ns_metrics {
            for (i, _) in q.match_indices(n.as_str()) {
                let rest = &q[i + n.len()..];
                if rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                    continue; // a longer name
                }
                assert!(
                    rest.starts_with('{')
                        && rest[..rest.find('}').unwrap()].contains("ipc_ns=~\"$ipc_ns\""),
                    "{what}: {n} without ipc_ns=~\"$ipc_ns\": {q}"
                );
            }
        }
        // ...and never summed across namespaces.
        for agg in ["sum", "max", "min", "avg", "count"] {
            for (i, _) in q.match_indices(agg) {
                let before_ok = i == 0
                    || !q.as_bytes()[i - 1].is_ascii_alphanumeric() && q.as_bytes()[i - 1] != b'_';
                let rest = q[i + agg.len()..].trim_start();
                if !before_ok || !(rest.starts_with('(') || rest.starts_with("by")) {
                    continue;
                }
                let labels =
                    by(rest).unwrap_or_else(|| panic!("{what}: {agg} without by (…): {q}"));
                assert!(
                    labels.contains("ipc_ns"),
                    "{what}: {agg} by ({labels}) mixes namespaces: {q}"
                );
            }
        }
    }
}

/// The labels of a `by (…)` at the start of `s` (`None`: no `by`).
fn regex_lite_by() -> impl Fn(&str) -> Option<String> {
    |s: &str| {
        let rest = s.strip_prefix("by")?.trim_start().strip_prefix('(')?;
        Some(rest[..rest.find(')')?].to_string())
    }
}

#[test]
fn readme_help_rules_and_dashboard_name_only_metrics_that_exist() {
    let names = exposed();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let help = ipctop::cmd::serve::METRICS_HELP;
    for s in SPECS {
        assert!(
            readme.contains(&format!("`{}`", s.name)),
            "README lacks {}",
            s.name
        );
        assert!(help.contains(s.name), "--help lacks {}", s.name);
    }
    for f in [
        "assets/prometheus/ipctop-rules.yml",
        "assets/grafana/ipctop-dashboard.json",
    ] {
        let text = std::fs::read_to_string(repo().join(f)).unwrap();
        for n in mentioned(&text) {
            // Rule and dashboard identifiers (uid, group name) are not metrics.
            if n.starts_with("ipctop_rules") || n.starts_with("ipctop_dash") {
                continue;
            }
            assert!(
                names.contains(&n),
                "{f} names {n}, which ipctop does not export"
            );
        }
    }
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("assets/grafana/ipctop-dashboard.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    assert!(dash["panels"].as_array().is_some_and(|p| p.len() >= 6));
}

#[test]
fn alerting_rules_pass_promtool_check_and_their_unit_tests() {
    const NAME: &str = "alerting_rules";
    if !have("promtool") {
        skip(
            NAME,
            "promtool (Debian's prometheus package) is not installed (cargo xtask setup)",
        );
        return;
    }
    let dir = repo().join("assets/prometheus");
    let (ok, out) = promtool(
        &[
            "check",
            "rules",
            dir.join("ipctop-rules.yml").to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "promtool check rules: {out}");
    let (ok, out) = promtool(
        &[
            "test",
            "rules",
            dir.join("ipctop-rules.test.yml").to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "promtool test rules: {out}");
}
