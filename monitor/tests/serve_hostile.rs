//! `ipctop serve` against another local user holding connections: 200 that never send a
//! request and 64 that ask for the (largest, plain) exposition again and again and never
//! read it, reconnecting whenever one is closed. Meanwhile every scrape must succeed, and
//! once they are gone serve's memory must come back down. The hostile client is a small
//! Python program run as nobody (uid 65534); serve exports 10,000 objects
//! (`ipctop-workload many` in a private IPC namespace) so that each exposition is large.
//!
//! Prints what it measured (`cargo test … -- --nocapture`): scrape times, serve's RSS
//! before, at most during, and after.
mod serve_support;
mod support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use serve_support::*;
use support::*;

const T: Duration = Duration::from_secs(60);

/// Holds IDLE connections that send nothing and NOREAD that send requests and never read,
/// reconnecting what is closed, for SECS seconds; then prints what it saw.
const HOSTILE: &str = include_str!("serve_support/hostile.py");

#[test]
fn scrapes_succeed_while_another_user_holds_hundreds_of_connections_and_memory_comes_back() {
    const NAME: &str = "serve_hostile";
    if !can_trace(NAME) {
        return;
    }
    // The system's Python (one in root's home would not run as nobody).
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let (Some(python), true) = (python, have("setpriv")) else {
        skip(NAME, "/usr/bin/python3 and setpriv (util-linux) are needed");
        return;
    };
    // 10,000 objects in a private namespace (gone with its processes).
    let mut many =
        Proc::spawn(Command::new(WORKLOAD).args(["many", "--objects", "10000", "--procs", "100"]));
    let made = many.json(Duration::from_secs(300));
    assert_eq!(made["procs"], 100, "{made}");
    let serve = Proc::spawn(Command::new(IPCTOP).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "1",
        "--max-objects",
        "10000",
        "--no-probe",
    ]));
    let port = served_port(serve.wait_stderr("ipctop: serving", T).last().unwrap());
    let objects = |t: &str| values(t, "ipctop_objects", &[]).iter().sum::<f64>();
    eventually("the 10,000 objects in the exposition", T, || {
        let a = request(port, "GET", "/metrics", &[])?;
        (a.status == 200 && objects(&a.text()) >= 10_000.0).then_some(())
    });
    // Warm: a few scrapes of both kinds, then the baseline.
    let scrape = |gzip: bool| -> (Duration, Option<Answer>) {
        let t = Instant::now();
        let h: &[(&str, &str)] = if gzip {
            &[("Accept-Encoding", "gzip")]
        } else {
            &[]
        };
        let a = request(port, "GET", "/metrics", h);
        (t.elapsed(), a)
    };
    for i in 0..6 {
        scrape(i % 2 == 0);
        std::thread::sleep(Duration::from_millis(500));
    }
    let before = rss_kib(serve.pid());

    let hostile = Proc::spawn(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                python,
                "-c",
            ])
            .arg(HOSTILE)
            .args([&port.to_string(), "200", "64", "40"]),
    );
    std::thread::sleep(Duration::from_secs(3));
    let mut hostile = hostile;
    assert!(
        hostile.child.try_wait().unwrap().is_none(),
        "the hostile client did not start: {:?}",
        hostile.err_lines.try_iter().collect::<Vec<_>>()
    );
    let mut times = Vec::new();
    let mut peak = before;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        for gzip in [true, false] {
            let (d, a) = scrape(gzip);
            let a =
                a.unwrap_or_else(|| panic!("a scrape failed after {d:?} ({:?} in)", t0.elapsed()));
            assert_eq!(a.status, 200);
            let text = if gzip { gunzip(&a.body) } else { a.text() };
            assert!(objects(&text) >= 10_000.0, "a whole exposition");
            times.push(d);
        }
        peak = peak.max(rss_kib(serve.pid()));
        std::thread::sleep(Duration::from_millis(500));
    }
    let during = request(port, "GET", "/metrics", &[]).unwrap().text();
    let out = hostile
        .line(Duration::from_secs(30))
        .expect("the hostile client's count");
    assert_eq!(hostile.wait(T), Some(0));
    let connects: u64 = out.split_whitespace().next().unwrap().parse().unwrap();
    assert!(connects >= 264, "it held its connections: {out}");
    // The hostile user's own connections were the ones closed, and serve held few.
    let closed = |r: &str| {
        value(
            &during,
            "ipctop_http_connections_closed_total",
            &[("reason", r)],
        )
    };
    assert!(closed("peer_limit").unwrap() > 0.0, "peer_limit closes");
    assert!(value(&during, "ipctop_http_connections", &[]).unwrap() <= 12.0);

    // Once they are gone, memory comes back down.
    let after = eventually("serve's memory to come back", T, || {
        scrape(true);
        let r = rss_kib(serve.pid());
        (r <= before + before / 4 + 10 * 1024).then_some(r)
    });
    times.sort();
    eprintln!(
        "serve_hostile: {} scrapes during, median {:?}, max {:?}; RSS before {} MiB, at most {} MiB during, {} MiB after; the hostile client connected {} times",
        times.len(),
        times[times.len() / 2],
        times.last().unwrap(),
        before / 1024,
        peak / 1024,
        after / 1024,
        connects
    );
    many.release();
    assert_eq!(many.wait(T), Some(0));
}
