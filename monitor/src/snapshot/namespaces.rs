//! Every IPC namespace that has processes, and the IPC objects inside each.
//!
//! [`list`] groups the live processes by the inode of their `/proc/PID/ns/ipc` (with their
//! containers, [`crate::container`]); [`read`] then reads `/proc/sysvipc/{shm,sem,msg}` and the
//! semaphores' values inside each namespace, on one short-lived thread that enters them in
//! turn with setns(CLONE_NEWIPC) (the rest of the process never leaves its own namespace, and
//! the thread ends when it is done). Entering another namespace needs CAP_SYS_ADMIN; our own
//! is read without.
use std::{
    collections::{BTreeMap, BTreeSet},
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    path::Path,
};

use std::sync::Mutex;

use super::{
    limits, procs, semvals, sysvipc, Limits, MsgRead, MsgRow, ProcRead, ReadFail, SemCache,
    SemSetRead, ShmRow,
};
use crate::container::{self, Container, Member};

/// Distinct containers remembered per namespace (a pod's share one; more is unusual).
const MAX_CONTAINERS: usize = 16;

/// An IPC namespace with processes in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpcNamespace {
    /// The inode of its `/proc/PID/ns/ipc` link (`ipc:[inode]`).
    pub inode: u64,
    /// Its processes, ascending (the first is the one entered by; the others if it is gone).
    pub pids: Vec<u32>,
    /// The containers of its processes, distinct and sorted (several: a Kubernetes pod's
    /// containers share one; the host's processes are [`Container::host`]). Processes whose
    /// cgroup was unreadable add nothing.
    pub containers: Vec<Container>,
    /// Is it ours (the one this process, and so the plain `/proc/sysvipc`, shows)?
    pub ours: bool,
    /// Is it the init IPC namespace (`/proc/1/ns/ipc`'s): the host's?
    pub init: bool,
}

impl IpcNamespace {
    /// What a person reads for it: "host" for the init IPC namespace only (containers sharing
    /// it, `--ipc=host`, do not change that), else the names of the containers that have had
    /// processes in it while ipctop watched (`podman:web`, `pod:default/web`,
    /// `docker:db,docker:web` for a namespace two share; a member that leaves stays), else
    /// `ns:<inode>` (an `unshare --ipc`: no container's). Host processes that enter it
    /// (`nsenter -i`) add nothing. See [`container::names`].
    pub fn label(&self) -> String {
        container::names::ns_label(self.inode, self.init.then_some(self.inode), &self.members())
    }

    /// [`Self::label`] with a memory of namespaces of its own.
    pub fn label_in(&self, names: &mut container::names::NsNames) -> String {
        names.label(self.inode, self.init.then_some(self.inode), &self.members())
    }

    /// Its containers as their runtimes name them (the host left out).
    pub fn members(&self) -> Vec<Member> {
        self.containers
            .iter()
            .filter(|c| !c.is_host())
            .map(container::member)
            .collect()
    }
}

/// The namespaces of the live processes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NsList {
    /// Ascending by inode.
    pub namespaces: Vec<IpcNamespace>,
    /// Processes whose namespace could not be read (another user's without root, or gone).
    pub unreadable: usize,
}

/// Lists the IPC namespaces of the live processes (and ours, even if none of the processes
/// listed could be read).
pub fn list() -> NsList {
    let ours = procs::ns_inode(Path::new("/proc/self/ns/ipc")).ok();
    let init = container::names::init_ipc_ns();
    let mut by_ns: BTreeMap<u64, IpcNamespace> = BTreeMap::new();
    let mut unreadable = 0;
    for pid in procs::list_pids() {
        let Ok(inode) = procs::ns_inode(Path::new(&format!("/proc/{pid}/ns/ipc"))) else {
            unreadable += 1;
            continue;
        };
        let ns = by_ns.entry(inode).or_insert_with(|| IpcNamespace {
            inode,
            pids: Vec::new(),
            containers: Vec::new(),
            ours: Some(inode) == ours,
            init: Some(inode) == init,
        });
        ns.pids.push(pid);
        if ns.containers.len() < MAX_CONTAINERS {
            if let Some(c) = container::of_pid(pid) {
                if !ns.containers.contains(&c) {
                    ns.containers.push(c);
                }
            }
        }
    }
    if let Some(inode) = ours {
        by_ns.entry(inode).or_insert_with(|| IpcNamespace {
            inode,
            pids: vec![std::process::id()],
            containers: container::of_pid(std::process::id()).into_iter().collect(),
            ours: true,
            init: Some(inode) == init,
        });
    }
    let mut namespaces: Vec<IpcNamespace> = by_ns.into_values().collect();
    for ns in &mut namespaces {
        ns.containers
            .sort_by(|a, b| (a.runtime.as_str(), &a.id).cmp(&(b.runtime.as_str(), &b.id)));
    }
    forget_gone(&namespaces);
    NsList {
        namespaces,
        unreadable,
    }
}

