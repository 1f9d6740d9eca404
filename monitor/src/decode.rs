//! Decoding: the probe's raw `#[repr(C)]` records (ring buffer bytes, in-flight map values)
//! into [`Event`]s. Everything that comes from the kernel is checked here: a short, unknown or
//! garbled record is an error the caller counts, never a panic.
use monitor_ebpf::{
    AggKey, AggVal, Call, Event as RawEvent, RowRecord, CALL_F_AUX_FAULT, CALL_F_COMPAT,
    CALL_F_ENDED, CALL_F_NO_ENTRY, CALL_F_SOPS_FAULT, EVENT_KIND_CALL, EVENT_KIND_ROW,
    EVENT_VERSION,
};

use crate::event::*;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is too short for an event ({1} bytes)")]
    Short(usize, usize),
    #[error("record of unknown kind {0} (version {1})")]
    UnknownKind(u16, u16),
    #[error("record of version {0}, this ipctop reads version {EVENT_VERSION}")]
    Version(u16),
    #[error("record names syscall index {0}, which the probe does not follow")]
    BadSyscall(u8),
}

/// One ring buffer record: a finished call, or a row the kernel's table had no room for.
#[derive(Debug)]
pub enum Record {
    Call(Event),
    Row(AggKey, AggVal),
}

/// Decodes one ring buffer record of any kind.
pub fn decode_any(bytes: &[u8]) -> Result<Record, DecodeError> {
    if bytes.len() >= 4 && u16::from_ne_bytes([bytes[0], bytes[1]]) == EVENT_KIND_ROW {
        let version = u16::from_ne_bytes([bytes[2], bytes[3]]);
        if version != EVENT_VERSION {
            return Err(DecodeError::Version(version));
        }
        let need = std::mem::size_of::<RowRecord>();
        if bytes.len() < need {
            return Err(DecodeError::Short(bytes.len(), need));
        }
        // SAFETY: the length was checked; RowRecord is plain data valid for any bits.
        let r: RowRecord = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
        return Ok(Record::Row(r.key, r.val));
    }
    decode_record(bytes).map(Record::Call)
}

/// Decodes one ring buffer record of a finished call.
pub fn decode_record(bytes: &[u8]) -> Result<Event, DecodeError> {
    let need = std::mem::size_of::<RawEvent>();
    // Kind and version first, so that a short record of another kind says so.
    if bytes.len() >= 4 {
        let kind = u16::from_ne_bytes([bytes[0], bytes[1]]);
        let version = u16::from_ne_bytes([bytes[2], bytes[3]]);
        if kind != EVENT_KIND_CALL {
            return Err(DecodeError::UnknownKind(kind, version));
        }
        if version != EVENT_VERSION {
            return Err(DecodeError::Version(version));
        }
    }
    if bytes.len() < need {
        return Err(DecodeError::Short(bytes.len(), need));
    }
    // SAFETY: the length was checked; RawEvent is plain data valid for any bits; the record
    // may not be aligned, hence read_unaligned.
    let raw: RawEvent = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
    let mut ev = decode_call(&raw.call)?;
    ev.end_ns = Some(raw.end_ns);
    ev.ret = Some(raw.ret);
    Ok(ev)
}

/// Decodes a call's entry (an in-flight map value, or the body of an event) into an event in
/// progress.
pub fn decode_call(c: &Call) -> Result<Event, DecodeError> {
    let syscall = Syscall::from_index(c.sys).ok_or(DecodeError::BadSyscall(c.sys))?;
    let no_entry = c.flags & CALL_F_NO_ENTRY != 0;
    Ok(Event {
        start_ns: (!no_entry && c.start_ns != 0).then_some(c.start_ns),
        end_ns: None,
        pid: c.pid,
        tid: c.tid,
        uid: c.uid,
        gid: c.gid,
        comm: Comm(c.comm),
        syscall,
        args: (!no_entry).then(|| decode_args(syscall, c)),
        ret: None,
        ipc_ns: (c.ipc_ns != 0).then_some(u64::from(c.ipc_ns)),
        ns_id: (c.ns_id != 0).then_some(c.ns_id),
        proc_start: crate::event::start_ticks(c.proc_start),
        cgroup_id: (c.cgroup_id != 0).then_some(c.cgroup_id),
        compat: c.flags & CALL_F_COMPAT != 0,
        ended: c.flags & CALL_F_ENDED != 0,
    })
}

