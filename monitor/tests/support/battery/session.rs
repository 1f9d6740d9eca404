//! One run of one scenario: the situation started (before or after the surfaces), every
//! surface watching it at once for its window, then the recording reported and gated, and
//! everything stopped — the situation's namespace checked gone.
use std::{
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{
    extract::{self, Frame, Scope},
    judge::{pids_of, Outcome, Total},
    proc::{free_port, http_get, Spawned, Stop, Tmux},
    table::{Check, Scenario, Setup, Start},
    Config, Kind, Surface, LONG_WAIT_S,
};

/// Between two looks at every surface.
const CADENCE: Duration = Duration::from_millis(2500);
/// For a process to start, say something, or end, on a loaded machine.
const SLOW: Duration = Duration::from_secs(90);

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

fn s(x: impl ToString) -> String {
    x.to_string()
}

/// The live surfaces and the recorder.
struct Surfaces {
    ipctop: PathBuf,
    ns: u64,
    port: u16,
    serve: Spawned,
    record: Option<Spawned>,
    dash: Tmux,
    trace: Option<Spawned>,
    /// The last exposition scraped.
    metrics: String,
}

impl Surfaces {
    fn start(cfg: &Config, sc: &Scenario, ns: u64, rec: Option<&Path>) -> Result<Surfaces, String> {
        let ns_s = ns.to_string();
        let port = free_port()?;
        let ipctop = |args: &[String]| {
            let mut c = Command::new(&cfg.ipctop);
            c.args(args);
            c
        };
        let serve = Spawned::start(
            "ipctop serve",
            &mut ipctop(&[
                s("serve"),
                s("--listen"),
                format!("127.0.0.1:{port}"),
                s("--interval"),
                s("1"),
                s("--ipc-ns"),
                ns_s.clone(),
            ]),
        )?;
        let record = match rec {
            Some(file) => {
                let mut a = vec![s("record"), s("-o"), file.display().to_string()];
                a.extend([s("--interval"), s("1")]);
                if sc.setup == Setup::Plain {
                    a.extend([s("--ipc-ns"), ns_s.clone()]);
                }
                Some(Spawned::start("ipctop record", &mut ipctop(&a))?)
            }
            None => None,
        };
        let trace = match sc.checks.contains(&Check::TraceEndedByExit) {
            true => Some(Spawned::start(
                "ipctop trace",
                &mut ipctop(&[s("trace"), s("--json"), s("--ipc-ns"), ns_s.clone()]),
            )?),
            false => None,
        };
        // A safety net: the dashboard ends by itself if the battery never stops it.
        let dash = Tmux::start(
            sc.name,
            119,
            50,
            &[
                s("timeout"),
                s("900"),
                cfg.ipctop.display().to_string(),
                s("--ipc-ns"),
                ns_s,
                s("--interval"),
                s("1"),
                s("--long-wait"),
                s(LONG_WAIT_S),
            ],
        )?;
        let mut me = Surfaces {
            ipctop: cfg.ipctop.clone(),
            ns,
            port,
            serve,
            record,
            dash,
            trace,
            metrics: String::new(),
        };
        me.serve.wait_stderr("ipctop: serving", SLOW)?;
        if let Some(r) = &mut me.record {
            r.wait_stderr("ipctop: recording to", SLOW)?;
        }
        if let Some(t) = &mut me.trace {
            t.wait_stderr("ipctop: tracing", SLOW)?;
        }
        me.dash
            .wait_for("its first frame", SLOW, |s| s.contains("Waiting now"))?;
        Ok(me)
    }

    /// One look at every live surface.
    fn look(&mut self, scope: &Scope, o: &mut Outcome) {
        match http_get(self.port, "/metrics") {
            Ok(text) => {
                let f = extract::serve(&text, scope);
                self.metrics = text;
                o.obs.entry(Surface::Serve).or_default().look(f);
            }
            Err(e) => note(o, Surface::Serve, e),
        }
        match self.snapshot() {
            Ok(doc) => o
                .obs
                .entry(Surface::Snapshot)
                .or_default()
                .look(extract::snapshot(&doc, scope)),
            Err(e) => note(o, Surface::Snapshot, e),
        }
        match self.dashboard(scope) {
            Ok(f) => o.obs.entry(Surface::Dashboard).or_default().look(f),
            Err(e) => note(o, Surface::Dashboard, e),
        }
    }

    fn snapshot(&self) -> Result<Value, String> {
        let (code, out, err) = run(
            "ipctop snapshot",
            Command::new(&self.ipctop).args([
                s("snapshot"),
                s("--json"),
                s("--ipc-ns"),
                s(self.ns),
                s("--long-wait"),
                s(LONG_WAIT_S),
            ]),
        )?;
        if code != Some(0) {
            return Err(format!("ipctop snapshot exited {code:?}: {err}"));
        }
        serde_json::from_str(&out).map_err(|e| format!("snapshot --json: {e}"))
    }

    fn dashboard(&self, scope: &Scope) -> Result<Frame, String> {
        let t = Duration::from_secs(20);
        self.dash.keys(&["7"])?;
        let p = self.dash.wait_for("the Problems view", t, |s| {
            s.contains(" Problems (") && !s.contains("7 for details")
        })?;
        let mut f = extract::problems(&p, scope);
        self.dash.keys(&["1"])?;
        let w = self
            .dash
            .wait_for("the Overview", t, |s| s.contains("Waiting now"))?;
        f.claims = extract::overview(&w);
        Ok(f)
    }

    /// Stops the live surfaces (the recorder stays); the trace's lines.
    fn stop_live(&mut self) -> Vec<Value> {
        let _ = self.dash.keys(&["q"]);
        let _ = self.serve.stop(Stop::Term, SLOW);
        let mut lines = Vec::new();
        if let Some(t) = &mut self.trace {
            let _ = t.stop(Stop::Term, SLOW);
            lines = t
                .rest(Duration::from_secs(5))
                .iter()
                .chain(t.seen.iter())
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
        }
        lines
    }
}

fn note(o: &mut Outcome, s: Surface, e: String) {
    let n = &mut o.obs.entry(s).or_default().notes;
    if n.len() < 5 {
        n.push(e);
    }
}

/// Runs a command to its end (at most [`SLOW`]): exit code, stdout, stderr.
fn run(what: &str, cmd: &mut Command) -> Result<(Option<i32>, String, String), String> {
    let mut p = Spawned::start(what, cmd)?;
    let st = p
        .wait(SLOW)
        .ok_or_else(|| format!("{what} did not end within {SLOW:?}"))?;
    let out = p.rest(Duration::from_secs(5)).join("\n");
    Ok((st.code(), out, p.stderr()))
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

/// Whether some process is still in IPC namespace `ns`.
fn ns_in_use(ns: u64) -> bool {
    let want = format!("ipc:[{ns}]");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            std::fs::read_link(e.path().join("ns/ipc")).is_ok_and(|l| l.to_string_lossy() == want)
        })
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
        let ns = main.phase("ns", SLOW)?["ipc_ns"]
            .as_u64()
            .ok_or("no ipc_ns in the workload's first line")?;
        let mut ready = Value::Null;
        if let Start::BeforeSurfaces(lead) = sc.start {
            ready = main.phase("ready", SLOW)?;
            thread::sleep(Duration::from_secs_f64(lead));
        }
        let own_record = sc.setup != Setup::Neighbour;
        let mut surf = Surfaces::start(cfg, sc, ns, own_record.then_some(rec.as_path()))?;
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
        let end = Instant::now() + Duration::from_secs_f64(sc.window_s);
        loop {
            let t = Instant::now();
            surf.look(&scope, o);
            main.drain();
            if Instant::now() >= end {
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
        let killed = role_tids(&ready, &["sem_waiter", "msg_waiter"]);
        o.facts.trace = surf
            .stop_live()
            .into_iter()
            .filter(|l| l["tid"].as_i64().is_some_and(|t| killed.contains(&t)))
            .collect();
        if sc.setup == Setup::TwoNamespaces {
            r.serve_totals(&surf.metrics, &ready, o);
        }
        r.reports(&rec, ns, &scope, &ready, o)?;
        // Everything stopped, the namespaces gone with their objects.
        drop(surf);
        let _ = main.stop(Stop::CloseStdin, Duration::from_secs(30));
        if let Some(nb) = &mut nb {
            let _ = nb.stop(Stop::CloseStdin, Duration::from_secs(30));
        }
        let mut spaces = vec![ns];
        spaces.extend(ready["ns_b"].as_u64());
        spaces.extend(ready["neighbour"]["ipc_ns"].as_u64());
        let t = Instant::now();
        while spaces.iter().any(|&n| ns_in_use(n)) {
            if t.elapsed() > Duration::from_secs(20) {
                return Err(format!(
                    "a namespace of {spaces:?} is still in use after the run"
                ));
            }
            thread::sleep(Duration::from_millis(200));
        }
        Ok(())
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
        let mut gate = Frame::default();
        for k in Kind::ALL {
            let (code, _, err) = run(
                "ipctop report --fail-on",
                self.ipctop().args(&base).args(["--fail-on", &k.gate()]),
            )?;
            match code {
                Some(0) => {}
                Some(1) => {
                    gate.hits
                        .entry(k)
                        .or_default()
                        .text
                        .push(err.trim().to_string());
                }
                Some(2) => {
                    gate.unsupported.insert(k);
                }
                c => return Err(format!("report --fail-on {} exited {c:?}: {err}", k.gate())),
            }
        }
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
