//! What the 32-bit workload (legacy32.c) must look like through `ipctop trace --json`: shared
//! by monitor/tests/compat_real.rs and the xtask's vm-smoke 32-bit case.
use std::collections::BTreeMap;

use serde_json::Value;

/// The calls `legacy32 direct N` (`direct`) or `legacy32 ipc N` makes, per syscall.
pub fn expected(direct: bool, n: u64) -> BTreeMap<String, u64> {
    let mut m: BTreeMap<String, u64> = [
        ("semget", 1),
        ("semctl", 2),
        ("shmget", 1),
        ("shmat", 1),
        ("shmdt", 1),
        ("shmctl", 1),
        ("msgget", 1),
        ("msgsnd", n),
        ("msgrcv", n),
        ("msgctl", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if direct {
        // No direct semop on i386: semtimedop_time64 with a NULL timeout.
        m.insert("semtimedop".into(), 2 * n + 2);
    } else {
        m.insert("semop".into(), 2 * n + 1);
        m.insert("semtimedop".into(), 1);
    }
    m
}

/// The events of `pid`.
pub fn events_of(events: &[Value], pid: &Value) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["pid"] == *pid)
        .cloned()
        .collect()
}

/// Counts per syscall name.
pub fn by_syscall(evs: &[Value]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for e in evs {
        *m.entry(e["syscall"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += 1;
    }
    m
}

/// What is wrong with `events` given the workloads' own lines (`legacy32 direct N`, `legacy32
/// ipc N`, `legacy32 getppid M`, in that order): exact counts per syscall and pid, every event
/// a 32-bit one, shmat's address as the workload saw it, nothing from the getppid process and
/// nothing else.
pub fn check_compat(wl: &[Value], events: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let [direct, ipc, getppid] = wl else {
        return vec![format!("expected 3 workload lines, got {}", wl.len())];
    };
    let n = direct["n"].as_u64().unwrap_or(0);
    let mut total = 0;
    for (w, is_direct) in [(direct, true), (ipc, false)] {
        let evs = events_of(events, &w["pid"]);
        total += evs.len();
        let got = by_syscall(&evs);
        let want = expected(is_direct, n);
        if got != want {
            let how = if is_direct { "direct" } else { "ipc()" };
            problems.push(format!("{how} calls: {got:?}, expected {want:?}"));
        }
        let shmat = evs.iter().find(|e| e["syscall"] == "shmat");
        if let Some(s) = shmat.filter(|s| s["ret"] != w["shmaddr"]) {
            problems.push(format!(
                "shmat returned {}, the workload saw {}",
                s["ret"], w["shmaddr"]
            ));
        }
    }
    let bogus = events_of(events, &getppid["pid"]);
    if !bogus.is_empty() {
        problems.push(format!(
            "{} events from a process that only called getppid/getpid: {:?}",
            bogus.len(),
            by_syscall(&bogus)
        ));
    }
    if events.len() != total + bogus.len() {
        problems.push(format!(
            "{} events from other processes",
            events.len() - total - bogus.len()
        ));
    }
    let not32 = events.iter().filter(|e| e["compat"] != true).count();
    if not32 > 0 {
        problems.push(format!("{not32} events not marked \"compat\": true"));
    }
    problems
}
