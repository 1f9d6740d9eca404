//! Damaged, foreign and odd input (any user): one sentence and the right exit code.
use super::*;

/// A small real recording made without the probe (snapshots only), for the damage tests.
fn synthetic(dir: &Path, name: &str) -> PathBuf {
    use ipctop::{
        feed::{ProbeStatus, Stamped, Update},
        record::Recorder,
    };
    let path = dir.join(name);
    let header = ipctop::cmd::record::header_here(
        Duration::from_secs(1),
        &ProbeStatus::SnapshotOnly("test".into()),
        false,
        None,
    );
    let mut r = Recorder::create(&path, &header).unwrap();
    for _ in 0..3 {
        let snap = ipctop::snapshot::take(&Default::default()).unwrap();
        r.write(&Stamped {
            mono_ns: snap.mono_ns,
            update: Update::Snapshot(Box::new(snap)),
        })
        .unwrap();
    }
    r.finish(ipctop::event::clock_ns(libc::CLOCK_MONOTONIC), "test", None)
        .unwrap();
    path
}

/// Reports on `rec` (exit 0: what could be read is judged) and checks that the report says it
/// stopped early, and why; returns ipctop's stderr.
fn stops_early(rec: &Path, why: &str) -> String {
    let (code, r, err) = report(rec, &[]);
    assert_eq!(code, Some(0), "{err}");
    let said = r["stopped_early"].as_str().unwrap_or_else(|| panic!("{r}"));
    assert!(said.contains(why), "{why:?} not in {said:?}");
    err
}

#[test]
fn damaged_and_foreign_input_gets_one_sentence_and_the_right_exit_code() {
    let d = tmpdir("damage");
    let good = synthetic(&d.0, "good.ipctop");
    let (code, r, err) = report(&good, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(r["stopped_early"], Value::Null);

    let bytes = std::fs::read(&good).unwrap();
    let lines: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
        .collect();
    // Cut mid-line (in the third line): used up to the damage, which is named.
    let cut = d.0.join("cut.ipctop");
    std::fs::write(&cut, &bytes[..lines[1] + 40]).unwrap();
    let err = stops_early(&cut, "line 3");
    assert!(err.contains("line 3"), "{err}");
    // Truncated at a line boundary: no end mark.
    let trunc = d.0.join("trunc.ipctop");
    std::fs::write(&trunc, &bytes[..=lines[2]]).unwrap();
    stops_early(&trunc, "without its end mark");
    // A garbled line in the middle.
    let mut garbled = bytes.clone();
    for b in &mut garbled[lines[1] + 5..lines[1] + 25] {
        *b = b'#';
    }
    let g = d.0.join("garbled.ipctop");
    std::fs::write(&g, &garbled).unwrap();
    stops_early(&g, "not a valid record");

    // Not a recording at all: one sentence, exit 2, no panic.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let rnd = d.0.join("random.bin");
    std::fs::write(&rnd, &random).unwrap();
    let empty = d.0.join("empty.ipctop");
    std::fs::write(&empty, b"").unwrap();
    let json = d.0.join("other.json");
    std::fs::write(&json, b"{\"hello\": 1}\n").unwrap();
    let future = d.0.join("future.ipctop");
    std::fs::write(&future, b"{\"ipctop_recording\": 99}\n").unwrap();
    for (p, want) in [
        (rnd.as_path(), "not an ipctop recording"),
        (empty.as_path(), "is empty"),
        (json.as_path(), "not an ipctop recording"),
        (future.as_path(), "format version 99"),
        (d.0.as_path(), "is a directory"),
        (Path::new("/nonexistent/x.ipctop"), "No such file"),
    ] {
        let out = Command::new(IPCTOP).arg("report").arg(p).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", p.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{}: {err}", p.display());
        assert!(!err.contains("panicked"));
    }
    // A compressed recording cut short reads up to the cut.
    let zgood = synthetic(&d.0, "good.ipctop.zst");
    let z = std::fs::read(&zgood).unwrap();
    let zcut = d.0.join("cut.ipctop.zst");
    std::fs::write(&zcut, &z[..z.len() * 2 / 3]).unwrap();
    let (code, r, err) = report(&zcut, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(r["stopped_early"].is_string(), "{r}");
    // Bad usage.
    let out = Command::new(IPCTOP)
        .args(["report"])
        .arg(&good)
        .args(["--fail-on", "sunshine"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