/// Processes whose cgroup is read per namespace to name its containers at each scan (a
/// container's processes share its cgroup; the members seen are remembered, so a namespace
/// shared by more containers than this is named whole over a few scans as its pids change).
const LABEL_SAMPLE: usize = 16;

/// Forgets the remembered members of namespaces no longer listed.
fn forget_gone(list: &[IpcNamespace]) {
    container::names::forget_namespaces_except(&list.iter().map(|n| n.inode).collect());
}

/// The IPC namespaces of the processes of a scan (as [`list`], without walking /proc again),
/// their containers from the cgroups of a few of each one's processes. Processes whose
/// namespace was unreadable are left out.
pub fn of_procs(procs: &[ProcRead], ours: Option<u64>) -> Vec<IpcNamespace> {
    let init = container::names::init_ipc_ns();
    let mut by_ns: BTreeMap<u64, IpcNamespace> = BTreeMap::new();
    for p in procs.iter().filter(|p| !matches!(p.state, 'Z' | 'X')) {
        let Some(inode) = p.ipc_ns else { continue };
        by_ns
            .entry(inode)
            .or_insert_with(|| IpcNamespace {
                inode,
                pids: Vec::new(),
                containers: Vec::new(),
                ours: Some(inode) == ours,
                init: Some(inode) == init,
            })
            .pids
            .push(p.pid);
    }
    let mut out: Vec<IpcNamespace> = by_ns.into_values().collect();
    for ns in &mut out {
        for &pid in ns.pids.iter().take(LABEL_SAMPLE) {
            if let Some(c) = container::of_pid(pid) {
                if !ns.containers.contains(&c) {
                    ns.containers.push(c);
                }
            }
        }
        ns.containers
            .sort_by(|a, b| (a.runtime.as_str(), &a.id).cmp(&(b.runtime.as_str(), &b.id)));
    }
    forget_gone(&out);
    out
}

/// What `--container NAME` selects on this machine now (see [`select`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// The labels NAME names, ','-joined: the model's scope
    /// ([`crate::model::Scope::Container`]) and the cgroup labels of calls it admits.
    pub name: String,
    /// The namespaces named (the init namespace only for "host").
    pub namespaces: BTreeSet<u64>,
    /// The containers named that share the init namespace (`--ipc=host`): theirs are their
    /// processes, by cgroup, not the host's namespace.
    pub host_ipc: Vec<String>,
}

/// What `--container NAME` selects among the live namespaces (see [`select_in`]).
pub fn select(name: &str) -> Result<Selection, String> {
    select_in(&list().namespaces, name)
}

/// Namespaces and containers listed at most in the sentence saying what exists.
const LISTED: usize = 24;

