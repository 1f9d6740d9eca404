//! The guest's `ns` case (assets-vm/ns_case.sh, spliced into /init): an IPC namespace that is
//! not the guest's, traced with `--ipc-ns` and read by `snapshot` from inside (setns).
use serde_json::Value;

use super::results::{attached_via, Case, CaseVerdict, Outcome};

/// The guest's shell function, put in /init in place of its `. /ns_case.sh` line.
pub const NS_CASE_SH: &str = include_str!("../../assets-vm/ns_case.sh");

/// /init with the ns case's function in it.
pub fn splice(init: &str) -> String {
    init.replace(". /ns_case.sh", NS_CASE_SH)
}

/// The burst run inside the other namespace (ns_case.sh).
const BURST: usize = 500;

/// Every traced event carries the other namespace's inode and its burst is counted exactly;
/// the snapshot lists set 0 of both namespaces, each with its own.
pub fn judge_ns(c: &Case) -> CaseVerdict {
    let mut v = CaseVerdict::start(c, BURST);
    if c.lines("exit").is_empty() {
        v.probe = "no result (the guest stopped in this case)".into();
        return v;
    }
    if c.exit_field("trace") == Some("3") {
        v.outcome = Outcome::SnapshotOnly;
        v.probe = "probe not loaded".into();
        return v;
    }
    v.probe = attached_via(c.lines("err")).map_or_else(
        || format!("probe did not start: {}", c.lines("err").join(" / ")),
        |via| format!("loaded via {via}"),
    );
    let Some(ns) = c
        .lines("ns")
        .first()
        .and_then(|l| l.trim().parse::<u64>().ok())
    else {
        v.problems.push("no namespace inode".into());
        return v;
    };
    for (k, want) in [("trace", "0"), ("workload", "0"), ("snapshot", "0")] {
        if c.exit_field(k) != Some(want) {
            v.problems
                .push(format!("{k} exited {}", c.exit_field(k).unwrap_or("?")));
        }
    }
    let events: Vec<Value> = c
        .lines("out")
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|j| j.get("summary").is_none())
        .collect();
    let wrong = events.iter().filter(|e| e["ipc_ns"] != ns).count();
    if wrong > 0 {
        v.problems
            .push(format!("{wrong} events not of namespace {ns} (--ipc-ns)"));
    }
    v.seen = events
        .iter()
        .filter(|e| e["syscall"] == "semtimedop" && e["args"]["semid"] == 0 && e["ret"] == 0)
        .count();
    if v.seen != BURST {
        v.problems
            .push(format!("{} semops on set 0 traced, {BURST} made", v.seen));
    }
    let snap: Value = serde_json::from_str(&c.lines("snap").join("\n")).unwrap_or(Value::Null);
    // Set 0 of the other namespace, and the guest's own sets (its burst's: not id 0 there,
    // as the earlier cases made and removed sets).
    let sets = snap["semaphore_sets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ns_of_sets: std::collections::BTreeSet<u64> =
        sets.iter().filter_map(|s| s["ipc_ns"].as_u64()).collect();
    if !sets.iter().any(|s| s["semid"] == 0 && s["ipc_ns"] == ns) || ns_of_sets.len() < 2 {
        v.problems.push(format!(
            "snapshot: sets listed in namespaces {ns_of_sets:?}, want set 0 of {ns} and the \
             guest's"
        ));
    }
    if v.problems.is_empty() && v.probe.starts_with("loaded") {
        v.outcome = Outcome::Pass;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::super::results::parse;
    use super::*;

    /// A guest's ns case: `n` semops on set 0 of namespace 7, a snapshot with set 0 of the
    /// namespaces `sets0`.
    fn capture(n: usize, other_ns_event: bool, sets0: &[u64]) -> String {
        let mut s = String::from(
            "@@vm ns begin attach=auto\n@@vm ns ns 7\n\
             @@vm ns err ipctop: tracing via raw tracepoints; Ctrl-C ends\n",
        );
        for _ in 0..n {
            s.push_str(
                "@@vm ns out {\"syscall\":\"semtimedop\",\"args\":{\"semid\":0},\"ret\":0,\"ipc_ns\":7}\n",
            );
        }
        if other_ns_event {
            s.push_str("@@vm ns out {\"syscall\":\"semget\",\"ret\":0,\"ipc_ns\":8}\n");
        }
        let sets: Vec<String> = sets0
            .iter()
            .map(|ns| {
                format!(
                    "{{\"semid\":{},\"ipc_ns\":{ns}}}",
                    if *ns == 7 { 0 } else { 65536 }
                )
            })
            .collect();
        s.push_str(&format!(
            "@@vm ns snap {{\"semaphore_sets\":[{}]}}\n",
            sets.join(",")
        ));
        s.push_str("@@vm ns exit trace=0 workload=0 started=0 snapshot=0 seconds=3\n");
        s
    }

    #[test]
    fn the_ns_case_is_judged() {
        let judge = |t: &str| judge_ns(&parse(t).cases[0]);
        let ok = judge(&capture(BURST, false, &[4026531839, 7]));
        assert_eq!(ok.outcome, Outcome::Pass, "{ok:?}");
        assert_eq!(ok.seen, BURST);
        assert_eq!(
            judge(&capture(BURST - 1, false, &[4026531839, 7])).outcome,
            Outcome::Fail
        );
        assert_eq!(
            judge(&capture(BURST, true, &[4026531839, 7])).outcome,
            Outcome::Fail
        );
        assert_eq!(judge(&capture(BURST, false, &[7])).outcome, Outcome::Fail);
        assert!(splice(". /ns_case.sh\nns_case\n").contains("ns_case() {"));
    }
}
