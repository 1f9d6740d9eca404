//! 32-bit processes (issue 17), against the truth (root: loads the probe). A `gcc -m32`
//! workload (tests/compat/legacy32.c) makes the i386 IPC syscalls directly and through the
//! `ipc()` multiplexer; `ipctop trace` must report exactly the calls it made (per syscall, per
//! object, per pid; strace on the same run agrees), decoded from their 32-bit layouts and
//! marked `"compat": true`, in the default attach mode and in `--attach raw`; a 32-bit process
//! that only calls getppid()/getpid() gives no event at all. Recorded, a 32-bit process
//! blocked on a semaphore another 32-bit process holds is a wait with that holder in the
//! model. Every workload runs in an IPC namespace of its own.
#[path = "compat/expected.rs"]
mod expected;
mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use expected::{check_compat, expected};
use ipctop::{feed::ProbeStatus, model::HolderSource, ui::SessionInfo, ui::Store};
use serde_json::Value;
use support::*;

const N: u64 = 25;

/// One test at a time: the watcher test needs a machine without other 32-bit processes, and
/// the others start some.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The workload built with `gcc -m32 -static` (Debian: gcc-multilib) as `name` in the temp
/// dir (its comm: parallel tests see only their own), removed on drop; `None` (the test
/// skipped, or failed under IPCTOP_REQUIRE_ROOT=1) when it cannot be built.
struct Named(PathBuf);

