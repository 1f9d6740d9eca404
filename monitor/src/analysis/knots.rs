//! Deadlocks proven, waiters nobody can release, and what cannot be told.
//!
//! The nodes are THREADS blocked in semop/semtimedop/msgrcv/msgsnd. Who could release each
//! is the model's answer from the probe's account ([`Releasers`]): a lock's holder threads
//! (or processes), a signal semaphore's posters, a queue's senders or receivers. A process
//! can act when one of its threads is not blocked in such a call (it runs, or sleeps on
//! something else that may end), or is blocked but can itself be released. Threads that
//! nothing can release are then found by a fixpoint: a thread is free when any of its
//! releasers can act; what is left is not free. Of those, the ones on a cycle of
//! "released only by" are a deadlock (a knot: every thread that could release each is
//! blocked inside it — an OR-wait on a counting semaphore with one running holder is not
//! one); the ones nothing alive can release are stuck. Self-deadlocks (a thread waiting on
//! what its own process holds, with no other thread to give it back) and deadlocks between
//! threads of one process are deadlocks. A thread whose releasers are not known (no probe
//! history of what it waits for) is never taken for blocked for good: it may show as
//! stalled instead, and never counts as a deadlock.
use std::collections::{BTreeMap, BTreeSet};

use super::{CycleStep, Finding, IpcKind, StepRole, What};
use crate::model::{Model, ObjId, Releasers, SemRole, Wait, WaitOn};

/// One blocked thread, what it waits on and who could release it.
struct Node<'a> {
    w: &'a Wait,
    ipc: IpcKind,
    semnum: Option<u16>,
    sem_op: Option<i16>,
    rel: Releasers,
}

/// What the knots of the current waits are: deadlocks, stuck waiters, and the threads whose
/// release cannot be told.
pub(super) struct Knots {
    pub(super) deadlocks: Vec<Finding>,
    pub(super) stuck: Vec<Finding>,
    /// Threads whose releasers are not known (tid).
    pub(super) unknown: BTreeSet<u32>,
}

/// The blocked threads of the namespaces in scope, with who could release each.
fn nodes(m: &Model) -> BTreeMap<u32, Node<'_>> {
    let mut out = BTreeMap::new();
    for w in m.waits() {
        // A thread the probe saw operate after its wait began is not blocked in it any more
        // (the wait is a snapshot's, older than the kernel's sample): it runs.
        if m.last_op_ns(w.pid, w.tid)
            .is_some_and(|t| t > w.since.at_ns())
        {
            continue;
        }
        // A wait that may have begun after the kernel's last count of the holds is judged at
        // a later count: the holds then may be of before the wait (a contender's own take,
        // given back since). A wait a snapshot saw once may have begun after the snapshot's
        // stamp (its scan reads each process later): it is judged once bounded.
        if let Some(k) = m.account().kernel_at() {
            if w.began_by().is_none_or(|b| b > k) {
                continue;
            }
        }
        let (ipc, semnum, sem_op, rel) = match &w.on {
            WaitOn::Sem { semid, .. } => {
                let set = ObjId {
                    ns: w.ns,
                    id: *semid,
                };
                match m.blocking_sop(w) {
                    Some(op) => (
                        IpcKind::Sem,
                        Some(op.semnum),
                        Some(op.sem_op),
                        m.sem_releasers(set, &op),
                    ),
                    None => (IpcKind::Sem, None, None, Releasers::Unknown),
                }
            }
            WaitOn::MsgRcv { msqid, .. } | WaitOn::MsgSnd { msqid, .. } => {
                let q = ObjId {
                    ns: w.ns,
                    id: *msqid,
                };
                let receiving = matches!(w.on, WaitOn::MsgRcv { .. });
                (IpcKind::Msg, None, None, m.queue_releasers(q, receiving))
            }
        };
        out.insert(
            w.tid,
            Node {
                w,
                ipc,
                semnum,
                sem_op,
                rel,
            },
        );
    }
    out
}

