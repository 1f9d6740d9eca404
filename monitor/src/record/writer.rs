//! Writes a recording: header first, then one line per update, flushed at least every second.
use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use super::{
    delta::{Encoded, Encoder},
    encode_event, Body, End, Header, Line, FORMAT_VERSION,
};
use crate::feed::{Stamped, Update};

enum Sink {
    Plain(BufWriter<File>),
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
}

impl Sink {
    fn out(&mut self) -> &mut dyn Write {
        match self {
            Sink::Plain(w) => w,
            Sink::Zstd(z) => z,
        }
    }

    fn file(&mut self) -> &mut BufWriter<File> {
        match self {
            Sink::Plain(w) => w,
            Sink::Zstd(z) => z.get_mut(),
        }
    }
}

/// A recording being written. Call [`Recorder::finish`] for a clean end; dropping it without
/// flushes what was written (the reader then reports the missing end).
pub struct Recorder {
    sink: Option<Sink>,
    path: PathBuf,
    last_flush: Instant,
    lines: u64,
    /// Kernel samples after the first are written as changes.
    kernel: Encoder,
    /// The fork events lost as last written.
    forks_lost: u64,
    /// The last POSIX look written, its stamps cleared: a look is written when it differs.
    posix: Option<super::wire_posix::Posix>,
}

/// How often the recording reaches the file system at least.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

impl Recorder {
    /// Creates `path` safely (see `outfile`: a new file, mode 0600, given to
    /// SUDO_UID/SUDO_GID under sudo; a symlink, device, FIFO or socket of that name is
    /// refused, a regular file replaced), zstd when it ends in `.zst`, and writes the header.
    /// The file gets its name once the header is on disk, so a crash after that keeps it.
    pub fn create(path: &Path, header: &Header) -> anyhow::Result<Recorder> {
        let (file, mut placement) = super::outfile::create(path, super::outfile::sudo_owner())?;
        let buf = BufWriter::with_capacity(1 << 16, file);
        let sink = if path.extension().is_some_and(|e| e == "zst") {
            Sink::Zstd(zstd::Encoder::new(buf, 3)?)
        } else {
            Sink::Plain(buf)
        };
        let mut r = Recorder {
            sink: Some(sink),
            path: path.to_path_buf(),
            last_flush: Instant::now(),
            lines: 0,
            kernel: Encoder::default(),
            forks_lost: 0,
            posix: None,
        };
        let mut h = header.clone();
        h.ipctop_recording = FORMAT_VERSION;
        let written = r.write_json(&h).and_then(|_| r.flush_sink());
        if let Err(e) = written {
            r.sink = None;
            anyhow::bail!(
                "cannot write the recording {}: {e}",
                crate::text::path(path)
            );
        }
        placement.commit()?;
        Ok(r)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines written after the header.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    fn write_json<T: serde::Serialize>(&mut self, v: &T) -> io::Result<()> {
        let sink = self
            .sink
            .as_mut()
            .ok_or_else(|| io::Error::other("recording finished"))?;
        let mut line = serde_json::to_vec(v).map_err(io::Error::other)?;
        line.push(b'\n');
        sink.out().write_all(&line)
    }

    /// A write error that names the file (ENOSPC alone does not say where).
    fn named(&self, e: io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!(
                "writing the recording {}: {e}",
                crate::text::path(&self.path)
            ),
        )
    }

    /// Appends one update (and flushes if the last flush is a second old).
    pub fn write(&mut self, s: &Stamped) -> io::Result<()> {
        self.write_update(s).map_err(|e| self.named(e))
    }

    fn write_update(&mut self, s: &Stamped) -> io::Result<()> {
        let body = match &s.update {
            Update::Events(evs) => Body::Events(evs.iter().map(encode_event).collect()),
            Update::InFlight(evs) => Body::Inflight(evs.iter().map(encode_event).collect()),
            Update::Snapshot(snap) => Body::Snapshot(Box::new(snap.as_ref().into())),
            Update::Kernel(k) => match self.kernel.encode(k) {
                Encoded::Whole => Body::Kernel(Box::new(k.as_ref().into())),
                Encoded::Delta(d) => Body::KernelDelta(d),
            },
            Update::Posix(p) => {
                let mut w = super::wire_posix::Posix::from(p.as_ref());
                let (unix_ns, mono_ns) = (w.unix_ns, w.mono_ns);
                (w.unix_ns, w.mono_ns) = (0, 0);
                if self.posix.as_ref() == Some(&w) {
                    return Ok(());
                }
                self.posix = Some(w.clone());
                (w.unix_ns, w.mono_ns) = (unix_ns, mono_ns);
                Body::Posix(Box::new(w))
            }
            Update::Reset => return Ok(()),
        };
        self.write_json(&Line { t: s.mono_ns, body })?;
        self.lines += 1;
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush_sink()?;
        }
        Ok(())
    }

    /// Appends the fork events lost so far (`lost`, cumulative), when it grew.
    pub fn write_forks_lost(&mut self, t: u64, lost: u64) -> io::Result<()> {
        if lost <= self.forks_lost {
            return Ok(());
        }
        self.forks_lost = lost;
        let line = Line {
            t,
            body: Body::ForksLost(lost),
        };
        self.write_json(&line).map_err(|e| self.named(e))?;
        self.lines += 1;
        Ok(())
    }

    /// Appends processes forked in the recorded command's tree.
    pub fn write_forks(&mut self, t: u64, forks: &[super::forks::Fork]) -> io::Result<()> {
        if forks.is_empty() {
            return Ok(());
        }
        let line = Line {
            t,
            body: Body::Forks(forks.to_vec()),
        };
        self.write_json(&line).map_err(|e| self.named(e))?;
        self.lines += 1;
        Ok(())
    }

    /// Flushes if the last flush is at least a second old. Call it now and then when
    /// nothing is written.
    pub fn tick(&mut self) -> io::Result<()> {
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// Everything written so far goes to the file (a complete zstd block, readable as is).
    pub fn flush(&mut self) -> io::Result<()> {
        self.flush_sink().map_err(|e| self.named(e))
    }

    fn flush_sink(&mut self) -> io::Result<()> {
        if let Some(sink) = self.sink.as_mut() {
            sink.out().flush()?;
            sink.file().flush()?;
            let _ = sink.file().get_ref().sync_data();
        }
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Writes the end line and closes the file cleanly.
    pub fn finish(mut self, t: u64, reason: &str, exit_status: Option<i32>) -> io::Result<()> {
        self.end(t, reason, exit_status).map_err(|e| self.named(e))
    }

    fn end(&mut self, t: u64, reason: &str, exit_status: Option<i32>) -> io::Result<()> {
        self.write_json(&Line {
            t,
            body: Body::End(End {
                reason: reason.to_string(),
                exit_status,
            }),
        })?;
        self.close()
    }

    fn close(&mut self) -> io::Result<()> {
        match self.sink.take() {
            Some(Sink::Plain(mut w)) => {
                w.flush()?;
                let _ = w.get_ref().sync_data();
            }
            Some(Sink::Zstd(z)) => {
                let mut w = z.finish()?;
                w.flush()?;
                let _ = w.get_ref().sync_data();
            }
            None => {}
        }
        Ok(())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Not finished: keep what was written (no end line; the reader says so).
        if let Some(sink) = self.sink.as_mut() {
            let _ = sink.out().flush();
            let _ = sink.file().flush();
        }
    }
}
