//! What the runtimes call a container, read from their own state on disk (read-only):
//!
//! - Docker: `<data-root>/containers/<id>/config.v2.json` (`"Name": "/web"`), for the default
//!   data root and the `--data-root` of every running `dockerd`.
//! - Podman (and CRI-O's storage): `<graph-root>/overlay-containers/containers.json` (`id`,
//!   `names`), for the default root and the `--root` of every running podman/conmon.
//! - containerd/CRI and CRI-O (Kubernetes): the OCI annotations — in the OCI runtime's state
//!   (`<runc root>/<id>/state.json`: runc keeps them as `config.labels`, "key=value"), in
//!   containerd's bundle (`/run/containerd/io.containerd.runtime.v2.task/<ns>/<id>/
//!   config.json`) or CRI-O's (`<graph-root>/overlay-containers/<id>/userdata/config.json`):
//!   the pod's name, namespace and uid, the container's name.
//! - LXC and systemd-nspawn: their cgroup path carries the name already.
//!
//! A file that is missing, unreadable or not as expected names nothing (the cgroup path's id
//! stays the name). Files are read only for ids asked about, and each at most 1 MiB.
use std::{
    collections::HashMap,
    io::Read,
    path::{Path, PathBuf},
};

/// A Kubernetes pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
}

/// What a runtime's state says of one container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Named {
    /// The runtime's name for it ("web"; Docker's without its leading '/').
    pub name: Option<String>,
    /// Its Kubernetes pod, from the OCI annotations.
    pub pod: Option<Pod>,
    /// The Kubernetes container name ("app"; none for a pod's sandbox).
    pub kube_container: Option<String>,
}

impl Named {
    fn is_empty(&self) -> bool {
        self.name.is_none() && self.pod.is_none() && self.kube_container.is_none()
    }
}

/// Largest state file read.
const MAX_FILE: u64 = 1 << 20;

/// Longest name kept.
const MAX_NAME: usize = 253;

fn read_small(path: &Path) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let mut s = String::new();
    f.take(MAX_FILE).read_to_string(&mut s).ok()?;
    Some(s)
}

fn json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&read_small(path)?).ok()
}

/// A name as kept: non-empty, no control characters, not too long.
fn clean(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && s.len() <= MAX_NAME && !s.chars().any(char::is_control))
        .then(|| s.to_string())
}

/// Where the runtimes keep their state on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roots {
    pub docker: Vec<PathBuf>,
    pub storage: Vec<PathBuf>,
    pub oci_state: Vec<PathBuf>,
    pub bundles: Vec<PathBuf>,
}

