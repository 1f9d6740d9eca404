//! The guest's initramfs: a `newc` cpio written directly, with the binaries, the libraries
//! they link against and the /init script.
use std::{
    collections::BTreeMap,
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result};

/// A `cpio -H newc` archive, written directly (device nodes need no mknod on the host).
pub(super) struct Cpio<W: Write> {
    w: W,
    ino: u32,
}

impl<W: Write> Cpio<W> {
    pub(super) fn new(w: W) -> Self {
        Cpio { w, ino: 0 }
    }

    pub(super) fn entry(
        &mut self,
        name: &str,
        mode: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> Result<()> {
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

    pub(super) fn dir(&mut self, name: &str) -> Result<()> {
        self.entry(name, 0o040755, (0, 0), &[])
    }

    pub(super) fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> Result<()> {
        self.entry(name, 0o100000 | mode, (0, 0), data)
    }

    pub(super) fn finish(mut self) -> Result<W> {
        self.entry("TRAILER!!!", 0, (0, 0), &[])?;
        Ok(self.w)
    }
}

/// The shared libraries `bin` needs, from ldd: (path in the guest, file on the host).
pub(super) fn libraries(bin: &Path) -> Result<Vec<(String, PathBuf)>> {
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
pub(super) fn stripped(bin: &Path, out: &Path) -> Result<PathBuf> {
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

pub(super) fn pack_initramfs(
    release: &Path,
    add: &[PathBuf],
    init: &str,
    out: &Path,
) -> Result<()> {
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
    let mut cpio = Cpio::new(std::io::BufWriter::new(fs::File::create(out)?));
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

/// The 32-bit workload of the compat cases (monitor/tests/compat/legacy32.c), built static with
/// `gcc -m32` (gcc-multilib) into `work`.
pub(super) fn legacy32(root: &Path, work: &Path) -> Result<PathBuf> {
    let out = work.join("legacy32");
    let ok = Command::new("gcc")
        .args(["-m32", "-static", "-O1", "-o"])
        .arg(&out)
        .arg(root.join("monitor/tests/compat/legacy32.c"))
        .status()
        .context("running gcc")?
        .success();
    anyhow::ensure!(
        ok,
        "gcc -m32 failed: install gcc-multilib (cargo xtask setup)"
    );
    Ok(out)
}
