//! The judge on real guests' captures, the kernel package choice, the cpio format.
use super::{initramfs::*, kernels::*, results::*};

/// Captured from real guests: 6.12 passing both cases; 6.1 refusing the raw tracepoint
/// program (EACCES) and passing with the per-syscall tracepoints.
const PASS_612: &str = include_str!("../../assets-vm/samples/6.12-pass.txt");
const RAW_REFUSED_61: &str = include_str!("../../assets-vm/samples/6.1-raw-refused.txt");
/// 6.1 passing all three cases, the third being `ipctop record -- …` + `ipctop report`.
const PASS_61_RECORD: &str = include_str!("../../assets-vm/samples/6.1-pass-with-record.txt");

/// The 32-bit cases of a real 6.1 guest (Debian's kernel, ia32 emulation on), both attach
/// modes: legacy32's direct and ipc() calls, then getppid/getpid calls.
const COMPAT32_61: &str = include_str!("../../assets-vm/samples/6.1-compat32.txt");

#[test]
fn the_32bit_cases_pass_exactly_and_fail_on_a_false_or_missing_call() {
    let v = judge(&parse(COMPAT32_61));
    assert_eq!(v.outcome, Outcome::Pass, "{v}");
    for name in ["compat32-raw", "compat32-tracepoint"] {
        let c = case(&v, name);
        assert_eq!(c.outcome, Outcome::Pass, "{v}");
        assert_eq!((c.seen, c.expected), (COMPAT_CALLS, COMPAT_CALLS), "{v}");
    }
    assert!(case(&v, "compat32-tracepoint")
        .probe
        .contains("32-bit path attached: 1 process"));
    // The getppid process's calls taken for IPC calls (as before issue 17): a failure.
    let getppid_pid = COMPAT32_61
        .lines()
        .find(|l| l.contains("compat32-raw wl") && l.contains("\"calls\""))
        .and_then(|l| l.split("\"pid\":").nth(1))
        .and_then(|r| r.split(',').next())
        .unwrap()
        .to_string();
    let bogus = format!(
        "@@vm compat32-raw out {{\"pid\":{getppid_pid},\"tid\":{getppid_pid},\"syscall\":\"semget\",\"compat\":true}}"
    );
    let text = COMPAT32_61.replace(
        "@@vm compat32-raw exit",
        &format!("{bogus}\n@@vm compat32-raw exit"),
    );
    let v = judge(&parse(&text));
    let c = case(&v, "compat32-raw");
    assert_eq!(c.outcome, Outcome::Fail, "{v}");
    assert!(
        c.problems.iter().any(|p| p.contains("getppid")),
        "{:?}",
        c.problems
    );
    // A call missing (the last msgrcv of the tracepoint case): a failure.
    let last = COMPAT32_61
        .lines()
        .rev()
        .find(|l| {
            l.starts_with("@@vm compat32-tracepoint out") && l.contains("\"syscall\":\"msgrcv\"")
        })
        .unwrap();
    let v = judge(&parse(&COMPAT32_61.replace(last, "")));
    assert_eq!(
        case(&v, "compat32-tracepoint").outcome,
        Outcome::Fail,
        "{v}"
    );
    // A kernel without ia32 emulation: said, not failed.
    let v = judge(&parse(
        "@@vm - kernel 6.12\n@@vm compat32-raw begin attach=raw\n\
         @@vm compat32-raw wlerr sh: legacy32: Exec format error\n\
         @@vm compat32-raw exit trace=- workload=- ia32=no\n",
    ));
    let c = case(&v, "compat32-raw");
    assert_eq!(c.outcome, Outcome::Pass, "{v}");
    assert!(c.probe.contains("no ia32 emulation"), "{}", c.probe);
}

