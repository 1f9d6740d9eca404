//! Verdicts read off each surface's output (pure: documents and screens in, [`Frame`]s out).
//! Both forms of the documents are read: a `findings` array whose entries have a finding
//! `kind` (deadlock, stuck, stalled, leak, long_wait), and the older `leaks` / `deadlocks`
//! arrays (and `stuck` / `stalled` ones, if a document has them).
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Kind, LONG_WAIT_S};

/// What one look at one surface showed.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    pub hits: BTreeMap<Kind, Hit>,
    /// "Held by" and "raised by" as shown for the waits.
    pub claims: Vec<Claim>,
    /// Kinds this surface could not say (an unknown `--fail-on` condition, a metric family
    /// the exporter does not have).
    pub unsupported: BTreeSet<Kind>,
}

/// A finding of one kind: the numbers it names (pids, tids, ids), its length in seconds
/// when it is a wait, and its text.
#[derive(Clone, Debug, Default)]
pub struct Hit {
    pub named: BTreeSet<i64>,
    pub seconds: Option<f64>,
    pub text: Vec<String>,
}

/// Who a surface says a waiter waits for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Claim {
    pub pid: i64,
    pub tid: i64,
    /// "Held by" these.
    pub held_by: Vec<i64>,
    /// "Raised by" (posters) these.
    pub posters: Vec<i64>,
    /// Said to be a guess.
    pub guess: bool,
    pub text: String,
}

impl Frame {
    fn add(&mut self, k: Kind, named: BTreeSet<i64>, seconds: Option<f64>, text: String) {
        if k == Kind::LongWait && seconds.is_some_and(|s| s < LONG_WAIT_S) {
            return;
        }
        let h = self.hits.entry(k).or_default();
        h.named.extend(named);
        h.seconds = match (h.seconds, seconds) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        h.text.push(text);
    }

    pub fn fired(&self, k: Kind) -> bool {
        self.hits.contains_key(&k)
    }
}

/// Whose findings count: those of namespace `ns` (when a finding says its namespace), else
/// those naming one of `pids`; everything when both are empty.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub ns: Option<u64>,
    pub pids: BTreeSet<i64>,
}

impl Scope {
    fn admits(&self, v: &Value) -> bool {
        match (
            self.ns,
            v.get("ipc_ns").and_then(Value::as_u64).filter(|&n| n != 0),
        ) {
            (Some(ns), Some(x)) => x == ns,
            _ => self.pids.is_empty() || !numbers(v).is_disjoint(&self.pids),
        }
    }
}

/// Keys whose numbers are processes or threads.
const WHO: &[&str] = &[
    "pid",
    "pids",
    "tid",
    "tids",
    "threads",
    "held_by",
    "holders",
    "waiters",
    "posters",
    "raised_by",
    "waiter",
    "holder",
];

/// Every pid/tid a document names (under [`WHO`] keys, at any depth).
pub fn numbers(v: &Value) -> BTreeSet<i64> {
    let mut out = BTreeSet::new();
    fn walk(v: &Value, take: bool, out: &mut BTreeSet<i64>) {
        match v {
            Value::Number(n) if take => out.extend(n.as_i64()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, take, out)),
            Value::Object(o) => o
                .iter()
                .for_each(|(k, x)| walk(x, WHO.contains(&k.as_str()), out)),
            _ => {}
        }
    }
    walk(v, false, &mut out);
    out
}

fn seconds_of(v: &Value) -> Option<f64> {
    ["waited_s", "seconds", "waited", "since_s"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_f64))
}

fn text_of(v: &Value) -> String {
    v.get("reason")
        .and_then(Value::as_str)
        .map_or_else(|| v.to_string(), str::to_string)
}

/// A finding `v` of kind `k`, if in scope.
fn finding(f: &mut Frame, scope: &Scope, k: Kind, v: &Value) {
    if !scope.admits(v) {
        return;
    }
    let mut named = numbers(v);
    named.extend(v.get("id").and_then(Value::as_i64));
    f.add(k, named, seconds_of(v), text_of(v));
}

