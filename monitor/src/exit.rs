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
