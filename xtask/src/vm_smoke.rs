//! `cargo xtask vm-smoke`: boots other kernels under QEMU and checks that the probe loads there
//! and sees the right events.
//!
//! The guest is an initramfs with static busybox, `ipctop`, `ipctop-workload` and the glibc
//! they link against; its `/init` (assets-vm/init.sh) runs the cases and writes one record per
//! line on the second serial port: `@@vm <case> <stream> <text>`. This module fetches and caches
//! the kernels (Debian packages, under target/vm-kernels/), packs the initramfs, boots each
//! kernel, parses the records ([`parse`]) and judges each case ([`judge`]).
use std::{
    collections::BTreeMap,
    fmt, fs,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::{cargo, setup, workspace_root};

// What `ipctop-workload basic` must look like through ipctop: shared with the probe's tests.
#[path = "../../monitor/tests/support/basic.rs"]
mod basic;
pub use basic::{check_basic, BASIC_CALLS};

const INIT: &str = include_str!("../assets-vm/init.sh");
/// Kernel series tested when no kernel is named: the newest Debian package of each.
const DEFAULT_SERIES: &[&str] = &["6.1", "6.12"];
const RECORD: &str = "@@vm ";

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
        None => INIT.to_string(),
    };
    let bins = args.bin_dir.clone().unwrap_or(root.join("target/release"));
    pack_initramfs(&bins, &args.add, &init, &initrd)?;
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

// ---------------------------------------------------------------------------------------------
// Kernels

/// (label, vmlinuz) of every kernel to boot, fetching the packages that are not cached yet.
fn kernels(args: &Args, cache: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for k in &args.kernel {
        anyhow::ensure!(k.is_file(), "--kernel {}: no such file", k.display());
        // vmlinuz-6.1.0-56-amd64 → 6.1.0-56-amd64; a cached …/<package>/vmlinuz → its package's.
        let name = k.file_name().unwrap_or_default().to_string_lossy();
        let label = match name.strip_prefix("vmlinuz-") {
            Some(v) => v.to_string(),
            None if name == "vmlinuz" => k
                .canonicalize()?
                .parent()
                .and_then(|p| p.file_name())
                .map_or(name.to_string(), |p| kernel_label(&p.to_string_lossy())),
            None => name.to_string(),
        };
        out.push((label, k.clone()));
    }
    let mut packages = args.package.clone();
    let series: Vec<String> = if args.kernel.is_empty() && args.package.is_empty() {
        DEFAULT_SERIES.iter().map(|s| s.to_string()).collect()
    } else {
        args.series.clone()
    };
    for s in &series {
        packages.push(newest_package(s, cache, args.refresh)?);
    }
    for p in &packages {
        out.push((kernel_label(p), fetch_package(p, cache)?));
    }
    Ok(out)
}

/// "linux-image-6.1.0-56-amd64-unsigned" → "6.1.0-56-amd64".
fn kernel_label(pkg: &str) -> String {
    let s = pkg.strip_prefix("linux-image-").unwrap_or(pkg);
    s.strip_suffix("-unsigned").unwrap_or(s).to_string()
}

/// Is `pkg` the generic amd64 kernel package of `series` (not cloud, not rt, not 6.10 for 6.1)?
fn in_series(pkg: &str, series: &str) -> bool {
    pkg.strip_prefix("linux-image-")
        .and_then(|s| s.strip_prefix(series))
        .is_some_and(|s| s.starts_with('.') || s.starts_with('-'))
        && pkg.ends_with("-amd64-unsigned")
        && !pkg.ends_with("-cloud-amd64-unsigned")
        && !pkg.ends_with("-rt-amd64-unsigned")
}

/// Orders "6.1.0-9" before "6.1.0-56": digit runs compare as numbers.
fn version_key(s: &str) -> Vec<(u64, String)> {
    let mut key = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits > 0 {
            key.push((rest[..digits].parse().unwrap_or(u64::MAX), String::new()));
            rest = &rest[digits..];
        } else {
            let text = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            key.push((0, rest[..text].to_string()));
            rest = &rest[text..];
        }
    }
    key
}