/// The commands every *ctl call has; each call's own start at 11.
const IPC_CMDS: [&str; 4] = ["IPC_RMID", "IPC_SET", "IPC_STAT", "IPC_INFO"];
const SEM_CMDS: &[&str] = &[
    "GETPID",
    "GETVAL",
    "GETALL",
    "GETNCNT",
    "GETZCNT",
    "SETVAL",
    "SETALL",
    "SEM_STAT",
    "SEM_INFO",
    "SEM_STAT_ANY",
];
const SHM_CMDS: &[&str] = &[
    "SHM_LOCK",
    "SHM_UNLOCK",
    "SHM_STAT",
    "SHM_INFO",
    "SHM_STAT_ANY",
];
const MSG_CMDS: &[&str] = &["MSG_STAT", "MSG_INFO", "MSG_STAT_ANY"];

/// A semctl/shmctl/msgctl command by name: the common IPC_* ones (0..=3), then the call's own
/// (from 11). glibc passes IPC_64 (0x100) with every command; it is not part of the value.
fn ctl_cmd(cmd: i32, own: &'static [&'static str]) -> Cmd {
    let value = cmd & !0x100;
    let name = match value {
        0..=3 => Some(IPC_CMDS[value as usize]),
        11.. => own.get((value - 11) as usize).copied(),
        _ => None,
    };
    Cmd { value, name }
}

