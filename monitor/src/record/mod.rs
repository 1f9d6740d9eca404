//! Recordings: a session's feed ([`crate::feed::Stamped`] updates) written to a file, to be
//! replayed or reported on later, on any machine.
//!
//! Format (version [`FORMAT_VERSION`]): JSON lines, self-describing, optionally compressed as
//! one zstd stream (files ending in `.zst`; readers detect zstd by its magic, not the name).
//!
//! ```text
//! {"ipctop_recording":1,"ipctop_version":"0.1.0","kernel":"6.18.44","host":"vm",…}  header
//! {"t":123456789,"snapshot":{…}}          a /proc snapshot
//! {"t":123456999,"events":[[…],[…]]}      finished calls (the kernel's record, see WireCall)
//! {"t":123457000,"inflight":[[…]]}        calls in progress at that moment
//! {"t":123458000,"kernel":{…}}            the probe's counters and aggregates, whole
//! {"t":123459000,"kernel_delta":{…}}      what changed since the previous kernel line
//! {"t":123459500,"forks":[[ppid,pid,start]…]}  processes forked in the recorded command's tree
//! {"t":123459600,"forks_lost":1}          times fork events were lost so far (a full socket)
//! {"t":123459700,"posix":{…}}             a look at POSIX IPC, when it changed
//! {"t":129999999,"end":{"reason":"…"}}    a clean end (absent after a crash)
//! ```
//! `t` is CLOCK_MONOTONIC ns on the recording machine; the header carries the offset to wall
//! time. Events are stored as the probe's raw call records, so a replay decodes them with the
//! same code as live. The writer flushes at least every second (a crash or `kill -9` loses at
//! most that) and never rewrites what it wrote; a reader uses a damaged file up to the damage
//! and says where it stopped.
//!
//! Versions: 1 wrote every kernel sample whole; 2 writes the first whole and then only what
//! changed (`delta.rs`); the header names the recorded command's pid and `forks` lines the
//! processes forked from it ([`forks`]); 3 adds identities — a process's start (ticks) and
//! thread count, whether it is another ipctop, when a blocked thread went to sleep — and the
//! kernel rows keyed by their whole identity (process start, namespace), retired rows and the
//! tables' fill (absent fields of older files read as unknown); 4 gives each fork the
//! child's start (`[ppid, pid, start]`: a reused pid is not the command's) and counts the
//! fork events lost (`forks_lost`); 5 adds the looks at POSIX IPC (`posix`, written when
//! what they show changed); 6 the POSIX queue calls (`mq_*`: syscall indexes 12–17 in events
//! and in the kernel counters' arrays, then 18 long). Every version is read.
//!
//! The file's form is owned here: events are [`WireCall`]s (`wire.rs`), snapshots and kernel
//! samples and POSIX looks the types of `wire_snapshot.rs`, `wire_kernel.rs` and
//! `wire_posix.rs`, converted from and to the
//! internal ones (which have no serde), with golden files of each line in `snapshots/`.
mod delta;
pub mod forks;
#[macro_use]
mod mirror;
mod outfile;
mod reader;
mod wire;
mod wire_kernel;
mod wire_posix;
mod wire_snapshot;
mod writer;

pub use delta::KernelDelta;
pub use outfile::{check as check_output, CreateError};
pub use reader::{from_reader, open, ReadError, Reader};
pub use wire::{decode_event, encode_event, WireCall};
pub use writer::Recorder;

use serde::{Deserialize, Serialize};

/// The version of the format written; a reader reads this one and the older ones from
/// [`OLDEST_FORMAT_VERSION`], and refuses others.
pub const FORMAT_VERSION: u32 = 6;
/// The oldest format version read.
pub const OLDEST_FORMAT_VERSION: u32 = 1;