fn newest<'a>(names: impl Iterator<Item = &'a str>, series: &str) -> Option<String> {
    names
        .filter(|n| in_series(n, series))
        .max_by_key(|n| version_key(n))
        .map(str::to_string)
}

/// The newest package of `series`: the cached one, unless `refresh` or none is cached.
fn newest_package(series: &str, cache: &Path, refresh: bool) -> Result<String> {
    if !refresh {
        let cached: Vec<String> = fs::read_dir(cache)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().join("vmlinuz").is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(p) = newest(cached.iter().map(String::as_str), series) {
            return Ok(p);
        }
    }
    let search = || -> Result<Option<String>> {
        let pattern = format!(
            "^linux-image-{}[.-].*-amd64-unsigned$",
            series.replace('.', "\\.")
        );
        let out = Command::new("apt-cache")
            .args(["search", "--names-only", &pattern])
            .output()
            .context("running apt-cache")?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(newest(
            text.lines().filter_map(|l| l.split_whitespace().next()),
            series,
        ))
    };
    if let Some(p) = search()? {
        return Ok(p);
    }
    eprintln!("vm-smoke: no package for kernel {series} in apt's lists; running apt-get update");
    let ok = Command::new("apt-get")
        .args(["update", "-qq"])
        .status()
        .context("running apt-get update")?;
    anyhow::ensure!(ok.success(), "apt-get update failed");
    search()?.with_context(|| format!("no Debian package linux-image-{series}.*-amd64-unsigned"))
}

/// The vmlinuz of package `pkg`, downloaded and extracted into `cache/pkg/` the first time.
fn fetch_package(pkg: &str, cache: &Path) -> Result<PathBuf> {
    anyhow::ensure!(
        !pkg.is_empty()
            && pkg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.~".contains(c)),
        "not a package name: {pkg:?}"
    );
    let dir = cache.join(pkg);
    let vmlinuz = dir.join("vmlinuz");
    if vmlinuz.is_file() {
        return Ok(vmlinuz);
    }
    let tmp = cache.join(format!(".{pkg}.tmp"));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    eprintln!("vm-smoke: fetching {pkg} (apt-get download)");
    let st = Command::new("apt-get")
        .args(["download", "-qq", "-o", "APT::Sandbox::User=root", pkg])
        .current_dir(&tmp)
        .status()
        .context("running apt-get download")?;
    anyhow::ensure!(st.success(), "apt-get download {pkg} failed");
    let deb = fs::read_dir(&tmp)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .with_context(|| format!("apt-get download {pkg} left no .deb"))?;
    let st = Command::new("sh")
        .arg("-c")
        .arg("dpkg-deb --fsys-tarfile \"$0\" | tar -x -C \"$1\" --wildcards './boot/vmlinuz-*' './boot/config-*'")
        .arg(&deb)
        .arg(&tmp)
        .status()?;
    anyhow::ensure!(st.success(), "extracting the kernel from {}", deb.display());
    for e in fs::read_dir(tmp.join("boot"))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let to = if name.starts_with("vmlinuz-") {
            "vmlinuz"
        } else {
            "config"
        };
        fs::rename(e.path(), tmp.join(to))?;
        fs::write(
            tmp.join("release"),
            name.split_once('-').map_or("", |x| x.1),
        )?;
    }
    fs::remove_file(&deb)?;
    fs::remove_dir(tmp.join("boot"))?;
    anyhow::ensure!(
        tmp.join("vmlinuz").is_file(),
        "{pkg} has no /boot/vmlinuz-*"
    );
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&tmp, &dir)?;
    Ok(vmlinuz)
}

// ---------------------------------------------------------------------------------------------
// Initramfs

/// A `cpio -H newc` archive, written directly (device nodes need no mknod on the host).
struct Cpio<W: Write> {
    w: W,
    ino: u32,
}