/// The findings of a document (or of its `along_the_way`): `findings` by their kind, and the
/// arrays named after a kind.
fn findings(f: &mut Frame, scope: &Scope, doc: &Value) {
    for v in doc["findings"].as_array().into_iter().flatten() {
        if let Some(k) = v["kind"].as_str().and_then(Kind::from_name) {
            finding(f, scope, k, v);
        }
    }
    for (key, k) in [
        ("leaks", Kind::Leak),
        ("deadlocks", Kind::Deadlock),
        ("stuck", Kind::Stuck),
        ("stalled", Kind::Stalled),
        ("long_waits", Kind::LongWait),
    ] {
        for v in doc[key].as_array().into_iter().flatten() {
            match v {
                Value::String(s) => long_wait_line(f, scope, s),
                v => finding(f, scope, k, v),
            }
        }
    }
}

/// A long wait said in words: "pid 12 (tid 13) has been blocked … for [at least ]20.5 s".
fn long_wait_line(f: &mut Frame, scope: &Scope, s: &str) {
    let num_after = |w: &str| -> Option<i64> {
        let i = s.find(w)? + w.len();
        s[i..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let named: BTreeSet<i64> = [num_after("pid "), num_after("tid ")]
        .into_iter()
        .flatten()
        .collect();
    if !scope.pids.is_empty() && named.is_disjoint(&scope.pids) {
        return;
    }
    let secs = s
        .rsplit(" for ")
        .next()
        .map(|t| t.trim_start_matches("at least ").trim_end_matches(" s"))
        .and_then(|t| t.parse().ok());
    f.add(Kind::LongWait, named, secs, s.to_string());
}

/// A wait of `snapshot --json` (`waits[]`) as a claim: `holders` are "held by"; keys
/// naming posters ("posters", "raised_by", …) are "raised by".
fn claim_of_wait(w: &Value) -> Claim {
    let ints = |v: &Value| -> Vec<i64> {
        match v {
            Value::Array(a) => a.iter().filter_map(Value::as_i64).collect(),
            Value::Number(n) => n.as_i64().into_iter().collect(),
            _ => Vec::new(),
        }
    };
    let mut c = Claim {
        pid: w["pid"].as_i64().unwrap_or(0),
        tid: w["tid"].as_i64().unwrap_or(0),
        text: w.to_string(),
        ..Default::default()
    };
    for (k, v) in w.as_object().into_iter().flatten() {
        if k == "holders" || k == "held_by" {
            c.held_by.extend(ints(v));
        } else if k.contains("poster") || k.contains("raised") {
            c.posters.extend(ints(v));
        } else if k.contains("source") || k.contains("how") {
            c.guess |= v.to_string().contains("guess");
        }
    }
    c
}

/// `ipctop snapshot --json`.
pub fn snapshot(doc: &Value, scope: &Scope) -> Frame {
    let mut f = Frame::default();
    findings(&mut f, scope, doc);
    f.claims = doc["waits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| scope.admits(w) && w.get("semid").is_some())
        .map(claim_of_wait)
        .collect();
    f
}

/// `ipctop report --json`: what it says at the end, and what it says at all (along the way
/// too). `judged` admits what its judged arrays say (a `record -- CMD` report judges its
/// command: everything there counts); `along` admits what it saw along the way and its
/// longest wait (which are of the whole machine).
pub fn report(doc: &Value, judged: &Scope, along: &Scope) -> (Frame, Frame) {
    let mut end = Frame::default();
    findings(&mut end, judged, doc);
    let by_pid = |sc: &Scope, v: &Value| sc.pids.is_empty() || !numbers(v).is_disjoint(&sc.pids);
    for w in doc["still_waiting"].as_array().into_iter().flatten() {
        if by_pid(judged, w) {
            end.add(Kind::LongWait, numbers(w), seconds_of(w), w.to_string());
        }
    }
    for e in doc["errors"].as_array().into_iter().flatten() {
        if by_pid(judged, e) {
            end.add(Kind::Error, numbers(e), None, e.to_string());
        }
    }
    let mut ever = end.clone();
    findings(&mut ever, along, &doc["along_the_way"]);
    let l = &doc["longest_wait"];
    if l.is_object() && by_pid(along, l) {
        ever.add(Kind::LongWait, numbers(l), seconds_of(l), l.to_string());
    }
    (ever, end)
}

/// One sample of an exposition: name, labels, value.
pub type Sample = (String, BTreeMap<String, String>, f64);

/// The samples of a Prometheus text (0.0.4 or OpenMetrics) exposition.
pub fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value: f64 = value.trim().parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.to_string(), v.trim_matches('"').to_string()))
                })
                .collect();
            Some((name.to_string(), labels, value))
        })
        .collect()
}

