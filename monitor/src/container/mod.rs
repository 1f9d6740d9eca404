//! Which container a process is in, from its cgroup path (`/proc/PID/cgroup`, or the path of
//! the cgroup id the probe reads with `bpf_get_current_cgroup_id`, see [`cgroup_ids`]):
//! Docker, Podman (libpod), containerd and CRI-O (with the Kubernetes pod), systemd-nspawn
//! and LXC; anything else is the host.
//!
//! Only the path is used: the names runtimes give their cgroups under the systemd and
//! cgroupfs drivers. The innermost container along the path wins (Docker in Docker, a pod's
//! container under its pod). Monitors and supervisors (conmon, `lxc.monitor.*`, nspawn's
//! `supervisor`) are not containers: they run on the host side. Paths are as the reader's
//! cgroup namespace shows them (ipctop in a container of its own sees "/" for its own).
//!
//! The names people use come from the runtimes' own state ([`runtimes`], [`names`]): a
//! container is `podman:web`, a Kubernetes pod's `pod:default/web`; the cgroup path's id is
//! the fallback.
pub mod cgroup_ids;
mod labels;
pub mod names;
pub mod runtimes;
#[cfg(test)]
mod tests;

pub use cgroup_ids::CgroupPaths;
pub use labels::Labels;
pub use names::{member, Member};

/// The runtime that made a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Host,
    Docker,
    Podman,
    Containerd,
    Crio,
    /// A Kubernetes pod's container whose runtime the path does not say (cgroupfs driver).
    Cri,
    Nspawn,
    Lxc,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Host => "host",
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::Containerd => "containerd",
            Runtime::Crio => "crio",
            Runtime::Cri => "cri",
            Runtime::Nspawn => "nspawn",
            Runtime::Lxc => "lxc",
        }
    }
}

/// A process's container (or the host).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Container {
    pub runtime: Runtime,
    /// The container id (64 hex digits) or the machine's / container's name ("" for the host).
    pub id: String,
    /// The Kubernetes pod's uid, when the container is a pod's.
    pub pod_uid: Option<String>,
}

/// Longest name kept (machine names are at most 64 characters).
const MAX_NAME: usize = 64;

impl Container {
    pub fn host() -> Container {
        Container {
            runtime: Runtime::Host,
            id: String::new(),
            pod_uid: None,
        }
    }

    pub fn is_host(&self) -> bool {
        self.runtime == Runtime::Host
    }

    /// The id as Docker shows it: 12 hex digits (names as they are).
    pub fn short_id(&self) -> &str {
        if is_hex_id(&self.id) {
            &self.id[..12]
        } else {
            &self.id
        }
    }

    /// What a person reads: "host", "docker:3f4e5a6b7c8d", "nspawn:web".
    pub fn label(&self) -> String {
        match self.runtime {
            Runtime::Host => "host".into(),
            r => format!("{}:{}", r.as_str(), self.short_id()),
        }
    }

    fn new(runtime: Runtime, id: &str) -> Container {
        Container {
            runtime,
            id: id.to_string(),
            pod_uid: None,
        }
    }
}

/// 64 lowercase hex digits: a container id.
fn is_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Undoes systemd's unit name escaping (`\x2d` is '-'); a bad escape stays as it is.
pub fn systemd_unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            let hex = b
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A machine or container name: unescaped, non-empty, no control characters, not too long.
fn name(raw: &str) -> Option<String> {
    let n = systemd_unescape(raw);
    (!n.is_empty() && n.len() <= MAX_NAME && !n.chars().any(char::is_control)).then_some(n)
}

/// `<prefix><64 hex>[<suffix>]`: the id.
fn hex_between<'a>(c: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let rest = c.strip_prefix(prefix)?;
    let id = rest.strip_suffix(suffix).unwrap_or(rest);
    is_hex_id(id).then_some(id)
}

/// A Kubernetes pod uid from a pod cgroup component: `pod<uid>` (cgroupfs) or
/// `[kubelet-]kubepods[-<qos>]-pod<uid with _>.slice` (systemd).
fn pod_uid(c: &str) -> Option<String> {
    let uid = if let Some(s) = c.strip_suffix(".slice") {
        // kind's nodes say "kubelet-kubepods-…".
        let s = &s[s.find("kubepods-")? + "kubepods-".len()..];
        let at = s.find("pod")?;
        s[at + 3..].replace('_', "-")
    } else {
        c.strip_prefix("pod")?.to_string()
    };
    let ok = uid.len() >= 32
        && uid.len() <= 36
        && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    ok.then_some(uid)
}

