//! Which namespace an inode names now. The kernel reuses an IPC namespace's inode as soon as
//! the namespace is freed (a host starting short-lived containers gets the same inode again
//! and again), so rows and holds stamped with the same inode can be of many namespaces one
//! after the other; the kernel's namespace id (`ns_common.ns_id`, 6.18) tells them apart. Ids
//! are unique but not ordered (they are handed out in per-CPU batches), so which namespace
//! came later is told by time: namespaces of one inode never overlap, so the one whose calls
//! are later is the newer.
use std::collections::HashMap;

use super::NsId;

/// Per inode, the namespace seen last and the time of its latest call.
#[derive(Clone, Debug, Default)]
pub struct NsGenerations {
    now: HashMap<NsId, (u64, u64)>,
}

/// What a namespace id is to its inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// The inode's namespace now (or the first seen).
    Current,
    /// A namespace after the one before: that one has ended.
    Newer,
    /// A namespace the inode had before its current one.
    Older,
}

impl NsGenerations {
    /// Notes namespace `id` of inode `ino` with a call at monotonic `t` (0: unknown time).
    pub fn see(&mut self, ino: NsId, id: u64, t: u64) -> Generation {
        let e = self.now.entry(ino).or_insert((id, t));
        if e.0 == id {
            e.1 = e.1.max(t);
            Generation::Current
        } else if t > e.1 {
            *e = (id, t);
            Generation::Newer
        } else {
            Generation::Older
        }
    }

    /// The namespace id the inode names now, if known.
    pub fn current(&self, ino: NsId) -> Option<u64> {
        self.now.get(&ino).map(|e| e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_later_namespace_of_an_inode_is_told_by_time_not_by_its_id() {
        let mut g = NsGenerations::default();
        assert_eq!(g.see(1, 7406, 100), Generation::Current);
        assert_eq!(g.see(1, 7406, 150), Generation::Current);
        // A smaller id, later: a newer namespace (ids come in per-CPU batches).
        assert_eq!(g.see(1, 3573, 200), Generation::Newer);
        assert_eq!(g.current(1), Some(3573));
        // The one before, with a call older than the current one's latest: older.
        assert_eq!(g.see(1, 7406, 150), Generation::Older);
        assert_eq!(g.current(1), Some(3573));
        // Other inodes are their own.
        assert_eq!(g.see(2, 7406, 10), Generation::Current);
    }
}