/// What `--container NAME` selects in `list`: every namespace whose label NAME names or one
/// of whose containers it names ([`Member::matches`]: a name, an id or prefix,
/// `runtime:name`, `namespace/pod`, a pod uid, a Kubernetes container name); a container
/// in the init namespace is selected by itself. `Err`: one sentence — nothing matches (and
/// what exists), or containers cannot be named here (and why).
pub fn select_in(list: &[IpcNamespace], name: &str) -> Result<Selection, String> {
    let name = name.trim();
    let mut sel = Selection::default();
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut exist: Vec<String> = Vec::new();
    let mut unnamed: BTreeSet<String> = BTreeSet::new();
    for ns in list {
        let label = ns.label();
        let members = ns.members();
        unnamed.extend(members.iter().filter(|m| m.unnamed()).map(Member::label));
        if !ns.init && container::names::label_matches(&label, name) {
            sel.namespaces.insert(ns.inode);
            names.insert(label.clone());
        }
        for m in &members {
            let l = m.label();
            if m.matches(name) || container::names::label_matches(&l, name) {
                if ns.init {
                    sel.host_ipc.push(l.clone());
                } else {
                    sel.namespaces.insert(ns.inode);
                    names.insert(label.clone());
                }
                names.insert(l.clone());
            }
            if ns.init {
                exist.push(format!("{l} (host IPC)"));
            }
        }
        if ns.init && name == "host" {
            sel.namespaces.insert(ns.inode);
            names.insert(label.clone());
        }
        exist.push(label);
    }
    if !sel.namespaces.is_empty() || !sel.host_ipc.is_empty() {
        sel.host_ipc.sort();
        sel.host_ipc.dedup();
        let parts: BTreeSet<&str> = names.iter().flat_map(|n| n.split(',')).collect();
        sel.name = parts.into_iter().collect::<Vec<_>>().join(",");
        return Ok(sel);
    }
    exist.sort();
    exist.dedup();
    let more = exist.len().saturating_sub(LISTED);
    exist.truncate(LISTED);
    let mut why = format!(
        "no container or IPC namespace is named {:?}; there are: {}{}",
        crate::text::escape(name),
        crate::text::escape(&exist.join(", ")),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
    if let Some(blind) = container::blind_reason() {
        why = format!("{why} (and containers cannot be named here: {blind})");
    } else if !unnamed.is_empty() {
        why = format!(
            "{why} ({} container(s) are known here only by id, their runtime's state not \
             found: select them by id)",
            unnamed.len()
        );
    }
    Err(why)
}

/// The processes of containers sharing the host's IPC namespace (`--ipc=host`, as
/// [`Selection::host_ipc`] names them) now, found by their cgroup among the init namespace's:
/// that namespace, and each process's start (clock ticks).
pub fn host_ipc_procs(host_ipc: &[String]) -> (u64, BTreeMap<u32, Option<u64>>) {
    host_ipc_procs_in(&list().namespaces, host_ipc)
}

/// [`host_ipc_procs`] among the namespaces of `list`.
pub fn host_ipc_procs_in(
    list: &[IpcNamespace],
    host_ipc: &[String],
) -> (u64, BTreeMap<u32, Option<u64>>) {
    let init = list.iter().find(|n| n.init);
    let mut pids = BTreeMap::new();
    for &pid in init.map(|n| n.pids.as_slice()).unwrap_or_default() {
        let Some(c) = container::of_pid(pid).filter(|c| !c.is_host()) else {
            continue;
        };
        if host_ipc.contains(&container::member(&c).label()) {
            pids.insert(pid, start_ticks(pid));
        }
    }
    let ns = init.map_or_else(
        || container::names::init_ipc_ns().unwrap_or_default(),
        |n| n.inode,
    );
    (ns, pids)
}

/// A process's start (`/proc/PID/stat`'s starttime, clock ticks since boot).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the comm's closing parenthesis: state is field 3, starttime field 22.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The IPC objects of one namespace.
#[derive(Clone, Debug)]
pub struct NsObjects {
    /// The namespace read (checked from inside: the reading thread's own `ns/ipc`).
    pub ipc_ns: u64,
    /// The process whose namespace was entered (`None`: ours, not entered).
    pub via_pid: Option<u32>,
    pub shm: Vec<ShmRow>,
    pub sem: Vec<SemSetRead>,
    pub msg: Vec<MsgRead>,
    /// The namespace's own limits (`/proc/sys/kernel/{sem,shm*,msg*}` are per namespace).
    pub limits: Limits,
    /// Lines or files that could not be read.
    pub problems: Vec<String>,
}

/// Reads `/proc/sysvipc/*` (and semaphore values, queue sizes and limits) in the calling
/// thread's IPC namespace, `ipc_ns`; with a `cache`, only the semaphore sets that changed
/// since its last read of that namespace (see [`SemCache`]).
pub(crate) fn read_here(
    ipc_ns: u64,
    via_pid: Option<u32>,
    cache: Option<&Mutex<SemCache>>,
) -> NsObjects {
    let mut problems = Vec::new();
    let mut text = |name: &str| {
        let path = format!("/proc/sysvipc/{name}");
        match std::fs::read_to_string(&path) {
            Ok(t) => (path, t),
            Err(e) => {
                problems.push(format!("{path}: {e}"));
                (path, String::new())
            }
        }
    };
    let (shm_path, shm_text) = text("shm");
    let (sem_path, sem_text) = text("sem");
    let (msg_path, msg_text) = text("msg");
    let (shm, e1) = sysvipc::parse_shm(&shm_path, &shm_text);
    let (sem_rows, e2) = sysvipc::parse_sem(&sem_path, &sem_text);
    let (msg_rows, e3) = sysvipc::parse_msg(&msg_path, &msg_text);
    problems.extend(e1.iter().chain(&e2).chain(&e3).map(|e| e.to_string()));
    let sem = match cache.and_then(|c| c.lock().ok()) {
        Some(mut c) => c
            .read(ipc_ns, sem_rows)
            .into_iter()
            .map(|(row, values)| SemSetRead { row, values })
            .collect(),
        None => sem_rows
            .into_iter()
            .map(|row: super::SemRow| SemSetRead {
                values: semvals::read_set(row.semid, row.nsems),
                row,
            })
            // Removed since it was listed: not an error, just gone.
            .filter(|s| s.values != Err(ReadFail::Gone))
            .collect(),
    };
    let msg = msg_rows
        .into_iter()
        .map(|row: MsgRow| MsgRead {
            qbytes: semvals::queue_qbytes(row.msqid),
            row,
        })
        .filter(|m| m.qbytes != Err(ReadFail::Gone))
        .collect();
    NsObjects {
        ipc_ns,
        via_pid,
        shm,
        sem,
        msg,
        limits: limits::read(),
        problems,
    }
}

/// Opens the IPC namespace `inode` through one of `pids` (the first still alive whose
/// namespace is still that one: a pid reused by another process is not taken for it).
fn open_ns(inode: u64, pids: &[u32]) -> Result<(std::fs::File, u32), String> {
    let mut last = String::from("it has no processes left");
    for &pid in pids {
        match std::fs::File::open(format!("/proc/{pid}/ns/ipc")) {
            Ok(f) if f.metadata().is_ok_and(|m| m.ino() == inode) => return Ok((f, pid)),
            Ok(_) => last = format!("pid {pid} is now in another namespace"),
            Err(e) => last = format!("/proc/{pid}/ns/ipc: {e}"),
        }
    }
    Err(last)
}

/// The calling thread's IPC namespace.
fn thread_ns() -> Option<u64> {
    procs::ns_inode(Path::new("/proc/thread-self/ns/ipc")).ok()
}

/// Enters the namespace `inode` (by one of `pids`) on the calling thread and reads it.
fn enter_and_read(
    inode: u64,
    pids: &[u32],
    cache: Option<&Mutex<SemCache>>,
) -> Result<NsObjects, String> {
    let (f, pid) = open_ns(inode, pids).map_err(|e| format!("IPC namespace {inode}: {e}"))?;
    // SAFETY: a valid namespace fd; setns only changes this thread's IPC namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWIPC) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!(
            "cannot enter IPC namespace {inode} through pid {pid} (needs root / \
             CAP_SYS_ADMIN): {e}"
        ));
    }
    match thread_ns() {
        Some(now) if now == inode => Ok(read_here(inode, Some(pid), cache)),
        now => Err(format!(
            "after setns the thread is in namespace {now:?}, not {inode}"
        )),
    }
}

