//! Containers by the names their runtimes give them, and IPC namespaces by their containers.
//!
//! A [`Member`] is a container as a person names it: `podman:web`, `docker:db`, a Kubernetes
//! pod's containers as their pod `pod:default/web`, and — where the runtime's state says
//! nothing — its runtime and short id from the cgroup path (`docker:3f4e5a6b7c8d`). Names come
//! from [`super::runtimes`], cached by container id; the cache is read again when an id it
//! does not know appears (a container came) and forgets ids not asked about for a while.
//!
//! An IPC namespace is named by every container that has had a process in it while ipctop
//! watched ([`ns_label`]): several members are listed, sorted, joined by ','; a member that
//! leaves stays in the label for the namespace's life, and host processes that enter it
//! (`nsenter -i`) add nothing. `host` is only the init IPC namespace (`/proc/1/ns/ipc`); a
//! namespace no container has is `ns:<inode>`.
use std::{
    collections::{BTreeSet, HashMap},
    sync::Mutex,
    time::{Duration, Instant},
};

use super::{
    runtimes::{Named, Roots},
    Container, Runtime,
};

/// A container as a person names it. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Member {
    pub container: Container,
    pub named: Named,
}

impl Member {
    /// What a person reads: "podman:web", "pod:default/web", "docker:3f4e5a6b7c8d".
    pub fn label(&self) -> String {
        if let Some(p) = &self.named.pod {
            return format!("pod:{}/{}", p.namespace, p.name);
        }
        if let Some(uid) = &self.container.pod_uid {
            return format!("pod:{}", &uid[..uid.len().min(8)]);
        }
        match &self.named.name {
            Some(n) => format!("{}:{}", self.container.runtime.as_str(), n),
            None => self.container.label(),
        }
    }

    /// Known only by its id: a runtime's container whose state was not found here (another
    /// data root, a runtime not read), labelled by its runtime and short id.
    pub fn unnamed(&self) -> bool {
        super::is_hex_id(&self.container.id)
            && self.named.name.is_none()
            && self.named.pod.is_none()
            && self.container.pod_uid.is_none()
    }

    /// Whether `--container SEL` names this container: its name, its id or a prefix of it
    /// (at least 4 hex digits), `runtime:` before any of those (the runtime must be its),
    /// for a pod's container `namespace/pod`, the pod's name, its uid (or a prefix of 8), or
    /// the Kubernetes container name; or its whole label.
    pub fn matches(&self, sel: &str) -> bool {
        let sel = sel.trim();
        if sel.is_empty() {
            return false;
        }
        if sel == self.label() {
            return true;
        }
        let (runtime, rest) = match sel.split_once(':') {
            Some((r, rest)) if !rest.contains(':') => (Some(r), rest),
            _ => (None, sel),
        };
        let in_pod = self.named.pod.is_some() || self.container.pod_uid.is_some();
        if let Some(r) = runtime {
            let ok = r == self.container.runtime.as_str()
                || (matches!(r, "pod" | "k8s" | "kubernetes") && in_pod);
            if !ok {
                return false;
            }
        }
        self.matches_bare(rest)
    }

    fn matches_bare(&self, s: &str) -> bool {
        let id = &self.container.id;
        let hex = s.len() >= 4 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if self.named.name.as_deref() == Some(s)
            || id == s
            || (hex && super::is_hex_id(id) && id.starts_with(&s.to_ascii_lowercase()))
            || self.named.kube_container.as_deref() == Some(s)
        {
            return true;
        }
        let uid = self
            .named
            .pod
            .as_ref()
            .and_then(|p| p.uid.as_deref())
            .or(self.container.pod_uid.as_deref());
        if uid.is_some_and(|u| u == s || (s.len() >= 8 && u.starts_with(s))) {
            return true;
        }
        self.named
            .pod
            .as_ref()
            .is_some_and(|p| p.name == s || format!("{}/{}", p.namespace, p.name) == s)
    }
}

/// How often the runtimes' state is read again at most, for ids it did not name.
const REREAD: Duration = Duration::from_secs(1);
/// Ids remembered at most.
const CAP: usize = 16_384;

struct Cache {
    roots: Option<Roots>,
    read_at: Option<Instant>,
    named: HashMap<String, Named>,
}

static NAMES: Mutex<Option<Cache>> = Mutex::new(None);

/// The container `c` as its runtime names it (LXC and nspawn names are their paths'; the
/// host is itself).
pub fn member(c: &Container) -> Member {
    let named = if super::is_hex_id(&c.id) {
        let mut guard = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        let cache = guard.get_or_insert_with(|| Cache {
            roots: None,
            read_at: None,
            named: HashMap::new(),
        });
        match cache.named.get(&c.id) {
            Some(n) if n.name.is_some() || n.pod.is_some() => n.clone(),
            known => {
                let stale = cache.read_at.is_none_or(|t| t.elapsed() >= REREAD);
                if known.is_some() && !stale {
                    known.cloned().unwrap_or_default()
                } else {
                    if stale || cache.roots.is_none() {
                        cache.roots = Some(Roots::system());
                        cache.read_at = Some(Instant::now());
                    }
                    let n = cache
                        .roots
                        .as_ref()
                        .map(|r| r.lookup(&c.id))
                        .unwrap_or_default();
                    if cache.named.len() >= CAP {
                        cache.named.clear();
                    }
                    cache.named.insert(c.id.clone(), n.clone());
                    n
                }
            }
        }
    } else {
        Named {
            name: (!c.id.is_empty()).then(|| c.id.clone()),
            ..Named::default()
        }
    };
    Member {
        container: c.clone(),
        named,
    }
}

