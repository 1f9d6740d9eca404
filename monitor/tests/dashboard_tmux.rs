//! End to end: the real `ipctop` dashboard in tmux (send-keys, capture-pane) against real
//! workloads. Each test has its own tmux server (socket), killed on drop; workloads are
//! killed and their IPC objects removed whatever happens; rows are found by pid and id, so
//! that tests running beside these do not matter.
mod support;

use std::{
    process::Command,
    thread,
    time::{Duration, Instant},
};

use support::{
    can_trace,
    dashboard::{dashboard, esc, filter, waited_of},
    tmux::{have_tmux, Tmux},
    Ids, Proc, IPCTOP, WORKLOAD,
};

/// The waited time on the screen line of `pid` in the overview, in seconds.
fn waited_s(screen: &str, pid: u32) -> Option<f64> {
    waited_of(screen, pid).map(|(s, _)| s)
}

/// The AB/BA deadlock workload (its sets to be removed with `ids`) and its two pids.
fn deadlock(ids: &mut Ids) -> (Proc, Vec<u32>) {
    let dead = Proc::spawn(Command::new(WORKLOAD).arg("deadlock"));
    let d = dead.json(Duration::from_secs(10));
    for s in d["semids"].as_array().unwrap() {
        ids.sems.push(s.as_i64().unwrap() as i32);
    }
    let dpids = d["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap() as u32)
        .collect();
    (dead, dpids)
}

#[test]
fn dashboard_shows_waits_deadlocks_switches_views_survives_resize_and_quits_cleanly() {
    let test = "dashboard_tmux";
    if !can_trace(test) || !have_tmux(test) {
        return;
    }
    let mut ids = Ids::default();
    let mut blocked = Proc::spawn(Command::new(WORKLOAD).arg("sem-blocked"));
    let b = blocked.json(Duration::from_secs(10));
    ids.sems.push(b["semid"].as_i64().unwrap() as i32);
    let waiter = b["waiter_pid"].as_u64().unwrap() as u32;
    let semid = b["semid"].as_i64().unwrap();

    let t = Tmux::start("e2e", 80, 24);
    t.type_text(&format!("{IPCTOP} --interval 0.5; echo EXIT=$?"));
    let started = Instant::now();
    t.keys(&["Enter"]);
    t.wait_for("the header", Duration::from_secs(20), |s| {
        s.starts_with("ipctop ") && s.contains("Waiting now")
    });
    println!(
        "time to first frame (through tmux): {:?}",
        started.elapsed()
    );
    // The deadlock forms while the dashboard watches (a deadlock is proven only from the
    // probe's account of who took what).
    let (mut dead, dpids) = deadlock(&mut ids);

    // A blocked waiter on the overview, with its pid and a growing wait time.
    filter(&t, &waiter.to_string());
    let s = t.wait_for("the waiter", Duration::from_secs(10), |s| {
        waited_s(s, waiter).is_some()
    });
    assert!(s.contains(&format!("sem {semid} #1")), "{s}");
    let first = waited_s(&s, waiter).unwrap();
    thread::sleep(Duration::from_millis(2500));
    let s = t.capture();
    let later = waited_s(&s, waiter).unwrap_or(0.0);
    assert!(
        later >= first + 1.5,
        "the wait does not grow: {first} then {later}\n{s}"
    );
    esc(&t);

    // The deadlock: alerted in the header, drawn as a cycle on the Problems view.
    t.keys(&["7"]);
    filter(&t, &dpids[0].to_string());
    let s = t.wait_for("the deadlock", Duration::from_secs(10), |s| {
        s.contains("DEADLOCK") && dpids.iter().all(|p| s.contains(&p.to_string()))
    });
    assert!(s.lines().nth(1).unwrap_or("").contains("DEADLOCK"), "{s}");
    esc(&t);

    // Keys switch views.
    for (k, title) in [
        ("2", "Semaphore sets"),
        ("3", "Shared memory segments"),
        ("4", "Message queues"),
        ("5", "Processes"),
        ("6", "Events"),
        ("7", "Problems"),
        ("8", "POSIX ("),
        ("Tab", "Waiting now"),
        ("BTab", "POSIX ("),
        ("1", "Waiting now"),
    ] {
        t.keys(&[k]);
        t.wait_for(title, Duration::from_secs(5), |s| s.contains(title));
    }
    t.keys(&["?"]);
    t.wait_for("the help", Duration::from_secs(5), |s| {
        s.contains("Help: keys")
    });
    esc(&t);
    t.wait_for("the help closed", Duration::from_secs(5), |s| {
        !s.contains("Help: keys")
    });

    // From the waiter's process to its semaphore set, and back.
    t.keys(&["5"]);
    filter(&t, &waiter.to_string());
    t.keys(&["Enter"]);
    t.wait_for("the process", Duration::from_secs(5), |s| {
        s.contains(&format!("Process {waiter}"))
    });
    t.keys(&["Enter"]);
    t.wait_for("its set", Duration::from_secs(5), |s| {
        s.contains(&format!("Semaphore set {semid}"))
    });
    esc(&t);
    t.wait_for("back", Duration::from_secs(5), |s| {
        s.contains(&format!("Process {waiter}"))
    });
    esc(&t);
    esc(&t);
    t.keys(&["1"]);

    // Resize to 40x12 and back: alive, and the waiter is there again.
    t.resize(40, 12);
    let s = t.wait_for("the small screen", Duration::from_secs(5), |s| {
        s.starts_with("ipctop") && s.lines().count() <= 12
    });
    assert!(s.lines().all(|l| l.chars().count() <= 40), "{s}");
    thread::sleep(Duration::from_millis(500));
    assert!(t.ipctop_pid().is_some(), "ipctop died on the resize");
    t.resize(80, 24);
    filter(&t, &waiter.to_string());
    t.wait_for(
        "the waiter after the resize",
        Duration::from_secs(10),
        |s| waited_s(s, waiter).is_some(),
    );

    // q leaves a clean shell.
    t.keys(&["q"]);
    t.assert_clean_shell("0");
    blocked.release();
    dead.release();
    blocked.wait(Duration::from_secs(10));
    dead.wait(Duration::from_secs(10));
}

/// Ctrl-C, SIGTERM and SIGHUP restore the terminal too (no probe needed: snapshots only).
#[test]
fn terminal_is_restored_on_ctrl_c_sigterm_and_sighup() {
    let test = "terminal_is_restored";
    if !have_tmux(test) {
        return;
    }
    for how in ["C-c", "TERM", "HUP"] {
        let t = Tmux::start("sig", 80, 24);
        t.type_text(&format!("{IPCTOP} --no-probe; echo EXIT=$?"));
        t.keys(&["Enter"]);
        let s = t.wait_for("the dashboard", Duration::from_secs(20), |s| {
            s.starts_with("ipctop ") && s.contains("Waiting now")
        });
        assert!(s.contains("SNAPSHOTS ONLY"), "{s}");
        match how {
            "C-c" => t.keys(&["C-c"]),
            sig => {
                let pid = t.ipctop_pid().expect("ipctop's pid");
                let signal = if sig == "TERM" {
                    libc::SIGTERM
                } else {
                    libc::SIGHUP
                };
                // SAFETY: signalling a process this test started.
                unsafe { libc::kill(pid as i32, signal) };
            }
        }
        t.assert_clean_shell("0");
    }
}

fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// The terminal goes away (ssh dropped, tmux killed) without a signal reaching ipctop (a
/// shell that does not pass SIGHUP on): ipctop notices the hang-up and exits, not spinning.
#[test]
fn ipctop_exits_when_its_terminal_hangs_up() {
    let test = "ipctop_exits_when_its_terminal_hangs_up";
    if !have_tmux(test) {
        return;
    }
    let t = Tmux::start("hup", 80, 24);
    t.type_text(&format!("{IPCTOP} --no-probe"));
    t.keys(&["Enter"]);
    t.wait_for("the dashboard", Duration::from_secs(20), |s| {
        s.starts_with("ipctop ") && s.contains("Waiting now")
    });
    let pid = t.ipctop_pid().expect("ipctop's pid");
    t.run(&["kill-server"]);
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        match state_of(pid) {
            None | Some('Z') | Some('X') => break,
            Some(_) if Instant::now() < end => thread::sleep(Duration::from_millis(50)),
            Some(st) => {
                // SAFETY: killing a process this test started.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                panic!("ipctop still runs (state {st}) 5 s after its terminal hung up");
            }
        }
    }
}

