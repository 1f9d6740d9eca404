//! `cargo xtask …`: the project's tasks that are not plain cargo.
mod battery;
mod bench;
mod demo;
mod man;
mod setup;
mod soak;
mod vm_smoke;

use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "ipctop's project tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what building and testing need (apt packages, rust-src, bpf-linker); idempotent.
    Setup {
        /// Only the eBPF toolchain, not the tools the tests and VM smoke tests use.
        #[arg(long)]
        minimal: bool,
    },
    /// Set up, then run the whole test suite (the real eBPF tests need root), then check that
    /// the library's documentation builds without a warning (broken intra-doc links and such).
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, build in release mode and run ipctop with these arguments.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Boot other kernels under QEMU and check that the probe loads and sees the right events.
    VmSmoke(vm_smoke::Args),
    /// Measure what ipctop costs the programs it watches; writes bench/RESULTS.md.
    Bench(bench::Args),
    /// Run the scenario battery of ipctop's judgements (root): per scenario and surface the
    /// verdicts against what each situation is, false positives and negatives per kind.
    Battery(battery::Args),
    /// Make the demo recording in assets/ from real workloads (root).
    Demo(demo::Args),
    /// ipctop left running beside churn for minutes (root): its memory, CPU and counts
    /// (serve, record, the dashboard); writes its section of bench/RESULTS.md.
    Soak(soak::Args),
    /// Write the manual page assets/ipctop.1 and the shell completions in assets/completions/
    /// from ipctop's command line (after changing it).
    Man {
        /// Only check that assets/ipctop.1 is current (fails if not).
        #[arg(long)]
        check: bool,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Setup { minimal } => setup::setup(minimal),
        Cmd::Test { args } => {
            setup::setup(false)?;
            cargo(&["test", "--workspace"], &args)?;
            doc_check()
        }
        Cmd::Run { args } => {
            setup::setup(true)?;
            cargo(&["build", "--release", "--bin", "ipctop"], &[])?;
            let bin = workspace_root().join("target/release/ipctop");
            let status = Command::new(&bin)
                .args(&args)
                .status()
                .with_context(|| format!("running {}", bin.display()))?;
            std::process::exit(status.code().unwrap_or(1));
        }
        Cmd::VmSmoke(args) => vm_smoke::run(args),
        Cmd::Bench(args) => bench::run(args),
        Cmd::Battery(args) => battery::run(args),
        Cmd::Demo(args) => demo::run(args),
        Cmd::Soak(args) => soak::run(args),
        Cmd::Man { check } => man::run(check),
    }
}

pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_path_buf()
}

/// Runs cargo (the one that runs us) with `args` and `extra`, in the workspace root.
pub fn cargo(args: &[&str], extra: &[String]) -> Result<()> {
    run_cargo(cargo_command(args).args(extra), args)
}

/// Runs cargo with `args` and returns its standard output (its stderr goes to ours).
pub fn cargo_stdout(args: &[&str]) -> Result<Vec<u8>> {
    let out = cargo_command(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo")?;
    if !out.status.success() {
        bail!("cargo {} failed ({})", args.join(" "), out.status);
    }
    Ok(out.stdout)
}

/// `cargo doc --no-deps -p monitor` with warnings as errors, so that the documentation stays
/// clean (a link to a renamed or private item fails the tests).
fn doc_check() -> Result<()> {
    let args = ["doc", "--no-deps", "-p", "monitor"];
    run_cargo(
        cargo_command(&args).env("RUSTDOCFLAGS", "-D warnings"),
        &args,
    )
}

/// A command running cargo (the one that runs us) with `args`, in the workspace root.
fn cargo_command(args: &[&str]) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace_root()).args(args);
    c
}

fn run_cargo(cmd: &mut Command, args: &[&str]) -> Result<()> {
    let status = cmd.status().context("running cargo")?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}
