//! `report` on the demo recording (assets/demo.ipctop.zst): its text and JSON as insta
//! snapshots, and what the report must say of it. No root needed.
use ipctop::report::{self, ScopeMode};

fn build(mode: ScopeMode) -> report::Report {
    report::build(
        ipctop::cmd::replay::demo().expect("the demo recording reads"),
        &Default::default(),
        mode,
    )
}

#[test]
fn the_demo_report_text() {
    insta::assert_snapshot!("demo_text", build(ScopeMode::Command).text());
}

#[test]
fn the_demo_report_json() {
    let r = build(ScopeMode::Command);
    insta::assert_snapshot!("demo_json", serde_json::to_string_pretty(&r).unwrap());
}

#[test]
fn the_demo_report_judged_whole() {
    insta::assert_snapshot!("demo_text_all", build(ScopeMode::All).text());
}

#[test]
fn the_demo_accounts_agree_with_the_kernel_and_each_other() {
    let r = build(ScopeMode::Command);
    // The kernel's counters: every call, once.
    assert_eq!(
        r.calls.total.calls,
        r.calls.total.by_syscall.values().sum::<u64>()
    );
    // Per process and per object, the same account: the processes' calls are the total's
    // (every call is some process's), and the objects' are a part of it.
    let procs: u64 = r.processes.iter().map(|p| p.account.calls).sum();
    assert_eq!(procs, r.calls.total.calls);
    let objs: u64 = r.objects.iter().map(|o| o.account.calls).sum();
    assert!(objs <= procs && objs > 60_000, "{objs} of {procs}");
    // The three bursts of 20000 semops, each on its own set by its own process.
    let bursts: Vec<_> = r
        .objects
        .iter()
        .filter(|o| o.kind == "sem" && o.account.calls >= 20_000)
        .collect();
    assert_eq!(bursts.len(), 3, "{bursts:?}");
    for b in bursts {
        assert_eq!(b.users.len(), 1);
    }
    // Failures by errno sum to the failures (none dropped).
    let errnos: u64 = r.calls.total.errnos.iter().map(|e| e.count).sum();
    assert_eq!(errnos, r.calls.total.errors);
    assert_eq!(r.calls.dropped, 0);
}

#[test]
fn the_demo_longest_wait_and_its_leaks() {
    let r = build(ScopeMode::Command);
    // sem-blocked held its waiter 9 s; the call finished: not still waiting.
    let w = r.longest_wait.as_ref().unwrap();
    assert!((w.seconds - 9.0).abs() < 0.1, "{w:?}");
    assert!(!w.still_waiting, "{w:?}");
    assert!(r.still_waiting.is_empty(), "{:?}", r.still_waiting);
    assert_eq!(r.failures(&["wait>8".parse().unwrap()]).len(), 1);
    assert!(r.failures(&["wait>10".parse().unwrap()]).is_empty());
    // What the command left: the orphaned segment and the queue with 5 messages, named with
    // the call that made them.
    let left: Vec<_> = r.leaks.iter().map(|l| (l.kind, l.id)).collect();
    assert_eq!(left.len(), 2, "{:?}", r.leaks);
    assert!(r
        .leaks
        .iter()
        .all(|l| l.reason.contains("created by the command")));
    assert!(r.leaks.iter().any(|l| l.reason.contains("msgget(")));
    // Everything the demo did is the command's: no context.
    assert!(r.context.leaks.is_empty() && r.context.errors.is_empty());
}
