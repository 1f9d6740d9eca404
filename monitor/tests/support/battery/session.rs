//! One run of one scenario: the situation started (before or after the surfaces), every
//! surface watching it at once for its window, then the recording reported and gated, and
//! everything stopped — the situation's namespace checked gone.
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{
    extract::{self, Frame, Scope},
    judge::{pids_of, Outcome, Total},
    proc::{run, Spawned, Stop, SLOW},
    surfaces::{s, Surfaces},
    table::{Scenario, Setup, Start},
    Config, Kind, Surface, LONG_WAIT_S,
};

/// Between two looks at every surface.
const CADENCE: Duration = Duration::from_millis(2500);

pub fn run_one(cfg: &Config, sc: &'static Scenario) -> Outcome {
    let t = Instant::now();
    let mut o = Outcome::new(sc);
    if cfg.verbose {
        eprintln!("battery: {} starts", sc.name);
    }
    let dir = TempDir::new(sc.name);
    if let Err(e) = Run::go(cfg, sc, &dir.0, &mut o) {
        o.error = Some(e);
    }
    o.secs = t.elapsed().as_secs_f64();
    if let Some(keep) = &cfg.keep {
        let to = keep.join(sc.name);
        let _ = std::fs::remove_dir_all(&to);
        let _ = std::fs::create_dir_all(&to);
        for e in std::fs::read_dir(&dir.0).into_iter().flatten().flatten() {
            let _ = std::fs::copy(e.path(), to.join(e.file_name()));
        }
        let _ = std::fs::write(to.join("outcome.txt"), super::render::render_one(&o));
    }
    if cfg.verbose {
        eprintln!("battery: {} done in {:.0} s", sc.name, o.secs);
    }
    o
}

/// A scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("ipctop-battery-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        let _ = std::fs::create_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The tids of these roles of a ready line.
fn role_tids(ready: &Value, roles: &[&str]) -> Vec<i64> {
    roles
        .iter()
        .flat_map(|r| ready["tids"][r].as_array().into_iter().flatten())
        .filter_map(Value::as_i64)
        .collect()
}

/// Whether thread `tid` is blocked in semop or semtimedop (the kernel's word).
fn blocked_in_semop(tid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{tid}/syscall"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<i64>().ok())
        .is_some_and(|nr| nr == 65 || nr == 220)
}

/// The situation's processes still alive: in one of its namespaces `spaces` and named by
/// its ready lines (`pids`) or in one of its process groups (`groups`). (A namespace's inode
/// alone would not do: a namespace made later by another run may reuse it.)
fn left_behind(spaces: &[u64], pids: &BTreeSet<i64>, groups: &[i64]) -> Vec<i64> {
    let ns_of = |p: &Path| -> Option<u64> {
        let l = std::fs::read_link(p.join("ns/ipc")).ok()?;
        l.to_str()?
            .strip_prefix("ipc:[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    };
    let pgid_of = |p: &Path| -> Option<i64> {
        let st = std::fs::read_to_string(p.join("stat")).ok()?;
        st.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(2)?
            .parse()
            .ok()
    };
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: i64 = e.file_name().to_str()?.parse().ok()?;
            let p = e.path();
            let ours = pids.contains(&pid) || pgid_of(&p).is_some_and(|g| groups.contains(&g));
            (ours && ns_of(&p).is_some_and(|n| spaces.contains(&n))).then_some(pid)
        })
        .collect()
}

/// The run's state.
struct Run<'a> {
    cfg: &'a Config,
    sc: &'static Scenario,
    dir: &'a Path,
}