impl Named {
    fn build(test: &str, name: &str) -> Option<Named> {
        let out = Named(std::env::temp_dir().join(name));
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/legacy32.c");
        let built = Command::new("gcc")
            .args(["-m32", "-static", "-O1", "-Wall", "-o"])
            .arg(&out.0)
            .arg(&src)
            .output();
        let why = match built {
            Ok(o) if o.status.success() => return Some(out),
            Ok(o) => format!(
                "gcc -m32 failed (install gcc-multilib: cargo xtask setup): {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => format!("gcc: {e}"),
        };
        skip(test, &why);
        None
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A 32-bit process that makes no IPC call and lives until dropped (in the default attach
/// mode the 32-bit path is attached only when 32-bit processes exist at load).
fn idle_32bit(bin: &Path) -> Proc {
    let mut c = Command::new(bin);
    c.arg("idle").stdin(Stdio::piped());
    Proc::spawn(&mut c)
}

/// Runs the workload in its own IPC namespace under strace; its JSON line and strace's count
/// of IPC calls by name (`semtimedop_time64` is semtimedop).
fn run_under_strace(bin: &Path, args: &[&str]) -> (Value, BTreeMap<String, u64>) {
    let log = PathBuf::from(format!("{}.strace-{}", bin.display(), args[0]));
    let out = Command::new("unshare")
        .arg("--ipc")
        .args(["strace", "-qq", "-e", "trace=%ipc", "-o"])
        .arg(&log)
        .arg(bin)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut counts = BTreeMap::new();
    for l in std::fs::read_to_string(&log).unwrap().lines() {
        let Some(name) = l.split('(').next() else {
            continue;
        };
        let name = name.trim().replace("semtimedop_time64", "semtimedop");
        *counts.entry(name).or_insert(0) += 1;
    }
    let _ = std::fs::remove_file(&log);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (v, counts)
}

fn count_by(evs: &[&Value], key: impl Fn(&Value) -> String) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for e in evs {
        *m.entry(key(e)).or_insert(0) += 1;
    }
    m
}

fn traced_exactly(test: &str, attach: &[&str]) {
    if !can_trace(test) {
        return;
    }
    let _one = one_at_a_time();
    let name = unique_name("l32");
    let Some(named) = Named::build(test, &name) else {
        return;
    };
    let idle = idle_32bit(&named.0);
    let mut args = vec!["--comm", name.as_str()];
    args.extend_from_slice(attach);
    let (trace, start) = start_trace_in(&[], &args);
    // The start line says how 32-bit processes are followed.
    if attach.is_empty() {
        assert!(
            start.contains("32-bit path attached: ") || start.contains("raw tracepoints"),
            "{start}"
        );
    } else {
        assert!(start.contains("32-bit calls followed too"), "{start}");
    }
    let (direct, direct_strace) = run_under_strace(&named.0, &["direct", &N.to_string()]);
    let (ipc, ipc_strace) = run_under_strace(&named.0, &["ipc", &N.to_string()]);
    let getppid = Command::new(&named.0)
        .args(["getppid", "1000"])
        .output()
        .unwrap();
    assert!(getppid.status.success());
    let getppid: Value = serde_json::from_slice(&getppid.stdout).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (events, summary, code) = stop_trace(trace);
    drop(idle);
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(summary["dropped"], 0, "{summary}");
    // What vm-smoke's 32-bit case checks too.
    let problems = check_compat(&[direct.clone(), ipc.clone(), getppid.clone()], &events);
    assert!(problems.is_empty(), "{problems:?}");
    let pid = |v: &Value| v["pid"].as_u64().unwrap();
    let of = |p: u64| -> Vec<&Value> { events.iter().filter(|e| pid(e) == p).collect() };

    // Nothing from the process that only called getppid()/getpid() (whose i386 numbers,
    // 64 and 20, are semget and a non-IPC call in the 64-bit table).
    assert!(
        of(pid(&getppid)).is_empty(),
        "getppid/getpid reported as IPC calls: {:?}",
        of(pid(&getppid))
    );
    // Nothing from any other process (--comm), and every event a 32-bit one.
    assert_eq!(
        events.len(),
        of(pid(&direct)).len() + of(pid(&ipc)).len(),
        "{events:?}"
    );
    assert!(events.iter().all(|e| e["compat"] == true), "{events:?}");

    for (w, truth, is_direct) in [(&direct, &direct_strace, true), (&ipc, &ipc_strace, false)] {
        let evs = of(pid(w));
        let by_sys = count_by(&evs, |e| e["syscall"].as_str().unwrap().to_string());
        assert_eq!(
            by_sys,
            expected(is_direct, N),
            "direct={is_direct}: {evs:?}"
        );
        // strace on the same run saw the same calls (ipc() decoded by its call number).
        assert_eq!(&by_sys, truth, "direct={is_direct}, strace");
        // Per object: the set, the segment and the queue the workload made.
        let obj = |sys: &[&str]| {
            evs.iter()
                .filter(|e| sys.contains(&e["syscall"].as_str().unwrap()))
                .count() as u64
        };
        let on = |key: &str, id: &Value| {
            evs.iter()
                .filter(|e| e["args"].get(key) == Some(id))
                .count() as u64
        };
        assert_eq!(
            on("semid", &w["semid"]),
            obj(&["semop", "semtimedop", "semctl"])
        );
        assert_eq!(on("shmid", &w["shmid"]), 2); // shmat, shmctl
        assert_eq!(on("msqid", &w["msqid"]), 2 * N + 1);
        let one =
            |sys: &str| -> Vec<&&Value> { evs.iter().filter(|e| e["syscall"] == sys).collect() };
        // Decoded from the 32-bit layouts.
        let get = one("semget")[0];
        assert_eq!(get["ret"], w["semid"]);
        assert_eq!(get["args"]["nsems"], 2);
        assert_eq!(get["args"]["flags"], serde_json::json!(["IPC_CREAT"]));
        assert_eq!(get["args"]["mode"], "0600");
        let ctl = one("semctl");
        assert_eq!(ctl[0]["args"]["cmd"], "SETVAL", "{ctl:?}");
        assert_eq!(ctl[0]["args"]["arg"], 1, "{ctl:?}");
        assert_eq!(ctl[0]["args"]["semnum"], 1, "{ctl:?}");
        assert_eq!(ctl[1]["args"]["cmd"], "IPC_RMID", "{ctl:?}");
        assert_eq!(one("shmctl")[0]["args"]["cmd"], "IPC_RMID");
        assert_eq!(one("msgctl")[0]["args"]["cmd"], "IPC_RMID");
        // shmat's address: returned directly, or written by ipc(SHMAT) through `third`.
        assert_eq!(one("shmat")[0]["ret"], w["shmaddr"]);
        assert_eq!(one("shmdt")[0]["args"]["shmaddr"], w["shmaddr"]);
        // The message type is a 32-bit long; msgrcv's received one too.
        assert!(one("msgsnd")
            .iter()
            .all(|e| e["args"]["mtype"] == 7 && e["args"]["msgsz"] == 6));
        assert!(one("msgrcv")
            .iter()
            .all(|e| e["args"]["mtype"] == 7 && e["args"]["msgtyp"] == 7 && e["ret"] == 6));
        // The wait: 50 ms on a semaphore the process itself took (a 32-bit timespec through
        // ipc(), a 64-bit one through semtimedop_time64), ended by EAGAIN.
        let timed: Vec<_> = one("semtimedop")
            .into_iter()
            .filter(|e| e["args"]["timeout_ns"] != Value::Null)
            .collect();
        assert_eq!(timed.len(), 1, "{timed:?}");
        let t = timed[0];
        assert_eq!(t["args"]["timeout_ns"], 50_000_000, "{t}");
        assert_eq!(t["errno"], "EAGAIN", "{t}");
        assert_eq!(w["waited_errno"], 11);
        assert!(t["duration_ns"].as_u64().unwrap() >= 50_000_000, "{t}");
        let sops = &t["args"]["sops"][0];
        assert_eq!(
            (&sops["sem_num"], &sops["sem_op"]),
            (&1.into(), &(-1).into())
        );
    }
}

#[test]
fn calls_of_32bit_processes_traced_exactly_per_syscall_tracepoints() {
    traced_exactly("compat_traced_default", &[]);
}

#[test]
fn calls_of_32bit_processes_traced_exactly_raw_tracepoints() {
    traced_exactly("compat_traced_raw", &["--attach", "raw"]);
}

/// A 32-bit process blocked on a semaphore another 32-bit process took (through `ipc()`):
/// recorded, the model has the wait and, from the events, its holder.
fn wait_and_holder(test: &str, attach: &str) {
    if !can_trace(test) {
        return;
    }
    let _one = one_at_a_time();
    let name = unique_name("h32");
    let Some(named) = Named::build(test, &name) else {
        return;
    };
    let idle = idle_32bit(&named.0);
    // (Names have a dot in them: suffixes are appended, not `with_extension`.)
    let rec = PathBuf::from(format!("{}.ipctop", named.0.display()));
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _rm = Rm(rec.clone());
    let hold_out = PathBuf::from(format!("{}.hold.json", named.0.display()));
    let _rm_hold = Rm(hold_out.clone());
    let l = named.0.display();
    let h = hold_out.display();
    let out = in_own_ipc_ns(&format!(
        "$I record --attach {attach} --interval 0.3 --comm {name} -o {} -- sh -c \
         'sleep 3 | {l} hold > {h} & sleep 0.5; \
          {l} block $(sed \"s/.*\\\"semid\\\":\\([0-9]*\\).*/\\1/\" {h}); wait'",
        rec.display()
    ));
    drop(idle);
    let hold: Value = serde_json::from_str(&std::fs::read_to_string(&hold_out).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    let holder = hold["pid"].as_u64().unwrap() as u32;
    // The blocked process's pid (its one line on the command's stdout): only its wait counts,
    // never another process's that the recording's snapshots show waiting elsewhere on the
    // machine (another test's semaphore wait, with its own holder).
    let waiter = json_lines(&out)
        .iter()
        .find(|v| v.get("semid").is_none())
        .and_then(|v| v["pid"].as_u64())
        .unwrap_or_else(|| panic!("no pid from the blocked process: {out}"))
        as u32;
    let mut reader = ipctop::record::open(&rec).unwrap();
    let mut store = Store::new(
        SessionInfo::default(),
        ProbeStatus::Replay,
        Default::default(),
    );
    let mut seen = None;
    while let Some(s) = reader.next_update() {
        store.ingest(std::slice::from_ref(&s));
        let m = &store.model;
        for w in m.waits().filter(|w| w.pid == waiter) {
            if let Some((op, Some(h))) = m.wait_holders(w) {
                seen = Some((w.on.id(), op.semnum, h.pids.clone(), h.source));
            }
        }
    }
    let (semid, semnum, pids, source) = seen
        .unwrap_or_else(|| panic!("no wait of {waiter} with a holder in the recording ({out})"));
    assert_ne!(waiter, holder);
    assert_eq!(Some(i64::from(semid)), hold["semid"].as_i64());
    assert_eq!(semnum, 0);
    assert_eq!(pids, vec![holder]);
    assert_eq!(source, HolderSource::Events);
}

#[test]
fn a_32bit_wait_and_its_32bit_holder_per_syscall_tracepoints() {
    wait_and_holder("compat_wait_default", "auto");
}

#[test]
fn a_32bit_wait_and_its_32bit_holder_raw_tracepoints() {
    wait_and_holder("compat_wait_raw", "raw");
}

/// The raw tracepoint links process `pid` holds (from its fds' fdinfo).
fn raw_links(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter(|s| s.contains("link_type:\traw_tracepoint"))
                // The thread-exit program is attached in every mode.
                .filter(|s| !s.contains("tp_name:\tsched_process_exit"))
                .count()
        })
        .unwrap_or(0)
}

/// Waits until `pid` holds `n` raw tracepoint links on sys_enter/sys_exit (the watcher looks
/// every 2 s).
fn await_links(pid: u32, n: usize) -> bool {
    let end = std::time::Instant::now() + Duration::from_secs(8);
    while std::time::Instant::now() < end {
        if raw_links(pid) == n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn the_32bit_path_is_attached_only_while_32bit_processes_exist() {
    let test = "compat_watcher";
    if !can_trace(test) {
        return;
    }
    let _one = one_at_a_time();
    let name = unique_name("w32");
    let Some(named) = Named::build(test, &name) else {
        return;
    };
    let (trace, start) = start_trace_in(&[], &["--comm", &name]);
    let pid = trace.pid();
    if !start.contains("no 32-bit processes") {
        skip(
            test,
            &format!("32-bit processes run on this machine: {start}"),
        );
        return;
    }
    // The per-syscall tracepoints only: no raw program attached.
    assert_eq!(raw_links(pid), 0, "{start}");
    let idle = idle_32bit(&named.0);
    assert!(await_links(pid, 2), "the 32-bit path was not attached");
    let (direct, _) = run_under_strace(&named.0, &["direct", "3"]);
    drop(idle);
    assert!(await_links(pid, 0), "the 32-bit path was not detached");
    let (events, summary, code) = stop_trace(trace);
    assert_eq!(code, Some(0), "{summary}");
    let evs: Vec<Value> = events
        .into_iter()
        .filter(|e| e["pid"] == direct["pid"])
        .collect();
    assert_eq!(expected::by_syscall(&evs), expected(true, 3), "{evs:?}");
}
