//! Real-world cgroup paths of every runtime (systemd and cgroupfs drivers, v1 and v2,
//! nested), paths that must not match, garbage, and a real cgroup made and resolved here.
use std::{path::PathBuf, process::Command, time::Duration};

use super::{cgroup_ids::DEFAULT_CAP, *};

const ID: &str = "3f4e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f";
const ID2: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const POD: &str = "5f0c6f4e-1b2c-4d5e-8f9a-0b1c2d3e4f50";
const POD_: &str = "5f0c6f4e_1b2c_4d5e_8f9a_0b1c2d3e4f50";

fn c(runtime: Runtime, id: &str, pod: Option<&str>) -> Option<Container> {
    Some(Container {
        runtime,
        id: id.into(),
        pod_uid: pod.map(String::from),
    })
}

#[test]
fn docker() {
    let want = c(Runtime::Docker, ID, None);
    for p in [
        format!("/system.slice/docker-{ID}.scope"),
        format!("/docker/{ID}"),
        // A container running systemd, and one with its own sub-cgroups (cgroupns).
        format!("/system.slice/docker-{ID}.scope/init.scope"),
        format!("/system.slice/docker-{ID}.scope/system.slice/postgresql.service"),
    ] {
        assert_eq!(from_path(&p), want, "{p}");
    }
    // Docker in Docker: the innermost.
    assert_eq!(
        from_path(&format!("/docker/{ID2}/docker/{ID}")),
        want,
        "nested"
    );
    let k = want.unwrap();
    assert_eq!(k.short_id(), "3f4e5a6b7c8d");
    assert_eq!(k.label(), "docker:3f4e5a6b7c8d");
}

#[test]
fn podman() {
    let want = c(Runtime::Podman, ID, None);
    for p in [
        format!("/machine.slice/libpod-{ID}.scope"),
        format!("/machine.slice/libpod-{ID}.scope/container"),
        format!(
            "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container"
        ),
        format!("/machine.slice/machine-libpod_pod_{ID2}.slice/libpod-{ID}.scope/container"),
        format!("/libpod_parent/libpod-{ID}"),
    ] {
        assert_eq!(from_path(&p), want, "{p}");
    }
    // conmon, the container's monitor, runs on the host side.
    assert_eq!(
        from_path(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
        None
    );
}

#[test]
fn kubernetes_containerd_crio_and_cgroupfs() {
    let cases = [
        (
            format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_}.slice/cri-containerd-{ID}.scope"),
            c(Runtime::Containerd, ID, Some(POD)),
        ),
        (
            format!("/kubepods.slice/kubepods-pod{POD_}.slice/cri-containerd-{ID}.scope"),
            c(Runtime::Containerd, ID, Some(POD)),
        ),
        (
            format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD_}.slice/crio-{ID}.scope"),
            c(Runtime::Crio, ID, Some(POD)),
        ),
        (
            format!("/kubepods/burstable/pod{POD}/{ID}"),
            c(Runtime::Cri, ID, Some(POD)),
        ),
        (format!("/kubepods/pod{POD}/{ID}"), c(Runtime::Cri, ID, Some(POD))),
        (
            format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_}.slice/docker-{ID}.scope"),
            c(Runtime::Docker, ID, Some(POD)),
        ),
        // kind: a pod inside a node that is itself a Docker container.
        (
            format!("/system.slice/docker-{ID2}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{POD_}.slice/cri-containerd-{ID}.scope"),
            c(Runtime::Containerd, ID, Some(POD)),
        ),
        // Without Kubernetes.
        (format!("/system.slice/cri-containerd-{ID}.scope"), c(Runtime::Containerd, ID, None)),
        (format!("/system.slice/nerdctl-{ID}.scope"), c(Runtime::Containerd, ID, None)),
    ];
    for (p, want) in cases {
        assert_eq!(from_path(&p), want, "{p}");
    }
    // A pod's cgroup and the QoS slices are not containers; nor is crio's conmon.
    for p in [
        format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_}.slice"),
        format!("/kubepods/burstable/pod{POD}"),
        "/kubepods.slice/kubepods-burstable.slice".into(),
        format!("/kubepods.slice/kubepods-pod{POD_}.slice/crio-conmon-{ID}.scope"),
        // A 64-hex directory outside a pod is nobody's.
        format!("/system.slice/{ID}"),
    ] {
        assert_eq!(from_path(&p), None, "{p}");
    }
}