impl<W: Write> Cpio<W> {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) -> Result<()> {
        self.ino += 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            if mode & 0o170000 == 0o040000 { 2 } else { 1 },
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        self.w.write_all(header.as_bytes())?;
        self.w.write_all(name.as_bytes())?;
        self.w.write_all(&[0])?;
        self.pad(110 + name.len() + 1)?;
        self.w.write_all(data)?;
        self.pad(data.len())
    }

    fn pad(&mut self, len: usize) -> Result<()> {
        self.w.write_all(&[0; 3][..(4 - len % 4) % 4])?;
        Ok(())
    }

    fn dir(&mut self, name: &str) -> Result<()> {
        self.entry(name, 0o040755, (0, 0), &[])
    }

    fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> Result<()> {
        self.entry(name, 0o100000 | mode, (0, 0), data)
    }

    fn finish(mut self) -> Result<W> {
        self.entry("TRAILER!!!", 0, (0, 0), &[])?;
        Ok(self.w)
    }
}

/// The shared libraries `bin` needs, from ldd: (path in the guest, file on the host).
fn libraries(bin: &Path) -> Result<Vec<(String, PathBuf)>> {
    let out = Command::new("ldd")
        .arg(bin)
        .output()
        .context("running ldd")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut libs = Vec::new();
    for l in text.lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
        let path = match l.split_once("=>") {
            Some((_, r)) => r.split_whitespace().next(),
            None => l.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push((p.to_string(), fs::canonicalize(p)?));
        }
    }
    Ok(libs)
}

/// A copy of `bin` without debug info next to `out` (the guest needs no line tables, and a
/// smaller initramfs boots faster under TCG); `bin` itself when `strip` is not there.
fn stripped(bin: &Path, out: &Path) -> Result<PathBuf> {
    let dir = out.with_extension("bin");
    fs::create_dir_all(&dir)?;
    let to = dir.join(bin.file_name().unwrap_or_default());
    let ok = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&to)
        .arg(bin)
        .status()
        .is_ok_and(|s| s.success());
    Ok(if ok { to } else { bin.to_path_buf() })
}

fn pack_initramfs(release: &Path, add: &[PathBuf], init: &str, out: &Path) -> Result<()> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .context("busybox not found: apt-get install busybox-static (cargo xtask setup)")?;
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    files.insert("/bin/busybox".into(), busybox.to_path_buf());
    let bins = ["ipctop", "ipctop-workload"].map(|b| release.join(b));
    for p in bins.iter().chain(add) {
        let p = p.clone();
        let b = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        anyhow::ensure!(
            p.is_file(),
            "{} is missing: cargo build --release",
            p.display()
        );
        for (guest, host) in libraries(&p)? {
            files.insert(guest, host);
        }
        files.insert(format!("/bin/{b}"), stripped(&p, out)?);
    }
    let mut cpio = Cpio {
        w: std::io::BufWriter::new(fs::File::create(out)?),
        ino: 0,
    };
    let mut dirs: Vec<String> = ["dev", "proc", "sys", "tmp", "run"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for guest in files.keys() {
        let mut p = Path::new(guest.trim_start_matches('/')).parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            dirs.push(d.to_string_lossy().into_owned());
            p = d.parent();
        }
    }
    dirs.sort();
    dirs.dedup();
    for d in &dirs {
        cpio.dir(d)?;
    }
    cpio.entry("dev/console", 0o020600, (5, 1), &[])?;
    cpio.file("init", 0o755, init.as_bytes())?;
    for (guest, host) in &files {
        let data = fs::read(host).with_context(|| format!("reading {}", host.display()))?;
        cpio.file(guest.trim_start_matches('/'), 0o755, &data)?;
    }
    cpio.finish()?.flush()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// QEMU

