//! `cargo xtask demo`: makes the demo recording in assets/ from real workloads, so that it can
//! be made again. Needs root (the probe). Everything runs in a private IPC namespace, so the
//! demo shows only its own objects and leaves nothing behind.
use std::process::Command;

use anyhow::{bail, Result};

/// Where the demo recording lives (embedded in the ipctop binary for `ipctop replay`).
pub const DEMO: &str = "assets/demo.ipctop.zst";

#[derive(clap::Args)]
pub struct Args {
    /// Where to write it.
    #[arg(long, default_value = DEMO)]
    out: String,
}

pub fn run(args: Args) -> Result<()> {
    crate::setup::setup(true)?;
    crate::cargo(&["build", "--release", "--bins"], &[])?;
    let root = crate::workspace_root();
    let ipctop = root.join("target/release/ipctop");
    let wl = root.join("target/release/ipctop-workload");
    // A waiter, an AB/BA deadlock, a leaked segment and a queue left with messages, a segment
    // shared by three processes, refused calls (EEXIST, EACCES, EINVAL) and some traffic.
    let script = format!(
        "W='{wl} --name ipcdemo'; \
         $W --hold-for 9 sem-blocked >/dev/null & \
         sleep 0.5; $W --hold-for 6 deadlock >/dev/null & \
         $W --hold-for 9 --leave orphan-shm >/dev/null & \
         $W --hold-for 9 --leave queue-left 5 >/dev/null & \
         $W --hold-for 9 shm-attached 3 >/dev/null & \
         sleep 1; $W eexist >/dev/null; $W eacces >/dev/null; $W basic >/dev/null; \
         for i in 1 2 3; do $W burst 20000 >/dev/null; sleep 1; done; \
         wait",
        wl = wl.display()
    );
    let out = root.join(&args.out);
    if let Some(d) = out.parent() {
        std::fs::create_dir_all(d)?;
    }
    let status = Command::new("unshare")
        .arg("--ipc")
        .arg(&ipctop)
        .args(["record", "--interval", "0.5", "--comm", "ipcdemo", "-o"])
        .arg(&out)
        .args(["--", "sh", "-c", &script])
        .status()?;
    if !status.success() {
        bail!("recording the demo failed ({status})");
    }
    let size = std::fs::metadata(&out)?.len();
    println!("demo: {} ({} KiB)", out.display(), size / 1024);
    let report = Command::new(&ipctop).arg("report").arg(&out).output()?;
    print!("{}", String::from_utf8_lossy(&report.stdout));
    Ok(())
}
