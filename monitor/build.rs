//! Builds the eBPF program (`monitor-ebpf`, for bpfel-unknown-none on the nightly toolchain)
//! into OUT_DIR, where `src/probe` embeds it. `AYA_BUILD_SKIP=1` skips it: ipctop then says at
//! run time that it was built without its probe.
use std::{env, fs, path::PathBuf};

fn main() -> anyhow::Result<()> {
    git_revision();
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let skip = env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let obj = out.join("monitor-ebpf");
    if skip {
        // An empty object: the probe loader reports it as "built without the eBPF probe".
        if !obj.exists() {
            fs::write(&obj, b"")?;
        }
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let ebpf_dir = manifest.join("../monitor-ebpf");
    let root = ebpf_dir.to_str().expect("utf-8 path");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "monitor-ebpf",
            root_dir: root,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "building the eBPF probe failed ({e:#}).\n\
             It needs the nightly toolchain with rust-src and bpf-linker: run `cargo xtask setup` \
             (or set AYA_BUILD_SKIP=1 to build ipctop without its probe)."
        )
    })
}

/// The git revision being built, for `ipctop_build_info` (`IPCTOP_GIT_REVISION`; left unset
/// outside a git checkout), rebuilt when HEAD moves.
fn git_revision() {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(rev) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return;
    };
    println!("cargo:rustc-env=IPCTOP_GIT_REVISION={rev}");
    let mut watch = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(git(&["rev-parse", "--git-path", &r]));
    }
    watch.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    for p in watch.into_iter().flatten() {
        if std::path::Path::new(&p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}
