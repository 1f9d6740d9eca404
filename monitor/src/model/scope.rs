//! Which IPC namespaces the model's accessors show: all (the default), one by inode, those
//! of a container, or a container's processes within a namespace it shares with the host
//! (`--ipc=host`: [`Scope::Procs`]). Set by `--ipc-ns PID|INODE`, `--container NAME` or the
//! UI ([`super::Model::set_scope`]); everything is kept whatever the scope, so changing it
//! loses nothing.
use std::collections::BTreeMap;

use super::{Model, NsId, ObjId, ObjKind};

/// The namespaces shown. See the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every namespace.
    #[default]
    All,
    /// One IPC namespace, by the inode of its `/proc/PID/ns/ipc`.
    Ns(NsId),
    /// The namespaces whose container label matches this name (see [`label_matches`]).
    Container(String),
    /// A container's processes (found by their cgroup) within a namespace they share with
    /// others (`--ipc=host`): the processes `pids` (pid → start in clock ticks, `None`:
    /// any) and those they fork (followed by the snapshots' parent links), and the objects
    /// of `ns` they made, use, are attached to or wait on. `name` is the container's label.
    Procs {
        name: String,
        ns: NsId,
        pids: BTreeMap<u32, Option<u64>>,
    },
}

impl Scope {
    /// Whether a namespace with this container label (`None`: unknown) is in the scope.
    pub fn admits(&self, ns: NsId, label: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::Ns(n) => *n == ns,
            Scope::Container(name) => label.is_some_and(|l| label_matches(l, name)),
            Scope::Procs { ns: n, .. } => *n == ns,
        }
    }

    /// Whether a process (its pid and start, when known) of the namespace `ns` (with this
    /// container label) is in the scope: its namespace's, or for [`Scope::Procs`] one of its
    /// processes (a pid reused by another process, of another start, is not).
    pub fn admits_pid(
        &self,
        (pid, start): (u32, Option<u64>),
        ns: NsId,
        label: Option<&str>,
    ) -> bool {
        match self {
            Scope::Procs { pids, .. } => pids.get(&pid).is_some_and(|&s| same_start(s, start)),
            s => s.admits(ns, label),
        }
    }

    /// In words, for headers and messages: "all IPC namespaces", "IPC namespace 4026532177",
    /// "container web".
    pub fn describe(&self) -> String {
        match self {
            Scope::All => "all IPC namespaces".into(),
            Scope::Ns(n) => format!("IPC namespace {n}"),
            Scope::Container(c) | Scope::Procs { name: c, .. } => format!("container {c}"),
        }
    }
}

/// Whether two starts (clock ticks) are one process's (`None`: unknown, any).
fn same_start(a: Option<u64>, b: Option<u64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.abs_diff(b) <= 1,
        _ => true,
    }
}

impl Model {
    /// Whether the process `pid` (the one the model knows now, or knew last) is shown: of a
    /// namespace in scope, or one of the processes of a [`Scope::Procs`].
    pub fn pid_in_scope(&self, pid: u32) -> bool {
        let ns = self.process_ns(pid);
        let start = self
            .processes
            .get(&pid)
            .and_then(|p| p.start_ticks)
            .or_else(|| self.account.process_start(pid));
        self.scope
            .admits_pid((pid, start), ns, self.container_of(ns))
    }

    /// Whether a process of a namespace in scope, or of a [`Scope::Procs`], by its pid and
    /// start as a snapshot saw it.
    pub(super) fn process_in_scope(&self, p: &super::Process) -> bool {
        let ns = p.ipc_ns.unwrap_or(self.home_ns);
        self.scope
            .admits_pid((p.pid, p.start_ticks), ns, self.container_of(ns))
    }

    /// A [`Scope::Procs`] follows its processes' forks: after each snapshot, the processes
    /// whose parent (seen in the same snapshot, of its start) is one of them are too; a
    /// process whose start was unknown takes the one the snapshot shows.
    pub(super) fn follow_scope_forks(&mut self) {
        let Scope::Procs { pids, .. } = &mut self.scope else {
            return;
        };
        for p in self.processes.values() {
            if let Some(s @ None) = pids.get_mut(&p.pid) {
                *s = p.start_ticks;
            }
        }
        loop {
            let new: Vec<(u32, Option<u64>)> = self
                .processes
                .values()
                .filter(|p| !pids.contains_key(&p.pid))
                .filter(|p| {
                    self.processes.get(&p.ppid).is_some_and(|q| {
                        pids.get(&q.pid)
                            .is_some_and(|&s| same_start(s, q.start_ticks))
                    })
                })
                .map(|p| (p.pid, p.start_ticks))
                .collect();
            if new.is_empty() {
                break;
            }
            pids.extend(new);
        }
    }