/// Decodes the raw syscall arguments of `c` for `syscall`.
pub fn decode_args(syscall: Syscall, c: &Call) -> Args {
    let a = c.args;
    let int = |i: usize| a[i] as i32;
    // A 32-bit task's `struct msgbuf` starts with a 32-bit `long` (the probe read 64 bits).
    let mtype = if c.flags & CALL_F_COMPAT != 0 {
        i64::from(c.aux as i32)
    } else {
        c.aux
    };
    let flags_mode = |v: u64, table| (Flags::new(v as u32 & !0o777, table), Mode(v as u32 & 0o777));
    match syscall {
        Syscall::SEMGET => {
            let (flags, mode) = flags_mode(a[2], GET_FLAGS);
            Args::Semget {
                key: Key(int(0)),
                nsems: int(1),
                flags,
                mode,
            }
        }
        Syscall::SEMOP | Syscall::SEMTIMEDOP => {
            let sops_read = c.flags & CALL_F_SOPS_FAULT == 0 && (c.nsops_read > 0 || a[2] == 0);
            let n = (c.nsops_read as usize).min(c.sops.len());
            Args::Semop {
                semid: int(0),
                nsops: a[2],
                sops: SemOps::new(c.sops[..n].iter().map(|s| SemOp {
                    sem_num: s.sem_num,
                    sem_op: s.sem_op,
                    sem_flg: Flags::new(s.sem_flg as u16 as u32, SEMBUF_FLAGS),
                })),
                sops_read,
                timeout_ns: (syscall == Syscall::SEMTIMEDOP
                    && c.aux >= 0
                    && c.flags & CALL_F_AUX_FAULT == 0)
                    .then_some(c.aux),
                timeout_unreadable: syscall == Syscall::SEMTIMEDOP
                    && c.flags & CALL_F_AUX_FAULT != 0,
            }
        }
        Syscall::SEMCTL => Args::Semctl {
            semid: int(0),
            semnum: int(1),
            cmd: ctl_cmd(int(2), SEM_CMDS),
            arg: a[3],
        },
        Syscall::SHMGET => {
            let (flags, mode) = flags_mode(a[2], SHMGET_FLAGS);
            Args::Shmget {
                key: Key(int(0)),
                size: a[1],
                flags,
                mode,
            }
        }
        Syscall::SHMAT => Args::Shmat {
            shmid: int(0),
            shmaddr: a[1],
            flags: Flags::new(a[2] as u32, SHMAT_FLAGS),
        },
        Syscall::SHMDT => Args::Shmdt { shmaddr: a[0] },
        Syscall::SHMCTL => Args::Shmctl {
            shmid: int(0),
            cmd: ctl_cmd(int(1), SHM_CMDS),
        },
        Syscall::MSGGET => {
            let (flags, mode) = flags_mode(a[1], GET_FLAGS);
            Args::Msgget {
                key: Key(int(0)),
                flags,
                mode,
            }
        }
        Syscall::MSGSND => Args::Msgsnd {
            msqid: int(0),
            mtype: (c.flags & CALL_F_AUX_FAULT == 0).then_some(mtype),
            msgsz: a[2],
            flags: Flags::new(a[3] as u32, MSG_FLAGS),
        },
        // `aux` is written at exit for a call that received a message (msgsnd refuses types
        // below 1, so 0 is "none": a call in progress, or one that failed).
        Syscall::MSGRCV => Args::Msgrcv {
            msqid: int(0),
            msgsz: a[2],
            msgtyp: a[3] as i64,
            flags: Flags::new(a[4] as u32, MSG_FLAGS),
            mtype: (mtype > 0 && c.flags & CALL_F_AUX_FAULT == 0).then_some(mtype),
            mtype_unreadable: c.flags & CALL_F_AUX_FAULT != 0,
        },
        s if s.is_posix_mq() => Args::Mq(MqArgs::decode(s, &a)),
        _ => Args::Msgctl {
            msqid: int(0),
            cmd: ctl_cmd(int(1), MSG_CMDS),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_ebpf::{sys, Sembuf, MAX_SOPS};

    fn call(sys: u8, args: [u64; 6]) -> Call {
        Call {
            start_ns: 1_000,
            args,
            aux: 0,
            pid: 42,
            tid: 43,
            uid: 1000,
            gid: 1000,
            sys,
            nsops_read: 0,
            flags: 0,
            ipc_ns: 0,
            ns_id: 0,
            proc_start: 0,
            cgroup_id: 0,
            comm: *b"worker\0\0\0\0\0\0\0\0\0\0",
            sops: [Sembuf::default(); MAX_SOPS],
        }
    }

    fn record(call: Call, end_ns: u64, ret: i64) -> Vec<u8> {
        let raw = RawEvent {
            kind: EVENT_KIND_CALL,
            version: EVENT_VERSION,
            _pad: 0,
            end_ns,
            ret,
            call,
        };
        // SAFETY: plain data.
        unsafe {
            std::slice::from_raw_parts(
                (&raw as *const RawEvent).cast::<u8>(),
                std::mem::size_of::<RawEvent>(),
            )
        }
        .to_vec()
    }

    #[test]
    fn semtimedop_with_sops_and_timeout() {
        let mut c = call(sys::SEMTIMEDOP, [5, 0x1000, 2, 0x2000, 0, 0]);
        c.nsops_read = 2;
        c.sops[0] = Sembuf {
            sem_num: 0,
            sem_op: -1,
            sem_flg: 0x1000,
        };
        c.sops[1] = Sembuf {
            sem_num: 3,
            sem_op: 0,
            sem_flg: 0o4000,
        };
        c.aux = 1_500_000_000;
        let ev = decode_record(&record(c, 13_300_000 + 1_000, 0)).unwrap();
        assert_eq!(ev.syscall, Syscall::SEMTIMEDOP);
        assert_eq!(ev.duration_ns(), Some(13_300_000));
        assert_eq!(ev.comm.to_string(), "worker");
        let args = ev.args.unwrap();
        assert_eq!(
            args.to_string(),
            "semid=5, [{0,-1,SEM_UNDO}, {3,0,IPC_NOWAIT}], 2, {1.500000000}"
        );
        let j = serde_json::to_value(args).unwrap();
        assert_eq!(j["sops"][0]["sem_op"], -1);
        assert_eq!(j["sops"][0]["sem_flg"][0], "SEM_UNDO");
        assert_eq!(j["sops"][1]["sem_flg"][0], "IPC_NOWAIT");
        assert_eq!(j["timeout_ns"], 1_500_000_000i64);
    }

    #[test]
    fn semop_more_sops_than_read_says_so() {
        let mut c = call(sys::SEMOP, [1, 0x1000, 20, 0, 0, 0]);
        c.nsops_read = MAX_SOPS as u8;
        let args = decode_call(&c).unwrap().args.unwrap();
        assert!(args.to_string().contains(", ...], 20, NULL"), "{args}");
    }

    #[test]
    fn unreadable_sops() {
        let mut c = call(sys::SEMOP, [1, 0x1000, 1, 0, 0, 0]);
        c.flags = CALL_F_SOPS_FAULT;
        let args = decode_call(&c).unwrap().args.unwrap();
        assert_eq!(args.to_string(), "semid=1, <unreadable>, 1, NULL");
    }

    #[test]
    fn get_flags_and_modes() {
        let c = call(
            sys::SHMGET,
            [0x1234, 4096, (0o1000 | 0o2000 | 0o4000 | 0o600), 0, 0, 0],
        );
        let args = decode_call(&c).unwrap().args.unwrap();
        assert_eq!(
            args.to_string(),
            "key=0x00001234, size=4096, IPC_CREAT|IPC_EXCL|SHM_HUGETLB|0600"
        );
        let j = serde_json::to_value(args).unwrap();
        assert_eq!(
            j["flags"],
            serde_json::json!(["IPC_CREAT", "IPC_EXCL", "SHM_HUGETLB"])
        );
        assert_eq!(j["mode"], "0600");
        let c = call(sys::MSGGET, [0, 0o644, 0, 0, 0, 0]);
        assert_eq!(
            decode_call(&c).unwrap().args.unwrap().to_string(),
            "key=IPC_PRIVATE, 0644"
        );
    }

    #[test]
    fn semctl_commands_strip_ipc_64() {
        let c = call(sys::SEMCTL, [7, 2, 0x100 | 16, 9, 0, 0]);
        let args = decode_call(&c).unwrap().args.unwrap();
        assert_eq!(args.to_string(), "semid=7, semnum=2, SETVAL, 9");
        let c = call(sys::SEMCTL, [7, 0, 99, 0, 0, 0]);
        assert_eq!(
            decode_call(&c).unwrap().args.unwrap().to_string(),
            "semid=7, semnum=0, 99"
        );
    }

    #[test]
    fn ctl_commands_by_number() {
        let names = |own| {
            (0..=25)
                .filter_map(|v| ctl_cmd(v, own).name.map(|n| (v, n)))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(SEM_CMDS),
            [
                (0, "IPC_RMID"),
                (1, "IPC_SET"),
                (2, "IPC_STAT"),
                (3, "IPC_INFO"),
                (11, "GETPID"),
                (12, "GETVAL"),
                (13, "GETALL"),
                (14, "GETNCNT"),
                (15, "GETZCNT"),
                (16, "SETVAL"),
                (17, "SETALL"),
                (18, "SEM_STAT"),
                (19, "SEM_INFO"),
                (20, "SEM_STAT_ANY")
            ]
        );
        assert_eq!(
            names(SHM_CMDS)[4..],
            [
                (11, "SHM_LOCK"),
                (12, "SHM_UNLOCK"),
                (13, "SHM_STAT"),
                (14, "SHM_INFO"),
                (15, "SHM_STAT_ANY")
            ]
        );
        assert_eq!(
            names(MSG_CMDS)[4..],
            [(11, "MSG_STAT"), (12, "MSG_INFO"), (13, "MSG_STAT_ANY")]
        );
        assert_eq!(
            ctl_cmd(0x100 | 2, MSG_CMDS),
            Cmd {
                value: 2,
                name: Some("IPC_STAT")
            }
        );
        assert_eq!(ctl_cmd(-5, SEM_CMDS).name, None);
    }

    #[test]
    fn errno_and_failure() {
        let c = call(sys::SHMAT, [3, 0, 0o10000, 0, 0, 0]);
        let ev = decode_record(&record(c, 2_000, -13)).unwrap();
        assert_eq!(ev.errno(), Some(13));
        assert_eq!(errno_name(13), "EACCES");
        assert_eq!(errno_desc(13), "Permission denied");
        // shmat's address is not an error, however large.
        let ev = decode_record(&record(c, 2_000, 0x7f00_0000_0000)).unwrap();
        assert_eq!(ev.errno(), None);
        assert_eq!(errno_name(4000), "4000");
    }

    #[test]
    fn namespace_and_cgroup_from_the_kernel_zero_is_unknown() {
        let mut c = call(sys::SEMOP, [1, 0x1000, 1, 0, 0, 0]);
        let ev = decode_record(&record(c, 2_000, 0)).unwrap();
        assert_eq!((ev.ipc_ns, ev.cgroup_id), (None, None));
        c.ipc_ns = 4_026_532_177;
        c.cgroup_id = 1;
        let ev = decode_record(&record(c, 2_000, 0)).unwrap();
        assert_eq!((ev.ipc_ns, ev.cgroup_id), (Some(4_026_532_177), Some(1)));
    }

    #[test]
    fn msgrcv_type_received_only_when_the_kernel_read_one() {
        // In progress (aux 0), received (aux > 0), received but unreadable.
        let mut c = call(sys::MSGRCV, [2, 0x10, 64, 0, 0, 0]);
        let m = |c: &Call| match decode_call(c).unwrap().args.unwrap() {
            Args::Msgrcv {
                mtype,
                mtype_unreadable,
                ..
            } => (mtype, mtype_unreadable),
            _ => unreachable!(),
        };
        assert_eq!(m(&c), (None, false));
        c.aux = 5;
        assert_eq!(m(&c), (Some(5), false));
        c.aux = 0;
        c.flags = CALL_F_AUX_FAULT;
        assert_eq!(m(&c), (None, true));
    }

    #[test]
    fn a_32bit_tasks_mtype_is_a_32bit_long() {
        // The probe read 64 bits of a `struct msgbuf` whose `long` is 32-bit: the next 4
        // bytes (the text "ab\0\0") are not part of the type.
        let mut c = call(sys::MSGSND, [2, 0x10, 64, 0, 0, 0]);
        c.aux = 0x0000_6261_0000_0007;
        let mtype = |c: &Call| match decode_call(c).unwrap().args.unwrap() {
            Args::Msgsnd { mtype, .. } | Args::Msgrcv { mtype, .. } => mtype,
            _ => unreachable!(),
        };
        assert_eq!(mtype(&c), Some(0x0000_6261_0000_0007));
        assert!(!decode_call(&c).unwrap().compat);
        c.flags = CALL_F_COMPAT;
        assert_eq!(mtype(&c), Some(7));
        assert!(decode_call(&c).unwrap().compat);
        c.sys = sys::MSGRCV;
        assert_eq!(mtype(&c), Some(7));
    }

    #[test]
    fn the_ended_flag_is_decoded() {
        let mut c = call(sys::SEMTIMEDOP, [5, 0x1000, 1, 0, 0, 0]);
        assert!(!decode_call(&c).unwrap().ended);
        c.flags = CALL_F_ENDED | CALL_F_COMPAT;
        let e = decode_call(&c).unwrap();
        assert!(e.ended && e.compat);
    }

    #[test]
    fn an_unreadable_timespec_is_not_null() {
        let mut c = call(sys::SEMTIMEDOP, [5, 0x1000, 0, 0x2000, 0, 0]);
        c.flags = CALL_F_AUX_FAULT;
        let args = decode_call(&c).unwrap().args.unwrap();
        assert_eq!(args.to_string(), "semid=5, [], 0, <unreadable>");
        assert_eq!(
            serde_json::to_value(args).unwrap()["timeout_unreadable"],
            true
        );
    }

    #[test]
    fn exit_without_entry() {
        let mut c = call(sys::MSGRCV, [0; 6]);
        c.flags = CALL_F_NO_ENTRY;
        c.start_ns = 0;
        let ev = decode_record(&record(c, 5_000, 8)).unwrap();
        assert_eq!(ev.args, None);
        assert_eq!(ev.start_ns, None);
        assert_eq!(ev.duration_ns(), None);
        assert_eq!(ev.ts_ns(), 5_000);
    }

    #[test]
    fn garbage_records_are_errors() {
        let good = record(call(sys::SEMGET, [1, 1, 0o600, 0, 0, 0]), 2_000, 3);
        assert!(matches!(decode_record(&[]), Err(DecodeError::Short(0, _))));
        assert!(matches!(
            decode_record(&good[..good.len() - 1]),
            Err(DecodeError::Short(_, _))
        ));
        let mut bad = good.clone();
        bad[0] = 9;
        assert!(matches!(
            decode_record(&bad),
            Err(DecodeError::UnknownKind(9, _))
        ));
        let mut bad = good.clone();
        bad[2] = 77;
        assert_eq!(decode_record(&bad), Err(DecodeError::Version(77)));
        let mut c = call(sys::SEMGET, [0; 6]);
        c.sys = 200;
        assert_eq!(
            decode_record(&record(c, 1, 0)),
            Err(DecodeError::BadSyscall(200))
        );
        // A longer record (a future field) still decodes what it knows.
        let mut long = good.clone();
        long.extend_from_slice(&[0xff; 16]);
        assert!(decode_record(&long).is_ok());
        // Every prefix of a good record and random bytes: errors, never a panic.
        for n in 0..good.len() {
            assert!(decode_record(&good[..n]).is_err());
        }
        let mut x: u32 = 0x1234_5678;
        for _ in 0..1000 {
            let bytes: Vec<u8> = (0..std::mem::size_of::<RawEvent>())
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = decode_record(&bytes);
        }
    }
}
