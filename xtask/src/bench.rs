//! `cargo xtask bench`: what ipctop costs the programs it watches, measured against doing
//! nothing and against what a user would run instead, interleaved in one run so that the
//! machine's noise hits every side alike. Writes bench/RESULTS.md.
use std::{
    fmt::Write as _,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

mod compat;
mod probe;

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
    /// Where to write the results.
    #[arg(long, default_value = "bench/RESULTS.md")]
    out: PathBuf,
}

/// A monitor running during a measurement.
#[derive(Clone)]
struct Monitor {
    name: &'static str,
    /// Shell snippet run first in a private mount namespace (tracefs or not).
    setup: &'static str,
    /// The command (`{ipctop}` is replaced by the binary's path).
    cmd: &'static str,
    /// A line on stdout or stderr that says it is attached.
    ready: &'static str,
}

const NO_TRACEFS: &str = "umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null; true";
const TRACEFS: &str =
    "mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing";

fn monitors() -> Vec<Monitor> {
    vec![
        Monitor {
            name: "ipctop record --attach raw (in-kernel aggregation; raw sys_enter/sys_exit)",
            setup: NO_TRACEFS,
            cmd: "{ipctop} record --attach raw -o /tmp/ipctop-bench.ipctop.zst",
            ready: "ipctop: recording to",
        },
        Monitor {
            name: "ipctop record (default: in-kernel aggregation; per-syscall tracepoints, tracefs mounted privately)",
            setup: NO_TRACEFS,
            cmd: "{ipctop} record -o /tmp/ipctop-bench.ipctop.zst",
            ready: "ipctop: recording to",
        },
        Monitor {
            name: "ipctop record --every-call (per-syscall tracepoints)",
            setup: TRACEFS,
            cmd: "{ipctop} record --every-call -o /tmp/ipctop-bench.ipctop.zst",
            ready: "ipctop: recording to",
        },
        Monitor {
            name: "ipctop, the live dashboard (120x40 pty; in-kernel aggregation; per-syscall tracepoints)",
            setup: TRACEFS,
            cmd: "script -qfec 'stty rows 40 cols 120; exec {ipctop}' /dev/null",
            ready: "Over",
        },
        Monitor {
            name: "ipctop trace --json > /dev/null (every call printed; per-syscall tracepoints)",
            setup: TRACEFS,
            cmd: "{ipctop} trace --json",
            ready: "ipctop: tracing",
        },
        Monitor {
            name: "bpftrace counting sys_enter_semtimedop per pid (the issue's reference)",
            setup: TRACEFS,
            cmd: "bpftrace -e 'tracepoint:syscalls:sys_enter_semtimedop { @[pid] = count(); }'",
            ready: "Attaching",
        },
        Monitor {
            name: "bpftrace semtimedop latency histogram (enter+exit, what measuring waits takes)",
            setup: TRACEFS,
            cmd: "bpftrace -e 'tracepoint:syscalls:sys_enter_semtimedop { @s[tid] = nsecs; } tracepoint:syscalls:sys_exit_semtimedop /@s[tid]/ { @h = hist(nsecs - @s[tid]); delete(@s[tid]); }'",
            ready: "Attaching",
        },
        Monitor {
            name: "floor: two near-empty programs on sys_enter_semtimedop and sys_exit_semtimedop (bpftrace)",
            setup: TRACEFS,
            cmd: "bpftrace -e 'tracepoint:syscalls:sys_enter_semtimedop { } tracepoint:syscalls:sys_exit_semtimedop { }'",
            ready: "Attaching",
        },
        Monitor {
            name: "floor: an idle BPF program on one unrelated syscall tracepoint (bpftrace, sys_enter_acct)",
            setup: TRACEFS,
            cmd: "bpftrace -e 'tracepoint:syscalls:sys_enter_acct { @ = count(); }'",
            ready: "Attaching",
        },
    ]
}

struct Running {
    child: Child,
}

