//! One event as one line: the strace-like text of `ipctop trace` (and of the dashboard's
//! event log) and the JSON line of `ipctop trace --json`.
use std::{borrow::Cow, fmt::Write as _, sync::OnceLock};

use jiff::{tz::TimeZone, Timestamp};
use serde::Serialize;

use crate::event::{errno_desc, errno_name, Args, Clock, Comm, Event, Syscall};

/// A duration in a short human form: "850 ns", "12.3 us", "4.5 ms", "1.25 s".
pub fn human_duration(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} us", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

/// "HH:MM:SS.uuuuuu" in local time: the zone of `TZ` or /etc/localtime, read once (UTC in
/// this crate's unit tests, so that their snapshots do not depend on the machine's zone).
pub fn wall_time(unix_ns: u64) -> String {
    static ZONE: OnceLock<TimeZone> = OnceLock::new();
    let zone = ZONE.get_or_init(|| {
        if cfg!(test) {
            TimeZone::UTC
        } else {
            TimeZone::system()
        }
    });
    let offset = Timestamp::from_second((unix_ns / 1_000_000_000) as i64)
        .map_or(0, |t| zone.to_offset(t).seconds());
    wall_time_at(unix_ns, offset)
}

/// "HH:MM:SS.uuuuuu" at `offset_secs` east of UTC.
pub fn wall_time_at(unix_ns: u64, offset_secs: i32) -> String {
    let day = ((unix_ns / 1_000_000_000) as i64 + i64::from(offset_secs)).rem_euclid(86_400);
    let micros = unix_ns % 1_000_000_000 / 1_000;
    format!(
        "{:02}:{:02}:{:02}.{micros:06}",
        day / 3600,
        day / 60 % 60,
        day % 60
    )
}

/// The time a line shows: the call's start, else its end, else (in progress, begun before
/// it was seen) now.
fn shown_ts(ev: &Event, now_ns: u64) -> u64 {
    ev.start_ns.or(ev.end_ns).unwrap_or(now_ns)
}

/// The return value as strace shows it.
fn fmt_ret(out: &mut String, ev: &Event) {
    if ev.ended {
        out.push_str("? (ended: the process died)");
        return;
    }
    if let Some(code) = ev.interrupted() {
        let _ = write!(out, "? {code} (interrupted by a signal)");
        return;
    }
    match (ev.ret, ev.errno()) {
        (None, _) => out.push('?'),
        (Some(_), Some(e)) => {
            let _ = write!(out, "-1 {} ({})", errno_name(e), errno_desc(e));
        }
        (Some(r), None) if ev.syscall == Syscall::SHMAT => {
            let _ = write!(out, "{r:#x}");
        }
        (Some(r), None) => {
            let _ = write!(out, "{r}");
        }
    }
}

/// `12:00:01.123456 4242 worker semtimedop(semid=5, [{0,-1,SEM_UNDO}], 1, NULL) = 0 <12.3 ms>`;
/// a call in progress ends in `= ? <unfinished, blocked 1.20 s>` (`now_ns`: monotonic now).
pub fn text_line(ev: &Event, clock: &Clock, now_ns: u64) -> String {
    text_line_in(ev, clock, now_ns, None)
}