/// Reads the objects of every namespace of `list`, in its order: each one's objects, or one
/// sentence saying why it could not be read. All on one thread of their own, which reads the
/// caller's namespace first (without setns), then enters the others in turn, then ends.
pub fn read(list: &[IpcNamespace]) -> Vec<Result<NsObjects, String>> {
    read_with(list, None)
}

/// [`read`], with a cache of semaphore values per namespace (see [`SemCache`]).
pub fn read_with(
    list: &[IpcNamespace],
    cache: Option<&Mutex<SemCache>>,
) -> Vec<Result<NsObjects, String>> {
    if list.is_empty() {
        return Vec::new();
    }
    let here = thread_ns();
    let work = move || {
        // The thread starts in the caller's namespace: read that one before leaving it.
        let mut out: Vec<Option<Result<NsObjects, String>>> = list
            .iter()
            .map(|ns| (Some(ns.inode) == here).then(|| Ok(read_here(ns.inode, None, cache))))
            .collect();
        for (ns, slot) in list.iter().zip(&mut out) {
            if slot.is_none() {
                *slot = Some(enter_and_read(ns.inode, &ns.pids, cache));
            }
        }
        out
    };
    let joined = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("ipctop-nsread".into())
            .spawn_scoped(s, work)
            .map(|h| h.join())
    });
    let all = |why: String| vec![Err(why); list.len()];
    match joined {
        Ok(Ok(out)) => out
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err("not read".into())))
            .collect(),
        Ok(Err(_)) => all("the namespace reader thread panicked".into()),
        Err(e) => all(format!("cannot start the namespace reader thread: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::{names::NsNames, Runtime};

    fn k(runtime: Runtime, id: &str, pod: Option<&str>) -> Container {
        Container {
            runtime,
            id: id.into(),
            pod_uid: pod.map(String::from),
        }
    }

    fn ns(inode: u64, containers: Vec<Container>) -> IpcNamespace {
        IpcNamespace {
            inode,
            pids: vec![1],
            containers,
            ours: false,
            init: inode == 1,
        }
    }

    #[test]
    fn nothing_named_says_what_exists_and_containers_known_only_by_id() {
        // Ids no runtime's state here names.
        let id = "0badc0de".repeat(8);
        let docker = k(Runtime::Docker, &id, None);
        let list = [
            ns(1, vec![Container::host(), docker.clone()]),
            ns(4_026_530_001, vec![k(Runtime::Lxc, "web", None)]),
        ];
        let e = select_in(&list, "db").unwrap_err();
        assert!(
            e.contains("no container or IPC namespace is named \"db\""),
            "{e}"
        );
        assert!(
            e.contains("lxc:web") && e.contains("docker:0badc0de0bad (host IPC)"),
            "{e}"
        );
        if container::blind_reason().is_none() {
            assert!(
                e.contains("1 container(s) are known here only by id"),
                "{e}"
            );
        }
        // By name the LXC one's namespace, by id prefix the host-IPC one (its processes).
        let s = select_in(&list, "web").unwrap();
        assert_eq!(s.namespaces, [4_026_530_001].into());
        let s = select_in(&list, "0badc0de").unwrap();
        assert!(s.namespaces.is_empty() && s.host_ipc == ["docker:0badc0de0bad"]);
    }

    #[test]
    fn labels() {
        let id = "3f4e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f";
        let pod = "5f0c6f4e-1b2c-4d5e-8f9a-0b1c2d3e4f50";
        let docker = k(Runtime::Docker, id, None);
        let mut m = NsNames::default();
        // Inodes of no real namespace (the labels' memory is by inode).
        assert_eq!(ns(11, vec![]).label_in(&mut m), "ns:11");
        assert_eq!(ns(1, vec![Container::host()]).label_in(&mut m), "host");
        // Not the init namespace, no container's: never "host".
        assert_eq!(ns(12, vec![Container::host()]).label_in(&mut m), "ns:12");
        assert_eq!(
            ns(13, vec![docker.clone()]).label_in(&mut m),
            "docker:3f4e5a6b7c8d"
        );
        // Containers sharing the host's IPC namespace leave it the host's.
        assert_eq!(
            ns(1, vec![docker.clone(), Container::host()]).label_in(&mut m),
            "host"
        );
        // A host process entering a container's namespace does not relabel it.
        assert_eq!(
            ns(13, vec![docker.clone(), Container::host()]).label_in(&mut m),
            "docker:3f4e5a6b7c8d"
        );
        // A member that left stays.
        assert_eq!(
            ns(13, vec![Container::host()]).label_in(&mut m),
            "docker:3f4e5a6b7c8d"
        );
        // A pod's containers (the sandbox and the app) share the pod's namespace.
        let pause = k(Runtime::Containerd, &id.replace('3', "4"), Some(pod));
        let app = k(Runtime::Containerd, id, Some(pod));
        assert_eq!(
            ns(14, vec![pause.clone(), app]).label_in(&mut m),
            "pod:5f0c6f4e"
        );
        assert_eq!(ns(15, vec![pause]).label_in(&mut m), "pod:5f0c6f4e");
        let lxc = k(Runtime::Lxc, "web", None);
        assert_eq!(
            ns(16, vec![docker, lxc]).label_in(&mut m),
            "docker:3f4e5a6b7c8d,lxc:web"
        );
        // Gone namespaces are forgotten: the inode again is a new namespace.
        m.forget_except(&[16].into());
        assert_eq!(ns(13, vec![]).label_in(&mut m), "ns:13");
        assert_eq!(
            ns(16, vec![]).label_in(&mut m),
            "docker:3f4e5a6b7c8d,lxc:web"
        );
    }
}
