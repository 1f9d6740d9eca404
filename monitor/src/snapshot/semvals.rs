//! Per-semaphore reads through semctl (GETALL, GETNCNT, GETZCNT, GETPID), and the queue
//! fields /proc does not show (msg_qbytes, through IPC_STAT or MSG_STAT_ANY).
use std::io;

use crate::sysv::{self, ctlcmd, semcmd};

/// One semaphore as semctl reports it.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemValue {
    pub value: i32,
    /// Tasks waiting for the value to increase.
    pub ncnt: i32,
    /// Tasks waiting for the value to become zero.
    pub zcnt: i32,
    /// The pid of the last semop/SETVAL/SETALL on it (0 = none yet).
    pub last_pid: i32,
}

/// Why a read could not be made.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFail {
    /// The object went away between listing and reading (normal).
    Gone,
    /// No read permission (needs read permission on the object or CAP_IPC_OWNER).
    Denied,
    /// Any other errno.
    Other(i32),
}

impl ReadFail {
    pub fn from_io(e: &io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::EIDRM) => ReadFail::Gone,
            Some(libc::EACCES) | Some(libc::EPERM) => ReadFail::Denied,
            Some(n) => ReadFail::Other(n),
            None => ReadFail::Other(0),
        }
    }
}

/// Reads every semaphore of a set.
pub fn read_set(semid: i32, nsems: u32) -> Result<Vec<SemValue>, ReadFail> {
    let fail = |e: io::Error| ReadFail::from_io(&e);
    let vals = sysv::semctl_getall(semid, nsems as usize).map_err(fail)?;
    let mut out = Vec::with_capacity(vals.len());
    for (n, &value) in vals.iter().enumerate() {
        let n = n as i32;
        out.push(SemValue {
            value: value as i32,
            ncnt: sysv::semctl_int(semid, n, semcmd::GETNCNT, 0).map_err(fail)?,
            zcnt: sysv::semctl_int(semid, n, semcmd::GETZCNT, 0).map_err(fail)?,
            last_pid: sysv::semctl_int(semid, n, semcmd::GETPID, 0).map_err(fail)?,
        });
    }
    Ok(out)
}

// msglen_t is c_ulong: u64 here, u32 on 32-bit targets.
#[allow(clippy::useless_conversion)]
fn qbytes(ds: &libc::msqid_ds) -> u64 {
    u64::from(ds.msg_qbytes)
}

/// A queue's maximum size in bytes (msg_qbytes): IPC_STAT, else MSG_STAT_ANY by index
/// (which needs no permission on the queue, since Linux 4.17).
pub fn queue_qbytes(msqid: i32) -> Result<u64, ReadFail> {
    match sysv::msgctl_stat(msqid, libc::IPC_STAT) {
        Ok((_, ds)) => Ok(qbytes(&ds)),
        Err(e) if ReadFail::from_io(&e) == ReadFail::Denied => {
            // The index is the low bits of the id (15 normally, 24 with ipcmni_extend).
            for mask in [0x7fff, 0xff_ffff] {
                if let Ok((id, ds)) = sysv::msgctl_stat(msqid & mask, ctlcmd::MSG_STAT_ANY) {
                    if id == msqid {
                        return Ok(qbytes(&ds));
                    }
                }
            }
            Err(ReadFail::Denied)
        }
        Err(e) => Err(ReadFail::from_io(&e)),
    }
}