impl Run<'_> {
    fn workload(&self, situation: &str, args: &[&str], go: bool) -> Command {
        let mut c = Command::new(&self.cfg.workload);
        if go {
            c.arg("--wait-go");
        }
        c.arg("judge").arg(situation).args(args);
        c
    }

    fn go(cfg: &Config, sc: &'static Scenario, dir: &Path, o: &mut Outcome) -> Result<(), String> {
        let r = Run { cfg, sc, dir };
        let t0 = Instant::now();
        let at = move || t0.elapsed().as_secs_f64();
        let after = sc.start == Start::AfterSurfaces;
        let rec = dir.join("run.ipctop");
        // The situation, and for `neighbour` the recorded command (its lines come through
        // `record`, whose stdin is the command's) and the neighbour.
        let (mut main, mut nb) = match sc.setup {
            Setup::Neighbour => {
                let mut c = Command::new(&cfg.ipctop);
                c.args(["record", "-o"])
                    .arg(&rec)
                    .args(["--interval", "1", "--"])
                    .arg(&cfg.workload)
                    .args(["--wait-go", "judge", sc.situation]);
                let nb = Spawned::start("the neighbour", &mut r.workload("neighbour", &[], true))?;
                let mut m = Spawned::start("ipctop record -- clean", &mut c)?;
                m.wait_stderr("ipctop: recording to", SLOW)?;
                (m, Some(nb))
            }
            _ => (
                Spawned::start(
                    "the workload",
                    &mut r.workload(sc.situation, sc.args, after),
                )?,
                None,
            ),
        };
        o.phase(at(), "started");
        let ns = main.phase("ns", SLOW)?["ipc_ns"]
            .as_u64()
            .ok_or("no ipc_ns in the workload's first line")?;
        let mut ready = Value::Null;
        if let Start::BeforeSurfaces(lead) = sc.start {
            ready = main.phase("ready", SLOW)?;
            thread::sleep(Duration::from_secs_f64(lead));
        }
        let own_record = sc.setup != Setup::Neighbour;
        o.phase(at(), "surfaces");
        let mut surf = Surfaces::start(cfg, sc, ns, own_record.then_some(rec.as_path()))?;
        o.phase(at(), "up");
        if after {
            main.send_line("go")?;
            ready = main.phase("ready", SLOW)?;
        }
        if let Some(nb) = &mut nb {
            nb.send_line("go")?;
            let v = nb.phase("ready", SLOW)?;
            ready["neighbour"] = v;
        }
        o.ready = ready.clone();
        o.phase(at(), "ready");
        let scope = match sc.setup {
            Setup::TwoNamespaces => Scope {
                ns: ready["ns_a"].as_u64(),
                pids: super::judge::pids_of(
                    &serde_json::json!({"pids": {"a": ready["pids"]["a"]}}),
                ),
            },
            _ => Scope {
                ns: Some(ns),
                pids: pids_of(&ready),
            },
        };
        // The window: a look at every surface every CADENCE.
        // The window: a look at every live surface every CADENCE, at a snapshot every other
        // look and at the last.
        let end = Instant::now() + Duration::from_secs_f64(sc.window_s);
        for n in 0.. {
            let t = Instant::now();
            let last = t + CADENCE >= end;
            surf.look(&scope, o, last || n % 2 == 0);
            main.drain();
            if last {
                break;
            }
            let left = end.saturating_duration_since(Instant::now());
            thread::sleep(CADENCE.saturating_sub(t.elapsed()).min(left));
        }
        // The situation held (the kernel's word), else the run says nothing.
        if let Some(t) = role_tids(&ready, sc.blocked)
            .into_iter()
            .find(|&t| !blocked_in_semop(t))
        {
            return Err(format!(
                "the situation did not hold: thread {t} is not blocked in semop"
            ));
        }
        o.phase(
            at(),
            &format!(
                "looked {}",
                o.obs.get(&Surface::Serve).map_or(0, |x| x.looks)
            ),
        );
        // The recording first (a wait from before ipctop must not be judged long by a
        // recording that itself lasted that long), then the live surfaces.
        match &mut surf.record {
            Some(rp) => {
                if rp.stop(Stop::Term, SLOW).is_none() {
                    return Err(format!("ipctop record did not stop: {}", rp.stderr()));
                }
            }
            None => {
                if main.stop(Stop::CloseStdin, SLOW).is_none() {
                    return Err(format!("record -- clean did not end: {}", main.stderr()));
                }
            }
        }
        let recorded = super::judge::unix_s();
        o.phase(at(), "recorded");
        let killed = role_tids(&ready, &["sem_waiter", "msg_waiter"]);
        o.facts.trace = surf
            .stop_live()
            .into_iter()
            .filter(|l| l["tid"].as_i64().is_some_and(|t| killed.contains(&t)))
            .collect();
        if sc.setup == Setup::TwoNamespaces {
            r.serve_totals(&surf.metrics, &ready, o);
        }
        o.phase(at(), "live stopped");
        r.reports(&rec, ns, &scope, &ready, o)?;
        for s in [Surface::Report, Surface::Gate] {
            o.obs.entry(s).or_default().end_unix_s = recorded;
        }
        o.phase(at(), "reported");
        // Everything stopped, the namespaces gone with their objects.
        drop(surf);
        let _ = main.stop(Stop::CloseStdin, Duration::from_secs(30));
        o.phase(at(), "stopped");
        if let Some(nb) = &mut nb {
            let _ = nb.stop(Stop::CloseStdin, Duration::from_secs(30));
        }
        let mut spaces = vec![ns];
        spaces.extend(ready["ns_b"].as_u64());
        spaces.extend(ready["neighbour"]["ipc_ns"].as_u64());
        let mut pids = pids_of(&ready);
        pids.extend(pids_of(&ready["neighbour"]));
        let groups: Vec<i64> = [Some(&main), nb.as_ref()]
            .into_iter()
            .flatten()
            .map(|p| p.pid() as i64)
            .collect();
        let t = Instant::now();
        loop {
            let left = left_behind(&spaces, &pids, &groups);
            if left.is_empty() {
                return Ok(());
            }
            if t.elapsed() > Duration::from_secs(20) {
                return Err(format!(
                    "processes {left:?} of the situation are still there"
                ));
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    fn ipctop(&self) -> Command {
        Command::new(&self.cfg.ipctop)
    }

    /// `report --json` (judged by the scenario's scope) and its gates, one per kind.
    fn reports(
        &self,
        rec: &Path,
        ns: u64,
        scope: &Scope,
        ready: &Value,
        o: &mut Outcome,
    ) -> Result<(), String> {
        let mut base = vec![
            s("report"),
            rec.display().to_string(),
            s("--long-wait"),
            s(LONG_WAIT_S),
        ];
        // What a report judges (of its namespace, or its command) is its verdict on the
        // scenario, whoever it names; what it saw along the way is the machine's, the
        // scenario's among it.
        let (judged, along) = match self.sc.setup {
            Setup::Neighbour => (
                Scope::default(),
                Scope {
                    ns: None,
                    pids: scope.pids.clone(),
                },
            ),
            Setup::TwoNamespaces | Setup::Plain => {
                let ns = if self.sc.setup == Setup::Plain {
                    Some(ns)
                } else {
                    scope.ns
                };
                base.extend([s("--ipc-ns"), s(ns.unwrap_or(0))]);
                (
                    Scope {
                        ns,
                        pids: Default::default(),
                    },
                    scope.clone(),
                )
            }
        };
        let (code, out, err) = run("ipctop report", self.ipctop().args(&base).arg("--json"))?;
        let doc: Value = serde_json::from_str(&out)
            .map_err(|e| format!("report --json exited {code:?} ({e}): {err}"))?;
        let (ever, end) = extract::report(&doc, &judged, &along);
        let rep = o.obs.entry(Surface::Report).or_default();
        rep.look(ever);
        rep.end = end;
        o.facts.context = doc["context"].clone();
        let gate = self.gates(&base)?;
        o.obs.entry(Surface::Gate).or_default().look(gate);
        if self.sc.setup == Setup::TwoNamespaces {
            for side in ["a", "b"] {
                let (_, out, _) = run(
                    "ipctop report",
                    self.ipctop().args([
                        s("report"),
                        rec.display().to_string(),
                        s("--json"),
                        s("--ipc-ns"),
                        s(&ready[format!("ns_{side}")]),
                    ]),
                )?;
                let doc: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
                let by = &doc["calls"]["by_syscall"];
                totals(o, &format!("report --ipc-ns {side}"), ready, side, |sys| {
                    by[sys].as_i64()
                });
            }
        }
        Ok(())
    }

    /// `report --fail-on` of every kind: at once (each condition met is a line of its own),
    /// else, when this ipctop does not know one of them (exit 2), one kind at a time.
    fn gates(&self, base: &[String]) -> Result<Frame, String> {
        let mut gate = Frame::default();
        let all: Vec<String> = Kind::ALL.iter().map(|k| k.gate()).collect();
        let (code, _, err) = run(
            "ipctop report --fail-on",
            self.ipctop().args(base).args(["--fail-on", &all.join(",")]),
        )?;
        let met = |k: Kind, err: &str| {
            err.lines()
                .find(|l| l.contains(&format!("fail-on {}:", k.gate())))
                .map(str::to_string)
        };
        match code {
            Some(0) => return Ok(gate),
            Some(1) if Kind::ALL.iter().any(|&k| met(k, &err).is_some()) => {
                for k in Kind::ALL {
                    if let Some(l) = met(k, &err) {
                        gate.hits.entry(k).or_default().text.push(l);
                    }
                }
                return Ok(gate);
            }
            _ => {}
        }
        let one_by_one: Vec<_> = std::thread::scope(|sc| {
            let runs: Vec<_> = Kind::ALL
                .into_iter()
                .map(|k| {
                    let mut c = self.ipctop();
                    c.args(base).args(["--fail-on", &k.gate()]);
                    sc.spawn(move || (k, run("ipctop report --fail-on", &mut c)))
                })
                .collect();
            runs.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        for (k, r) in one_by_one {
            let (code, _, err) = r?;
            match code {
                Some(0) => {}
                Some(1) => gate
                    .hits
                    .entry(k)
                    .or_default()
                    .text
                    .push(err.trim().to_string()),
                Some(2) => {
                    gate.unsupported.insert(k);
                }
                c => return Err(format!("report --fail-on {} exited {c:?}: {err}", k.gate())),
            }
        }
        Ok(gate)
    }

    /// The exporter's calls in namespace A (it serves that one) by the workload's command name,
    /// against the truth.
    fn serve_totals(&self, metrics: &str, ready: &Value, o: &mut Outcome) {
        let s = extract::samples(metrics);
        let ns = ready["ns_a"].to_string();
        totals(
            o,
            "serve --ipc-ns a, comm ipctop-workload",
            ready,
            "a",
            |sys| {
                let want = [
                    ("ipc_ns", ns.as_str()),
                    ("comm", "ipctop-workload"),
                    ("syscall", sys),
                ];
                Some(extract::sum(&s, "ipctop_comm_calls_total", &want) as i64)
            },
        );
    }
}

/// Namespace `side`'s calls by syscall as `shown` gives them, against the ready line's
/// truth: semget and semtimedop exactly, semctl at least (ipctop's own polling is semctl).
fn totals(
    o: &mut Outcome,
    what: &str,
    ready: &Value,
    side: &str,
    shown: impl Fn(&str) -> Option<i64>,
) {
    let truth = &ready[format!("by_syscall_{side}")];
    for sys in ["semget", "semctl", "semtimedop"] {
        o.facts.totals.push(Total {
            what: format!("{what}: {sys}"),
            shown: shown(sys),
            truth: truth[sys].as_i64().unwrap_or(-1),
            at_least: sys == "semctl" && !what.contains("comm"),
        });
    }
}