/// A left click at `text`'s first character (the first line at or below `from_row` that has
/// it), sent as the SGR mouse sequences a terminal sends (press, release; 1-based).
fn click_on(t: &Tmux, screen: &str, text: &str, from_row: usize) {
    let (x, y) = screen
        .lines()
        .enumerate()
        .skip(from_row)
        .find_map(|(y, l)| l.find(text).map(|b| (l[..b].chars().count(), y)))
        .unwrap_or_else(|| panic!("{text:?} is not on the screen:\n{screen}"));
    t.type_text(&format!(
        "\x1b[<0;{c};{r}M\x1b[<0;{c};{r}m",
        c = x + 1,
        r = y + 1
    ));
}

/// Clicks a row until what it opens is shown (one click selects, a click on the selected
/// row opens it).
fn open_by_click(t: &Tmux, text: &str, from_row: usize, opened: &str) -> String {
    for _ in 0..3 {
        let s = t.capture();
        if s.contains(opened) {
            return s;
        }
        click_on(t, &s, text, from_row);
        if let Ok(s) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            t.wait_for(opened, Duration::from_secs(2), |s| s.contains(opened))
        })) {
            return s;
        }
    }
    t.wait_for(opened, Duration::from_secs(1), |s| s.contains(opened))
}

#[test]
fn mouse_clicks_tabs_and_rows_a_deadlock_leads_to_its_process_and_f10_quits() {
    let test = "dashboard_mouse_tmux";
    if !can_trace(test) || !have_tmux(test) {
        return;
    }
    let mut ids = Ids::default();
    let (t, s) = dashboard("mouse", 80, 24, "--interval 0.5");
    // Made while the dashboard watches: proven from the probe's account.
    let (mut dead, dpids) = deadlock(&mut ids);
    assert_eq!(t.var("#{mouse_any_flag}"), "1", "mouse capture is on");

    // A click on the Problems tab; a click on the deadlock's entry opens it.
    click_on(&t, &s, "7 Prob", 2);
    t.wait_for("the Problems view", Duration::from_secs(5), |s| {
        s.contains("Deadlocks (")
    });
    filter(&t, &dpids[0].to_string());
    t.wait_for("the deadlock", Duration::from_secs(10), |s| {
        s.contains("  DEADLOCK") && dpids.iter().all(|p| s.contains(&p.to_string()))
    });
    // The first entry is selected already: a click on it opens it (else a click selects, a
    // second opens).
    open_by_click(&t, "  DEADLOCK", 4, "Deadlock (Esc: back)");
    // Its processes are links. Waited for, not read from the first capture that shows the
    // title: tmux can be captured while a frame is still being written (under load, the
    // rest of the screen was still the Problems view's).
    t.wait_for(
        "the deadlock's processes as links",
        Duration::from_secs(5),
        |s| dpids.iter().all(|p| s.contains(&format!("> {p} "))),
    );
    // A click on one of its processes leads there; Esc comes back to the deadlock.
    let link = format!("> {} ", dpids[1]);
    open_by_click(&t, &link, 4, &format!("Process {} (Esc", dpids[1]));
    esc(&t);
    t.wait_for("back at the deadlock", Duration::from_secs(5), |s| {
        s.contains("Deadlock (Esc: back)")
    });
    esc(&t);

    // A click on the Processes tab and on a row: the process.
    let s = t.capture();
    click_on(&t, &s, "5 Proc", 2);
    t.wait_for("the Processes view", Duration::from_secs(5), |s| {
        s.contains("Processes using IPC")
    });
    filter(&t, &dpids[0].to_string());
    t.wait_for("the row", Duration::from_secs(5), |s| {
        s.contains(&format!(" {} ", dpids[0]))
    });
    open_by_click(
        &t,
        &format!(" {} ", dpids[0]),
        4,
        &format!("Process {} (Esc", dpids[0]),
    );

    // F10 quits (as in htop), and mouse capture is off again.
    t.keys(&["F10"]);
    t.assert_clean_shell("0");
    assert_eq!(t.var("#{mouse_any_flag}"), "0", "mouse capture left on");
    dead.release();
    dead.wait(Duration::from_secs(10));
}

