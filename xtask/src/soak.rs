//! `cargo xtask soak` (root): ipctop left running on a busy host. Short-lived processes, each
//! in an IPC namespace of its own, make and remove a set (`ipctop-workload churn`) beside a
//! steady process, for `--minutes`; meanwhile `ipctop record -- <the churn>`, `ipctop serve`
//! (scraped as Prometheus would) and the dashboard (in tmux, 80x24) run. Every 30 s each one's
//! resident memory and CPU are read from /proc. At the end: the report's and the exporter's
//! counts against what the workload says it made (exact, or the loss counted), and each
//! monitor's memory at the first minute, its peak and at the end. Writes its section
//! ("## Soak…", kept by `cargo xtask bench`) into bench/RESULTS.md.
use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

#[derive(clap::Args)]
pub struct Args {
    /// How long the churn runs.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Short-lived processes started per second (each makes 5 calls in its own namespace).
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Calls per second of the steady process beside them.
    #[arg(long, default_value_t = 500)]
    steady_rate: u64,
    /// Where to write the results (the soak's section is replaced, the rest kept).
    #[arg(long, default_value = "bench/RESULTS.md")]
    out: PathBuf,
}

/// One monitor's figures over the run.
#[derive(Default)]
struct Usage {
    /// (seconds since the start, RSS KiB, CPU seconds) every sample.
    samples: Vec<(f64, u64, f64)>,
}

impl Usage {
    fn sample(&mut self, t: f64, pid: u32) {
        let Ok(p) = procfs::process::Process::new(pid as i32) else {
            return;
        };
        let rss = p.status().ok().and_then(|s| s.vmrss).unwrap_or(0);
        let cpu = p
            .stat()
            .map(|s| (s.utime + s.stime) as f64 / procfs::ticks_per_second() as f64)
            .unwrap_or(0.0);
        self.samples.push((t, rss, cpu));
    }

    /// RSS (MiB) at the first sample past a minute, the peak, the last; CPU % of a core over
    /// the run after that first minute.
    fn summary(&self) -> Option<(f64, f64, f64, f64)> {
        let first = self.samples.iter().find(|s| s.0 >= 60.0)?;
        let last = self.samples.last()?;
        let peak = self.samples.iter().map(|s| s.1).max()?;
        let mib = |k: u64| k as f64 / 1024.0;
        let cpu = if last.0 > first.0 {
            (last.2 - first.2) / (last.0 - first.0) * 100.0
        } else {
            0.0
        };
        Some((mib(first.1), mib(peak), mib(last.1), cpu))
    }
}

/// Kills the process group of a child we started (and reaps it) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        crate::bench::signal(self.0.id(), libc_sigterm());
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn libc_sigterm() -> i32 {
    nix::sys::signal::Signal::SIGTERM as i32
}

/// The CPU's model name, with the date: what a figure was measured on.
fn cpu_model() -> String {
    format!("{}, {}", crate::bench::cpu_model(), crate::bench::utc_now())
}

/// A port nothing listens on now.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One scrape of /metrics (plain text): its body.
fn scrape(port: u16) -> Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_string()),
        _ => bail!("scrape: {}", text.lines().next().unwrap_or("no answer")),
    }
}

