//! End to end, issue 28: the real `ipctop` dashboard in tmux against real workloads — `/`
//! filters on the text the rows show, a key sent right after a resize acts, the Problems
//! view lists what the header counts, and a wait begun before ipctop started shows its age.
//! Each test has its own tmux server (killed on drop); the workloads make their objects in
//! IPC namespaces of their own (`unshare --ipc`), so that they go with them whatever happens
//! and rows are told apart by their namespace's inode as well as their id.
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
    Proc, IPCTOP, WORKLOAD,
};

/// A workload in an IPC namespace of its own (unshare execs it: the same pid), and its line.
fn in_own_ns(args: &[&str]) -> (Proc, serde_json::Value) {
    let mut cmd = Command::new("unshare");
    cmd.arg("--ipc").arg(WORKLOAD).args(args);
    let p = Proc::spawn(&mut cmd);
    let v = p.json(Duration::from_secs(15));
    (p, v)
}

/// The inode of a process's IPC namespace (how the dashboard names one without a container).
fn ipc_ns(pid: u32) -> String {
    let l = std::fs::read_link(format!("/proc/{pid}/ns/ipc")).expect("its namespace");
    let l = l.to_string_lossy();
    l.trim_start_matches("ipc:[")
        .trim_end_matches(']')
        .to_string()
}

/// Whether a row of the screen shows `id` in its first column and `ns` in another.
fn row_of(screen: &str, id: i64, ns: &str) -> bool {
    screen.lines().any(|l| {
        let cells: Vec<&str> = l
            .split(|c: char| c.is_whitespace() || c == '│' || c == '|')
            .filter(|c| !c.is_empty())
            .collect();
        // A namespace of no container is labelled `ns:<inode>`.
        let label = format!("ns:{ns}");
        cells.first() == Some(&id.to_string().as_str())
            && (cells.contains(&ns) || cells.contains(&label.as_str()))
    })
}

#[test]
fn filtering_leak_keeps_the_leaked_segment_and_drops_the_attached_ones() {
    let test = "dashboard_rows_leak";
    if !have_tmux(test) {
        return;
    }
    let (orphan, o) = in_own_ns(&["orphan-shm"]);
    let (attached, a) = in_own_ns(&["shm-attached", "2"]);
    let (leaked_id, leaked_ns) = (o["shmid"].as_i64().unwrap(), ipc_ns(orphan.pid()));
    let (kept_id, kept_ns) = (a["shmid"].as_i64().unwrap(), ipc_ns(attached.pid()));
    // Wide enough for the IPC NS column (several namespaces).
    let (t, _) = dashboard("leak", 200, 50, "--no-probe --interval 0.5");
    t.keys(&["3"]);
    let s = t.wait_for("both segments", Duration::from_secs(15), |s| {
        row_of(s, leaked_id, &leaked_ns) && row_of(s, kept_id, &kept_ns)
    });
    assert!(s.contains("LEAK"), "the leak is marked by the word:\n{s}");
    filter(&t, "LEAK");
    let s = t.wait_for("the filter", Duration::from_secs(10), |s| {
        s.contains("filter \"LEAK\"")
    });
    assert!(
        row_of(&s, leaked_id, &leaked_ns),
        "the leaked one is kept:\n{s}"
    );
    assert!(
        !row_of(&s, kept_id, &kept_ns),
        "an attached segment is not a leak:\n{s}"
    );
    // What the rows show matches, whatever its column: the creator's state, the owner.
    for (f, id, ns) in [("gone", leaked_id, &leaked_ns), ("root", kept_id, &kept_ns)] {
        esc(&t);
        filter(&t, f);
        t.wait_for(f, Duration::from_secs(10), |s| row_of(s, id, ns));
    }
    t.keys(&["q"]);
    t.assert_clean_shell("0");
    drop((orphan, attached));
}

/// The view a number key shows, by the title of its box.
fn title_of(k: &str) -> &'static str {
    match k {
        "1" => "Waiting now",
        "2" => "Semaphore sets",
        "3" => "Shared memory segments",
        "4" => "Message queues",
        "5" => "Processes",
        "6" => "Events",
        _ => "Problems (",
    }
}

/// Resumes a stopped process when dropped (whatever the test did meanwhile).
struct Stopped(i32);

