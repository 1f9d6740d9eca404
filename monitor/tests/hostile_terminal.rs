//! Issue 18, hostile terminals: a dashboard stopped (SIGTSTP, Ctrl-Z) whose terminal then
//! goes away, SIGQUIT, a closed pane, TERM=dumb and vt100 — driven in tmux — and replays of
//! a large recording and a decompression bomb within a memory bound.
mod support;

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use support::{
    hostile::*,
    tmux::{have_tmux, Tmux},
    *,
};

// ---- bugs 4 and 12: job control, lost terminals, TERM ----

/// (state letter, utime + stime in ticks) of a process, None once it is gone.
fn proc_state(pid: u32) -> Option<(char, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let state = f[0].chars().next()?;
    if state == 'Z' {
        return None;
    }
    Some((
        state,
        f[11].parse::<u64>().ok()? + f[12].parse::<u64>().ok()?,
    ))
}

/// Starts `ipctop replay ARGS` (no ARGS: the demo) in tmux, in a shell that says `rc=N`
/// after it; returns its pid and its stderr file once the dashboard shows.
fn start_replay(t: &Tmux, d: &TempDir, args: &str) -> (u32, PathBuf) {
    let pidf = d.join("pid");
    let errf = d.join("err");
    t.line(&format!(
        "sh -c 'echo $$ > {}; exec {IPCTOP} replay {args} 2> {}'; echo rc=$?",
        pidf.display(),
        errf.display()
    ));
    t.wait_for("the dashboard", Duration::from_secs(20), |s| {
        s.contains("replay") && s.contains("1 Over")
    });
    let pid = fs::read_to_string(&pidf).unwrap().trim().parse().unwrap();
    (pid, errf)
}

/// The terminal is back in cooked mode (canonical input, echo), as the shell left it.
fn assert_cooked(t: &Tmux, d: &TempDir) {
    let f = d.join("stty");
    t.line(&format!("stty -a > {}", f.display()));
    let end = Instant::now() + Duration::from_secs(5);
    let mut stty = String::new();
    while Instant::now() < end && !stty.contains("icanon") {
        thread::sleep(Duration::from_millis(50));
        stty = fs::read_to_string(&f).unwrap_or_default();
    }
    assert!(
        stty.contains(" icanon") && stty.contains(" echo "),
        "cooked mode: {stty}"
    );
}

/// Bugs 4, 12: a dashboard stopped by SIGTSTP gives the terminal back (shell prompt, cooked
/// mode), comes back on `fg`; stopped again, then its terminal killed, it exits within
/// seconds instead of spinning on read(0) = 0, and prints nothing about the cursor.
#[test]
fn stopped_dashboard_whose_terminal_goes_away_exits() {
    if !have_tmux("stopped_dashboard_whose_terminal_goes_away_exits") {
        return;
    }
    let d = TempDir::new("tstp");
    let t = Tmux::start("tstp", 80, 24);
    let (pid, errf) = start_replay(&t, &d, "");
    // SAFETY: signalling the process we started.
    unsafe { libc::kill(pid as i32, libc::SIGTSTP) };
    t.wait_for(
        "the shell back after SIGTSTP",
        Duration::from_secs(20),
        |s| s.contains("Stopped"),
    );
    assert_eq!(proc_state(pid).map(|s| s.0), Some('T'));
    assert_cooked(&t, &d);
    t.line("fg");
    t.wait_for(
        "the dashboard again after fg",
        Duration::from_secs(20),
        |s| s.contains("1 Over"),
    );
    // Ctrl-Z is a key in raw mode: it stops the dashboard the same way.
    t.run(&["send-keys", "-t", "main", "C-z"]);
    t.wait_for(
        "the shell back after Ctrl-Z",
        Duration::from_secs(20),
        |s| s.contains("Stopped"),
    );
    assert_eq!(proc_state(pid).map(|s| s.0), Some('T'));
    // The terminal goes away (ssh dropped, pane closed).
    t.run(&["kill-server"]);
    let end = Instant::now() + Duration::from_secs(10);
    let mut cpu = proc_state(pid).map_or(0, |s| s.1);
    while let Some((_, ticks)) = proc_state(pid) {
        assert!(
            Instant::now() < end,
            "still running 10 s after the terminal went away"
        );
        cpu = ticks;
        thread::sleep(Duration::from_millis(100));
    }
    assert!(cpu < 200, "it spun: {cpu} ticks of CPU");
    let err = fs::read_to_string(&errf).unwrap_or_default();
    assert!(
        !err.contains("Failed to show the cursor") && !err.contains("panicked"),
        "{err}"
    );
}

