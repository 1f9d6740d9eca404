//! The account over time: kernel rows added by their growth, rows the kernel retired,
//! identities (a reused pid, a reused object id) and what ends.
use super::*;
use crate::{
    fixtures::{self, agg, Feed, MONO, NOW, NS, ROOT, S},
    model::Model,
    sample::{Aggregate, KernelSample, RowKey},
};

fn sample(rows: Vec<Aggregate>, retired: Vec<RowKey>) -> KernelSample {
    let mut k = KernelSample {
        aggregates: rows,
        retired,
        ..Default::default()
    };
    for a in &k.aggregates {
        k.stats.calls[a.syscall.index()] += a.calls;
    }
    k
}

fn row(pid: u32, start: u64, id: i32, calls: u64) -> Aggregate {
    Aggregate {
        start: Some(start),
        ipc_ns: Some(NS),
        ..agg(pid, Some(id), Syscall::SEMOP, calls, 0)
    }
}

fn snap_with(procs: &[(u32, u64)], sets: &[i32], t: u64) -> crate::snapshot::Snapshot {
    let mut s = fixtures::snapshot(t, 1 << 30, None);
    s.unix_ns = NOW as u64 * S + (t - MONO);
    for &(pid, start) in procs {
        let mut p = fixtures::process(pid, "w", None, NOW - 100);
        p.start_ticks = Some(start);
        s.processes.push(p);
    }
    for &id in sets {
        s.sem.push(fixtures::sem(
            id,
            0,
            0o600,
            ROOT,
            &[(1, 0, 0)],
            NOW - 5,
            NOW - 50,
        ));
    }
    s
}

/// A row of pid's calls on set 0 of the namespace of kernel id `ns_id` (inode `NS`), its last
/// call `last` ns into the test.
fn in_ns(pid: u32, ns_id: u64, calls: u64, last: u64) -> Aggregate {
    Aggregate {
        ns_id: Some(ns_id),
        last_ns: MONO + last,
        ..row(pid, 500 + pid as u64, 0, calls)
    }
}

/// The calls of each ended object's final account, in the order they ended.
fn ended_objects_calls(m: &Model) -> Vec<u64> {
    m.account()
        .retired()
        .filter(|r| matches!(r.what, RetiredWhat::Object { .. }))
        .map(|r| r.tally.calls)
        .collect()
}

fn calls_of(m: &Model, id: i32) -> u64 {
    m.object_account_at(ObjKind::Sem, ObjId { ns: NS, id })
        .map_or(0, |t| t.calls)
}

#[test]
fn rows_add_their_growth_and_retired_rows_stay_counted() {
    let mut m = Model::new();
    m.feed_snapshot(&snap_with(&[(10, 500)], &[1], MONO));
    m.feed_kernel(MONO + S, sample(vec![row(10, 500, 1, 5)], vec![]));
    m.feed_kernel(MONO + 2 * S, sample(vec![row(10, 500, 1, 8)], vec![]));
    assert_eq!(calls_of(&m, 1), 8);
    assert_eq!(m.account().process(10).unwrap().calls, 8);
    // The row retired with its final count (11), then gone from the kernel: still counted.
    m.feed_kernel(
        MONO + 3 * S,
        sample(vec![row(10, 500, 1, 11)], vec![row(10, 500, 1, 0).key()]),
    );
    m.feed_kernel(MONO + 4 * S, sample(vec![], vec![]));
    assert_eq!(calls_of(&m, 1), 11);
    // The same key counted anew from zero.
    m.feed_kernel(MONO + 5 * S, sample(vec![row(10, 500, 1, 2)], vec![]));
    assert_eq!(calls_of(&m, 1), 13);
    let totals: u64 = m.account().comm_totals().map(|(_, t)| t.calls).sum();
    assert_eq!(totals, 13);
}

