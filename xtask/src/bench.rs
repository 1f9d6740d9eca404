//! `cargo xtask bench`: what ipctop costs the programs it watches, measured against doing
//! nothing and against what a user would run instead, interleaved in one run so that the
//! machine's noise hits every side alike. Writes bench/RESULTS.md (`report.rs`), keeping its
//! hand-written sections (those whose heading does not start with a number).
//!
//! The sections: `cost.rs` (1–2, per call, interleaved), `rates.rs` (3), `scale.rs` (4, the
//! monitor crate's `cargo bench` benchmarks), at rest here (5), `probe.rs` (6–8), `compat.rs`
//! (9), `serve.rs` (10, the exporter).
use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{bail, Context, Result};

mod compat;
mod cost;
mod monitors;
mod probe;
mod rates;
mod report;
mod scale;
mod serve;

// What probe.rs takes from here.
use monitors::{Monitor, Running, TRACEFS};

#[derive(clap::Args)]
pub struct Args {
    /// Rounds of the interleaved comparisons (the median is reported).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// semop acquire/release pairs per run of the IPC-heavy loop.
    #[arg(long, default_value_t = 1_000_000)]
    pairs: u64,
    /// getppid calls per run of the non-IPC loop.
    #[arg(long, default_value_t = 3_000_000)]
    getppid: u64,
    /// Seconds of the idle-CPU measurement.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// Rounds of the bpf_stats and exit-latency measurements (medians).
    #[arg(long, default_value_t = 3)]
    probe_rounds: usize,
    /// Semaphore sets (of 250 semaphores each) nobody touches, for the idle-load measurement.
    #[arg(long, default_value_t = 100)]
    idle_sets: u32,
    /// Only measure the 32-bit path (section 9) and put it into the results file.
    #[arg(long)]
    compat_only: bool,
    /// Only measure the exporter (section 10) and put it into the results file.
    #[arg(long)]
    serve_only: bool,
    /// Only measure frames, the snapshot, the POSIX look and namespaces at 10,000 objects and
    /// 1,000 processes (section 4) and put them into the results file.
    #[arg(long)]
    scale_only: bool,
    /// Where to write the results.
    #[arg(long, default_value = "bench/RESULTS.md")]
    out: PathBuf,
}

/// The CPU's model name (/proc/cpuinfo): what a figure was measured on.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|s| s.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "an unknown CPU".into())
}

/// Now, as the figures are dated.
pub fn utc_now() -> String {
    output_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
}

/// Sends signal number `sig` to `pid` (a process we started); gone already is no error.
pub fn signal(pid: u32, sig: i32) {
    if let Ok(sig) = nix::sys::signal::Signal::try_from(sig) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
    }
}

