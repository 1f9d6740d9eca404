//! The probe's own figures for `cargo xtask bench`: the kernel's bpf_stats time of each
//! program, how long each way out takes, and what a live session costs beside 25,000 idle
//! semaphores (CPU and semctl calls).
use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::{cpu_secs, median, Monitor, Running};

#[path = "../../../monitor/tests/support/bpf.rs"]
mod bpf;
pub(super) use bpf::prog_ids;

/// Turns `kernel.bpf_stats_enabled` on, and off again when dropped (it costs every program).
pub(super) struct StatsOn;

impl StatsOn {
    pub(super) fn new() -> Result<StatsOn> {
        std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1")
            .context("turning kernel.bpf_stats_enabled on")?;
        Ok(StatsOn)
    }
}

impl Drop for StatsOn {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "0");
    }
}

/// (name, run_time_ns, run_cnt) of a program.
pub(super) fn prog_stats(id: u32) -> Option<(String, u64, u64)> {
    let o = Command::new("bpftool")
        .args(["-j", "prog", "show", "id", &id.to_string()])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
    Some((
        v["name"].as_str()?.to_string(),
        v["run_time_ns"].as_u64().unwrap_or(0),
        v["run_cnt"].as_u64().unwrap_or(0),
    ))
}

/// Waits until the kernel has freed every program of `progs` (ipctop ends before its
/// detach does, see `monitor/src/probe/detach.rs`), polling every `poll`; false if some
/// were still loaded at `until`.
pub(super) fn wait_freed(progs: &[u32], until: Instant, poll: Duration) -> bool {
    while progs.iter().any(|&id| prog_stats(id).is_some()) {
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(poll);
    }
    true
}

/// One program's time per run during a burst.
pub struct ProgTime {
    pub monitor: &'static str,
    pub prog: String,
    pub ns_per_run: f64,
    pub runs: u64,
}

/// Each monitor's programs' bpf_stats time per run over `rounds` bursts of `calls` semops
/// (medians), with the monitor started once per round.
pub fn bpf_stats(
    mons: &[&Monitor],
    ipctop: &Path,
    wl: &Path,
    calls: &str,
    rounds: usize,
) -> Result<Vec<ProgTime>> {
    let mut out = Vec::new();
    for m in mons {
        let mut per: Vec<(String, Vec<f64>, u64)> = Vec::new();
        for _ in 0..rounds {
            let mon = Running::start(m, ipctop)?;
            let ids = prog_ids(mon.pid());
            let on = StatsOn::new()?;
            let before: Vec<_> = ids.iter().filter_map(|&i| prog_stats(i)).collect();
            super::workload(wl, &["burst", calls])?;
            let after: Vec<_> = ids.iter().filter_map(|&i| prog_stats(i)).collect();
            drop(on);
            mon.stop();
            for ((name, t0, c0), (_, t1, c1)) in before.iter().zip(after.iter()) {
                // Only the programs the burst ran (semtimedop's enter and exit).
                if c1 - c0 < 1000 {
                    continue;
                }
                let ns = (t1 - t0) as f64 / (c1 - c0) as f64;
                match per.iter_mut().find(|p| p.0 == *name) {
                    Some(p) => {
                        p.1.push(ns);
                        p.2 = c1 - c0;
                    }
                    None => per.push((name.clone(), vec![ns], c1 - c0)),
                }
            }
        }
        for (prog, mut ns, runs) in per {
            out.push(ProgTime {
                monitor: m.name,
                prog,
                ns_per_run: median(&mut ns),
                runs,
            });
        }
    }
    Ok(out)
}

/// One way out: from the signal, the key or the end of `--duration` to the process's end,
/// and to the kernel having freed its programs (the detach that goes on in the background,
/// in the `ipctop-detach` child), in ms (medians).
pub struct ExitTime {
    pub way: &'static str,
    pub exit_ms: f64,
    pub detached_ms: f64,
}

/// How long each way out takes (medians of `rounds`).
pub fn exit_latency(ipctop: &Path, rounds: usize) -> Result<Vec<ExitTime>> {
    let ip = ipctop.display().to_string();
    let ways: [(&'static str, String, Way); 6] = [
        (
            "trace, SIGTERM",
            format!("exec {ip} trace --json"),
            Way::Signal(15),
        ),
        (
            "trace, Ctrl-C (SIGINT)",
            format!("exec {ip} trace --json"),
            Way::Signal(2),
        ),
        (
            "trace --duration 1 (after the second)",
            format!("exec {ip} trace --json --duration 1"),
            Way::Duration(1.0),
        ),
        (
            "record, SIGTERM",
            format!("exec {ip} record -o /tmp/ipctop-bench-exit.ipctop.zst"),
            Way::Signal(15),
        ),
        (
            "dashboard, q",
            format!("exec script -qfec 'stty rows 40 cols 120; exec {ip}' /dev/null"),
            Way::Key,
        ),
        (
            "dashboard, SIGTERM",
            format!("exec script -qfec 'stty rows 40 cols 120; exec {ip}' /dev/null"),
            Way::Signal(15),
        ),
    ];
    let mut out = Vec::new();
    for (name, cmd, way) in ways {
        let (mut exit_ms, mut detached_ms) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let (e, d) = one_exit(&cmd, way)?;
            exit_ms.push(e);
            detached_ms.push(d);
        }
        out.push(ExitTime {
            way: name,
            exit_ms: median(&mut exit_ms),
            detached_ms: median(&mut detached_ms),
        });
    }
    let _ = std::fs::remove_file("/tmp/ipctop-bench-exit.ipctop.zst");
    Ok(out)
}

