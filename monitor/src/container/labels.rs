//! Container labels of the cgroup ids the probe reads ("host", "podman:web",
//! "pod:default/web", "docker:3f4e5a6b7c8d" when its runtime's state names nothing), looked
//! up once per id through [`CgroupPaths`], [`from_path`](super::from_path) and
//! [`member`](super::member).
use std::collections::HashMap;

use super::CgroupPaths;

/// Ids remembered at most (cleared when full).
const CAP: usize = 65_536;

/// A cache of labels by cgroup id.
pub struct Labels {
    /// `None`: no unified hierarchy (cgroup v1 only): ids name nothing to look up.
    paths: Option<CgroupPaths>,
    labels: HashMap<u64, Option<String>>,
}

impl Labels {
    /// For this system's cgroup2 mount.
    pub fn system() -> Labels {
        Labels::new(CgroupPaths::system())
    }

    pub fn new(paths: Option<CgroupPaths>) -> Labels {
        Labels {
            paths,
            labels: HashMap::new(),
        }
    }

    /// Whether cgroup ids can be named at all (a cgroup2 mount was found).
    pub fn can_name(&self) -> bool {
        self.paths.is_some()
    }

    /// The label of the cgroup `id`: "host" for a cgroup of no container; `None` when the id
    /// names no cgroup that can be found (gone, or no unified hierarchy).
    pub fn of(&mut self, id: u64) -> Option<&str> {
        if !self.labels.contains_key(&id) {
            let label = self.paths.as_mut().and_then(|p| {
                p.path_of(id).map(|path| {
                    super::from_path(path)
                        .map_or_else(|| "host".to_string(), |c| super::member(&c).label())
                })
            });
            if self.labels.len() >= CAP {
                self.labels.clear();
            }
            self.labels.insert(id, label);
        }
        self.labels.get(&id).and_then(|l| l.as_deref())
    }
}
