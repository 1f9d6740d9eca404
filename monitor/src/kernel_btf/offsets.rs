//! The offsets the eBPF program needs to read the current task's IPC namespace
//! (`task->nsproxy->ipc_ns->ns.inum`, the inode of /proc/PID/ns/ipc), whether its syscall
//! is a 32-bit one (x86 `task->thread_info.status & TS_COMPAT`), and who it is and whether it
//! is dying ([`TaskOffsets`]: its process's start, its namespace's id, its pending signals).
use std::path::Path;

use super::{article, Btf, BtfError, Field};

/// Byte offsets for `bpf_probe_read_kernel`, from the kernel's own BTF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IpcNsOffsets {
    /// `struct task_struct` → `nsproxy` (a `struct nsproxy *`).
    pub task_nsproxy: u32,
    /// `struct nsproxy` → `ipc_ns` (a `struct ipc_namespace *`).
    pub nsproxy_ipc_ns: u32,
    /// `struct ipc_namespace` → `ns.inum` (an `unsigned int`, 4 bytes).
    pub ipc_ns_inum: u32,
    /// `struct task_struct` → `thread_info.status` (a u32), where x86-64 keeps `TS_COMPAT`
    /// (0x0002, a macro: not in BTF) while a 32-bit syscall runs. `None` when the kernel has
    /// no such member (not x86, or without CONFIG_THREAD_INFO_IN_TASK).
    pub task_ti_status: Option<u32>,
}

/// `what` must be a pointer to `struct to`.
fn expect_pointer(f: &Field, what: &str, to: &str) -> Result<u32, BtfError> {
    if f.kind == "pointer" && f.pointee.as_deref() == Some(to) {
        return Ok(f.offset);
    }
    Err(BtfError::WrongType {
        what: what.into(),
        expected: format!("a pointer to struct {to}"),
        found: match (&f.pointee, f.kind) {
            (Some(p), "pointer") => format!("a pointer to {p}"),
            (_, k) => article(k),
        },
    })
}

/// `what` must be an integer of `size` bytes.
fn expect_int(f: &Field, what: &str, size: u32) -> Result<u32, BtfError> {
    if f.kind == "int" && f.size == size {
        return Ok(f.offset);
    }
    Err(BtfError::WrongType {
        what: what.into(),
        expected: format!("a {}-bit integer", size * 8),
        found: format!("{} of {} bytes", article(f.kind), f.size),
    })
}

/// Byte offsets for a task's identity and fate, from the kernel's own BTF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TaskOffsets {
    /// `struct task_struct` → `group_leader` (a `struct task_struct *`).
    pub group_leader: u32,
    /// `struct task_struct` → `start_boottime` (u64 ns, /proc/PID/stat's starttime's clock).
    pub start_boottime: u32,
    /// `struct ipc_namespace` → `ns.ns_id` (u64); `None` where the kernel has none (before
    /// 6.18: NS_GET_ID's answer is not kept there).
    pub ipc_ns_id: Option<u32>,
    /// `struct task_struct` → `pending.signal` (a `sigset_t` of 8 bytes).
    pub pending_signal: u32,
    /// `struct task_struct` → `signal` (a `struct signal_struct *`).
    pub signal: u32,
    /// `struct signal_struct` → `flags` (an `unsigned int`).
    pub signal_flags: u32,
}

impl TaskOffsets {
    /// Computes the offsets from a parsed BTF, checking every type along the path.
    pub fn from_btf(btf: &Btf) -> Result<TaskOffsets, BtfError> {
        let leader = btf.member("task_struct", "group_leader")?;
        let start = btf.member("task_struct", "start_boottime")?;
        let ipc_ns_id = match btf.member("ipc_namespace", "ns.ns_id") {
            Ok(f) => Some(expect_int(&f, "ipc_namespace.ns.ns_id", 8)?),
            Err(BtfError::NoMember { .. }) => None,
            Err(e) => return Err(e),
        };
        let pending = btf.member("task_struct", "pending.signal")?;
        if pending.size != 8 {
            return Err(BtfError::WrongType {
                what: "task_struct.pending.signal".into(),
                expected: "a signal set of 64 bits".into(),
                found: format!("{} of {} bytes", article(pending.kind), pending.size),
            });
        }
        let signal = btf.member("task_struct", "signal")?;
        let flags = btf.member("signal_struct", "flags")?;
        Ok(TaskOffsets {
            group_leader: expect_pointer(&leader, "task_struct.group_leader", "task_struct")?,
            start_boottime: expect_int(&start, "task_struct.start_boottime", 8)?,
            ipc_ns_id,
            pending_signal: pending.offset,
            signal: expect_pointer(&signal, "task_struct.signal", "signal_struct")?,
            signal_flags: expect_int(&flags, "signal_struct.flags", 4)?,
        })
    }

    /// Computes the offsets of the running kernel (from [`super::VMLINUX`]).
    pub fn of_running_kernel() -> Result<TaskOffsets, BtfError> {
        TaskOffsets::from_btf(&Btf::from_file(Path::new(super::VMLINUX))?)
    }
}

impl IpcNsOffsets {
    /// Computes the offsets from a parsed BTF, checking every type along the path.
    pub fn from_btf(btf: &Btf) -> Result<IpcNsOffsets, BtfError> {
        let nsproxy = btf.member("task_struct", "nsproxy")?;
        let ipc_ns = btf.member("nsproxy", "ipc_ns")?;
        let inum = btf.member("ipc_namespace", "ns.inum")?;
        let task_ti_status = match btf.member("task_struct", "thread_info.status") {
            Ok(f) => Some(expect_int(&f, "task_struct.thread_info.status", 4)?),
            Err(BtfError::NoMember { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(IpcNsOffsets {
            task_nsproxy: expect_pointer(&nsproxy, "task_struct.nsproxy", "nsproxy")?,
            nsproxy_ipc_ns: expect_pointer(&ipc_ns, "nsproxy.ipc_ns", "ipc_namespace")?,
            ipc_ns_inum: expect_int(&inum, "ipc_namespace.ns.inum", 4)?,
            task_ti_status,
        })
    }

    /// Computes the offsets of the running kernel (from [`super::VMLINUX`]).
    pub fn of_running_kernel() -> Result<IpcNsOffsets, BtfError> {
        IpcNsOffsets::from_btf(&Btf::from_file(Path::new(super::VMLINUX))?)
    }
}

/// Both sets of offsets of the running kernel, from one read of its BTF (megabytes).
pub fn running_kernel_offsets() -> (
    Result<IpcNsOffsets, BtfError>,
    Result<TaskOffsets, BtfError>,
) {
    match Btf::from_file(Path::new(super::VMLINUX)) {
        Ok(btf) => (IpcNsOffsets::from_btf(&btf), TaskOffsets::from_btf(&btf)),
        Err(e) => (Err(e.clone()), Err(e)),
    }
}
