//! The report for people: the same figures as the JSON document, the long lists cut to their
//! top.
use crate::text::escape;
use std::fmt::Write;

use super::{ErrorRow, Report, WaitDoc};
use crate::output::ObjectDoc;

/// How many objects and processes the text lists.
const TOP: usize = 10;

/// Where a finding or wait is, before it: `[podman:web] ` for a namespace not the host's
/// (its container label, else its inode), nothing for the host's (as `trace` writes calls).
fn place(ipc_ns: u64, container: Option<&str>) -> String {
    match container {
        Some("host") => String::new(),
        Some(c) => format!("[{}] ", escape(c)),
        None if ipc_ns != 0 => format!("[ns:{ipc_ns}] "),
        None => String::new(),
    }
}

/// A finding's reason, placed (see [`place`]).
fn placed(reason: &str, ipc_ns: u64, container: &Option<String>) -> String {
    format!("{}{reason}", place(ipc_ns, container.as_deref()))
}

/// `pid 42 (worker) in sem 7: 5.200 s (at least, still waiting)`.
pub fn wait_text(w: &WaitDoc) -> String {
    let on = if w.id >= 0 {
        format!("on {} {}", w.on, w.id)
    } else {
        format!("in {}", w.on)
    };
    let mut notes = Vec::new();
    if !w.exact {
        notes.push("at least: begun before the probe saw it");
    }
    if w.still_waiting {
        notes.push("still waiting at the end");
    } else if w.exact {
        notes.push("finished");
    }
    format!(
        "{}{:.3} s, pid {} ({}) {on}{}",
        place(w.ipc_ns, w.container.as_deref()),
        w.seconds,
        w.pid,
        escape(w.comm.as_deref().unwrap_or("unknown")),
        if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        }
    )
}

fn errors(s: &mut String, title: &str, rows: &[ErrorRow]) {
    let _ = writeln!(
        s,
        "\n{title}:{}",
        if rows.is_empty() { " none" } else { "" }
    );
    for e in rows {
        let _ = writeln!(
            s,
            "  {:<12} {:<8} {:>8}  pids {:?}",
            e.syscall, e.errno, e.count, e.pids
        );
    }
}

