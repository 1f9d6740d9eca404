//! Installs what the eBPF build and the tests need, only what is missing, so that it is fast
//! and quiet when everything is there. Recipe and versions: ../shared/ebpf-toolchain.md.
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Debian packages bpf-linker builds against.
const BUILD_PACKAGES: &[&str] = &["llvm-22-dev", "libpolly-22-dev"];
/// Debian packages the tests, cross-checks, benchmarks and VM smoke tests use.
const TOOL_PACKAGES: &[&str] = &[
    "util-linux",
    "bpftool",
    "bpftrace",
    "tmux",
    "strace",
    // pahole: the BTF reader's offsets are checked against it.
    "dwarves",
    "qemu-system-x86",
    "busybox-static",
    "cpio",
    "zstd",
    "bash",
    "groff-base",
    "man-db",
    // promtool and prometheus: the exporter's tests (`ipctop serve`, alerting rules); the
    // rest for its TLS test (openssl, curl), its hostile clients (python3), its package
    // (dpkg-dev: dpkg-shlibdeps for the dependencies; file; systemd: systemd-analyze).
    "prometheus",
    "openssl",
    "curl",
    "python3",
    "dpkg-dev",
    "file",
    "systemd",
    // gcc -m32: the 32-bit workload of the compat tests and vm-smoke's 32-bit case (and cc
    // for posix_real's C workload).
    "gcc-multilib",
    // containers_real: podman with runc (crun refuses hybrid cgroups), runc alone for the
    // Kubernetes-style pod, docker.io (its daemon started by a test on a socket of its own),
    // catatonit (podman's pause binary), tar for the images made from a rootfs.
    "podman",
    "runc",
    "docker.io",
    "catatonit",
    "tar",
    // A real PostgreSQL for posix_pg_real (its own throwaway clusters; pgbench, psql).
    "postgresql",
];

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn setup(minimal: bool) -> Result<()> {
    let mut pkgs: Vec<&str> = BUILD_PACKAGES.to_vec();
    if !minimal {
        pkgs.extend_from_slice(TOOL_PACKAGES);
    }
    // bpf-linker only needs the LLVM packages to be built; once it is there they may go.
    let need_linker = !have("bpf-linker");
    let missing: Vec<&str> = pkgs
        .into_iter()
        .filter(|p| !installed(p))
        .filter(|p| need_linker || !BUILD_PACKAGES.contains(p))
        .collect();
    if !missing.is_empty() {
        eprintln!("xtask setup: installing {}", missing.join(" "));
        let sudo: &[&str] = if nix::unistd::geteuid().is_root() {
            &[]
        } else {
            &["sudo"]
        };
        let apt = |args: &[&str]| {
            let mut c = Command::new(sudo.first().copied().unwrap_or("apt-get"));
            if !sudo.is_empty() {
                c.arg("apt-get");
            }
            c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
            c
        };
        run(apt(&["update", "-qq"]).stdout(Stdio::null()))?;
        run(apt(&["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .stdout(Stdio::null()))?;
    }
    let has_src = Command::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("rust-src"))
        })
        .unwrap_or(false);
    if !has_src {
        eprintln!("xtask setup: adding rust-src to the nightly toolchain");
        run(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))?;
    }
    // cargo-deb: `cargo deb -p monitor` builds the .deb (README, monitor/tests/serve_deb.rs).
    if !minimal && !have("cargo-deb") {
        eprintln!("xtask setup: installing cargo-deb");
        run(Command::new("cargo").args(["install", "cargo-deb@3.8.0", "--locked"]))?;
    }
    if need_linker {
        eprintln!("xtask setup: installing bpf-linker (LLVM 22)");
        let path = format!(
            "/usr/lib/llvm-22/bin:{}",
            std::env::var("PATH").unwrap_or_default()
        );
        run(Command::new("cargo")
            .args([
                "install",
                "bpf-linker@0.13.0",
                "--locked",
                "--no-default-features",
                "--features",
                "llvm-22",
            ])
            .env("LLVM_PREFIX", "/usr/lib/llvm-22")
            .env("PATH", path))?;
    }
    Ok(())
}