/// The init IPC namespace's inode as the kernel numbers it (`PROC_IPC_INIT_INO`).
const INIT_IPC_NS: u64 = 0xEFFF_FFFF;

/// The init IPC namespace (`/proc/1/ns/ipc`; when pid 1 cannot be read, the kernel's fixed
/// inode of the init namespace), the only one labelled `host`.
pub fn init_ipc_ns() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    Some(
        std::fs::metadata("/proc/1/ns/ipc")
            .map(|m| m.ino())
            .unwrap_or(INIT_IPC_NS),
    )
}

/// Members remembered per namespace at most.
const MAX_MEMBERS: usize = 16;

/// The members of each namespace seen so far (see [`ns_label`]).
#[derive(Debug, Default)]
pub struct NsNames {
    members: HashMap<u64, BTreeSet<String>>,
}

impl NsNames {
    /// The label of the IPC namespace `inode`: "host" for the init namespace (`init`), else
    /// its members' labels (those seen now and before, for the namespace's life), else
    /// `ns:<inode>`. See the module documentation.
    pub fn label(&mut self, inode: u64, init: Option<u64>, members: &[Member]) -> String {
        if Some(inode) == init {
            return "host".into();
        }
        let known = self.members.entry(inode).or_default();
        for m in members.iter().filter(|m| !m.container.is_host()) {
            if known.len() < MAX_MEMBERS {
                known.insert(m.label());
            }
        }
        label_of(inode, known)
    }

    /// Forgets the members of namespaces that are gone (not in `live`): an inode the kernel
    /// gives again is a new namespace.
    pub fn forget_except(&mut self, live: &BTreeSet<u64>) {
        self.members.retain(|ns, _| live.contains(ns));
    }
}

static NS_NAMES: Mutex<Option<NsNames>> = Mutex::new(None);

/// [`NsNames::label`] of this process's memory of namespaces.
pub fn ns_label(inode: u64, init: Option<u64>, members: &[Member]) -> String {
    let mut n = NS_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    n.get_or_insert_with(NsNames::default)
        .label(inode, init, members)
}

/// [`NsNames::forget_except`] of this process's memory of namespaces.
pub fn forget_namespaces_except(live: &BTreeSet<u64>) {
    let mut n = NS_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = n.as_mut() {
        n.forget_except(live);
    }
}

/// `ns:<inode>` without members, else the members joined by ','.
pub fn label_of(inode: u64, members: &BTreeSet<String>) -> String {
    if members.is_empty() {
        format!("ns:{inode}")
    } else {
        members.iter().cloned().collect::<Vec<_>>().join(",")
    }
}

/// The runtime named by a selector's prefix, if it is one.
pub fn runtime_prefix(sel: &str) -> Option<Runtime> {
    let (r, _) = sel.split_once(':')?;
    [
        Runtime::Docker,
        Runtime::Podman,
        Runtime::Containerd,
        Runtime::Crio,
        Runtime::Cri,
        Runtime::Nspawn,
        Runtime::Lxc,
    ]
    .into_iter()
    .find(|k| k.as_str() == r)
}

/// Whether `--container NAME` names a namespace of this label. A label lists the namespace's
/// members joined by ',' (`podman:web`, `pod:default/web`, `docker:db,docker:web`, `host`,
/// `ns:4026532177`), and so may NAME (the commands resolve ids, pod uids and Kubernetes
/// container names into member labels first: see `snapshot::namespaces::select`). The
/// namespace is named when any member is named by any of NAME's: the member itself, its
/// name (`web`, `default/web`), `runtime:` before it when the runtime is the member's, an id
/// prefix of at least 4 hex digits of a member named by its id, or a full id that starts
/// with it.
pub fn label_matches(label: &str, name: &str) -> bool {
    let wanted: Vec<&str> = name
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    label
        .split(',')
        .any(|m| wanted.iter().any(|w| member_matches(m.trim(), w)))
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn member_matches(member: &str, want: &str) -> bool {
    if member == want {
        return true;
    }
    let (runtime, id) = member.split_once(':').unwrap_or(("", member));
    let want_id = match want.split_once(':') {
        Some((r, _)) if r != runtime => return false,
        Some((_, w)) => w,
        None => want,
    };
    id == want_id
        || (is_hex(id) && is_hex(want_id))
            && ((want_id.len() >= 4 && id.starts_with(want_id))
                || (id.len() >= 12 && want_id.starts_with(id)))
}
