//! Bounded cardinality: at most `max_objects` objects get series of their own, and at most
//! `max_comms` command names; what is left out is said, never silent.
//!
//! Objects: the places go by activity, ranked anew at every exposition, so that a busy or
//! troubled object always has its series and an idle one yields its place. First the
//! troubled (in a deadlock, or with threads waiting on them), then the busy (by calls since
//! the last exposition), then the leaked; among the idle, those that had a place keep it
//! (series do not come and go while nothing happens), then the most called. An object that
//! loses its place loses its series (its counters are not reset: they come back at their
//! value when it is busy again); the namespace's gauges still count it.
//!
//! Comms are sticky: a comm once shown stays (its counts stay in the kernel); those over the
//! cap are summed into `comm="other"`, which keeps every total exact and every counter
//! monotonic.
use std::collections::{BTreeMap, HashMap, HashSet};

use super::metrics::{CommStats, Host, Kind, Ns, ObjKey, ObjectStats};

/// The caps and what they admitted so far.
#[derive(Debug)]
pub struct Cap {
    max_objects: usize,
    max_comms: usize,
    /// Each object's calls at the last exposition (for its activity since), and whether it
    /// had a place.
    last: HashMap<ObjKey, (u64, bool)>,
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

/// How an object ranks for a place: greater is first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    deadlocked: bool,
    waiters: u64,
    recent_calls: u64,
    leaked: bool,
    had_place: bool,
    calls: u64,
}

impl Cap {
    pub fn new(max_objects: usize, max_comms: usize) -> Self {
        Self {
            max_objects,
            max_comms,
            last: HashMap::new(),
            comms: HashSet::new(),
        }
    }

    fn rank(&self, o: &ObjectStats) -> Rank {
        let calls = o.total_calls();
        let (before, had_place) = self.last.get(&o.key()).copied().unwrap_or((calls, false));
        Rank {
            deadlocked: o.deadlocked,
            waiters: o.waiters,
            recent_calls: calls.saturating_sub(before),
            leaked: o.leaked,
            had_place,
            calls,
        }
    }

    /// Leaves out of `host` what is over the caps.
    pub fn apply(&mut self, host: &mut Host) -> Cut {
        let mut cut = Cut::default();
        let objects = std::mem::take(&mut host.objects);
        let mut ranked: Vec<(std::cmp::Reverse<Rank>, usize)> = objects
            .iter()
            .enumerate()
            .map(|(i, o)| (std::cmp::Reverse(self.rank(o)), i))
            .collect();
        if ranked.len() > self.max_objects {
            ranked.select_nth_unstable(self.max_objects);
        }
        let mut placed = vec![false; objects.len()];
        for &(_, i) in ranked.iter().take(self.max_objects) {
            placed[i] = true;
        }
        let mut left: BTreeMap<(Ns, Kind), u64> = BTreeMap::new();
        self.last = HashMap::with_capacity(objects.len());
        for (o, keep) in objects.into_iter().zip(placed) {
            self.last.insert(o.key(), (o.total_calls(), keep));
            if keep {
                host.objects.push(o);
            } else {
                *left.entry((o.ns, o.kind)).or_default() += 1;
            }
        }
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
    use crate::export::metrics::SyscallCount;

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

    fn placed(cap: &mut Cap, objects: Vec<ObjectStats>) -> (Vec<i32>, Cut) {
        let mut h = Host {
            objects,
            ..Default::default()
        };
        let cut = cap.apply(&mut h);
        (h.objects.iter().map(|o| o.id).collect(), cut)
    }

    #[test]
    fn places_go_by_activity_and_idle_objects_keep_theirs_while_nothing_happens() {
        let mut cap = Cap::new(2, 10);
        // At first, nothing is recent: the most called.
        let (ids, cut) = placed(&mut cap, vec![obj(1, 5), obj(2, 50), obj(3, 500)]);
        assert_eq!(ids, [2, 3]);
        assert_eq!(cut.objects, [(1, Kind::Sem, 1)]);
        // Nothing moves: the same places.
        let (ids, _) = placed(&mut cap, vec![obj(1, 5), obj(2, 50), obj(3, 500)]);
        assert_eq!(ids, [2, 3]);
        // Object 1 gets busy: of the idle ones, the least called yields its place.
        let (ids, _) = placed(&mut cap, vec![obj(1, 6), obj(2, 50), obj(3, 500)]);
        assert_eq!(ids, [1, 3]);
        // Object 1 idle again, object 2 busy: 2 comes back; of the idle ones with places,
        // the most called stays.
        let (ids, _) = placed(&mut cap, vec![obj(1, 6), obj(2, 51), obj(3, 500)]);
        assert_eq!(ids, [2, 3]);
        // Object 2 is removed: its place goes to 1.
        let (ids, cut) = placed(&mut cap, vec![obj(1, 6), obj(3, 500)]);
        assert_eq!(ids, [1, 3]);
        assert!(cut.objects.is_empty());
    }

    #[test]
    fn a_troubled_or_busy_object_takes_a_place_from_idle_ones() {
        let mut cap = Cap::new(3, 10);
        let idle: Vec<ObjectStats> = (0..5).map(|i| obj(i, 1000 + i as u64)).collect();
        let (ids, _) = placed(&mut cap, idle.clone());
        assert_eq!(ids, [2, 3, 4]);
        let mut waited = obj(100, 0);
        waited.waiters = 3;
        let mut deadlocked = obj(101, 0);
        deadlocked.deadlocked = true;
        let mut objects = idle.clone();
        objects.push(obj(99, 0));
        let (ids, _) = placed(&mut cap, objects.clone());
        assert_eq!(ids, [2, 3, 4], "a new idle object waits");
        objects[5] = obj(99, 355);
        objects.extend([waited, deadlocked]);
        let (ids, cut) = placed(&mut cap, objects);
        assert_eq!(ids, [99, 100, 101]);
        assert_eq!(cut.objects, [(1, Kind::Sem, 5)]);
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