/// Boots `vmlinuz` with the initramfs; the console goes to dir/console.log, the records to
/// dir/results.log. Ok(false) when it had to be killed after the timeout.
fn boot(vmlinuz: &Path, initrd: &Path, dir: &Path, args: &Args) -> Result<bool> {
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

fn console_tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r').trim())
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

// ---------------------------------------------------------------------------------------------
// The guest's records

/// What one guest reported: its facts (`-` records) and each case's streams.
#[derive(Debug, Default)]
pub struct Guest {
    pub facts: BTreeMap<String, String>,
    /// Cases in the order they began.
    pub cases: Vec<Case>,
}

#[derive(Debug, Default)]
pub struct Case {
    pub name: String,
    /// stream → lines, e.g. "err", "out", "wl", "verifier", "exit", "begin".
    pub streams: BTreeMap<String, Vec<String>>,
}

impl Case {
    fn lines(&self, stream: &str) -> &[String] {
        self.streams.get(stream).map_or(&[], Vec::as_slice)
    }

    /// A `key=value` of the case's exit record.
    fn exit_field(&self, key: &str) -> Option<&str> {
        self.lines("exit")
            .first()?
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }
}

/// The records in a serial-port capture; anything else (noise, `\r`) is ignored.
pub fn parse(text: &str) -> Guest {
    let mut g = Guest::default();
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        let Some(rec) = line.find(RECORD).map(|i| &line[i + RECORD.len()..]) else {
            continue;
        };
        let mut parts = rec.splitn(3, ' ');
        let (Some(case), Some(stream)) = (parts.next(), parts.next()) else {
            continue;
        };
        let text = parts.next().unwrap_or("").to_string();
        if case == "-" {
            g.facts.insert(stream.to_string(), text);
            continue;
        }
        if stream == "begin" || !g.cases.iter().any(|c| c.name == case) {
            g.cases.push(Case {
                name: case.to_string(),
                ..Default::default()
            });
        }
        let c = g.cases.iter_mut().rev().find(|c| c.name == case).unwrap();
        c.streams.entry(stream.to_string()).or_default().push(text);
    }
    g
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Pass,
    /// The probe could not load: ipctop said why and exited 3 (it degrades to snapshots).
    SnapshotOnly,
    Fail,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "PASS",
            Outcome::SnapshotOnly => "SNAPSHOT-ONLY",
            Outcome::Fail => "FAIL",
        })
    }
}

#[derive(Debug)]
pub struct CaseVerdict {
    pub name: String,
    pub outcome: Outcome,
    /// Where the probe attached, or why it could not load.
    pub probe: String,
    pub seen: usize,
    pub expected: usize,
    pub problems: Vec<String>,
}

#[derive(Debug)]
pub struct Verdict {
    pub kernel: String,
    pub outcome: Outcome,
    pub cases: Vec<CaseVerdict>,
    pub notes: Vec<String>,
}

impl Verdict {
    fn failed(note: String) -> Verdict {
        Verdict {
            kernel: "?".into(),
            outcome: Outcome::Fail,
            cases: Vec::new(),
            notes: vec![note],
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} kernel {}", self.outcome, self.kernel)?;
        for c in &self.cases {
            write!(f, "; {} {}: {}", c.name, c.outcome, c.probe)?;
            if c.outcome != Outcome::SnapshotOnly {
                let at_least = if c.name == "record" { "≥" } else { "" };
                write!(f, ", events {}/{at_least}{}", c.seen, c.expected)?;
            }
            if !c.problems.is_empty() {
                write!(f, " ({})", c.problems.join("; "))?;
            }
        }
        for n in &self.notes {
            write!(f, "; {n}")?;
        }
        Ok(())
    }
}