/// The container a single path component names, given the one before it.
fn component(prev: &str, c: &str, in_pod: bool) -> Option<Container> {
    // Conmon and crio's monitor are on the host side.
    if c.starts_with("libpod-conmon-") || c.starts_with("crio-conmon-") {
        return None;
    }
    let systemd_scopes = [
        ("docker-", Runtime::Docker),
        ("libpod-", Runtime::Podman),
        ("cri-containerd-", Runtime::Containerd),
        ("nerdctl-", Runtime::Containerd),
        ("crio-", Runtime::Crio),
    ];
    for (prefix, runtime) in systemd_scopes {
        if let Some(id) = hex_between(c, prefix, ".scope") {
            return Some(Container::new(runtime, id));
        }
    }
    // cgroupfs drivers: /docker/<id>, /libpod_parent/libpod-<id>, /kubepods/…/pod<uid>/<id>.
    match prev {
        "docker" if is_hex_id(c) => return Some(Container::new(Runtime::Docker, c)),
        _ if in_pod && is_hex_id(c) => return Some(Container::new(Runtime::Cri, c)),
        "lxc" | "lxc.payload" => return name(c).map(|n| Container::new(Runtime::Lxc, &n)),
        _ => {}
    }
    if let Some(n) = c.strip_prefix("lxc.payload.") {
        return name(n).map(|n| Container::new(Runtime::Lxc, &n));
    }
    if let Some(n) = c
        .strip_prefix("systemd-nspawn@")
        .and_then(|s| s.strip_suffix(".service"))
    {
        return name(n).map(|n| Container::new(Runtime::Nspawn, &n));
    }
    if let Some(n) = c
        .strip_prefix("machine-")
        .and_then(|s| s.strip_suffix(".scope"))
    {
        return name(n).map(|n| Container::new(Runtime::Nspawn, &n));
    }
    None
}

/// The container a cgroup path names (`None`: the host). The innermost one wins.
pub fn from_path(path: &str) -> Option<Container> {
    let mut found: Option<Container> = None;
    let mut pod: Option<String> = None;
    let mut prev = "";
    let mut kubepods = false;
    for c in path.split('/').filter(|c| !c.is_empty()) {
        if let Some(uid) = pod_uid(c).filter(|_| kubepods) {
            pod = Some(uid);
        } else if c == "supervisor" && found.as_ref().is_some_and(|f| f.runtime == Runtime::Nspawn)
        {
            // systemd-nspawn@NAME.service/supervisor: nspawn itself, on the host.
            found = None;
        } else if let Some(mut k) = component(prev, c, pod.is_some()) {
            k.pod_uid.clone_from(&pod);
            found = Some(k);
        }
        kubepods |= c.contains("kubepods");
        prev = c;
    }
    found
}

/// The container of a process from its `/proc/PID/cgroup` text: the unified (v2) line
/// `0::/path` first, then the v1 `name=systemd` line, then any other v1 line. Unreadable
/// lines are passed over; nothing found is the host.
pub fn from_proc_cgroup(text: &str) -> Container {
    let mut best: Option<(u8, Container)> = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rank = match (id, controllers) {
            ("0", "") => 0,
            (_, "name=systemd") => 1,
            _ => 2,
        };
        if best.as_ref().is_some_and(|(r, _)| *r <= rank) {
            continue;
        }
        if let Some(c) = from_path(path) {
            best = Some((rank, c));
        }
    }
    best.map_or_else(Container::host, |(_, c)| c)
}

/// The container of a live process; `None` when its cgroup file is unreadable (or it is gone):
/// unknown, not the host.
pub fn of_pid(pid: u32) -> Option<Container> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()
        .map(|t| from_proc_cgroup(&t))
}

/// The unified (v2) part of a `/proc/PID/cgroup` text: the path of its `0::` line.
pub fn unified_path(text: &str) -> Option<&str> {
    text.lines().find_map(|l| l.strip_prefix("0::"))
}

/// The cgroup namespace's inode of the init namespace (`PROC_CGROUP_INIT_INO`).
const INIT_CGROUP_NS: u64 = 0xEFFF_FFFB;

/// Why containers cannot be named from here, if they cannot: ipctop in a cgroup namespace of
/// its own (every path is cut at its root, its own reads "/"), or no cgroup2 mount (the
/// probe's cgroup ids name no path).
pub fn blind_reason() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let cgroup_ns = std::fs::metadata("/proc/self/ns/cgroup")
        .ok()
        .map(|m| m.ino());
    if cgroup_ns.is_some_and(|ns| ns != INIT_CGROUP_NS) {
        return Some(
            "ipctop runs in a cgroup namespace of its own (in a container?), where every \
             cgroup path is cut at its root; run it on the host, or with --cgroupns=host"
                .into(),
        );
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    match cgroup_ids::cgroup2_mount(&mountinfo) {
        None => Some("no cgroup2 (unified) hierarchy is mounted here".into()),
        Some((_, root)) if root != "/" => Some(format!(
            "the cgroup2 mount shows only the subtree {root:?}, not the host's hierarchy"
        )),
        Some(_) => None,
    }
}