impl Drop for Stopped {
    fn drop(&mut self) {
        // SAFETY: continuing a process this test stopped.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

#[test]
fn a_key_sent_right_after_a_resize_acts() {
    let test = "dashboard_rows_resize_key";
    if !have_tmux(test) {
        return;
    }
    let keys = ["2", "3", "4", "5", "6", "7", "1", "2", "3", "4"];
    // The key right after the resize (the terminal shrinking and growing in turn).
    let (t, _) = dashboard("resize", 80, 24, "--no-probe --interval 0.5");
    for (i, k) in keys.into_iter().enumerate() {
        t.resize(if i % 2 == 0 { 100 } else { 80 }, 24);
        t.keys(&[k]);
        t.wait_for(
            &format!("key {k} after resize {i}"),
            Duration::from_secs(5),
            |s| s.contains(title_of(k)),
        );
    }
    t.keys(&["q"]);
    t.assert_clean_shell("0");

    // Both at once: the dashboard stopped while the terminal is resized and the key typed,
    // so that it finds them together (ipctop runs in place of the shell: no job control).
    let t = Tmux::start("resize-stopped", 80, 24);
    t.type_text(&format!("exec {IPCTOP} --no-probe --interval 0.5"));
    t.keys(&["Enter"]);
    t.wait_for("the header", Duration::from_secs(30), |s| {
        s.starts_with("ipctop ") && s.contains("Waiting now")
    });
    let pid: i32 = t.var("#{pane_pid}").parse().expect("the pane's pid");
    for (i, k) in keys.into_iter().enumerate() {
        {
            // SAFETY: stopping the ipctop this test started (resumed by the guard).
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            let _resume = Stopped(pid);
            t.resize(if i % 2 == 0 { 100 } else { 80 }, 24);
            t.keys(&[k]);
            thread::sleep(Duration::from_millis(200));
        }
        t.wait_for(
            &format!("key {k} typed with resize {i}"),
            Duration::from_secs(5),
            |s| s.contains(title_of(k)),
        );
    }
    // SAFETY: ending the ipctop this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
}

/// The numbers of the header's alerts ("1 DEADLOCK  2 leaks  1 long wait"), summed.
fn header_alerts(screen: &str) -> usize {
    let line = screen.lines().nth(1).unwrap_or_default();
    let alerts = line.split(['│', '|']).next().unwrap_or_default();
    let words: Vec<&str> = alerts.split_whitespace().collect();
    words.iter().filter_map(|w| w.parse::<usize>().ok()).sum()
}

/// "Problems (N)" at the top of the Problems view (and in its tab).
fn problems_count(screen: &str) -> Vec<usize> {
    screen
        .match_indices("Problems (")
        .filter_map(|(i, _)| {
            let rest = &screen[i + "Problems (".len()..];
            rest[..rest.find(')')?].parse().ok()
        })
        .collect()
}

#[test]
fn the_problems_view_lists_what_the_header_counts() {
    let test = "dashboard_rows_problems";
    if !can_trace(test) || !have_tmux(test) {
        return;
    }
    // Made while the dashboard watches: the deadlock proven from the probe's account, the
    // queue's creator seen by it (a queue that predates ipctop has no known creator).
    let (t, _) = dashboard("problems", 200, 70, "--interval 0.5");
    let (dead, _) = in_own_ns(&["deadlock"]);
    let (orphan, _) = in_own_ns(&["orphan-shm"]);
    let (left, _) = in_own_ns(&["queue-left", "3"]);
    t.keys(&["7"]);
    // One frame: the header, the tab, the title and the entries drawn together.
    let s = t.wait_for("the deadlock and the leaks", Duration::from_secs(20), |s| {
        s.contains("  DEADLOCK") && s.matches("  leak ").count() >= 2
    });
    let n = header_alerts(&s);
    let shown = problems_count(&s);
    assert!(n >= 3, "{s}");
    assert_eq!(
        shown,
        [n, n],
        "the tab and the title count what the header does:\n{s}"
    );
    // Every finding is an entry (the view is tall enough when the limits show below them).
    if s.contains("Limits") {
        let entries = s
            .lines()
            .map(|l| l.trim_start_matches(['│', '|']))
            .filter(|l| {
                [
                    "  DEADLOCK",
                    "  leak ",
                    "  long wait ",
                    "  limit ",
                    "  used before init ",
                ]
                .iter()
                .any(|m| l.starts_with(m))
                    || l.starts_with("  stuck")
                    || l.starts_with("  stalled")
            })
            .count();
        assert_eq!(entries, n, "one entry per finding the header counts:\n{s}");
    }
    t.keys(&["q"]);
    t.assert_clean_shell("0");
    drop((dead, orphan, left));
}

#[test]
fn a_wait_begun_before_ipctop_started_shows_its_age() {
    let test = "dashboard_rows_old_wait";
    if !can_trace(test) || !have_tmux(test) {
        return;
    }
    let (blocked, b) = in_own_ns(&["sem-blocked"]);
    let waiter = b["waiter_pid"].as_u64().unwrap() as u32;
    let since = Instant::now();
    thread::sleep(Duration::from_secs(20));
    let (t, _) = dashboard("old-wait", 120, 30, "--interval 0.5");
    filter(&t, &waiter.to_string());
    let s = t.wait_for("the waiter", Duration::from_secs(15), |s| {
        waited_of(s, waiter).is_some()
    });
    let (secs, _) = waited_of(&s, waiter).unwrap();
    let real = since.elapsed().as_secs_f64();
    assert!(
        secs >= 19.0 && secs <= real + 2.0,
        "a wait of {real:.1} s shows as {secs} s:\n{s}"
    );
    t.keys(&["q"]);
    t.assert_clean_shell("0");
    drop(blocked);
}