/// The figure after "now" on the history line `label` of a details screen.
fn now_of(screen: &str, label: &str) -> Option<f64> {
    let line = screen
        .lines()
        .map(|l| l.replace(['│', '|'], " "))
        .find(|l| l.trim_start().starts_with(&format!("{label} ")))?;
    let rest = line.split(" now ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn a_process_history_charts_its_real_call_rate() {
    let test = "dashboard_history_tmux";
    if !can_trace(test) || !have_tmux(test) {
        return;
    }
    // 200 semops a second, in an IPC namespace of its own (unshare execs the workload: same
    // pid), so that its semaphore goes with it whatever happens; the dashboard follows every
    // namespace.
    const RATE: f64 = 200.0;
    let mut lp = Proc::spawn(Command::new("unshare").args([
        "--ipc",
        WORKLOAD,
        "paced-loop",
        "--rate",
        &RATE.to_string(),
        "--secs",
        "30",
    ]));
    let pid = lp.pid();

    let (t, _) = dashboard("history", 80, 24, "--interval 0.5");
    t.keys(&["5"]);
    filter(&t, &pid.to_string());
    t.wait_for("the process", Duration::from_secs(10), |s| {
        s.contains(&format!(" {pid} "))
    });
    t.keys(&["Enter"]);
    t.wait_for("its details", Duration::from_secs(5), |s| {
        s.contains(&format!("Process {pid} (Esc"))
    });
    // A few samples, then the end of the details: its calls/s per sample, from the kernel's
    // counts, near the rate it was paced at.
    let s = t.wait_for("its history", Duration::from_secs(15), |s| {
        t.keys(&["End"]);
        now_of(s, "calls/s").is_some_and(|x| x > 0.0)
    });
    let now = now_of(&s, "calls/s").unwrap();
    assert!(
        (0.5 * RATE..=1.5 * RATE).contains(&now),
        "calls/s {now}, paced at {RATE}:\n{s}"
    );
    assert!(s.contains("History"), "{s}");
    t.keys(&["q"]);
    t.assert_clean_shell("0");
    lp.signal(libc::SIGTERM);
    lp.wait(Duration::from_secs(10));
}

/// Two paced loops, each in an IPC namespace of its own, so each has a set 0: each row and
/// detail shows its own set's calls (by the kernel's counts) and users, never the other's;
/// `n` narrows the model's scope to one namespace, and the counts follow.
#[test]
fn two_namespaces_sets_0_each_show_their_own_calls_and_n_shows_one() {
    let test = "dashboard_two_ns_tmux";
    if !can_trace(test) || !have_tmux(test) {
        return;
    }
    let spawn = |rate: f64| {
        Proc::spawn(Command::new("unshare").args([
            "--ipc",
            WORKLOAD,
            "paced-loop",
            "--rate",
            &rate.to_string(),
            "--secs",
            "60",
        ]))
    };
    let (fast, slow) = (spawn(200.0), spawn(20.0));
    let (a, b) = (fast.pid(), slow.pid());

    // Wide enough for every column, narrow enough for no side panel.
    let (t, _) = dashboard("two-ns", 150, 40, "--interval 0.5");
    t.keys(&["2"]);
    // Each loop's set 0 (its semaphore's last pid is the loop's): its details.
    for (pid, other, rate) in [(a, b, 200.0), (b, a, 20.0)] {
        filter(&t, &pid.to_string());
        t.wait_for("its set 0", Duration::from_secs(10), |s| {
            s.lines().any(|l| l.contains("▸ 0 ") || l.contains("+ 0 "))
        });
        t.keys(&["Enter"]);
        let s = t.wait_for("its history", Duration::from_secs(15), |s| {
            t.keys(&["End"]);
            s.contains("Semaphore set 0 (") && now_of(s, "calls/s").is_some_and(|x| x > 0.0)
        });
        let now = now_of(&s, "calls/s").unwrap();
        assert!(
            (0.5 * rate..=1.5 * rate).contains(&now),
            "set 0 of {pid}: calls/s {now}, paced at {rate}:\n{s}"
        );
        t.keys(&["Home"]);
        let s = t.wait_for("its users", Duration::from_secs(5), |s| {
            s.contains(&format!("> {pid} "))
        });
        assert!(
            !s.contains(&format!("> {other} ")),
            "the other's set 0:\n{s}"
        );
        // Back to the list, then the filter cleared: one at a time (two Escapes read
        // together are one Alt+Escape).
        esc(&t);
        t.wait_for("the list", Duration::from_secs(5), |s| {
            !s.contains("(Esc: back)")
        });
        esc(&t);
        t.wait_for("no filter", Duration::from_secs(5), |s| {
            !s.contains("filter \"")
        });
    }
    // `n`: one namespace at a time; in the fast loop's, its set is the only one.
    filter(&t, &a.to_string());
    let mut found = None;
    for _ in 0..64 {
        t.keys(&["n"]);
        thread::sleep(Duration::from_millis(150));
        let s = t.capture();
        if s.contains("(1 of 1, filter") {
            found = Some(s);
            break;
        }
    }
    let s = found.expect("n reaches the fast loop's namespace");
    assert!(s.contains("only (n)"), "the header says which: {s}");
    assert!(!s.contains("IPC NS"), "one namespace shown: {s}");
    t.keys(&["q"]);
    t.assert_clean_shell("0");
    drop((fast, slow));
}
