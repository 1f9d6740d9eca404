//! The terminal: raw mode, the alternate screen and mouse capture while the dashboard runs,
//! restored on every
//! way out — the guard's drop (`q`, Ctrl-C, errors), SIGTERM/SIGHUP/SIGINT/SIGQUIT (a flag the
//! loop checks, so the drop runs), and panics (a hook that restores before the message
//! prints). Job control: SIGTSTP (or Ctrl-Z) restores the terminal, stops, and on SIGCONT
//! enters it again and redraws. A terminal that went away (hung up, read of 0 bytes, EIO)
//! ends the dashboard whatever it was doing; crossterm is only asked to read when the
//! terminal has bytes, because its reader spins forever on a read of 0 bytes.
use std::{
    io::{self, Stdout, Write},
    mem::ManuallyDrop,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Once,
    },
    time::Duration,
};

use ratatui::{
    backend::CrosstermBackend,
    crossterm::{
        cursor,
        event::{DisableMouseCapture, EnableMouseCapture},
        execute,
        terminal::{self, EnterAlternateScreen, LeaveAlternateScreen},
    },
    Terminal,
};

/// Whether the terminal is in our mode (so that restoring twice does nothing).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Puts the terminal back: cooked mode, main screen, cursor shown. Idempotent; errors are
/// ignored (after SIGHUP the terminal may be gone).
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = terminal::disable_raw_mode();
        let mut out = io::stdout();
        let _ = execute!(out, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
        let _ = out.flush();
    }
}

/// The dashboard's terminal; restored when dropped.
pub struct TerminalGuard {
    pub terminal: ManuallyDrop<Terminal<CrosstermBackend<Stdout>>>,
}

/// Raw mode, the alternate screen, no cursor (again after a stop).
fn enter_mode() -> anyhow::Result<()> {
    terminal::enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    if let Err(e) = execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        cursor::Hide
    ) {
        restore();
        return Err(e.into());
    }
    Ok(())
}

impl TerminalGuard {
    pub fn enter() -> anyhow::Result<Self> {
        HOOK.call_once(|| {
            let prev = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                prev(info);
            }));
        });
        enter_mode()?;
        match Terminal::new(CrosstermBackend::new(io::stdout())) {
            Ok(terminal) => Ok(Self {
                terminal: ManuallyDrop::new(terminal),
            }),
            Err(e) => {
                restore();
                Err(e.into())
            }
        }
    }

    /// Job control: gives the terminal back, stops the process (as SIGTSTP would have), and
    /// once continued takes the terminal again and makes the next draw a full one. Returns
    /// false when the terminal is gone by then.
    pub fn suspend(&mut self) -> anyhow::Result<bool> {
        restore();
        let _ = signal_hook::low_level::emulate_default_handler(signal_hook::consts::SIGTSTP);
        // Continued (SIGCONT).
        if stdin_state(Duration::ZERO) == Stdin::Gone {
            return Ok(false);
        }
        enter_mode()?;
        self.terminal.clear()?;
        Ok(true)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
        // ratatui's own drop shows the cursor and, on a terminal that is gone, prints
        // "Failed to show the cursor" over the user's shell: let it run only if it can work.
        if self.terminal.show_cursor().is_ok() {
            // SAFETY: dropped once, here, and never used after.
            unsafe { ManuallyDrop::drop(&mut self.terminal) };
        }
    }
}

/// Set when SIGTERM, SIGHUP, SIGINT or SIGQUIT arrives: the loop ends and the guard
/// restores. SIGWINCH (a resize) and SIGTSTP (stop) set their own flags.
pub struct Signals {
    flag: Arc<AtomicBool>,
    winch: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    ids: Vec<signal_hook::SigId>,
}

