//! For the recording tests: a scratch directory and `ipctop report --json` on a file.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A new, empty scratch directory for one test.
pub fn tmpdir(tag: &str) -> TempDir {
    let p = std::env::temp_dir().join(format!("ipctop-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    TempDir(p)
}

/// `ipctop report FILE --json EXTRA…`: its exit code, document and stderr.
pub fn report(file: &Path, extra: &[&str]) -> (Option<i32>, Value, String) {
    let out = Command::new(super::IPCTOP)
        .arg("report")
        .arg(file)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v, stderr)
}
