//! tmux for the end-to-end terminal tests: a server of our own per test (its own socket,
//! killed on drop with any ipctop left in its pane), keys, literal text, screen captures.
use std::{
    process::Command,
    thread,
    time::{Duration, Instant},
};

pub fn have_tmux(test: &str) -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        super::skip(test, "tmux is not installed");
    }
    ok
}

/// A tmux server of our own with one session running `sh`.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(tag: &str, w: u16, h: u16) -> Tmux {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = Tmux {
            socket: format!("ipctop-{tag}-{}-{seq}", std::process::id()),
        };
        t.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
            "env",
            "LANG=C.UTF-8",
            "TERM=xterm-256color",
            "PS1=$ ",
            "sh",
        ]);
        t.run(&["set-option", "-g", "window-size", "manual"]);
        t
    }

    pub fn run(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux");
        assert!(
            o.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "main"];
        a.extend_from_slice(keys);
        self.run(&a);
    }

    /// Types a line and Enter.
    pub fn line(&self, s: &str) {
        self.type_text(s);
        self.keys(&["Enter"]);
    }

    /// Types text literally.
    pub fn type_text(&self, s: &str) {
        self.run(&["send-keys", "-t", "main", "-l", s]);
    }

    pub fn capture(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "main"])
    }

    pub fn var(&self, v: &str) -> String {
        self.run(&["display-message", "-p", "-t", "main", v])
            .trim()
            .to_string()
    }

    pub fn resize(&self, w: u16, h: u16) {
        self.run(&[
            "resize-window",
            "-t",
            "main",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
    }

    /// Waits until the screen satisfies `f`; panics with the screen if it does not.
    pub fn wait_for(&self, what: &str, timeout: Duration, f: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + timeout;
        loop {
            let s = self.capture();
            if f(&s) {
                return s;
            }
            if Instant::now() > end {
                panic!("timed out waiting for {what}; the screen:\n{s}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pid of the `ipctop` running in the pane's shell.
    pub fn ipctop_pid(&self) -> Option<u32> {
        let o = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "display-message",
                "-p",
                "-t",
                "main",
                "#{pane_pid}",
            ])
            .output()
            .ok()?;
        let shell: u32 = String::from_utf8_lossy(&o.stdout).trim().parse().ok()?;
        for e in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some(close) = stat.rfind(')') else {
                continue;
            };
            let comm = &stat[stat.find('(').unwrap_or(0) + 1..close];
            let ppid: u32 = stat[close + 2..]
                .split_whitespace()
                .nth(1)
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            if ppid == shell && comm == "ipctop" {
                return Some(pid);
            }
        }
        None
    }

    /// Checks that the shell got its terminal back: main screen, cursor shown, cooked mode.
    pub fn assert_clean_shell(&self, exit: &str) {
        self.wait_for(&format!("EXIT={exit}"), Duration::from_secs(10), |s| {
            s.contains(&format!("EXIT={exit}"))
        });
        assert_eq!(
            self.var("#{alternate_on}"),
            "0",
            "still on the alternate screen"
        );
        assert_eq!(self.var("#{cursor_flag}"), "1", "the cursor is hidden");
        self.type_text(
            "case \"$(stty -a)\" in *' -icanon'*|*' -echo '*) echo TTY=RAW;; *) echo TTY=SANE;; esac",
        );
        self.keys(&["Enter"]);
        let s = self.wait_for("the tty check", Duration::from_secs(5), |s| {
            s.contains("TTY=SANE") || s.contains("TTY=RAW")
        });
        assert!(s.contains("TTY=SANE"), "the tty was left in raw mode:\n{s}");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // An ipctop left running by a failed test goes too.
        if let Some(pid) = self.ipctop_pid() {
            // SAFETY: killing a process this test started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}
