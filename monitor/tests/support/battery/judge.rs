//! What a run showed against what the scenario is: a cell per surface and kind (false
//! positive, false negative, or right), the checks beyond the kinds, the counts over many
//! runs, and the table `cargo xtask battery` prints.
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
};

use serde_json::Value;

use super::{
    extract::{Claim, Frame, Hit},
    table::{Check, Named, Scenario, Want},
    Kind, Surface,
};

/// Everything one surface showed over a run.
#[derive(Clone, Debug, Default)]
pub struct Obs {
    pub looks: usize,
    /// When the last look was (unix seconds; a report's: when its recording stopped).
    pub end_unix_s: f64,
    /// Every look merged.
    pub ever: Frame,
    /// The last look.
    pub end: Frame,
    pub notes: Vec<String>,
}

impl Obs {
    pub fn look(&mut self, f: Frame) {
        for (k, h) in &f.hits {
            let e = self.ever.hits.entry(*k).or_default();
            e.named.extend(h.named.iter().copied());
            e.seconds = match (e.seconds, h.seconds) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            if e.text.len() < 4 {
                e.text.extend(h.text.iter().take(2).cloned());
            }
        }
        self.ever.claims.extend(f.claims.iter().cloned());
        self.ever.unsupported.extend(f.unsupported.iter().copied());
        self.end = f;
        self.looks += 1;
        self.end_unix_s = unix_s();
    }
}

/// Now, in unix seconds.
pub fn unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Facts a run gathers beyond the surfaces' verdicts, for the checks.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// `trace --json` lines of the killed waiters' threads.
    pub trace: Vec<Value>,
    /// The report's `context`.
    pub context: Value,
    /// Counts against the truth.
    pub totals: Vec<Total>,
}

/// A count shown against what the workload made.
#[derive(Clone, Debug)]
pub struct Total {
    pub what: String,
    pub shown: Option<i64>,
    pub truth: i64,
    /// Other callers may add to it (ipctop's own polling counts in a namespace's totals):
    /// right when at least the truth.
    pub at_least: bool,
}

/// One run of one scenario.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub scenario: &'static Scenario,
    pub obs: BTreeMap<Surface, Obs>,
    /// The situation's ready line (with `neighbour`: the neighbour's).
    pub ready: Value,
    pub facts: Facts,
    /// The run itself failed (the situation, a surface that would not start, clean-up).
    pub error: Option<String>,
    pub secs: f64,
    /// The run's phases: (seconds after it began, what), to tell a slow run.
    pub phases: Vec<(f64, String)>,
}

/// How a cell compares with the scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Right,
    FalsePositive,
    FalseNegative,
    /// The surface cannot show this kind.
    NotShown,
}

#[derive(Clone, Debug)]
pub struct Cell {
    pub want: Want,
    pub got: bool,
    pub mark: Mark,
    /// The surface does not know the kind (unknown condition, no such metric).
    pub unsupported: bool,
    pub why: String,
}

/// A check beyond the kinds, on one surface or on the run.
#[derive(Clone, Debug)]
pub struct Checked {
    pub name: &'static str,
    pub on: &'static str,
    pub ok: bool,
    pub detail: String,
}

fn role(v: &Value, key: &str, roles: &[&str]) -> BTreeSet<i64> {
    roles
        .iter()
        .flat_map(|r| v[key][r].as_array().into_iter().flatten())
        .filter_map(Value::as_i64)
        .collect()
}

/// Every pid and tid of a ready line (its roles, and the workload itself).
pub fn pids_of(ready: &Value) -> BTreeSet<i64> {
    let mut s: BTreeSet<i64> = ["pids", "tids"]
        .iter()
        .flat_map(|k| ready[k].as_object().into_iter().flatten())
        .flat_map(|(_, v)| v.as_array().into_iter().flatten())
        .filter_map(Value::as_i64)
        .collect();
    s.extend(ready["pid"].as_i64());
    s
}

fn shown_names(s: Surface) -> bool {
    matches!(s, Surface::Snapshot | Surface::Report | Surface::Dashboard)
}

impl Outcome {
    pub fn new(scenario: &'static Scenario) -> Self {
        Outcome {
            scenario,
            obs: BTreeMap::new(),
            ready: Value::Null,
            facts: Facts::default(),
            error: None,
            secs: 0.0,
            phases: Vec::new(),
        }
    }

    /// Notes a phase of the run, `at_s` seconds after it began.
    pub fn phase(&mut self, at_s: f64, what: &str) {
        self.phases.push((at_s, what.to_string()));
    }

