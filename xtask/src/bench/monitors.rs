//! The monitors `cargo xtask bench` compares (ipctop's modes and bpftrace references), and
//! one of them running during a measurement.
use std::{
    io::Read,
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;

use super::signal;

/// A monitor running during a measurement.
#[derive(Clone)]
pub struct Monitor {
    pub name: &'static str,
    /// Shell snippet run first in a private mount namespace (tracefs or not).
    pub setup: &'static str,
    /// The command (`{ipctop}` is replaced by the binary's path, `{out}` by [`RECORDING`]).
    pub cmd: &'static str,
    /// A line on stdout or stderr that says it is attached.
    pub ready: &'static str,
}

const NO_TRACEFS: &str = "umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null; true";
pub const TRACEFS: &str =
    "mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing";

/// Where the `record` monitors write (removed at the end of the run).
pub const RECORDING: &str = "/tmp/ipctop-bench.ipctop.zst";

/// Which of [`monitors`] the other sections use, by position.
pub const RECORD_RAW: usize = 0;
pub const RECORD: usize = 1;
pub const RECORD_EVERY_CALL: usize = 2;
pub const DASHBOARD: usize = 3;
pub const COUNT_ONE_LINER: usize = 5;
pub const TWO_PROGRAM_FLOOR: usize = 7;

pub fn monitors() -> Vec<Monitor> {
    vec![
        Monitor {
            name: "ipctop record --attach raw (in-kernel aggregation; raw sys_enter/sys_exit)",
            setup: NO_TRACEFS,
            cmd: "{ipctop} record --attach raw -o {out}",
            ready: "ipctop: recording to",
        },
        Monitor {
            name: "ipctop record (default: in-kernel aggregation; per-syscall tracepoints, tracefs mounted privately)",
            setup: NO_TRACEFS,
            cmd: "{ipctop} record -o {out}",
            ready: "ipctop: recording to",
        },
        Monitor {
            name: "ipctop record --every-call (per-syscall tracepoints)",
            setup: TRACEFS,
            cmd: "{ipctop} record --every-call -o {out}",
            ready: "ipctop: recording to",
        },
        Monitor {
            name: "ipctop, the live dashboard (120x40 pty; in-kernel aggregation; per-syscall tracepoints)",
            setup: TRACEFS,
            cmd: "script -qfec 'stty rows 40 cols 120; exec {ipctop}' /dev/null",
            ready: "Over",
        },
        Monitor {
            name: "ipctop trace --json > /dev/null (every call printed; per-syscall tracepoints)",
            setup: TRACEFS,
            cmd: "{ipctop} trace --json",
            ready: "ipctop: tracing",
        },
        Monitor {
            name: "bpftrace counting sys_enter_semtimedop per pid (the issue's reference)",
            setup: TRACEFS,
            cmd: "bpftrace -e 'tracepoint:syscalls:sys_enter_semtimedop { @[pid] = count(); }'",
            ready: "Attaching",
        },
        Monitor {
            name: "bpftrace semtimedop latency histogram (enter+exit, what measuring waits takes)",
            setup: TRACEFS,
            cmd: "bpftrace -e 'tracepoint:syscalls:sys_enter_semtimedop { @s[tid] = nsecs; } tracepoint:syscalls:sys_exit_semtimedop /@s[tid]/ { @h = hist(nsecs - @s[tid]); delete(@s[tid]); }'",
            ready: "Attaching",
        },
        Monitor {
            name: "floor: two near-empty programs on sys_enter_semtimedop and sys_exit_semtimedop (bpftrace)",
            setup: TRACEFS,
            cmd: "bpftrace -e 'tracepoint:syscalls:sys_enter_semtimedop { } tracepoint:syscalls:sys_exit_semtimedop { }'",
            ready: "Attaching",
        },
        Monitor {
            name: "floor: an idle BPF program on one unrelated syscall tracepoint (bpftrace, sys_enter_acct)",
            setup: TRACEFS,
            cmd: "bpftrace -e 'tracepoint:syscalls:sys_enter_acct { @ = count(); }'",
            ready: "Attaching",
        },
    ]
}

/// Keeps the last 64 bytes or so of `tail` (at a character boundary): enough for a pattern
/// split across two reads of a program's output.
pub fn keep_tail(tail: &mut String) {
    let keep = tail.len().saturating_sub(64);
    let cut = (keep..=tail.len())
        .find(|&i| tail.is_char_boundary(i))
        .unwrap_or(0);
    tail.drain(..cut);
}

/// A monitor started and attached; stopped (killed if need be) when dropped.
pub struct Running {
    child: Child,
}

impl Running {
    pub fn start(m: &Monitor, ipctop: &Path) -> Result<Running> {
        let cmd = m
            .cmd
            .replace("{ipctop}", &ipctop.display().to_string())
            .replace("{out}", RECORDING);
        let mut child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!("{}; exec {cmd}", m.setup))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", m.name))?;
        let (tx, rx) = mpsc::channel::<String>();
        for r in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            // Chunks, not lines: a full-screen program draws without newlines.
            std::thread::spawn(move || {
                let mut r = r;
                let mut buf = [0u8; 8192];
                let mut tail = String::new();
                loop {
                    match r.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            tail.push_str(&String::from_utf8_lossy(&buf[..n]));
                            let _ = tx.send(tail.clone());
                            keep_tail(&mut tail);
                        }
                    }
                }
            });
        }
        // From here on, the monitor is stopped (killed) whatever happens.
        let running = Running { child };
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(l) if l.contains(m.ready) => break,
                Ok(_) => {}
                Err(_) if Instant::now() > end => bail!("{} did not start", m.name),
                Err(_) => {
                    if let Some(st) = running.exited() {
                        bail!("{} exited at start ({st})", m.name);
                    }
                }
            }
        }
        // Keep draining its output (it goes nowhere) so that it never blocks on a pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        std::thread::sleep(Duration::from_millis(300));
        Ok(running)
    }

    /// The monitor's own process (under `script`, its child).
    pub fn pid(&self) -> u32 {
        Self::monitor_pid(self.child.id())
    }

    /// `pid`, or its child when `pid` is `script`.
    pub fn monitor_pid(pid: u32) -> u32 {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "script" {
            let kids = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            if let Some(k) = kids.split_whitespace().next().and_then(|k| k.parse().ok()) {
                return k;
            }
        }
        pid
    }

    /// SIGTERM, then up to 20 s for it to end (killed after that).
    /// Ends the monitor and waits until the kernel has freed its programs: ipctop ends at
    /// once and leaves the slow detach to a child of its own (`ipctop-detach`), during which
    /// the programs, stopped, still run; the next side of an interleaved comparison must not
    /// pay for them.
    pub fn stop(mut self) {
        let progs = super::probe::prog_ids(self.pid());
        signal(self.child.id(), Signal::SIGTERM as i32);
        let end = Instant::now() + Duration::from_secs(20);
        let mut ended = false;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                ended = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !ended {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // A monitor that will not let go is the next side's noise, not an error here.
        let _ = super::probe::wait_freed(&progs, end, Duration::from_millis(20));
    }

    /// Its exit status if it has ended (without reaping it: `Drop` and `stop` still see it).
    fn exited(&self) -> Option<ExitStatus> {
        use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
        use std::os::unix::process::ExitStatusExt;
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(
            Id::Pid(nix::unistd::Pid::from_raw(self.child.id() as i32)),
            flags,
        ) {
            Ok(WaitStatus::Exited(_, code)) => Some(ExitStatus::from_raw((code & 0xff) << 8)),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some(ExitStatus::from_raw(sig as i32)),
            _ => None,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // The monitor itself may be a child of what we started (script): end it first.
            let pid = self.pid();
            if pid != self.child.id() {
                signal(pid, Signal::SIGKILL as i32);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::keep_tail;

    #[test]
    fn the_tail_kept_is_short_and_whole_characters() {
        let mut t = "x".repeat(100) + "ipctop: recording to";
        keep_tail(&mut t);
        assert!(t.len() <= 64 && t.ends_with("recording to"), "{t}");
        // A cut that would fall inside a character moves past it.
        let mut t = "é".repeat(100);
        keep_tail(&mut t);
        assert_eq!(t, "é".repeat(32));
        let mut short = "Over".to_string();
        keep_tail(&mut short);
        assert_eq!(short, "Over");
    }
}
