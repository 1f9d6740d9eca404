//! Shared by the hostile-input and hostile-terminal tests (issue 18): temporary
//! directories, running ipctop with a time limit, the demo recording as lines, and checks
//! that output is inert and no panic happened.
use std::{
    fs,
    io::Read,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use super::IPCTOP;

/// A process name made of terminal escapes: clear the screen, retitle the window, bell.
pub const HOSTILE: &str = "\x1b[2J\x1b]0;PWN\x07";
/// How it must show: escaped, inert.
pub const HOSTILE_SHOWN: &str = "\\x1b[2J\\x1b]0;PWN\\x07";

pub const NOBODY: u32 = 65534;

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);
impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("ipctop-harden-{tag}-{}-{seq}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn join(&self, s: &str) -> PathBuf {
        self.0.join(s)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs ipctop with `args` (killed after 60 s: a hang fails the test instead of blocking it).
pub fn ipctop(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, Vec<u8>, String) {
    let out = Command::new("timeout")
        .arg("60")
        .arg(IPCTOP)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn demo_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/demo.ipctop.zst")
}

/// The demo recording, decompressed: header line, then records.
pub fn demo_lines() -> Vec<String> {
    let mut s = String::new();
    zstd::Decoder::new(fs::File::open(demo_path()).unwrap())
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    s.lines().map(str::to_string).collect()
}

pub fn write_lines(p: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    fs::write(p, s).unwrap();
}

/// No byte of a terminal control sequence (ESC, BEL, CSI as C1) in what ipctop printed.
pub fn assert_inert(what: &str, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| c != '\n' && c.is_control())
        .collect();
    assert!(
        bad.is_empty(),
        "{what} printed raw control characters {bad:?}:\n{text}"
    );
}

pub fn assert_no_panic(what: &str, stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{what} panicked: {stderr}"
    );
}

pub fn as_nobody(cmd: &str, args: &[&Path]) {
    let st = Command::new(cmd)
        .args(args)
        .uid(NOBODY)
        .gid(NOBODY)
        .status()
        .unwrap();
    assert!(st.success(), "{cmd} {args:?} as nobody");
}