/// Finds the deadlocks and stuck waiters among the current waits.
pub(super) fn knots(m: &Model) -> Knots {
    let nodes = nodes(m);
    // Blocked threads per process.
    let mut blocked_of: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for (&tid, n) in &nodes {
        blocked_of.entry(n.w.pid).or_default().insert(tid);
    }
    // A process can act when one of its threads is not blocked in an IPC wait; a process
    // the model does not know (or whose threads it cannot count) may.
    let mut can_act: BTreeSet<u32> = BTreeSet::new();
    let acts = |pid: u32, can_act: &BTreeSet<u32>| -> bool {
        if can_act.contains(&pid) {
            return true;
        }
        match m.process(pid) {
            Some(p) if p.alive() && p.threads > 0 => {
                p.threads as usize > blocked_of.get(&pid).map_or(0, BTreeSet::len)
            }
            Some(p) if !p.alive() => false,
            _ => true,
        }
    };
    let mut free: BTreeSet<u32> = BTreeSet::new();
    loop {
        let mut changed = false;
        for (&tid, n) in &nodes {
            if free.contains(&tid) {
                continue;
            }
            let released = match &n.rel {
                Releasers::Unknown => true,
                Releasers::Nobody(_) => false,
                Releasers::Known {
                    threads, processes, ..
                } => {
                    // A holder thread that is not blocked here runs (or sleeps on something
                    // else that may end); one blocked here when it can be released.
                    threads
                        .iter()
                        .any(|&(_, t)| !nodes.contains_key(&t) || free.contains(&t))
                        || processes.iter().any(|&p| acts(p, &can_act))
                }
            };
            if released {
                free.insert(tid);
                can_act.insert(n.w.pid);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // The threads left wait on each other (edges to the threads that could release them,
    // all blocked) or on nobody.
    let stuck_tids: BTreeSet<u32> = nodes
        .iter()
        .filter(|(t, n)| !free.contains(t) && matches!(n.rel, Releasers::Nobody(_)))
        .map(|(t, _)| *t)
        .collect();
    let mut edges: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (&tid, n) in nodes.iter().filter(|(t, _)| !free.contains(t)) {
        if let Releasers::Known {
            threads, processes, ..
        } = &n.rel
        {
            let mut to: BTreeSet<u32> = threads.iter().map(|&(_, t)| t).collect();
            for p in processes {
                to.extend(blocked_of.get(p).into_iter().flatten().copied());
            }
            edges.insert(
                tid,
                to.into_iter().filter(|t| nodes.contains_key(t)).collect(),
            );
        }
    }
    let mut out = Knots {
        deadlocks: Vec::new(),
        stuck: Vec::new(),
        unknown: nodes
            .iter()
            .filter(|(_, n)| n.rel == Releasers::Unknown)
            .map(|(t, _)| *t)
            .collect(),
    };
    let mut in_deadlock = BTreeSet::new();
    for scc in cyclic_sccs(&edges) {
        in_deadlock.extend(scc.iter().copied());
        out.deadlocks.push(deadlock(m, &nodes, &edges, &scc));
    }
    for (&tid, n) in nodes.iter().filter(|(t, _)| !free.contains(t)) {
        if in_deadlock.contains(&tid) {
            continue;
        }
        let why = match &n.rel {
            Releasers::Nobody(why) => why.clone(),
            _ => {
                // Behind a deadlock or a stuck thread: released only by those.
                let behind: Vec<u32> = edges.get(&tid).cloned().unwrap_or_default();
                if behind.iter().any(|t| in_deadlock.contains(t)) {
                    format!(
                        "everything that could release it is blocked in a deadlock (threads {})",
                        list(&behind)
                    )
                } else if behind.iter().any(|t| stuck_tids.contains(t)) {
                    format!(
                        "everything that could release it is itself stuck (threads {})",
                        list(&behind)
                    )
                } else {
                    continue;
                }
            }
        };
        out.stuck.push(stuck(n, why));
    }
    out
}

fn list(tids: &[u32]) -> String {
    tids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The deadlock of one strongly connected set of blocked threads.
fn deadlock(
    m: &Model,
    nodes: &BTreeMap<u32, Node<'_>>,
    edges: &BTreeMap<u32, Vec<u32>>,
    scc: &[u32],
) -> Finding {
    let members: BTreeSet<u32> = scc.iter().copied().collect();
    let mut cycle = Vec::new();
    let mut pids = BTreeSet::new();
    for &tid in scc {
        let n = &nodes[&tid];
        pids.insert(n.w.pid);
        let by: BTreeSet<u32> = edges[&tid]
            .iter()
            .filter(|t| members.contains(t))
            .map(|t| nodes[t].w.pid)
            .collect();
        let role = match (&n.w.on, &n.rel) {
            (WaitOn::MsgRcv { .. }, _) => StepRole::Sender,
            (WaitOn::MsgSnd { .. }, _) => StepRole::Receiver,
            (
                _,
                Releasers::Known {
                    role: Some(SemRole::Signal),
                    ..
                },
            ) => StepRole::Poster,
            _ => StepRole::Holder,
        };
        cycle.push(CycleStep {
            pid: n.w.pid,
            tid,
            ipc: n.ipc,
            id: n.w.on.id(),
            semnum: n.semnum,
            sem_op: n.sem_op,
            by: by.into_iter().collect(),
            role,
        });
    }
    let steps: Vec<String> = cycle.iter().map(|s| step_text(m, s)).collect();
    let ns = nodes[&scc[0]].w.ns;
    let reason = format!(
        "{}; every thread that could release what each waits for is blocked here (holders and \
         posters from the probe, which saw every operation on these objects)",
        steps.join("; ")
    );
    Finding {
        ipc_ns: ns,
        what: What::Deadlock {
            pids: pids.into_iter().collect(),
            tids: scc.to_vec(),
            cycle,
        },
        reason,
    }
}

/// One step in words: "pid 10 (tid 11) waits on semaphore 0 of set 3 (sem_op -1) held by
/// pid 12".
pub fn step_text(m: &Model, s: &CycleStep) -> String {
    let who = if s.tid == s.pid {
        format!("pid {}", s.pid)
    } else {
        format!("pid {} (tid {})", s.pid, s.tid)
    };
    let on = match (s.ipc, s.semnum, s.sem_op) {
        (IpcKind::Sem, Some(n), Some(op)) => {
            format!("semaphore {n} of set {} (sem_op {op})", s.id)
        }
        (IpcKind::Sem, ..) => format!("set {}", s.id),
        _ => format!("queue {}", s.id),
    };
    let by =
        s.by.iter()
            .map(|p| match m.comm_of(*p) {
                Some(c) => format!("pid {p} ({})", crate::text::escape(&c)),
                None => format!("pid {p}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
    format!("{who} waits on {on} {} {by}", s.role.verb())
}

fn stuck(n: &Node<'_>, why: String) -> Finding {
    let on = match (n.ipc, n.semnum) {
        (IpcKind::Sem, Some(s)) => format!("semaphore {s} of set {}", n.w.on.id()),
        (IpcKind::Sem, None) => format!("set {}", n.w.on.id()),
        _ => format!("queue {}", n.w.on.id()),
    };
    Finding {
        ipc_ns: n.w.ns,
        what: What::Stuck {
            pid: n.w.pid,
            tid: n.w.tid,
            ipc: n.ipc,
            id: n.w.on.id(),
            semnum: n.semnum,
        },
        reason: format!(
            "pid {} (tid {}) waits on {on}, which nobody alive can release: {why}",
            n.w.pid, n.w.tid
        ),
    }
}

/// The strongly connected sets of `edges` that hold a cycle (more than one thread, or a
/// thread released only by itself), each sorted; Tarjan's algorithm, iterative.
fn cyclic_sccs(edges: &BTreeMap<u32, Vec<u32>>) -> Vec<Vec<u32>> {
    #[derive(Clone, Copy)]
    struct St {
        index: usize,
        low: usize,
        on: bool,
    }
    let mut st: BTreeMap<u32, St> = BTreeMap::new();
    let mut stack: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    let mut next = 0usize;
    let succ = |v: u32| -> &[u32] { edges.get(&v).map_or(&[], Vec::as_slice) };
    for &root in edges.keys() {
        if st.contains_key(&root) {
            continue;
        }
        // (node, next successor to look at)
        let mut work: Vec<(u32, usize)> = vec![(root, 0)];
        st.insert(
            root,
            St {
                index: next,
                low: next,
                on: true,
            },
        );
        next += 1;
        stack.push(root);
        while let Some(&mut (v, ref mut i)) = work.last_mut() {
            let s = succ(v);
            if *i < s.len() {
                let w = s[*i];
                *i += 1;
                match st.get(&w).copied() {
                    None => {
                        st.insert(
                            w,
                            St {
                                index: next,
                                low: next,
                                on: true,
                            },
                        );
                        next += 1;
                        stack.push(w);
                        work.push((w, 0));
                    }
                    Some(ws) if ws.on => {
                        let lv = st.get_mut(&v).expect("visited");
                        lv.low = lv.low.min(ws.index);
                    }
                    Some(_) => {}
                }
                continue;
            }
            work.pop();
            let sv = st[&v];
            if let Some(&(parent, _)) = work.last() {
                let lp = st.get_mut(&parent).expect("visited");
                lp.low = lp.low.min(sv.low);
            }
            if sv.low == sv.index {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    st.get_mut(&w).expect("visited").on = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                let cyclic = comp.len() > 1 || succ(v).contains(&v);
                if cyclic {
                    comp.sort_unstable();
                    out.push(comp);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cyclic_sccs;
    use std::collections::BTreeMap;

    #[test]
    fn cycles_are_found_and_chains_are_not() {
        let e = BTreeMap::from([
            (1, vec![2]),
            (2, vec![1]),
            (3, vec![1]),
            (4, vec![4]),
            (5, vec![6]),
            (6, vec![7]),
            (7, vec![5, 8]),
            (8, vec![]),
        ]);
        assert_eq!(cyclic_sccs(&e), vec![vec![1, 2], vec![4], vec![5, 6, 7]]);
        assert!(cyclic_sccs(&BTreeMap::from([(1, vec![2]), (2, vec![])])).is_empty());
    }
}