/// Bug 12: SIGQUIT restores the terminal (it used to leave raw mode and the alternate screen
/// on); TERM=dumb is refused with one sentence; TERM=vt100 gets the plain UI.
#[test]
fn sigquit_restores_and_dumb_terminals_are_refused() {
    if !have_tmux("sigquit_restores_and_dumb_terminals_are_refused") {
        return;
    }
    let d = TempDir::new("quit");
    let t = Tmux::start("quit", 80, 24);
    let (pid, _) = start_replay(&t, &d, "");
    // SAFETY: signalling the process we started.
    unsafe { libc::kill(pid as i32, libc::SIGQUIT) };
    t.wait_for(
        "the shell back after SIGQUIT",
        Duration::from_secs(20),
        |s| s.contains("rc=0"),
    );
    assert_cooked(&t, &d);

    t.line(&format!("TERM=dumb {IPCTOP} replay; echo dumb=$?"));
    let s = t.wait_for("TERM=dumb refused", Duration::from_secs(20), |s| {
        s.contains("dumb=2")
    });
    assert!(s.contains("TERM=dumb cannot show the dashboard"), "{s}");

    t.line(&format!("clear; TERM=vt100 {IPCTOP} replay"));
    let s = t.wait_for("the vt100 dashboard", Duration::from_secs(20), |s| {
        s.contains("1 Over")
    });
    assert!(
        s.contains('+') && s.contains('|') && !s.contains('│'),
        "ASCII borders: {s}"
    );
    let colours = t.run(&["capture-pane", "-p", "-e", "-t", "main"]);
    assert!(
        !colours.contains("\x1b[31m") && !colours.contains("\x1b[91m"),
        "no colours on a vt100"
    );
    t.run(&["send-keys", "-t", "main", "q"]);
}

// ---- bug 7: replay streams, in bounded memory, and `q` works throughout ----

/// Peak resident memory of a process (kB), from /proc.
fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

/// Replays `file` in tmux: the first screen comes at once, seeks forward make it read on,
/// its peak memory stays under 200 MB, and `q` ends it promptly mid-read.
fn replay_within_bounds(tag: &str, file: &Path) {
    let d = TempDir::new(tag);
    let t = Tmux::start(tag, 80, 24);
    let started = Instant::now();
    let (pid, _) = start_replay(&t, &d, &format!("--speed 256 {}", file.display()));
    let first = started.elapsed();
    assert!(
        first < Duration::from_secs(5),
        "first screen after {first:?}"
    );
    let mut peak = 0;
    for i in 0..40 {
        if i % 4 == 0 {
            t.run(&["send-keys", "-t", "main", "]", "]", "]"]);
        }
        peak = peak.max(vm_hwm_kb(pid).unwrap_or(0));
        thread::sleep(Duration::from_millis(100));
    }
    assert!(proc_state(pid).is_some(), "still replaying");
    let q = Instant::now();
    t.run(&["send-keys", "-t", "main", "q"]);
    while proc_state(pid).is_some() {
        assert!(
            q.elapsed() < Duration::from_secs(3),
            "q not obeyed within 3 s"
        );
        peak = peak.max(vm_hwm_kb(pid).unwrap_or(0));
        thread::sleep(Duration::from_millis(20));
    }
    t.wait_for("a clean exit", Duration::from_secs(20), |s| {
        s.contains("rc=0")
    });
    eprintln!(
        "{tag}: first screen {first:?}, peak RSS {} MB, q took {:?}",
        peak / 1024,
        q.elapsed()
    );
    assert!(peak < 200 * 1024, "peak RSS {} MB", peak / 1024);
}

