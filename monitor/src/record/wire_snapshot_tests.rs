//! The snapshot line's file format: a golden file of a snapshot with every field set, a round
//! trip through the internal types, and the checked-in demo recording read back to the same
//! JSON it holds.
use super::Snapshot as Wire;
use crate::{
    record::{Body, Line},
    snapshot::{
        namespaces::NsObjects, Limits, MapAttach, MsgRead, MsgRow, ProcRead, RawSop, ReadFail,
        SemRow, SemSetRead, SemValue, ShmRow, Snapshot, TaskWait, Unknown, WaitCall,
    },
};

fn shm(shmid: i32) -> ShmRow {
    ShmRow {
        key: 0x1234,
        shmid,
        mode: 0o1600,
        size: 65536,
        cpid: 100,
        lpid: 101,
        nattch: 2,
        uid: 1000,
        gid: 1001,
        cuid: 1002,
        cgid: 1003,
        atime: 1_700_000_001,
        dtime: 1_700_000_002,
        ctime: 1_700_000_003,
        rss: Some(4096),
        swap: Some(8192),
    }
}

fn sem_row(semid: i32) -> SemRow {
    SemRow {
        key: -7,
        semid,
        mode: 0o600,
        nsems: 2,
        uid: 1000,
        gid: 1001,
        cuid: 1002,
        cgid: 1003,
        otime: 1_700_000_004,
        ctime: 1_700_000_005,
    }
}

fn msg_row(msqid: i32) -> MsgRow {
    MsgRow {
        key: 0,
        msqid,
        mode: 0o644,
        cbytes: 300,
        qnum: 3,
        lspid: 102,
        lrpid: 103,
        uid: 1000,
        gid: 1001,
        cuid: 1002,
        cgid: 1003,
        stime: 1_700_000_006,
        rtime: 1_700_000_007,
        ctime: 1_700_000_008,
    }
}

fn limits(msgmax: Option<u64>) -> Limits {
    Limits {
        semmsl: Some(32000),
        semmns: Some(1_024_000_000),
        semopm: Some(500),
        semmni: Some(32000),
        shmmni: Some(4096),
        shmall: Some(18_446_744_073_692_774_399),
        shmmax: Some(18_446_744_073_692_774_399),
        msgmni: Some(32000),
        msgmax,
        msgmnb: Some(16384),
        page_size: 4096,
    }
}

/// Every field set, every enum variant present, every `Option` both ways somewhere.
fn fixture() -> Snapshot {
    let sem_sets = vec![
        SemSetRead {
            row: sem_row(5),
            values: Ok(vec![
                SemValue {
                    value: 1,
                    ncnt: 2,
                    zcnt: 3,
                    last_pid: 100,
                },
                SemValue {
                    value: 0,
                    ncnt: 0,
                    zcnt: 0,
                    last_pid: 0,
                },
            ]),
        },
        SemSetRead {
            row: sem_row(6),
            values: Err(ReadFail::Denied),
        },
        SemSetRead {
            row: sem_row(7),
            values: Err(ReadFail::Gone),
        },
    ];
    let queues = vec![
        MsgRead {
            row: msg_row(9),
            qbytes: Ok(16384),
        },
        MsgRead {
            row: msg_row(10),
            qbytes: Err(ReadFail::Other(22)),
        },
    ];
    let waiter = ProcRead {
        pid: 100,
        ppid: 1,
        comm: "worker".into(),
        state: 'S',
        uid: Some(1000),
        start_unix_ns: Some(1_700_000_000_123_456_789),
        start_ticks: Some(12_345),
        threads: 3,
        observer: false,
        ipc_ns: Some(4026531839),
        attachments: Some(vec![MapAttach {
            shmid: 3,
            start: 0x7f00_0000_0000,
            end: 0x7f00_0001_0000,
            dev: (0, 1),
            writable: true,
        }]),
        waits: Some(vec![
            TaskWait {
                tid: 100,
                call: WaitCall::Sem {
                    semid: 5,
                    nsops: 2,
                    sops: Some(vec![RawSop {
                        num: 1,
                        op: -1,
                        flg: 0o10000,
                    }]),
                    timed: true,
                },
                wchan: Some("do_semtimedop".into()),
                asleep_since_ns: None,
            },
            TaskWait {
                tid: 104,
                call: WaitCall::Sem {
                    semid: 5,
                    nsops: 1,
                    sops: None,
                    timed: false,
                },
                wchan: None,
                asleep_since_ns: None,
            },
            TaskWait {
                tid: 105,
                call: WaitCall::Msgrcv {
                    msqid: 9,
                    msgsz: 128,
                    msgtyp: -4,
                },
                wchan: Some("do_msgrcv".into()),
                asleep_since_ns: None,
            },
            TaskWait {
                tid: 106,
                call: WaitCall::Msgsnd {
                    msqid: 9,
                    msgsz: 64,
                },
                wchan: Some("do_msgsnd".into()),
                asleep_since_ns: None,
            },
        ]),
        cmdline: Some("worker --jobs 4".into()),
    };
    let unreadable = ProcRead {
        pid: 200,
        ppid: 2,
        comm: "kthread".into(),
        state: 'I',
        uid: None,
        start_unix_ns: None,
        start_ticks: None,
        threads: 0,
        observer: true,
        ipc_ns: None,
        attachments: None,
        waits: None,
        cmdline: None,
    };
    Snapshot {
        unix_ns: 1_795_427_848_800_527_914,
        mono_ns: 2_423_211_631_455,
        ipc_ns: Some(4026531839),
        ns_pid: Some(100),
        shm: vec![shm(3)],
        sem: sem_sets.clone(),
        msg: queues.clone(),
        processes: vec![waiter, unreadable],
        limits: limits(Some(8192)),
        others: vec![NsObjects {
            ipc_ns: 4026532177,
            via_pid: Some(300),
            shm: vec![shm(0)],
            sem: sem_sets,
            msg: queues,
            limits: limits(None),
            problems: vec!["/proc/sysvipc/sem:3: bad line".into()],
        }],
        ns_labels: vec![
            (4026531839, "host".into()),
            (4026532177, "docker:3f4e5a6b7c8d".into()),
        ],
        shm_dev: Some((0, 1)),
        problems: vec!["/proc/sysvipc/shm:2: bad line".into()],
        unknowns: vec![Unknown {
            what: "attached segments (/proc/PID/maps) of 1 process".into(),
            reason: "ptrace access refused".into(),
            pids: vec![200],
        }],
    }
}

