//! The report over a whole recording: the same model and analysis as live, fed by the
//! recording, plus what only a recording can tell (counts over the session, failures with
//! their pids, the most contended semaphores, findings that came and went).
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::{
    analysis::{self, Finding, What},
    cmd::snapshot::{deadlocks_json, leaks_json},
    event::{errno_name, Event, Syscall},
    feed::{self, KernelSample, Update},
    model::Model,
    record::{Header, Reader},
};

/// A semop/semtimedop that took this long waited (as the probe's notable threshold).
const WAIT_NS: u64 = 1_000_000;

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub total: u64,
    pub dropped: u64,
    pub by_syscall: BTreeMap<&'static str, u64>,
    /// Where the counts come from: "kernel" (exact counters) or "events".
    pub source: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ErrorRow {
    pub syscall: &'static str,
    pub errno: String,
    pub count: u64,
    pub pids: BTreeSet<u32>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct WaitStat {
    /// semop calls on the set.
    pub calls: u64,
    /// Of those, calls that waited (≥ 1 ms).
    pub waits: u64,
    pub total_wait_s: f64,
    pub max_wait_s: f64,
}

#[derive(Debug, Serialize)]
pub struct WaitRow {
    pub semid: i32,
    #[serde(flatten)]
    pub all: WaitStat,
    /// Waits still going when the recording ended.
    pub still_waiting: Vec<u32>,
    pub per_process: Vec<ProcessWait>,
}

#[derive(Debug, Serialize)]
pub struct ProcessWait {
    pub pid: u32,
    pub comm: String,
    #[serde(flatten)]
    pub stat: WaitStat,
}

/// Findings seen at some point of the recording, once each.
#[derive(Debug, Default, Serialize)]
pub struct AlongTheWay {
    pub leaks: Vec<Value>,
    pub deadlocks: Vec<Value>,
    pub long_waits: Vec<Value>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub recording: Value,
    pub events: Counts,
    pub errors: Vec<ErrorRow>,
    pub waits_top: Vec<WaitRow>,
    /// As found at the end of the recording.
    pub leaks: Vec<Value>,
    pub deadlocks: Vec<Value>,
    pub along_the_way: AlongTheWay,
    /// The longest wait seen (finished, or still going at the end), seconds.
    pub max_wait_s: f64,
    /// Where and why reading stopped before the end, if it did.
    pub stopped_early: Option<String>,
}

#[derive(Default)]
struct Acc {
    by_syscall_events: [u64; crate::event::NSYS],
    errors: BTreeMap<(Syscall, i32), (u64, BTreeSet<u32>)>,
    /// (semid, pid) → from events.
    ev_waits: BTreeMap<(i32, u32), WaitStat>,
    comms: BTreeMap<u32, String>,
    last_kernel: Option<KernelSample>,
    /// The calls in progress at the last scan.
    inflight: Vec<Event>,
    last_t: u64,
    first_t: Option<u64>,
    seen_leaks: BTreeSet<(String, i32)>,
    seen_deadlocks: BTreeSet<Vec<u32>>,
    seen_long: BTreeSet<(u32, String, i32)>,
    along: AlongTheWay,
    max_wait_ns: u64,
}

fn is_semop(s: Syscall) -> bool {
    s == Syscall::SEMOP || s == Syscall::SEMTIMEDOP
}

impl Acc {
    fn event(&mut self, ev: &Event) {
        if ev.in_progress() {
            return;
        }
        self.comms
            .entry(ev.pid)
            .or_insert_with(|| ev.comm.to_string());
        self.by_syscall_events[ev.syscall.index()] += 1;
        if let Some(e) = ev.errno() {
            let row = self.errors.entry((ev.syscall, e)).or_default();
            row.0 += 1;
            row.1.insert(ev.pid);
        }
        if let (true, Some(id), Some(d)) = (
            is_semop(ev.syscall),
            ev.args.and_then(|a| a.id()),
            ev.duration_ns(),
        ) {
            let w = self.ev_waits.entry((id, ev.pid)).or_default();
            add(w, 1, u64::from(d >= WAIT_NS), d, d);
        }
        if let Some(d) = ev.duration_ns() {
            if ev.syscall == Syscall::MSGRCV
                || ev.syscall == Syscall::MSGSND
                || is_semop(ev.syscall)
            {
                self.max_wait_ns = self.max_wait_ns.max(d);
            }
        }
    }

    fn findings(&mut self, findings: &[Finding]) {
        for f in findings {
            match &f.what {
                What::Leak { ipc, id } => {
                    let k = (format!("{ipc:?}"), *id);
                    if self.seen_leaks.insert(k) {
                        self.along.leaks.extend(leaks_json(std::slice::from_ref(f)));
                    }
                }
                What::Deadlock { pids, .. } => {
                    let mut k = pids.clone();
                    k.sort_unstable();
                    if self.seen_deadlocks.insert(k) {
                        self.along
                            .deadlocks
                            .extend(deadlocks_json(std::slice::from_ref(f)));
                    }
                }
                What::LongWait { pid, ipc, id, .. }
                    if self.seen_long.insert((*pid, format!("{ipc:?}"), *id)) =>
                {
                    self.along
                        .long_waits
                        .push(serde_json::json!({"what": f.what, "reason": f.reason}));
                }
                _ => {}
            }
        }
    }
}

fn add(w: &mut WaitStat, calls: u64, waits: u64, total_ns: u64, max_ns: u64) {
    w.calls += calls;
    w.waits += waits;
    w.total_wait_s += total_ns as f64 / 1e9;
    w.max_wait_s = w.max_wait_s.max(max_ns as f64 / 1e9);
}

impl WaitStat {
    /// Adds another's counts (a process's into its set's).
    fn merge(&mut self, o: &WaitStat) {
        self.calls += o.calls;
        self.waits += o.waits;
        self.total_wait_s += o.total_wait_s;
        self.max_wait_s = self.max_wait_s.max(o.max_wait_s);
    }
}

/// Reads the whole recording and reports on it.
pub fn build(mut reader: Reader, cfg: &analysis::Config) -> Report {
    let header: Header = reader.header.clone();
    let mut model = Model::new();
    let mut acc = Acc::default();
    while let Some(s) = reader.next_update() {
        acc.first_t.get_or_insert(s.mono_ns);
        acc.last_t = acc.last_t.max(s.mono_ns);
        feed::apply(&mut model, &s);
        match &s.update {
            Update::Events(evs) => evs.iter().for_each(|e| acc.event(e)),
            Update::InFlight(evs) => acc.inflight = evs.clone(),
            Update::Snapshot(_) => {
                let f = analysis::analyze(&model, cfg);
                acc.findings(&f);
            }
            Update::Kernel(k) => acc.last_kernel = Some((**k).clone()),
            Update::Reset => {}
        }
    }
    let final_findings = analysis::analyze(&model, cfg);
    acc.findings(&final_findings);

    // Counts: the kernel's exact counters when the probe ran, else the events seen.
    let events = match &acc.last_kernel {
        Some(k) => Counts {
            total: k.stats.total_calls(),
            dropped: k.stats.dropped + k.undecodable,
            by_syscall: Syscall::all()
                .filter(|s| k.stats.calls[s.index()] > 0)
                .map(|s| (s.name(), k.stats.calls[s.index()]))
                .collect(),
            source: "kernel",
        },
        None => Counts {
            total: acc.by_syscall_events.iter().sum(),
            dropped: 0,
            by_syscall: Syscall::all()
                .filter(|s| acc.by_syscall_events[s.index()] > 0)
                .map(|s| (s.name(), acc.by_syscall_events[s.index()]))
                .collect(),
            source: "events",
        },
    };
    let errors = acc
        .errors
        .iter()
        .map(|((sys, e), (count, pids))| ErrorRow {
            syscall: sys.name(),
            errno: errno_name(*e).into_owned(),
            count: *count,
            pids: pids.clone(),
        })
        .collect();

    // Waits per (semid, pid): the kernel's aggregates where it kept them, else the events.
    let mut per: BTreeMap<(i32, u32), WaitStat> = acc.ev_waits.clone();
    if let Some(k) = &acc.last_kernel {
        for a in k.aggregates.iter().filter(|a| is_semop(a.syscall)) {
            let Some(id) = a.id else { continue };
            // Buckets ≥ 10 are waits of ≥ 2^10 µs ≈ 1 ms.
            let waits: u64 = a.hist[10..].iter().sum();
            let mut w = WaitStat::default();
            add(&mut w, a.calls, waits, a.total_ns, a.max_ns);
            per.insert((id, a.pid), w);
            acc.max_wait_ns = acc.max_wait_ns.max(a.max_ns);
        }
    }
    let end_t = acc.last_t;
    let mut still: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
    for ev in &acc.inflight {
        if let (true, Some(id), Some(start)) = (
            is_semop(ev.syscall),
            ev.args.and_then(|a| a.id()),
            ev.start_ns,
        ) {
            still.entry(id).or_default().push(ev.pid);
            acc.max_wait_ns = acc.max_wait_ns.max(end_t.saturating_sub(start));
        }
    }
    let mut sets: BTreeMap<i32, WaitRow> = BTreeMap::new();
    for ((semid, pid), w) in &per {
        let row = sets.entry(*semid).or_insert_with(|| WaitRow {
            semid: *semid,
            all: WaitStat::default(),
            still_waiting: still.get(semid).cloned().unwrap_or_default(),
            per_process: Vec::new(),
        });
        row.all.merge(w);
        row.per_process.push(ProcessWait {
            pid: *pid,
            comm: acc.comms.get(pid).cloned().unwrap_or_default(),
            stat: w.clone(),
        });
    }
    for (semid, pids) in &still {
        sets.entry(*semid).or_insert_with(|| WaitRow {
            semid: *semid,
            all: WaitStat::default(),
            still_waiting: pids.clone(),
            per_process: Vec::new(),
        });
    }
    let mut waits_top: Vec<WaitRow> = sets
        .into_values()
        .filter(|r| r.all.waits > 0 || !r.still_waiting.is_empty())
        .collect();
    waits_top.sort_by(|a, b| {
        (b.still_waiting.len(), b.all.total_wait_s)
            .partial_cmp(&(a.still_waiting.len(), a.all.total_wait_s))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    waits_top.truncate(10);
    for r in &mut waits_top {
        r.per_process
            .sort_by(|a, b| b.stat.total_wait_s.total_cmp(&a.stat.total_wait_s));
    }

    let duration_s = acc
        .first_t
        .map_or(0.0, |f| end_t.saturating_sub(f) as f64 / 1e9);
    Report {
        schema_version: 1,
        recording: serde_json::json!({
            "ipctop_version": header.ipctop_version,
            "kernel": header.kernel,
            "host": header.host,
            "started_unix_ns": header.started_unix_ns,
            "duration_s": duration_s,
            "probe": header.probe,
            "every_call": header.every_call,
            "command": header.command,
            "end": reader.end(),
        }),
        events,
        errors,
        waits_top,
        leaks: leaks_json(&final_findings),
        deadlocks: deadlocks_json(&final_findings),
        along_the_way: acc.along,
        max_wait_s: acc.max_wait_ns as f64 / 1e9,
        stopped_early: reader.damage().map(str::to_string),
    }
}

/// A `--fail-on` condition.
#[derive(Clone, Debug, PartialEq)]
pub enum FailOn {
    Leak,
    Deadlock,
    Error,
    Drops,
    /// A wait longer than this many seconds.
    Wait(f64),
}

impl std::str::FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "leak" | "leaks" => Ok(FailOn::Leak),
            "deadlock" | "deadlocks" => Ok(FailOn::Deadlock),
            "error" | "errors" => Ok(FailOn::Error),
            "drops" | "drop" => Ok(FailOn::Drops),
            w => match w.strip_prefix("wait>").map(str::parse::<f64>) {
                Some(Ok(secs)) if secs.is_finite() && secs >= 0.0 => Ok(FailOn::Wait(secs)),
                _ => Err(format!(
                    "unknown --fail-on condition {w:?} (leak, deadlock, error, drops, wait>SECS)"
                )),
            },
        }
    }
}