impl Signals {
    pub fn register() -> anyhow::Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        let mut ids = Vec::new();
        for sig in [
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGQUIT,
        ] {
            ids.push(signal_hook::flag::register(sig, flag.clone())?);
        }
        let winch = Arc::new(AtomicBool::new(false));
        ids.push(signal_hook::flag::register(
            signal_hook::consts::SIGWINCH,
            winch.clone(),
        )?);
        let stop = Arc::new(AtomicBool::new(false));
        ids.push(signal_hook::flag::register(
            signal_hook::consts::SIGTSTP,
            stop.clone(),
        )?);
        Ok(Self {
            flag,
            winch,
            stop,
            ids,
        })
    }

    /// Whether a SIGTSTP asked the dashboard to stop since the last call.
    pub fn stop_requested(&self) -> bool {
        self.stop.swap(false, Ordering::SeqCst)
    }

    pub fn fired(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Whether the terminal was resized since the last call.
    pub fn resized(&self) -> bool {
        self.winch.swap(false, Ordering::SeqCst)
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// What stdin has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdin {
    Ready,
    Nothing,
    /// The terminal hung up (ssh dropped, tmux killed): nobody will ever type again.
    Gone,
}

/// Waits up to `timeout` for input (a signal cuts the wait short). Our own poll(2), because
/// crossterm's reader spins on a hung-up terminal (reads of 0 bytes, or EIO) instead of
/// returning: `Ready` means bytes are there to read now, so crossterm's read returns them.
pub fn stdin_state(timeout: Duration) -> Stdin {
    let mut p = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, timeout.as_millis().min(i32::MAX as u128) as i32) };
    if r < 0 {
        return Stdin::Nothing;
    }
    if p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        return Stdin::Gone;
    }
    // A terminal that is not there any more: its ioctls fail (EIO after a hangup).
    // SAFETY: tcgetpgrp on fd 0.
    let fg = unsafe { libc::tcgetpgrp(0) };
    if fg < 0 {
        return Stdin::Gone;
    }
    if r == 0 {
        return Stdin::Nothing;
    }
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int.
    let rc = unsafe { libc::ioctl(0, libc::FIONREAD, &mut n) };
    if rc < 0 || n == 0 {
        // Readable with nothing to read: end of file, the terminal is gone.
        return Stdin::Gone;
    }
    // In the background (after `bg`) a read would stop us (SIGTTIN) or fail: leave the
    // bytes to the foreground job.
    // SAFETY: getpgrp has no failure.
    if fg != unsafe { libc::getpgrp() } {
        return Stdin::Nothing;
    }
    Stdin::Ready
}

/// Makes the terminal's input ready again for a reader that waits on its edge: the terminal's
/// own settings set again, unchanged (tcsetattr), which wakes whoever waits to read it — and
/// an edge-triggered epoll (crossterm's) reports the bytes still there as new. Changes nothing.
pub fn rearm_input() {
    // SAFETY: a termios filled by tcgetattr on fd 0, and set back as it was.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) == 0 {
            libc::tcsetattr(0, libc::TCSANOW, &t);
        }
    }
}

/// The loop's heartbeat (CLOCK_MONOTONIC seconds of its last turn), for the watchdog.
static HEARTBEAT: AtomicU64 = AtomicU64::new(0);

fn mono_s() -> u64 {
    crate::event::clock_ns(libc::CLOCK_MONOTONIC) / 1_000_000_000
}

/// The loop calls this on every turn.
pub fn beat() {
    HEARTBEAT.store(mono_s(), Ordering::Relaxed);
}

/// A last line of defence against a busy loop on a lost terminal: should the loop be stuck
/// (no heartbeat for 3 s) while the terminal is gone — inside a library that spins on it —
/// restore what can be restored and end the process. Never fires while the loop turns.
pub fn start_watchdog() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        beat();
        let _ = std::thread::Builder::new()
            .name("ipctop-watchdog".into())
            .spawn(|| loop {
                std::thread::sleep(Duration::from_millis(500));
                if !ACTIVE.load(Ordering::SeqCst) {
                    continue;
                }
                let stale = mono_s().saturating_sub(HEARTBEAT.load(Ordering::Relaxed)) >= 3;
                if stale && stdin_state(Duration::ZERO) == Stdin::Gone {
                    restore();
                    std::process::exit(0);
                }
            });
    });
}
