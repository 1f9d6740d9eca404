//! `cargo xtask man`: writes the manual page assets/ipctop.1 from ipctop's own command line
//! (`ipctop completions man`, clap_mangen); `--check` fails when the file is not current
//! (monitor/tests/cli.rs checks the same in the test suite).
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context, Result};

use crate::workspace_root;

const PAGE: &str = "assets/ipctop.1";

pub fn run(check: bool) -> Result<()> {
    // Building ipctop builds its eBPF object: the toolchain must be there.
    crate::setup::setup(true)?;
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&root)
        .args(["run", "--quiet", "-p", "monitor", "--bin", "ipctop", "--"])
        .args(["completions", "man"])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo run --bin ipctop")?;
    ensure!(
        out.status.success(),
        "ipctop completions man failed ({})",
        out.status
    );
    let path = root.join(PAGE);
    if check {
        let current = std::fs::read(&path).unwrap_or_default();
        if current != out.stdout {
            bail!("{PAGE} is not current: run `cargo xtask man` and commit it");
        }
        println!("{PAGE} is current");
    } else {
        std::fs::write(&path, &out.stdout).with_context(|| format!("writing {PAGE}"))?;
        println!("wrote {PAGE} ({} bytes)", out.stdout.len());
    }
    Ok(())
}