#[test]
fn the_record_case_passes_on_known_findings_and_fails_without_them() {
    let v = judge(&parse(PASS_61_RECORD));
    assert_eq!(v.outcome, Outcome::Pass, "{v}");
    let r = case(&v, "record");
    assert_eq!(r.outcome, Outcome::Pass, "{v}");
    assert!(r.seen >= RECORD_MIN_CALLS);
    assert!(r.probe.starts_with("recorded via "), "{}", r.probe);
    // The same guest output with the deadlock missing from the report: a failure, named.
    let no_deadlock: String = PASS_61_RECORD
        .lines()
        .map(|l| {
            if l.contains("@@vm record report") && l.contains("\"deadlocks\": [") {
                l.replace("\"deadlocks\": [", "\"deadlocks_gone\": [")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let v = judge(&parse(&no_deadlock));
    let r = case(&v, "record");
    assert_eq!(r.outcome, Outcome::Fail, "{v}");
    assert!(
        r.problems.iter().any(|p| p.contains("deadlock")),
        "{:?}",
        r.problems
    );
    // A gate that did not fail on known findings is a failure too.
    let soft = PASS_61_RECORD.replace(" gate=1 ", " gate=0 ");
    let v = judge(&parse(&soft));
    assert_eq!(case(&v, "record").outcome, Outcome::Fail);
}

fn case<'a>(v: &'a Verdict, name: &str) -> &'a CaseVerdict {
    v.cases.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn a_passing_guest_passes_with_both_attach_modes() {
    let g = parse(PASS_612);
    assert_eq!(g.facts["kernel"], "6.12.117+deb12-amd64");
    assert_eq!(g.facts["btf"], "yes");
    let v = judge(&g);
    assert_eq!(v.outcome, Outcome::Pass, "{v}");
    assert_eq!(v.cases.len(), 2);
    let raw = case(&v, "raw");
    assert_eq!((raw.seen, raw.expected), (18, 18));
    assert_eq!(
        raw.probe,
        "loaded via raw tracepoints sys_enter/sys_exit (as asked)"
    );
    assert!(case(&v, "tracepoint")
        .probe
        .contains("per-syscall tracepoints"));
    let line = v.to_string();
    assert!(line.starts_with("PASS kernel 6.12.117+deb12-amd64; raw PASS: loaded via raw"));
    assert!(line.contains("events 18/18"), "{line}");
}

#[test]
fn a_probe_that_cannot_load_is_snapshot_only_not_a_failure() {
    let v = judge(&parse(RAW_REFUSED_61));
    assert_eq!(v.kernel, "6.1.0-56-amd64");
    assert_eq!(v.outcome, Outcome::SnapshotOnly, "{v}");
    let raw = case(&v, "raw");
    assert_eq!(raw.outcome, Outcome::SnapshotOnly);
    assert!(raw
        .probe
        .starts_with("probe not loaded: loading the eBPF probe was refused"));
    assert_eq!(case(&v, "tracepoint").outcome, Outcome::Pass);
    assert!(!v.to_string().contains("events 0/18"), "{v}");
}

#[test]
fn console_noise_and_carriage_returns_are_ignored() {
    let noisy: String = PASS_612
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i % 5 == 0 {
                format!("[    3.1{i}] random: crng init done\r\n{l}\r\n")
            } else {
                format!("{l}\r\n")
            }
        })
        .collect();
    let v = judge(&parse(&noisy));
    assert_eq!(v.outcome, Outcome::Pass, "{v}");
}

#[test]
fn a_guest_that_stops_early_fails() {
    let cut: String = PASS_612
        .lines()
        .take_while(|l| !l.starts_with("@@vm tracepoint out"))
        .map(|l| format!("{l}\n"))
        .collect();
    let v = judge(&parse(&cut));
    assert_eq!(v.outcome, Outcome::Fail, "{v}");
    assert_eq!(case(&v, "raw").outcome, Outcome::Pass);
    assert!(case(&v, "tracepoint").probe.starts_with("no result"));
    assert!(v.to_string().contains("the guest did not finish"));
    assert_eq!(judge(&parse("")).outcome, Outcome::Fail);
}

