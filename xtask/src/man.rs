//! `cargo xtask man`: writes the manual page assets/ipctop.1 from ipctop's own command line
//! (`ipctop completions man`, clap_mangen), and the shell completions the .deb installs
//! (assets/completions/: bash, zsh, fish); `--check` fails when a file is not current
//! (monitor/tests/cli.rs and serve_deb.rs check the same in the test suite).
use anyhow::{bail, Context, Result};

use crate::workspace_root;

const PAGE: &str = "assets/ipctop.1";

/// The completion scripts the package installs: (`ipctop completions` argument, file).
pub const COMPLETIONS: [(&str, &str); 3] = [
    ("bash", "assets/completions/ipctop.bash"),
    ("zsh", "assets/completions/_ipctop"),
    ("fish", "assets/completions/ipctop.fish"),
];

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
    let mut files = vec![(PAGE, page)];
    for (shell, file) in COMPLETIONS {
        let script = crate::cargo_stdout(&[
            "run",
            "--quiet",
            "-p",
            "monitor",
            "--bin",
            "ipctop",
            "--",
            "completions",
            shell,
        ])?;
        files.push((file, script));
    }
    for (file, content) in files {
        let path = root.join(file);
        if check {
            let current = std::fs::read(&path).unwrap_or_default();
            if current != content {
                bail!("{file} is not current: run `cargo xtask man` and commit it");
            }
            println!("{file} is current");
        } else {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, &content).with_context(|| format!("writing {file}"))?;
            println!("wrote {file} ({} bytes)", content.len());
        }
    }
    Ok(())
}
