//! One account, checked against the truth (root: loads the probe). Real workloads at known
//! rates — an uncontended lock, a ping-pong between two processes, a process failing every
//! call — recorded by `ipctop record`; then the model fed by that recording must count per
//! object and per process exactly the calls each workload says it made, rates within 10 % of
//! the paced rate, every failure with its errno; the dashboard's views (drawn on a
//! TestBackend) must print those numbers, and `report --json` the same.
mod support;

use std::{path::Path, process::Command};

use ipctop::{
    feed::ProbeStatus,
    model::{ObjId, ObjKind},
    ui::{views, App, SessionInfo, Store, Theme},
};
use serde_json::Value;
use support::{screen::screen, *};

const LOOP_RATE: f64 = 2000.0;
const PONG_RATE: f64 = 1000.0;
const FAIL_RATE: f64 = 500.0;
const SECS: f64 = 9.0;

fn key(app: &mut App, c: char) {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
}

/// The line of `screen` that starts (after the border) with `first` and contains `rest`.
fn row_with(screen: &str, first: &str, rest: &[String]) -> bool {
    screen.lines().any(|l| {
        let cells: Vec<&str> = l
            .split(|c: char| c.is_whitespace() || c == '│' || c == '|')
            .filter(|s| !s.is_empty())
            .collect();
        l.contains(first) && rest.iter().all(|r| cells.contains(&r.as_str()))
    })
}

fn within(got: f64, want: f64, tag: &str) {
    assert!(
        (got - want).abs() <= want * 0.10,
        "{tag}: rate {got:.1}/s, want {want}/s ± 10 %"
    );
}