fn as_line(w: Wire) -> Line {
    Line {
        t: 2_423_211_631_455,
        body: Body::Snapshot(Box::new(w)),
    }
}

fn line(w: Wire) -> String {
    serde_json::to_string(&as_line(w)).unwrap()
}

fn wire_of(line: &str) -> Wire {
    match serde_json::from_str::<Line>(line).unwrap().body {
        Body::Snapshot(w) => *w,
        other => panic!("not a snapshot line: {other:?}"),
    }
}

/// The snapshot line as written. If this fails, the file format changed: bump
/// `FORMAT_VERSION`, keep reading the older form, then accept the new golden file.
#[test]
fn the_snapshot_line_is_the_golden_one() {
    // Pretty, but otherwise as the writer writes it (fields in the order written).
    let pretty = serde_json::to_string_pretty(&as_line(Wire::from(&fixture()))).unwrap();
    insta::assert_snapshot!("golden", pretty);
}

/// Written and read back, the internal snapshot is the same (compared in its wire form: the
/// internal types have no equality of their own at the top).
#[test]
fn a_snapshot_round_trips() {
    let w = Wire::from(&fixture());
    let back: Snapshot = wire_of(&line(w.clone())).into();
    assert_eq!(Wire::from(&back), w);
    // And the fields that do have equality, directly.
    let f = fixture();
    assert_eq!(back.processes, f.processes);
    assert_eq!(back.shm, f.shm);
    assert_eq!(back.limits, f.limits);
    assert_eq!(back.unknowns, f.unknowns);
    assert_eq!(back.others[0].limits, f.others[0].limits);
}

/// The fields absent in older recordings read as their defaults.
#[test]
fn an_old_snapshot_without_the_newer_fields_reads() {
    let mut v: serde_json::Value = serde_json::from_str(&line(Wire::from(&fixture()))).unwrap();
    let s = v["snapshot"].as_object_mut().unwrap();
    s.remove("others");
    s.remove("ns_labels");
    s["unknowns"][0].as_object_mut().unwrap().remove("pids");
    let l = s["limits"].as_object_mut().unwrap();
    l.remove("msgmax");
    l.remove("msgmnb");
    let back: Snapshot = wire_of(&v.to_string()).into();
    assert!(back.others.is_empty() && back.ns_labels.is_empty());
    assert!(back.unknowns[0].pids.is_empty());
    assert_eq!((back.limits.msgmax, back.limits.msgmnb), (None, None));
    assert_eq!(back.processes, fixture().processes);
}

/// Every snapshot line of the checked-in demo recording (format 1) reads, and written again
/// is the JSON it was, but for the limits added since (written as null, absent in the file).
#[test]
fn the_demo_recordings_snapshots_read_identically() {
    let mut seen = 0;
    let lines = crate::record::demo_lines();
    for (l, raw) in lines.iter().filter(|(_, v)| v.get("snapshot").is_some()) {
        let internal: Snapshot = wire_of(l).into();
        let mut again: serde_json::Value =
            serde_json::from_str(&line(Wire::from(&internal))).expect("written again, it is JSON");
        again["t"] = raw["t"].clone();
        let lim = again["snapshot"]["limits"].as_object_mut().unwrap();
        for k in ["msgmax", "msgmnb"] {
            if raw["snapshot"]["limits"].get(k).is_none() {
                assert_eq!(lim.remove(k), Some(serde_json::Value::Null));
            }
        }
        assert_eq!(&again, raw, "snapshot line {seen} of the demo recording");
        seen += 1;
    }
    assert!(seen >= 10, "the demo recording has its snapshots ({seen})");
}