/// Every case's verdict; the kernel's outcome is the worst of them (and Fail without cases or
/// without the guest's final `done`).
pub fn judge(g: &Guest) -> Verdict {
    let mut v = Verdict {
        kernel: g.facts.get("kernel").cloned().unwrap_or_else(|| "?".into()),
        outcome: Outcome::Pass,
        cases: g.cases.iter().map(judge_case).collect(),
        notes: Vec::new(),
    };
    for fact in ["btf", "tracefs", "bpffs"] {
        if g.facts.get(fact).is_some_and(|x| x != "yes") {
            v.notes.push(format!("no {fact}"));
        }
    }
    v.outcome = v
        .cases
        .iter()
        .map(|c| c.outcome)
        .max()
        .unwrap_or(Outcome::Fail);
    if v.cases.is_empty() {
        v.notes.push("the guest ran no case".into());
    }
    if !g.facts.contains_key("done") {
        v.outcome = Outcome::Fail;
        v.notes.push("the guest did not finish".into());
    }
    v
}

/// Where `ipctop trace` said it attached ("raw tracepoints …"), from its start message.
fn attached_via(err: &[String]) -> Option<String> {
    let l = err.iter().find(|l| l.starts_with("ipctop: tracing"))?;
    let via = l.split_once(" via ")?.1;
    Some(via.split("; Ctrl-C").next().unwrap_or(via).to_string())
}

fn judge_case(c: &Case) -> CaseVerdict {
    if c.name == "record" {
        return judge_record(c);
    }
    let mut v = CaseVerdict {
        name: c.name.clone(),
        outcome: Outcome::Fail,
        probe: String::new(),
        seen: 0,
        expected: BASIC_CALLS.len(),
        problems: Vec::new(),
    };
    let err = c.lines("err");
    let trace_code = c.exit_field("trace");
    if c.lines("exit").is_empty() {
        v.probe = "no result (the guest stopped in this case)".into();
        return v;
    }
    if trace_code == Some("3") {
        // ipctop's own sentence for why the probe cannot run here, then the loader's log tail.
        v.outcome = Outcome::SnapshotOnly;
        let why = err.first().map_or("", |s| s.as_str());
        v.probe = format!("probe not loaded: {}", why.trim_start_matches("ipctop: "));
        let log = c.lines("verifier");
        if let Some(last) = log.iter().rev().find(|l| !l.trim().is_empty()) {
            v.probe
                .push_str(&format!(" [-v log ends: {}]", last.trim()));
        }
        return v;
    }
    let Some(via) = attached_via(err) else {
        v.probe = format!(
            "probe did not start (exit {}): {}",
            trace_code.unwrap_or("?"),
            err.join(" / ")
        );
        return v;
    };
    v.probe = format!("loaded via {via}");
    if trace_code != Some("0") {
        v.problems
            .push(format!("ipctop trace exited {}", trace_code.unwrap_or("?")));
    }
    if c.exit_field("workload") != Some("0") {
        v.problems.push(format!(
            "workload exited {}: {}",
            c.exit_field("workload").unwrap_or("?"),
            c.lines("wlerr").join(" / ")
        ));
    }
    let mut events = Vec::new();
    let mut summary = Value::Null;
    for l in c.lines("out") {
        match serde_json::from_str::<Value>(l) {
            Ok(j) => match j.get("summary") {
                Some(s) => summary = s.clone(),
                None => events.push(j),
            },
            Err(e) => v.problems.push(format!("bad JSON line ({e}): {l}")),
        }
    }
    v.seen = events.len();
    let wl = c
        .lines("wl")
        .iter()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .unwrap_or(Value::Null);
    if wl.is_null() {
        v.problems.push("the workload printed no result".into());
    } else {
        v.problems.extend(check_basic(&wl, &events, &summary));
    }
    if v.problems.is_empty() {
        v.outcome = Outcome::Pass;
    }
    v
}

/// Calls the record case makes at the least (basic 18, eexist 3, the orphan's creator 1, the
/// deadlock's sets, values, holds and waits 10; the deadlock's ncnt polling adds more).
pub const RECORD_MIN_CALLS: usize = 32;

