//! Shared by the real (root, eBPF) tests: spawning `ipctop` and `ipctop-workload` with guards
//! that kill them and remove their IPC objects whatever happens.
#![allow(dead_code)]

pub mod basic;
pub mod bpf;
pub mod cgroup;
pub mod dashboard;
pub mod hostile;
pub mod maps;
pub mod recording;
pub mod screen;
/// The SysV calls that change IPC objects (the library only reads): the workload helper's,
/// for the tests' clean-up and for releasing a blocked workload.
#[path = "../../src/bin/ipctop-workload/sysv_mut.rs"]
pub mod sysv_mut;
pub mod tmux;

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

pub const IPCTOP: &str = env!("CARGO_BIN_EXE_ipctop");
pub const WORKLOAD: &str = env!("CARGO_BIN_EXE_ipctop-workload");

/// True when the test may load BPF; else prints why it is skipped. Where skipping is not
/// allowed (`IPCTOP_REQUIRE_ROOT=1`, as `.ci/run` sets it) a test that cannot run fails.
pub fn can_trace(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip(test, "it loads the eBPF probe, which needs root");
        return false;
    }
    true
}

/// Says why `test` is skipped, or fails it when `IPCTOP_REQUIRE_ROOT=1` forbids skipping.
pub fn skip(test: &str, why: &str) {
    if std::env::var_os("IPCTOP_REQUIRE_ROOT").is_some_and(|v| v == "1") {
        panic!("{test} cannot run here ({why}) and IPCTOP_REQUIRE_ROOT=1 forbids skipping it");
    }
    eprintln!("skipping {test}: {why}");
}

/// A unique comm for one test (15 bytes at most), so parallel tests do not see each other.
pub fn unique_name(tag: &str) -> String {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = std::process::id() % 1_000_000;
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut s = format!("{tag}{n}.{seq}");
    s.truncate(15);
    s
}

/// A child process that is killed (and reaped) on drop.
pub struct Proc {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub lines: mpsc::Receiver<String>,
    pub err_lines: mpsc::Receiver<String>,
}

