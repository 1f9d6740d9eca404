//! The kernel lines' file format: golden files of a whole sample and of a delta, lists of
//! other lengths, and the checked-in demo recording's kernel lines read back to the same JSON.
use monitor_ebpf::{HIST_BUCKETS, NSYS};

use super::Sample;
use crate::{
    event::Syscall,
    record::{
        delta::{Encoded, Encoder},
        Body, Line,
    },
    sample::{Aggregate, Hold, KernelSample, KernelStats},
};

fn row(pid: u32, id: Option<i32>, syscall: Syscall, calls: u64) -> Aggregate {
    let mut hist = [0; HIST_BUCKETS];
    hist[0] = calls;
    hist[HIST_BUCKETS - 1] = 1;
    Aggregate {
        pid,
        id,
        syscall,
        calls,
        errors: 1,
        total_ns: calls * 1000,
        max_ns: 5000,
        last_ns: 123_456,
        hist,
        ..Default::default()
    }
}

/// Every field set.
fn fixture(calls: u64) -> KernelSample {
    let mut stats = KernelStats {
        dropped: 1,
        inflight_full: 2,
        agg_full: 3,
        sent: 4,
        ..Default::default()
    };
    stats.calls[Syscall::SEMOP.index()] = calls;
    stats.errors[Syscall::MSGRCV.index()] = 1;
    KernelSample {
        stats,
        aggregates: vec![
            row(100, Some(5), Syscall::SEMOP, calls),
            row(101, None, Syscall::SHMDT, 1),
        ],
        holds: vec![Hold {
            semid: 5,
            semnum: 1,
            pid: 100,
            held: 2,
            taken: 2,
            ..Default::default()
        }],
        undecodable: 7,
        ..Default::default()
    }
}

fn pretty(body: Body) -> String {
    serde_json::to_string_pretty(&Line { t: 1_000, body }).unwrap()
}

/// The kernel lines as written. If this fails, the file format changed: bump
/// `FORMAT_VERSION`, keep reading the older form, then accept the new golden file.
#[test]
fn the_kernel_lines_are_the_golden_ones() {
    // From a to b: a row moved, one gone, one new, the holds changed (every delta field).
    let (a, mut b) = (fixture(3), fixture(5));
    b.aggregates[1] = row(102, Some(9), Syscall::MSGSND, 1);
    b.holds[0].held = 3;
    b.holds[0].taken = 3;
    let mut enc = Encoder::default();
    assert!(matches!(enc.encode(&a), Encoded::Whole));
    let Encoded::Delta(d) = enc.encode(&b) else {
        panic!("the second sample is a delta")
    };
    insta::assert_snapshot!("kernel", pretty(Body::Kernel(Box::new((&a).into()))));
    insta::assert_snapshot!("kernel_delta", pretty(Body::KernelDelta(d)));
}

#[test]
fn a_whole_sample_round_trips() {
    let k = fixture(3);
    let json = serde_json::to_string(&Sample::from(&k)).unwrap();
    let w: Sample = serde_json::from_str(&json).unwrap();
    let back = KernelSample::try_from(&w).unwrap();
    assert_eq!(back.stats, k.stats);
    assert_eq!(back.aggregates, k.aggregates);
    assert_eq!(back.holds, k.holds);
    assert_eq!(back.undecodable, k.undecodable);
}

/// Fewer counters (a file of a probe that knew fewer syscalls) read as zeros; more, with
/// counts in them, are refused rather than cut; zeros beyond are harmless.
#[test]
fn counter_lists_of_other_lengths() {
    let mut w = Sample::from(&fixture(3));
    w.stats.calls.truncate(2);
    w.aggregates[0].hist.truncate(1);
    let k = KernelSample::try_from(&w).unwrap();
    assert_eq!(k.stats.calls[2..], [0; NSYS][2..]);
    assert_eq!(k.aggregates[0].hist[1..], [0; HIST_BUCKETS][1..]);

    let mut w = Sample::from(&fixture(3));
    w.stats.errors.push(0);
    w.aggregates[0].hist.push(0);
    assert!(KernelSample::try_from(&w).is_ok());
    w.stats.errors.push(1);
    assert!(KernelSample::try_from(&w).is_err());
    let mut w = Sample::from(&fixture(3));
    w.aggregates[1].hist.push(1);
    assert!(KernelSample::try_from(&w).is_err());
}

/// Every kernel line of the checked-in demo recording (format 1: every sample whole) reads,
/// and written again is the JSON it was.
#[test]
fn the_demo_recordings_kernel_lines_read_identically() {
    let mut seen = 0;
    let lines = crate::record::demo_lines();
    for (l, raw) in lines.iter().filter(|(_, v)| v.get("kernel").is_some()) {
        let Body::Kernel(w) = serde_json::from_str::<Line>(l).unwrap().body else {
            panic!("not a kernel line")
        };
        let internal = KernelSample::try_from(&*w).expect("a demo kernel sample reads");
        let again = serde_json::to_value(Line {
            t: raw["t"].as_u64().unwrap(),
            body: Body::Kernel(Box::new((&internal).into())),
        })
        .unwrap();
        assert_eq!(&again, raw, "kernel line {seen} of the demo recording");
        seen += 1;
    }
    assert!(
        seen >= 10,
        "the demo recording has its kernel samples ({seen})"
    );
}
