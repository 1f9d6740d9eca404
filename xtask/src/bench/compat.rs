//! What following 32-bit processes costs the 64-bit ones (issue 17). The per-syscall
//! tracepoints never fire for 32-bit syscalls, so the default mode adds two raw programs on
//! `sys_enter`/`sys_exit` (`ipc_compat_enter`/`ipc_compat_exit`) when 32-bit processes exist
//! at load: they run on every syscall of the machine and return after a compare for anything
//! that is not an i386 IPC number. Measured interleaved: no monitor, `ipctop record` with no
//! 32-bit process (path not attached), and with one idle 32-bit process (path attached).
use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use anyhow::{bail, Context, Result};

use super::{
    median,
    probe::{prog_ids, prog_stats, StatsOn},
    workload, Monitor, Running,
};

const SIDES: [&str; 3] = [
    "no monitor",
    "ipctop record, no 32-bit process (32-bit path not attached)",
    "ipctop record, one idle 32-bit process (32-bit path attached)",
];

pub struct CompatCost {
    /// ns per call of each side, medians: semop, getppid.
    semop: [f64; 3],
    ppid: [f64; 3],
    /// What sides 1 and 2 add to side 0 (median of the rounds' differences).
    semop_added: [f64; 2],
    ppid_added: [f64; 2],
    /// (program, ns per run during the getppid loop, runs), with the path attached.
    progs: Vec<(String, f64, u64)>,
    rounds: usize,
}

/// The 32-bit test workload (monitor/tests/compat/legacy32.c), built with gcc -m32.
fn legacy32() -> Result<PathBuf> {
    let root = crate::workspace_root();
    let out = std::env::temp_dir().join("ipctop-bench-legacy32");
    let st = Command::new("gcc")
        .args(["-m32", "-static", "-O1", "-o"])
        .arg(&out)
        .arg(root.join("monitor/tests/compat/legacy32.c"))
        .status()
        .context("running gcc")?;
    if !st.success() {
        bail!("gcc -m32 failed (gcc-multilib: cargo xtask setup)");
    }
    Ok(out)
}

/// An idle 32-bit process, ended when dropped (its stdin closes).
struct Idle32(Child);

impl Idle32 {
    fn start(bin: &Path) -> Result<Idle32> {
        Ok(Idle32(
            Command::new(bin)
                .arg("idle")
                .stdin(Stdio::piped())
                .spawn()?,
        ))
    }
}

impl Drop for Idle32 {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether the monitor holds the 32-bit path's links (raw tracepoint links, from its fds'
/// fdinfo: the per-syscall tracepoints are perf events).
fn compat_attached(pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fdinfo")).is_ok_and(|d| {
        d.filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .any(|s| s.contains("link_type:\traw_tracepoint"))
    })
}

