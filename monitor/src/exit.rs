//! Exit codes, and errors that carry their own.
use std::fmt;

/// Everything went as asked.
pub const OK: u8 = 0;
/// A runtime failure (or, for `report`, a `--fail-on` condition that was met).
pub const FAILURE: u8 = 1;
/// Bad usage or unreadable input.
pub const USAGE: u8 = 2;
/// The eBPF probe cannot run here (no permission, no BPF, built without it).
pub const NO_PROBE: u8 = 3;

/// An error that is one clear sentence for the user and a chosen exit code.
#[derive(Debug)]
pub struct Fatal {
    pub code: u8,
    pub message: String,
}

impl Fatal {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fatal {}

/// The exit code for an error: its own if it is a [`Fatal`], else [`FAILURE`].
pub fn code_of(err: &anyhow::Error) -> u8 {
    err.downcast_ref::<Fatal>().map_or(FAILURE, |f| f.code)
}

/// Whether an output error means the reader went away (`| head`): the output ends quietly
/// with the usual status, as with any Unix filter.
pub fn is_closed_pipe(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

/// Writes a whole document to stdout. A closed pipe ends it quietly (`Ok(false)`); any other
/// failure (ENOSPC on `> /dev/full`, EIO) is an error that names standard output (exit 1).
pub fn write_stdout(bytes: &[u8]) -> anyhow::Result<bool> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if is_closed_pipe(&e) => Ok(false),
        Err(e) => Err(Fatal::new(FAILURE, format!("cannot write to standard output: {e}")).into()),
    }
}

/// The signals that end a headless command cleanly (SIGINT, SIGTERM, SIGHUP: a closed
/// terminal or ssh session), set up once before the command says it has started so that a
/// signal right after that line still ends it cleanly. (The dashboard has its own, in
/// `ui::term`, which also restores the terminal.)
pub struct Stop {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Stop {
    /// Takes over the three signals (needs a tokio runtime).
    pub fn install() -> std::io::Result<Stop> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Stop {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the first of them; says which, as a recording's end names it.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "interrupted (SIGINT)",
            _ = self.term.recv() => "terminated (SIGTERM)",
            _ = self.hup.recv() => "hung up (SIGHUP)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Stop;

    /// Each of the three signals, sent to this process, is caught and named (none ends the
    /// test binary: tokio's handler stays installed for the process once set up).
    #[tokio::test(flavor = "current_thread")]
    async fn each_signal_that_ends_a_command_is_caught_and_named() {
        let mut stop = Stop::install().unwrap();
        for (sig, said) in [
            (nix::sys::signal::Signal::SIGHUP, "hung up (SIGHUP)"),
            (nix::sys::signal::Signal::SIGTERM, "terminated (SIGTERM)"),
            (nix::sys::signal::Signal::SIGINT, "interrupted (SIGINT)"),
        ] {
            nix::sys::signal::raise(sig).unwrap();
            let got = tokio::time::timeout(std::time::Duration::from_secs(10), stop.recv())
                .await
                .expect("the signal arrives");
            assert_eq!(got, said);
        }
    }
}
