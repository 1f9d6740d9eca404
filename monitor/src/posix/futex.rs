//! Futex waits resolved: the waiter's address found in its shared mappings (a wait on
//! private memory is its own process's affair and left out), the object and offset it falls
//! in, and the 8 bytes there read from the waiter's memory with process_vm_readv (the word
//! says a semaphore's value and waiters, a robust or PI mutex's owner).
use std::io::IoSliceMut;

use nix::{
    sys::uio::{process_vm_readv, RemoteIoVec},
    unistd::Pid,
};

use super::{
    parse::{classify, SharedMap, FUTEX_PRIVATE_FLAG},
    scan::{Call, Ids, Scanned},
    FutexWait, PosixSnapshot, SemWord, ShmKind, SyncKind, WaitObject,
};

/// `len` (≤ 8) bytes at `addr` in process `pid`, little-endian; `None` when not readable.
pub(super) fn read_remote(pid: u32, addr: u64, len: usize) -> Option<u64> {
    let mut buf = [0u8; 8];
    let len = len.min(8);
    let got = process_vm_readv(
        Pid::from_raw(pid as i32),
        &mut [IoSliceMut::new(&mut buf[..len])],
        &[RemoteIoVec {
            base: addr as usize,
            len,
        }],
    );
    (got.ok() == Some(len)).then(|| u64::from_le_bytes(buf))
}

/// What a shared mapping is.
fn object_of(m: &SharedMap, snap: &PosixSnapshot, ipc_ns: Option<u64>) -> WaitObject {
    let (dev, ino) = (m.dev_t(), m.ino);
    if m.is_sysv() {
        return WaitObject::SysvShm {
            shmid: ino as i32,
            ipc_ns,
        };
    }
    if let Some(o) = snap.shm.iter().find(|o| o.dev == dev && o.ino == ino) {
        return WaitObject::ShmFile {
            dev,
            ino,
            name: o.name.clone(),
        };
    }
    if let Some(n) = m.path.strip_prefix("/memfd:") {
        return WaitObject::Memfd {
            dev,
            ino,
            name: n.strip_suffix(" (deleted)").unwrap_or(n).to_string(),
        };
    }
    if m.path.is_empty() || m.path.starts_with("/dev/zero") || m.path.starts_with("[anon_shmem") {
        return WaitObject::SharedAnon { dev, ino };
    }
    WaitObject::File {
        dev,
        ino,
        path: m.path.clone(),
    }
}

/// Every futex wait on a shared mapping, resolved; a named semaphore's word filled from its
/// waiters when it could not be read otherwise.
pub(super) fn resolve(
    snap: &mut PosixSnapshot,
    sc: &Scanned,
    ids: &Ids,
    unknowns: &mut Vec<String>,
) {
    let mut unread = 0;
    for c in &sc.calls {
        let Call::Futex { addr, op, val } = c.call else {
            continue;
        };
        let Some(m) = sc
            .maps
            .get(&c.pid)
            .and_then(|v| v.iter().find(|m| m.start <= addr && addr < m.end))
        else {
            continue;
        };
        let id = ids.get(c.pid);
        let ipc_ns = id.and_then(|i| i.p.ipc_ns);
        let on = object_of(m, snap, ipc_ns);
        let len = if addr + 8 <= m.end { 8 } else { 4 };
        let word = read_remote(c.pid, addr, len);
        unread += usize::from(word.is_none());
        let sync = classify(op, val, if len == 8 { word } else { None });
        if let (WaitObject::ShmFile { dev, ino, .. }, SyncKind::Semaphore { value, nwaiters }) =
            (&on, sync)
        {
            if let Some(o) = snap
                .shm
                .iter_mut()
                .find(|o| o.dev == *dev && o.ino == *ino && o.kind == ShmKind::Semaphore)
            {
                if o.sem.is_none() {
                    o.sem = value
                        .zip(nwaiters)
                        .map(|(value, nwaiters)| SemWord { value, nwaiters });
                }
            }
        }
        snap.futex_waits.push(FutexWait {
            pid: c.pid,
            tid: c.tid,
            comm: id.map(|i| i.p.comm.clone()).unwrap_or_default(),
            ipc_ns,
            addr,
            op,
            val: val & 0xffff_ffff,
            private: op & FUTEX_PRIVATE_FLAG != 0,
            on,
            offset: addr - m.start + m.offset,
            word,
            sync,
            asleep_since_unix_ns: c.asleep_since_unix_ns,
        });
    }
    if unread > 0 {
        unknowns.push(format!(
            "the futex word of {unread} wait(s): the waiter's memory is not readable \
             (process_vm_readv needs ptrace access: run as root)"
        ));
    }
}
