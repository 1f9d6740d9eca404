//! ipctop: what every process does with System V IPC, live.
//!
//! Data flows one way (see ARCHITECTURE.md):
//! probe (kernel side, `probe`) → `decode` → [`event::Event`]s on a tokio channel →
//! state model (`model`) ← snapshots (`snapshot`) → analysis (`analysis`) → views (`cmd`, UI)
//! and recorder.
pub mod analysis;
pub mod cmd;
pub mod container;
pub mod decode;
pub mod event;
pub mod exit;
pub mod export;
pub mod feed;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod kernel_btf;
pub mod line;
pub mod live;
pub mod memory;
pub mod model;
pub mod output;
pub mod posix;
pub mod privmount;
pub mod probe;
pub mod record;
pub mod replay;
pub mod report;
pub mod sample;
pub mod snapshot;
pub mod sysv;
pub mod text;
pub mod ui;
