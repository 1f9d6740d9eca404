//! The threads of a process blocked in semop/semtimedop/msgrcv/msgsnd: their syscall line and
//! wchan, and the sembufs read from the waiter's memory (process_vm_readv).
use std::{fmt::Write as _, io::IoSliceMut, os::fd::OwnedFd};

use nix::{
    sys::uio::{process_vm_readv, RemoteIoVec},
    unistd::Pid,
};

use super::{
    denied, parse::parse_syscall, reader::Reader, taskclock::sleep_stamp, ProcScan, RawSop,
    TaskWait, WaitCall,
};

/// The threads of `pid` blocked in an IPC call, from their syscall and wchan files; `None`
/// when they cannot be read.
pub(super) fn read_waits(
    rd: &mut Reader,
    dir: &OwnedFd,
    pid: u32,
    state: char,
    num_threads: i64,
    out: &mut ProcScan,
) -> Option<Vec<TaskWait>> {
    let single = num_threads <= 1;
    if single && state == 'R' {
        // Its one thread is running: it is not blocked in any call.
        return Some(Vec::new());
    }
    // One thread: its files are /proc/PID/{syscall,wchan}; no need to list task/.
    let tids: Vec<u32> = if single {
        vec![pid]
    } else {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect()
    };
    let mut waits = Vec::new();
    let mut denied_any = false;
    let mut path = String::new();
    for tid in tids {
        path.clear();
        if !single {
            let _ = write!(path, "task/{tid}/");
        }
        let base = path.len();
        path.push_str("syscall");
        let sc = match rd.read_one_piece(dir, &path) {
            Ok(b) => parse_syscall(b),
            Err(e) => {
                denied_any |= denied(&e);
                continue;
            }
        };
        let Some((nr, a)) = sc else {
            continue;
        };
        let call = match nr {
            n if n == libc::SYS_semop || n == libc::SYS_semtimedop => {
                let nsops = a[2];
                let sops = read_sops(pid, a[1], nsops);
                if sops.is_none() {
                    out.sops_denied.push(pid);
                }
                WaitCall::Sem {
                    semid: a[0] as i32,
                    nsops,
                    sops,
                    timed: n == libc::SYS_semtimedop && a[3] != 0,
                }
            }
            n if n == libc::SYS_msgrcv => WaitCall::Msgrcv {
                msqid: a[0] as i32,
                msgsz: a[2],
                msgtyp: a[3] as i64,
            },
            n if n == libc::SYS_msgsnd => WaitCall::Msgsnd {
                msqid: a[0] as i32,
                msgsz: a[2],
            },
            _ => continue,
        };
        path.truncate(base);
        path.push_str("wchan");
        let wchan = rd
            .read_one_piece(dir, &path)
            .ok()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .filter(|w| !w.is_empty() && w != "0");
        let asleep_since_ns = asleep_since(rd, dir, &mut path, base);
        waits.push(TaskWait {
            tid,
            call,
            wchan,
            asleep_since_ns,
        });
    }
    if denied_any && waits.is_empty() {
        out.syscall_denied.push(pid);
        return None;
    }
    Some(waits)
}

/// When the thread whose files are at `path[..base]` went to sleep at the latest
/// (CLOCK_MONOTONIC ns), from the clock of the CPU it last ran on ([`sleep_stamp`]).
fn asleep_since(rd: &mut Reader, dir: &OwnedFd, path: &mut String, base: usize) -> Option<u64> {
    let (cpu, stamp) = sleep_stamp(|name, parse| {
        path.truncate(base);
        path.push_str(name);
        let text = match name {
            // Made by the kernel in one piece.
            "stat" => rd.read_one_piece(dir, path),
            _ => rd.read(dir, path),
        };
        text.ok().and_then(parse)
    })?;
    rd.clocks.since(cpu, stamp).map(|s| s.mono)
}

/// At most this many sembufs are read from a waiter.
pub const MAX_SOPS_READ: u64 = 64;

/// Reads `nsops` sembufs at `addr` in process `pid`.
pub(super) fn read_sops(pid: u32, addr: u64, nsops: u64) -> Option<Vec<RawSop>> {
    let n = nsops.min(MAX_SOPS_READ) as usize;
    if n == 0 {
        return Some(Vec::new());
    }
    let mut buf = vec![0u8; n * 6];
    let remote = RemoteIoVec {
        base: addr as usize,
        len: buf.len(),
    };
    let got = process_vm_readv(
        Pid::from_raw(pid as i32),
        &mut [IoSliceMut::new(&mut buf)],
        &[remote],
    );
    if got.ok() != Some(buf.len()) {
        return None;
    }
    Some(
        buf.chunks_exact(6)
            .map(|c| RawSop {
                num: u16::from_ne_bytes([c[0], c[1]]),
                op: i16::from_ne_bytes([c[2], c[3]]),
                flg: i16::from_ne_bytes([c[4], c[5]]),
            })
            .collect(),
    )
}
