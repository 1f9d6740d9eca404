//! Fixture tests of the battery's verdict reading and judging (no root): documents in both
//! forms (today's `leaks`/`deadlocks` arrays, and `findings` with the kinds the new analysis
//! names), an exposition, and dashboard screens captured from real runs.
use serde_json::json;

use super::engine::{
    extract::{self, Scope},
    judge::{Mark, Outcome},
    scenarios, Kind, Surface,
};

fn scope(ns: u64, pids: &[i64]) -> Scope {
    Scope {
        ns: Some(ns),
        pids: pids.iter().copied().collect(),
    }
}

#[test]
fn a_snapshot_is_read_in_both_forms_and_only_for_its_namespace() {
    // Today's: a deadlock in `findings` and `deadlocks`, a leak in `leaks` (kind = IPC kind),
    // a wait whose holder is a guess.
    let today = json!({
        "findings": [
            {"kind": "deadlock", "pids": [10, 11], "ipc_ns": 7,
             "cycle": [{"pid": 10, "held_by": 11}, {"pid": 11, "held_by": 10}], "reason": "r"},
            {"kind": "long_wait", "pid": 10, "tid": 10, "waited_s": 3.0, "ipc_ns": 7, "reason": "short"},
            {"kind": "deadlock", "pids": [20, 21], "ipc_ns": 8, "reason": "other namespace"},
        ],
        "leaks": [{"kind": "msg", "id": 3, "ipc_ns": 7, "reason": "left"}],
        "waits": [{"pid": 10, "tid": 10, "semid": 0, "holders": [11],
                   "holders_source": "last_pid_guess", "ipc_ns": 7}],
    });
    let f = extract::snapshot(&today, &scope(7, &[10, 11]));
    assert!(f.fired(Kind::Deadlock) && f.fired(Kind::Leak));
    assert_eq!(f.hits[&Kind::Deadlock].named, [10, 11].into());
    assert!(f.hits[&Kind::Leak].named.contains(&3));
    assert!(!f.fired(Kind::LongWait), "3 s is under the threshold");
    assert_eq!(f.claims.len(), 1);
    assert!(f.claims[0].guess && f.claims[0].held_by == [11]);
    // The new kinds, with threads and posters.
    let new = json!({
        "findings": [
            {"kind": "deadlock", "pids": [30], "threads": [31, 32], "ipc_ns": 7},
            {"kind": "stuck", "pid": 40, "tid": 40, "ipc_ns": 7},
            {"kind": "stalled", "threads": [50], "ipc_ns": 9},
        ],
        "waits": [{"pid": 40, "tid": 40, "semid": 1, "posters": [41], "ipc_ns": 7}],
    });
    let f = extract::snapshot(&new, &scope(7, &[]));
    assert_eq!(f.hits[&Kind::Deadlock].named, [30, 31, 32].into());
    assert!(f.fired(Kind::Stuck) && !f.fired(Kind::Stalled));
    assert!(f.claims[0].held_by.is_empty() && f.claims[0].posters == [41]);
}

#[test]
fn a_report_says_what_it_judges_at_the_end_and_what_it_saw_along_the_way() {
    let doc = json!({
        "leaks": [],
        "deadlocks": [],
        "errors": [{"syscall": "semtimedop", "errno": "EINTR", "count": 1, "pids": [5]}],
        "still_waiting": [{"pid": 6, "tid": 6, "seconds": 20.5}],
        "along_the_way": {
            "deadlocks": [{"pids": [5, 6], "ipc_ns": 7}],
            "long_waits": ["pid 6 (tid 6) has been blocked in semop on set 0 for at least 19.5 s",
                           "pid 99 (tid 99) has been blocked in semop on set 0 for 30.0 s"],
            "leaks": [],
        },
        "longest_wait": {"pid": 99, "tid": 99, "seconds": 30.0},
    });
    let judged = scope(7, &[]);
    let (ever, end) = extract::report(&doc, &judged, &scope(7, &[5, 6]));
    assert!(end.fired(Kind::Error) && end.fired(Kind::LongWait) && !end.fired(Kind::Deadlock));
    assert!(ever.fired(Kind::Deadlock));
    // Along the way, only the scenario's processes: pid 99's 30 s wait is not its.
    assert_eq!(ever.hits[&Kind::LongWait].seconds, Some(20.5));
    assert!(!ever.hits[&Kind::LongWait].named.contains(&99));
}

