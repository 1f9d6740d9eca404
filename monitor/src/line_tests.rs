//! The public trace format: the strace-like text line and the JSON line of `ipctop trace`,
//! and the times and durations in them.
use serde_json::{json, Value};

use super::*;
use crate::{
    event::{Args, Clock, Event, Flags, SHMAT_FLAGS},
    fixtures::{ev, semop, NOW, S, USER},
};

/// The monotonic stamp the fixtures' calls start at; `clock()` maps it to `NOW` (22:13:20 UTC).
const T0: u64 = 7_000 * S;
const MS: u64 = 1_000_000;

fn clock() -> Clock {
    Clock::with_offset(NOW as i128 * S as i128 - T0 as i128)
}

/// semtimedop(semid 5, {0,-1,SEM_UNDO}) by process 4242 "worker", started at `T0`, that took
/// `took` ns (`None`: still blocked) and returned `ret`.
fn semop_call(took: Option<u64>, ret: Option<i64>) -> Event {
    ev(
        4242,
        "worker",
        USER,
        T0,
        took.map(|d| T0 + d),
        semop(5, 0, -1),
        ret,
    )
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).expect("a JSON line")
}

#[test]
fn durations_read_in_the_unit_that_fits() {
    for (ns, text) in [
        (0, "0 ns"),
        (999, "999 ns"),
        (1_000, "1.0 us"),
        (12_345, "12.3 us"),
        (999_949, "999.9 us"),
        (4_500_000, "4.5 ms"),
        (999_940_000, "999.9 ms"),
        (1_000_000_000, "1.00 s"),
        (1_250_000_000, "1.25 s"),
        (3_725_000_000_000, "3725.00 s"),
    ] {
        assert_eq!(human_duration(ns), text, "{ns} ns");
    }
}

#[test]
fn wall_time_is_the_time_of_day_at_an_offset_to_the_microsecond() {
    let t = NOW as u64 * S + 123_456_789;
    assert_eq!(wall_time_at(t, 0), "22:13:20.123456");
    assert_eq!(wall_time_at(t, 3600), "23:13:20.123456");
    // Past midnight, east and west.
    assert_eq!(wall_time_at(t, 2 * 3600), "00:13:20.123456");
    assert_eq!(wall_time_at(30 * S, -3600), "23:00:30.000000");
    assert_eq!(wall_time_at(t, -(5 * 3600 + 30 * 60)), "16:43:20.123456");
    assert_eq!(wall_time_at(0, 0), "00:00:00.000000");
}

#[test]
fn unit_tests_show_local_time_as_utc() {
    // So that the dashboard's snapshots do not depend on the machine's zone (no TZ mutation).
    assert_eq!(wall_time(NOW as u64 * S + 5_000), "22:13:20.000005");
}

#[test]
fn a_finished_call_reads_like_strace_with_its_duration() {
    let e = semop_call(Some(12_300_000), Some(0));
    assert_eq!(
        text_line(&e, &clock(), T0 + S),
        "22:13:20.000000 4242 worker semtimedop(semid=5, [{0,-1,SEM_UNDO}], 1, NULL) = 0 <12.3 ms>"
    );
}

#[test]
fn a_failed_call_shows_minus_one_the_errno_name_and_its_description() {
    let e = semop_call(Some(850), Some(-11));
    let line = text_line(&e, &clock(), T0 + S);
    assert!(
        line.ends_with(") = -1 EAGAIN (Try again) <850 ns>"),
        "{line}"
    );
}

#[test]
fn a_call_in_progress_shows_how_long_it_has_blocked() {
    let e = semop_call(None, None);
    let line = text_line(&e, &clock(), T0 + 1_200 * MS);
    assert!(
        line.ends_with(" = ? <unfinished, blocked 1.20 s>"),
        "{line}"
    );
}

#[test]
fn another_thread_is_named_pid_slash_tid() {
    let mut e = semop_call(Some(MS), Some(0));
    e.tid = 4250;
    assert!(
        text_line(&e, &clock(), T0).starts_with("22:13:20.000000 4242/4250 worker semtimedop("),
        "{}",
        text_line(&e, &clock(), T0)
    );
}

#[test]
fn a_call_whose_entry_was_not_seen_is_dated_by_its_exit() {
    let mut e = semop_call(Some(2 * S), Some(0));
    e.start_ns = None;
    e.args = None;
    assert_eq!(
        text_line(&e, &clock(), T0 + 3 * S),
        "22:13:22.000000 4242 worker semtimedop(<entry not seen>) = 0"
    );
}

#[test]
fn shmat_returns_an_address_in_hex() {
    let args = Args::Shmat {
        shmid: 9,
        shmaddr: 0,
        flags: Flags::new(0, SHMAT_FLAGS),
    };
    let e = ev(
        4242,
        "worker",
        USER,
        T0,
        Some(T0 + 2_000),
        args,
        Some(0x7f00_dead_0000),
    );
    let line = text_line(&e, &clock(), T0);
    assert!(
        line.contains("shmat(") && line.ends_with(") = 0x7f00dead0000 <2.0 us>"),
        "{line}"
    );
}