#[test]
fn a_reused_pid_is_another_process_and_the_old_one_retires() {
    let mut m = Model::new();
    m.feed_snapshot(&snap_with(&[(10, 500)], &[1], MONO));
    m.feed_kernel(MONO + S, sample(vec![row(10, 500, 1, 7)], vec![]));
    assert_eq!(m.account().process(10).unwrap().calls, 7);
    // Pid 10 now belongs to a process started later.
    m.feed_snapshot(&snap_with(&[(10, 900)], &[1], MONO + 2 * S));
    assert!(m.account().process(10).is_none());
    m.feed_kernel(
        MONO + 3 * S,
        sample(vec![row(10, 500, 1, 7), row(10, 900, 1, 2)], vec![]),
    );
    assert_eq!(m.account().process(10).unwrap().calls, 2);
    assert_eq!(m.account().process_start(10), Some(900));
    let retired: Vec<u64> = m
        .account()
        .retired_processes()
        .map(|(_, t)| t.calls)
        .collect();
    assert_eq!(retired, [7]);
    // Both kept under their name.
    let totals: u64 = m.account().comm_totals().map(|(_, t)| t.calls).sum();
    assert_eq!(totals, 9);
}

#[test]
fn a_new_object_of_a_reused_id_starts_from_zero() {
    let mut m = Model::new();
    m.feed_snapshot(&snap_with(&[(10, 500)], &[0], MONO));
    m.feed_kernel(MONO + S, sample(vec![row(10, 500, 0, 11)], vec![]));
    assert_eq!(calls_of(&m, 0), 11);
    // Set 0 removed (gone from a snapshot), then a new set 0 by another process.
    m.feed_snapshot(&snap_with(&[(10, 500), (20, 700)], &[], MONO + 2 * S));
    assert_eq!(calls_of(&m, 0), 0);
    m.feed_snapshot(&snap_with(&[(10, 500), (20, 700)], &[0], MONO + 3 * S));
    let mut r = row(20, 700, 0, 3);
    r.last_ns = MONO + 3 * S + 1;
    m.feed_kernel(MONO + 4 * S, sample(vec![row(10, 500, 0, 11), r], vec![]));
    assert_eq!(calls_of(&m, 0), 3);
    assert_eq!(ended_objects_calls(&m), [11]);
}

#[test]
fn what_ended_is_forgotten_after_the_retention_window() {
    let mut m = Model::new();
    m.feed_snapshot(&snap_with(&[(10, 500)], &[1], MONO));
    m.feed_kernel(MONO + S, sample(vec![row(10, 500, 1, 4)], vec![]));
    m.feed_snapshot(&snap_with(&[], &[], MONO + 2 * S));
    assert_eq!(m.account().retired().count(), 2);
    let first = m.account().retired().map(|r| r.seq).min();
    assert_eq!(m.account().retired_since(first).count(), 1);
    m.feed_now(MONO + 2 * S + RETENTION_NS + S);
    assert_eq!(m.account().retired().count(), 0);
    assert_eq!(m.account().processes().count(), 0);
    // The totals keep every call.
    let totals: u64 = m.account().comm_totals().map(|(_, t)| t.calls).sum();
    assert_eq!(totals, 4);
}

#[test]
fn retired_entries_are_bounded_in_number_and_what_is_forgotten_early_is_counted() {
    let mut m = Model::new();
    let n = lifecycle::MAX_RETIRED as u32 + 25;
    // n processes, each seen once with one call, then gone (each pid ends once).
    let procs: Vec<(u32, u64)> = (0..n).map(|i| (1000 + i, 500)).collect();
    m.feed_snapshot(&snap_with(&procs, &[1], MONO));
    let rows = procs.iter().map(|&(p, s)| row(p, s, 1, 1)).collect();
    m.feed_kernel(MONO + S, sample(rows, vec![]));
    m.feed_snapshot(&snap_with(&[(11, 600)], &[1], MONO + 2 * S));
    // Every one of them until the next update (a reader after each update sees them all).
    assert_eq!(m.account().retired_processes().count(), n as usize);
    m.feed_now(MONO + 3 * S);
    let a = m.account();
    assert_eq!(a.retired_processes().count(), lifecycle::MAX_RETIRED);
    assert_eq!(a.retired_early(), 25);
    // The calls are all still in the totals and per command.
    let totals: u64 = a.comm_totals().map(|(_, t)| t.calls).sum();
    assert_eq!(totals, u64::from(n));
    // The newest are the ones kept.
    assert!(a.process_final(1000 + n - 1).is_some());
    assert!(a.process_final(1000).is_none());
}