#[test]
fn counts_rates_and_failures_match_the_workloads_everywhere() {
    if !can_trace("account_real") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ipctop-account-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            // A failed run's recording kept to look into (the path said).
            if std::thread::panicking() {
                let keep = std::env::temp_dir().join("ipctop-account-failed.ipctop");
                if std::fs::copy(self.0.join("acct.ipctop"), &keep).is_ok() {
                    eprintln!("recording kept: {}", keep.display());
                }
            }
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = Rm(dir.clone());
    let rec = dir.join("acct.ipctop");
    let name = unique_name("acct");
    // Its own IPC namespace (objects and ids its own), and only its own calls (--comm).
    let out = in_own_ipc_ns(&format!(
        "$I record --interval 0.5 --comm {name} -o {} -- sh -c \"W='$W --name {name}'; \
         \\$W paced-loop --rate {LOOP_RATE} --secs {SECS} & \
         \\$W ping-pong --rate {PONG_RATE} --secs {SECS} & \
         \\$W failing --rate {FAIL_RATE} --secs {SECS} & wait\"",
        rec.display()
    ));
    let lines = json_lines(&out);
    let find = |has: &str, not: &str| {
        lines
            .iter()
            .find(|v| v.get(has).is_some() && v.get(not).is_none())
            .unwrap_or_else(|| panic!("no line with {has}: {lines:?}"))
            .clone()
    };
    let lp = find("semops", "child_pid");
    let pp = find("child_pid", "failed");
    let fl = find("failed", "semops");
    let u = |v: &Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));

    // The model, fed by the recording as the dashboard's replay would be.
    let mut reader = ipctop::record::open(&rec).unwrap();
    let mut store = Store::new(
        SessionInfo::default(),
        ProbeStatus::Replay,
        Default::default(),
    );
    let sem = |store: &Store, id: u64| ObjId {
        ns: store.model.view_ns(),
        id: id as i32,
    };
    // Up to 6 s after the loop's set was created: every rate's window inside the run.
    let mut mid_checked = false;
    while let Some(s) = reader.next_update() {
        store.ingest(std::slice::from_ref(&s));
        let m = &store.model;
        let Some(c) = m.creation(ObjKind::Sem, sem(&store, u(&lp, "semid"))) else {
            continue;
        };
        if mid_checked || m.now_mono_ns() < c.mono_ns + 6_000_000_000 {
            continue;
        }
        mid_checked = true;
        let a = m.account();
        let obj = |v: &Value| a.object(ObjKind::Sem, sem(&store, u(v, "semid"))).unwrap();
        within(obj(&lp).rate(), LOOP_RATE, "loop, per object");
        within(
            a.process(u(&lp, "pid") as u32).unwrap().rate(),
            LOOP_RATE,
            "loop, per process",
        );
        within(obj(&pp).rate(), PONG_RATE, "ping-pong, per object");
        for k in ["pid", "child_pid"] {
            let p = a.process(u(&pp, k) as u32).unwrap();
            within(p.rate(), PONG_RATE / 2.0, "ping-pong, per process");
        }
        within(obj(&fl).rate(), FAIL_RATE, "failing, per object");
        // The views print the account's figures: the busiest objects (rate, calls, errors).
        let mut app = App::new(store.clone(), Theme::default());
        let over = screen(&mut app, 200, 60);
        for v in [&lp, &pp, &fl] {
            let o = obj(v);
            let cells = [
                views::num(o.rate()),
                o.calls.to_string(),
                o.errors.to_string(),
            ];
            assert!(
                row_with(&over, &format!("sem {}", u(v, "semid")), &cells),
                "sem {} with {cells:?} not in\n{over}",
                u(v, "semid")
            );
        }
        // The processes view: calls and failures per process.
        key(&mut app, '5');
        let procs = screen(&mut app, 200, 60);
        let p = a.process(u(&fl, "pid") as u32).unwrap();
        assert!(
            row_with(
                &procs,
                &u(&fl, "pid").to_string(),
                &[views::num(p.calls as f64), p.errors.to_string()]
            ),
            "{procs}"
        );
        assert_eq!(p.calls, p.errors + 1, "every call failed but its semget");
    }
    assert!(mid_checked, "the recording never reached 6 s into the run");

    // At the end: exactly the workloads' own counts.
    let m = &store.model;
    let a = m.account();
    // The workloads have ended and removed their sets: their final accounts.
    let obj = |v: &Value| {
        a.object_final(ObjKind::Sem, sem(&store, u(v, "semid")))
            .unwrap()
    };
    let o = obj(&lp);
    assert_eq!(
        o.calls,
        u(&lp, "semops") + u(&lp, "setup_calls"),
        "loop calls"
    );
    assert_eq!(o.errors, 0);
    let p = a.process_final(u(&lp, "pid") as u32).unwrap();
    assert_eq!(p.calls, u(&lp, "semops") + u(&lp, "setup_calls"));
    let o = obj(&pp);
    assert_eq!(
        o.calls,
        u(&pp, "semops") + u(&pp, "child_semops") + u(&pp, "setup_calls"),
        "ping-pong calls"
    );
    assert_eq!(
        a.process_final(u(&pp, "child_pid") as u32).unwrap().calls,
        u(&pp, "child_semops")
    );
    let o = obj(&fl);
    assert_eq!(o.errors, u(&fl, "failed"), "failures");
    assert_eq!(o.calls, u(&fl, "failed") + u(&fl, "setup_calls"));
    let eagain = o
        .errnos
        .iter()
        .find(|((_, e), _)| *e == libc::EAGAIN)
        .map(|(_, n)| *n);
    assert_eq!(eagain, Some(u(&fl, "failed")), "{:?}", o.errnos);
    assert_eq!(a.dropped(), 0);

    // `report --json`: the same numbers.
    let r = report_json(&rec);
    let objects = r["objects"].as_array().unwrap();
    for (v, want) in [
        (&lp, u(&lp, "semops") + 3),
        (&pp, u(&pp, "semops") + u(&pp, "child_semops") + 2),
        (&fl, u(&fl, "failed") + 2),
    ] {
        let o = objects
            .iter()
            .find(|o| o["kind"] == "sem" && o["id"] == v["semid"])
            .unwrap_or_else(|| panic!("sem {} not in {objects:?}", v["semid"]));
        assert_eq!(o["calls"], want, "{o}");
    }
    let procs = r["processes"].as_array().unwrap();
    let fp = procs.iter().find(|p| p["pid"] == fl["pid"]).unwrap();
    assert_eq!(fp["errors"], fl["failed"], "{fp}");
    assert_eq!(fp["errnos"][0]["errno"], "EAGAIN", "{fp}");
}

fn report_json(rec: &Path) -> Value {
    let out = Command::new(IPCTOP)
        .arg("report")
        .arg(rec)
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "report --json: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