/// The first line of a recording.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Header {
    /// The format version ([`FORMAT_VERSION`]); its presence marks the file as a recording.
    pub ipctop_recording: u32,
    pub ipctop_version: String,
    /// Layout version of the probe's records in `events` lines.
    pub event_version: u16,
    pub kernel: String,
    pub host: String,
    /// CLOCK_REALTIME - CLOCK_MONOTONIC at the start (ns).
    pub clock_offset_ns: i64,
    /// Wall time of boot (ns since the epoch).
    pub boot_time_unix_ns: u64,
    pub started_unix_ns: u64,
    /// Snapshot period (ms).
    pub interval_ms: u64,
    /// Where the probe was attached, or why it could not run.
    pub probe: String,
    /// Whether every call was recorded (else: calls that stand out, plus kernel aggregates).
    pub every_call: bool,
    /// The command recorded (`ipctop record -- COMMAND…`), if any.
    pub command: Option<Vec<String>>,
    /// The pid of the recorded command (format 2; absent in older files): its process and
    /// every process forked from it are the command's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_pid: Option<u32>,
    /// Whether `forks` lines follow the command's process tree (format 2, when the kernel's
    /// process events could be listened to).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forks_followed: bool,
}

/// One line after the header.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Line {
    pub t: u64,
    #[serde(flatten)]
    pub body: Body,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    Events(Vec<WireCall>),
    Inflight(Vec<WireCall>),
    /// The file's form of a [`crate::snapshot::Snapshot`] (see `wire_snapshot.rs`).
    Snapshot(Box<wire_snapshot::Snapshot>),
    /// The file's form of a [`crate::sample::KernelSample`] (see `wire_kernel.rs`).
    Kernel(Box<wire_kernel::Sample>),
    KernelDelta(Box<KernelDelta>),
    Forks(Vec<forks::Fork>),
    /// Times the fork events overflowed their socket so far (format 4): the command's tree
    /// may miss processes forked then.
    ForksLost(u64),
    /// The file's form of a [`crate::posix::PosixSnapshot`] (format 5; see `wire_posix.rs`).
    Posix(Box<wire_posix::Posix>),
    End(End),
}

/// The lines after the header of the checked-in demo recording (format 1), as text and as
/// JSON: what the file-format tests read back.
#[cfg(test)]
fn demo_lines() -> Vec<(String, serde_json::Value)> {
    use std::io::BufRead;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/demo.ipctop.zst");
    let file = std::fs::File::open(path).unwrap();
    let text = std::io::BufReader::new(zstd::Decoder::new(file).unwrap());
    let lines = text.lines().skip(1).map(|l| {
        let l = l.unwrap();
        let v = serde_json::from_str(&l).unwrap();
        (l, v)
    });
    lines.collect()
}

/// How a recording ended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct End {
    pub reason: String,
    /// The exit status of the recorded command, if one was recorded.
    pub exit_status: Option<i32>,
}

/// A source whose updates are also recorded: the dashboard with `--record FILE`. The file
/// gets its end mark when this is dropped.
pub struct Tee {
    inner: Box<dyn crate::feed::Source>,
    rec: Option<Recorder>,
    /// The first write error, said once on drop (the dashboard goes on meanwhile).
    error: Option<std::io::Error>,
}

impl Tee {
    pub fn new(inner: Box<dyn crate::feed::Source>, rec: Recorder) -> Tee {
        Tee {
            inner,
            rec: Some(rec),
            error: None,
        }
    }
}

impl crate::feed::Source for Tee {
    fn drain(&mut self) -> Vec<crate::feed::Stamped> {
        let v = self.inner.drain();
        if let Some(rec) = self.rec.as_mut() {
            let r = v
                .iter()
                .try_for_each(|s| rec.write(s))
                .and_then(|_| rec.tick());
            if let Err(e) = r {
                // Keep what was written; stop recording, say why at the end.
                self.error = Some(e);
                self.rec = None;
            }
        }
        v
    }

    fn probe_status(&self) -> crate::feed::ProbeStatus {
        self.inner.probe_status()
    }

    fn control(&mut self, c: crate::feed::Control) {
        self.inner.control(c)
    }

    fn position(&self) -> Option<crate::feed::Position> {
        self.inner.position()
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        if let Some(rec) = self.rec.take() {
            let path = crate::text::path(rec.path());
            let t = crate::event::clock_ns(libc::CLOCK_MONOTONIC);
            match rec.finish(t, "the dashboard was closed", None) {
                Ok(()) => eprintln!("ipctop: recorded to {path}"),
                Err(e) => eprintln!("ipctop: the recording {path} could not be finished: {e}"),
            }
        }
        if let Some(e) = &self.error {
            eprintln!("ipctop: recording stopped early: {e} (what was written before is kept)");
        }
    }
}