/// The sum of `name`'s samples whose labels include all of `want`.
pub fn sum(s: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    s.iter()
        .filter(|(n, l, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

/// `ipctop serve`'s /metrics, for the namespace of `scope`.
pub fn serve(text: &str, scope: &Scope) -> Frame {
    let mut f = Frame::default();
    let s = samples(text);
    let ns = scope.ns.unwrap_or(0).to_string();
    let here = [("ipc_ns", ns.as_str())];
    let family =
        |name: &str| text.contains(&format!("# TYPE {name} ")) || s.iter().any(|x| x.0 == name);
    // A family the exporter has not (yet) got says nothing of its kind; a counter family
    // with no samples is only one that has counted nothing.
    let gauge = |f: &mut Frame, k: Kind, name: &str, at_least: f64| {
        if !family(name) && !name.ends_with("_total") {
            f.unsupported.insert(k);
            return;
        }
        let v = sum(&s, name, &here);
        if v >= at_least && v > 0.0 {
            let secs = (k == Kind::LongWait).then_some(v);
            f.add(
                k,
                BTreeSet::new(),
                secs,
                format!("{name}{{ipc_ns=\"{ns}\"}} {v}"),
            );
        }
    };
    gauge(&mut f, Kind::Deadlock, "ipctop_deadlocks", 1.0);
    gauge(&mut f, Kind::Stuck, "ipctop_stuck_threads", 1.0);
    gauge(&mut f, Kind::Stalled, "ipctop_stalled_threads", 1.0);
    gauge(&mut f, Kind::Leak, "ipctop_leaked_objects", 1.0);
    gauge(
        &mut f,
        Kind::LongWait,
        "ipctop_longest_wait_seconds",
        LONG_WAIT_S,
    );
    gauge(&mut f, Kind::Error, "ipctop_object_errors_total", 1.0);
    if let Some(h) = f.hits.get_mut(&Kind::Leak) {
        h.named.extend(
            s.iter()
                .filter(|(n, l, v)| {
                    n == "ipctop_object_leaked" && *v > 0.0 && l.get("ipc_ns") == Some(&ns)
                })
                .filter_map(|(_, l, _)| l.get("id")?.parse::<i64>().ok()),
        );
    }
    f
}

/// The text inside a box's borders.
fn inner(line: &str) -> &str {
    let t = line.trim_end();
    let t = t.strip_prefix(['│', '|']).unwrap_or(t);
    t.trim_end_matches(['│', '|']).trim_end()
}

/// The integers in a text.
fn ints(s: &str) -> BTreeSet<i64> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// A duration as the dashboard writes it ("20.1s", "≥1m05s", ">=2h03m").
pub fn dur(w: &str) -> Option<f64> {
    let w = w.trim_start_matches(['≥', '>', '=']);
    let two = |w: &str, a: char, b: char, ma: f64, mb: f64| -> Option<f64> {
        let (x, y) = w.strip_suffix(b)?.split_once(a)?;
        Some(x.parse::<f64>().ok()? * ma + y.parse::<f64>().ok()? * mb)
    };
    two(w, 'd', 'h', 86400.0, 3600.0)
        .or_else(|| two(w, 'h', 'm', 3600.0, 60.0))
        .or_else(|| two(w, 'm', 's', 60.0, 1.0))
        .or_else(|| w.strip_suffix('s')?.parse().ok())
}

/// The dashboard's Problems view (key 7): each item (a line indented by two, and the lines
/// under it indented more) by the word it starts with; "Deadlocks (N)" headings; failed calls
/// by errno whose last caller is in `scope`.
pub fn problems(screen: &str, scope: &Scope) -> Frame {
    let mut f = Frame::default();
    let lines: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.contains(" Problems ("))
        .skip(1)
        .map(inner)
        .collect();
    let mut items: Vec<(Option<Kind>, String)> = Vec::new();
    // Kinds a heading counts ("Deadlocks (2)", "Stuck (1)"), in case no item says them.
    let mut counted: Vec<(Kind, String)> = Vec::new();
    for l in lines {
        let indent = l.len() - l.trim_start().len();
        let word = l.trim_start().to_lowercase();
        if indent == 0 && !word.is_empty() {
            let count = |w: &str| word.starts_with(w) && ints(&word).into_iter().any(|n| n > 0);
            for (w, k) in [
                ("deadlock", Kind::Deadlock),
                ("stuck", Kind::Stuck),
                ("stalled", Kind::Stalled),
            ] {
                if count(w) {
                    counted.push((k, l.to_string()));
                }
            }
            items.push((None, String::new()));
        } else if indent == 2 {
            let k = [
                ("deadlock", Kind::Deadlock),
                ("stuck", Kind::Stuck),
                ("stalled", Kind::Stalled),
                ("leak", Kind::Leak),
                ("long wait", Kind::LongWait),
            ]
            .into_iter()
            .find(|(w, _)| word.starts_with(w))
            .map(|(_, k)| k)
            .or_else(|| {
                let e = l.trim_start();
                (e.starts_with('E') && e[1..].starts_with(|c: char| c.is_ascii_uppercase()))
                    .then_some(Kind::Error)
            });
            items.push((k, l.to_string()));
        } else if let Some(last) = items.last_mut() {
            last.1.push('\n');
            last.1.push_str(l);
        }
    }
    for (k, text) in items {
        let Some(k) = k else { continue };
        let first = text.lines().next().unwrap_or("");
        match k {
            Kind::Error => {
                let last = first
                    .split_once(" last ")
                    .and_then(|(_, r)| r.split_whitespace().next()?.parse::<i64>().ok());
                if scope.pids.is_empty() || last.is_some_and(|p| scope.pids.contains(&p)) {
                    f.add(k, last.into_iter().collect(), None, text);
                }
            }
            Kind::LongWait => {
                let secs = first.rsplit(" for ").next().and_then(|w| dur(w.trim()));
                f.add(k, ints(first), secs, text);
            }
            k => f.add(k, ints(&text), None, text),
        }
    }
    for (k, heading) in counted {
        if !f.fired(k) {
            f.add(k, BTreeSet::new(), None, heading);
        }
    }
    f
}

/// The dashboard's Overview (key 1): the waits table's "held by" column as claims.
pub fn overview(screen: &str) -> Vec<Claim> {
    let lines: Vec<&str> = screen.lines().map(inner).collect();
    let Some(h) = lines
        .iter()
        .position(|l| l.contains("PID") && l.contains("WAITED"))
    else {
        return Vec::new();
    };
    let head: Vec<char> = lines[h].chars().collect();
    let find = |w: &str| {
        let s: String = head.iter().collect();
        s.find(w).map(|b| s[..b].chars().count())
    };
    let has_tid = find(" TID").is_some();
    // The column after WAITED ("HELD BY / STATE").
    let Some(col) = find("HELD BY").or_else(|| {
        let w = find("WAITED")? + "WAITED".len();
        (w..head.len()).find(|&i| head[i] != ' ')
    }) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for l in &lines[h + 1..] {
        if l.contains('└') || l.contains('╰') || l.starts_with('+') {
            break;
        }
        let mut toks = l.split_whitespace();
        let Some(pid) = toks.next().and_then(|t| t.parse::<i64>().ok()) else {
            continue;
        };
        let tid = if has_tid {
            toks.next().and_then(|t| t.parse().ok()).unwrap_or(pid)
        } else {
            pid
        };
        let held: String = l.chars().skip(col).collect();
        let held = held.trim();
        let low = held.to_lowercase();
        let leading = |s: &str| -> Vec<i64> {
            s.split(',')
                .filter_map(|p| p.split_whitespace().next()?.parse().ok())
                .collect()
        };
        let mut c = Claim {
            pid,
            tid,
            guess: low.contains("last op") || low.contains("guess"),
            text: held.to_string(),
            ..Default::default()
        };
        match ["raised by", "posted by", "poster"]
            .iter()
            .find_map(|w| low.find(w).map(|i| i + w.len()))
        {
            Some(i) => {
                c.posters = leading(
                    held.get(i..)
                        .unwrap_or("")
                        .trim_start_matches(['s', ':', ' ']),
                )
            }
            None => c.held_by = leading(held),
        }
        out.push(c);
    }
    out
}
