//! `report --container`: what a recording has of namespaces and containers (a name it has
//! nothing of is refused with one sentence), and an `--ipc=host` container's processes,
//! learned from its recorded calls' cgroups.

/// What a recording showed of namespaces and containers.
#[derive(Default)]
pub(super) struct Seen {
    /// Every namespace label its snapshots gave.
    pub(super) labels: std::collections::BTreeSet<String>,
    /// A [`crate::model::Scope::Procs`] found processes.
    pub(super) procs_found: bool,
}

/// A `--ipc=host` container's processes in a recording ([`crate::model::Scope::Procs`]
/// given without any): learned from the recorded calls whose cgroup (named by this
/// machine's cgroups, while they exist) is the container's, with their namespace.
pub(super) struct Learner {
    cgroups: crate::container::Labels,
}

impl Learner {
    /// For a [`crate::model::Scope::Procs`] given without processes (else `None`).
    pub(super) fn of(ns: &crate::model::Scope) -> Option<Learner> {
        matches!(ns, crate::model::Scope::Procs { pids, .. } if pids.is_empty()).then(|| Learner {
            cgroups: crate::container::Labels::system(),
        })
    }

    /// Adds the processes of `evs` of the scope's container to it; whether any was new.
    pub(super) fn learn(
        &mut self,
        model: &mut crate::model::Model,
        evs: &[crate::event::Event],
    ) -> bool {
        let crate::model::Scope::Procs { name, ns, pids } = model.scope() else {
            return false;
        };
        let (mut ns, mut pids) = (*ns, pids.clone());
        let mut added = false;
        for ev in evs {
            let Some(label) = ev.cgroup_id.and_then(|c| self.cgroups.of(c)) else {
                continue;
            };
            if label == "host" || !crate::model::label_matches(label, name) {
                continue;
            }
            if let Some(n) = ev.ipc_ns {
                ns = n;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = pids.entry(ev.pid) {
                e.insert(ev.proc_start);
                added = true;
            }
        }
        if added {
            let name = name.clone();
            model.set_scope(crate::model::Scope::Procs { name, ns, pids });
        }
        added
    }
}

impl Seen {
    /// The sentence refusing `ns`, when the recording has nothing of it.
    pub(super) fn refusal(&self, ns: &crate::model::Scope) -> Option<String> {
        let named = match ns {
            crate::model::Scope::Container(name) => self
                .labels
                .iter()
                .any(|l| crate::model::label_matches(l, name)),
            crate::model::Scope::Procs { .. } => self.procs_found,
            _ => true,
        };
        if named {
            return None;
        }
        let what = match ns {
            crate::model::Scope::Container(name) => name.split(',').next().unwrap_or(name),
            crate::model::Scope::Procs { name, .. } => name,
            _ => "",
        };
        let mut labels: Vec<&str> = self.labels.iter().map(String::as_str).collect();
        labels.sort_unstable();
        labels.dedup();
        Some(format!(
            "the recording has no container or IPC namespace named {:?}{}; it has: {}",
            crate::text::escape(what),
            if matches!(ns, crate::model::Scope::Procs { .. }) {
                " (a container in the host's IPC namespace is found by its calls' cgroup, which \
             must still exist here)"
            } else {
                ""
            },
            if labels.is_empty() {
                "no namespace labels".to_string()
            } else {
                crate::text::escape(&labels.join(", ")).into_owned()
            }
        ))
    }
}
