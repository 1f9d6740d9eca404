//! The history charts: an object's and a process's figures per sample (calls/s, time blocked,
//! waits, threads waiting, a queue's depth, a segment's attachments), the Overview's calls/s
//! and waits/s line at 80x24, and the wait histogram with its percentiles — insta snapshots
//! of a minute of a lock holder, its waiter, a queue filling up and a segment gaining
//! attachers, fed as the live dashboard is fed (a snapshot and a kernel sample each second).
use ratatui::crossterm::event::KeyCode;

use super::{
    app::{Target, View},
    ns_view_tests::oid,
    store::Store,
    tests::{agg, app_on, base_snap, info, key, msg, proc_, screen, sem, shm, stamped},
};
use crate::{
    event::Syscall,
    feed::{KernelSample, ProbeStatus, Update},
    fixtures::{sem_wait, MONO, S},
    model::account::hist_bucket,
    sample::Aggregate,
};

const HOLDER: u32 = 4100;
const WAITER: u32 = 4101;
const PRODUCER: u32 = 4102;
const SET: i32 = 7;
const QUEUE: i32 = 9;
const SEG: i32 = 11;
const SECONDS: u64 = 24;

/// The holder's semops per second, second by second: a burst in the middle.
fn holder_rate(i: u64) -> u64 {
    [10, 10, 20, 40, 80, 160, 80, 40][(i % 8) as usize]
}

/// The waiter is blocked in the second half of every 6 seconds: one semop from 0.2 s before
/// the sample of second 3 to 0.4 s after that of second 5 (2.6 s), seen waiting by the
/// snapshots of seconds 3, 4 and 5; the kernel counts it when it ends, in second 6's sample.
fn waiting(i: u64) -> bool {
    i % 6 >= 3
}

/// How long each of the waiter's semops waited.
const WAITED_MS: u64 = 2600;

/// The waiter's semops: each waited 2.6 s (the kernel's histogram has them in that
/// bucket, so every one counts as a wait).
fn waiter_agg(waits: u64, waited_ms: u64) -> Aggregate {
    let mut a = agg(WAITER, SET, Syscall::SEMOP, waits, 0, waited_ms);
    a.max_ns = WAITED_MS * 1_000_000;
    a.hist = [0; monitor_ebpf::HIST_BUCKETS];
    a.hist[hist_bucket(WAITED_MS * 1_000_000)] = waits;
    a
}

fn history_store() -> Store {
    let mut store = Store::new(
        info(),
        ProbeStatus::Attached("raw tracepoints".into()),
        Default::default(),
    );
    let (mut held, mut waited_ms, mut waits, mut sent) = (0, 0, 0, 0);
    for i in 0..=SECONDS {
        let t = MONO + i * S;
        let mut snap = base_snap(t);
        snap.unix_ns += i * S;
        let mut waiter = proc_(WAITER, "waiter", "waiter --lock 7", 600);
        if waiting(i) {
            waiter.waits = Some(vec![sem_wait(WAITER, SET, 0, -1)]);
        }
        snap.processes = vec![
            proc_(HOLDER, "holder", "holder --lock 7", 600),
            waiter,
            proc_(PRODUCER, "producer", "producer --queue 9", 600),
        ];
        snap.sem = vec![sem(SET, 0x7, &[(0, 1, HOLDER)], Some(1))];
        let qnum = 2 * i;
        snap.msg = vec![msg(QUEUE, 0x9, qnum, qnum * 512, PRODUCER, 0)];
        snap.shm = vec![shm(SEG, 0xb, 1 << 20, HOLDER, 1 + i / 6, 600)];
        let mut batch = vec![stamped(t, Update::Snapshot(Box::new(snap)))];
        if i > 0 {
            held += holder_rate(i);
            if i % 6 == 0 {
                waited_ms += WAITED_MS;
                waits += 1;
            }
            sent += 2;
            let mut k = KernelSample {
                aggregates: vec![
                    agg(HOLDER, SET, Syscall::SEMOP, held, 0, 0),
                    waiter_agg(waits, waited_ms),
                    agg(PRODUCER, QUEUE, Syscall::MSGSND, sent, 0, 0),
                ],
                ..Default::default()
            };
            k.stats.calls[Syscall::SEMOP.index()] = held + waits;
            k.stats.calls[Syscall::MSGSND.index()] = sent;
            batch.push(stamped(t, Update::Kernel(Box::new(k))));
        }
        store.ingest(&batch);
    }
    store
}

