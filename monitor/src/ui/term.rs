//! The terminal: raw mode and the alternate screen while the dashboard runs, restored on every
//! way out — the guard's drop (`q`, Ctrl-C, errors), SIGTERM/SIGHUP/SIGINT (a flag the loop
//! checks, so the drop runs), and panics (a hook that restores before the message prints).
use std::{
    io::{self, Stdout, Write},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Once,
    },
};

use ratatui::{
    backend::CrosstermBackend,
    crossterm::{
        cursor, execute,
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
        let _ = execute!(out, LeaveAlternateScreen, cursor::Show);
        let _ = out.flush();
    }
}

/// The dashboard's terminal; restored when dropped.
pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
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
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut out = io::stdout();
        if let Err(e) = execute!(out, EnterAlternateScreen, cursor::Hide) {
            restore();
            return Err(e.into());
        }
        match Terminal::new(CrosstermBackend::new(out)) {
            Ok(terminal) => Ok(Self { terminal }),
            Err(e) => {
                restore();
                Err(e.into())
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Set when SIGTERM, SIGHUP or SIGINT arrives: the loop ends and the guard restores.
/// SIGWINCH (a resize) sets its own flag.
pub struct Signals {
    flag: Arc<AtomicBool>,
    winch: Arc<AtomicBool>,
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
        ] {
            ids.push(signal_hook::flag::register(sig, flag.clone())?);
        }
        let winch = Arc::new(AtomicBool::new(false));
        ids.push(signal_hook::flag::register(
            signal_hook::consts::SIGWINCH,
            winch.clone(),
        )?);
        Ok(Self { flag, winch, ids })
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
/// crossterm's reader spins on a hung-up terminal (reads of 0 bytes) instead of returning.
pub fn wait_stdin(timeout: std::time::Duration) -> Stdin {
    let mut p = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, timeout.as_millis().min(i32::MAX as u128) as i32) };
    if r <= 0 {
        Stdin::Nothing
    } else if p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        Stdin::Gone
    } else {
        Stdin::Ready
    }
}
