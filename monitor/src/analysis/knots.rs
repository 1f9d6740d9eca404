//! Deadlocks proven, waiters nobody can release, and what cannot be told.
//!
//! The nodes are THREADS blocked in semop/semtimedop/msgrcv/msgsnd, or on a robust or PI
//! mutex in shared memory (`mutex.rs`). Who could release each is the model's answer from
//! the probe's account ([`Releasers`]): a lock's holder threads (or processes), a signal
//! semaphore's posters, a queue's senders or receivers; a mutex's is the owner its word
//! names. One graph: a cycle through both kinds is one deadlock. A process
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

use super::{CycleStep, Finding, IpcKind, MutexStep, StepRole, What};
use crate::model::{Model, NsId, ObjId, Releasers, SemRole, Wait, WaitOn};

/// One blocked thread, what it waits on and who could release it.
pub(super) struct Node<'a> {
    pub(super) pid: u32,
    pub(super) ns: NsId,
    /// The latest time its wait can have begun (monotonic ns; `None`: not known).
    pub(super) began_by: Option<u64>,
    pub(super) on: On<'a>,
    pub(super) rel: Releasers,
}

/// What a blocked thread waits on.
pub(super) enum On<'a> {
    /// A System V semaphore or queue.
    SysV {
        w: &'a Wait,
        ipc: IpcKind,
        semnum: Option<u16>,
        sem_op: Option<i16>,
    },
    /// A robust or PI mutex in shared memory, whose owner its word names (`id`: the System
    /// V segment it lies in, -1 other shared memory).
    Mutex { mx: MutexStep, id: i32 },
}

impl Node<'_> {
    fn sysv(&self) -> Option<(&Wait, IpcKind, Option<u16>)> {
        match &self.on {
            On::SysV { w, ipc, semnum, .. } => Some((w, *ipc, *semnum)),
            On::Mutex { .. } => None,
        }
    }
}

/// What the knots of the current waits are: deadlocks, stuck waiters, and the threads whose
/// release cannot be told.
pub(super) struct Knots {
    pub(super) deadlocks: Vec<Finding>,
    pub(super) stuck: Vec<Finding>,
    /// Threads whose releasers are not known (tid).
    pub(super) unknown: BTreeSet<u32>,
}

/// The blocked threads of the namespaces in scope, with who could release each: the System
/// V waits here, the waits on robust or PI mutexes whose owners their words name in
/// `mutex.rs` — one graph.
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
        if !judged_at_kernel_count(m, w.began_by()) {
            continue;
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
                pid: w.pid,
                ns: w.ns,
                began_by: w.began_by(),
                on: On::SysV {
                    w,
                    ipc,
                    semnum,
                    sem_op,
                },
                rel,
            },
        );
    }
    super::mutex::add_nodes(m, &mut out);
    out
}

/// Whether a wait that began by `began_by` is judged now: a wait that may have begun after
/// the kernel's last count of the holds is judged at a later count (the holds then may be of
/// before the wait: a contender's own take, given back since). A wait a snapshot saw once
/// may have begun after the snapshot's stamp (its scan reads each process later): it is
/// judged once bounded. Without the probe's counts there is nothing to be later than.
pub(super) fn judged_at_kernel_count(m: &Model, began_by: Option<u64>) -> bool {
    match m.account().kernel_at() {
        Some(k) => began_by.is_some_and(|b| b <= k),
        None => true,
    }
}