#[test]
fn nspawn_and_lxc() {
    let cases = [
        (
            "/machine.slice/systemd-nspawn@web.service/payload/system.slice/nginx.service",
            Runtime::Nspawn,
            "web",
        ),
        (
            "/machine.slice/systemd-nspawn@web.service",
            Runtime::Nspawn,
            "web",
        ),
        (
            "/machine.slice/systemd-nspawn@my\\x2dbox.service/payload",
            Runtime::Nspawn,
            "my-box",
        ),
        (
            "/machine.slice/machine-my\\x2dbox.scope",
            Runtime::Nspawn,
            "my-box",
        ),
        (
            "/machine.slice/machine-db.scope/payload/init.scope",
            Runtime::Nspawn,
            "db",
        ),
        (
            "/lxc.payload.web/system.slice/cron.service",
            Runtime::Lxc,
            "web",
        ),
        ("/lxc.payload.u1/init.scope", Runtime::Lxc, "u1"),
        ("/lxc/web/", Runtime::Lxc, "web"),
        ("/lxc/web/init.scope", Runtime::Lxc, "web"),
        ("/lxc.payload/old", Runtime::Lxc, "old"),
    ];
    for (p, r, name) in cases {
        assert_eq!(from_path(p), c(r, name, None), "{p}");
    }
    assert_eq!(from_path("/lxc.payload.web").unwrap().label(), "lxc:web");
    for p in [
        "/machine.slice/systemd-nspawn@web.service/supervisor",
        "/lxc.monitor.web",
        "/lxc/",
        "/machine.slice/systemd-nspawn@.service/payload",
        "/machine.slice/machine-.scope",
        // A slice of machined is not a machine.
        "/machine.slice/machine-libpod_pod_x.slice",
        "/lxc.payload.a\u{1}b",
    ] {
        assert_eq!(from_path(p), None, "{p}");
    }
}

#[test]
fn host_and_must_not_match() {
    for p in [
        "/",
        "",
        "/init.scope",
        "/user.slice/user-1000.slice/session-2.scope",
        "/system.slice/sshd.service",
        // The daemons themselves are on the host.
        "/system.slice/docker.service",
        "/system.slice/containerd.service",
        "/system.slice/podman.service",
        "/docker",
        "/docker/notanid",
        // One hex digit short, upper case, a suffix glued on.
        &format!("/system.slice/docker-{}.scope", &ID[1..]),
        &format!("/system.slice/docker-{}.scope", ID.to_uppercase()),
        &format!("/system.slice/docker-{ID}.scope.bak"),
        &format!("/system.slice/docker-{ID}x.scope"),
    ] {
        assert_eq!(from_path(p), None, "{p}");
    }
    assert_eq!(Container::host().label(), "host");
}

#[test]
fn proc_cgroup_files_v2_and_v1() {
    // Unified only.
    let k = from_proc_cgroup(&format!("0::/system.slice/docker-{ID}.scope\n"));
    assert_eq!(Some(k), c(Runtime::Docker, ID, None));
    // Hybrid (v1 controllers, name=systemd and an empty unified line): v1 says it.
    let hybrid = format!(
        "12:memory:/docker/{ID}\n11:cpu,cpuacct:/docker/{ID}\n1:name=systemd:/docker/{ID}\n0::/\n"
    );
    assert_eq!(
        Some(from_proc_cgroup(&hybrid)),
        c(Runtime::Docker, ID, None)
    );
    // The unified line first, then name=systemd, then the controllers.
    let mixed = format!(
        "4:memory:/docker/{ID2}\n1:name=systemd:/lxc/web\n0::/system.slice/libpod-{ID}.scope\n"
    );
    assert_eq!(Some(from_proc_cgroup(&mixed)), c(Runtime::Podman, ID, None));
    let mixed = format!("4:memory:/docker/{ID2}\n1:name=systemd:/lxc/web\n0::/\n");
    assert_eq!(Some(from_proc_cgroup(&mixed)), c(Runtime::Lxc, "web", None));
    // This machine's own shape.
    let here = "9:name=systemd:/\n4:memory:/process_api/2d228f0f45d8438ad5e30c04ec01245e\n0::/\n";
    assert!(from_proc_cgroup(here).is_host());
    assert_eq!(unified_path(here), Some("/"));
    assert_eq!(unified_path("1:name=systemd:/x\n"), None);
}

