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
    sample::{Aggregate, Hold, KernelSample, KernelStats, TableFill},
};

fn row(pid: u32, id: Option<i32>, syscall: Syscall, calls: u64) -> Aggregate {
    let mut hist = [0; HIST_BUCKETS];
    hist[0] = calls;
    hist[HIST_BUCKETS - 1] = 1;
    Aggregate {
        pid,
        start: Some(4_000 + u64::from(pid)),
        ipc_ns: Some(4_026_531_839),
        ns_id: Some(1),
        id,
        syscall,
        calls,
        errors: 3,
        interrupted: 1,
        ended: 1,
        total_ns: calls * 1000,
        max_ns: 5000,
        last_ns: 123_456,
        hist,
        comm: Some(crate::event::Comm::from_str_lossy("pgbench")),
    }
}

/// Every field set.
fn fixture(calls: u64) -> KernelSample {
    let mut stats = KernelStats {
        dropped: 1,
        inflight_full: 2,
        agg_full: 3,
        sent: 4,
        lost_calls: 5,
        lost_holds: 6,
        ..Default::default()
    };
    stats.calls[Syscall::SEMOP.index()] = calls;
    stats.errors[Syscall::MSGRCV.index()] = 3;
    stats.interrupted[Syscall::MSGRCV.index()] = 1;
    stats.ended[Syscall::MSGRCV.index()] = 1;
    let gone = row(99, Some(5), Syscall::SEMCTL, 2);
    KernelSample {
        stats,
        aggregates: vec![
            gone,
            row(100, Some(5), Syscall::SEMOP, calls),
            row(101, None, Syscall::SHMDT, 1),
        ],
        retired: vec![gone.key()],
        holds: vec![
            Hold {
                ipc_ns: Some(4_026_531_839),
                ns_id: Some(1),
                semid: 5,
                semnum: 1,
                pid: 100,
                start: Some(4_100),
                held: 2,
                taken: 2,
                ..Default::default()
            },
            // A poster that also took, with SEM_UNDO.
            Hold {
                ipc_ns: Some(4_026_532_000),
                ns_id: None,
                semid: 5,
                semnum: 0,
                pid: 101,
                tid: Some(102),
                start: None,
                held: -1,
                taken: 3,
                given: 4,
                posted: Some(1),
                undo: 2,
                last_ns: 99,
            },
        ],
        undecodable: 7,
        fill: Some(TableFill {
            agg: (3, 512),
            holds: (2, 512),
            threads: (4, 32_768),
        }),
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
    // The retired row gone, a row of pid 101 in another namespace.
    b.aggregates.remove(0);
    b.retired.clear();
    b.aggregates[1] = row(102, Some(9), Syscall::MSGSND, 1);
    b.aggregates.push(Aggregate {
        ipc_ns: Some(4_026_532_000),
        ns_id: Some(7),
        ..row(101, None, Syscall::SHMDT, 2)
    });
    b.holds[0].held = 3;
    b.holds[0].taken = 3;
    b.fill = Some(TableFill {
        agg: (3, 512),
        holds: (2, 512),
        threads: (3, 32_768),
    });
    let mut enc = Encoder::default();
    assert!(matches!(enc.encode(&a), Encoded::Whole));
    let Encoded::Delta(d) = enc.encode(&b) else {
        panic!("the second sample is a delta")
    };
    insta::assert_snapshot!("kernel", pretty(Body::Kernel(Box::new((&a).into()))));
    insta::assert_snapshot!("kernel_delta", pretty(Body::KernelDelta(d)));
}

/// Every field, whole and through a delta.
#[test]
fn a_whole_sample_round_trips() {
    let k = fixture(3);
    let json = serde_json::to_string(&Sample::from(&k)).unwrap();
    let w: Sample = serde_json::from_str(&json).unwrap();
    let back = KernelSample::try_from(&w).unwrap();
    let same = |back: &KernelSample, k: &KernelSample| {
        assert_eq!(back.stats, k.stats);
        assert_eq!(back.aggregates, k.aggregates);
        assert_eq!(back.retired, k.retired);
        assert_eq!(back.holds, k.holds);
        assert_eq!(back.undecodable, k.undecodable);
        assert_eq!(back.fill, k.fill);
    };
    same(&back, &k);
    let mut enc = Encoder::default();
    let mut dec = crate::record::delta::Decoder::default();
    assert!(matches!(enc.encode(&k), Encoded::Whole));
    dec.whole(&back);
    let mut next = fixture(9);
    next.holds[1].undo = -3;
    let Encoded::Delta(d) = enc.encode(&next) else {
        panic!("a delta")
    };
    let json = serde_json::to_string(&d).unwrap();
    same(
        &dec.apply(serde_json::from_str(&json).unwrap()).unwrap(),
        &next,
    );
}

/// What an older ipctop wrote (no identities, no interrupted or ended calls, holds as
/// `held` alone, no retired rows or fill) reads with those unknown.
#[test]
fn a_sample_of_format_2_reads_with_identities_unknown() {
    let v2 = r#"{"stats":{"calls":[1],"errors":[0],"dropped":0,"inflight_full":0,"agg_full":0,"sent":0},"aggregates":[{"pid":7,"id":3,"syscall":"semop","calls":1,"errors":0,"total_ns":5,"max_ns":5,"last_ns":9,"hist":[1]}],"holds":[{"semid":3,"semnum":0,"pid":7,"held":-2}],"undecodable":0}"#;
    let w: Sample = serde_json::from_str(v2).unwrap();
    let k = KernelSample::try_from(&w).unwrap();
    let a = k.aggregates[0];
    assert_eq!(
        (a.start, a.ipc_ns, a.ns_id, a.interrupted, a.ended),
        (None, None, None, 0, 0)
    );
    let h = k.holds[0];
    assert_eq!(
        (h.start, h.ipc_ns, h.held, h.taken, h.given, h.undo),
        (None, None, -2, 0, 2, 0)
    );
    assert!(k.retired.is_empty() && k.fill.is_none());
    assert_eq!((k.stats.lost_calls, k.stats.interrupted), (0, [0; NSYS]));
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
    w.stats.errors.resize(NSYS, 0);
    w.stats.errors.push(1);
    assert!(KernelSample::try_from(&w).is_err());
    let mut w = Sample::from(&fixture(3));
    w.aggregates[1].hist.push(1);
    assert!(KernelSample::try_from(&w).is_err());
}

/// Every whole kernel line of the checked-in demo recording reads, and written again is the
/// JSON it was (the first sample is whole; the later ones are changes, `delta.rs`).
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
        seen >= 1,
        "the demo recording has its kernel samples ({seen})"
    );
}

/// Counters of the POSIX queue calls are written only when one is not zero (else the arrays
/// are System V's 12, as format 5 wrote them), and read back whole.
#[test]
fn posix_queue_counters_are_written_when_counted() {
    let mut k = KernelSample::try_from(&Sample::from(&fixture(3))).unwrap();
    assert_eq!(Sample::from(&k).stats.calls.len(), monitor_ebpf::NSYS_SYSV);
    k.stats.calls[monitor_ebpf::sys::MQ_TIMEDRECEIVE as usize] = 7;
    k.stats.errors[monitor_ebpf::sys::MQ_TIMEDRECEIVE as usize] = 1;
    let w = Sample::from(&k);
    assert_eq!(w.stats.calls.len(), NSYS);
    let back = KernelSample::try_from(&w).unwrap();
    assert_eq!(
        (back.stats.calls, back.stats.errors),
        (k.stats.calls, k.stats.errors)
    );
}
