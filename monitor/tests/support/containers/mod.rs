//! Real containers for `containers_real.rs`: an image made here from busybox-static and a
//! static C workload (no registry), podman with runc, and a Kubernetes-style pod run with
//! runc itself (containerd's cgroupfs layout and annotations). Everything made is removed on
//! drop, also when a test fails.
use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

/// The workload run in the containers: `wl CALLS HOLD_S` makes a semaphore set, says
/// `semid N`, waits for SIGUSR1, makes CALLS semops, holds HOLD_S seconds and removes it.
const WL_C: &str = include_str!("wl.c");

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether a program is installed (`cargo xtask setup` installs them).
pub fn have(prog: &str) -> bool {
    ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .any(|d| Path::new(d).join(prog).exists())
}

/// A scratch directory with a rootfs (busybox, the workload) and podman's configuration.
pub struct Base {
    pub dir: PathBuf,
}

impl Base {
    pub fn new(tag: &str) -> Base {
        let dir = std::env::temp_dir().join(format!("ipctop-ct-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let bin = dir.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        for d in ["proc", "sys", "dev", "tmp"] {
            std::fs::create_dir_all(dir.join("rootfs").join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static");
        std::fs::write(dir.join("wl.c"), WL_C).unwrap();
        ok(Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(bin.join("wl"))
            .arg(dir.join("wl.c")));
        // crun refuses hybrid cgroups here: runc, cgroupfs, ulimits it may set.
        std::fs::write(
            dir.join("containers.conf"),
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
             [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n",
        )
        .unwrap();
        Base { dir }
    }
}

impl Drop for Base {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Podman with an image of its own, and the containers it ran (removed on drop).
pub struct Podman<'a> {
    base: &'a Base,
    pub image: String,
    names: Vec<String>,
}

impl<'a> Podman<'a> {
    pub fn new(base: &'a Base, tag: &str) -> Podman<'a> {
        let tar = rootfs_tar(base);
        let image = format!("localhost/ipctop-test-{tag}:{}", std::process::id());
        let p = Podman {
            base,
            image: image.clone(),
            names: Vec::new(),
        };
        ok(p.cmd().arg("import").arg(&tar).arg(&image));
        p
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("/usr/bin/podman");
        c.env("CONTAINERS_CONF", self.base.dir.join("containers.conf"));
        c
    }

    /// `podman run -d --name NAME --ipc IPC IMAGE /bin/wl CALLS HOLD`: its pid and set id.
    pub fn run(&mut self, name: &str, ipc: &str, calls: u32, hold_s: u32) -> Workload {
        self.names.push(name.to_string());
        run_workload(|| self.cmd(), &self.image, name, ipc, (calls, hold_s))
    }
}

/// `CLI run -d --network none --name NAME --ipc IPC IMAGE /bin/wl CALLS HOLD` (podman and
/// docker take the same), then its pid (`inspect`) and set id (its log).
fn run_workload(
    cli: impl Fn() -> Command,
    image: &str,
    name: &str,
    ipc: &str,
    (calls, hold_s): (u32, u32),
) -> Workload {
    let id = ok(cli().args([
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        name,
        "--ipc",
        ipc,
        image,
        "/bin/wl",
        &calls.to_string(),
        &hold_s.to_string(),
    ]));
    let pid: u32 = ok(cli().args(["inspect", "-f", "{{.State.Pid}}", name]))
        .parse()
        .unwrap();
    let semid = wait_for(|| {
        ok(cli().args(["logs", name]))
            .lines()
            .find_map(|l| l.strip_prefix("semid ")?.trim().parse().ok())
    });
    Workload {
        name: name.into(),
        id,
        pid,
        semid,
        calls,
    }
}

/// The image's tarball (the rootfs: busybox and the workload).
fn rootfs_tar(base: &Base) -> PathBuf {
    let tar = base.dir.join("rootfs.tar");
    if !tar.exists() {
        ok(Command::new("tar")
            .arg("-C")
            .arg(base.dir.join("rootfs"))
            .arg("-cf")
            .arg(&tar)
            .arg("."));
    }
    tar
}

/// A dockerd of the test's own (its socket, data and exec roots under the base directory;
/// no iptables, no bridge), with an image and the containers it ran: all removed, and the
/// daemon stopped by its pid, on drop.
pub struct Docker<'a> {
    base: &'a Base,
    daemon: std::process::Child,
    pub image: String,
    names: Vec<String>,
}

impl<'a> Docker<'a> {
    /// Starts dockerd; `Err`: why it cannot run here (its log).
    pub fn start(base: &'a Base) -> Result<Docker<'a>, String> {
        let d = &base.dir;
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let daemon = Command::new("/usr/sbin/dockerd")
            .arg("--data-root")
            .arg(d.join("docker-data"))
            .arg("--exec-root")
            .arg(d.join("docker-exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .args(["--iptables=false", "--bridge=none"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run dockerd: {e}"))?;
        let mut dk = Docker {
            base,
            daemon,
            image: format!("ipctop-test-docker:{}", std::process::id()),
            names: Vec::new(),
        };
        let t = Instant::now();
        while !run(dk.cmd().arg("info")).status.success() {
            if t.elapsed() > Duration::from_secs(60)
                || dk.daemon.try_wait().ok().flatten().is_some()
            {
                let log = std::fs::read_to_string(d.join("dockerd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(format!("dockerd did not start: {}", tail.join(" | ")));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        ok(dk.cmd().arg("import").arg(rootfs_tar(base)).arg(&dk.image));
        Ok(dk)
    }

    /// Debian's client (another `docker` may be earlier on PATH), on this daemon's socket.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("/usr/bin/docker");
        c.arg("-H").arg(format!(
            "unix://{}",
            self.base.dir.join("docker.sock").display()
        ));
        c
    }

    /// `docker run -d --name NAME --ipc IPC IMAGE /bin/wl CALLS HOLD`: its pid and set id.
    pub fn run(&mut self, name: &str, ipc: &str, calls: u32, hold_s: u32) -> Workload {
        self.names.push(name.to_string());
        run_workload(|| self.cmd(), &self.image, name, ipc, (calls, hold_s))
    }
}

impl Drop for Docker<'_> {
    fn drop(&mut self) {
        if !self.names.is_empty() {
            let _ = run(self.cmd().args(["rm", "-f"]).args(&self.names));
        }
        let _ = run(self.cmd().args(["rmi", "-f", &self.image]));
        // SAFETY: a signal to the daemon this test started.
        unsafe { libc::kill(self.daemon.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while self.daemon.try_wait().ok().flatten().is_none() {
            if t.elapsed() > Duration::from_secs(30) {
                let _ = self.daemon.kill();
                let _ = self.daemon.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Podman<'_> {
    fn drop(&mut self) {
        if !self.names.is_empty() {
            let _ = run(self.cmd().args(["rm", "-f", "-t", "0"]).args(&self.names));
        }
        let _ = run(self.cmd().args(["rmi", "-f", &self.image]));
    }
}

/// A workload running in a container.
#[derive(Clone, Debug)]
pub struct Workload {
    pub name: String,
    pub id: String,
    pub pid: u32,
    pub semid: i32,
    pub calls: u32,
}

impl Workload {
    /// Lets it make its calls.
    pub fn go(&self) {
        // SAFETY: a signal to a process this test started.
        unsafe { libc::kill(self.pid as i32, libc::SIGUSR1) };
    }

    pub fn ipc_ns(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/proc/{}/ns/ipc", self.pid))
            .unwrap()
            .ino()
    }
}

/// Polls `f` until it gives something (30 s at most).
pub fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "waited 30 s in vain");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Kubernetes-style pod run with runc: a sandbox and an app container joining its IPC
/// namespace, in `/kubepods/besteffort/pod<uid>/<id>`, with containerd's annotations.
pub struct Pod {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    ids: Vec<String>,
    dir: PathBuf,
}

impl Pod {
    pub fn new(base: &Base, namespace: &str, name: &str) -> Pod {
        let seed = std::process::id();
        let uid = format!("5f0c6f4e-1b2c-4d5e-8f9a-{seed:012x}");
        Pod {
            uid,
            namespace: namespace.into(),
            name: name.into(),
            ids: Vec::new(),
            dir: base.dir.clone(),
        }
    }

    /// Runs a container of the pod (`kube_name` None: the sandbox) with `args`; joins the IPC
    /// namespace of `join` (a pid) when given. Returns its pid.
    pub fn run(&mut self, kube_name: Option<&str>, join: Option<u32>, args: &[&str]) -> u32 {
        let n = self.ids.len() as u32;
        let id = format!(
            "{:08x}{:056x}",
            std::process::id(),
            0xc0de_0000u64 + u64::from(n)
        );
        let bundle = self.dir.join(format!("bundle-{n}"));
        std::fs::create_dir_all(&bundle).unwrap();
        ok(Command::new("runc")
            .arg("spec")
            .arg("--bundle")
            .arg(&bundle));
        let path = bundle.join("config.json");
        let mut spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        spec["root"]["path"] = self.dir.join("rootfs").display().to_string().into();
        spec["root"]["readonly"] = true.into();
        spec["process"]["terminal"] = false.into();
        spec["process"]["args"] = serde_json::json!(args);
        spec["linux"]["cgroupsPath"] = format!("/kubepods/besteffort/pod{}/{id}", self.uid).into();
        if let Some(pid) = join {
            for ns in spec["linux"]["namespaces"].as_array_mut().unwrap() {
                if ns["type"] == "ipc" {
                    ns["path"] = format!("/proc/{pid}/ns/ipc").into();
                }
            }
        }
        let sandbox = self.ids.first().cloned().unwrap_or_else(|| id.clone());
        let mut a = serde_json::json!({
            "io.kubernetes.cri.sandbox-name": self.name,
            "io.kubernetes.cri.sandbox-namespace": self.namespace,
            "io.kubernetes.cri.sandbox-uid": self.uid,
            "io.kubernetes.cri.sandbox-id": sandbox,
            "io.kubernetes.cri.container-type": if kube_name.is_some() { "container" } else { "sandbox" },
        });
        if let Some(k) = kube_name {
            a["io.kubernetes.cri.container-name"] = k.into();
        }
        spec["annotations"] = a;
        std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
        self.ids.push(id.clone());
        // The container's stdio must not be a pipe this waits on: a log file.
        let log = std::fs::File::create(self.dir.join(format!("runc-{n}.log"))).unwrap();
        let status = Command::new("runc")
            .args(["run", "-d", "--bundle"])
            .arg(&bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "runc run: {}",
            std::fs::read_to_string(self.dir.join(format!("runc-{n}.log"))).unwrap_or_default()
        );
        let state = ok(Command::new("runc").args(["state", &id]));
        let v: serde_json::Value = serde_json::from_str(&state).unwrap();
        v["pid"].as_u64().unwrap() as u32
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        for id in self.ids.iter().rev() {
            let _ = run(Command::new("runc").args(["delete", "-f", id]));
        }
    }
}
