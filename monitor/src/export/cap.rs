//! Bounded cardinality: at most `max_objects` objects get series of their own, and at most
//! `max_comms` command names; what is left out is said, never silent.
//!
//! Both are sticky, so that a series does not come and go from one scrape to the next: an
//! object keeps its place while it exists (then its place goes to another), and a comm once
//! shown stays (its counts stay in the kernel). Objects compete for free places by what needs
//! looking at first (deadlocked, leaked, waited on), then by calls. Comms left out are summed
//! into `comm="other"`, which keeps every total exact and every counter monotonic.
use std::collections::{BTreeMap, HashSet};

use super::metrics::{CommStats, Host, Kind, Ns};

/// The caps and what they admitted so far.
#[derive(Debug)]
pub struct Cap {
    max_objects: usize,
    max_comms: usize,
    objects: HashSet<(Ns, Kind, i32)>,
    comms: HashSet<(Ns, String)>,
}

/// What a cap left out of one exposition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cut {
    /// Objects without series of their own, per (namespace, kind).
    pub objects: Vec<(Ns, Kind, u64)>,
    /// Command names summed into `comm="other"`.
    pub comms_merged: u64,
}

/// The comm that stands for every comm over the cap.
pub const OTHER_COMM: &str = "other";

impl Cap {
    pub fn new(max_objects: usize, max_comms: usize) -> Self {
        Self {
            max_objects,
            max_comms,
            objects: HashSet::new(),
            comms: HashSet::new(),
        }
    }

    /// Leaves out of `host` what is over the caps.
    pub fn apply(&mut self, host: &mut Host) -> Cut {
        let mut cut = Cut::default();
        let present: HashSet<(Ns, Kind, i32)> =
            host.objects.iter().map(|o| (o.ns, o.kind, o.id)).collect();
        self.objects.retain(|k| present.contains(k));
        let mut candidates: Vec<_> = host
            .objects
            .iter()
            .filter(|o| !self.objects.contains(&(o.ns, o.kind, o.id)))
            .map(|o| {
                let urgent = (o.deadlocked, o.leaked, o.waiters > 0);
                (
                    std::cmp::Reverse((urgent, o.total_calls())),
                    (o.ns, o.kind, o.id),
                )
            })
            .collect();
        candidates.sort();
        let room = self.max_objects.saturating_sub(self.objects.len());
        self.objects
            .extend(candidates.into_iter().take(room).map(|(_, k)| k));
        let mut left: BTreeMap<(Ns, Kind), u64> = BTreeMap::new();
        host.objects.retain(|o| {
            let keep = self.objects.contains(&(o.ns, o.kind, o.id));
            if !keep {
                *left.entry((o.ns, o.kind)).or_default() += 1;
            }
            keep
        });
        cut.objects = left.into_iter().map(|((n, k), c)| (n, k, c)).collect();

        let mut kept: Vec<CommStats> = Vec::new();
        let mut other: BTreeMap<Ns, CommStats> = BTreeMap::new();
        for c in std::mem::take(&mut host.comms) {
            let key = (c.ns, c.comm.clone());
            if !self.comms.contains(&key)
                && self.comms.len() < self.max_comms
                && c.comm != OTHER_COMM
            {
                self.comms.insert(key.clone());
            }
            if self.comms.contains(&key) {
                kept.push(c);
                continue;
            }
            cut.comms_merged += 1;
            let o = other.entry(c.ns).or_insert_with(|| CommStats {
                ns: c.ns,
                comm: OTHER_COMM.into(),
                calls: Vec::new(),
                wait_s: 0.0,
            });
            o.wait_s += c.wait_s;
            for s in c.calls {
                match o.calls.iter_mut().find(|x| x.syscall == s.syscall) {
                    Some(x) => {
                        x.calls += s.calls;
                        x.errors += s.errors;
                    }
                    None => o.calls.push(s),
                }
            }
        }
        kept.extend(other.into_values());
        host.comms = kept;
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::metrics::{ObjectStats, SyscallCount};

    fn obj(id: i32, calls: u64) -> ObjectStats {
        let mut o = ObjectStats::new(1, Kind::Sem, id);
        o.calls.push(SyscallCount {
            syscall: "semop",
            calls,
            errors: 0,
        });
        o
    }

    fn comm(name: &str, calls: u64) -> CommStats {
        CommStats {
            ns: 1,
            comm: name.into(),
            calls: vec![SyscallCount {
                syscall: "semop",
                calls,
                errors: 1,
            }],
            wait_s: 0.5,
        }
    }

    #[test]
    fn objects_over_the_cap_are_cut_and_counted_and_places_are_sticky() {
        let mut cap = Cap::new(2, 10);
        let mut h = Host {
            objects: vec![obj(1, 5), obj(2, 50), obj(3, 500)],
            ..Default::default()
        };
        let cut = cap.apply(&mut h);
        let ids: Vec<i32> = h.objects.iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![2, 3], "the busiest get the places");
        assert_eq!(cut.objects, vec![(1, Kind::Sem, 1)]);
        // Object 1 becomes the busiest: it does not push out an object that has a place.
        let mut h = Host {
            objects: vec![obj(1, 5000), obj(2, 50), obj(3, 500)],
            ..Default::default()
        };
        cap.apply(&mut h);
        let ids: Vec<i32> = h.objects.iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![2, 3]);
        // Object 2 is removed: its place goes to object 1.
        let mut h = Host {
            objects: vec![obj(1, 5000), obj(3, 500)],
            ..Default::default()
        };
        let cut = cap.apply(&mut h);
        let ids: Vec<i32> = h.objects.iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![1, 3]);
        assert!(cut.objects.is_empty());
    }

    #[test]
    fn a_deadlocked_object_gets_a_free_place_before_a_busy_one() {
        let mut cap = Cap::new(1, 10);
        let mut quiet = obj(7, 0);
        quiet.deadlocked = true;
        let mut h = Host {
            objects: vec![obj(1, 1000), quiet],
            ..Default::default()
        };
        cap.apply(&mut h);
        assert_eq!(h.objects[0].id, 7);
    }

    #[test]
    fn comms_over_the_cap_are_summed_into_other() {
        let mut cap = Cap::new(10, 1);
        let mut h = Host {
            comms: vec![comm("a", 1), comm("b", 2), comm("c", 3)],
            ..Default::default()
        };
        let cut = cap.apply(&mut h);
        assert_eq!(cut.comms_merged, 2);
        assert_eq!(h.comms.len(), 2);
        assert_eq!(h.comms[0].comm, "a");
        let o = &h.comms[1];
        assert_eq!(o.comm, OTHER_COMM);
        assert_eq!((o.calls[0].calls, o.calls[0].errors), (5, 2));
        assert_eq!(o.wait_s, 1.0);
    }
}