pub fn measure(
    mon: &Monitor,
    ipctop: &Path,
    wl: &Path,
    calls: &str,
    getppid: &str,
    rounds: usize,
) -> Result<CompatCost> {
    let l32 = legacy32()?;
    let mut semop: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut ppid: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut progs: std::collections::BTreeMap<String, (Vec<f64>, u64)> = Default::default();
    for round in 0..rounds {
        for k in 0..3 {
            let side = (k + round) % 3;
            let idle = if side == 2 {
                Some(Idle32::start(&l32)?)
            } else {
                None
            };
            let running = if side == 0 {
                None
            } else {
                let r = Running::start(mon, ipctop)?;
                if compat_attached(r.pid()) != (side == 2) {
                    bail!(
                        "{}: the 32-bit path is not as expected (pid {})",
                        SIDES[side],
                        r.pid()
                    );
                }
                Some(r)
            };
            semop[side].push(workload(wl, &["burst", calls])?);
            ppid[side].push(workload(wl, &["getppid", getppid])?);
            if side == 2 {
                // The programs' own time over the non-IPC loop, run again with the kernel's
                // stats on (they cost every program: not in the timed runs).
                let ids = prog_ids(running.as_ref().map_or(0, |r| r.pid()));
                let on = StatsOn::new()?;
                let before: Vec<_> = ids.iter().filter_map(|&i| prog_stats(i)).collect();
                workload(wl, &["getppid", getppid])?;
                let after: Vec<_> = ids.iter().filter_map(|&i| prog_stats(i)).collect();
                drop(on);
                for ((name, t0, c0), (_, t1, c1)) in before.iter().zip(&after) {
                    if !name.starts_with("ipc_compat") || c1 <= c0 {
                        continue;
                    }
                    let (ns, runs) = progs.entry(name.clone()).or_default();
                    ns.push((t1 - t0) as f64 / (c1 - c0) as f64);
                    *runs = c1 - c0;
                }
            }
            if let Some(r) = running {
                r.stop();
            }
            drop(idle);
        }
        eprintln!("bench: 32-bit path, round {}/{rounds} done", round + 1);
    }
    let _ = std::fs::remove_file(&l32);
    let added = |v: &[Vec<f64>], i: usize| {
        let mut d: Vec<f64> = v[i].iter().zip(&v[0]).map(|(a, b)| a - b).collect();
        median(&mut d)
    };
    Ok(CompatCost {
        semop_added: [added(&semop, 1), added(&semop, 2)],
        ppid_added: [added(&ppid, 1), added(&ppid, 2)],
        semop: [0, 1, 2].map(|i| median(&mut semop[i])),
        ppid: [0, 1, 2].map(|i| median(&mut ppid[i])),
        progs: progs
            .into_iter()
            .map(|(n, (mut ns, runs))| (n, median(&mut ns), runs))
            .collect(),
        rounds,
    })
}

pub fn write(md: &mut String, c: &CompatCost) -> std::fmt::Result {
    writeln!(
        md,
        "\n## 9. The 32-bit path: what following 32-bit processes costs 64-bit ones ({} rounds interleaved, medians; ns per call of `ipctop-workload`, a 64-bit process)\n",
        c.rounds
    )?;
    writeln!(
        md,
        "The per-syscall tracepoints never fire for 32-bit syscalls: in the default mode two raw programs (`ipc_compat_enter`/`ipc_compat_exit`) are attached to sys_enter/sys_exit while 32-bit processes exist (looked for every 2 s), and run on every syscall of the machine. `--attach raw` has its raw programs on every syscall always (sections 1–2, 6). `added`: the median of each round's difference to that round's run without a monitor (the columns of ns/call are medians of their own).\n"
    )?;
    writeln!(
        md,
        "| side | semop ns/call | added | getppid ns/call | added |"
    )?;
    writeln!(md, "| --- | ---: | ---: | ---: | ---: |")?;
    for i in 0..3 {
        let add = |v: &[f64; 2]| {
            if i == 0 {
                "".to_string()
            } else {
                format!("{:+.0}", v[i - 1])
            }
        };
        writeln!(
            md,
            "| {} | {:.0} | {} | {:.0} | {} |",
            SIDES[i],
            c.semop[i],
            add(&c.semop_added),
            c.ppid[i],
            add(&c.ppid_added)
        )?;
    }
    writeln!(
        md,
        "\nThe 32-bit path's programs during the getppid loop (`kernel.bpf_stats_enabled`; they run on every syscall):\n"
    )?;
    writeln!(md, "| program | ns per run | runs |")?;
    writeln!(md, "| --- | ---: | ---: |")?;
    for (name, ns, runs) in &c.progs {
        writeln!(md, "| {name} | {ns:.0} | {runs} |")?;
    }
    Ok(())
}

/// Puts `section` (from its `## 9.` heading on) into the results file in place of the one
/// there, for `cargo xtask bench --compat-only`.
pub fn splice(results: &Path, section: &str) -> Result<()> {
    super::serve::splice(results, 9, section)
}