fn pump(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stdin = child.stdin.take();
        let lines = pump(child.stdout.take().unwrap());
        let err_lines = pump(child.stderr.take().unwrap());
        Proc {
            child,
            stdin,
            lines,
            err_lines,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line, within `timeout`.
    pub fn line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// The next stdout line as JSON.
    pub fn json(&self, timeout: Duration) -> Value {
        let l = self
            .line(timeout)
            .unwrap_or_else(|| panic!("no line within {timeout:?}"));
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))
    }

    /// Waits for a stderr line containing `what`; returns every stderr line read.
    pub fn wait_stderr(&self, what: &str, timeout: Duration) -> Vec<String> {
        let end = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.err_lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.contains(what);
                    seen.push(l);
                    if hit {
                        return seen;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no stderr line with {what:?} within {timeout:?}; got {seen:?}");
    }

    /// Sends a line on stdin (the workload's "go").
    pub fn go(&mut self) {
        let s = self.stdin.as_mut().expect("stdin");
        s.write_all(b"go\n").unwrap();
        s.flush().unwrap();
    }

    /// Closes stdin (releases a holding workload).
    pub fn release(&mut self) {
        self.stdin.take();
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Waits for the exit, within `timeout`; returns the exit code.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            if Instant::now() > end {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every remaining stdout line until EOF.
    pub fn rest(&self, timeout: Duration) -> Vec<String> {
        let mut v = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(timeout) {
            v.push(l);
        }
        v
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// IPC ids to remove on drop (a test's own clean-up, in case its workload was killed).
#[derive(Default)]
pub struct Ids {
    pub sems: Vec<i32>,
    pub shms: Vec<i32>,
    pub msgs: Vec<i32>,
}

impl Drop for Ids {
    fn drop(&mut self) {
        sysv_mut::remove_all(&self.sems, &self.shms, &self.msgs);
    }
}

/// Starts `ipctop trace --json` with `args` and waits until the probe is attached.
pub fn start_trace(args: &[&str]) -> Proc {
    start_trace_in(&[], args).0
}

/// Like [`start_trace`], in a private mount namespace where `setup` (a shell snippet, e.g.
/// mounting tracefs) ran first, so the test changes nothing the machine's other processes
/// see. Returns the trace and its start message.
pub fn start_trace_in(setup: &[&str], args: &[&str]) -> (Proc, String) {
    let mut cmd = if setup.is_empty() {
        Command::new(IPCTOP)
    } else {
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!("{}; exec \"$0\" \"$@\"", setup.join("; ")))
            .arg(IPCTOP);
        c
    };
    cmd.arg("trace").arg("--json").args(args);
    let p = Proc::spawn(&mut cmd);
    let seen = p.wait_stderr("ipctop: tracing", Duration::from_secs(30));
    let msg = seen.last().cloned().unwrap_or_default();
    (p, msg)
}

/// Shell snippets for [`start_trace_in`].
pub const MOUNT_TRACEFS: &str =
    "mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing";
pub const UNMOUNT_TRACEFS: &str = "umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null; true";

/// Stops a trace with SIGTERM and returns (event lines, summary, exit code).
pub fn stop_trace(mut t: Proc) -> (Vec<Value>, Value, Option<i32>) {
    t.signal(libc::SIGTERM);
    let code = t.wait(Duration::from_secs(30));
    let lines = t.rest(Duration::from_secs(5));
    let mut events = Vec::new();
    let mut summary = Value::Null;
    for l in lines {
        let v: Value =
            serde_json::from_str(&l).unwrap_or_else(|e| panic!("bad JSON line ({e}): {l}"));
        if let Some(s) = v.get("summary") {
            summary = s.clone();
        } else {
            events.push(v);
        }
    }
    (events, summary, code)
}

/// `sleep SECS` in a new IPC namespace (`unshare --ipc`), once it is sleeping there: it keeps
/// the namespace (and the objects made in it) until it is killed. The caller kills and reaps
/// it.
pub fn sleeper_in_new_ipc_ns(secs: u32) -> Child {
    let child = Command::new("unshare")
        .args(["--ipc", "sleep", &secs.to_string()])
        .spawn()
        .expect("unshare (util-linux)");
    let pid = child.id();
    let t = Instant::now();
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sleep\n" {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "unshare did not exec sleep"
        );
        thread::sleep(Duration::from_millis(5));
    }
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/ipc")).ok();
    assert_ne!(
        ns(&pid.to_string()),
        ns("self"),
        "unshare --ipc made no namespace"
    );
    child
}

/// Compiles the C program `source` with `cc -O1 FLAGS -o BIN SRC -lrt` in `sub/` of the tests'
/// temp dir (`src_name` its source file, `bin` the binary: its comm); `None`: no compiler,
/// said by the caller.
pub fn compile_c(
    sub: &str,
    src_name: &str,
    source: &str,
    bin: &str,
    flags: &[&str],
) -> Option<std::path::PathBuf> {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(sub);
    std::fs::create_dir_all(&dir).ok()?;
    let src = dir.join(src_name);
    std::fs::write(&src, source).ok()?;
    let bin = dir.join(bin);
    let ok = Command::new("cc")
        .arg("-O1")
        .args(flags)
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .arg("-lrt")
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(bin)
}

/// Runs `sh -c script` in a new IPC namespace (its objects die with it), with `W` set to the
/// workload helper and `I` to ipctop; fails the test unless it succeeds. Returns its stdout.
pub fn in_own_ipc_ns(script: &str) -> String {
    let out = Command::new("unshare")
        .args(["--ipc", "sh", "-c"])
        .arg(format!("W={WORKLOAD}; I={IPCTOP}; {script}"))
        .output()
        .expect("unshare");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JSON lines of `out` (others skipped).
pub fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The call in progress of process `pid` as `probe` lists it, waited for up to `timeout`.
pub fn wait_in_flight(
    probe: &ipctop::probe::Probe,
    pid: u32,
    timeout: Duration,
) -> ipctop::event::Event {
    let end = Instant::now() + timeout;
    loop {
        if let Some(e) = probe
            .in_flight(Duration::ZERO)
            .unwrap()
            .into_iter()
            .find(|e| e.pid == pid)
        {
            return e;
        }
        assert!(
            Instant::now() < end,
            "never saw pid {pid}'s call in progress"
        );
        thread::sleep(Duration::from_millis(20));
    }
}
