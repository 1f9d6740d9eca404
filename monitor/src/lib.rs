//! ipctop: what every process does with System V IPC, live.
//!
//! Data flows one way (see ARCHITECTURE.md):
//! probe (kernel side, `probe`) → `decode` → [`event::Event`]s on a tokio channel →
//! state model (`model`) ← snapshots (`snapshot`) → analysis (`analysis`) → views (`cmd`, UI)
//! and recorder.
pub mod cmd;
pub mod decode;
pub mod event;
pub mod exit;
pub mod line;
pub mod probe;
pub mod sysv;
