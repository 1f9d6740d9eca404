//! Recording, replay's reader and the report: real recordings of real workloads (root), and
//! damaged, foreign and odd input (any user).
#[path = "../support/mod.rs"]
mod support;

mod damage;
mod judged;
mod recorded;
mod replayed;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde_json::Value;
use support::{recording::*, *};

fn read_json(p: &Path) -> Value {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    serde_json::from_str(s.lines().next().unwrap_or("null")).unwrap_or(Value::Null)
}