/// The sum of `family`'s samples whose labels contain `label` (e.g. `comm="x"`).
fn sum_of(body: &str, family: &str, label: &str) -> u64 {
    body.lines()
        .filter(|l| l.starts_with(family) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn tmux(args: &[&str]) -> Result<String> {
    let out = Command::new("tmux").args(args).output().context("tmux")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub fn run(args: Args) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("cargo xtask soak loads the probe: run it as root");
    }
    crate::setup::setup(false)?;
    crate::cargo(&["build", "--release", "--bins"], &[])?;
    let root = crate::workspace_root();
    let bin = root.join("target/release");
    let (ipctop, workload) = (bin.join("ipctop"), bin.join("ipctop-workload"));
    let name = format!("soak{}", std::process::id());
    let secs = args.minutes * 60.0;
    let dir = std::env::temp_dir().join(format!("ipctop-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let rec = dir.join("soak.ipctop");

    // The exporter and the dashboard first, then the recorded churn. The churn's command has
    // a series per namespace (each its own); past `--max-comms` (200 by default) they would be
    // summed into comm="other" with every other command's, and the churn's own count could
    // not be read off: room for all of them (the inodes are reused, a few hundred at most).
    let port = free_port()?;
    let serve = Guard(
        Command::new(&ipctop)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--max-comms", "20000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("ipctop serve")?,
    );
    let session = format!("ipctop-soak-{}", std::process::id());
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "80",
        "-y",
        "24",
        &format!("exec {}", ipctop.display()),
    ])?;
    struct Tmux(String);
    impl Drop for Tmux {
        fn drop(&mut self) {
            let _ = tmux(&["kill-session", "-t", &self.0]);
        }
    }
    let _tmux = Tmux(session.clone());
    let dash: u32 = tmux(&["list-panes", "-t", &session, "-F", "#{pane_pid}"])?
        .parse()
        .context("the dashboard's pid")?;
    std::thread::sleep(Duration::from_secs(3));
    let record = Command::new(&ipctop)
        .args(["record", "--interval", "1", "-o"])
        .arg(&rec)
        .arg("--")
        .arg(&workload)
        .args(["--name", &name, "churn", "--own-ns"])
        .args([
            "--rate",
            &args.rate.to_string(),
            "--secs",
            &secs.to_string(),
        ])
        .args(["--steady-rate", &args.steady_rate.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("ipctop record -- ipctop-workload churn")?;
    let mut record = Guard(record);
    let rec_pid = record.0.id();

    let (mut u_serve, mut u_rec, mut u_dash) =
        (Usage::default(), Usage::default(), Usage::default());
    let (mut scrapes, mut scrape_bytes, mut scrape_fail) = (0u32, 0usize, 0u32);
    let t0 = Instant::now();
    let mut next_sample = 0.0;
    let mut next_scrape = 0.0;
    let status = loop {
        if let Some(st) = record.0.try_wait()? {
            break st;
        }
        let t = t0.elapsed().as_secs_f64();
        if t >= next_scrape {
            match scrape(port) {
                Ok(b) => {
                    scrapes += 1;
                    scrape_bytes = scrape_bytes.max(b.len());
                }
                Err(_) => scrape_fail += 1,
            }
            next_scrape += 15.0;
        }
        if t >= next_sample {
            u_serve.sample(t, serve.0.id());
            u_rec.sample(t, rec_pid);
            u_dash.sample(t, dash);
            next_sample += 30.0;
        }
        if t > secs + 300.0 {
            bail!("the recorded churn did not end within 5 minutes of its time");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !status.success() {
        bail!("ipctop record -- churn: {status}");
    }
    let mut out = String::new();
    if let Some(mut so) = record.0.stdout.take() {
        so.read_to_string(&mut out)?;
    }
    let w: serde_json::Value = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .context("the churn's summary line")?;
    let made = w["child_calls"].as_u64().unwrap_or(0) + w["steady_calls"].as_u64().unwrap_or(0);

    // The exporter after its next exposition (every 15 s by default); the dashboard's last
    // figures stay on screen.
    std::thread::sleep(Duration::from_secs(20));
    let t = t0.elapsed().as_secs_f64();
    u_serve.sample(t, serve.0.id());
    u_dash.sample(t, dash);
    let body = scrape(port).unwrap_or_default();
    let served = sum_of(
        &body,
        "ipctop_comm_calls_total",
        &format!("comm=\"{name}\""),
    );
    let merged = sum_of(&body, "ipctop_export_comms_merged", "");
    let report = Command::new(&ipctop)
        .arg("report")
        .arg(&rec)
        .arg("--json")
        .output()?;
    let r: serde_json::Value =
        serde_json::from_slice(&report.stdout).context("ipctop report --json")?;
    // The judged calls are the recorded command's own; the context's are the machine's,
    // the other monitors' read-only polling (serve's and the dashboard's semctl) included.
    let reported = r["calls"]["calls"].as_u64().unwrap_or(0);
    let machine = r["context"]["calls"]["calls"].as_u64().unwrap_or(0);
    let dropped = r["calls"]["dropped"].as_u64().unwrap_or(0);
    let rec_size = std::fs::metadata(&rec).map(|m| m.len()).unwrap_or(0);
    let exact = !(reported + dropped < made
        || served > made
        || reported > made
        || (merged == 0 && served != made));
    if exact {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!(
            "soak: the recording is kept in {} to look into",
            dir.display()
        );
    }

    let cpu = cpu_model();
    let mut s = format!(
        "## Soak (`cargo xtask soak`: {:.0} min of churn, {} ipctop-workload churn processes \
         a second each in its own IPC namespace, beside a steady process at {}/s; {})\n\n",
        args.minutes, args.rate, args.steady_rate, cpu
    );
    s.push_str(&format!(
        "Calls made: {made} ({} short-lived processes). `record -- churn`'s report: {reported} \
         judged (dropped {dropped}; the machine's, the monitors' own polling included: \
         {machine}); `serve`'s `ipctop_comm_calls_total` for the churn's comm: {served} \
         (`--max-comms 20000`; summed into comm=\"other\": {merged}) \
         ({scrapes} scrapes every 15 s, {scrape_fail} failed, largest {:.0} KiB); recording \
         {:.1} MiB.\n\n",
        w["children"].as_u64().unwrap_or(0),
        scrape_bytes as f64 / 1024.0,
        rec_size as f64 / 1048576.0
    ));
    s.push_str("| monitor | RSS after 1 min (MiB) | peak (MiB) | at the end (MiB) | CPU after 1 min (% of a core) |\n|---|---:|---:|---:|---:|\n");
    for (who, u) in [
        ("ipctop serve", &u_serve),
        ("ipctop record", &u_rec),
        ("dashboard (tmux 80x24)", &u_dash),
    ] {
        match u.summary() {
            Some((a, p, e, c)) => {
                s.push_str(&format!("| {who} | {a:.1} | {p:.1} | {e:.1} | {c:.1} |\n"))
            }
            None => s.push_str(&format!("| {who} | - | - | - | - |\n")),
        }
    }
    s.push('\n');
    print!("{s}");
    write_section(&root.join(&args.out), &s)?;
    if reported + dropped < made
        || served > made
        || reported > made
        || (merged == 0 && served != made)
    {
        bail!("counts differ from what the churn made ({made}): report {reported} (+{dropped} dropped), serve {served}");
    }
    Ok(())
}

/// Replaces the "## Soak" section of `path` (or appends it).
fn write_section(path: &Path, section: &str) -> Result<()> {
    let earlier = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = String::new();
    let mut skipping = false;
    let mut put = false;
    for line in earlier.split_inclusive('\n') {
        if let Some(h) = line.strip_prefix("## ") {
            skipping = h.starts_with("Soak");
            if skipping && !put {
                out.push_str(section);
                put = true;
            }
        }
        if !skipping {
            out.push_str(line);
        }
    }
    if !put {
        if !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(section);
    }
    std::fs::write(path, out)?;
    Ok(())
}
