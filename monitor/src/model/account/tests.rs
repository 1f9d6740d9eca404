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
    let retired: Vec<u64> = m
        .account()
        .retired()
        .filter(|r| matches!(r.what, RetiredWhat::Object { .. }))
        .map(|r| r.tally.calls)
        .collect();
    assert_eq!(retired, [11]);
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