#[test]
fn the_json_line_of_a_finished_call() {
    let e = semop_call(Some(12_300_000), Some(0));
    let v = json(&json_line(&e, &clock(), T0 + S, None));
    assert_eq!(
        v,
        json!({
            "ts_ns": NOW as u64 * S,
            "pid": 4242,
            "tid": 4242,
            "comm": "worker",
            "uid": USER,
            "syscall": "semtimedop",
            "args": v["args"].clone(),
            "ret": 0,
            "errno": null,
            "duration_ns": 12_300_000,
            "ipc_ns": null,
            "cgroup_id": null,
        })
    );
    assert_eq!(v["args"]["semid"], 5);
    assert_eq!(
        v["args"]["sops"],
        json!([{"sem_num": 0, "sem_op": -1, "sem_flg": ["SEM_UNDO"]}])
    );
}

#[test]
fn a_call_stamped_with_its_namespace_and_container() {
    let mut e = semop_call(Some(1_000), Some(0));
    e.ipc_ns = Some(4_026_532_177);
    e.cgroup_id = Some(9_876);
    let v = json(&json_line(
        &e,
        &clock(),
        T0 + S,
        Some("docker:3f4e5a6b7c8d"),
    ));
    assert_eq!(v["ipc_ns"], 4_026_532_177u64);
    assert_eq!(v["cgroup_id"], 9_876);
    assert_eq!(v["container"], "docker:3f4e5a6b7c8d");
    let v = json(&json_line(&e, &clock(), T0 + S, Some("host")));
    assert_eq!(v["container"], "host");
    // The text line names a container, never the host.
    assert_eq!(
        text_line_in(&e, &clock(), T0 + S, Some("docker:3f4e5a6b7c8d")),
        "22:13:20.000000 4242 worker [docker:3f4e5a6b7c8d] semtimedop(semid=5, \
         [{0,-1,SEM_UNDO}], 1, NULL) = 0 <1.0 us>"
    );
    assert_eq!(
        text_line_in(&e, &clock(), T0 + S, Some("host")),
        text_line(&e, &clock(), T0 + S)
    );
}

#[test]
fn a_call_of_a_32bit_task_says_so() {
    let mut e = semop_call(Some(1_000), Some(0));
    assert_eq!(
        json(&json_line(&e, &clock(), T0 + S, None)).get("compat"),
        None
    );
    e.compat = true;
    assert_eq!(json(&json_line(&e, &clock(), T0 + S, None))["compat"], true);
    assert_eq!(
        text_line(&e, &clock(), T0 + S),
        "22:13:20.000000 4242 worker (32-bit) semtimedop(semid=5, [{0,-1,SEM_UNDO}], 1, NULL) \
         = 0 <1.0 us>"
    );
}

#[test]
fn msgrcv_shows_the_type_received() {
    let rcv = |mtype, mtype_unreadable| Args::Msgrcv {
        msqid: 3,
        msgsz: 64,
        msgtyp: 0,
        flags: Flags::new(0, crate::event::MSG_FLAGS),
        mtype,
        mtype_unreadable,
    };
    let received = |args| ev(42, "w", USER, T0, Some(T0 + 1_000), args, Some(12));
    let e = received(rcv(Some(7), false));
    let l = text_line(&e, &clock(), T0 + S);
    assert!(
        l.contains("msgrcv(msqid=3, {mtype=7}, 64, msgtyp=0, 0) = 12"),
        "{l}"
    );
    assert_eq!(
        json(&json_line(&e, &clock(), T0 + S, None))["args"]["mtype"],
        7
    );
    let e = received(rcv(None, true));
    let l = text_line(&e, &clock(), T0 + S);
    assert!(l.contains("msgrcv(msqid=3, <unreadable>, 64,"), "{l}");
    let j = json(&json_line(&e, &clock(), T0 + S, None));
    assert_eq!(j["args"]["mtype_unreadable"], true);
    assert!(j["args"].get("mtype").is_none());
}

#[test]
fn the_json_line_of_a_failed_call_has_ret_minus_one_and_the_errno_name() {
    let e = semop_call(Some(850), Some(-11));
    let v = json(&json_line(&e, &clock(), T0 + S, None));
    assert_eq!((&v["ret"], &v["errno"]), (&json!(-1), &json!("EAGAIN")));
    assert_eq!(v["duration_ns"], 850);
    assert!(v.get("in_progress").is_none(), "{v}");
}

#[test]
fn the_json_line_of_a_call_in_progress_has_its_elapsed_time_and_no_result() {
    let e = semop_call(None, None);
    let v = json(&json_line(&e, &clock(), T0 + 1_200 * MS, None));
    assert_eq!(v["in_progress"], true);
    assert_eq!(v["elapsed_ns"], 1_200 * MS);
    for k in ["ret", "errno", "duration_ns"] {
        assert_eq!(v[k], Value::Null, "{k}: {v}");
    }
}

