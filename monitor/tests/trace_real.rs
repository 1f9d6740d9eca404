//! `ipctop trace` against what really happens (root: loads the probe): calls already blocked
//! when it starts are listed first, as strace does on attaching; with traffic going on past
//! `--duration`, its summary reconciles with the kernel's count.
mod support;

use serde_json::Value;
use support::*;

#[test]
fn trace_lists_calls_in_progress_at_start_and_its_summary_reconciles() {
    if !can_trace("trace_in_progress") {
        return;
    }
    let name = unique_name("trc");
    // In its own IPC namespace: a semop blocked before the trace starts, and a paced loop
    // running on past its end.
    let out = in_own_ipc_ns(&format!(
        "W=\"$W --name {name}\"; $W block >/dev/null & B=$!; \
         $W paced-loop --rate 5000 --secs 4 >/dev/null & L=$!; sleep 0.5; \
         $I trace --comm {name} --json --duration 1.5; \
         kill $B; wait $L; wait"
    ));
    let lines = json_lines(&out);
    // First: the blocked semop, in progress, its start unknown (begun before the probe).
    let first = &lines[0];
    assert_eq!(first["in_progress"], true, "{first}");
    assert_eq!(first["syscall"], "semtimedop", "{first}");
    assert_eq!(first["ret"], Value::Null);
    let s = &lines.last().unwrap()["summary"];
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    assert!(n("in_progress_at_start") >= 1, "{s}");
    let finished = lines
        .iter()
        .filter(|l| l.get("syscall").is_some() && l["in_progress"] != true)
        .count() as u64;
    assert_eq!(finished, n("total"), "{s}");
    assert_eq!(n("unaccounted"), 0, "{s}");
    assert_eq!(
        n("total") + n("dropped") + n("aggregated") + n("after_end"),
        n("kernel_calls"),
        "{s}"
    );
    // The loop went on after the end, but the probe is detached before the count is taken:
    // the kernel's count stops where the printed lines stop, nothing is left unexplained.
    assert_eq!(n("after_end"), 0, "{s}");
    assert_eq!(n("dropped"), 0, "{s}");
}
