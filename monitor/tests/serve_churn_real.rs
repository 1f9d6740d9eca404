//! `ipctop serve` beside churn (root: loads the probe): short-lived processes, each in an IPC
//! namespace of its own, beside a steady one (`ipctop-workload churn`), all under one comm.
//! While they come and go, every `ipctop_comm_calls_total` series of that comm only grows
//! and none disappears; once they are gone, the series summed are exactly the workload's
//! calls (its children's and the steady process's), and `ipctop_probe_lost_calls_total` says
//! 0. With a kernel table of 64 entries (far fewer than the run's keys) the rows it has no
//! room for come whole through the ring buffer: the counts stay exact, or what is missing
//! is exactly what the lost counter says.
mod serve_support;
mod support;

use std::{
    collections::BTreeMap,
    process::Command,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::Value;
use serve_support::*;
use support::*;

const T: Duration = Duration::from_secs(30);
/// The steady process's calls a second.
const STEADY: f64 = 500.0;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

/// A plain scrape's text.
fn scrape(port: u16) -> Option<String> {
    let (status, _, body) = http(port, "GET", "/metrics", None)?;
    (status == 200).then_some(body)
}

/// Every `ipctop_comm_calls_total` series of `comm`: its label set → value.
fn comm_series(text: &str, comm: &str) -> BTreeMap<String, f64> {
    let want = format!("comm=\"{comm}\"");
    text.lines()
        .filter_map(|l| l.strip_prefix("ipctop_comm_calls_total{"))
        .filter_map(|r| r.split_once("} "))
        .filter(|(labels, _)| labels.split(',').any(|p| p == want))
        .map(|(labels, v)| (labels.to_string(), v.trim().parse().unwrap()))
        .collect()
}

fn one(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?}"))
}

/// What serve said once the churn had ended.
struct Seen {
    /// Calls of the comm, every namespace and syscall summed.
    calls: u64,
    lost_calls: u64,
    aggregates_full: u64,
    /// Namespaces the comm's series were in.
    namespaces: usize,
    /// Scrapes during the churn (each checked against the one before).
    scrapes: usize,
}