#[test]
fn namespaces_that_had_the_same_inode_in_one_sample_have_objects_of_their_own() {
    let mut m = Model::new();
    m.feed_snapshot(&snap_with(&[], &[], MONO));
    // Three short-lived processes, each in a namespace of its own that got the same inode
    // (the kernel's ids 300, 100, 200, made in that order: ids are not ordered), each making
    // 5 calls on its set 0; sampled together, rows in no particular order.
    m.feed_kernel(
        MONO + S,
        sample(
            vec![
                in_ns(30, 200, 5, 300),
                in_ns(10, 300, 5, 100),
                in_ns(20, 100, 5, 200),
            ],
            vec![],
        ),
    );
    let a = m.account();
    let ended: Vec<(Option<u64>, u64)> = a
        .retired()
        .filter_map(|r| match r.what {
            RetiredWhat::Object { ns_id, .. } => Some((ns_id, r.tally.calls)),
            _ => None,
        })
        .collect();
    assert_eq!(ended, [(Some(300), 5), (Some(100), 5)]);
    assert_eq!(calls_of(&m, 0), 5, "the newest namespace's set");
    // A late row of namespace 100 (its last call before 200's): its own ended set's.
    m.feed_kernel(
        MONO + 2 * S,
        sample(
            vec![
                in_ns(30, 200, 5, 300),
                in_ns(10, 300, 5, 100),
                in_ns(20, 100, 6, 250),
            ],
            vec![],
        ),
    );
    let a = m.account();
    let second = a
        .retired()
        .find(|r| {
            matches!(
                r.what,
                RetiredWhat::Object {
                    ns_id: Some(100),
                    ..
                }
            )
        })
        .unwrap();
    assert_eq!(second.tally.calls, 6);
    assert!(matches!(&second.what, RetiredWhat::Object { users, .. } if users == &[(20, 6)]));
    assert_eq!(calls_of(&m, 0), 5);
    let totals: u64 = a.comm_totals().map(|(_, t)| t.calls).sum();
    assert_eq!(totals, 16);
}

#[test]
fn a_failed_calls_errno_told_before_its_row_stays_with_the_process_that_ended() {
    let mut m = Model::new();
    m.feed_snapshot(&snap_with(&[(10, 500), (11, 600)], &[1], MONO));
    // The kernel's rows count the calls (another process's row says so).
    m.feed_kernel(MONO + S, sample(vec![row(11, 600, 1, 3)], vec![]));
    // The failure's event first (the kernel's counters count its call: the event only says
    // its errno), then a snapshot without the process, then the row with its call.
    let mut e = fixtures::ev(
        10,
        "w",
        ROOT,
        MONO + S + 10,
        Some(MONO + S + 20),
        fixtures::semop(1, 0, -1),
        Some(-22),
    );
    e.proc_start = Some(500);
    m.feed_event(&e);
    m.feed_snapshot(&snap_with(&[(11, 600)], &[1], MONO + 2 * S));
    let failed = Aggregate {
        start: Some(500),
        ipc_ns: Some(NS),
        ..agg(10, Some(1), Syscall::SEMTIMEDOP, 1, 1)
    };
    m.feed_kernel(MONO + 3 * S, sample(vec![failed], vec![]));
    assert!(m.account().process(10).is_none(), "one process, ended");
    let retired: Vec<&Tally> = m.account().retired_processes().map(|(_, t)| t).collect();
    assert_eq!(retired.len(), 1);
    assert_eq!((retired[0].calls, retired[0].errors), (1, 1));
    assert_eq!(
        retired[0].errnos.keys().copied().collect::<Vec<_>>(),
        [(Syscall::SEMTIMEDOP, 22)]
    );
}