/// Bug 7: a large recording (150 MB of JSON lines: the demo's records again and again, later
/// each time) replays at once, in bounded memory.
#[test]
fn a_large_recording_replays_streaming_in_bounded_memory() {
    if !have_tmux("a_large_recording_replays_streaming_in_bounded_memory") {
        return;
    }
    let d = TempDir::new("large");
    let f = d.join("large.ipctop");
    let lines = demo_lines();
    let t_of = |l: &str| -> u64 {
        let rest = l.strip_prefix("{\"t\":").unwrap();
        rest[..rest.find(',').unwrap()].parse().unwrap()
    };
    let body: Vec<(u64, &str)> = lines[1..]
        .iter()
        .filter(|l| !l.contains("\"end\":"))
        .map(|l| (t_of(l), &l[l.find(',').unwrap()..]))
        .collect();
    let span = body.iter().map(|b| b.0).max().unwrap() - body[0].0 + 1_000_000_000;
    let mut w = std::io::BufWriter::new(fs::File::create(&f).unwrap());
    writeln!(w, "{}", lines[0]).unwrap();
    let mut k = 0u64;
    while w.get_ref().metadata().unwrap().len() < 150 << 20 {
        for (t, rest) in &body {
            writeln!(w, "{{\"t\":{}{rest}", t + k * span).unwrap();
        }
        k += 1;
    }
    w.flush().unwrap();
    drop(w);
    replay_within_bounds("large", &f);
}

/// Bug 7: a decompression bomb — a small .zst expanding to 3 GiB of records — replays in
/// bounded memory and quits on `q`.
#[test]
fn a_decompression_bomb_replays_in_bounded_memory() {
    if !have_tmux("a_decompression_bomb_replays_in_bounded_memory") {
        return;
    }
    let have_zstd = Command::new("zstd")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_zstd {
        skip(
            "a_decompression_bomb_replays_in_bounded_memory",
            "zstd is not installed",
        );
        return;
    }
    let d = TempDir::new("bomb");
    let lines = demo_lines();
    let kernel = lines.iter().find(|l| l.contains("\"kernel\":{")).unwrap();
    fs::write(d.join("header"), format!("{}\n", lines[0])).unwrap();
    fs::write(d.join("line"), kernel).unwrap();
    let bomb = d.join("bomb.ipctop.zst");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd {} && {{ cat header; yes \"$(cat line)\" | head -c 3G; }} | zstd -1 -q -T0 -o {}",
            d.0.display(),
            bomb.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let size = fs::metadata(&bomb).unwrap().len();
    assert!(size < 8 << 20, "a bomb is small: {size} bytes");
    replay_within_bounds("bomb", &bomb);
}

/// Bug 12: closing the pane under a running dashboard ends it without a word on the way out
/// (it used to print "Failed to show the cursor").
#[test]
fn closing_the_pane_prints_nothing() {
    if !have_tmux("closing_the_pane_prints_nothing") {
        return;
    }
    let d = TempDir::new("close");
    let t = Tmux::start("close", 80, 24);
    let (pid, errf) = start_replay(&t, &d, "");
    t.run(&["kill-server"]);
    let end = Instant::now() + Duration::from_secs(10);
    while proc_state(pid).is_some() {
        assert!(
            Instant::now() < end,
            "still running 10 s after its pane closed"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let err = fs::read_to_string(&errf).unwrap_or_default();
    assert!(err.trim().is_empty(), "said on the way out: {err}");
}