/// The details of `target` at 80x24, scrolled to their end (where the history is).
fn history_of(target: Target) -> String {
    let mut app = app_on(target.view(), history_store());
    app.open(target);
    screen(&mut app, 80, 24);
    key(&mut app, KeyCode::End);
    screen(&mut app, 80, 24)
}

#[test]
fn an_objects_history_charts_its_calls_waits_and_waiters() {
    let s = history_of(Target::Sem(oid(SET)));
    insta::assert_snapshot!("history_sem_80x24", s);
    // The account's figures: the holder's last second (8 → 160... i=24: 10/s); and one
    // thread blocked all along while the waiter waits, whenever the kernel counts its call.
    assert!(s.contains("calls/s"), "{s}");
    let blocked = s
        .lines()
        .find(|l| l.contains("blocked  "))
        .unwrap_or_default();
    assert!(blocked.contains("max 1.00"), "threads blocked: {s}");
    assert!(s.contains("waiting") && s.contains("max 1"), "{s}");
    assert!(s.contains("p50"), "the histogram follows: {s}");
}

#[test]
fn a_queues_history_charts_its_depth() {
    let s = history_of(Target::Queue(oid(QUEUE)));
    insta::assert_snapshot!("history_queue_80x24", s);
    assert!(
        s.contains("messages") && s.contains("now 48  max 48"),
        "{s}"
    );
    assert!(s.contains("bytes") && s.contains("now 24 KiB"), "{s}");
}

#[test]
fn a_segments_history_charts_its_attachments() {
    let s = history_of(Target::Shm(oid(SEG)));
    insta::assert_snapshot!("history_shm_80x24", s);
    assert!(s.contains("attached") && s.contains("now 5  max 5"), "{s}");
}

#[test]
fn a_process_history_charts_its_calls_and_time_blocked() {
    let s = history_of(Target::Proc(WAITER));
    insta::assert_snapshot!("history_proc_80x24", s);
    let blocked = s
        .lines()
        .find(|l| l.contains("blocked  "))
        .unwrap_or_default();
    assert!(blocked.contains("max 1.00"), "{s}");
}

#[test]
fn the_overview_charts_calls_and_waits_at_80x24() {
    let mut app = app_on(View::Overview, history_store());
    let s = screen(&mut app, 80, 24);
    insta::assert_snapshot!("history_overview_80x24", s);
    // One truth: the chart's calls/s and waits/s are the header's, the account's over the
    // last sample.
    let (calls, waits) = app.store.rates();
    let (calls, waits) = (
        super::fmt::num(calls.unwrap()),
        super::fmt::num(waits.unwrap()),
    );
    let line = s.lines().nth(3).unwrap_or_default();
    let header = s.lines().next().unwrap_or_default();
    assert!(
        line.starts_with(&format!("calls/s {calls} "))
            && header.contains(&format!("calls/s {calls}  waits/s {waits}")),
        "{s}"
    );
    // The waiter's waits: one every 6 seconds, counted when it ends (the last sample's).
    let w = line.split("waits/s ").nth(1).unwrap_or_default();
    assert!(
        w.starts_with(&format!("{waits} ")) && w.matches('█').count() == 4,
        "{line}"
    );
}

/// Kernel samples a second apart (one 20 ms after another, as a last sample can be), with
/// the waiter's waits growing by 2 a second.
fn samples() -> Vec<crate::feed::Stamped> {
    let mut v = vec![stamped(MONO, Update::Snapshot(Box::new(base_snap(MONO))))];
    for (at, waits) in [(0, 0), (1000, 2), (2000, 4), (2020, 5), (3000, 6)] {
        let k = KernelSample {
            aggregates: vec![waiter_agg(waits, waits * WAITED_MS)],
            ..Default::default()
        };
        v.push(stamped(MONO + at * 1_000_000, Update::Kernel(Box::new(k))));
    }
    v
}

fn waits_per_s(store: &Store) -> Vec<f64> {
    store.trends.total().rates(|p| f64::from(p.waits_s))
}

#[test]
fn replay_and_live_chart_the_same_rates_however_updates_were_batched() {
    let fresh = || {
        Store::new(
            info(),
            ProbeStatus::Attached("raw tracepoints".into()),
            Default::default(),
        )
    };
    // Live: an update at a time; a replay: what its clock reached, many at once.
    let (mut one, mut all) = (fresh(), fresh());
    for s in samples() {
        one.ingest(std::slice::from_ref(&s));
    }
    all.ingest(&samples());
    assert_eq!(waits_per_s(&one), waits_per_s(&all));
    // The sample 20 ms after another is no window of its own: 2 a second throughout.
    assert_eq!(waits_per_s(&one), [2.0, 2.0, 2.0]);
}
