//! Replay's reader: the demo through the dashboard's feed with seeks; finished calls and waits begun before the recording.
use super::*;

#[test]
fn the_demo_replays_through_the_dashboards_feed_with_seeks() {
    use ipctop::{
        analysis::{self, What},
        feed::{self, Control, Source},
        model::Model,
        replay::ReplaySource,
    };
    let open = ipctop::cmd::replay::opener(None).unwrap();
    let mut src = ReplaySource::new(open, 1.0).expect("the built-in demo reads");
    // The length comes from a pass in the background.
    let total = loop {
        if let Some(t) = src.position().unwrap().total_s {
            break t;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(total > 5.0, "{total}");
    let mut m = Model::new();
    let apply_all = |src: &mut ReplaySource, m: &mut Model| {
        for s in src.drain() {
            m.apply(&s);
        }
    };
    src.control(Control::Pause);
    // Mid-way the AB/BA deadlock is on, with two processes.
    src.control(Control::SeekTo(4.0));
    apply_all(&mut src, &mut m);
    let deadlocks = |m: &Model| {
        analysis::analyze(m, &Default::default())
            .into_iter()
            .filter_map(|f| match f.what {
                What::Deadlock { pids, .. } => Some(pids),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let d = deadlocks(&m);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].len(), 2);
    // Seeking back starts over (a Reset first): at 0.2 s there is no deadlock yet.
    src.control(Control::SeekTo(0.2));
    let ups = src.drain();
    assert!(matches!(ups[0].update, feed::Update::Reset));
    for s in &ups {
        m.apply(s);
    }
    assert!(deadlocks(&m).is_empty());
    // To the end: the deadlock is over, the leaks remain — as the report says. (A drain reads
    // for a bounded time: a few drains on a loaded machine.)
    src.control(Control::SeekTo(total));
    let t0 = std::time::Instant::now();
    while !src.finished() && t0.elapsed() < Duration::from_secs(60) {
        apply_all(&mut src, &mut m);
    }
    assert!(src.finished());
    let leaks: Vec<(String, i32)> = analysis::analyze(&m, &Default::default())
        .into_iter()
        .filter_map(|f| match f.what {
            What::Leak { ipc, id } => Some((format!("{ipc:?}"), id)),
            _ => None,
        })
        .collect();
    let rep = ipctop::report::build(
        ipctop::cmd::replay::demo().unwrap(),
        &Default::default(),
        ipctop::report::ScopeMode::All,
    );
    assert_eq!(leaks.len(), rep.leaks.len(), "{leaks:?} vs {:?}", rep.leaks);
    assert_eq!(leaks.len(), 2, "a segment and a queue: {leaks:?}");
    assert_eq!(rep.along_the_way.deadlocks.len(), 1);
}

#[test]
fn a_finished_call_is_never_still_waiting() {
    if !can_trace("report_finished_wait") {
        return;
    }
    let d = tmpdir("finished");
    let rec = d.0.join("f.ipctop");
    let name = unique_name("fin");
    // A semop blocked 1 s, released, then 2 s of nothing: the in-flight scans saw it
    // blocked, and a later scan lists nothing (that empty scan reaches the model too).
    in_own_ipc_ns(&format!(
        "$I record --interval 0.25 --comm {name} -o {} -- sh -c \
         \"$W --name {name} --hold-for 0 block --release-after 1 >/dev/null; sleep 2\"",
        rec.display()
    ));
    let (code, r, err) = report(&rec, &["--fail-on", "wait>3"]);
    assert_eq!(code, Some(0), "{err} {r}");
    assert_eq!(r["still_waiting"], serde_json::json!([]), "{r}");
    let w = &r["longest_wait"];
    let secs = w["seconds"].as_f64().unwrap();
    assert!((0.9..1.5).contains(&secs), "{w}");
    assert_eq!(w["still_waiting"], false, "{w}");
    let (code, _, err) = report(&rec, &["--fail-on", "wait>0.5"]);
    assert_eq!(code, Some(1), "the wait lasted 1 s: {err}");
    assert!(err.contains("finished"), "{err}");
}

#[test]
fn a_wait_begun_before_the_recording_trips_wait_gates() {
    if !can_trace("report_wait_before") {
        return;
    }
    let d = tmpdir("before");
    let rec = d.0.join("b.ipctop");
    // Blocked 1 s before the probe is attached; recorded 3 s more; released after. The
    // script says the waiter's pid and namespace: the probe follows the whole machine, and
    // other tests' waits (a 1,000-process bench's, say) are judged only in theirs.
    let out = in_own_ipc_ns(&format!(
        "$W block >/dev/null & echo \"$! $(stat -L -c %i /proc/self/ns/ipc)\"; sleep 1; \
         $I record --interval 0.25 --duration 3 -o {} 2>/dev/null; kill $!; wait",
        rec.display()
    ));
    let (pid, ns) = out
        .split_once(' ')
        .map(|(p, n)| (p.trim().parse::<u64>().unwrap(), n.trim().to_string()))
        .unwrap_or_else(|| panic!("pid and namespace: {out:?}"));
    let (code, r, err) = report(&rec, &["--ipc-ns", &ns, "--fail-on", "wait>2"]);
    assert_eq!(code, Some(1), "a wait of at least ~3 s: {err} {r}");
    assert!(err.contains("at least"), "{err}");
    // The wait whose start nobody saw: the waiter's.
    let still: Vec<&Value> = r["still_waiting"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["exact"] == false && w["pid"] == pid)
        .collect();
    assert_eq!(still.len(), 1, "{r}");
    // Its age from the waiter's scheduler clock: the whole recording and the second
    // before it, never more than it waited (begun at most a few seconds before, on a loaded
    // machine: ipctop took 5.8 s to start once).
    let secs = still[0]["seconds"].as_f64().unwrap();
    let dur = r["recording"]["duration_s"].as_f64().unwrap();
    assert!(
        secs >= dur + 0.5 && secs <= dur + 10.0,
        "{secs} s in a {dur} s recording"
    );
    // A gate above its age does not fire.
    let (code, _, err) = report(
        &rec,
        &[
            "--ipc-ns",
            &ns,
            "--fail-on",
            &format!("wait>{}", secs + 1.0),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
}