/// Finds the deadlocks and stuck waiters among the current waits.
pub(super) fn knots(m: &Model) -> Knots {
    let nodes = nodes(m);
    // Blocked threads per process.
    let mut blocked_of: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for (&tid, n) in &nodes {
        blocked_of.entry(n.pid).or_default().insert(tid);
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
                can_act.insert(n.pid);
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
        out.stuck.extend(stuck(n, tid, why));
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
        pids.insert(n.pid);
        let by: BTreeSet<u32> = edges[&tid]
            .iter()
            .filter(|t| members.contains(t))
            .map(|t| nodes[t].pid)
            .collect();
        let by = by.into_iter().collect();
        cycle.push(match &n.on {
            On::SysV {
                w,
                ipc,
                semnum,
                sem_op,
            } => CycleStep {
                pid: n.pid,
                tid,
                ipc: *ipc,
                id: w.on.id(),
                semnum: *semnum,
                sem_op: *sem_op,
                by,
                role: match (&w.on, &n.rel) {
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
                },
                mutex: None,
            },
            On::Mutex { mx, id } => super::mutex::step(n.pid, tid, mx, *id, by),
        });
    }
    let steps: Vec<String> = cycle.iter().map(|s| step_text(m, s)).collect();
    // The namespace of its System V objects (a mutex's waiters may be of several: /dev/shm is
    // the mount namespace's), else its first waiter's.
    let first = scc
        .iter()
        .map(|t| &nodes[t])
        .find(|n| n.sysv().is_some())
        .unwrap_or(&nodes[&scc[0]]);
    let mut evidence = Vec::new();
    if cycle.iter().any(|s| s.mutex.is_none()) {
        evidence
            .push("holders and posters from the probe, which saw every operation on these objects");
    }
    if cycle.iter().any(|s| s.mutex.is_some()) {
        evidence.push("the mutexes' owners from their words");
    }
    let reason = format!(
        "{}; every thread that could release what each waits for is blocked here ({})",
        steps.join("; "),
        evidence.join("; ")
    );
    Finding {
        ipc_ns: first.ns,
        what: What::Deadlock {
            pids: pids.into_iter().collect(),
            tids: scc.to_vec(),
            cycle,
        },
        reason,
    }
}

/// One step in words: "pid 10 (tid 11) waits on semaphore 0 of set 3 (sem_op -1) held by
/// pid 12", "pid 11 waits on the robust mutex at /dev/shm/x+0x40 owned by tid 10 (a)".
pub fn step_text(m: &Model, s: &CycleStep) -> String {
    let who = if s.tid == s.pid {
        format!("pid {}", s.pid)
    } else {
        format!("pid {} (tid {})", s.pid, s.tid)
    };
    // A mutex's waiter may be known only to the POSIX look.
    let comm = |p: u32| {
        m.comm_of(p)
            .or_else(|| m.posix()?.proc(p).map(|x| x.comm.clone()))
            .map(|c| crate::text::escape(&c).into_owned())
    };
    if let Some(mx) = &s.mutex {
        return format!("{who} waits on {}", super::mutex::owned_by(mx, &s.by, comm));
    }
    let on = match (s.ipc, s.semnum, s.sem_op) {
        (IpcKind::Sem, Some(n), Some(op)) => {
            format!("semaphore {n} of set {} (sem_op {op})", s.id)
        }
        (IpcKind::Sem, ..) => format!("set {}", s.id),
        _ => format!("queue {}", s.id),
    };
    let by =
        s.by.iter()
            .map(|&p| match comm(p) {
                Some(c) => format!("pid {p} ({c})"),
                None => format!("pid {p}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
    format!("{who} waits on {on} {} {by}", s.role.verb())
}

/// A System V waiter nothing alive can release (`None` for a mutex's waiter: its owner is
/// a thread, said by its deadlock).
fn stuck(n: &Node<'_>, tid: u32, why: String) -> Option<Finding> {
    let (w, ipc, semnum) = n.sysv()?;
    let on = match (ipc, semnum) {
        (IpcKind::Sem, Some(s)) => format!("semaphore {s} of set {}", w.on.id()),
        (IpcKind::Sem, None) => format!("set {}", w.on.id()),
        _ => format!("queue {}", w.on.id()),
    };
    Some(Finding {
        ipc_ns: n.ns,
        what: What::Stuck {
            pid: n.pid,
            tid,
            ipc,
            id: w.on.id(),
            semnum,
        },
        reason: format!(
            "pid {} (tid {tid}) waits on {on}, which nobody alive can release: {why}",
            n.pid
        ),
    })
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
