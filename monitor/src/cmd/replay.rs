//! `ipctop replay [FILE]`: a recording in the dashboard, on any machine, without root. With
//! no file, the demo recording built into ipctop.
use std::{io::BufReader, path::PathBuf};

use crate::{
    analysis, exit,
    record::{self, Reader},
    replay::ReplaySource,
    ui,
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
    /// Flag waits at least this long (seconds).
    #[arg(long, default_value_t = 10.0, value_name = "SECS", value_parser = super::threshold_secs)]
    pub long_wait: f64,
}

/// The built-in demo recording.
pub fn demo() -> anyhow::Result<Reader> {
    let dec = zstd::Decoder::new(std::io::Cursor::new(DEMO))?;
    record::from_reader(Box::new(BufReader::new(dec)), "the built-in demo")
        .map_err(|e| exit::Fatal::new(exit::USAGE, e.to_string()).into())
}

pub fn run(args: ReplayArgs) -> anyhow::Result<u8> {
    let reader = match &args.file {
        Some(p) => record::open(p).map_err(|e| exit::Fatal::new(exit::USAGE, e.to_string()))?,
        None => demo()?,
    };
    let info = ui::SessionInfo {
        host: crate::text::escape(&reader.header.host).into_owned(),
        kernel: crate::text::escape(&reader.header.kernel).into_owned(),
    };
    ui::check_terminal()?;
    let source = ReplaySource::new(reader, args.speed);
    ui::run_with(
        Box::new(source),
        ui::UiOptions {
            info,
            cfg: analysis::Config {
                long_wait_s: args.long_wait,
                ..Default::default()
            },
            ..Default::default()
        },
    )
}
