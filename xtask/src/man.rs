//! `cargo xtask man`: writes the manual page assets/ipctop.1 from ipctop's own command line
//! (`ipctop completions man`, clap_mangen); `--check` fails when the file is not current
//! (monitor/tests/cli.rs checks the same in the test suite).
use anyhow::{bail, Context, Result};

use crate::workspace_root;

const PAGE: &str = "assets/ipctop.1";

pub fn run(check: bool) -> Result<()> {
    // Building ipctop builds its eBPF object: the toolchain must be there.
    crate::setup::setup(true)?;
    let root = workspace_root();
    let page = crate::cargo_stdout(&[
        "run",
        "--quiet",
        "-p",
        "monitor",
        "--bin",
        "ipctop",
        "--",
        "completions",
        "man",
    ])?;
    let path = root.join(PAGE);
    if check {
        let current = std::fs::read(&path).unwrap_or_default();
        if current != page {
            bail!("{PAGE} is not current: run `cargo xtask man` and commit it");
        }
        println!("{PAGE} is current");
    } else {
        std::fs::write(&path, &page).with_context(|| format!("writing {PAGE}"))?;
        println!("wrote {PAGE} ({} bytes)", page.len());
    }
    Ok(())
}