/// [`text_line`] with the caller's container (`container`: its label; "host" and `None`
/// are not shown): `… 4242 worker [docker:3f4e5a6b7c8d] semop(…) = 0 …`; a call of a 32-bit
/// task says so: `… 4242 legacy (32-bit) semop(…) = 0 …`.
pub fn text_line_in(ev: &Event, clock: &Clock, now_ns: u64, container: Option<&str>) -> String {
    let mut out = String::with_capacity(128);
    out.push_str(&wall_time(clock.unix_ns(shown_ts(ev, now_ns))));
    let _ = write!(out, " {}", ev.pid);
    if ev.tid != ev.pid {
        let _ = write!(out, "/{}", ev.tid);
    }
    let _ = write!(out, " {}", crate::text::escape(&ev.comm.as_str()));
    if let Some(c) = container.filter(|c| *c != "host") {
        let _ = write!(out, " [{}]", crate::text::escape(c));
    }
    if ev.compat {
        out.push_str(" (32-bit)");
    }
    let _ = write!(out, " {}(", ev.syscall);
    match &ev.args {
        Some(a) => out.push_str(&a.shown(ev.syscall)),
        None => out.push_str("<entry not seen>"),
    }
    out.push_str(") = ");
    fmt_ret(&mut out, ev);
    match (ev.end_ns, ev.duration_ns(), ev.start_ns) {
        (Some(_), Some(d), _) => {
            let _ = write!(out, " <{}>", human_duration(d));
        }
        (None, _, Some(s)) => {
            let _ = write!(
                out,
                " <unfinished, blocked {}>",
                human_duration(now_ns.saturating_sub(s))
            );
        }
        (None, _, None) => out.push_str(" <unfinished, begun before it was seen>"),
        _ => {}
    }
    out
}

#[derive(Serialize)]
struct JsonLine<'a> {
    ts_ns: u64,
    pid: u32,
    tid: u32,
    comm: &'a Comm,
    uid: u32,
    syscall: Syscall,
    args: Option<&'a Args>,
    ret: Option<i64>,
    errno: Option<Cow<'static, str>>,
    duration_ns: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    in_progress: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    elapsed_ns: Option<u64>,
    /// A signal ended the call (the kernel's `ERESTART*` code); `ret` is null, as strace's `?`.
    #[serde(skip_serializing_if = "Option::is_none")]
    interrupted: Option<&'static str>,
    /// The call was ended by its process's death; `ret` is null (left out when not).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    ended: bool,
    /// The caller's IPC namespace (inode of /proc/PID/ns/ipc) and cgroup id, from the kernel
    /// (null: unknown), and its container's label ("host" for none; absent: unknown).
    ipc_ns: Option<u64>,
    cgroup_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<&'a str>,
    /// The call came from a 32-bit task (left out when not).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    compat: bool,
}

/// `{"ts_ns", "pid", "tid", "comm", "uid", "syscall", "args": {…}, "ret", "errno", "duration_ns",
/// "ipc_ns", "cgroup_id", "container"}`; `ts_ns` is the start in Unix ns (the moment it was
/// seen, for a call in progress whose start nobody saw). A call in progress has
/// `"in_progress": true` and `"elapsed_ns"`, with `ret`, `errno` and `duration_ns` null.
/// `container` (the label of the cgroup, see [`crate::container::Labels`]) is left out when
/// unknown; `"compat": true` marks a call of a 32-bit task (left out for 64-bit ones);
/// `"ended": true` a call its process's death ended (`ret` null).
pub fn json_line(ev: &Event, clock: &Clock, now_ns: u64, container: Option<&str>) -> String {
    let line = JsonLine {
        ts_ns: clock.unix_ns(shown_ts(ev, now_ns)),
        pid: ev.pid,
        tid: ev.tid,
        comm: &ev.comm,
        uid: ev.uid,
        syscall: ev.syscall,
        args: ev.args.as_ref(),
        ret: ev
            .ret
            .filter(|_| ev.interrupted().is_none() && !ev.ended)
            .map(|r| if ev.failed() { -1 } else { r }),
        errno: ev.errno().map(errno_name),
        duration_ns: ev.duration_ns(),
        in_progress: ev.in_progress(),
        elapsed_ns: if ev.in_progress() {
            ev.start_ns.map(|s| now_ns.saturating_sub(s))
        } else {
            None
        },
        interrupted: ev.interrupted(),
        ended: ev.ended,
        ipc_ns: ev.ipc_ns,
        cgroup_id: ev.cgroup_id,
        container,
        compat: ev.compat,
    };
    let s = serde_json::to_string(&line).expect("serialising an event cannot fail");
    crate::text::json_inert(&s).into_owned()
}

#[cfg(test)]
#[path = "line_tests.rs"]
mod tests;
