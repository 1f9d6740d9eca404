//! `ipctop replay [FILE]`: a recording in the dashboard, on any machine, without root. With
//! no file, the demo recording built into ipctop.
use std::{
    io::BufReader,
    path::{Path, PathBuf},
    sync::Arc,
};

use crate::{
    analysis, exit,
    record::{self, ReadError, Reader},
    replay::{Opener, ReplaySource},
    text, ui,
};

/// The demo recording (`cargo xtask demo` makes it again).
static DEMO: &[u8] = include_bytes!("../../../assets/demo.ipctop.zst");

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The recording (plain or .zst); without it, the built-in demo.
    pub file: Option<PathBuf>,
    /// Playback speed (2 = twice as fast; 1/64 to 256).
    #[arg(long, default_value_t = 1.0, value_parser = super::number_in(1.0 / 64.0, 256.0, "times real time"))]
    pub speed: f64,
    /// Flag waits at least this long (seconds; the same default as the dashboard, `snapshot`
    /// and `report`).
    #[arg(long, default_value_t = crate::analysis::LONG_WAIT_S, value_name = "SECS", value_parser = super::threshold_secs)]
    pub long_wait: f64,
    /// `--ipc-ns INODE` or `--container NAME`: only those namespaces (a pid names a process
    /// running here, not one of the recording).
    #[command(flatten)]
    pub scope: super::ScopeArgs,
}

/// The built-in demo recording.
pub fn demo() -> anyhow::Result<Reader> {
    demo_reader().map_err(|e| exit::Fatal::new(exit::USAGE, e.to_string()).into())
}

fn demo_reader() -> Result<Reader, ReadError> {
    let dec = zstd::Decoder::new(std::io::Cursor::new(DEMO))
        .map_err(|e| ReadError::Io("the built-in demo".into(), e))?;
    record::from_reader(Box::new(BufReader::new(dec)), "the built-in demo")
}

/// Opens a recording again and again: replay streams it, and reads it from the start to
/// learn its length and to seek back.
pub fn opener(file: Option<&Path>) -> Result<Opener, ReadError> {
    let Some(p) = file else {
        return Ok(Arc::new(demo_reader));
    };
    let name = text::escape(&p.display().to_string()).into_owned();
    // A pipe or a device can be read only once: replay needs a file.
    match std::fs::metadata(p) {
        Ok(m) if !m.is_file() && !m.is_dir() => {
            return Err(ReadError::Io(
                name,
                std::io::Error::other(
                    "not a regular file; replay reads a recording more than once (to seek), \
                     so it needs a file (`ipctop report` reads pipes)",
                ),
            ))
        }
        _ => {}
    }
    let p: PathBuf = p.to_path_buf();
    Ok(Arc::new(move || record::open(&p)))
}

pub fn run(args: ReplayArgs) -> anyhow::Result<u8> {
    let usage = |e: ReadError| exit::Fatal::new(exit::USAGE, e.to_string());
    let open = opener(args.file.as_deref()).map_err(usage)?;
    let source = ReplaySource::new(open, args.speed).map_err(usage)?;
    let header = source.header();
    let info = ui::SessionInfo {
        host: text::escape(&header.host).into_owned(),
        kernel: text::escape(&header.kernel).into_owned(),
    };
    ui::check_terminal()?;
    ui::run_with(
        Box::new(source),
        ui::UiOptions {
            info,
            cfg: analysis::Config {
                long_wait_s: args.long_wait,
                ..Default::default()
            },
            scope: args.scope.scope(),
            ..Default::default()
        },
    )
}
