//! `ipctop serve` for real: the eBPF probe, known workloads, the scraped exposition checked
//! against what the workloads did and by `promtool check metrics`, then a real Prometheus
//! server (Debian's) scraping it and answering queries. Also: the alerting rules' promtool
//! unit tests, and the README, `--help`, rules and dashboard naming only metrics that exist.
//!
//! Needs root and Debian's `prometheus` package (CI installs it: `cargo xtask setup`);
//! skipped with the reason otherwise, failing instead where IPCTOP_REQUIRE_ROOT=1.
mod support;

use std::{
    collections::BTreeSet,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use ipctop::export::families::{Type, SPECS};
use serde_json::Value;
use support::*;

const T: Duration = Duration::from_secs(30);
const BURST: u64 = 2000;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 GET (or another method): (status, headers, body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    accept: Option<&str>,
) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{accept}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head.to_string(), body.to_string()))
}

/// The value of the sample `name{…}` whose labels include all of `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let (labelset, v) = match rest.strip_prefix('{') {
            Some(r) => r.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        labels
            .iter()
            .all(|(k, v)| labelset.split(',').any(|p| p == format!("{k}=\"{v}\"")))
            .then(|| v.trim().parse().ok())?
    })
}

/// Polls `f` until it gives `Some`, for at most `timeout`.
fn eventually<R>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<R>) -> R {
    let end = Instant::now() + timeout;
    loop {
        if let Some(r) = f() {
            return r;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("ipctop-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `promtool ARGS` with `stdin`; (success, output).
fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut c = Command::new("promtool")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    let mut input = c.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let o = c.wait_with_output().unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), out)
}

fn encode_query(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of a PromQL instant query's first result (None: no result yet).
fn query(port: u16, q: &str) -> Option<f64> {
    let (status, _, body) = http(
        port,
        "GET",
        &format!("/api/v1/query?query={}", encode_query(q)),
        None,
    )?;
    if status != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

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
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let serve =
        Proc::spawn(Command::new(IPCTOP).args(["serve", "--listen", &listen, "--interval", "0.5"]));
    let started = serve.wait_stderr("ipctop: serving", T);
    assert!(
        started.last().unwrap().contains("probe attached"),
        "{started:?}"
    );

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
            .is_some();
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

    // A real Prometheus scraping it every second, loopback only.
    let dir = TempDir::new("prometheus");
    let prom_port = free_port();
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
             - job_name: ipctop\n    static_configs:\n      - targets: ['{listen}']\n"
        ),
    )
    .unwrap();
    let prom = Proc::spawn(Command::new("prometheus").args([
        &format!("--config.file={}", config.display()),
        &format!("--storage.tsdb.path={}", dir.0.join("data").display()),
        &format!("--web.listen-address=127.0.0.1:{prom_port}"),
    ]));
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
    drop((deadlock, orphan, blocked, serve));
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
    let mut rest = text;
    while let Some(i) = rest.find("ipctop_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
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
