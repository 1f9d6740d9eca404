//! `cargo xtask vm-smoke`: boots other kernels under QEMU and checks that the probe loads there
//! and sees the right events.
//!
//! The guest is an initramfs with static busybox, `ipctop`, `ipctop-workload` and the glibc
//! they link against; its `/init` (assets-vm/init.sh) runs the cases and writes one record per
//! line on the second serial port: `@@vm <case> <stream> <text>`. This module fetches and caches
//! the kernels (Debian packages, under target/vm-kernels/), packs the initramfs, boots each
//! kernel, parses the records ([`parse`]) and judges each case ([`judge`]).
use std::{fs, path::PathBuf, time::Instant};

use anyhow::{Context, Result};

use crate::{cargo, setup, workspace_root};

// What `ipctop-workload basic` must look like through ipctop: shared with the probe's tests.
#[path = "../../../monitor/tests/support/basic.rs"]
mod basic;
pub use basic::{check_basic, BASIC_CALLS};
// What the 32-bit workload must look like through ipctop: shared with tests/compat_real.rs.
#[path = "../../../monitor/tests/compat/expected.rs"]
mod compat_expected;

mod initramfs;
mod kernels;
mod ns_case;
mod qemu;
mod results;
#[cfg(test)]
mod tests;

use initramfs::pack_initramfs;
use kernels::kernels;
use qemu::{boot, console_tail};
use results::{judge, parse, Outcome, Verdict};

const INIT: &str = include_str!("../../assets-vm/init.sh");
/// Kernel series tested when no kernel is named: the newest Debian package of each.
const DEFAULT_SERIES: &[&str] = &["6.1", "6.12"];

#[derive(clap::Args)]
pub struct Args {
    /// A kernel image (bzImage/vmlinuz) to boot; repeatable. Its config must have BPF, BTF,
    /// devtmpfs and the 8250 serial port built in (no modules are loaded).
    #[arg(long, value_name = "PATH")]
    kernel: Vec<PathBuf>,
    /// A Debian kernel package to fetch (apt-get download) and boot, e.g.
    /// linux-image-6.1.0-56-amd64-unsigned; repeatable.
    #[arg(long, value_name = "NAME")]
    package: Vec<String>,
    /// A kernel series (e.g. 6.1): the newest linux-image-<series>.*-amd64-unsigned package;
    /// repeatable. Default, when no kernel is named: 6.1 and 6.12.
    #[arg(long, value_name = "X.Y")]
    series: Vec<String>,
    /// Look up the newest package of each series again instead of using the cached one.
    #[arg(long)]
    refresh: bool,
    /// A kernel where the probe cannot load (ipctop degrades to snapshot-only) does not fail
    /// the run.
    #[arg(long)]
    allow_snapshot_only: bool,
    /// QEMU accelerator: tcg, or kvm where it works (it does not for stock kernels here).
    #[arg(long, default_value = "tcg")]
    accel: String,
    /// Virtual CPUs of the guest.
    #[arg(long, default_value_t = 1)]
    smp: u32,
    /// Seconds one kernel may take, boot to power-off.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Use the release binaries as they are (no set-up, no cargo build).
    #[arg(long)]
    no_build: bool,
    /// Take ipctop and ipctop-workload from this directory (implies --no-build).
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// The guest's /init script instead of the built-in assets-vm/init.sh (for diagnosis; it
    /// must write the same records).
    #[arg(long, value_name = "PATH")]
    init: Option<PathBuf>,
    /// Also pack this host program (and the libraries it links) into the guest's /bin, e.g.
    /// bpftool for a diagnosis script; repeatable.
    #[arg(long, value_name = "PATH")]
    add: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let t0 = Instant::now();
    let root = workspace_root();
    if !args.no_build && args.bin_dir.is_none() {
        setup::setup(false)?;
        cargo(&["build", "--release", "-p", "monitor", "--bins"], &[])?;
    }
    let kernels = kernels(&args, &root.join("target/vm-kernels"))?;
    let work = root.join("target/vm-smoke");
    fs::create_dir_all(&work)?;
    let initrd = work.join("initramfs.cpio");
    let init = match &args.init {
        Some(p) => fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        None => ns_case::splice(INIT),
    };
    let bins = args.bin_dir.clone().unwrap_or(root.join("target/release"));
    let mut add = args.add.clone();
    add.push(initramfs::legacy32(&root, &work)?);
    pack_initramfs(&bins, &add, &init, &initrd)?;
    eprintln!(
        "vm-smoke: {} kernel(s), initramfs {} ({} MiB), ready after {:.0} s",
        kernels.len(),
        initrd.display(),
        fs::metadata(&initrd)?.len() >> 20,
        t0.elapsed().as_secs_f64()
    );

    let mut lines = Vec::new();
    let mut failed = false;
    for (label, vmlinuz) in &kernels {
        let dir = work.join(label);
        fs::create_dir_all(&dir)?;
        let t = Instant::now();
        let verdict = match boot(vmlinuz, &initrd, &dir, &args) {
            Ok(finished) => {
                let text = fs::read_to_string(dir.join("results.log")).unwrap_or_default();
                let mut v = judge(&parse(&text));
                if !finished {
                    v.outcome = Outcome::Fail;
                    v.notes.push(format!("timed out after {} s", args.timeout));
                }
                if v.outcome == Outcome::Fail {
                    v.notes.push(format!(
                        "logs: {}; console ends: {}",
                        dir.display(),
                        console_tail(&dir.join("console.log"), 3)
                    ));
                }
                v
            }
            Err(e) => Verdict::failed(format!("{e:#}")),
        };
        failed |= verdict.outcome == Outcome::Fail
            || (verdict.outcome == Outcome::SnapshotOnly && !args.allow_snapshot_only);
        let line = format!(
            "vm-smoke {label}: {verdict} [{:.0} s]",
            t.elapsed().as_secs_f64()
        );
        println!("{line}");
        lines.push(line);
    }
    println!(
        "vm-smoke: {} kernel(s) in {:.0} s: {}",
        kernels.len(),
        t0.elapsed().as_secs_f64(),
        if failed { "FAILED" } else { "ok" }
    );
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