#[test]
fn an_exposition_is_read_for_one_namespace_and_says_what_it_does_not_know() {
    let text = "\
# TYPE ipctop_deadlocks gauge
ipctop_deadlocks{ipc_ns=\"7\"} 1
ipctop_deadlocks{ipc_ns=\"8\"} 0
# TYPE ipctop_leaked_objects gauge
ipctop_leaked_objects{ipc_ns=\"8\",kind=\"msg\"} 2
# TYPE ipctop_longest_wait_seconds gauge
ipctop_longest_wait_seconds{ipc_ns=\"7\"} 21.5
ipctop_object_errors_total{ipc_ns=\"7\",kind=\"sem\",id=\"0\",syscall=\"semtimedop\",errno=\"EINTR\"} 1
ipctop_comm_calls_total{ipc_ns=\"7\",comm=\"w\",syscall=\"semctl\"} 3
ipctop_comm_calls_total{ipc_ns=\"7\",comm=\"w\",syscall=\"semtimedop\"} 300
";
    let f = extract::serve(text, &scope(7, &[]));
    assert!(f.fired(Kind::Deadlock) && !f.fired(Kind::Leak) && f.fired(Kind::Error));
    assert_eq!(f.hits[&Kind::LongWait].seconds, Some(21.5));
    assert!(f.unsupported.contains(&Kind::Stuck) && f.unsupported.contains(&Kind::Stalled));
    assert!(!f.unsupported.contains(&Kind::Error));
    let s = extract::samples(text);
    assert_eq!(
        extract::sum(&s, "ipctop_comm_calls_total", &[("ipc_ns", "7")]),
        303.0
    );
    let g = extract::serve(text, &scope(8, &[]));
    assert!(g.fired(Kind::Leak) && !g.fired(Kind::Deadlock) && !g.fired(Kind::LongWait));
}

/// The Problems view of a real AB/BA run (119 columns, trimmed), and a failed-calls row.
const PROBLEMS: &str = "\
ipctop vm │ up 0:00:06 │ 40.0/s all ns │ dropped 0 │ probe on │ kernel 6.18.44-fc-v1300
┌ Problems (3) ──────────────────────────────────────┐
│Deadlocks (1)                                                                          │
│  DEADLOCK                                                                             │
│    4950 ipctop-workload → sem 1:0 → 4951 ipctop-workload → sem 0:0 → 4950             │
│    pid 4950 waits on semaphore 0 of set 1 (sem_op -1) held by pid 4951 (guess); pid   │
│      4951 waits on semaphore 0 of set 0 (sem_op -1) held by pid 4950 (guess)          │
│Leaks, long waits, sets used before init (2)                                           │
│  long wait 4950 ipctop-workload on sem 1 for ≥7.0s                                    │
│    pid 4950 (tid 4950) has been blocked in semop on semaphore 0 of set 1 for 7.0 s    │
│  long wait 4951 ipctop-workload on sem 0 for ≥1m05s                                   │
│    pid 4951 (tid 4951) has been blocked in semop on semaphore 0 of set 0 for 65.0 s   │
│Failed calls by errno (2 of 240 calls, all namespaces)                                 │
│  EINTR   semtimedop x2      last 4951 ? 1.0s ago  interrupted by a signal             │
│  EAGAIN  semtimedop x9      last 777 ? 1.0s ago  IPC_NOWAIT                           │
│Limits (this IPC namespace)                                                            │
│  semmni  ░░░░░░░░░░    0% 2 of 32000 semaphore sets                                   │
└───────────────────────────────────────────────────────────────────────────────────────┘";

#[test]
fn the_problems_view_is_read_item_by_item() {
    let f = extract::problems(PROBLEMS, &scope(7, &[4950, 4951]));
    let d = &f.hits[&Kind::Deadlock];
    assert!(d.named.contains(&4950) && d.named.contains(&4951));
    assert!(d.text[0].contains("DEADLOCK"), "the item, not the heading");
    // 7 s is under the threshold; 1m05s is not.
    assert_eq!(f.hits[&Kind::LongWait].seconds, Some(65.0));
    // The EINTR row's last caller is the scenario's; the EAGAIN one is not.
    assert_eq!(f.hits[&Kind::Error].named, [4951].into());
    assert!(!f.fired(Kind::Leak) && !f.fired(Kind::Stuck));
    assert_eq!(extract::dur("≥2h03m"), Some(7380.0));
    assert_eq!(extract::dur(">=0.5s"), Some(0.5));
}

#[test]
fn the_overview_gives_who_holds_what_each_waits_for() {
    let screen = "\
┌ Waiting now (3) ─────────────────────────────────────────────────────────────────────┐
│    PID    TID COMM          ON                 OP  ▼WAITED HELD BY / STATE                   │
│   4851   4851 ipctop-workl… sem 0 #0           -1     0.1s 4848 ipctop-workload, 4849 ipctop-w…│
│   4852   4853 ipctop-workl… sem 0 #0           -1    ≥5.1s 4950 ipctop-workload (last op)      │
│   4854   4854 ipctop-workl… sem 1 #0           -1     2.0s raised by 4855 producer             │
└───────────────────────────────────────────────────────────────────────────────────────┘";
    let c = extract::overview(screen);
    assert_eq!(c.len(), 3);
    assert_eq!((c[0].pid, c[0].held_by.clone()), (4851, vec![4848, 4849]));
    assert_eq!((c[1].tid, c[1].guess), (4853, true));
    assert!(c[2].held_by.is_empty() && c[2].posters == [4855]);
}

/// An outcome of `name` whose surfaces each looked once and saw `seen`.
fn outcome(name: &str, ready: serde_json::Value, seen: &[(Surface, Kind, &[i64])]) -> Outcome {
    let sc = scenarios().iter().find(|s| s.name == name).unwrap();
    let mut o = Outcome::new(sc);
    o.ready = ready;
    for s in Surface::ALL {
        let mut f = extract::Frame::default();
        for (_, k, named) in seen.iter().filter(|(x, _, _)| *x == s) {
            let h = f.hits.entry(*k).or_default();
            h.named.extend(named.iter().copied());
            h.text.push("seen".into());
        }
        o.obs.entry(s).or_default().look(f);
    }
    o
}

#[test]
fn cells_count_false_positives_and_negatives_and_what_a_finding_names() {
    let ready =
        json!({"pid": 1, "pids": {"deadlocked": [10, 11]}, "tids": {"deadlocked": [10, 11]}});
    let o = outcome(
        "abba",
        ready,
        &[
            (Surface::Report, Kind::Deadlock, &[10, 11]),
            (Surface::Dashboard, Kind::Deadlock, &[10]),
            (Surface::Snapshot, Kind::Stalled, &[10, 11]),
            (Surface::Serve, Kind::Stuck, &[]),
        ],
    );
    assert_eq!(o.cell(Surface::Report, Kind::Deadlock).mark, Mark::Right);
    // Shown, but not naming 11.
    assert_eq!(
        o.cell(Surface::Dashboard, Kind::Deadlock).mark,
        Mark::FalseNegative
    );
    // The snapshot has no history: stalled is as good as a deadlock there.
    assert_eq!(o.cell(Surface::Snapshot, Kind::Deadlock).mark, Mark::Right);
    assert_eq!(
        o.cell(Surface::Gate, Kind::Deadlock).mark,
        Mark::FalseNegative
    );
    assert_eq!(
        o.cell(Surface::Serve, Kind::Stuck).mark,
        Mark::FalsePositive
    );
    assert_eq!(o.cell(Surface::Snapshot, Kind::Error).mark, Mark::NotShown);
    let t = super::engine::render::tally(std::slice::from_ref(&o));
    // Deadlock: dashboard, gate, serve wrong; stuck: serve.
    assert_eq!(t.kinds[&Kind::Deadlock], (0, 3, 5));
    assert_eq!(t.kinds[&Kind::Stuck].0, 1);
    assert_eq!(o.failures().len(), 4);
}

#[test]
fn holders_are_checked_against_the_roles() {
    let ready = json!({"pid": 1, "pids": {"producer": [2], "workers": [3, 4]}});
    let mut o = outcome("worker_pool", ready, &[]);
    let claim = |held_by: Vec<i64>, posters: Vec<i64>| extract::Claim {
        pid: 3,
        tid: 3,
        held_by,
        posters,
        ..Default::default()
    };
    let dash = o.obs.get_mut(&Surface::Dashboard).unwrap();
    dash.ever.claims = vec![claim(vec![], vec![2])];
    assert!(o.checks().iter().all(|c| c.ok), "{:?}", o.checks());
    let dash = o.obs.get_mut(&Surface::Dashboard).unwrap();
    dash.ever.claims.push(claim(vec![4], vec![]));
    let bad: Vec<_> = o.checks().into_iter().filter(|c| !c.ok).collect();
    assert_eq!(bad.len(), 1);
    assert_eq!((bad[0].name, bad[0].on), ("holders", "dashboard"));
}