impl Roots {
    /// The defaults, and the roots running daemons were given on their command lines.
    pub fn system() -> Roots {
        let mut r = Roots {
            docker: vec!["/var/lib/docker".into()],
            storage: vec!["/var/lib/containers/storage".into()],
            oci_state: vec!["/run/runc".into(), "/run/crun".into()],
            bundles: Vec::new(),
        };
        for dir in ["/run/containerd/runc", "/run/docker/runtime-runc"] {
            r.oci_state.extend(subdirs(Path::new(dir)));
        }
        r.bundles.extend(subdirs(Path::new(
            "/run/containerd/io.containerd.runtime.v2.task",
        )));
        let pids = std::fs::read_dir("/proc").into_iter().flatten().flatten();
        for pid in pids.filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()) {
            let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let args: Vec<String> = raw
                .split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            r.add_from_cmdline(&args);
        }
        for v in [
            &mut r.docker,
            &mut r.storage,
            &mut r.oci_state,
            &mut r.bundles,
        ] {
            let mut seen = std::collections::HashSet::new();
            v.retain(|p| seen.insert(p.clone()));
        }
        r
    }

    /// The roots a daemon's command line names: dockerd `--data-root` (and its `--exec-root`'s
    /// runc state), podman/conmon/crio `--root`, runc `--root`.
    pub fn add_from_cmdline(&mut self, args: &[String]) {
        let Some(exe) = args.first() else { return };
        let prog = exe.rsplit('/').next().unwrap_or(exe);
        let value = |flag: &str| -> Option<PathBuf> {
            args.iter().enumerate().find_map(|(i, a)| {
                a.strip_prefix(flag)
                    .and_then(|r| r.strip_prefix('='))
                    .map(PathBuf::from)
                    .or_else(|| (a == flag).then(|| args.get(i + 1).map(PathBuf::from))?)
            })
        };
        match prog {
            "dockerd" => {
                self.docker.extend(value("--data-root").or(value("-g")));
                if let Some(exec) = value("--exec-root") {
                    self.oci_state.extend(subdirs(&exec.join("runtime-runc")));
                }
            }
            "podman" | "conmon" | "crio" => self.storage.extend(value("--root")),
            "runc" | "crun" => self.oci_state.extend(value("--root")),
            _ => {}
        }
    }

    /// What the runtimes' state says of the container `id` (64 hex digits).
    pub fn lookup(&self, id: &str) -> Named {
        let mut n = Named::default();
        for root in &self.docker {
            if let Some(name) = docker_name(root, id) {
                n.name = Some(name);
                return n;
            }
        }
        for root in &self.storage {
            if let Some(name) = storage_name(root, id) {
                n.name = Some(name);
            }
            let a =
                annotations_of_bundle(&root.join("overlay-containers").join(id).join("userdata"));
            merge(&mut n, &a);
            if !n.is_empty() {
                return n;
            }
        }
        for root in &self.oci_state {
            let a = oci_state_annotations(&root.join(id).join("state.json"));
            merge(&mut n, &a);
        }
        for ns in &self.bundles {
            merge(&mut n, &annotations_of_bundle(&ns.join(id)));
        }
        n
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Docker's name of a container: `config.v2.json`'s `Name`, without its '/'.
pub fn docker_name(root: &Path, id: &str) -> Option<String> {
    let v = json(&root.join("containers").join(id).join("config.v2.json"))?;
    let name = v.get("Name")?.as_str()?;
    clean(name.trim_start_matches('/'))
}

/// The first name containers/storage keeps for a container (podman, CRI-O).
pub fn storage_name(root: &Path, id: &str) -> Option<String> {
    let v = json(&root.join("overlay-containers").join("containers.json"))?;
    v.as_array()?
        .iter()
        .find(|c| c.get("id").and_then(|i| i.as_str()) == Some(id))?
        .get("names")?
        .as_array()?
        .iter()
        .find_map(|n| n.as_str().and_then(clean))
}

/// An OCI bundle's annotations (`config.json`).
pub fn annotations_of_bundle(bundle: &Path) -> HashMap<String, String> {
    let Some(v) = json(&bundle.join("config.json")) else {
        return HashMap::new();
    };
    v.get("annotations")
        .and_then(|a| a.as_object())
        .map(|a| {
            a.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The annotations runc keeps in its state (`config.labels`, "key=value"); failing that,
/// those of the bundle it names (`bundle=…`).
pub fn oci_state_annotations(state: &Path) -> HashMap<String, String> {
    let Some(v) = json(state) else {
        return HashMap::new();
    };
    let labels: Vec<&str> = v
        .pointer("/config/labels")
        .and_then(|l| l.as_array())
        .map(|l| l.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    let mut out: HashMap<String, String> = labels
        .iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(bundle) = out.get("bundle").cloned() {
        for (k, v) in annotations_of_bundle(Path::new(&bundle)) {
            out.entry(k).or_insert(v);
        }
    }
    out
}

/// The Kubernetes names in OCI annotations, as containerd's CRI plugin
/// (`io.kubernetes.cri.sandbox-name`, `…sandbox-namespace`, `…sandbox-uid`,
/// `…container-name`) or CRI-O (`io.kubernetes.pod.name`, `…pod.namespace`, `…pod.uid`,
/// `io.kubernetes.container.name`) write them.
pub fn kube_names(a: &HashMap<String, String>) -> Named {
    let get = |keys: &[&str]| keys.iter().find_map(|k| a.get(*k).and_then(|v| clean(v)));
    let pod_name = get(&["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"]);
    let pod_ns = get(&[
        "io.kubernetes.cri.sandbox-namespace",
        "io.kubernetes.pod.namespace",
    ]);
    let uid = get(&["io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"]);
    let container = get(&[
        "io.kubernetes.cri.container-name",
        "io.kubernetes.container.name",
    ])
    .filter(|c| c != "POD");
    Named {
        name: None,
        pod: pod_name.map(|name| Pod {
            namespace: pod_ns.unwrap_or_else(|| "default".into()),
            name,
            uid,
        }),
        kube_container: container,
    }
}

fn merge(n: &mut Named, a: &HashMap<String, String>) {
    let k = kube_names(a);
    if n.pod.is_none() {
        n.pod = k.pod;
    }
    if n.kube_container.is_none() {
        n.kube_container = k.kube_container;
    }
}
