//! Events on disk: the probe's raw call record (`monitor_ebpf::Call`, plus exit time and
//! return value) as a JSON array, decoded on replay by the same `decode` as live.
use monitor_ebpf::{
    Call, Sembuf, CALL_F_AUX_FAULT, CALL_F_COMPAT, CALL_F_NO_ENTRY, CALL_F_SOPS_FAULT, MAX_SOPS,
};
use serde::{Deserialize, Serialize};

use crate::{
    decode::{decode_call, DecodeError},
    event::{Args, Comm, Event},
};

/// `[start_ns, end_ns|null, ret|null, pid, tid, uid, gid, comm, sys, flags, [6 args], aux,
/// [[sem_num, sem_op, sem_flg]…], ipc_ns|null, cgroup_id|null, ns_id|null,
/// proc_start|null]` (`proc_start` in clock ticks, as the event has it); the last four are
/// absent in recordings of event version 2 (unknown), the last two in version 3.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireCall(
    pub u64,
    pub Option<u64>,
    pub Option<i64>,
    pub u32,
    pub u32,
    pub u32,
    pub u32,
    pub String,
    pub u8,
    pub u16,
    pub [u64; 6],
    pub i64,
    pub Vec<(u16, i16, i16)>,
    #[serde(default)] pub Option<u64>,
    #[serde(default)] pub Option<u64>,
    #[serde(default)] pub Option<u64>,
    #[serde(default)] pub Option<u64>,
);

/// The raw arguments that decode back to `args`.
fn encode_args(args: &Args, c: &mut Call) {
    let key = |k: i32| k as u32 as u64;
    match *args {
        Args::Semget {
            key: k,
            nsems,
            flags,
            mode,
        } => {
            c.args[..3].copy_from_slice(&[
                key(k.0),
                nsems as u32 as u64,
                (flags.bits | mode.0) as u64,
            ]);
        }
        Args::Semop {
            semid,
            nsops,
            sops,
            sops_read,
            timeout_ns,
            timeout_unreadable,
        } => {
            c.args[0] = semid as u32 as u64;
            c.args[2] = nsops;
            if sops_read {
                for (i, s) in sops.as_slice().iter().enumerate().take(MAX_SOPS) {
                    c.sops[i] = Sembuf {
                        sem_num: s.sem_num,
                        sem_op: s.sem_op,
                        sem_flg: s.sem_flg.bits as i16,
                    };
                }
                c.nsops_read = sops.as_slice().len() as u8;
            } else {
                c.flags |= CALL_F_SOPS_FAULT;
            }
            c.aux = timeout_ns.unwrap_or(-1);
            if timeout_unreadable {
                c.flags |= CALL_F_AUX_FAULT;
            }
        }
        Args::Semctl {
            semid,
            semnum,
            cmd,
            arg,
        } => {
            c.args[..4].copy_from_slice(&[
                semid as u32 as u64,
                semnum as u32 as u64,
                cmd.value as u32 as u64,
                arg,
            ]);
        }
        Args::Shmget {
            key: k,
            size,
            flags,
            mode,
        } => {
            c.args[..3].copy_from_slice(&[key(k.0), size, (flags.bits | mode.0) as u64]);
        }
        Args::Shmat {
            shmid,
            shmaddr,
            flags,
        } => {
            c.args[..3].copy_from_slice(&[shmid as u32 as u64, shmaddr, flags.bits as u64]);
        }
        Args::Shmdt { shmaddr } => c.args[0] = shmaddr,
        Args::Shmctl { shmid, cmd } => {
            c.args[..2].copy_from_slice(&[shmid as u32 as u64, cmd.value as u32 as u64]);
        }
        Args::Msgget {
            key: k,
            flags,
            mode,
        } => {
            c.args[..2].copy_from_slice(&[key(k.0), (flags.bits | mode.0) as u64]);
        }
        Args::Msgsnd {
            msqid,
            mtype,
            msgsz,
            flags,
        } => {
            c.args[0] = msqid as u32 as u64;
            c.args[2] = msgsz;
            c.args[3] = flags.bits as u64;
            match mtype {
                Some(t) => c.aux = t,
                None => c.flags |= CALL_F_AUX_FAULT,
            }
        }
        Args::Msgrcv {
            msqid,
            msgsz,
            msgtyp,
            flags,
            mtype,
            mtype_unreadable,
        } => {
            c.args[0] = msqid as u32 as u64;
            c.args[2] = msgsz;
            c.args[3] = msgtyp as u64;
            c.args[4] = flags.bits as u64;
            c.aux = mtype.unwrap_or(0);
            if mtype_unreadable {
                c.flags |= CALL_F_AUX_FAULT;
            }
        }
        Args::Msgctl { msqid, cmd } => {
            c.args[..2].copy_from_slice(&[msqid as u32 as u64, cmd.value as u32 as u64]);
        }
        Args::Mq(m) => m.encode(&mut c.args),
    }
}

