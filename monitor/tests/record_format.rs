//! The recording format: kernel samples stored as changes come back whole, an empty list of
//! calls in progress reaches the model, older files still read. Recordings written here with
//! the recorder itself (any user, no probe).
mod support;

use std::{path::Path, time::Duration};

use ipctop::{
    feed::{KernelSample, ProbeStatus, Stamped, Update},
    record::{decode_event, Recorder, WireCall},
    sample::{Aggregate, Hold},
};
use serde_json::Value;
use support::recording::*;

const S: u64 = 1_000_000_000;

fn recorder(path: &Path) -> Recorder {
    let header = ipctop::cmd::record::header_here(
        Duration::from_secs(1),
        &ProbeStatus::Attached("test".into()),
        false,
        None,
    );
    Recorder::create(path, &header).unwrap()
}

fn put(r: &mut Recorder, t: u64, update: Update) {
    r.write(&Stamped { mono_ns: t, update }).unwrap();
}

fn row(pid: u32, id: i32, calls: u64) -> Aggregate {
    Aggregate {
        pid,
        id: Some(id),
        syscall: ipctop::event::Syscall::SEMOP,
        calls,
        errors: calls / 3,
        total_ns: calls * 1000,
        max_ns: 1000 + calls,
        last_ns: calls,
        hist: [calls; monitor_ebpf::HIST_BUCKETS],
        ..Default::default()
    }
}

#[test]
fn kernel_samples_stored_as_changes_come_back_whole() {
    let d = tmpdir("delta");
    for name in ["k.ipctop", "k.ipctop.zst"] {
        let path = d.0.join(name);
        let mut r = recorder(&path);
        // A big table that mostly stands still; a few rows move, one goes, holds change.
        let mut samples = Vec::new();
        for i in 0..6u64 {
            let mut rows: Vec<Aggregate> = (0..2000).map(|p| row(1000 + p, 7, 5)).collect();
            rows.push(row(9, 1, 10 + i));
            if i < 3 {
                rows.push(row(8, 2, 4));
            }
            rows.sort_by_key(|a| (a.pid, a.id));
            let mut k = KernelSample {
                aggregates: rows,
                holds: vec![Hold {
                    semid: 1,
                    semnum: 0,
                    pid: 9,
                    held: 1 + (i as i64 / 2),
                    ..Default::default()
                }],
                undecodable: i,
                ..Default::default()
            };
            k.stats.calls[0] = 100 + i;
            k.stats.sent = i;
            put(&mut r, (10 + i) * S, Update::Kernel(Box::new(k.clone())));
            samples.push(k);
        }
        r.finish(20 * S, "test", None).unwrap();
        let mut rd = ipctop::record::open(&path).unwrap();
        assert_eq!(rd.header.ipctop_recording, ipctop::record::FORMAT_VERSION);
        let back: Vec<KernelSample> = rd
            .by_ref()
            .map(|s| match s.update {
                Update::Kernel(k) => *k,
                u => panic!("{u:?}"),
            })
            .collect();
        assert_eq!(rd.damage(), None);
        assert_eq!(back.len(), samples.len());
        for (i, (a, b)) in back.iter().zip(&samples).enumerate() {
            assert_eq!(a.aggregates, b.aggregates, "{name}: sample {i}");
            assert_eq!(a.holds, b.holds, "{name}: sample {i}");
            assert_eq!(a.stats, b.stats, "{name}: sample {i}");
            assert_eq!(a.undecodable, b.undecodable, "{name}: sample {i}");
        }
        if name.ends_with(".ipctop") {
            // One whole sample, then only what moved: far less than six whole tables.
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.matches(",\"kernel\":{").count(), 1);
            assert_eq!(text.matches("\"kernel_delta\":").count(), 5);
            // The first sample, as written whole.
            let whole = text
                .lines()
                .find(|l| l.contains(",\"kernel\":{"))
                .unwrap()
                .len();
            assert!(text.len() < whole * 2, "{} vs {whole}", text.len());
        }
    }
}

/// A semop by `pid` blocked since `start` on set `semid`, as the probe's scan lists it.
fn blocked(pid: u32, semid: i32, start: u64) -> ipctop::event::Event {
    let w = WireCall(
        start,
        None,
        None,
        pid,
        pid,
        0,
        0,
        "waiter".into(),
        monitor_ebpf::sys::SEMOP,
        0,
        [semid as u64, 0x1000, 1, 0, 0, 0],
        -1,
        vec![(0, -1, 0)],
        None,
        None,
        None,
        None,
    );
    decode_event(&w).unwrap()
}

/// The scans list a wait, then list nothing (its end was not sent: the waiter was killed,
/// its events dropped): the wait ended there and is not "still waiting" at the end.
#[test]
fn an_empty_in_flight_scan_ends_the_waits() {
    let d = tmpdir("inflight");
    let path = d.0.join("w.ipctop");
    let mut r = recorder(&path);
    // A pid above any pid_max: no snapshot places it.
    let pid = 4_194_400;
    put(&mut r, 10 * S, Update::Kernel(Box::default()));
    put(
        &mut r,
        10 * S + S / 5,
        Update::InFlight(vec![blocked(pid, 77, 10 * S)]),
    );
    put(&mut r, 11 * S, Update::InFlight(Vec::new()));
    for i in 1..=6 {
        put(&mut r, (11 + i) * S, Update::Kernel(Box::default()));
    }
    r.finish(17 * S, "test", None).unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"inflight\":[]"),
        "the empty scan is recorded"
    );
    let (code, v, err) = report(&path, &["--fail-on", "wait>3"]);
    assert_eq!(code, Some(0), "the wait lasted 1 s of 7: {err} {v}");
    assert_eq!(v["still_waiting"], serde_json::json!([]), "{v}");
    let w = &v["longest_wait"];
    assert_eq!(w["pid"], pid, "{v}");
    assert_eq!(w["still_waiting"], false, "{w}");
    let secs = w["seconds"].as_f64().unwrap();
    assert!((0.1..=1.0).contains(&secs), "{w}");
    // Still listed at the end: still waiting, 7 s.
    let path2 = d.0.join("w2.ipctop");
    let mut r = recorder(&path2);
    put(&mut r, 10 * S, Update::Kernel(Box::default()));
    put(
        &mut r,
        10 * S + S / 5,
        Update::InFlight(vec![blocked(pid, 77, 10 * S)]),
    );
    for i in 1..=7 {
        put(&mut r, (10 + i) * S, Update::Kernel(Box::default()));
    }
    r.finish(17 * S, "test", None).unwrap();
    let (code, v, err) = report(&path2, &["--fail-on", "wait>3"]);
    assert_eq!(code, Some(1), "{err} {v}");
    assert_eq!(v["still_waiting"][0]["pid"], pid, "{v}");
}

/// Format 1 (every kernel sample whole; no command pid) still reads: the demo recording as
/// ipctop made it then (kept in tests/record_report/).
#[test]
fn format_1_recordings_still_read() {
    let demo =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/record_report/format1-demo.ipctop.zst");
    let rd = ipctop::record::open(&demo).unwrap();
    assert_eq!(rd.header.ipctop_recording, 1);
    assert_eq!(rd.header.command_pid, None);
    let (code, v, err) = report(&demo, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["stopped_early"], Value::Null, "{v}");
}