impl Report {
    /// The conditions met, each as one line for stderr.
    pub fn failures(&self, conds: &[FailOn]) -> Vec<String> {
        let mut out = Vec::new();
        for c in conds {
            match c {
                FailOn::Leak if !self.leaks.is_empty() => out.push(format!(
                    "leak: {} leaked object(s) at the end: {}",
                    self.leaks.len(),
                    self.leaks
                        .iter()
                        .map(|l| format!("{} {}", l["kind"].as_str().unwrap_or("?"), l["id"]))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                FailOn::Deadlock => {
                    let n = self.along_the_way.deadlocks.len();
                    if n > 0 {
                        out.push(format!(
                            "deadlock: {n} deadlock(s): {}",
                            self.along_the_way
                                .deadlocks
                                .iter()
                                .map(|d| format!("pids {}", d["pids"]))
                                .collect::<Vec<_>>()
                                .join("; ")
                        ));
                    }
                }
                FailOn::Error if !self.errors.is_empty() => out.push(format!(
                    "error: {} failed call(s): {}",
                    self.errors.iter().map(|e| e.count).sum::<u64>(),
                    self.errors
                        .iter()
                        .map(|e| format!(
                            "{} {} ×{} (pids {:?})",
                            e.syscall, e.errno, e.count, e.pids
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                FailOn::Drops if self.events.dropped > 0 => {
                    out.push(format!("drops: {} events were lost", self.events.dropped))
                }
                FailOn::Wait(secs) if self.max_wait_s > *secs => out.push(format!(
                    "wait>{secs}: the longest wait was {:.3} s",
                    self.max_wait_s
                )),
                _ => {}
            }
        }
        out
    }

    /// The report for people.
    pub fn text(&self) -> String {
        use std::fmt::Write;

        use crate::text::escape;
        let mut s = String::new();
        let r = &self.recording;
        let _ = writeln!(
            s,
            "Recording: {} s on {} (kernel {}), ipctop {}; probe {}",
            r["duration_s"]
                .as_f64()
                .map_or("?".into(), |d| format!("{d:.1}")),
            escape(r["host"].as_str().unwrap_or("?")),
            escape(r["kernel"].as_str().unwrap_or("?")),
            escape(r["ipctop_version"].as_str().unwrap_or("?")),
            escape(r["probe"].as_str().unwrap_or("?")),
        );
        if let Some(why) = &self.stopped_early {
            let _ = writeln!(s, "Read up to the damage: {}", escape(why));
        }
        let _ = writeln!(
            s,
            "\nCalls: {} ({}), dropped: {}",
            self.events.total, self.events.source, self.events.dropped
        );
        for (k, v) in &self.events.by_syscall {
            let _ = writeln!(s, "  {k:<12} {v:>12}");
        }
        let _ = writeln!(
            s,
            "\nFailed calls:{}",
            if self.errors.is_empty() { " none" } else { "" }
        );
        for e in &self.errors {
            let _ = writeln!(
                s,
                "  {:<12} {:<8} {:>8}  pids {:?}",
                e.syscall, e.errno, e.count, e.pids
            );
        }
        let _ = writeln!(
            s,
            "\nMost contended semaphore sets:{}",
            if self.waits_top.is_empty() {
                " none"
            } else {
                ""
            }
        );
        for w in &self.waits_top {
            let _ = writeln!(
                s,
                "  semid {:<8} {} waits of {} calls, total {:.3} s, max {:.3} s{}",
                w.semid,
                w.all.waits,
                w.all.calls,
                w.all.total_wait_s,
                w.all.max_wait_s,
                if w.still_waiting.is_empty() {
                    String::new()
                } else {
                    format!(", still waiting at the end: pids {:?}", w.still_waiting)
                }
            );
            for p in w.per_process.iter().take(5) {
                let _ = writeln!(
                    s,
                    "    pid {:<8} {:<16} {} waits, total {:.3} s, max {:.3} s",
                    p.pid,
                    escape(&p.comm),
                    p.stat.waits,
                    p.stat.total_wait_s,
                    p.stat.max_wait_s
                );
            }
        }
        let list = |s: &mut String, title: &str, v: &[Value]| {
            let _ = writeln!(s, "\n{title}:{}", if v.is_empty() { " none" } else { "" });
            for x in v {
                let _ = writeln!(s, "  {}", x["reason"].as_str().unwrap_or(""));
            }
        };
        list(&mut s, "Leaks at the end", &self.leaks);
        list(&mut s, "Deadlocks at the end", &self.deadlocks);
        list(
            &mut s,
            "Deadlocks along the way",
            &self.along_the_way.deadlocks,
        );
        list(&mut s, "Leaks along the way", &self.along_the_way.leaks);
        list(
            &mut s,
            "Long waits along the way",
            &self.along_the_way.long_waits,
        );
        s
    }
}
