//! The live dashboard (`ipctop` without a subcommand; also `ipctop replay`).
//!
//! ```text
//! Source ──drain()──▶ Store (Model::apply → Model and its account; the event log, findings,
//!                        │   the trends sampled at each account sample; a generation)
//!                        ▼
//!                  rows/ (per view a table of typed values and targets, details and
//!                        │   Problems as documents of links; built once per generation)
//!                        ▼
//! keys ──▶ App (view state: view, selections, filters, sort, namespace, pause, back stack;
//!                        │   what Enter opens and a detail's links, read from the rows)
//!                        ▼
//!              views::draw(frame, &mut App)   — draws the rows; records only scroll
//!                                               positions and where things were drawn
//! ```
//!
//! The files are layered, each importing only those below it (no import cycle:
//! `xtask/tests/architecture.rs` checks it): `theme`, `names`, `view`, `list`, `fmt`,
//! `trends`, `term` at the bottom; `store`; `rows/`; `keys`; `app` (the view state, what
//! Enter opens), with `input.rs` (keys) and `mouse.rs` (clicks, sorting) adding its
//! handlers; `views/`; this file.
//!
//! The loop wakes every 100 ms (or on a key, a resize, a signal) to drain the source. It redraws on a key, on a
//! resize, within 100 ms of new calls (events, calls starting to block), and once per tick
//! (1 s) otherwise — snapshots and counter samples alone wait for the tick. The terminal is
//! restored on every way out (see `term`).
pub mod app;
pub mod fmt;
mod input;
pub mod keys;
mod list;
mod mouse;
pub mod names;
pub mod rows;
pub mod store;
mod term;
pub mod theme;
pub mod trends;
pub mod view;
pub mod views;

use std::{
    io::IsTerminal,
    time::{Duration, Instant},
};

use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyModifiers};

pub use app::{Action, App, Target, View};
pub use store::{SessionInfo, Store};
pub use theme::Theme;

use crate::{
    analysis,
    event::clock_ns,
    exit,
    feed::{Source, Update},
};

/// How the dashboard runs.
#[derive(Clone, Debug)]
pub struct UiOptions {
    /// Host and kernel for the header (a replay passes the recording's).
    pub info: SessionInfo,
    pub cfg: analysis::Config,
    pub theme: Theme,
    /// Redraw period when nothing happens.
    pub tick: Duration,
    /// The namespaces shown (`--ipc-ns`, `--container`; every one by default).
    pub scope: crate::model::Scope,
    /// The file the session is also recorded to (`--record`), said in the header.
    pub recording: Option<String>,
}

impl Default for UiOptions {
    fn default() -> Self {
        Self {
            info: SessionInfo::here(),
            cfg: analysis::Config::default(),
            theme: Theme::from_env(),
            tick: Duration::from_secs(1),
            scope: crate::model::Scope::All,
            recording: None,
        }
    }
}

/// Fails with a clear sentence when stdout is not a terminal, or is one that cannot show the
/// dashboard (`TERM=dumb`: no cursor movement).
pub fn check_terminal() -> anyhow::Result<()> {
    if std::env::var("TERM").is_ok_and(|t| t == "dumb") {
        return Err(exit::Fatal::new(
            exit::USAGE,
            "TERM=dumb cannot show the dashboard (no cursor movement): use `ipctop trace` or \
             `ipctop snapshot`, or a terminal that can",
        )
        .into());
    }
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(exit::Fatal::new(
            exit::USAGE,
            "the dashboard needs a terminal: for output to a file or a pipe use \
             `ipctop trace`, `ipctop snapshot` or `ipctop record`",
        )
        .into());
    }
    Ok(())
}

/// Runs the dashboard on `source` until `q`, Ctrl-C, SIGTERM or SIGHUP; the terminal is
/// restored whatever happens. Live and replay sources alike.
pub fn run_with(mut source: Box<dyn Source>, opts: UiOptions) -> anyhow::Result<u8> {
    check_terminal()?;
    let signals = term::Signals::register()?;
    let mut store = Store::new(opts.info, source.probe_status(), opts.cfg);
    store.model.set_scope(opts.scope);
    store.recording = opts.recording;
    store.position = source.position();
    if store.position.is_some() {
        // A recording may come from another machine, with other names.
        store.names = names::Names::numeric();
    }
    store.ingest(&source.drain());
    let mut app = App::new(store, opts.theme);
    let mut guard = term::TerminalGuard::enter()?;
    term::start_watchdog();
    let r = run_loop(&mut guard, &mut app, source.as_mut(), &signals, opts.tick);
    drop(guard);
    match r {
        // The terminal went away with the session (SIGHUP): not an error.
        Err(_) if signals.fired() || term::stdin_state(Duration::ZERO) == term::Stdin::Gone => {
            Ok(exit::OK)
        }
        r => r,
    }
}

/// The heap's free memory goes back to the system every this many ticks (10 s).
const GIVE_BACK_TICKS: u64 = 10;