#[test]
fn a_missing_event_or_a_wrong_argument_fails() {
    let mut dropped = false;
    let missing: String = PASS_612
        .lines()
        .filter(|l| {
            let hit = !dropped && l.starts_with("@@vm raw out") && l.contains("\"shmdt\"");
            dropped |= hit;
            !hit
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(dropped);
    let v = judge(&parse(&missing));
    assert_eq!(v.outcome, Outcome::Fail);
    assert_eq!(case(&v, "raw").seen, 17);
    assert_eq!(case(&v, "tracepoint").outcome, Outcome::Pass);

    let wrong = PASS_612.replacen("\"nsems\":3", "\"nsems\":0", 1);
    assert_ne!(wrong, PASS_612);
    let v = judge(&parse(&wrong));
    let raw = case(&v, "raw");
    assert_eq!(raw.outcome, Outcome::Fail);
    assert_eq!(raw.problems, ["semget nsems = 0, expected 3"]);
}

#[test]
fn a_probe_that_loads_but_sees_nothing_fails() {
    let none: String = PASS_612
        .lines()
        .filter(|l| !(l.starts_with("@@vm tracepoint out {\"ts_ns\"")))
        .map(|l| format!("{l}\n"))
        .collect();
    let v = judge(&parse(&none));
    let tp = case(&v, "tracepoint");
    assert_eq!((tp.outcome, tp.seen), (Outcome::Fail, 0));
}

#[test]
fn kernel_packages_are_chosen_by_series_and_version() {
    assert!(in_series("linux-image-6.1.0-56-amd64-unsigned", "6.1"));
    assert!(!in_series(
        "linux-image-6.12.117+deb12-amd64-unsigned",
        "6.1"
    ));
    assert!(in_series(
        "linux-image-6.12.117+deb12-amd64-unsigned",
        "6.12"
    ));
    assert!(!in_series(
        "linux-image-6.1.0-56-cloud-amd64-unsigned",
        "6.1"
    ));
    assert!(!in_series("linux-image-6.1.0-56-rt-amd64-unsigned", "6.1"));
    let names = [
        "linux-image-6.1.0-9-amd64-unsigned",
        "linux-image-6.1.0-56-amd64-unsigned",
        "linux-image-6.1.0-47-amd64-unsigned",
        "linux-image-6.1.0-99-cloud-amd64-unsigned",
        "linux-image-6.12.99+deb12-amd64-unsigned",
        "linux-image-6.12.117+deb12-amd64-unsigned",
    ];
    assert_eq!(
        newest(names.into_iter(), "6.1").as_deref(),
        Some("linux-image-6.1.0-56-amd64-unsigned")
    );
    assert_eq!(
        newest(names.into_iter(), "6.12").as_deref(),
        Some("linux-image-6.12.117+deb12-amd64-unsigned")
    );
    assert_eq!(newest(names.into_iter(), "6.6"), None);
    assert_eq!(
        kernel_label("linux-image-6.12.117+deb12-amd64-unsigned"),
        "6.12.117+deb12-amd64"
    );
}

#[test]
fn cpio_entries_are_newc_and_aligned() {
    let mut c = Cpio::new(Vec::new());
    c.dir("bin").unwrap();
    c.file("bin/x", 0o755, b"hello").unwrap();
    let out = c.finish().unwrap();
    assert_eq!(out.len() % 4, 0);
    assert!(out.starts_with(b"070701"));
    // The file's header: mode 0100755, size 5, name "bin/x\0" (6 bytes).
    let at = out.windows(5).position(|w| w == b"bin/x").unwrap() - 110;
    let h = std::str::from_utf8(&out[at..at + 110]).unwrap();
    assert_eq!(&h[14..22], "000081ed");
    assert_eq!(&h[54..62], "00000005");
    assert_eq!(&h[94..102], "00000006");
    assert_eq!(&out[at + 116..at + 121], b"hello"); // after 110 + 6 bytes, already aligned
}

#[test]
fn events_must_carry_the_guests_ipc_namespace_when_it_is_known() {
    // Captures from before the guest said its namespace are judged as before.
    assert_eq!(judge(&parse(PASS_612)).outcome, Outcome::Pass);
    let ns_line = "@@vm - ipcns 4026531839";
    let stamped: String = PASS_612
        .lines()
        .map(|l| {
            if l.contains(" out {") && !l.contains("\"summary\"") {
                l.replacen('{', "{\"ipc_ns\":4026531839,", 1)
            } else {
                l.to_string()
            }
        })
        .chain([ns_line.to_string()])
        .collect::<Vec<_>>()
        .join("\n");
    let v = judge(&parse(&stamped));
    assert_eq!(v.outcome, Outcome::Pass, "{v}");
    // Events without it (no offsets) fail the case, and say so.
    let unstamped = format!("{PASS_612}\n{ns_line}");
    let v = judge(&parse(&unstamped));
    assert_eq!(v.outcome, Outcome::Fail, "{v}");
    assert!(
        v.to_string()
            .contains("do not carry the guest's IPC namespace 4026531839"),
        "{v}"
    );
}
