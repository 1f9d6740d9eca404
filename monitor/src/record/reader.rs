//! Reads a recording back: the header, then one update after another, up to the end or to
//! the first damage (a cut line, a line that is not JSON, a compressed stream cut short),
//! which it reports instead of failing.
use std::{
    fs::File,
    io::{self, BufRead, BufReader, Read},
    path::Path,
};

use super::{
    decode_event, delta::Decoder, Body, End, Header, Line, FORMAT_VERSION, OLDEST_FORMAT_VERSION,
};
use crate::feed::{Stamped, Update};

/// Why a file cannot be read as a recording at all (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}: {1}")]
    Io(String, io::Error),
    #[error("{0} is a directory, not an ipctop recording")]
    Directory(String),
    #[error("{0} is empty, not an ipctop recording")]
    Empty(String),
    #[error("{0} is not an ipctop recording (its first line is not a recording header)")]
    NotARecording(String),
    #[error("{path} is an ipctop recording of format version {found}; this ipctop reads versions {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}")]
    Version { path: String, found: u64 },
    #[error(
        "{path} holds probe records of event version {found}; this ipctop reads versions {} to {}",
        EVENT_VERSIONS_READ.start(),
        EVENT_VERSIONS_READ.end()
    )]
    EventVersion { path: String, found: u16 },
}

/// The probe's event versions whose calls this reader decodes. The recording stores calls field
/// by field (`wire.rs`), not as raw records, so a version that changed no field's meaning for
/// the wire reads as well: 2 (load-time settings, msgrcv's `aux` = the mtype received) kept
/// every field of 1; 3 added two optional trailing fields (the IPC namespace and cgroup id),
/// unknown when an older record lacks them.
pub const EVENT_VERSIONS_READ: std::ops::RangeInclusive<u16> = 1..=monitor_ebpf::EVENT_VERSION;

/// Time may step back this much, plus one snapshot interval, behind the latest record (a
/// batch of calls is stamped with its first call); more is a damaged or reordered file. A
/// snapshot (or POSIX look) may step back any amount: it is stamped when its scan starts and written when it
/// is done, and a scan of a busy host took 7.8 s (the whole rest of a 10-minute soak's
/// recording was refused for it); it is applied where it was written, as live.
const BACKWARDS_SLACK_NS: u64 = 5_000_000_000;

/// The longest line read (a snapshot of a very busy machine is a few MiB).
const MAX_LINE: u64 = 64 << 20;

/// An open recording.
pub struct Reader {
    pub header: Header,
    lines: Box<dyn BufRead + Send>,
    line_no: u64,
    /// Where and why reading stopped early, once it has.
    damage: Option<String>,
    end: Option<End>,
    done: bool,
    /// The latest time seen so far.
    max_t: u64,
    /// The kernel sample the next `kernel_delta` line applies to.
    kernel: Decoder,
    /// The processes forked in the recorded command's tree, so far.
    forks: Vec<super::forks::Fork>,
    /// Times fork events were lost (a full socket), as last said.
    forks_lost: u64,
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Opens a recording and reads its header.
pub fn open(path: &Path) -> Result<Reader, ReadError> {
    let name = crate::text::escape(&path.display().to_string()).into_owned();
    if path.is_dir() {
        return Err(ReadError::Directory(name));
    }
    let mut file = open_file(path, &name)?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| ReadError::Io(name.clone(), e))?;
    if n == 0 {
        return Err(ReadError::Empty(name));
    }
    let head = io::Cursor::new(magic[..n].to_vec()).chain(file);
    let lines: Box<dyn BufRead + Send> = if n == 4 && magic == ZSTD_MAGIC {
        let dec = zstd::Decoder::new(head).map_err(|e| ReadError::Io(name.clone(), e))?;
        Box::new(BufReader::with_capacity(1 << 16, dec))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, head))
    };
    from_reader(lines, &name)
}

/// Reads a recording from any buffered reader (e.g. one embedded in the binary).
pub fn from_reader(mut lines: Box<dyn BufRead + Send>, name: &str) -> Result<Reader, ReadError> {
    let mut first = Vec::new();
    // A header is short; a file with no newline in its first MiB is not a recording.
    let n = (&mut lines)
        .take(1 << 20)
        .read_until(b'\n', &mut first)
        .map_err(|_| ReadError::NotARecording(name.to_string()))?;
    if n == 0 {
        return Err(ReadError::Empty(name.to_string()));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&first).map_err(|_| ReadError::NotARecording(name.to_string()))?;
    let Some(version) = v.get("ipctop_recording").and_then(|v| v.as_u64()) else {
        return Err(ReadError::NotARecording(name.to_string()));
    };
    if !(u64::from(OLDEST_FORMAT_VERSION)..=u64::from(FORMAT_VERSION)).contains(&version) {
        return Err(ReadError::Version {
            path: name.to_string(),
            found: version,
        });
    }
    let header: Header =
        serde_json::from_value(v).map_err(|_| ReadError::NotARecording(name.to_string()))?;
    if !EVENT_VERSIONS_READ.contains(&header.event_version) {
        return Err(ReadError::EventVersion {
            path: name.to_string(),
            found: header.event_version,
        });
    }
    Ok(Reader {
        header,
        lines,
        line_no: 1,
        damage: None,
        end: None,
        done: false,
        max_t: 0,
        kernel: Decoder::default(),
        forks: Vec::new(),
        forks_lost: 0,
    })
}

