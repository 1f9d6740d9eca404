//! Shared bits of the scenarios: the "ready" line, waiting to be released, clean-up.
use std::{
    io::{Read, Write},
    sync::atomic::{AtomicBool, Ordering},
};

use crate::sysv_mut;

static STOP: AtomicBool = AtomicBool::new(false);
static LEAVE: AtomicBool = AtomicBool::new(false);
static HOLD_FOR_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `--hold-for SECS` and `--leave`.
pub fn configure(hold_for: Option<f64>, leave: bool) {
    if let Some(s) = hold_for {
        HOLD_FOR_MS.store((s.max(0.0) * 1000.0) as u64 + 1, Ordering::SeqCst);
    }
    LEAVE.store(leave, Ordering::SeqCst);
}

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// SIGTERM/SIGINT only set a flag (no SA_RESTART, so a blocked call returns EINTR) and the
/// scenario cleans up.
pub fn install_signal_handlers() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let sa = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: a plain handler that only stores to an atomic.
        let _ = unsafe { sigaction(sig, &sa) };
    }
}

pub fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Prints the scenario's JSON line and flushes it.
pub fn ready(v: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// Holds until stdin reaches EOF or a signal comes (or for `--hold-for` seconds).
pub fn hold() {
    let ms = HOLD_FOR_MS.load(Ordering::SeqCst);
    if ms > 0 {
        let end = std::time::Instant::now() + std::time::Duration::from_millis(ms - 1);
        while !stopped() && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        return;
    }
    let mut buf = [0u8; 64];
    let mut stdin = std::io::stdin().lock();
    while !stopped() {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

/// IPC objects to remove on drop, whatever happened.
#[derive(Default)]
pub struct Cleanup {
    pub sems: Vec<i32>,
    pub shms: Vec<i32>,
    pub msgs: Vec<i32>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if LEAVE.load(Ordering::SeqCst) {
            return;
        }
        sysv_mut::remove_all(&self.sems, &self.shms, &self.msgs);
    }
}

/// A key nobody else uses: from our pid and a small salt.
pub fn unique_key(salt: i32) -> i32 {
    0x1C70_0000 ^ ((std::process::id() as i32) << 4) ^ salt
}

/// Sets this process's comm (prctl PR_SET_NAME; 15 bytes at most).
pub fn set_comm(name: &str) {
    let c = std::ffi::CString::new(name.as_bytes()).unwrap_or_default();
    let _ = nix::sys::prctl::set_name(&c);
}

/// Prints {"pid", "waiting": true} and waits for one line (or EOF) on stdin.
pub fn wait_go() {
    ready(serde_json::json!({"pid": std::process::id(), "waiting": true}));
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}
