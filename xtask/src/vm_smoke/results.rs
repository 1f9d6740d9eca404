//! The guest's records (`@@vm <case> <stream> <text>`) parsed into cases, and each case
//! judged against what ipctop must have seen.
use std::{collections::BTreeMap, fmt};

use serde_json::Value;

use super::{check_basic, compat_expected::check_compat, BASIC_CALLS};

/// Calls of the 32-bit cases: `legacy32 direct 5` and `legacy32 ipc 5`, 31 each.
pub const COMPAT_CALLS: usize = 62;

const RECORD: &str = "@@vm ";

/// What one guest reported: its facts (`-` records) and each case's streams.
#[derive(Debug, Default)]
pub struct Guest {
    pub facts: BTreeMap<String, String>,
    /// Cases in the order they began.
    pub cases: Vec<Case>,
}

#[derive(Debug, Default)]
pub struct Case {
    pub name: String,
    /// stream → lines, e.g. "err", "out", "wl", "verifier", "exit", "begin".
    pub streams: BTreeMap<String, Vec<String>>,
}

impl Case {
    pub(super) fn lines(&self, stream: &str) -> &[String] {
        self.streams.get(stream).map_or(&[], Vec::as_slice)
    }

    /// A `key=value` of the case's exit record.
    pub(super) fn exit_field(&self, key: &str) -> Option<&str> {
        self.lines("exit")
            .first()?
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }
}

/// The records in a serial-port capture; anything else (noise, `\r`) is ignored.
pub fn parse(text: &str) -> Guest {
    let mut g = Guest::default();
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        let Some(rec) = line.find(RECORD).map(|i| &line[i + RECORD.len()..]) else {
            continue;
        };
        let mut parts = rec.splitn(3, ' ');
        let (Some(case), Some(stream)) = (parts.next(), parts.next()) else {
            continue;
        };
        let text = parts.next().unwrap_or("").to_string();
        if case == "-" {
            g.facts.insert(stream.to_string(), text);
            continue;
        }
        if stream == "begin" || !g.cases.iter().any(|c| c.name == case) {
            g.cases.push(Case {
                name: case.to_string(),
                ..Default::default()
            });
        }
        let c = g.cases.iter_mut().rev().find(|c| c.name == case).unwrap();
        c.streams.entry(stream.to_string()).or_default().push(text);
    }
    g
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Pass,
    /// The probe could not load: ipctop said why and exited 3 (it degrades to snapshots).
    SnapshotOnly,
    Fail,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "PASS",
            Outcome::SnapshotOnly => "SNAPSHOT-ONLY",
            Outcome::Fail => "FAIL",
        })
    }
}

#[derive(Debug)]
pub struct CaseVerdict {
    pub name: String,
    pub outcome: Outcome,
    /// Where the probe attached, or why it could not load.
    pub probe: String,
    pub seen: usize,
    pub expected: usize,
    pub problems: Vec<String>,
}

impl CaseVerdict {
    /// A case's verdict before judging: failed, nothing seen yet, `expected` calls wanted.
    pub fn start(c: &Case, expected: usize) -> CaseVerdict {
        CaseVerdict {
            name: c.name.clone(),
            outcome: Outcome::Fail,
            probe: String::new(),
            seen: 0,
            expected,
            problems: Vec::new(),
        }
    }
}

#[derive(Debug)]
pub struct Verdict {
    pub kernel: String,
    pub outcome: Outcome,
    pub cases: Vec<CaseVerdict>,
    pub notes: Vec<String>,
}

impl Verdict {
    pub(super) fn failed(note: String) -> Verdict {
        Verdict {
            kernel: "?".into(),
            outcome: Outcome::Fail,
            cases: Vec::new(),
            notes: vec![note],
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} kernel {}", self.outcome, self.kernel)?;
        for c in &self.cases {
            write!(f, "; {} {}: {}", c.name, c.outcome, c.probe)?;
            if c.outcome != Outcome::SnapshotOnly {
                let at_least = if c.name == "record" { "≥" } else { "" };
                write!(f, ", events {}/{at_least}{}", c.seen, c.expected)?;
            }
            if !c.problems.is_empty() {
                write!(f, " ({})", c.problems.join("; "))?;
            }
        }
        for n in &self.notes {
            write!(f, "; {n}")?;
        }
        Ok(())
    }
}

