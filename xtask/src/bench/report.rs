//! bench/RESULTS.md from the figures of one `cargo xtask bench` run.
use std::fmt::Write as _;

use anyhow::Result;

use super::{
    cost::Cost,
    monitors::{COUNT_ONE_LINER, TWO_PROGRAM_FLOOR},
    probe::{Idle, ProgTime},
    rates::Rate,
    scale::Scale,
    Args,
};

/// A monitor's CPU (% of one core) and peak RSS (KiB) at rest.
pub type AtRest = (&'static str, f64, u64);

/// Everything one run measured.
pub struct Results {
    /// When, on what: `date -u`, `uname -r`, the CPU's model name.
    pub date: String,
    pub kernel: String,
    pub cpu: String,
    pub cost: Cost,
    pub rates: Vec<Rate>,
    pub scale: Scale,
    pub at_rest: Vec<AtRest>,
    pub progs: Vec<ProgTime>,
    pub exits: Vec<super::probe::ExitTime>,
    pub idle_sems: Idle,
}

pub fn markdown(args: &Args, r: &Results) -> Result<String> {
    let mut md = String::new();
    writeln!(md, "# ipctop benchmarks\n")?;
    writeln!(
        md,
        "Made by `cargo xtask bench` on {} ({} cores, {}), kernel {}, {} rounds interleaved, medians.\n",
        r.date,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        r.cpu,
        r.kernel,
        args.rounds
    )?;
    writeln!(
        md,
        "The machine is a shared 2-core VM on which other people build and test at the same time: \
         compare figures within one run only (every side of a table was measured interleaved \
         with the others).\n"
    )?;
    cost(&mut md, args, &r.cost)?;
    rates(&mut md, &r.rates)?;
    scale(&mut md, &r.scale)?;
    at_rest(&mut md, args, &r.at_rest)?;
    probe(&mut md, args, r)?;
    Ok(md)
}

/// Sections 1–2.
fn cost(md: &mut String, args: &Args, c: &Cost) -> Result<()> {
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
        "| none | {:.0} | – | – | – | {:.0} | – |",
        c.base_semop, c.base_getppid
    )?;
    // The references: bpftrace's count one-liner and the two near-empty programs.
    let count = c.rows[COUNT_ONE_LINER].added;
    let floor = c.rows[TWO_PROGRAM_FLOOR].added;
    for m in &c.rows {
        writeln!(
            md,
            "| {} | {:.0} | {:+.0} | {:.2} | {:.2} | {:.0} | {:+.0} |",
            m.name,
            m.semop,
            m.added,
            m.added / count,
            m.added / floor,
            m.getppid,
            m.added_getppid
        )?;
    }
    Ok(())
}

/// Section 3.
fn rates(md: &mut String, rates: &[Rate]) -> Result<()> {
    writeln!(
        md,
        "\n## 3. Call rates followed (`ipctop trace --json`, every call to userspace)\n"
    )?;
    writeln!(
        md,
        "| workloads at full speed | calls/s (all together) | dropped |"
    )?;
    writeln!(md, "| ---: | ---: | ---: |")?;
    for (n, rate, dropped) in rates {
        writeln!(md, "| {n} | {rate:.0} | {dropped} |")?;
    }
    Ok(())
}

/// A fenced block of `lines`.
fn block(md: &mut String, lines: &[String]) -> Result<()> {
    writeln!(md, "```")?;
    for l in lines {
        writeln!(md, "{l}")?;
    }
    writeln!(md, "```")?;
    Ok(())
}

/// Section 4.
pub(super) fn scale(md: &mut String, s: &Scale) -> Result<()> {
    writeln!(
        md,
        "\n## 4. Frame, snapshot and namespace time, 10,000 objects and 1,000 processes (release)\n"
    )?;
    writeln!(md, "Frames: ratatui TestBackend, per view, in µs (`monitor/benches/frame_time.rs`, `cargo bench -p monitor --bench frame_time`):\n")?;
    block(md, &s.frames)?;
    writeln!(md, "\nSnapshot (`monitor/benches/snapshot_bench.rs`, objects in a private IPC namespace; `take` is the reading, `command` the whole `ipctop snapshot --json`, `posix` the POSIX look — `ipctop::posix::take`: every process's descriptors, shared mappings and blocked threads, the queues and /dev/shm of every namespace — with the same processes):\n")?;
    block(md, std::slice::from_ref(&s.snapshot))?;
    writeln!(md, "\nEvery IPC namespace (`monitor/benches/namespaces_bench.rs`, 50 extra namespaces of one set each; `btf` the probe's offsets from /sys/kernel/btf/vmlinux, `list` every process's namespace and container, `read` the objects of every namespace on one setns thread):\n")?;
    block(md, std::slice::from_ref(&s.namespaces))?;
    writeln!(md, "\nThe exporter's figures are section 10.")?;
    Ok(())
}

/// Section 5.
fn at_rest(md: &mut String, args: &Args, idle: &[AtRest]) -> Result<()> {
    writeln!(
        md,
        "\n## 5. ipctop at rest ({} s, the machine otherwise idle)\n",
        args.idle_secs
    )?;
    writeln!(md, "| monitor | CPU | peak RSS |")?;
    writeln!(md, "| --- | ---: | ---: |")?;
    for (name, cpu, rss) in idle {
        writeln!(
            md,
            "| {name} | {cpu:.2} % of one core | {:.1} MiB |",
            *rss as f64 / 1024.0
        )?;
    }
    Ok(())
}

/// Sections 6–8: the probe's own figures (`probe.rs`).
fn probe(md: &mut String, args: &Args, r: &Results) -> Result<()> {
    writeln!(
        md,
        "\n## 6. The programs' own time (`kernel.bpf_stats_enabled`, run_time_ns / run_cnt over a burst of {} semops; medians of {} runs)\n",
        2 * args.pairs,
        args.probe_rounds
    )?;
    writeln!(md, "| monitor | program | ns per run | runs |")?;
    writeln!(md, "| --- | --- | ---: | ---: |")?;
    for p in &r.progs {
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
    writeln!(
        md,
        "The programs are stopped first (a flag they read, one RCU grace period), then the kernel's slow \
         detach (one grace period per per-syscall tracepoint, one after another) is left to a child, \
         `ipctop-detach`, that ends in the background; until then the programs return at once. \
         `programs freed`: until the kernel has freed them.\n"
    )?;
    writeln!(
        md,
        "| way out | ms to the process's end | ms until the programs are freed |"
    )?;
    writeln!(md, "| --- | ---: | ---: |")?;
    for e in &r.exits {
        writeln!(
            md,
            "| {} | {:.0} | {:.0} |",
            e.way, e.exit_ms, e.detached_ms
        )?;
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
        args.idle_secs, r.idle_sems.cpu_pct
    )?;
    writeln!(
        md,
        "| ipctop semctl calls per second (strace -c, 10 s) | {:.1} |",
        r.idle_sems.semctl_per_s
    )?;
    writeln!(
        md,
        "| semctl calls of one full snapshot (`ipctop snapshot`; what every live snapshot made before) | {} |",
        r.idle_sems.full_snapshot_semctl
    )?;
    Ok(())
}
