//! ipctop's judgements against real situations (root: the real probe, real processes, each
//! situation in a private IPC namespace): the scenario battery (`support/battery/`, also
//! `cargo xtask battery`). Each test is one scenario — its must-fire and must-not-fire sides
//! on every surface at once (`snapshot`, `serve`, `record` + `report` and its `--fail-on`
//! gates, the dashboard in tmux), the checks beyond the kinds (holders, wait lengths, trace,
//! context, totals) and the surfaces agreeing where the scenario leaves the verdict open.
//!
//! The scenarios run in the background, a few at once whatever the number of test threads
//! (`IPCTOP_BATTERY_JOBS`, 4 by default), as this run's filters select them; each test waits
//! for its own; `IPCTOP_BATTERY_KEEP=DIR` keeps each run's recording and the surfaces' last
//! outputs there. Needs root and tmux: skipped with the reason otherwise, failing instead where
//! IPCTOP_REQUIRE_ROOT=1.
#[path = "support/battery/mod.rs"]
mod battery;
mod support;

use std::{sync::OnceLock, time::Duration};

use battery::{Background, Config};
use support::{can_trace, tmux::have_tmux, IPCTOP, WORKLOAD};

/// The scenarios this run of the test binary selects: libtest's filters (positional
/// arguments, `--exact`) less its `--skip`s, every scenario when there is no filter.
fn selected() -> Vec<String> {
    let (mut filters, mut skips, mut exact) = (Vec::new(), Vec::new(), false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--exact" => exact = true,
            "--skip" => skips.extend(args.next()),
            "--test-threads" | "--color" | "--format" | "--logfile" | "--shuffle-seed" | "-Z" => {
                args.next();
            }
            _ if a.starts_with('-') => {}
            _ => filters.push(a),
        }
    }
    let hit = |pat: &String, name: &str| {
        if exact {
            pat == name
        } else {
            name.contains(pat.as_str())
        }
    };
    battery::scenarios()
        .iter()
        .map(|s| s.name)
        .filter(|n| filters.is_empty() || filters.iter().any(|f| hit(f, n)))
        .filter(|n| !skips.iter().any(|f| hit(f, n)))
        .map(str::to_string)
        .collect()
}

fn background() -> &'static Background {
    static BG: OnceLock<&'static Background> = OnceLock::new();
    BG.get_or_init(|| Background::start(config(), selected()))
}

/// Verdicts known wrong and not fixed yet, by scenario and the start of the failure's text:
/// said on every run (so nobody mistakes them for passes) but not failed on, so that any other
/// verdict going wrong fails. Each is an open defect in the closing notes; remove it with
/// the fix.
const OPEN_DEFECTS: &[(&str, &str)] = &[];

/// `failures` less the open defects of scenario `name` (each printed).
fn open_defects_aside(name: &str, failures: Vec<String>) -> Vec<String> {
    failures
        .into_iter()
        .filter(|f| {
            let known = OPEN_DEFECTS
                .iter()
                .any(|(n, start)| *n == name && f.starts_with(start));
            if known {
                eprintln!("{name}: OPEN DEFECT (not failed on): {f}");
            }
            !known
        })
        .collect()
}

fn config() -> Config {
    let jobs = std::env::var("IPCTOP_BATTERY_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(4);
    Config {
        ipctop: IPCTOP.into(),
        workload: WORKLOAD.into(),
        jobs,
        verbose: true,
        keep: std::env::var_os("IPCTOP_BATTERY_KEEP").map(Into::into),
    }
}

/// Scenario `name`'s run: every false positive, false negative and failed check fails it.
fn judged(name: &str) {
    if !can_trace(name) || !have_tmux(name) {
        return;
    }
    let o = background()
        .outcome(name, Duration::from_secs(900))
        .unwrap_or_else(|| panic!("{name}: no outcome within 15 minutes"));
    let table = battery::render::render_one(&o);
    println!("{table}");
    let failures = open_defects_aside(name, o.failures());
    if failures.is_empty() {
        return;
    }
    // A second run, alone: a verdict that does not hold twice is the product's race, said here
    // and counted by `cargo xtask battery` (which runs each scenario once); two in a row fail.
    eprintln!(
        "{name}: first run fell short, running it again alone:\n  {}",
        failures.join("\n  ")
    );
    let sc = battery::scenarios()
        .iter()
        .find(|s| s.name == name)
        .expect("a scenario of the table");
    let again = battery::session::run_one(&config(), sc);
    let table = battery::render::render_one(&again);
    println!("{table}");
    let failures = open_defects_aside(name, again.failures());
    assert!(
        failures.is_empty(),
        "{name} ({}), twice:\n  {}\n{table}",
        again.scenario.about,
        failures.join("\n  ")
    );
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                judged(stringify!($name));
            }
        )*

        #[test]
        fn every_scenario_of_the_battery_is_a_test_here() {
            let here = [$(stringify!($name)),*];
            let table: Vec<&str> = battery::scenarios().iter().map(|s| s.name).collect();
            assert_eq!(here.to_vec(), table);
        }
    };
}

scenarios!(
    worker_pool,
    bounded_buffer,
    counting_pool,
    contended_lock,
    abba,
    cycle3,
    self_deadlock,
    abba_threads,
    sem_mutex,
    stuck,
    early_waiter,
    killed_waiter,
    idle_daemon,
    queue_left,
    near_deadlock_guess,
    neighbour,
    two_namespaces,
);