impl Running {
    fn start(m: &Monitor, ipctop: &Path) -> Result<Running> {
        let cmd = m.cmd.replace("{ipctop}", &ipctop.display().to_string());
        let mut child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!("{}; exec {cmd}", m.setup))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", m.name))?;
        let (tx, rx) = mpsc::channel::<String>();
        for r in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            // Chunks, not lines: a full-screen program draws without newlines.
            std::thread::spawn(move || {
                let mut r = r;
                let mut buf = [0u8; 8192];
                let mut tail = String::new();
                loop {
                    match r.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            tail.push_str(&String::from_utf8_lossy(&buf[..n]));
                            let _ = tx.send(tail.clone());
                            // Keep a little, for a pattern split across two reads.
                            let keep = tail.len().saturating_sub(64);
                            let cut = (keep..=tail.len())
                                .find(|&i| tail.is_char_boundary(i))
                                .unwrap_or(0);
                            tail.drain(..cut);
                        }
                    }
                }
            });
        }
        // From here on, the monitor is stopped (killed) whatever happens.
        let running = Running { child };
        let end = Instant::now() + Duration::from_secs(60);
        let mut child_exited = None;
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(l) if l.contains(m.ready) => break,
                Ok(_) => {}
                Err(_) if Instant::now() > end => bail!("{} did not start", m.name),
                Err(_) => {
                    if let Some(st) = running_try_wait(&running, &mut child_exited) {
                        bail!("{} exited at start ({st})", m.name);
                    }
                }
            }
        }
        // Keep draining its output (it goes nowhere) so that it never blocks on a pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        std::thread::sleep(Duration::from_millis(300));
        Ok(running)
    }

    /// The monitor's own process (under `script`, its child).
    fn pid(&self) -> u32 {
        Self::monitor_pid(self.child.id())
    }

    /// `pid`, or its child when `pid` is `script`.
    fn monitor_pid(pid: u32) -> u32 {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "script" {
            let kids = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            if let Some(k) = kids.split_whitespace().next().and_then(|k| k.parse().ok()) {
                return k;
            }
        }
        pid
    }

    fn stop(mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc_kill(self.child.id() as i32, 15) };
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // The monitor itself may be a child of what we started (script): end it first.
            let pid = self.pid();
            if pid != self.child.id() {
                // SAFETY: signalling a process we started.
                unsafe { libc_kill(pid as i32, 9) };
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `try_wait` through a shared reference (the status is kept once seen).
fn running_try_wait(
    r: &Running,
    seen: &mut Option<std::process::ExitStatus>,
) -> Option<std::process::ExitStatus> {
    if seen.is_none() {
        let pid = r.child.id() as i32;
        let mut status = 0;
        // SAFETY: WNOHANG wait for our own child.
        let n = unsafe { libc_waitpid(pid, &mut status, 1) };
        if n == pid {
            use std::os::unix::process::ExitStatusExt;
            *seen = Some(std::process::ExitStatus::from_raw(status));
        }
    }
    *seen
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
    #[link_name = "waitpid"]
    fn libc_waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
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

/// Runs cargo and returns its standard output (its stderr goes to ours).
fn cargo_stdout(args: &[&str]) -> Result<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(crate::workspace_root())
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo")?;
    if !out.status.success() {
        bail!("cargo {} failed", args.join(" "));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// CPU seconds (user + system) a process has used.
fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = &stat[stat.rfind(')').context("stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmHWM")
}

pub fn run(args: Args) -> Result<()> {
    crate::setup::setup(false)?;
    crate::cargo(&["build", "--release", "--bins"], &[])?;
    let root = crate::workspace_root();
    let ipctop = root.join("target/release/ipctop");
    let wl = root.join("target/release/ipctop-workload");
    let mons = monitors();
    let calls = (2 * args.pairs).to_string();
    let getppid = args.getppid.to_string();
    let compat = || compat::measure(&mons[1], &ipctop, &wl, &calls, &getppid, args.rounds);
    if args.compat_only {
        let mut md = String::new();
        compat::write(&mut md, &compat()?)?;
        print!("{md}");
        return compat::splice(&root.join(&args.out), &md);
    }

    // 1 and 2: interleaved rounds; each round measures every side once, in a rotating order.
    let sides = mons.len() + 1;
    let mut semop: Vec<Vec<f64>> = vec![Vec::new(); sides];
    let mut ppid: Vec<Vec<f64>> = vec![Vec::new(); sides];
    for round in 0..args.rounds {
        for k in 0..sides {
            let side = (k + round) % sides;
            let mon = if side == 0 {
                None
            } else {
                Some(Running::start(&mons[side - 1], &ipctop)?)
            };
            semop[side].push(workload(&wl, &["burst", &calls])?);
            ppid[side].push(workload(&wl, &["getppid", &getppid])?);
            if let Some(m) = mon {
                m.stop();
            }
        }
        eprintln!("bench: round {}/{} done", round + 1, args.rounds);
    }
    // What each monitor adds: the median of its rounds' differences to the same round's run
    // without a monitor (pairs measured minutes apart drift with the machine's load).
    let paired = |v: &[Vec<f64>], i: usize| {
        let mut d: Vec<f64> = v[i].iter().zip(&v[0]).map(|(a, b)| a - b).collect();
        median(&mut d)
    };
    let added: Vec<f64> = (1..sides).map(|i| paired(&semop, i)).collect();
    let added_ppid: Vec<f64> = (1..sides).map(|i| paired(&ppid, i)).collect();
    let base_semop = median(&mut semop[0]);
    let base_ppid = median(&mut ppid[0]);

    // 3: the highest rate followed without drops: 1, 2 and 4 workloads at full speed at once.
    let mut rates = Vec::new();
    for n in [1usize, 2, 4] {
        let (rate, dropped) = rate_under_load(&ipctop, &wl, n, 2 * args.pairs)?;
        rates.push((n, rate, dropped));
    }

    // 4: frame and snapshot times at 10,000 objects and 1,000 processes (release).
    let frames = cargo_stdout(&[
        "test",
        "--release",
        "-p",
        "monitor",
        "--lib",
        "frame_time",
        "--",
        "--ignored",
        "--nocapture",
    ])?;
    let snap = cargo_stdout(&[
        "test",
        "--release",
        "-p",
        "monitor",
        "--test",
        "snapshot_bench",
        "--",
        "--ignored",
        "--nocapture",
    ])?;
    let snap_line = snap
        .lines()
        .find(|l| l.starts_with("SNAPSHOT_BENCH"))
        .unwrap_or("SNAPSHOT_BENCH not printed")
        .to_string();
    let ns = cargo_stdout(&[
        "test",
        "--release",
        "-p",
        "monitor",
        "--test",
        "namespaces_bench",
        "--",
        "--ignored",
        "--nocapture",
    ])?;
    let ns_line = ns
        .lines()
        .find(|l| l.starts_with("NAMESPACES_BENCH"))
        .unwrap_or("NAMESPACES_BENCH not printed")
        .to_string();
    let frame_lines: Vec<String> = frames
        .lines()
        .filter(|l| l.contains("ms/frame") || l.contains("refresh"))
        .map(str::to_string)
        .collect();

    // 5: idle CPU and peak RSS of `ipctop record` and of the dashboard.
    let mut idle = Vec::new();
    for m in [&mons[1], &mons[3]] {
        let mon = Running::start(m, &ipctop)?;
        let pid = mon.pid();
        let c0 = cpu_secs(pid)?;
        std::thread::sleep(Duration::from_secs(args.idle_secs));
        let cpu = (cpu_secs(pid)? - c0) / args.idle_secs as f64 * 100.0;
        let rss = peak_rss_kib(pid)?;
        mon.stop();
        idle.push((m.name, cpu, rss));
    }

    // 6–8: the probe's own figures.
    let progs = probe::bpf_stats(
        &[&mons[0], &mons[1], &mons[2], &mons[5], &mons[7]],
        &ipctop,
        &wl,
        &calls,
        args.probe_rounds,
    )?;
    let exits = probe::exit_latency(&ipctop, args.probe_rounds)?;
    let idle_sems = probe::idle_semaphores(&ipctop, args.idle_sets, 250, args.idle_secs)?;
    let compat_cost = compat()?;

    let mut md = String::new();
    let uname = Command::new("uname").arg("-r").output()?;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")?
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|s| s.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()?;
    writeln!(md, "# ipctop benchmarks\n")?;
    writeln!(
        md,
        "Made by `cargo xtask bench` on {} ({} cores, {cpu}), kernel {}, {} rounds interleaved, medians.\n",
        String::from_utf8_lossy(&date.stdout).trim(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        String::from_utf8_lossy(&uname.stdout).trim(),
        args.rounds
    )?;
    writeln!(
        md,
        "The machine is a shared 2-core VM on which other people build and test at the same time: \
         compare figures within one run only (every side of a table was measured interleaved \
         with the others).\n"
    )?;
    writeln!(md, "## 1–2. What a call costs under each monitor\n")?;
    writeln!(
        md,
        "IPC-heavy loop: {} semop acquire/release pairs on one semaphore ({} calls). Non-IPC loop: {} getppid() calls. \"added\" is the median over rounds of the difference to the same round's run without a monitor.\n",
        args.pairs,
        2 * args.pairs,
        args.getppid
    )?;
    writeln!(
        md,
        "| monitor | semop ns/call | added ns/call | × count one-liner | × two-program floor | getppid ns/call | added ns/call |"
    )?;
    writeln!(md, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")?;
    writeln!(
        md,
        "| none | {base_semop:.0} | – | – | – | {base_ppid:.0} | – |"
    )?;
    // The references: bpftrace's count one-liner and the two near-empty programs.
    let count = added[5];
    let floor = added[7];
    for (i, m) in mons.iter().enumerate() {
        let s = median(&mut semop[i + 1]);
        let p = median(&mut ppid[i + 1]);
        writeln!(
            md,
            "| {} | {s:.0} | {:+.0} | {:.2} | {:.2} | {p:.0} | {:+.0} |",
            m.name,
            added[i],
            added[i] / count,
            added[i] / floor,
            added_ppid[i]
        )?;
    }
    writeln!(
        md,
        "\n## 3. Call rates followed (`ipctop trace --json`, every call to userspace)\n"
    )?;
    writeln!(
        md,
        "| workloads at full speed | calls/s (all together) | dropped |"
    )?;
    writeln!(md, "| ---: | ---: | ---: |")?;
    for (n, rate, dropped) in &rates {
        writeln!(md, "| {n} | {rate:.0} | {dropped} |")?;
    }
    writeln!(
        md,
        "\n## 4. Frame and snapshot time, 10,000 objects and 1,000 processes (release)\n"
    )?;
    writeln!(md, "Frames: ratatui TestBackend, per view (`cargo test --release -p monitor --lib frame_time -- --ignored --nocapture`):\n")?;
    writeln!(md, "```")?;
    for l in &frame_lines {
        writeln!(md, "{l}")?;
    }
    writeln!(md, "```\n")?;
    writeln!(md, "Snapshot (`monitor/tests/snapshot_bench.rs`, objects in a private IPC namespace; `take` is the reading, `command` the whole `ipctop snapshot --json`):\n")?;
    writeln!(md, "```\n{snap_line}\n```")?;
    writeln!(md, "\nEvery IPC namespace (`monitor/tests/namespaces_bench.rs`, 50 extra namespaces of one set each; `btf` the probe's offsets from /sys/kernel/btf/vmlinux, `list` every process's namespace and container, `read` the objects of every namespace on one setns thread):\n")?;
    writeln!(md, "```\n{ns_line}\n```")?;
    writeln!(
        md,
        "\n## 5. ipctop at rest ({} s, the machine otherwise idle)\n",
        args.idle_secs
    )?;
    writeln!(md, "| monitor | CPU | peak RSS |")?;
    writeln!(md, "| --- | ---: | ---: |")?;
    for (name, cpu, rss) in &idle {
        writeln!(
            md,
            "| {name} | {cpu:.2} % of one core | {:.1} MiB |",
            *rss as f64 / 1024.0
        )?;
    }
    writeln!(
        md,
        "\n## 6. The programs' own time (`kernel.bpf_stats_enabled`, run_time_ns / run_cnt over a burst of {calls} semops; medians of {} runs)\n",
        args.probe_rounds
    )?;
    writeln!(md, "| monitor | program | ns per run | runs |")?;
    writeln!(md, "| --- | --- | ---: | ---: |")?;
    for p in &progs {
        writeln!(
            md,
            "| {} | {} | {:.0} | {} |",
            p.monitor, p.prog, p.ns_per_run, p.runs
        )?;
    }
    writeln!(
        md,
        "\n## 7. Exit latency (from the signal, the key or the end of --duration to the process's end; medians of {} runs)\n",
        args.probe_rounds
    )?;
    writeln!(md, "| way out | ms |")?;
    writeln!(md, "| --- | ---: |")?;
    for (name, ms) in &exits {
        writeln!(md, "| {name} | {ms:.0} |")?;
    }
    writeln!(
        md,
        "\n## 8. {} semaphores in {} sets nobody touches (a private IPC namespace; `ipctop record`, the dashboard's live source)\n",
        args.idle_sets * 250,
        args.idle_sets
    )?;
    writeln!(md, "| | |")?;
    writeln!(md, "| --- | ---: |")?;
    writeln!(
        md,
        "| ipctop CPU, {} s after a 3 s warm-up | {:.2} % of one core |",
        args.idle_secs, idle_sems.cpu_pct
    )?;
    writeln!(
        md,
        "| ipctop semctl calls per second (strace -c, 10 s) | {:.1} |",
        idle_sems.semctl_per_s
    )?;
    writeln!(
        md,
        "| semctl calls of one full snapshot (`ipctop snapshot`; what every live snapshot made before) | {} |",
        idle_sems.full_snapshot_semctl
    )?;
    compat::write(&mut md, &compat_cost)?;
    if let Some(dir) = root.join(&args.out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(root.join(&args.out), &md)?;
    print!("{md}");
    Ok(())
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
    // SAFETY: signalling our own child.
    unsafe { libc_kill(trace.id() as i32, 15) };
    trace.wait()?;
    let dropped = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader thread"))?
        .context("no summary from ipctop trace")?;
    Ok((rate, dropped))
}