fn object_line(o: &ObjectDoc) -> String {
    let a = &o.account;
    format!(
        "  {} {:<8} {:>9} calls {:>6} failed {:>6} waits, blocked {:.3} s, longest {:.3} s; users {:?}",
        o.kind, o.id, a.calls, a.errors, a.waits, a.blocked_s, a.max_wait_s, o.users
    )
}

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let rec = &r.recording;
    let _ = writeln!(
        s,
        "Recording: {:.1} s on {} (kernel {}), ipctop {}; probe {}",
        rec.duration_s,
        escape(&rec.host),
        escape(&rec.kernel),
        escape(&rec.ipctop_version),
        escape(&rec.probe)
    );
    if let Some(c) = &rec.command {
        let words: Vec<_> = c.iter().map(|w| escape(w)).collect();
        let _ = writeln!(s, "Command: {}", words.join(" "));
    }
    let _ = writeln!(s, "Judged: {} ({})", r.scope.judged, r.scope.how);
    if let Some(why) = &r.stopped_early {
        let _ = writeln!(s, "Read up to the damage: {}", escape(why));
    }
    let c = &r.calls;
    let _ = writeln!(
        s,
        "\nCalls{}: {} ({}), failed {}, interrupted by signals {}, ended by their process's \
         death {}, lost {}",
        if r.scope.judged == "all" {
            ""
        } else {
            " (judged)"
        },
        c.total.calls,
        match c.source {
            crate::model::CountSource::Kernel => "the kernel's counts",
            crate::model::CountSource::Events => "counted from the events",
        },
        c.total.errors,
        c.total.interrupted,
        c.total.ended,
        c.dropped
    );
    for (k, v) in &c.total.by_syscall {
        let _ = writeln!(s, "  {k:<12} {v:>12}");
    }
    let _ = writeln!(
        s,
        "A wait is a semop/msgsnd/msgrcv of at least {:.3} ms: {} waits, {:.3} s in blocking calls",
        r.wait_threshold_s * 1e3,
        c.total.waits,
        c.total.blocked_s
    );
    errors(&mut s, "Failed calls", &r.errors);

    let mut objs: Vec<&ObjectDoc> = r.objects.iter().collect();
    objs.sort_by(|a, b| {
        b.account
            .blocked_s
            .total_cmp(&a.account.blocked_s)
            .then(b.account.calls.cmp(&a.account.calls))
    });
    let _ = writeln!(
        s,
        "\nBusiest objects (of {}; --json lists all):{}",
        r.objects.len(),
        if objs.is_empty() { " none" } else { "" }
    );
    for o in objs.iter().take(TOP) {
        let _ = writeln!(s, "{}", object_line(o));
    }
    let mut procs: Vec<_> = r.processes.iter().collect();
    procs.sort_by(|a, b| {
        b.account
            .calls
            .cmp(&a.account.calls)
            .then(a.pid.cmp(&b.pid))
    });
    let _ = writeln!(
        s,
        "\nBusiest processes (of {}):{}",
        r.processes.len(),
        if procs.is_empty() { " none" } else { "" }
    );
    for p in procs.iter().take(TOP) {
        let a = &p.account;
        let _ = writeln!(
            s,
            "  pid {:<8} {:<16} {:>9} calls {:>6} failed {:>6} waits, blocked {:.3} s{}",
            p.pid,
            escape(p.comm.as_deref().unwrap_or("unknown")),
            a.calls,
            a.errors,
            a.waits,
            a.blocked_s,
            if p.observer {
                " (observer: another ipctop)"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(
        s,
        "\nLongest wait: {}",
        r.longest_wait.as_ref().map_or("none".into(), wait_text)
    );
    let _ = writeln!(
        s,
        "Still waiting at the end:{}",
        if r.still_waiting.is_empty() {
            " none"
        } else {
            ""
        }
    );
    for w in &r.still_waiting {
        let _ = writeln!(s, "  {}", wait_text(w));
    }
    let list = |s: &mut String, title: &str, v: &mut dyn Iterator<Item = String>| {
        let v: Vec<String> = v.collect();
        let _ = writeln!(s, "\n{title}:{}", if v.is_empty() { " none" } else { "" });
        for x in v {
            let _ = writeln!(s, "  {x}");
        }
    };
    list(
        &mut s,
        "Leaks at the end",
        &mut r
            .leaks
            .iter()
            .map(|l| placed(&l.reason, l.ipc_ns, &l.container)),
    );
    list(
        &mut s,
        "Deadlocks at the end",
        &mut r
            .deadlocks
            .iter()
            .map(|d| placed(&d.reason, d.ipc_ns, &d.container)),
    );
    list(
        &mut s,
        "Stuck at the end",
        &mut r
            .stuck
            .iter()
            .map(|d| placed(&d.reason, d.ipc_ns, &d.container)),
    );
    list(
        &mut s,
        "Stalled at the end",
        &mut r
            .stalled
            .iter()
            .map(|d| placed(&d.reason, d.ipc_ns, &d.container)),
    );
    let w = &r.along_the_way;
    list(
        &mut s,
        "Deadlocks along the way",
        &mut w
            .deadlocks
            .iter()
            .map(|d| placed(&d.reason, d.ipc_ns, &d.container)),
    );
    list(
        &mut s,
        "Stuck along the way",
        &mut w
            .stuck
            .iter()
            .map(|d| placed(&d.reason, d.ipc_ns, &d.container)),
    );
    list(
        &mut s,
        "Leaks along the way",
        &mut w
            .leaks
            .iter()
            .map(|l| placed(&l.reason, l.ipc_ns, &l.container)),
    );
    list(
        &mut s,
        "Long waits along the way",
        &mut w.long_waits.iter().cloned(),
    );
    // Only when some was found (recordings before format 5 carry no POSIX look: "none"
    // would claim what nobody looked at).
    if !w.posix.is_empty() {
        list(
            &mut s,
            "POSIX IPC along the way",
            &mut w.posix.iter().map(posix_text),
        );
    }
    if r.scope.judged != "all" {
        let cx = &r.context;
        let _ = writeln!(
            s,
            "\nContext (not judged; {}):",
            if r.scope.judged == "command" {
                "--scope all judges the command's whole machine"
            } else {
                "outside --container/--ipc-ns"
            }
        );
        let _ = writeln!(
            s,
            "  The machine's calls (every namespace, every process): {}, failed {}, {} waits",
            cx.calls.total.calls, cx.calls.total.errors, cx.calls.total.waits
        );
        list(
            &mut s,
            "  Their leaks",
            &mut cx
                .leaks
                .iter()
                .map(|l| placed(&l.reason, l.ipc_ns, &l.container)),
        );
        list(
            &mut s,
            "  Their deadlocks",
            &mut cx
                .deadlocks
                .iter()
                .map(|d| placed(&d.reason, d.ipc_ns, &d.container)),
        );
        list(
            &mut s,
            "  Their deadlocks along the way",
            &mut cx
                .along_the_way
                .deadlocks
                .iter()
                .map(|d| placed(&d.reason, d.ipc_ns, &d.container)),
        );
        if !cx.along_the_way.posix.is_empty() {
            list(
                &mut s,
                "  Their POSIX IPC along the way",
                &mut cx.along_the_way.posix.iter().map(posix_text),
            );
        }
        errors(&mut s, "  Their failed calls", &cx.errors);
        let _ = writeln!(s, "  Their longest wait: {:.3} s", cx.max_wait_s);
    }
    s
}

/// A POSIX finding in a line: "stuck queue: queue /jobs (pids [1, 2]): …".
fn posix_text(f: &crate::analysis::posix::PosixFinding) -> String {
    format!(
        "{}: {} (pids {:?}): {}",
        f.kind.replace('_', " "),
        crate::text::escape(&f.object),
        f.pids,
        f.reason
    )
}
