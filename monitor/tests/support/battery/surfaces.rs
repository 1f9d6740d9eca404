//! The live surfaces of a run and the recorder: started, looked at (the exporter scraped,
//! a snapshot taken, the dashboard's Problems and Overview captured), stopped.
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde_json::Value;

use super::{
    extract::{self, Frame, Scope},
    judge::Outcome,
    proc::{free_port, http_get, Spawned, Stop, Tmux, SLOW},
    table::{Check, Scenario, Setup},
    Config, Surface, LONG_WAIT_S,
};

/// An argument.
pub fn s(x: impl ToString) -> String {
    x.to_string()
}

/// The live surfaces and the recorder.
pub struct Surfaces {
    ipctop: PathBuf,
    ns: u64,
    port: u16,
    serve: Spawned,
    pub record: Option<Spawned>,
    dash: Tmux,
    trace: Option<Spawned>,
    /// The last exposition scraped.
    pub metrics: String,
    /// Where the last output of each surface is written (the run's directory).
    dir: PathBuf,
}

impl Surfaces {
    pub fn start(
        cfg: &Config,
        sc: &Scenario,
        ns: u64,
        rec: Option<&Path>,
    ) -> Result<Surfaces, String> {
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
                s("--long-wait"),
                s(LONG_WAIT_S),
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
            dir: rec
                .and_then(Path::parent)
                .map_or_else(std::env::temp_dir, Path::to_path_buf),
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

    /// One look at every live surface; at a snapshot too when `snap` (taken meanwhile: it is
    /// the slowest, it reads every namespace on the machine).
    pub fn look(&mut self, scope: &Scope, o: &mut Outcome, snap: bool) {
        let snapshot = snap.then(|| {
            Spawned::start(
                "ipctop snapshot",
                Command::new(&self.ipctop).args([
                    s("snapshot"),
                    s("--json"),
                    s("--ipc-ns"),
                    s(self.ns),
                    s("--long-wait"),
                    s(LONG_WAIT_S),
                ]),
            )
        });
        match http_get(self.port, "/metrics") {
            Ok(text) => {
                let f = extract::serve(&text, scope);
                self.keep("metrics.txt", &text);
                self.metrics = text;
                o.obs.entry(Surface::Serve).or_default().look(f);
            }
            Err(e) => note(o, Surface::Serve, e),
        }
        match self.dashboard(scope) {
            Ok(f) => o.obs.entry(Surface::Dashboard).or_default().look(f),
            Err(e) => note(o, Surface::Dashboard, e),
        }
        match snapshot.map(|p| p.and_then(snapshot_doc)) {
            Some(Ok(doc)) => {
                self.keep("snapshot.json", &doc.to_string());
                o.obs
                    .entry(Surface::Snapshot)
                    .or_default()
                    .look(extract::snapshot(&doc, scope))
            }
            Some(Err(e)) => note(o, Surface::Snapshot, e),
            None => {}
        }
    }

    /// The last output of a surface, in the run's directory (`--keep` keeps it).
    fn keep(&self, name: &str, text: &str) {
        let _ = std::fs::write(self.dir.join(name), text);
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
        self.keep("problems.txt", &p);
        self.keep("overview.txt", &w);
        Ok(f)
    }

    /// Stops the live surfaces (the recorder stays); the trace's lines.
    pub fn stop_live(&mut self) -> Vec<Value> {
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

pub fn note(o: &mut Outcome, s: Surface, e: String) {
    let n = &mut o.obs.entry(s).or_default().notes;
    if n.len() < 5 {
        n.push(e);
    }
}

/// The document of a `snapshot --json` process, once it has ended.
fn snapshot_doc(mut p: Spawned) -> Result<Value, String> {
    let st = p
        .wait(SLOW)
        .ok_or_else(|| format!("ipctop snapshot did not end within {SLOW:?}"))?;
    let out = p.rest(Duration::from_secs(5)).join("\n");
    if st.code() != Some(0) {
        return Err(format!("ipctop snapshot exited {st}: {}", p.stderr()));
    }
    serde_json::from_str(&out).map_err(|e| format!("snapshot --json: {e}"))
}