/// Opens the file to read. A FIFO (or `<(…)`) is opened without blocking, and if no data
/// comes within a second ipctop says what it waits for instead of hanging without a word.
fn open_file(path: &Path, name: &str) -> Result<File, ReadError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let io_err = |e| ReadError::Io(name.to_string(), e);
    let is_fifo = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo());
    if !is_fifo {
        return File::open(path).map_err(io_err);
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io_err)?;
    let wait = |ms: i32| {
        let mut p = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&file),
            events: libc::POLLIN,
            revents: 0,
        };
        loop {
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut p, 1, ms) };
            if r >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return r > 0;
            }
        }
    };
    if !wait(1000) {
        eprintln!(
            "ipctop: {name} is a FIFO with no data yet: waiting for a writer (Ctrl-C to stop)"
        );
        wait(-1);
    }
    // Blocking reads from here on.
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
    }
    Ok(file)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl Reader {
    /// Where and why reading stopped before the end, if it did.
    pub fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }

    /// The processes forked in the recorded command's tree (`(parent, child)`), as read so
    /// far.
    pub fn forks(&self) -> &[super::forks::Fork] {
        &self.forks
    }

    /// Times the recorder's fork events overflowed (processes forked then may be missing
    /// from the command's tree).
    pub fn forks_lost(&self) -> u64 {
        self.forks_lost
    }

    /// The end line, once read (absent after a crash).
    pub fn end(&self) -> Option<&End> {
        self.end.as_ref()
    }

    fn stop(&mut self, why: String) -> Option<Stamped> {
        self.damage = Some(why);
        self.done = true;
        None
    }

    /// The next update; `None` at the end or at the first damage (see [`Reader::damage`]).
    pub fn next_update(&mut self) -> Option<Stamped> {
        let mut buf = Vec::new();
        loop {
            if self.done {
                return None;
            }
            buf.clear();
            let n = match (&mut self.lines).take(MAX_LINE).read_until(b'\n', &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    let at = self.line_no + 1;
                    return self.stop(format!("stopped at line {at}: the file is damaged ({e})"));
                }
            };
            if n == 0 {
                self.done = true;
                if self.end.is_none() {
                    self.damage = Some(format!(
                        "the recording ends after line {} without its end mark (cut short: ipctop was killed or the file was truncated)",
                        self.line_no
                    ));
                }
                return None;
            }
            self.line_no += 1;
            let at = self.line_no;
            if buf.last() != Some(&b'\n') {
                return self.stop(if n as u64 >= MAX_LINE {
                    format!(
                        "stopped at line {at}: the line is longer than {} MiB",
                        MAX_LINE >> 20
                    )
                } else {
                    format!("stopped at line {at}: the line is cut off (truncated file)")
                });
            }
            if self.end.is_some() {
                return self.stop(format!(
                    "stopped at line {at}: records after the end mark (the file was put together wrongly)"
                ));
            }
            let line: Line = match serde_json::from_slice(&buf) {
                Ok(l) => l,
                Err(e) => {
                    return self.stop(format!("stopped at line {at}: not a valid record ({e})"))
                }
            };
            let slack = BACKWARDS_SLACK_NS
                .saturating_add(self.header.interval_ms.saturating_mul(1_000_000));
            // Fork lines are stamped when written — the feed may be seconds behind on a busy
            // host — and say nothing of the feed's time: neither checked nor moving it on.
            let forks = matches!(line.body, Body::Forks(_) | Body::ForksLost(_));
            let late_snapshot = matches!(line.body, Body::Snapshot(_) | Body::Posix(_));
            if line.t.saturating_add(slack) < self.max_t && !late_snapshot && !forks {
                return self.stop(format!(
                    "stopped at line {at}: time runs backwards ({:.1} s before an earlier record; the records are out of order)",
                    (self.max_t - line.t) as f64 / 1e9
                ));
            }
            if !forks {
                self.max_t = self.max_t.max(line.t);
            }
            let update = match line.body {
                // An empty in-flight list is news (nothing is in progress any more); an empty
                // batch of calls is not.
                Body::Events(w) if w.is_empty() => continue,
                Body::Events(w) => match w.iter().map(decode_event).collect() {
                    Ok(evs) => Update::Events(evs),
                    Err(e) => return self.stop(format!("stopped at line {at}: bad event ({e})")),
                },
                Body::Inflight(w) => match w.iter().map(decode_event).collect() {
                    Ok(evs) => Update::InFlight(evs),
                    Err(e) => return self.stop(format!("stopped at line {at}: bad event ({e})")),
                },
                Body::Snapshot(s) => Update::Snapshot(Box::new((*s).into())),
                Body::Posix(p) => Update::Posix(Box::new((*p).into())),
                Body::Kernel(k) => match crate::sample::KernelSample::try_from(&*k) {
                    Ok(k) => {
                        self.kernel.whole(&k);
                        Update::Kernel(Box::new(k))
                    }
                    Err(e) => return self.stop(format!("stopped at line {at}: {e}")),
                },
                Body::KernelDelta(d) => match self.kernel.apply(*d) {
                    Ok(k) => Update::Kernel(Box::new(k)),
                    Err(e) => return self.stop(format!("stopped at line {at}: {e}")),
                },
                Body::Forks(f) => {
                    self.forks.extend(f);
                    continue;
                }
                Body::ForksLost(n) => {
                    self.forks_lost = self.forks_lost.max(n);
                    continue;
                }
                Body::End(end) => {
                    self.end = Some(end);
                    continue;
                }
            };
            return Some(Stamped {
                mono_ns: line.t,
                update,
            });
        }
    }
}

impl Iterator for Reader {
    type Item = Stamped;
    fn next(&mut self) -> Option<Stamped> {
        self.next_update()
    }
}