/// An event as it goes to disk.
pub fn encode_event(ev: &Event) -> WireCall {
    // SAFETY: Call is plain data; all zeroes is a valid value.
    let mut c: Call = unsafe { std::mem::zeroed() };
    match &ev.args {
        Some(a) => encode_args(a, &mut c),
        None => c.flags |= CALL_F_NO_ENTRY,
    }
    if ev.compat {
        c.flags |= CALL_F_COMPAT;
    }
    WireCall(
        ev.start_ns.unwrap_or(0),
        ev.end_ns,
        ev.ret,
        ev.pid,
        ev.tid,
        ev.uid,
        ev.gid,
        ev.comm.to_string(),
        ev.syscall.index() as u8,
        c.flags,
        c.args,
        c.aux,
        c.sops[..c.nsops_read as usize]
            .iter()
            .map(|s| (s.sem_num, s.sem_op, s.sem_flg))
            .collect(),
        ev.ipc_ns,
        ev.cgroup_id,
        ev.ns_id,
        ev.proc_start,
    )
}

/// An event back from disk, through the probe's decoder.
pub fn decode_event(w: &WireCall) -> Result<Event, DecodeError> {
    let WireCall(
        start,
        end,
        ret,
        pid,
        tid,
        uid,
        gid,
        comm,
        sys,
        flags,
        args,
        aux,
        sops,
        ipc_ns,
        cgroup_id,
        ns_id,
        proc_start,
    ) = w;
    let mut c = Call {
        start_ns: *start,
        args: *args,
        aux: *aux,
        pid: *pid,
        tid: *tid,
        uid: *uid,
        gid: *gid,
        sys: *sys,
        nsops_read: sops.len().min(MAX_SOPS) as u8,
        flags: *flags,
        // Inodes are 32-bit in the kernel (`ns.inum` is an unsigned int).
        ipc_ns: ipc_ns.map_or(0, |n| n as u32),
        cgroup_id: cgroup_id.unwrap_or(0),
        ns_id: ns_id.unwrap_or(0),
        proc_start: 0,
        comm: Comm::from_str_lossy(comm).0,
        sops: [Sembuf::default(); MAX_SOPS],
    };
    for (i, &(n, o, f)) in sops.iter().take(MAX_SOPS).enumerate() {
        c.sops[i] = Sembuf {
            sem_num: n,
            sem_op: o,
            sem_flg: f,
        };
    }
    let mut ev = decode_call(&c)?;
    ev.end_ns = *end;
    ev.ret = *ret;
    ev.proc_start = *proc_start;
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_ebpf::sys;

    fn raw(sys: u8, args: [u64; 6], aux: i64, flags: u16, sops: &[Sembuf]) -> Call {
        let mut c = Call {
            start_ns: 5_000,
            args,
            aux,
            pid: 7,
            tid: 8,
            uid: 70000,
            gid: 9,
            sys,
            nsops_read: sops.len() as u8,
            flags,
            ipc_ns: 0,
            ns_id: 0,
            proc_start: 0,
            cgroup_id: 0,
            comm: *b"db-writer\0\0\0\0\0\0\0",
            sops: [Sembuf::default(); MAX_SOPS],
        };
        c.sops[..sops.len()].copy_from_slice(sops);
        c
    }

    /// decode(encode(decode(raw))) == decode(raw), for every syscall and the odd cases.
    #[test]
    fn events_round_trip_through_the_wire_form() {
        let s = |n, o, f| Sembuf {
            sem_num: n,
            sem_op: o,
            sem_flg: f,
        };
        let calls = [
            raw(sys::SEMGET, [0x1234, 3, 0o3600, 0, 0, 0], 0, 0, &[]),
            raw(
                sys::SEMOP,
                [5, 0xdead, 2, 0, 0, 0],
                0,
                0,
                &[s(0, -1, 0x1000), s(1, 1, 0o4000)],
            ),
            raw(
                sys::SEMTIMEDOP,
                [5, 0xdead, 1, 0xbeef, 0, 0],
                2_500_000_000,
                0,
                &[s(3, 0, 0)],
            ),
            raw(
                sys::SEMTIMEDOP,
                [5, 0xdead, 1, 0, 0, 0],
                -1,
                0,
                &[s(3, 0, 0)],
            ),
            raw(sys::SEMOP, [5, 0, 1, 0, 0, 0], 0, CALL_F_SOPS_FAULT, &[]),
            raw(
                sys::SEMOP,
                [5, 0, 30, 0, 0, 0],
                0,
                0,
                &[s(0, -1, 0); MAX_SOPS],
            ),
            raw(sys::SEMCTL, [5, 1, 0x100 | 16, 42, 0, 0], 0, 0, &[]),
            raw(
                sys::SHMGET,
                [0, 1 << 30, 0o1000 | 0o4000 | 0o600, 0, 0, 0],
                0,
                0,
                &[],
            ),
            raw(sys::SHMAT, [3, 0, 0o10000, 0, 0, 0], 0, 0, &[]),
            raw(sys::SHMDT, [0x7f00_0000_0000, 0, 0, 0, 0, 0], 0, 0, &[]),
            raw(sys::SHMCTL, [3, 0, 0, 0, 0, 0], 0, 0, &[]),
            raw(sys::MSGGET, [0xffff_ffff, 0o1644, 0, 0, 0, 0], 0, 0, &[]),
            raw(sys::MSGSND, [2, 0x10, 64, 0o4000, 0, 0], 7, 0, &[]),
            raw(
                sys::MSGSND,
                [2, 0x10, 64, 0, 0, 0],
                0,
                CALL_F_AUX_FAULT,
                &[],
            ),
            raw(
                sys::MSGRCV,
                [2, 0x10, 64, (-3i64) as u64, 0o20000, 0],
                0,
                0,
                &[],
            ),
            raw(sys::MSGCTL, [2, 0x100 | 2, 0, 0, 0, 0], 0, 0, &[]),
            raw(sys::MSGRCV, [0; 6], 0, CALL_F_NO_ENTRY, &[]),
            // A 32-bit task's (issue 17).
            raw(sys::MSGSND, [2, 0x10, 6, 0, 0, 0], 7, CALL_F_COMPAT, &[]),
            // The POSIX queue calls (issue 26).
            raw(sys::MQ_OPEN, [0x10, 0o302, 0o600, 0x20, 0, 0], 0, 0, &[]),
            raw(sys::MQ_UNLINK, [0x10, 0, 0, 0, 0, 0], 0, 0, &[]),
            raw(sys::MQ_TIMEDSEND, [3, 0x10, 8, 5, 0x30, 0], 0, 0, &[]),
            raw(sys::MQ_TIMEDRECEIVE, [3, 0x10, 64, 0x18, 0, 0], 0, 0, &[]),
            raw(sys::MQ_NOTIFY, [3, 0, 0, 0, 0, 0], 0, 0, &[]),
            raw(sys::MQ_GETSETATTR, [3, 0, 0x40, 0, 0, 0], 0, 0, &[]),
        ];
        for (i, c) in calls.iter().enumerate() {
            let mut ev = decode_call(c).unwrap();
            if i % 2 == 0 {
                ev.end_ns = Some(9_000);
                ev.ret = Some(if i % 4 == 0 { -13 } else { 4 });
            }
            if i % 3 != 0 {
                ev.ipc_ns = Some(4_026_532_177 + i as u64);
                ev.cgroup_id = Some(12_345 + i as u64);
            }
            let wire = encode_event(&ev);
            let json = serde_json::to_string(&wire).unwrap();
            let back: WireCall = serde_json::from_str(&json).unwrap();
            assert_eq!(decode_event(&back).unwrap(), ev, "call {i}: {json}");
        }
    }

    #[test]
    fn records_of_event_version_2_read_with_no_namespace() {
        // Version 2 had 13 fields: no ipc_ns, no cgroup_id.
        let v2 = r#"[5000,9000,0,7,8,0,0,"db",1,0,[5,4096,1,0,0,0],0,[[0,-1,4096]]]"#;
        let ev = decode_event(&serde_json::from_str(v2).unwrap()).unwrap();
        assert_eq!((ev.ipc_ns, ev.cgroup_id), (None, None));
        assert_eq!(ev.args.unwrap().id(), Some(5));
        let v3 = r#"[5000,9000,0,7,8,0,0,"db",1,0,[5,4096,1,0,0,0],0,[[0,-1,4096]],4026532177,77]"#;
        let ev = decode_event(&serde_json::from_str(v3).unwrap()).unwrap();
        assert_eq!((ev.ipc_ns, ev.cgroup_id), (Some(4_026_532_177), Some(77)));
        assert_eq!(decode_event(&encode_event(&ev)).unwrap(), ev);
    }

    #[test]
    fn msgrcv_mtype_and_unreadable_timespec_survive_the_wire() {
        let mut c = raw(sys::MSGRCV, [2, 0x10, 64, 0, 0, 0], 9, 0, &[]);
        let ev = decode_call(&c).unwrap();
        assert!(ev.args.unwrap().to_string().contains("{mtype=9}"));
        c.flags = CALL_F_AUX_FAULT;
        c.aux = 0;
        let ev = decode_call(&c).unwrap();
        assert_eq!(decode_event(&encode_event(&ev)).unwrap(), ev);
        assert!(ev.args.unwrap().to_string().contains("<unreadable>"));
        let c = raw(
            sys::SEMTIMEDOP,
            [5, 0xdead, 1, 0xbeef, 0, 0],
            0,
            CALL_F_AUX_FAULT,
            &[Sembuf::default()],
        );
        let ev = decode_call(&c).unwrap();
        assert_eq!(decode_event(&encode_event(&ev)).unwrap(), ev);
        assert!(ev.args.unwrap().to_string().ends_with(", 1, <unreadable>"));
    }

    #[test]
    fn a_bad_syscall_index_on_disk_is_an_error() {
        let w = WireCall(
            1,
            None,
            None,
            1,
            1,
            0,
            0,
            "x".into(),
            99,
            0,
            [0; 6],
            0,
            vec![],
            None,
            None,
            None,
            None,
        );
        assert!(decode_event(&w).is_err());
    }
}