#[derive(Clone, Copy)]
enum Way {
    Signal(i32),
    Duration(f64),
    Key,
}

fn one_exit(cmd: &str, way: Way) -> Result<(f64, f64)> {
    let mut child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!("{}; {cmd}", super::TRACEFS))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    for r in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut r = r;
            let mut tail = String::new();
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                tail.push_str(&String::from_utf8_lossy(&buf[..n]));
                if ["ipctop: tracing", "ipctop: recording", "Over"]
                    .iter()
                    .any(|m| tail.contains(m))
                {
                    let _ = tx.send(());
                    tail.clear();
                }
                super::monitors::keep_tail(&mut tail);
            }
        });
    }
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        bail!("{cmd} did not start");
    }
    let ready = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    // The monitor itself (under `script`, its child).
    let pid = Running::monitor_pid(child.id());
    let progs = prog_ids(pid);
    let t = match way {
        Way::Signal(sig) => {
            let t = Instant::now();
            super::signal(pid, sig);
            t
        }
        Way::Key => {
            let t = Instant::now();
            child.stdin.as_mut().unwrap().write_all(b"q")?;
            t
        }
        Way::Duration(d) => ready + Duration::from_secs_f64(d),
    };
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{cmd} did not end");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let exit_ms = t.elapsed().as_secs_f64() * 1000.0;
    if !wait_freed(&progs, end, Duration::from_millis(5)) {
        bail!("{cmd}: its programs were still loaded 30 s after the end");
    }
    Ok((exit_ms, t.elapsed().as_secs_f64() * 1000.0))
}

/// A live session (`ipctop record`, which runs what the dashboard runs) in an IPC namespace
/// with `sets` sets of `nsems` semaphores nobody touches: its CPU over `secs` (after a warm-up)
/// and its semctl calls per second (strace -c over 10 s). Also the semctl calls of one full
/// snapshot (`ipctop snapshot`), what every live snapshot cost before only changed sets
/// were read.
pub struct Idle {
    pub cpu_pct: f64,
    pub semctl_per_s: f64,
    pub full_snapshot_semctl: u64,
}

fn semctl_count(strace_out: &str) -> u64 {
    strace_out
        .lines()
        .find(|l| l.trim_end().ends_with("semctl"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub fn idle_semaphores(ipctop: &Path, sets: u32, nsems: u32, secs: u64) -> Result<Idle> {
    let ip = ipctop.display().to_string();
    let make = format!("for i in $(seq {sets}); do ipcmk -S {nsems} >/dev/null || exit 1; done");
    let full = Command::new("unshare")
        .args(["--ipc", "sh", "-c"])
        .arg(format!(
            "{make}; strace -f -c -e trace=semctl -o /tmp/ipctop-bench-snap.txt {ip} snapshot --json >/dev/null"
        ))
        .status()?;
    anyhow::ensure!(full.success(), "the full snapshot failed");
    let full_snapshot_semctl =
        semctl_count(&std::fs::read_to_string("/tmp/ipctop-bench-snap.txt").unwrap_or_default());
    let mut rec = Command::new("unshare")
        .args(["--ipc", "sh", "-c"])
        .arg(format!(
            "{make}; exec {ip} record -o /tmp/ipctop-bench-idle.ipctop.zst"
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut err = BufReader::new(rec.stderr.take().unwrap()).lines();
    let started = loop {
        match err.next() {
            Some(Ok(l)) if l.contains("ipctop: recording") => break true,
            Some(_) => {}
            None => break false,
        }
    };
    std::thread::spawn(move || err.for_each(drop));
    let result = (|| -> Result<Idle> {
        anyhow::ensure!(started, "ipctop record did not start");
        let pid = rec.id();
        // Warm-up: the first looks read every set.
        std::thread::sleep(Duration::from_secs(3));
        let c0 = cpu_secs(pid)?;
        std::thread::sleep(Duration::from_secs(secs));
        let cpu_pct = (cpu_secs(pid)? - c0) / secs as f64 * 100.0;
        let mut st = Command::new("strace")
            .args([
                "-f",
                "-c",
                "-e",
                "trace=semctl",
                "-o",
                "/tmp/ipctop-bench-idle.txt",
                "-p",
            ])
            .arg(pid.to_string())
            .stderr(Stdio::null())
            .spawn()?;
        std::thread::sleep(Duration::from_secs(10));
        // strace prints its table on SIGINT.
        super::signal(st.id(), 2);
        st.wait()?;
        let n = semctl_count(&std::fs::read_to_string("/tmp/ipctop-bench-idle.txt")?);
        Ok(Idle {
            cpu_pct,
            semctl_per_s: n as f64 / 10.0,
            full_snapshot_semctl,
        })
    })();
    super::signal(rec.id(), 15);
    let _ = rec.wait();
    for f in [
        "/tmp/ipctop-bench-idle.ipctop.zst",
        "/tmp/ipctop-bench-idle.txt",
        "/tmp/ipctop-bench-snap.txt",
    ] {
        let _ = std::fs::remove_file(f);
    }
    result
}