#[test]
fn garbage_never_panics() {
    for t in [
        "",
        "\n\n\n",
        ":::",
        "0::",
        "0:",
        "garbage",
        "0::/lxc/\u{0}",
        "0::/machine.slice/systemd-nspawn@\\x.service",
        "0::/machine.slice/systemd-nspawn@\\xzz.service",
        "0::/machine.slice/systemd-nspawn@\\xff\\xfe.service",
        "0::/machine.slice/machine-\\x",
        "0::/kubepods/podzz/x",
        "0::/kubepods.slice/kubepods-pod.slice",
        "0::/kubepods.slice/kubepods-.slice",
        "💥:💥:💥/docker/💥",
    ] {
        let _ = from_proc_cgroup(t);
    }
    let long = format!("0::{}", "/docker".repeat(100_000));
    assert!(from_proc_cgroup(&long).is_host());
    let long_name = format!("0::/lxc.payload.{}", "a".repeat(65));
    assert!(from_proc_cgroup(&long_name).is_host());
    // Pseudo-random bytes and cut-short real lines.
    let real = format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_}.slice/cri-containerd-{ID}.scope");
    for n in 0..real.len() {
        let _ = from_proc_cgroup(&real[..n]);
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..2000 {
        let bytes: Vec<u8> = (0..64)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                b"0:/\\x2dabcdef-_.@lxcdockerpod\n"[(seed % 30) as usize]
            })
            .collect();
        let _ = from_proc_cgroup(&String::from_utf8_lossy(&bytes));
    }
    assert_eq!(systemd_unescape("a\\x2db\\x"), "a-b\\x");
}

#[test]
fn mountinfo_finds_the_unified_hierarchy() {
    let hybrid =
        "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
                  41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
    assert_eq!(
        cgroup_ids::cgroup2_mount(hybrid),
        Some((PathBuf::from("/sys/fs/cgroup/unified"), "/".into()))
    );
    let ns = "30 23 0:26 /../.. /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw\n";
    assert_eq!(
        cgroup_ids::cgroup2_mount(ns).map(|m| m.0),
        Some(PathBuf::from("/sys/fs/cgroup"))
    );
    let spaced = "30 23 0:26 / /mnt/my\\040cg rw - cgroup2 cgroup2 rw\n";
    assert_eq!(
        cgroup_ids::cgroup2_mount(spaced).map(|m| m.0),
        Some(PathBuf::from("/mnt/my cg"))
    );
    assert_eq!(
        cgroup_ids::cgroup2_mount("1 2 3 4 5 - cgroup cgroup rw\n"),
        None
    );
    assert_eq!(cgroup_ids::cgroup2_mount("short - cgroup2\n"), None);
}

