//! The battery's processes: spawned in a process group of their own (killed whole on drop,
//! and sent SIGTERM if the thread that started them dies), read line by line; a plain HTTP
//! GET; a tmux server of our own for the dashboard.
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::{mpsc, Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{kill, killpg, Signal},
    unistd::Pid,
};
use serde_json::Value;

/// For a process to start, say something, or end, on a loaded machine.
pub const SLOW: Duration = Duration::from_secs(90);

/// Runs a command to its end (at most [`SLOW`]): exit code, stdout, stderr.
pub fn run(what: &str, cmd: &mut Command) -> Result<(Option<i32>, String, String), String> {
    let mut p = Spawned::start(what, cmd)?;
    let st = p
        .wait(SLOW)
        .ok_or_else(|| format!("{what} did not end within {SLOW:?}"))?;
    let out = p.rest(Duration::from_secs(5)).join("\n");
    Ok((st.code(), out, p.stderr()))
}

/// A child process and its output.
pub struct Spawned {
    pub what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: mpsc::Receiver<String>,
    /// Every stdout line read so far by [`Spawned::lines_until`] and friends.
    pub seen: Vec<String>,
    err: Arc<Mutex<Vec<String>>>,
    status: Option<ExitStatus>,
}

impl Spawned {
    /// Starts `cmd` (`what` names it in errors) with piped stdin, stdout and stderr.
    pub fn start(what: &str, cmd: &mut Command) -> Result<Spawned, String> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: only async-signal-safe work between fork and exec (one prctl).
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        let mut child = cmd.spawn().map_err(|e| format!("cannot run {what}: {e}"))?;
        let stdin = child.stdin.take();
        let (tx, out) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let err = Arc::new(Mutex::new(Vec::new()));
        let (e2, stderr) = (Arc::clone(&err), child.stderr.take().expect("piped"));
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                e2.lock().unwrap().push(line);
            }
        });
        Ok(Spawned {
            what: what.to_string(),
            child,
            stdin,
            out,
            seen: Vec::new(),
            err,
            status: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stderr so far, one string.
    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().join("\n")
    }

    /// Waits for a stderr line containing `what`.
    pub fn wait_stderr(&mut self, what: &str, timeout: Duration) -> Result<(), String> {
        let end = Instant::now() + timeout;
        loop {
            if self.err.lock().unwrap().iter().any(|l| l.contains(what)) {
                return Ok(());
            }
            if let Some(st) = self.try_wait() {
                return Err(format!(
                    "{} ended ({st}) before saying {what:?}: {}",
                    self.what,
                    self.stderr()
                ));
            }
            if Instant::now() > end {
                return Err(format!(
                    "{} did not say {what:?} within {timeout:?}: {}",
                    self.what,
                    self.stderr()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The next stdout line that is a JSON object with `"phase": phase`.
    pub fn phase(&mut self, phase: &str, timeout: Duration) -> Result<Value, String> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if let Ok(v) = serde_json::from_str::<Value>(&l) {
                        if v["phase"] == phase {
                            return Ok(v);
                        }
                    }
                }
                Err(_) => {
                    return Err(format!(
                        "{} did not say {phase:?} within {timeout:?} (stdout {:?}, stderr {})",
                        self.what,
                        self.seen,
                        self.stderr()
                    ))
                }
            }
        }
    }

    /// Every stdout line that came, without waiting.
    pub fn drain(&mut self) -> Vec<String> {
        let v: Vec<String> = self.out.try_iter().collect();
        self.seen.extend(v.iter().cloned());
        v
    }

    /// Every stdout line until EOF, waiting at most `timeout` for each.
    pub fn rest(&mut self, timeout: Duration) -> Vec<String> {
        let mut v = Vec::new();
        while let Ok(l) = self.out.recv_timeout(timeout) {
            v.push(l);
        }
        self.seen.extend(v.iter().cloned());
        v
    }

    pub fn send_line(&mut self, s: &str) -> Result<(), String> {
        let w = self.stdin.as_mut().ok_or("stdin closed")?;
        w.write_all(format!("{s}\n").as_bytes())
            .and_then(|_| w.flush())
            .map_err(|e| format!("writing to {}: {e}", self.what))
    }

    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Signals it, if it has not ended (a reaped child's pid may be someone else's).
    pub fn signal(&mut self, sig: Signal) {
        if self.try_wait().is_none() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), sig);
        }
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits for the exit at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if Instant::now() > end {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM (or stdin closed, for a workload), then at most `timeout`; then the whole
    /// group SIGKILLed. The exit status, if it exited by itself.
    pub fn stop(&mut self, how: Stop, timeout: Duration) -> Option<ExitStatus> {
        match how {
            Stop::Term => self.signal(Signal::SIGTERM),
            Stop::CloseStdin => self.close_stdin(),
        }
        let st = self.wait(timeout);
        if st.is_none() {
            self.kill_group();
        }
        st
    }

    /// SIGKILL to its process group, then reaped (call it only while it runs: the group's id is
    /// its pid, not reusable until it is reaped).
    fn kill_group(&mut self) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        if let Ok(st) = self.child.wait() {
            self.status = Some(st);
        }
    }
}

