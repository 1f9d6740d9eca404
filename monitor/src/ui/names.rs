//! User and group names for uids and gids, as `ps`, `ls` and `ipctop snapshot` show them:
//! looked up once each and remembered; the number when there is no name. A replay shows
//! numbers (this machine's names may not be the recording machine's).
use std::{cell::RefCell, collections::BTreeMap, sync::Arc};

#[derive(Clone, Debug, Default)]
pub struct Names {
    /// Fixed names instead of the system's (tests); `None`: the system's.
    fixed: Option<Arc<BTreeMap<u32, String>>>,
    /// Numbers only.
    numeric: bool,
    users: RefCell<BTreeMap<u32, String>>,
    groups: RefCell<BTreeMap<u32, String>>,
}

impl Names {
    /// These names for both uids and gids, numbers for the rest.
    pub fn fixed(names: &[(u32, &str)]) -> Self {
        Self {
            fixed: Some(Arc::new(
                names.iter().map(|&(i, n)| (i, n.to_string())).collect(),
            )),
            ..Self::default()
        }
    }

    pub fn numeric() -> Self {
        Self {
            numeric: true,
            ..Self::default()
        }
    }

    fn name(&self, id: u32, cache: &RefCell<BTreeMap<u32, String>>, group: bool) -> String {
        if self.numeric {
            return id.to_string();
        }
        if let Some(f) = &self.fixed {
            return f.get(&id).cloned().unwrap_or_else(|| id.to_string());
        }
        cache
            .borrow_mut()
            .entry(id)
            .or_insert_with(|| {
                let name = if group {
                    nix::unistd::Group::from_gid(id.into())
                        .ok()
                        .flatten()
                        .map(|g| g.name)
                } else {
                    nix::unistd::User::from_uid(id.into())
                        .ok()
                        .flatten()
                        .map(|u| u.name)
                };
                name.map_or_else(|| id.to_string(), |n| crate::text::escape(&n).into_owned())
            })
            .clone()
    }

    /// A uid's user name, or the uid.
    pub fn user(&self, uid: u32) -> String {
        self.name(uid, &self.users, false)
    }

    /// A gid's group name, or the gid.
    pub fn group(&self, gid: u32) -> String {
        self.name(gid, &self.groups, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_or_numbers() {
        let n = Names::fixed(&[(1000, "postgres")]);
        assert_eq!(n.user(1000), "postgres");
        assert_eq!(n.group(999), "999");
        assert_eq!(Names::numeric().user(0), "0");
        // The system's: root is uid 0 everywhere.
        assert_eq!(Names::default().user(0), "root");
        assert_eq!(Names::default().user(4_000_000_000), "4000000000");
    }
}
