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
    let mut out = String::with_capacity(128);
    out.push_str(&wall_time(clock.unix_ns(shown_ts(ev, now_ns))));
    let _ = write!(out, " {}", ev.pid);
    if ev.tid != ev.pid {
        let _ = write!(out, "/{}", ev.tid);
    }
    let _ = write!(
        out,
        " {} {}(",
        crate::text::escape(&ev.comm.as_str()),
        ev.syscall
    );
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
}

/// `{"ts_ns", "pid", "tid", "comm", "uid", "syscall", "args": {…}, "ret", "errno", "duration_ns"}`;
/// `ts_ns` is the start in Unix ns (the moment it was seen, for a call in progress whose
/// start nobody saw). A call in progress has `"in_progress": true` and
/// `"elapsed_ns"`, with `ret`, `errno` and `duration_ns` null.
pub fn json_line(ev: &Event, clock: &Clock, now_ns: u64) -> String {
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
            .filter(|_| ev.interrupted().is_none())
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
    };
    let s = serde_json::to_string(&line).expect("serialising an event cannot fail");
    crate::text::json_inert(&s).into_owned()
}

#[cfg(test)]
mod display_tests {
    use super::*;
    use crate::{
        event::{Flags, SemOp, SemOps, MSG_FLAGS, SEMBUF_FLAGS},
        fixtures::{ev, semop, ROOT, S},
    };

    /// The line without its local wall time (the time zone is the machine's).
    fn line(e: &Event) -> String {
        let l = text_line(e, &Clock::with_offset(0), 10 * S);
        l.split_once(' ').unwrap().1.to_string()
    }

    #[test]
    fn semop_has_three_arguments_and_semtimedop_four() {
        let mut e = ev(42, "w", ROOT, S, Some(S + 1_500), semop(7, 0, -1), Some(0));
        assert_eq!(
            line(&e),
            "42 w semtimedop(semid=7, [{0,-1,SEM_UNDO}], 1, NULL) = 0 <1.5 us>"
        );
        e.syscall = Syscall::SEMOP;
        assert_eq!(
            line(&e),
            "42 w semop(semid=7, [{0,-1,SEM_UNDO}], 1) = 0 <1.5 us>"
        );
    }

    #[test]
    fn nsops_is_the_kernels_unsigned_int_and_unknown_flags_show_their_bits() {
        let args = Args::Semop {
            semid: 7,
            // A register with garbage above the int the kernel reads.
            nsops: 0xffff_ffff_0000_0001,
            sops: SemOps::new([SemOp {
                sem_num: 0,
                sem_op: -1,
                sem_flg: Flags::new(0xf800, SEMBUF_FLAGS),
            }]),
            sops_read: true,
            timeout_ns: None,
        };
        let e = ev(42, "w", ROOT, S, Some(S + 1_000), args, Some(0));
        assert_eq!(
            line(&e),
            "42 w semtimedop(semid=7, [{0,-1,IPC_NOWAIT|SEM_UNDO|0xe000}], 1, NULL) = 0 <1.0 us>"
        );
        let j: serde_json::Value =
            serde_json::from_str(&json_line(&e, &Clock::with_offset(0), 10 * S)).unwrap();
        assert_eq!(j["args"]["nsops"], 1);
        let rcv = Args::Msgrcv {
            msqid: 3,
            msgsz: 64,
            msgtyp: 0,
            flags: Flags::new(0xffff_0800, MSG_FLAGS),
        };
        let e = ev(42, "w", ROOT, S, Some(S + 1_000), rcv, Some(-42));
        let l = line(&e);
        assert!(l.contains("msgtyp=0, IPC_NOWAIT|0xffff0000)"), "{l}");
        assert!(
            l.ends_with("= -1 ENOMSG (No message of desired type) <1.0 us>"),
            "{l}"
        );
    }

    #[test]
    fn a_call_a_signal_ended_is_not_an_error() {
        let e = ev(42, "w", ROOT, S, Some(2 * S), semop(7, 0, -1), Some(-514));
        let l = line(&e);
        assert!(
            l.ends_with("= ? ERESTARTNOHAND (interrupted by a signal) <1.00 s>"),
            "{l}"
        );
        let j: serde_json::Value =
            serde_json::from_str(&json_line(&e, &Clock::with_offset(0), 10 * S)).unwrap();
        assert_eq!(j["ret"], serde_json::Value::Null);
        assert_eq!(j["errno"], serde_json::Value::Null);
        assert_eq!(j["interrupted"], "ERESTARTNOHAND");
    }

    #[test]
    fn calls_in_progress_say_since_when() {
        let mut e = ev(42, "w", ROOT, 2 * S, None, semop(7, 0, -1), None);
        assert!(
            line(&e).ends_with("= ? <unfinished, blocked 8.00 s>"),
            "{}",
            line(&e)
        );
        e.start_ns = None;
        assert!(
            line(&e).ends_with("= ? <unfinished, begun before it was seen>"),
            "{}",
            line(&e)
        );
    }
}

#[cfg(test)]
#[path = "line_tests.rs"]
mod tests;
