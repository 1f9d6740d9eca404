//! `cargo xtask battery`: the scenario battery of ipctop's judgements (the table in
//! monitor/tests/support/battery/, which the root tests in monitor/tests/judgements_real.rs
//! run too) against any ipctop — a release build of this tree by default, or `--ipctop PATH`
//! (an older build, for before/after figures). Prints per scenario and surface the verdict
//! per finding kind against what the scenario is, the checks beyond the kinds, then the false
//! positives and false negatives per kind. Root; exits 1 when anything fell short.
use std::path::PathBuf;

use anyhow::{bail, Result};

#[path = "../../monitor/tests/support/battery/mod.rs"]
pub mod engine;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ipctop to judge (default: this tree's, built in release mode first).
    #[arg(long, value_name = "PATH")]
    ipctop: Option<PathBuf>,
    /// The workload helper (default: this tree's ipctop-workload, built in release mode
    /// first; it must have the `judge` situations).
    #[arg(long, value_name = "PATH")]
    workload: Option<PathBuf>,
    /// Only this scenario (repeatable; see --list).
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
    /// Scenarios at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// List the scenarios and what each is, and exit.
    #[arg(long)]
    list: bool,
    /// Keep each run's recording, the last output of every surface and its table here (a
    /// directory per scenario), to look into a verdict.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let all = engine::scenarios();
    if a.list {
        for s in all {
            println!("{:<20} {}", s.name, s.about);
        }
        return Ok(());
    }
    if let Some(bad) = a
        .only
        .iter()
        .find(|n| !all.iter().any(|s| s.name == n.as_str()))
    {
        bail!("no scenario {bad:?} (cargo xtask battery --list names them)");
    }
    if !nix::unistd::geteuid().is_root() {
        bail!("the battery loads the eBPF probe and makes private IPC namespaces: run it as root");
    }
    let release = crate::workspace_root().join("target/release");
    if a.ipctop.is_none() || a.workload.is_none() {
        crate::setup::setup(true)?;
        crate::cargo(&["build", "--release", "-p", "monitor", "--bins"], &[])?;
    }
    let cfg = engine::Config {
        ipctop: a.ipctop.unwrap_or_else(|| release.join("ipctop")),
        workload: a
            .workload
            .unwrap_or_else(|| release.join("ipctop-workload")),
        jobs: a.jobs.max(1),
        verbose: true,
        keep: a.keep,
    };
    for p in [&cfg.ipctop, &cfg.workload] {
        if !p.is_file() {
            bail!("{} is not a file", p.display());
        }
    }
    let outcomes = engine::run(&cfg, &a.only, &|o| {
        let f = o.failures();
        eprintln!(
            "battery: {} {}",
            o.scenario.name,
            if f.is_empty() {
                "as expected".to_string()
            } else {
                format!("fell short ({} findings)", f.len())
            }
        );
    });
    print!("{}", engine::render::render(&outcomes));
    let short = outcomes.iter().filter(|o| !o.failures().is_empty()).count();
    if short > 0 {
        bail!("{short} of {} scenarios fell short", outcomes.len());
    }
    Ok(())
}

#[cfg(test)]
#[path = "battery_tests.rs"]
mod tests;