/// Runs the workload and returns its ns per call.
fn workload(bin: &Path, args: &[&str]) -> Result<f64> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .context("running ipctop-workload")?;
    if !out.status.success() {
        bail!(
            "ipctop-workload {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    v["ns_per_call"].as_f64().context("ns_per_call")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// CPU seconds (user + system) a process has used.
fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = procfs::process::Process::new(pid as i32)?.stat()?;
    Ok((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
}

/// A process's peak resident set size (VmHWM), KiB.
fn peak_rss_kib(pid: u32) -> Result<u64> {
    procfs::process::Process::new(pid as i32)?
        .status()?
        .vmhwm
        .context("VmHWM")
}

/// The standard output of `cmd args`, trimmed ("" if it cannot run).
fn output_of(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The parts of an earlier RESULTS.md that people wrote by hand: every `## ` section whose
/// heading does not start with a section number (the numbered ones are measured and written
/// anew, wherever an earlier run put them).
fn hand_written(earlier: &str) -> String {
    let mut kept = String::new();
    let mut keeping = false;
    for line in earlier.split_inclusive('\n') {
        if let Some(h) = line.strip_prefix("## ") {
            keeping = !h.starts_with(|c: char| c.is_ascii_digit());
        }
        if keeping {
            kept.push_str(line);
        }
    }
    kept
}

pub fn run(args: Args) -> Result<()> {
    crate::setup::setup(false)?;
    crate::cargo(&["build", "--release", "--bins"], &[])?;
    // The monitor crate's benchmarks (section 4) too, so that no build runs between sections.
    crate::cargo(&["bench", "-p", "monitor", "--no-run"], &[])?;
    let root = crate::workspace_root();
    let ipctop = root.join("target/release/ipctop");
    let wl = root.join("target/release/ipctop-workload");
    let mons = monitors::monitors();
    let calls = (2 * args.pairs).to_string();
    let getppid = args.getppid.to_string();
    let compat = || {
        compat::measure(
            &mons[monitors::RECORD],
            &ipctop,
            &wl,
            &calls,
            &getppid,
            args.rounds,
        )
    };
    if args.serve_only {
        let mut md = String::new();
        serve::write(&mut md, &serve::measure()?)?;
        print!("{md}");
        return serve::splice(&root.join(&args.out), 10, &md);
    }
    if args.scale_only {
        let mut md = String::new();
        report::scale(&mut md, &scale::measure()?)?;
        writeln!(
            md,
            "\n(This section alone: `cargo xtask bench --scale-only`, {}, {}.)",
            utc_now(),
            cpu_model()
        )?;
        print!("{md}");
        return serve::splice(&root.join(&args.out), 4, &md);
    }
    if args.compat_only {
        let mut md = String::new();
        compat::write(&mut md, &compat()?)?;
        print!("{md}");
        return compat::splice(&root.join(&args.out), &md);
    }

    let cost = cost::measure(&mons, &ipctop, &wl, args.rounds, &calls, &getppid)?;
    let rates = rates::measure(&ipctop, &wl, 2 * args.pairs)?;
    let scale = scale::measure()?;

    // 5: idle CPU and peak RSS of `ipctop record` and of the dashboard.
    let mut at_rest = Vec::new();
    for m in [&mons[monitors::RECORD], &mons[monitors::DASHBOARD]] {
        let mon = Running::start(m, &ipctop)?;
        let pid = mon.pid();
        let c0 = cpu_secs(pid)?;
        std::thread::sleep(Duration::from_secs(args.idle_secs));
        let cpu = (cpu_secs(pid)? - c0) / args.idle_secs as f64 * 100.0;
        let rss = peak_rss_kib(pid)?;
        mon.stop();
        at_rest.push((m.name, cpu, rss));
    }

    // 6–8: the probe's own figures.
    let progs = probe::bpf_stats(
        &[
            &mons[monitors::RECORD_RAW],
            &mons[monitors::RECORD],
            &mons[monitors::RECORD_EVERY_CALL],
            &mons[monitors::COUNT_ONE_LINER],
            &mons[monitors::TWO_PROGRAM_FLOOR],
        ],
        &ipctop,
        &wl,
        &calls,
        args.probe_rounds,
    )?;
    let exits = probe::exit_latency(&ipctop, args.probe_rounds)?;
    let idle_sems = probe::idle_semaphores(&ipctop, args.idle_sets, 250, args.idle_secs)?;
    let compat_cost = compat()?;
    // What the `record` monitors wrote (each run overwrote the last).
    let _ = std::fs::remove_file(monitors::RECORDING);

    let results = report::Results {
        date: utc_now(),
        kernel: output_of("uname", &["-r"]),
        cpu: cpu_model(),
        cost,
        rates,
        scale,
        at_rest,
        progs,
        exits,
        idle_sems,
    };
    let serve = serve::measure()?;
    let mut md = report::markdown(&args, &results)?;
    compat::write(&mut md, &compat_cost)?;
    serve::write(&mut md, &serve)?;
    let out = root.join(&args.out);
    let earlier = std::fs::read_to_string(&out).unwrap_or_default();
    let kept = hand_written(&earlier);
    if !kept.is_empty() {
        md.push('\n');
        md.push_str(&kept);
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &md)?;
    print!("{md}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::hand_written;

    #[test]
    fn the_hand_written_sections_are_kept_and_the_measured_ones_are_not() {
        let md = "# ipctop benchmarks\n\n## 1–2. What a call costs\n\n| a |\n\n\
                  ## 8. Idle\n\nx\n\n## Notes (by hand)\n\n- one\n\n## Recording size\n\ny\n";
        assert_eq!(
            hand_written(md),
            "## Notes (by hand)\n\n- one\n\n## Recording size\n\ny\n"
        );
        assert_eq!(hand_written("# t\n\n## 3. Rates\n\nz\n"), "");
        // A measured section after a hand-written one (an earlier run's) is not kept.
        assert_eq!(
            hand_written("## Notes\n\n- a\n\n## 9. Compat\n\nold\n\n## Size\n\nb\n"),
            "## Notes\n\n- a\n\n## Size\n\nb\n"
        );
        assert_eq!(hand_written(""), "");
    }
}