    /// What a must-fire finding must name, and whether `h` does.
    fn names_ok(&self, h: &Hit) -> Result<(), String> {
        let want = match self.scenario.named {
            Named::Nothing => return Ok(()),
            Named::Pids(r) => role(&self.ready, "pids", r),
            Named::Tids(r) => role(&self.ready, "tids", r),
            Named::Objects => ["semids", "msqids"]
                .iter()
                .flat_map(|k| self.ready[k].as_array().into_iter().flatten())
                .filter_map(Value::as_i64)
                .collect(),
        };
        let missing: Vec<i64> = want.difference(&h.named).copied().collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("shown without naming {missing:?}"))
        }
    }

    pub fn cell(&self, s: Surface, k: Kind) -> Cell {
        let want = self.scenario.want(k, s.history());
        let mut c = Cell {
            want,
            got: false,
            mark: Mark::NotShown,
            unsupported: false,
            why: String::new(),
        };
        let Some(o) = self.obs.get(&s).filter(|o| o.looks > 0 && s.shows(k)) else {
            return c;
        };
        c.unsupported = o.ever.unsupported.contains(&k);
        let first = |h: Option<&Hit>| h.and_then(|h| h.text.first().cloned()).unwrap_or_default();
        (c.got, c.mark) = match want {
            Want::Yes | Want::YesOr(_) => {
                let alts: &[Kind] = match want {
                    Want::YesOr(a) => a,
                    _ => &[],
                };
                let named = o.end.hits.get(&k).map(|h| {
                    if shown_names(s) {
                        self.names_ok(h)
                    } else {
                        Ok(())
                    }
                });
                let alt = alts.iter().any(|a| o.end.fired(*a));
                match named {
                    Some(Ok(())) => (true, Mark::Right),
                    _ if alt => (false, Mark::Right),
                    Some(Err(e)) => {
                        c.why = e;
                        (true, Mark::FalseNegative)
                    }
                    None => {
                        c.why = if c.unsupported {
                            "not supported".into()
                        } else {
                            "not shown at the end".into()
                        };
                        (false, Mark::FalseNegative)
                    }
                }
            }
            Want::No => {
                let got = o.ever.fired(k);
                if got {
                    c.why = first(o.ever.hits.get(&k));
                }
                (
                    got,
                    if got {
                        Mark::FalsePositive
                    } else {
                        Mark::Right
                    },
                )
            }
            Want::Any => (o.end.fired(k), Mark::Right),
        };
        c
    }

    fn claims(&self) -> Vec<(Surface, &Claim)> {
        [Surface::Snapshot, Surface::Dashboard]
            .into_iter()
            .flat_map(|s| {
                self.obs
                    .get(&s)
                    .into_iter()
                    .flat_map(move |o| o.ever.claims.iter().map(move |c| (s, c)))
            })
            .collect()
    }

    /// The checks beyond the kinds, and whether the surfaces agree on what the scenario
    /// leaves open.
    pub fn checks(&self) -> Vec<Checked> {
        let mut out = Vec::new();
        for ch in self.scenario.checks {
            match *ch {
                Check::HeldByOne(r) => self.held_by_one(r, &mut out),
                Check::NotHeldBy(waiters, poster) => self.not_held_by(waiters, poster, &mut out),
                Check::MinWait(min) => self.min_wait(min, &mut out),
                Check::TraceEndedByExit => self.trace_ended_by_exit(&mut out),
                Check::Context => self.context(&mut out),
                Check::Totals => {
                    for t in &self.facts.totals {
                        let ok = t
                            .shown
                            .is_some_and(|n| n == t.truth || (t.at_least && n > t.truth));
                        let shown = t.shown.map_or("nothing".into(), |n| n.to_string());
                        out.push(Checked {
                            name: "totals",
                            on: "run",
                            ok,
                            detail: format!(
                                "{}: {shown} shown, the workload made {}{}",
                                t.what,
                                t.truth,
                                if t.at_least {
                                    " (ipctop's polling may add)"
                                } else {
                                    ""
                                }
                            ),
                        });
                    }
                }
            }
        }
        self.agreement(&mut out);
        out
    }

    fn held_by_one(&self, r: &str, out: &mut Vec<Checked>) {
        let ok_pids = role(&self.ready, "pids", &[r]);
        for s in [Surface::Snapshot, Surface::Dashboard] {
            let bad: Vec<String> = self
                .claims()
                .into_iter()
                .filter(|(x, c)| {
                    *x == s
                        && (c.held_by.len() > 1 || c.held_by.iter().any(|p| !ok_pids.contains(p)))
                })
                .map(|(_, c)| format!("pid {} held by {:?}", c.pid, c.held_by))
                .collect();
            out.push(checked("holders", s.name(), bad));
        }
    }

    /// No waiter of role `waiters` is "held by" one of its own (a guess is allowed where there
    /// is no history: the snapshot's); posters named are of role `poster`.
    fn not_held_by(&self, waiters: &str, poster: &str, out: &mut Vec<Checked>) {
        let w = role(&self.ready, "pids", &[waiters]);
        let p = role(&self.ready, "pids", &[poster]);
        for s in [Surface::Snapshot, Surface::Dashboard] {
            let bad: Vec<String> = self
                .claims()
                .into_iter()
                // Without history a snapshot can only guess, and may say so.
                .filter(|(x, c)| *x == s && (s.history() || !c.guess))
                .filter_map(|(_, c)| {
                    let held: Vec<&i64> = c.held_by.iter().filter(|x| w.contains(x)).collect();
                    let wrong_poster = c.posters.iter().any(|x| !p.contains(x));
                    (!held.is_empty() || wrong_poster).then(|| {
                        format!(
                            "pid {} held by {:?}{} (raised by {:?})",
                            c.pid,
                            c.held_by,
                            if c.guess { " (guess)" } else { "" },
                            c.posters
                        )
                    })
                })
                .collect();
            out.push(checked("holders", s.name(), bad));
        }
    }

    /// A long wait's figure counts from the wait's start (the ready line's `began_unix_ns`),
    /// not from ipctop's: at least `min` s, and at least what it had lasted at the surface's
    /// last look, less 3 s (its samples and expositions are a second or two old).
    fn min_wait(&self, min: f64, out: &mut Vec<Checked>) {
        let began = self.ready["began_unix_ns"].as_f64().unwrap_or(0.0) / 1e9;
        for (s, o) in &self.obs {
            let Some(secs) = o.end.hits.get(&Kind::LongWait).and_then(|h| h.seconds) else {
                continue;
            };
            let lasted = o.end_unix_s - began;
            out.push(Checked {
                name: "wait length",
                on: s.name(),
                ok: secs >= min && secs >= lasted - 3.0,
                detail: format!("{secs:.1} s shown, the wait had lasted {lasted:.1} s"),
            });
        }
    }

    fn trace_ended_by_exit(&self, out: &mut Vec<Checked>) {
        let killed = role(&self.ready, "tids", &["sem_waiter", "msg_waiter"]);
        let mut bad = Vec::new();
        for t in &killed {
            let lines: Vec<&Value> = self
                .facts
                .trace
                .iter()
                .filter(|l| l["tid"].as_i64() == Some(*t))
                .collect();
            let failed: Vec<&&Value> = lines.iter().filter(|l| !l["errno"].is_null()).collect();
            // `"ended": true`: the call its process's death ended (trace's JSON line).
            let exit = lines.iter().any(|l| l["ended"] == true);
            if lines.is_empty() {
                bad.push(format!("no line for tid {t}"));
            } else if !failed.is_empty() {
                bad.push(format!("tid {t}'s call shown failed: {}", failed[0]));
            } else if !exit {
                bad.push(format!(
                    "tid {t}'s call not shown ended by exit: {}",
                    lines[0]
                ));
            }
        }
        out.push(checked("trace ended by exit", "trace", bad));
    }

    fn context(&self, out: &mut Vec<Checked>) {
        let nb = &self.ready["neighbour"];
        let want = role(nb, "pids", &["deadlocked", "transient", "failing"]);
        let named = super::extract::numbers(&self.facts.context);
        let missing: Vec<i64> = want.difference(&named).copied().collect();
        let bad = if missing.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "context does not name {missing:?}: {}",
                self.facts.context
            )]
        };
        out.push(checked("context", "report", bad));
    }

    /// The same situation, the same verdict: for each kind the scenario leaves open (Any;
    /// long waits aside, which grow past the threshold while the surfaces look), the
    /// surfaces that can say it agree at the end (the snapshot when it is held to the same).
    fn agreement(&self, out: &mut Vec<Checked>) {
        for k in Kind::ALL {
            if k == Kind::LongWait || self.scenario.want(k, true) != Want::Any {
                continue;
            }
            let same = self.scenario.want(k, false) == Want::Any
                && !self.scenario.without_history.iter().any(|(x, _)| *x == k);
            let says: Vec<(Surface, bool)> = Surface::ALL
                .into_iter()
                .filter(|s| s.history() || same)
                .map(|s| (s, self.cell(s, k)))
                .filter(|(_, c)| c.mark != Mark::NotShown && !c.unsupported)
                .map(|(s, c)| (s, c.got))
                .collect();
            let yes: Vec<&str> = says.iter().filter(|x| x.1).map(|x| x.0.name()).collect();
            let bad = if yes.is_empty() || yes.len() == says.len() {
                Vec::new()
            } else {
                vec![format!("{} shown by {} only", k.name(), yes.join(", "))]
            };
            out.push(checked("agreement", k.name(), bad));
        }
    }

    /// Every way it fell short: wrong cells, failed checks, a run that failed.
    pub fn failures(&self) -> Vec<String> {
        let mut v: Vec<String> = self.error.iter().map(|e| format!("run: {e}")).collect();
        for s in Surface::ALL {
            for k in Kind::ALL {
                let c = self.cell(s, k);
                let what = match c.mark {
                    Mark::FalsePositive => "false positive",
                    Mark::FalseNegative => "false negative",
                    _ => continue,
                };
                v.push(format!("{} {}: {what} ({})", s.name(), k.name(), c.why));
            }
        }
        for c in self.checks().into_iter().filter(|c| !c.ok) {
            v.push(format!("{} ({}): {}", c.name, c.on, c.detail));
        }
        v
    }
}

fn checked(name: &'static str, on: &'static str, bad: Vec<String>) -> Checked {
    Checked {
        name,
        on,
        ok: bad.is_empty(),
        detail: if bad.is_empty() {
            "ok".into()
        } else {
            let n = bad.len();
            let mut d = bad.into_iter().take(3).collect::<Vec<_>>().join("; ");
            if n > 3 {
                let _ = write!(d, "; … {} more", n - 3);
            }
            d
        },
    }
}