/// The record case: `ipctop record -- <known findings>` then `ipctop report`.
fn judge_record(c: &Case) -> CaseVerdict {
    let mut v = CaseVerdict {
        name: c.name.clone(),
        outcome: Outcome::Fail,
        probe: String::new(),
        seen: 0,
        expected: RECORD_MIN_CALLS,
        problems: Vec::new(),
    };
    if c.lines("exit").is_empty() {
        v.probe = "no result (the guest stopped in this case)".into();
        return v;
    }
    let json = |stream: &str| -> Value {
        serde_json::from_str(&c.lines(stream).join("\n")).unwrap_or(Value::Null)
    };
    let report = json("report");
    let probe = report["recording"]["probe"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if let Some(why) = probe.strip_prefix("snapshots only: ") {
        v.outcome = Outcome::SnapshotOnly;
        v.probe = format!("probe not loaded: {why}");
        return v;
    }
    v.probe = match probe.strip_prefix("attached: ") {
        Some(via) => format!("recorded via {via}"),
        None => format!(
            "no report (record exit {}, report exit {}): {}",
            c.exit_field("record").unwrap_or("?"),
            c.exit_field("report").unwrap_or("?"),
            c.lines("err")
                .iter()
                .chain(c.lines("rerr"))
                .cloned()
                .collect::<Vec<_>>()
                .join(" / ")
        ),
    };
    if report.is_null() {
        return v;
    }
    let mut p = Vec::new();
    for (k, want) in [
        ("record", "0"),
        ("report", "0"),
        ("gate", "1"),
        ("clean", "0"),
    ] {
        if c.exit_field(k) != Some(want) {
            p.push(format!(
                "{k} exited {}, expected {want}",
                c.exit_field(k).unwrap_or("?")
            ));
        }
    }
    v.seen = report["events"]["total"].as_u64().unwrap_or(0) as usize;
    if v.seen < RECORD_MIN_CALLS {
        p.push(format!(
            "{} calls counted, expected at least {RECORD_MIN_CALLS}",
            v.seen
        ));
    }
    if report["events"]["dropped"] != 0 {
        p.push(format!("dropped {}", report["events"]["dropped"]));
    }
    let dl = json("dl");
    let want: std::collections::BTreeSet<u64> = dl["pids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let found = report["along_the_way"]["deadlocks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let hit = found.iter().any(|d| {
        d["pids"].as_array().is_some_and(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .collect::<std::collections::BTreeSet<_>>()
                == want
        })
    });
    if want.is_empty() || !hit {
        p.push(format!(
            "deadlock of pids {want:?} not reported ({} found)",
            found.len()
        ));
    }
    let orphan = json("orphan");
    let leaks = report["leaks"].as_array().cloned().unwrap_or_default();
    if !leaks
        .iter()
        .any(|l| l["kind"] == "shm" && l["id"] == orphan["shmid"])
    {
        p.push(format!("leaked segment {} not reported", orphan["shmid"]));
    }
    let errors = report["errors"].as_array().cloned().unwrap_or_default();
    for (sys, errno) in [("shmget", "EEXIST"), ("semctl", "EINVAL")] {
        if !errors
            .iter()
            .any(|e| e["syscall"] == sys && e["errno"] == errno)
        {
            p.push(format!("{sys} {errno} not reported"));
        }
    }
    v.problems = p;
    if v.problems.is_empty() {
        v.outcome = Outcome::Pass;
    }
    v
}

// ---------------------------------------------------------------------------------------------
// The `basic` scenario's expectations (as in monitor/tests/probe_real.rs)

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from real guests: 6.12 passing both cases; 6.1 refusing the raw tracepoint
    /// program (EACCES) and passing with the per-syscall tracepoints.
    const PASS_612: &str = include_str!("../assets-vm/samples/6.12-pass.txt");
    const RAW_REFUSED_61: &str = include_str!("../assets-vm/samples/6.1-raw-refused.txt");
    /// 6.1 passing all three cases, the third being `ipctop record -- …` + `ipctop report`.
    const PASS_61_RECORD: &str = include_str!("../assets-vm/samples/6.1-pass-with-record.txt");

    #[test]
    fn the_record_case_passes_on_known_findings_and_fails_without_them() {
        let v = judge(&parse(PASS_61_RECORD));
        assert_eq!(v.outcome, Outcome::Pass, "{v}");
        let r = case(&v, "record");
        assert_eq!(r.outcome, Outcome::Pass, "{v}");
        assert!(r.seen >= RECORD_MIN_CALLS);
        assert!(r.probe.starts_with("recorded via "), "{}", r.probe);
        // The same guest output with the deadlock missing from the report: a failure, named.
        let no_deadlock: String = PASS_61_RECORD
            .lines()
            .map(|l| {
                if l.contains("@@vm record report") && l.contains("\"deadlocks\": [") {
                    l.replace("\"deadlocks\": [", "\"deadlocks_gone\": [")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let v = judge(&parse(&no_deadlock));
        let r = case(&v, "record");
        assert_eq!(r.outcome, Outcome::Fail, "{v}");
        assert!(
            r.problems.iter().any(|p| p.contains("deadlock")),
            "{:?}",
            r.problems
        );
        // A gate that did not fail on known findings is a failure too.
        let soft = PASS_61_RECORD.replace(" gate=1 ", " gate=0 ");
        let v = judge(&parse(&soft));
        assert_eq!(case(&v, "record").outcome, Outcome::Fail);
    }

    fn case<'a>(v: &'a Verdict, name: &str) -> &'a CaseVerdict {
        v.cases.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn a_passing_guest_passes_with_both_attach_modes() {
        let g = parse(PASS_612);
        assert_eq!(g.facts["kernel"], "6.12.117+deb12-amd64");
        assert_eq!(g.facts["btf"], "yes");
        let v = judge(&g);
        assert_eq!(v.outcome, Outcome::Pass, "{v}");
        assert_eq!(v.cases.len(), 2);
        let raw = case(&v, "raw");
        assert_eq!((raw.seen, raw.expected), (18, 18));
        assert_eq!(
            raw.probe,
            "loaded via raw tracepoints sys_enter/sys_exit (as asked)"
        );
        assert!(case(&v, "tracepoint")
            .probe
            .contains("per-syscall tracepoints"));
        let line = v.to_string();
        assert!(line.starts_with("PASS kernel 6.12.117+deb12-amd64; raw PASS: loaded via raw"));
        assert!(line.contains("events 18/18"), "{line}");
    }

    #[test]
    fn a_probe_that_cannot_load_is_snapshot_only_not_a_failure() {
        let v = judge(&parse(RAW_REFUSED_61));
        assert_eq!(v.kernel, "6.1.0-56-amd64");
        assert_eq!(v.outcome, Outcome::SnapshotOnly, "{v}");
        let raw = case(&v, "raw");
        assert_eq!(raw.outcome, Outcome::SnapshotOnly);
        assert!(raw
            .probe
            .starts_with("probe not loaded: loading the eBPF probe was refused"));
        assert_eq!(case(&v, "tracepoint").outcome, Outcome::Pass);
        assert!(!v.to_string().contains("events 0/18"), "{v}");
    }

    #[test]
    fn console_noise_and_carriage_returns_are_ignored() {
        let noisy: String = PASS_612
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i % 5 == 0 {
                    format!("[    3.1{i}] random: crng init done\r\n{l}\r\n")
                } else {
                    format!("{l}\r\n")
                }
            })
            .collect();
        let v = judge(&parse(&noisy));
        assert_eq!(v.outcome, Outcome::Pass, "{v}");
    }

    #[test]
    fn a_guest_that_stops_early_fails() {
        let cut: String = PASS_612
            .lines()
            .take_while(|l| !l.starts_with("@@vm tracepoint out"))
            .map(|l| format!("{l}\n"))
            .collect();
        let v = judge(&parse(&cut));
        assert_eq!(v.outcome, Outcome::Fail, "{v}");
        assert_eq!(case(&v, "raw").outcome, Outcome::Pass);
        assert!(case(&v, "tracepoint").probe.starts_with("no result"));
        assert!(v.to_string().contains("the guest did not finish"));
        assert_eq!(judge(&parse("")).outcome, Outcome::Fail);
    }

    #[test]
    fn a_missing_event_or_a_wrong_argument_fails() {
        let mut dropped = false;
        let missing: String = PASS_612
            .lines()
            .filter(|l| {
                let hit = !dropped && l.starts_with("@@vm raw out") && l.contains("\"shmdt\"");
                dropped |= hit;
                !hit
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(dropped);
        let v = judge(&parse(&missing));
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(case(&v, "raw").seen, 17);
        assert_eq!(case(&v, "tracepoint").outcome, Outcome::Pass);

        let wrong = PASS_612.replacen("\"nsems\":3", "\"nsems\":0", 1);
        assert_ne!(wrong, PASS_612);
        let v = judge(&parse(&wrong));
        let raw = case(&v, "raw");
        assert_eq!(raw.outcome, Outcome::Fail);
        assert_eq!(raw.problems, ["semget nsems = 0, expected 3"]);
    }

    #[test]
    fn a_probe_that_loads_but_sees_nothing_fails() {
        let none: String = PASS_612
            .lines()
            .filter(|l| !(l.starts_with("@@vm tracepoint out {\"ts_ns\"")))
            .map(|l| format!("{l}\n"))
            .collect();
        let v = judge(&parse(&none));
        let tp = case(&v, "tracepoint");
        assert_eq!((tp.outcome, tp.seen), (Outcome::Fail, 0));
    }

    #[test]
    fn kernel_packages_are_chosen_by_series_and_version() {
        assert!(in_series("linux-image-6.1.0-56-amd64-unsigned", "6.1"));
        assert!(!in_series(
            "linux-image-6.12.117+deb12-amd64-unsigned",
            "6.1"
        ));
        assert!(in_series(
            "linux-image-6.12.117+deb12-amd64-unsigned",
            "6.12"
        ));
        assert!(!in_series(
            "linux-image-6.1.0-56-cloud-amd64-unsigned",
            "6.1"
        ));
        assert!(!in_series("linux-image-6.1.0-56-rt-amd64-unsigned", "6.1"));
        let names = [
            "linux-image-6.1.0-9-amd64-unsigned",
            "linux-image-6.1.0-56-amd64-unsigned",
            "linux-image-6.1.0-47-amd64-unsigned",
            "linux-image-6.1.0-99-cloud-amd64-unsigned",
            "linux-image-6.12.99+deb12-amd64-unsigned",
            "linux-image-6.12.117+deb12-amd64-unsigned",
        ];
        assert_eq!(
            newest(names.into_iter(), "6.1").as_deref(),
            Some("linux-image-6.1.0-56-amd64-unsigned")
        );
        assert_eq!(
            newest(names.into_iter(), "6.12").as_deref(),
            Some("linux-image-6.12.117+deb12-amd64-unsigned")
        );
        assert_eq!(newest(names.into_iter(), "6.6"), None);
        assert_eq!(
            kernel_label("linux-image-6.12.117+deb12-amd64-unsigned"),
            "6.12.117+deb12-amd64"
        );
    }

    #[test]
    fn cpio_entries_are_newc_and_aligned() {
        let mut c = Cpio {
            w: Vec::new(),
            ino: 0,
        };
        c.dir("bin").unwrap();
        c.file("bin/x", 0o755, b"hello").unwrap();
        let out = c.finish().unwrap();
        assert_eq!(out.len() % 4, 0);
        assert!(out.starts_with(b"070701"));
        // The file's header: mode 0100755, size 5, name "bin/x\0" (6 bytes).
        let at = out.windows(5).position(|w| w == b"bin/x").unwrap() - 110;
        let h = std::str::from_utf8(&out[at..at + 110]).unwrap();
        assert_eq!(&h[14..22], "000081ed");
        assert_eq!(&h[54..62], "00000005");
        assert_eq!(&h[94..102], "00000006");
        assert_eq!(&out[at + 116..at + 121], b"hello"); // after 110 + 6 bytes, already aligned
    }
}