/// Every case's verdict; the kernel's outcome is the worst of them (and Fail without cases or
/// without the guest's final `done`).
pub fn judge(g: &Guest) -> Verdict {
    let mut v = Verdict {
        kernel: g.facts.get("kernel").cloned().unwrap_or_else(|| "?".into()),
        outcome: Outcome::Pass,
        cases: g.cases.iter().map(judge_case).collect(),
        notes: Vec::new(),
    };
    if let Some(ns) = g.facts.get("ipcns") {
        // (The ns case traces another namespace on purpose.)
        for (case, verdict) in g
            .cases
            .iter()
            .zip(v.cases.iter_mut())
            .filter(|(c, _)| c.name != "ns")
        {
            let wrong = namespace_problems(case, ns);
            if !wrong.is_empty() {
                verdict.problems.extend(wrong);
                verdict.outcome = Outcome::Fail;
            }
        }
    }
    for fact in ["btf", "tracefs", "bpffs"] {
        if g.facts.get(fact).is_some_and(|x| x != "yes") {
            v.notes.push(format!("no {fact}"));
        }
    }
    v.outcome = v
        .cases
        .iter()
        .map(|c| c.outcome)
        .max()
        .unwrap_or(Outcome::Fail);
    if v.cases.is_empty() {
        v.notes.push("the guest ran no case".into());
    }
    if !g.facts.contains_key("done") {
        v.outcome = Outcome::Fail;
        v.notes.push("the guest did not finish".into());
    }
    v
}

/// The traced events of a case that do not carry the guest's IPC namespace `ns` (the inode
/// of its /proc/self/ns/ipc), which the probe reads at offsets from the guest kernel's BTF.
pub(super) fn namespace_problems(c: &Case, ns: &str) -> Vec<String> {
    let Ok(ns) = ns.trim().parse::<u64>() else {
        return vec![format!("the guest's IPC namespace {ns:?} is not a number")];
    };
    let events: Vec<Value> = c
        .lines("out")
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|j| j.get("summary").is_none())
        .collect();
    let wrong = events.iter().filter(|e| e["ipc_ns"] != ns).count();
    if wrong == 0 {
        return Vec::new();
    }
    let first = events
        .iter()
        .find(|e| e["ipc_ns"] != ns)
        .map(|e| &e["ipc_ns"]);
    vec![format!(
        "{wrong} of {} events do not carry the guest's IPC namespace {ns} (first: {})",
        events.len(),
        first.unwrap_or(&Value::Null)
    )]
}

/// Where `ipctop trace` said it attached ("raw tracepoints …"), from its start message.
pub(super) fn attached_via(err: &[String]) -> Option<String> {
    let l = err.iter().find(|l| l.starts_with("ipctop: tracing"))?;
    let via = l.split_once(" via ")?.1;
    Some(via.split("; Ctrl-C").next().unwrap_or(via).to_string())
}

pub(super) fn judge_case(c: &Case) -> CaseVerdict {
    if c.name == "record" {
        return judge_record(c);
    }
    if c.name == "ns" {
        return super::ns_case::judge_ns(c);
    }
    let mut v = CaseVerdict::start(c, BASIC_CALLS.len());
    let compat = c.name.starts_with("compat32");
    if compat {
        v.expected = COMPAT_CALLS;
    }
    let err = c.lines("err");
    let trace_code = c.exit_field("trace");
    if c.lines("exit").is_empty() {
        v.probe = "no result (the guest stopped in this case)".into();
        return v;
    }
    if compat && c.exit_field("ia32") == Some("no") {
        // Not ipctop's failure: the kernel runs no 32-bit program.
        v.outcome = Outcome::Pass;
        v.probe = format!(
            "not run: this kernel has no ia32 emulation ({})",
            c.lines("wlerr").join(" / ")
        );
        return v;
    }
    if trace_code == Some("3") {
        // ipctop's own sentence for why the probe cannot run here, then the loader's log tail.
        v.outcome = Outcome::SnapshotOnly;
        let why = err.first().map_or("", |s| s.as_str());
        v.probe = format!("probe not loaded: {}", why.trim_start_matches("ipctop: "));
        let log = c.lines("verifier");
        if let Some(last) = log.iter().rev().find(|l| !l.trim().is_empty()) {
            v.probe
                .push_str(&format!(" [-v log ends: {}]", last.trim()));
        }
        return v;
    }
    let Some(via) = attached_via(err) else {
        v.probe = format!(
            "probe did not start (exit {}): {}",
            trace_code.unwrap_or("?"),
            err.join(" / ")
        );
        return v;
    };
    v.probe = format!("loaded via {via}");
    if trace_code != Some("0") {
        v.problems
            .push(format!("ipctop trace exited {}", trace_code.unwrap_or("?")));
    }
    if c.exit_field("workload") != Some("0") {
        v.problems.push(format!(
            "workload exited {}: {}",
            c.exit_field("workload").unwrap_or("?"),
            c.lines("wlerr").join(" / ")
        ));
    }
    let mut events = Vec::new();
    let mut summary = Value::Null;
    for l in c.lines("out") {
        match serde_json::from_str::<Value>(l) {
            Ok(j) => match j.get("summary") {
                Some(s) => summary = s.clone(),
                None => events.push(j),
            },
            Err(e) => v.problems.push(format!("bad JSON line ({e}): {l}")),
        }
    }
    v.seen = events.len();
    let wl = c
        .lines("wl")
        .iter()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .unwrap_or(Value::Null);
    if compat {
        let lines: Vec<Value> = c
            .lines("wl")
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        v.problems.extend(check_compat(&lines, &events));
    } else if wl.is_null() {
        v.problems.push("the workload printed no result".into());
    } else {
        v.problems.extend(check_basic(&wl, &events, &summary));
    }
    if v.problems.is_empty() {
        v.outcome = Outcome::Pass;
    }
    v
}