fn run_loop(
    guard: &mut term::TerminalGuard,
    app: &mut App,
    source: &mut dyn Source,
    signals: &term::Signals,
    tick: Duration,
) -> anyhow::Result<u8> {
    const POLL: Duration = Duration::from_millis(100);
    let draw = |guard: &mut term::TerminalGuard, app: &mut App| {
        guard.terminal.draw(|f| views::draw(f, app)).map(|_| ())
    };
    draw(guard, app)?;
    let mut next_tick = Instant::now() + tick;
    let mut ticks: u64 = 0;
    let mut pending = false;
    // A source that spent a while in its last drain (a replay catching up after a seek)
    // is drained again at once rather than after the usual wait.
    let mut busy = false;
    loop {
        term::beat();
        if signals.fired() {
            return Ok(exit::OK);
        }
        // Ctrl-Z (a key in raw mode) or a SIGTSTP from outside: stop properly.
        if signals.stop_requested() {
            if !guard.suspend()? {
                return Ok(exit::OK);
            }
            draw(guard, app)?;
        }
        // Keys (and resizes): each one drawn at once, so Enter acts on what is shown.
        // crossterm is only asked when stdin has bytes (it spins on a terminal that is
        // gone), and never to wait.
        let ready = match term::stdin_state(if busy { Duration::ZERO } else { POLL }) {
            term::Stdin::Gone => return Ok(exit::OK),
            term::Stdin::Nothing => false,
            term::Stdin::Ready => true,
        };
        // A resize: crossterm's own resize event is taken at once (with the draw it asks
        // for), before a key can arrive beside it (see `events_pending`).
        let resized = signals.resized();
        if resized {
            draw(guard, app)?;
        }
        if (ready || resized) && events_pending()? {
            loop {
                let ev = event::read()?;
                match ev {
                    TermEvent::Key(k)
                        if k.modifiers.contains(KeyModifiers::CONTROL)
                            && k.code == KeyCode::Char('z') =>
                    {
                        if !guard.suspend()? {
                            return Ok(exit::OK);
                        }
                        draw(guard, app)?;
                        break;
                    }
                    TermEvent::Key(_) | TermEvent::Mouse(_) => match match ev {
                        TermEvent::Key(k) => app.on_key(k),
                        TermEvent::Mouse(m) => app.on_mouse(m),
                        _ => Action::None,
                    } {
                        Action::Quit => return Ok(exit::OK),
                        Action::Redraw => draw(guard, app)?,
                        Action::Control(c) => {
                            source.control(c);
                            app.store.position = source.position();
                            draw(guard, app)?;
                        }
                        Action::None => {}
                    },
                    TermEvent::Resize(..) => draw(guard, app)?,
                    _ => {}
                }
                // More events: those crossterm parsed already, or bytes still waiting.
                // A terminal gone meanwhile ends the dashboard instead of a spinning read.
                if term::stdin_state(Duration::ZERO) == term::Stdin::Gone {
                    return Ok(exit::OK);
                }
                if !events_pending()? {
                    break;
                }
            }
        }
        // Data.
        let drained = Instant::now();
        let batch = source.drain();
        busy = drained.elapsed() >= Duration::from_millis(40);
        let calls = batch
            .iter()
            .any(|s| matches!(&s.update, Update::Events(v) | Update::InFlight(v) if !v.is_empty()));
        let seeked = batch.iter().any(|s| matches!(s.update, Update::Reset));
        app.store.ingest(&batch);
        let pos = source.position();
        let moved = pos != app.store.position;
        app.store.position = pos;
        pending |= !batch.is_empty() || moved;
        let now = Instant::now();
        let ticked = now >= next_tick;
        if ticked {
            next_tick = now + tick;
            if app.store.live() {
                app.store.tick(clock_ns(libc::CLOCK_MONOTONIC));
            }
            ticks += 1;
            if ticks.is_multiple_of(GIVE_BACK_TICKS) {
                crate::memory::give_back();
            }
        }
        let visible_change = app.frozen.is_none() && (calls || seeked || moved);
        if ticked || visible_change {
            if pending || ticked {
                draw(guard, app)?;
            }
            pending = false;
        }
    }
}

/// Whether crossterm has an event to read. Its reader waits on the terminal with an
/// edge-triggered epoll, and when a resize and a key arrive together it returns the resize
/// and loses the key's edge: the key would sit unread until the next one (the first key after
/// a resize was lost). So when the terminal has bytes that crossterm says it has no event
/// for, the terminal's input is made ready again (`term::rearm_input`) and crossterm asked
/// once more.
fn events_pending() -> std::io::Result<bool> {
    if event::poll(Duration::ZERO)? {
        return Ok(true);
    }
    if term::stdin_state(Duration::ZERO) != term::Stdin::Ready {
        return Ok(false);
    }
    term::rearm_input();
    event::poll(Duration::ZERO)
}

#[cfg(test)]
mod chart_tests;
#[cfg(test)]
mod fkeys_tests;
#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod keys_tests;
#[cfg(test)]
mod ns_sort_tests;
#[cfg(test)]
mod ns_view_tests;
#[cfg(test)]
mod posix_detail_tests;
#[cfg(test)]
mod problems_tests;
#[cfg(test)]
mod rows_tests;
#[cfg(test)]
mod tests;
