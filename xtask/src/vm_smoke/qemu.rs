//! Booting one kernel under QEMU with a timeout; the records come out on the second serial
//! port (results.log), the console on the first (console.log).
use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::Args;

/// Boots `vmlinuz` with the initramfs; the console goes to dir/console.log, the records to
/// dir/results.log. Ok(false) when it had to be killed after the timeout.
pub(super) fn boot(vmlinuz: &Path, initrd: &Path, dir: &Path, args: &Args) -> Result<bool> {
    let console = dir.join("console.log");
    let results = dir.join("results.log");
    for f in [&console, &results] {
        let _ = fs::remove_file(f);
    }
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            &args.accel,
            "-m",
            "1024",
            "-smp",
            &args.smp.to_string(),
        ])
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .args([
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
            "-net",
            "none",
        ])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-serial")
        .arg(format!("file:{}", results.display()))
        .stdin(Stdio::null())
        .spawn()
        .context("running qemu-system-x86_64 (cargo xtask setup installs it)")?;
    let end = Instant::now() + Duration::from_secs(args.timeout);
    loop {
        if let Some(st) = child.try_wait()? {
            if !st.success() {
                bail!(
                    "qemu-system-x86_64 failed ({st}); console ends: {}",
                    console_tail(&console, 3)
                );
            }
            return Ok(true);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub(super) fn console_tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r').trim())
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}