/// How to ask a process to end.
#[derive(Clone, Copy)]
pub enum Stop {
    Term,
    CloseStdin,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Still running: it and its group (a workload's children, a recorded command) go. A
        // leader already reaped is left alone: its pid, and so the group's id, may be reused.
        if self.try_wait().is_none() {
            self.kill_group();
        }
    }
}

/// A port nobody listens on now (for `serve --listen`).
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// GET `path` from 127.0.0.1:`port` (HTTP/1.0: no chunks); the body of a 200.
pub fn http_get(port: u16, path: &str) -> Result<String, String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect to :{port}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header")?;
    if !head.starts_with("HTTP/1.") || !head.contains(" 200 ") {
        return Err(format!("HTTP {}", head.lines().next().unwrap_or("")));
    }
    Ok(body.to_string())
}

/// A tmux server of our own running one command in a pane kept after it exits (so that its
/// last words can be read), killed on drop.
pub struct Tmux {
    socket: String,
    conf: PathBuf,
}

impl Tmux {
    /// `cmd` in a `w`x`h` pane, UTF-8, xterm-256color.
    pub fn start(tag: &str, w: u16, h: u16, cmd: &[String]) -> Result<Tmux, String> {
        let socket = format!("ipctop-battery-{tag}-{}", std::process::id());
        let conf = std::env::temp_dir().join(format!("{socket}.conf"));
        std::fs::write(&conf, "set -g remain-on-exit on\nset -g status off\n")
            .map_err(|e| format!("tmux config: {e}"))?;
        let t = Tmux { socket, conf };
        let (w, h) = (w.to_string(), h.to_string());
        let mut args: Vec<&str> = vec![
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            &w,
            "-y",
            &h,
            "env",
            "LANG=C.UTF-8",
            "TERM=xterm-256color",
        ];
        args.extend(cmd.iter().map(String::as_str));
        t.run(&args)?;
        Ok(t)
    }

    fn run(&self, args: &[&str]) -> Result<String, String> {
        let o = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.conf)
            .args(args)
            .output()
            .map_err(|e| format!("tmux: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "tmux {args:?}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    pub fn keys(&self, keys: &[&str]) -> Result<(), String> {
        let mut a = vec!["send-keys", "-t", "main"];
        a.extend_from_slice(keys);
        self.run(&a).map(drop)
    }

    pub fn capture(&self) -> Result<String, String> {
        self.run(&["capture-pane", "-p", "-t", "main"])
    }

    /// Whether the command in the pane has ended.
    pub fn dead(&self) -> bool {
        self.run(&["display-message", "-p", "-t", "main", "#{pane_dead}"])
            .map_or(true, |s| s.trim() == "1")
    }

    /// Waits until the screen satisfies `f`; the screen.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        f: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let end = Instant::now() + timeout;
        loop {
            let s = self.capture()?;
            if f(&s) {
                return Ok(s);
            }
            if Instant::now() > end || self.dead() {
                return Err(format!(
                    "the dashboard never showed {what}; its screen:\n{s}"
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // The pane's process gets SIGHUP and restores the terminal; the server goes, and
        // the socket file it leaves.
        let _ = self.run(&["kill-server"]);
        let _ = std::fs::remove_file(&self.conf);
        let dir = std::env::var("TMUX_TMPDIR").unwrap_or_else(|_| "/tmp".into());
        let uid = nix::unistd::getuid();
        let _ = std::fs::remove_file(format!("{dir}/tmux-{uid}/{}", self.socket));
    }
}
