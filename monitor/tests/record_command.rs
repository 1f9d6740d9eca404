//! `record -- COMMAND` as a smoke-test gate (root): it ends with its command, promptly and with
//! its status, while the machine is busy and a child lingers; and the command's processes are
//! its own, however short-lived (the pid in the header, the forks recorded).
mod support;

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::Value;
use support::{recording::*, *};

/// Processes stopped (SIGTERM: the workloads remove their objects) and reaped on drop.
#[derive(Default)]
struct Load(Vec<Child>);
impl Drop for Load {
    fn drop(&mut self) {
        for c in &self.0 {
            // SAFETY: signalling processes this test started.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

/// Held by each test of this binary: the first floods the machine with failing calls (tens of
/// thousands a second), more than the probe's ring buffer holds; a neighbour's short-lived
/// child's one `msgget` event would be dropped with them (counted and said, but its queue
/// could then not be judged the command's). The flood's own test judges what a flood does.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn record_cmd_exits_with_its_status_promptly_on_a_busy_machine() {
    if !can_trace("record_cmd_exit") {
        return;
    }
    let _alone = one_at_a_time();
    let d = tmpdir("exit");
    let mut load = Load::default();
    // Busy: 20 processes doing semops on their own sets, and one failing calls on 30,000
    // different ids over and over (a large aggregate table in the kernel).
    for _ in 0..20 {
        load.0.push(
            Command::new(WORKLOAD)
                .args(["paced-loop", "--rate", "500", "--secs", "120"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    load.0.push(
        // In an IPC namespace of its own: none of those ids exists there.
        Command::new("unshare")
            .args([
                "--ipc",
                "python3",
                "-c",
                "import ctypes\nlibc = ctypes.CDLL(None)\nwhile True:\n    \
                 [libc.semctl(i, 0, 12) for i in range(3000000, 3030000)]",
            ])
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(500));

    let (rec, ended, lingering) = (
        d.0.join("e.ipctop.zst"),
        d.0.join("ended"),
        d.0.join("lingering"),
    );
    // The command leaves a child that holds its stdout and stderr (ipctop's) for 20 s.
    let script = format!(
        "sleep 2; sleep 20 & echo $! > {}; date +%s.%N > {}; exit 3",
        lingering.display(),
        ended.display()
    );
    let mut ipctop = Command::new(IPCTOP)
        .args(["record", "-o"])
        .arg(&rec)
        .args(["--", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = ipctop.try_wait().unwrap() {
            break Some(st);
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = ipctop.kill();
            let _ = ipctop.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let exited_at = now_s();
    if let Ok(pid) = std::fs::read_to_string(&lingering) {
        // SAFETY: the lingering child this test's command started.
        unsafe { libc::kill(pid.trim().parse().unwrap_or(0), libc::SIGKILL) };
    }
    drop(load);
    let mut err = String::new();
    if let Some(mut e) = ipctop.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    let status = status.unwrap_or_else(|| panic!("record did not exit within 60 s: {err}"));
    assert_eq!(status.code(), Some(3), "{err}");
    let ended: f64 = std::fs::read_to_string(&ended)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let after = exited_at - ended;
    // The probe's detach (~1 s of RCU grace periods on a loaded machine), the final counters
    // and at most a second of queued events (~5 s in all in a debug build); never the
    // lingering child's 20 s, nor minutes of a backlog of failed calls' events (32 s here
    // before, growing with the length of the run).
    eprintln!("record exited {after:.1} s after its command");
    assert!(
        after < 10.0,
        "record exited {after:.1} s after its command: {err}"
    );
    let (code, r, err) = report(&rec, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(r["recording"]["end"]["exit_status"], 3, "{r}");
    assert_eq!(r["stopped_early"], Value::Null, "{r}");
}

#[test]
fn a_short_lived_child_that_leaks_is_judged_the_commands() {
    if !can_trace("record_cmd_child") {
        return;
    }
    let _alone = one_at_a_time();
    let d = tmpdir("child");
    let rec = d.0.join("c.ipctop");
    // A grandchild living a few ms (ipcmk) makes a queue and leaves it; its parent lives
    // 20 ms. No snapshot sees either, and neither is named as the command (sh).
    let out = in_own_ipc_ns(&format!(
        "$I record --interval 0.25 -o {} -- sh -c \
         'sh -c \"ipcmk -Q; sleep 0.02\"; sleep 0.6' 2>/dev/null",
        rec.display()
    ));
    let msqid: i64 = out
        .split_whitespace()
        .last()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("ipcmk said {out:?}"));
    let header = std::fs::read_to_string(&rec).unwrap();
    let header: Value = serde_json::from_str(header.lines().next().unwrap()).unwrap();
    let pid = header["command_pid"].as_u64().expect("command_pid");
    assert_eq!(header["forks_followed"], true, "{header}");

    let (code, r, err) = report(&rec, &["--fail-on", "leak"]);
    assert_eq!(code, Some(1), "the command's child left a queue: {err} {r}");
    let leaks = r["leaks"].as_array().unwrap();
    assert_eq!(leaks.len(), 1, "{r}");
    assert_eq!(leaks[0]["kind"], "msg");
    assert_eq!(leaks[0]["id"], msqid, "{r}");
    let pids: Vec<u64> = r["scope"]["pids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let creator = r["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["comm"] == "ipcmk")
        .unwrap_or_else(|| {
            let few: Vec<&Value> = r["processes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["calls"].as_u64() < Some(5))
                .collect();
            panic!("no ipcmk among {few:?}")
        })["pid"]
        .as_u64()
        .unwrap();
    assert!(pids.contains(&creator), "ipcmk {creator} in {pids:?}");
    assert!(creator != pid && creator > pid, "forked from {pid}");
    assert!(r["scope"]["how"].as_str().unwrap().contains("fork"), "{r}");
}