#[test]
fn walk_gives_paths_below_the_mount_root_within_its_cap() {
    use std::os::unix::fs::MetadataExt;
    let tmp = std::env::temp_dir().join(format!("ipctop-walk-{}", std::process::id()));
    let deep = tmp.join("a").join("b c").join("d");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(tmp.join("a").join("cgroup.procs"), "").unwrap();
    let ino = |p: &std::path::Path| std::fs::metadata(p).unwrap().ino();
    // A mount showing the cgroup "/sub" at its top (inside a cgroup namespace, say).
    let mut paths =
        CgroupPaths::new(tmp.clone(), "/sub".into(), 100, Duration::ZERO).walking_only();
    assert_eq!(paths.path_of(ino(&deep)), Some("/sub/a/b c/d"));
    assert_eq!(paths.path_of(ino(&tmp)), Some("/sub"));
    // Directories only: 4 of them.
    assert_eq!(paths.len(), 4);
    let mut root = CgroupPaths::new(tmp.clone(), "/".into(), 100, Duration::ZERO).walking_only();
    assert_eq!(root.path_of(ino(&tmp)), Some("/"));
    assert_eq!(root.path_of(ino(&tmp.join("a"))), Some("/a"));
    let mut capped = CgroupPaths::new(tmp.clone(), "/".into(), 2, Duration::ZERO).walking_only();
    assert_eq!(capped.path_of(ino(&deep)), None);
    assert_eq!(capped.len(), 2);
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// Root only; a skip fails where IPCTOP_REQUIRE_ROOT=1 forbids skipping.
fn root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var_os("IPCTOP_REQUIRE_ROOT").is_none_or(|v| v != "1"),
        "{test} needs root and IPCTOP_REQUIRE_ROOT=1 forbids skipping it"
    );
    eprintln!("skipping {test}: it makes a cgroup, which needs root");
    false
}

/// A process in a cgroup made for the test: killed, reaped and the cgroups removed on drop.
struct InCgroup {
    child: std::process::Child,
    dirs: Vec<PathBuf>,
}

impl Drop for InCgroup {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for d in self.dirs.iter().rev() {
            // The kernel may take a moment to let go of a dead process's cgroup.
            for _ in 0..50 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[test]
fn real_cgroup_id_resolves_to_its_path_and_its_container() {
    if !root("real_cgroup_id_resolves_to_its_path_and_its_container") {
        return;
    }
    let mut paths = CgroupPaths::system().expect("a cgroup2 hierarchy is mounted");
    let top = format!("ipctop-test-{}", std::process::id());
    let scope = format!("docker-{ID}.scope");
    let outer = paths.mount().join(&top);
    let inner = outer.join(&scope);
    let mut guard = InCgroup {
        child: Command::new("sleep").arg("30").spawn().unwrap(),
        dirs: Vec::new(),
    };
    std::fs::create_dir(&outer).unwrap();
    guard.dirs.push(outer.clone());
    std::fs::create_dir(&inner).unwrap();
    guard.dirs.push(inner.clone());
    let pid = guard.child.id();
    std::fs::write(inner.join("cgroup.procs"), pid.to_string()).unwrap();

    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(&inner).unwrap().ino();
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("/{top}/{scope}");
    assert_eq!(unified_path(&text), Some(want.as_str()), "{text}");
    // Through the file handle, then by walking: the same path as /proc says.
    assert_eq!(paths.path_of(ino), Some(want.as_str()));
    assert_eq!(paths.len(), 1, "found by its handle, without a walk");
    let mut walking = CgroupPaths::new(
        paths.mount().to_path_buf(),
        "/".into(),
        DEFAULT_CAP,
        Duration::from_secs(3600),
    )
    .walking_only();
    assert_eq!(walking.path_of(ino), Some(want.as_str()));
    assert!(walking.len() >= 3, "the walk remembers the tree");
    // An unknown id right after a walk costs no other walk (and is unknown either way).
    assert_eq!(walking.path_of(u64::MAX), None);
    assert_eq!(paths.path_of(u64::MAX), None);
    assert_eq!(of_pid(pid), c(Runtime::Docker, ID, None));
    // A cap of 1 remembers the root only: the walk does not reach the test's cgroup.
    let mut small =
        CgroupPaths::new(paths.mount().to_path_buf(), "/".into(), 1, Duration::ZERO).walking_only();
    assert_eq!(small.path_of(ino), None);
    assert_eq!(small.len(), 1);
    drop(guard);
    assert!(!outer.exists(), "the test's cgroup was removed");
}