/// A full table's row comes through the ring buffer and is counted a sample late: by then a
/// newer namespace of the same inode has its set of the same id. The late row's set never had
/// an entry; its calls are still on an object of their own (churn_real: 4,348 of 4,353 calls
/// on objects once, 5 short: one child's set).
#[test]
fn a_late_row_of_an_older_namespace_with_no_entry_is_an_ended_object_of_its_own() {
    let mut m = Model::new();
    m.feed_snapshot(&snap_with(&[], &[], MONO));
    m.feed_kernel(MONO + S, sample(vec![in_ns(20, 200, 5, 300)], vec![]));
    // Namespace 100's only row, sampled late (its calls were before 200's).
    m.feed_kernel(MONO + 2 * S, sample(vec![in_ns(10, 100, 5, 100)], vec![]));
    type Ended = (Option<u64>, u64, Vec<(u32, u64)>);
    let ended: Vec<Ended> = m
        .account()
        .retired()
        .filter_map(|r| match &r.what {
            RetiredWhat::Object { ns_id, users, .. } => {
                Some((*ns_id, r.tally.calls, users.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(ended, [(Some(100), 5, vec![(10, 5)])]);
    assert_eq!(
        calls_of(&m, 0),
        5,
        "the newer namespace's set keeps its own"
    );
}

/// A process whose every call is sampled after a newer process of its pid was counted gets
/// a final account of its own.
#[test]
fn an_older_process_of_a_pid_known_only_by_late_rows_has_its_own_final_account() {
    let mut m = Model::new();
    m.feed_snapshot(&snap_with(&[(10, 900)], &[1], MONO));
    m.feed_kernel(MONO + S, sample(vec![row(10, 900, 1, 2)], vec![]));
    m.feed_kernel(
        MONO + 2 * S,
        sample(vec![row(10, 900, 1, 2), row(10, 500, 1, 3)], vec![]),
    );
    assert_eq!(m.account().process(10).unwrap().calls, 2);
    let old: Vec<u64> = m
        .account()
        .retired_processes()
        .map(|(_, t)| t.calls)
        .collect();
    assert_eq!(old, [3]);
}

/// Under load a creation's event comes after its first row and after a snapshot that saw the
/// object (they travel apart): it is the same object, of the same namespace, not a new one
/// that ends it — before, the semget row went to an ended entry of its own and the rest to
/// a new one (churn_real's 2,001 sets for 2,000).
#[test]
fn a_creation_told_after_its_rows_and_a_snapshot_is_that_object() {
    let mut m = Model::new();
    let born = MONO + S / 2;
    // Its semget's row (1 call), sampled first; then a snapshot with the set.
    m.feed_kernel(MONO + S, sample(vec![in_ns(20, 200, 1, S / 2)], vec![]));
    m.feed_snapshot(&snap_with(&[(20, 520)], &[0], MONO + 2 * S));
    // The semget's event, late.
    let get = crate::event::Args::Semget {
        key: crate::event::Key(0),
        nsems: 1,
        flags: crate::event::Flags::new(0o1000, crate::event::GET_FLAGS),
        mode: crate::event::Mode(0o600),
    };
    let mut e = fixtures::ev(20, "w", ROOT, born - 1000, Some(born), get, Some(0));
    (e.ipc_ns, e.ns_id, e.proc_start) = (Some(NS), Some(200), Some(520));
    m.feed_event(&e);
    // Its other calls.
    m.feed_kernel(
        MONO + 3 * S,
        sample(vec![in_ns(20, 200, 5, 2 * S + 1)], vec![]),
    );
    assert_eq!(calls_of(&m, 0), 5);
    assert_eq!(ended_objects_calls(&m), [0u64; 0], "no ended object");
}