/// Runs the churn (in an IPC namespace of the test's own) beside a real `ipctop serve
/// --table-entries TABLE` that follows only its comm; returns the workload's line and what
/// serve said once every call of it had been sampled.
fn serve_beside_churn(table: u32, rate: f64, secs: f64) -> (Value, Seen) {
    let name = unique_name("schurn");
    let serve = Proc::spawn(Command::new(IPCTOP).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "0.5",
        "--table-entries",
        &table.to_string(),
        "--comm",
        &name,
        // Each child's namespace is a series of the comm: none of them summed into "other".
        "--max-comms",
        "100000",
    ]));
    let started = serve.wait_stderr("ipctop: serving", T);
    let line = started.last().unwrap();
    assert!(line.contains("probe attached"), "{started:?}");
    let port = served_port(line);
    eventually("a first exposition with the probe's counts", T, || {
        scrape(port).filter(|t| t.contains("ipctop_kernel_sample_timestamp_seconds "))
    });

    // The churn, in the background, while its series are scraped.
    let script = format!(
        "exec unshare --ipc {WORKLOAD} --name {name} churn --own-ns --rate {rate} --secs {secs} \
         --steady-rate {STEADY}"
    );
    let churn = std::thread::spawn(move || {
        let out = Command::new("sh").args(["-c", &script]).output().unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_lines(&String::from_utf8_lossy(&out.stdout))
            .into_iter()
            .find(|v| v.get("children").is_some())
            .unwrap_or_else(|| panic!("no result line from the churn"))
    });
    let mut last: BTreeMap<String, f64> = BTreeMap::new();
    let mut scrapes = 0;
    let mut check = |text: &str| {
        let now = comm_series(text, &name);
        for (labels, before) in &last {
            let after = now
                .get(labels)
                .unwrap_or_else(|| panic!("the series {{{labels}}} disappeared (it had {before})"));
            assert!(
                after >= before,
                "{{{labels}}} went back: {before} -> {after}"
            );
        }
        last = now;
        scrapes += 1;
    };
    let deadline = Instant::now() + Duration::from_secs_f64(secs) + T;
    while !churn.is_finished() {
        assert!(Instant::now() < deadline, "the churn never ended");
        if let Some(t) = scrape(port) {
            check(&t);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let w = churn.join().unwrap();
    assert_eq!(w["failed_children"], 0, "{w}");
    let ended = unix_now();

    // Every call is in a kernel sample read after the churn ended (its processes' exits
    // flush their slots; the next samples retire and hand over their rows).
    let settled = |after: f64| {
        eventually("kernel samples after the churn ended", T, || {
            scrape(port).filter(|t| {
                value(t, "ipctop_kernel_sample_timestamp_seconds", &[]).is_some_and(|at| at > after)
            })
        })
    };
    let text = settled(ended + 1.5);
    check(&text);
    // Two seconds on: the same figures (nothing was still on its way).
    let later = settled(ended + 3.5);
    check(&later);
    let sum = |t: &str| comm_series(t, &name).values().sum::<f64>() as u64;
    assert_eq!(sum(&text), sum(&later), "the counts were still moving");
    let seen = Seen {
        calls: sum(&later),
        lost_calls: one(&later, "ipctop_probe_lost_calls_total", &[]) as u64,
        aggregates_full: one(
            &later,
            "ipctop_probe_table_full_total",
            &[("table", "aggregates")],
        ) as u64,
        namespaces: comm_series(&later, &name)
            .keys()
            .filter_map(|l| l.split(',').find(|p| p.starts_with("ipc_ns=")))
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        scrapes,
    };
    assert_eq!(
        one(
            &later,
            "ipctop_probe_table_capacity",
            &[("table", "aggregates")]
        ) as u32,
        table,
        "--table-entries"
    );
    drop(serve);
    (w, seen)
}

#[test]
fn per_command_counters_are_exact_and_never_go_back_through_churn() {
    if !can_trace("serve_churn_real") {
        return;
    }
    let (w, seen) = serve_beside_churn(2048, 250.0, 8.0);
    let children = u(&w, "children");
    let made = u(&w, "child_calls") + u(&w, "steady_calls");
    eprintln!(
        "serve_churn_real 2048: {children} children, {made} calls, {} counted in {} namespaces, \
         {} lost, aggregates table full {} times, {} scrapes during the churn",
        seen.calls, seen.namespaces, seen.lost_calls, seen.aggregates_full, seen.scrapes
    );
    assert!(children >= 500, "only {children} children: {w}");
    assert!(
        seen.scrapes >= 10,
        "only {} scrapes during the churn",
        seen.scrapes
    );
    assert!(
        seen.namespaces >= 2,
        "the children's namespaces: {}",
        seen.namespaces
    );
    assert_eq!(seen.lost_calls, 0, "calls lost with a table of 2048");
    assert_eq!(
        seen.calls, made,
        "ipctop_comm_calls_total of the churn's comm"
    );
}

#[test]
fn a_table_of_64_spills_and_the_counts_stay_exact_or_say_what_they_miss() {
    if !can_trace("serve_churn_real") {
        return;
    }
    let (w, seen) = serve_beside_churn(64, 250.0, 4.0);
    let made = u(&w, "child_calls") + u(&w, "steady_calls");
    eprintln!(
        "serve_churn_real 64: {} children, {made} calls, {} counted, {} lost, aggregates table \
         full {} times",
        u(&w, "children"),
        seen.calls,
        seen.lost_calls,
        seen.aggregates_full
    );
    // The table was full: rows went whole through the ring buffer.
    assert!(
        seen.aggregates_full > 0,
        "a table of 64 was never full with {} children",
        u(&w, "children")
    );
    assert_eq!(
        seen.calls + seen.lost_calls,
        made,
        "counted {} + lost {} against the workload's {made}",
        seen.calls,
        seen.lost_calls
    );
}
