//! Who is judged: `record -- CMD`'s command, not the machine; another ipctop's polling is no activity.
use super::*;

#[test]
fn record_cmd_judges_the_command_not_the_machine() {
    if !can_trace("report_scope") {
        return;
    }
    let d = tmpdir("scope");
    let (quiet, left) = (d.0.join("quiet.ipctop"), d.0.join("left.ipctop"));
    // Another process's leak (a segment whose creator is gone) before both recordings; then
    // a command that leaves nothing, and one that leaves an empty queue (ipcmk -Q). The
    // recordings read every namespace: the report looks at this one (--ipc-ns), where
    // nothing else runs.
    let ns = in_own_ipc_ns(&format!(
        "stat -L -c %i /proc/self/ns/ipc; \
         $W --hold-for 0 --leave orphan-shm >/dev/null; \
         $I record --interval 0.25 -o {} -- sh -c 'sleep 1' 2>/dev/null; \
         $I record --interval 0.25 -o {} -- ipcmk -Q >/dev/null 2>&1",
        quiet.display(),
        left.display()
    ));
    let ns = ns.trim();
    let (code, r, err) = report(&quiet, &["--fail-on", "leak", "--ipc-ns", ns]);
    assert_eq!(
        code,
        Some(0),
        "another process's leak is context: {err} {r}"
    );
    assert_eq!(r["leaks"], serde_json::json!([]), "{r}");
    assert_eq!(r["context"]["leaks"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["context"]["leaks"][0]["kind"], "shm");
    // Judged whole, it fails.
    let (code, _, err) = report(
        &quiet,
        &["--fail-on", "leak", "--scope", "all", "--ipc-ns", ns],
    );
    assert_eq!(code, Some(1), "{err}");

    let (code, r, err) = report(&left, &["--fail-on", "leak", "--ipc-ns", ns]);
    assert_eq!(code, Some(1), "the empty queue the command left: {err} {r}");
    assert!(err.contains("msq"), "{err}");
    let leaks = r["leaks"].as_array().unwrap();
    assert_eq!(leaks.len(), 1, "{r}");
    assert_eq!(leaks[0]["kind"], "msg");
    let why = leaks[0]["reason"].as_str().unwrap();
    assert!(why.contains("msgget(") && why.contains("ipcmk"), "{why}");
    assert!(why.contains("0 messages"), "{why}");
}

#[test]
fn another_ipctops_polling_is_no_activity_on_the_objects() {
    if !can_trace("report_observer") {
        return;
    }
    let d = tmpdir("observer");
    let rec = d.0.join("o.ipctop");
    // A blocked semop while another ipctop takes snapshots: semctl IPC_STAT/GETALL/GETNCNT…
    // on the set, every 0.2 s. The probe follows tasks named ipctop only (the recorder
    // itself is left out by the probe): a small recording of the observers' calls alone.
    let out = in_own_ipc_ns(&format!(
        "timeout 60 $I record --interval 0.5 --comm ipctop -o {} -- sh -c \
         \"$W --hold-for 3 sem-blocked & sleep 0.5; \
           for i in 1 2 3 4 5 6 7 8; do $I snapshot >/dev/null; sleep 0.2; done; wait\"",
        rec.display()
    ));
    let ready: Value = out
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no ready line in {out:?}"));
    let semid = &ready["semid"];
    let (_, r, err) = report(&rec, &[]);
    let observers: Vec<&Value> = r["processes"]
        .as_array()
        .unwrap_or_else(|| panic!("{err} {r}"))
        .iter()
        .filter(|p| p["observer"] == true)
        .collect();
    assert!(!observers.is_empty(), "the snapshots' calls were seen: {r}");
    assert!(
        observers
            .iter()
            .all(|p| p["comm"] == "ipctop" && p["calls"].as_u64().unwrap() > 0),
        "{observers:?}"
    );
    // They count in the totals (semctl)…
    assert!(
        r["calls"]["by_syscall"]["semctl"].as_u64().unwrap() > 0,
        "{r}"
    );
    // …but not on the set, nor as its users: no activity on any object.
    let objects = r["objects"].as_array().unwrap();
    assert!(
        objects.iter().all(|o| o["users"] == serde_json::json!([])),
        "sem {semid}: {objects:?}"
    );
    assert!(
        objects.iter().all(|o| o["calls"] == 0),
        "sem {semid}: {objects:?}"
    );
}
