//! Section 3: the highest call rate `ipctop trace --json` follows (every call to userspace),
//! with 1, 2 and 4 workloads at full speed at once, and what it dropped.
use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;

use super::signal;

/// (workloads, calls per second of all of them together, events dropped).
pub type Rate = (usize, f64, u64);

/// [`rate_under_load`] for 1, 2 and 4 workloads.
pub fn measure(ipctop: &Path, wl: &Path, calls: u64) -> Result<Vec<Rate>> {
    [1usize, 2, 4]
        .into_iter()
        .map(|n| {
            let (rate, dropped) = rate_under_load(ipctop, wl, n, calls)?;
            Ok((n, rate, dropped))
        })
        .collect()
}

/// Runs `n` bursts of `calls` at once under `ipctop trace --json` (its lines are read and
/// discarded) and returns the calls per second of all of them together and the events the
/// trace reported dropped.
fn rate_under_load(ipctop: &Path, wl: &Path, n: usize, calls: u64) -> Result<(f64, u64)> {
    let calls_s = calls.to_string();
    let mut trace = Command::new(ipctop)
        .args(["trace", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = trace.stderr.take().unwrap();
    let mut err = BufReader::new(stderr).lines();
    loop {
        match err.next() {
            Some(Ok(l)) if l.contains("ipctop: tracing") => break,
            Some(_) => {}
            None => bail!("ipctop trace did not start"),
        }
    }
    let stdout = trace.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut dropped = None;
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            if l.starts_with("{\"summary\"") {
                let v: serde_json::Value = serde_json::from_str(&l).unwrap_or_default();
                dropped = v["summary"]["dropped"].as_u64();
            }
        }
        dropped
    });
    let t = Instant::now();
    let kids: Vec<Child> = (0..n)
        .map(|_| {
            Command::new(wl)
                .args(["burst", &calls_s])
                .stdout(Stdio::null())
                .spawn()
        })
        .collect::<std::io::Result<_>>()?;
    for mut k in kids {
        k.wait()?;
    }
    let rate = (n as u64 * calls) as f64 / t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    signal(trace.id(), Signal::SIGTERM as i32);
    trace.wait()?;
    let dropped = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader thread"))?
        .context("no summary from ipctop trace")?;
    Ok((rate, dropped))
}