    /// Whether an object is shown: of a namespace in scope; for a [`Scope::Procs`] also made
    /// (as the kernel or the probe says), used (its account, or the kernel's last operating,
    /// sending or receiving pid), attached or waited on by one of its processes.
    pub fn obj_in_scope(&self, kind: ObjKind, id: ObjId) -> bool {
        let Scope::Procs { ns, pids, .. } = &self.scope else {
            return self.in_scope(id.ns);
        };
        if id.ns != *ns {
            return false;
        }
        let has = |p: &u32| pids.contains_key(p) && self.pid_in_scope(*p);
        let kernel = match kind {
            ObjKind::Shm => self.segments.get(&id).map(|s| {
                has(&s.creator_pid) || has(&s.last_pid) || s.attached_pids().iter().any(has)
            }),
            ObjKind::Sem => self.sem_sets.get(&id).map(|s| {
                s.creator_pid.as_ref().is_some_and(has)
                    || s.semaphores
                        .iter()
                        .flatten()
                        .any(|x| x.last_pid != 0 && has(&x.last_pid))
            }),
            ObjKind::Msg => self.queues.get(&id).map(|q| {
                q.creator_pid.as_ref().is_some_and(has)
                    || has(&q.last_send_pid)
                    || has(&q.last_recv_pid)
            }),
        };
        kernel == Some(true)
            || self.creation(kind, id).is_some_and(|c| has(&c.pid))
            || self.account.users_of(kind, id).any(|(p, _)| has(&p))
            || self.waiters_at(kind, id).any(|p| has(&p))
    }
}

pub use crate::container::names::label_matches;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, Feed, MONO, NOW, NS, ROOT};

    /// In the home namespace: set 0 last operated on by pid 10 (the container's), set 1 by
    /// pid 30 (the host's), and pid 11, forked by 10 after the scope was set.
    #[test]
    fn a_host_ipc_containers_processes_and_their_objects_only() {
        let mut s = fixtures::snapshot(MONO, 1 << 30, None);
        for (id, pid) in [(0, 10), (1, 30)] {
            s.sem.push(fixtures::sem(
                id,
                0x11 + id,
                0o600,
                ROOT,
                &[(1, 0, pid)],
                NOW,
                NOW,
            ));
        }
        let mut child = fixtures::process(11, "worker", None, NOW - 10);
        child.ppid = 10;
        let mut waiter = fixtures::process(30, "hostie", None, NOW - 100);
        waiter.waits = Some(vec![fixtures::sem_wait(30, 1, 0, -1)]);
        s.processes
            .extend([fixtures::process(10, "app", None, NOW - 100), child, waiter]);
        let mut m = Model::new();
        m.set_scope(Scope::Procs {
            name: "podman:web".into(),
            ns: NS,
            pids: [(10, None)].into(),
        });
        m.feed_snapshot(&s);
        let pids: Vec<u32> = m.processes().map(|p| p.pid).collect();
        assert_eq!(pids, [10, 11], "its process and the one it forked");
        assert_eq!(m.sem_sets().map(|s| s.id.id).collect::<Vec<_>>(), [0]);
        assert_eq!(m.waits().count(), 0, "the host's waiter is not its");
        assert!(m.pid_in_scope(10) && !m.pid_in_scope(30));
        assert_eq!(m.scope().describe(), "container podman:web");
        // Pid 10 reused by another process (another start): not the container's.
        let mut s2 = s.clone();
        s2.mono_ns = MONO + 1;
        s2.processes.retain(|p| p.pid == 30);
        s2.processes
            .push(fixtures::process(10, "other", None, NOW - 1));
        m.feed_snapshot(&s2);
        assert!(!m.pid_in_scope(10));
        assert_eq!(m.sem_sets().count(), 0);
        // Another namespace is never in it.
        let sc = m.scope().clone();
        assert!(!sc.admits(NS + 1, Some("podman:web")));
        assert!(!sc.admits_pid((30, None), NS, Some("host")));
    }

    #[test]
    fn container_names_match_labels() {
        let l = "docker:3f4e5a6b7c8d";
        assert!(label_matches(l, l));
        assert!(label_matches(l, "3f4e5a6b7c8d"));
        assert!(label_matches(l, "3f4e"));
        assert!(label_matches(l, "docker:3f4e5a"));
        assert!(label_matches(
            l,
            "3f4e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f"
        ));
        assert!(!label_matches(l, "3f4"));
        assert!(!label_matches(l, "4f4e5a6b"));
        assert!(!label_matches(l, ""));
        assert!(label_matches("host", "host"));
        assert!(!label_matches("host", "hos"));
        // The runtime, when said, must be the member's.
        assert!(!label_matches(l, "podman:3f4e5a6b"));
        assert!(label_matches("podman:web", "web"));
        assert!(label_matches("podman:web", "podman:web"));
        assert!(!label_matches("podman:web", "docker:web"));
        // Names are whole: no prefixes of names.
        assert!(!label_matches("podman:webserver", "webs"));
        // Any member of a shared namespace names it; so does any of several names.
        assert!(label_matches("docker:db,docker:web", "web"));
        assert!(label_matches("docker:db,docker:web", "docker:db"));
        assert!(label_matches("podman:web", "docker:x,podman:web"));
        assert!(label_matches("pod:default/web", "default/web"));
        assert!(label_matches("pod:default/web", "pod:default/web"));
        assert!(label_matches("pod:5f0c6f4e", "pod:5f0c6f4e"));
        // "host" is the init namespace only; ns:INODE a namespace of no container.
        assert!(!label_matches("ns:4026532177", "host"));
        assert!(label_matches("ns:4026532177", "ns:4026532177"));
        let s = Scope::Container("web".into());
        assert!(s.admits(1, Some("lxc:web")));
        assert!(!s.admits(1, None));
        assert!(Scope::Ns(7).admits(7, None) && !Scope::Ns(7).admits(8, Some("host")));
        assert!(Scope::All.admits(9, None));
    }
}
