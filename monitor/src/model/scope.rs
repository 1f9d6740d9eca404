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

pub use crate::container::names::label_matches;

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
