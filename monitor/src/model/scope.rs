//! Which IPC namespaces the model's accessors show: all (the default), one by inode, or those
//! of a container. Set by `--ipc-ns PID|INODE`, `--container NAME` or the UI
//! ([`super::Model::set_scope`]); everything is kept whatever the scope, so changing it
//! loses nothing.
use super::NsId;

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
}

impl Scope {
    /// Whether a namespace with this container label (`None`: unknown) is in the scope.
    pub fn admits(&self, ns: NsId, label: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::Ns(n) => *n == ns,
            Scope::Container(name) => label.is_some_and(|l| label_matches(l, name)),
        }
    }

    /// In words, for headers and messages: "all IPC namespaces", "IPC namespace 4026532177",
    /// "container web".
    pub fn describe(&self) -> String {
        match self {
            Scope::All => "all IPC namespaces".into(),
            Scope::Ns(n) => format!("IPC namespace {n}"),
            Scope::Container(c) => format!("container {c}"),
        }
    }
}

/// Whether `--container NAME` names a namespace of this label: the whole label
/// (`docker:3f4e5a6b7c8d`, `host`, `pod:5f0c6f4e`), or its id part, or a prefix of it of at
/// least 4 characters, or a longer id that starts with it (a full 64-digit container id);
/// a label "A+N" (unrelated containers sharing one namespace) matches by its first.
pub fn label_matches(label: &str, name: &str) -> bool {
    let name = name.trim();
    if name.is_empty() {
        return false;
    }
    let label = label.split_once('+').map_or(label, |(first, _)| first);
    if label == name {
        return true;
    }
    let id = label.split_once(':').map_or(label, |(_, id)| id);
    let name = name.split_once(':').map_or(name, |(_, id)| id);
    id == name
        || (name.len() >= 4 && id.starts_with(name))
        || (id.len() >= 12 && name.starts_with(id))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(label_matches("lxc:web+1", "web"));
        assert!(label_matches("pod:5f0c6f4e", "pod:5f0c6f4e"));
        let s = Scope::Container("web".into());
        assert!(s.admits(1, Some("lxc:web")));
        assert!(!s.admits(1, None));
        assert!(Scope::Ns(7).admits(7, None) && !Scope::Ns(7).admits(8, Some("host")));
        assert!(Scope::All.admits(9, None));
    }
}
