//! The kernels to boot: named files, or Debian packages fetched (apt-get download) and cached
//! under target/vm-kernels/, the newest of a series unless named.
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result};

use super::{Args, DEFAULT_SERIES};

/// (label, vmlinuz) of every kernel to boot, fetching the packages that are not cached yet.
pub(super) fn kernels(args: &Args, cache: &Path) -> Result<Vec<(String, PathBuf)>> {
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
pub(super) fn kernel_label(pkg: &str) -> String {
    let s = pkg.strip_prefix("linux-image-").unwrap_or(pkg);
    s.strip_suffix("-unsigned").unwrap_or(s).to_string()
}

/// Is `pkg` the generic amd64 kernel package of `series` (not cloud, not rt, not 6.10 for 6.1)?
pub(super) fn in_series(pkg: &str, series: &str) -> bool {
    pkg.strip_prefix("linux-image-")
        .and_then(|s| s.strip_prefix(series))
        .is_some_and(|s| s.starts_with('.') || s.starts_with('-'))
        && pkg.ends_with("-amd64-unsigned")
        && !pkg.ends_with("-cloud-amd64-unsigned")
        && !pkg.ends_with("-rt-amd64-unsigned")
}

/// Orders "6.1.0-9" before "6.1.0-56": digit runs compare as numbers.
pub(super) fn version_key(s: &str) -> Vec<(u64, String)> {
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

pub(super) fn newest<'a>(names: impl Iterator<Item = &'a str>, series: &str) -> Option<String> {
    names
        .filter(|n| in_series(n, series))
        .max_by_key(|n| version_key(n))
        .map(str::to_string)
}

/// The newest package of `series`: the cached one, unless `refresh` or none is cached.
pub(super) fn newest_package(series: &str, cache: &Path, refresh: bool) -> Result<String> {
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
pub(super) fn fetch_package(pkg: &str, cache: &Path) -> Result<PathBuf> {
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