/// Calls the record case makes at the least (basic 18, eexist 3, the orphan's creator 1, the
/// deadlock's sets, values, holds and waits 10; the deadlock's ncnt polling adds more).
pub const RECORD_MIN_CALLS: usize = 32;

/// The record case: `ipctop record -- <known findings>` then `ipctop report`.
pub(super) fn judge_record(c: &Case) -> CaseVerdict {
    let mut v = CaseVerdict::start(c, RECORD_MIN_CALLS);
    if c.lines("exit").is_empty() {
        v.probe = "no result (the guest stopped in this case)".into();
        return v;
    }
    let json = |stream: &str| -> Value {
        serde_json::from_str(&c.lines(stream).join("\n")).unwrap_or(Value::Null)
    };
    let report = json("report");
    let probe = report["recording"]["probe"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if let Some(why) = probe.strip_prefix("snapshots only: ") {
        v.outcome = Outcome::SnapshotOnly;
        v.probe = format!("probe not loaded: {why}");
        return v;
    }
    v.probe = match probe.strip_prefix("attached: ") {
        Some(via) => format!("recorded via {via}"),
        None => format!(
            "no report (record exit {}, report exit {}): {}",
            c.exit_field("record").unwrap_or("?"),
            c.exit_field("report").unwrap_or("?"),
            c.lines("err")
                .iter()
                .chain(c.lines("rerr"))
                .cloned()
                .collect::<Vec<_>>()
                .join(" / ")
        ),
    };
    if report.is_null() {
        return v;
    }
    let mut p = Vec::new();
    for (k, want) in [
        ("record", "0"),
        ("report", "0"),
        ("gate", "1"),
        ("clean", "0"),
    ] {
        if c.exit_field(k) != Some(want) {
            p.push(format!(
                "{k} exited {}, expected {want}",
                c.exit_field(k).unwrap_or("?")
            ));
        }
    }
    v.seen = report["calls"]["calls"].as_u64().unwrap_or(0) as usize;
    if v.seen < RECORD_MIN_CALLS {
        p.push(format!(
            "{} calls counted, expected at least {RECORD_MIN_CALLS}",
            v.seen
        ));
    }
    if report["calls"]["dropped"] != 0 {
        p.push(format!("dropped {}", report["calls"]["dropped"]));
    }
    let dl = json("dl");
    let want: std::collections::BTreeSet<u64> = dl["pids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let found = report["along_the_way"]["deadlocks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let hit = found.iter().any(|d| {
        d["pids"].as_array().is_some_and(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .collect::<std::collections::BTreeSet<_>>()
                == want
        })
    });
    if want.is_empty() || !hit {
        p.push(format!(
            "deadlock of pids {want:?} not reported ({} found)",
            found.len()
        ));
    }
    let orphan = json("orphan");
    let leaks = report["leaks"].as_array().cloned().unwrap_or_default();
    if !leaks
        .iter()
        .any(|l| l["kind"] == "shm" && l["id"] == orphan["shmid"])
    {
        p.push(format!("leaked segment {} not reported", orphan["shmid"]));
    }
    let errors = report["errors"].as_array().cloned().unwrap_or_default();
    for (sys, errno) in [("shmget", "EEXIST"), ("semctl", "EINVAL")] {
        if !errors
            .iter()
            .any(|e| e["syscall"] == sys && e["errno"] == errno)
        {
            p.push(format!("{sys} {errno} not reported"));
        }
    }
    v.problems = p;
    if v.problems.is_empty() {
        v.outcome = Outcome::Pass;
    }
    v
}