// The display of arguments, results and signals (the kernel's types, strace's ways).
mod display {
    use super::*;

    use crate::{
        event::{Flags, SemOp, SemOps, MSG_FLAGS, SEMBUF_FLAGS},
        fixtures::{ev, semop, ROOT, S},
    };

    /// The line without its local wall time (the time zone is the machine's).
    fn line_no_time(e: &Event) -> String {
        let l = text_line(e, &Clock::with_offset(0), 10 * S);
        l.split_once(' ').unwrap().1.to_string()
    }

    #[test]
    fn semop_has_three_arguments_and_semtimedop_four() {
        let mut e = ev(42, "w", ROOT, S, Some(S + 1_500), semop(7, 0, -1), Some(0));
        assert_eq!(
            line_no_time(&e),
            "42 w semtimedop(semid=7, [{0,-1,SEM_UNDO}], 1, NULL) = 0 <1.5 us>"
        );
        e.syscall = Syscall::SEMOP;
        assert_eq!(
            line_no_time(&e),
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
            timeout_unreadable: false,
        };
        let e = ev(42, "w", ROOT, S, Some(S + 1_000), args, Some(0));
        assert_eq!(
            line_no_time(&e),
            "42 w semtimedop(semid=7, [{0,-1,IPC_NOWAIT|SEM_UNDO|0xe000}], 1, NULL) = 0 <1.0 us>"
        );
        let j: serde_json::Value =
            serde_json::from_str(&json_line(&e, &Clock::with_offset(0), 10 * S, None)).unwrap();
        assert_eq!(j["args"]["nsops"], 1);
        let rcv = Args::Msgrcv {
            msqid: 3,
            msgsz: 64,
            msgtyp: 0,
            flags: Flags::new(0xffff_0800, MSG_FLAGS),
            mtype: None,
            mtype_unreadable: false,
        };
        let e = ev(42, "w", ROOT, S, Some(S + 1_000), rcv, Some(-42));
        let l = line_no_time(&e);
        assert!(l.contains("msgtyp=0, IPC_NOWAIT|0xffff0000)"), "{l}");
        assert!(
            l.ends_with("= -1 ENOMSG (No message of desired type) <1.0 us>"),
            "{l}"
        );
    }

    #[test]
    fn a_call_a_signal_ended_is_not_an_error() {
        let e = ev(42, "w", ROOT, S, Some(2 * S), semop(7, 0, -1), Some(-514));
        let l = line_no_time(&e);
        assert!(
            l.ends_with("= ? ERESTARTNOHAND (interrupted by a signal) <1.00 s>"),
            "{l}"
        );
        let j: serde_json::Value =
            serde_json::from_str(&json_line(&e, &Clock::with_offset(0), 10 * S, None)).unwrap();
        assert_eq!(j["ret"], serde_json::Value::Null);
        assert_eq!(j["errno"], serde_json::Value::Null);
        assert_eq!(j["interrupted"], "ERESTARTNOHAND");
    }

    /// A call its process's death ended (EINTR, or a restart code, at the exit of a dying
    /// task): neither failed nor interrupted, said as ended.
    #[test]
    fn a_call_ended_by_its_process_death_is_neither_failed_nor_interrupted() {
        for ret in [-4, -512, -514] {
            let e = Event {
                ended: true,
                ..ev(42, "w", ROOT, S, Some(2 * S), semop(7, 0, -1), Some(ret))
            };
            assert!(!e.failed() && e.errno().is_none() && e.interrupted().is_none());
            let l = line_no_time(&e);
            assert!(l.ends_with("= ? (ended: the process died) <1.00 s>"), "{l}");
            let j: serde_json::Value =
                serde_json::from_str(&json_line(&e, &Clock::with_offset(0), 10 * S, None)).unwrap();
            assert_eq!(j["ret"], serde_json::Value::Null);
            assert_eq!(j["errno"], serde_json::Value::Null);
            assert_eq!(j["interrupted"], serde_json::Value::Null);
            assert_eq!(j["ended"], true);
        }
        // Not ended: an EINTR is a failure as strace shows it, and "ended" is left out.
        let e = ev(42, "w", ROOT, S, Some(2 * S), semop(7, 0, -1), Some(-4));
        assert_eq!(e.errno(), Some(4));
        let j = json_line(&e, &Clock::with_offset(0), 10 * S, None);
        assert!(!j.contains("ended"), "{j}");
    }

    #[test]
    fn calls_in_progress_say_since_when() {
        let mut e = ev(42, "w", ROOT, 2 * S, None, semop(7, 0, -1), None);
        assert!(
            line_no_time(&e).ends_with("= ? <unfinished, blocked 8.00 s>"),
            "{}",
            line_no_time(&e)
        );
        e.start_ns = None;
        assert!(
            line_no_time(&e).ends_with("= ? <unfinished, begun before it was seen>"),
            "{}",
            line_no_time(&e)
        );
    }
}
