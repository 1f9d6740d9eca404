//! The events of the pipeline: one decoded System V IPC call, owned and `Copy` (no allocation
//! per event). Produced by `decode` from the probe's records, consumed by `trace`, the state
//! model and the recorder.
use std::fmt;

use serde::{Serialize, Serializer};

pub use monitor_ebpf::NSYS;

mod clock;
mod flags;
mod mq;

pub use clock::{clock_ns, start_ticks, Clock};
pub use flags::*;
pub use mq::MqArgs;

/// A followed syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Syscall(u8);

impl Syscall {
    pub const SEMGET: Self = Self(monitor_ebpf::sys::SEMGET);
    pub const SEMOP: Self = Self(monitor_ebpf::sys::SEMOP);
    pub const SEMTIMEDOP: Self = Self(monitor_ebpf::sys::SEMTIMEDOP);
    pub const SEMCTL: Self = Self(monitor_ebpf::sys::SEMCTL);
    pub const SHMGET: Self = Self(monitor_ebpf::sys::SHMGET);
    pub const SHMAT: Self = Self(monitor_ebpf::sys::SHMAT);
    pub const SHMDT: Self = Self(monitor_ebpf::sys::SHMDT);
    pub const SHMCTL: Self = Self(monitor_ebpf::sys::SHMCTL);
    pub const MSGGET: Self = Self(monitor_ebpf::sys::MSGGET);
    pub const MSGSND: Self = Self(monitor_ebpf::sys::MSGSND);
    pub const MSGRCV: Self = Self(monitor_ebpf::sys::MSGRCV);
    pub const MSGCTL: Self = Self(monitor_ebpf::sys::MSGCTL);
    pub const MQ_OPEN: Self = Self(monitor_ebpf::sys::MQ_OPEN);
    pub const MQ_UNLINK: Self = Self(monitor_ebpf::sys::MQ_UNLINK);
    pub const MQ_TIMEDSEND: Self = Self(monitor_ebpf::sys::MQ_TIMEDSEND);
    pub const MQ_TIMEDRECEIVE: Self = Self(monitor_ebpf::sys::MQ_TIMEDRECEIVE);
    pub const MQ_NOTIFY: Self = Self(monitor_ebpf::sys::MQ_NOTIFY);
    pub const MQ_GETSETATTR: Self = Self(monitor_ebpf::sys::MQ_GETSETATTR);

    /// From the probe's dense index; `None` for an index it never writes.
    pub fn from_index(i: u8) -> Option<Self> {
        ((i as usize) < NSYS).then_some(Self(i))
    }

    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The kernel's name ("semtimedop", "shmat", …).
    pub fn name(self) -> &'static str {
        monitor_ebpf::SYSCALL_NAMES[self.index()]
    }

    pub fn from_name(name: &str) -> Option<Self> {
        monitor_ebpf::SYSCALL_NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self(i as u8))
    }

    pub fn all() -> impl Iterator<Item = Self> {
        (0..NSYS as u8).map(Self)
    }
}

impl fmt::Display for Syscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Syscall {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Syscall {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Syscall::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown syscall {name:?}")))
    }
}

/// A task's `comm`, inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Comm(pub [u8; 16]);

impl Comm {
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.0[..end])
    }

    pub fn from_str_lossy(s: &str) -> Self {
        let mut c = [0u8; 16];
        let b = s.as_bytes();
        let n = b.len().min(15);
        c[..n].copy_from_slice(&b[..n]);
        Self(c)
    }
}

impl fmt::Debug for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl Serialize for Comm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_str())
    }
}

/// Permission bits of a *get call, shown in octal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode(pub u32);

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// An IPC key; `IPC_PRIVATE` (0) is named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(pub i32);

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            f.write_str("IPC_PRIVATE")
        } else {
            write!(f, "{:#010x}", self.0 as u32)
        }
    }
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(self.0)
    }
}

/// A control command (semctl/shmctl/msgctl), by name where it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cmd {
    pub value: i32,
    pub name: Option<&'static str>,
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.value),
        }
    }
}

impl Serialize for Cmd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.name {
            Some(n) => s.serialize_str(n),
            None => s.serialize_i32(self.value),
        }
    }
}

/// One `struct sembuf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SemOp {
    pub sem_num: u16,
    pub sem_op: i16,
    pub sem_flg: Flags,
}

/// The sembufs of a semop call as read from user memory (at most `monitor_ebpf::MAX_SOPS`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SemOps {
    len: u8,
    ops: [SemOp; monitor_ebpf::MAX_SOPS],
}

impl SemOps {
    pub fn new(ops: impl IntoIterator<Item = SemOp>) -> Self {
        let mut s = Self {
            len: 0,
            ops: [SemOp {
                sem_num: 0,
                sem_op: 0,
                sem_flg: Flags::new(0, SEMBUF_FLAGS),
            }; monitor_ebpf::MAX_SOPS],
        };
        for op in ops.into_iter().take(monitor_ebpf::MAX_SOPS) {
            s.ops[s.len as usize] = op;
            s.len += 1;
        }
        s
    }

    pub fn as_slice(&self) -> &[SemOp] {
        &self.ops[..self.len as usize]
    }
}

impl fmt::Debug for SemOps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl Serialize for SemOps {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(s)
    }
}

/// The decoded arguments of one call.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(untagged)]
// Semop carries its sembufs inline on purpose: events are Copy and never allocate.
#[allow(clippy::large_enum_variant)]
pub enum Args {
    Semget {
        key: Key,
        nsems: i32,
        flags: Flags,
        mode: Mode,
    },
    /// semop and semtimedop.
    Semop {
        semid: i32,
        /// The raw register; the kernel reads an unsigned int ([`nsops_uint`]).
        #[serde(serialize_with = "ser_nsops")]
        nsops: u64,
        sops: SemOps,
        /// False when the sembufs could not be read from user memory.
        sops_read: bool,
        /// semtimedop's timeout; `None` for NULL (and for semop), or unreadable.
        timeout_ns: Option<i64>,
        /// semtimedop's timespec pointer was not NULL but could not be read.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        timeout_unreadable: bool,
    },
    Semctl {
        semid: i32,
        semnum: i32,
        cmd: Cmd,
        /// SETVAL's value; for other commands the raw 4th argument (a pointer or unused).
        arg: u64,
    },
    Shmget {
        key: Key,
        size: u64,
        flags: Flags,
        mode: Mode,
    },
    Shmat {
        shmid: i32,
        shmaddr: u64,
        flags: Flags,
    },
    Shmdt {
        shmaddr: u64,
    },
    Shmctl {
        shmid: i32,
        cmd: Cmd,
    },
    Msgget {
        key: Key,
        flags: Flags,
        mode: Mode,
    },
    Msgsnd {
        msqid: i32,
        /// None when the message could not be read from user memory.
        mtype: Option<i64>,
        msgsz: u64,
        flags: Flags,
    },
    Msgrcv {
        msqid: i32,
        msgsz: u64,
        msgtyp: i64,
        flags: Flags,
        /// The type of the message received (a finished call that returned ≥ 0); `None`
        /// otherwise.
        #[serde(skip_serializing_if = "Option::is_none")]
        mtype: Option<i64>,
        /// A message was received but its type could not be read back from user memory.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        mtype_unreadable: bool,
    },
    Msgctl {
        msqid: i32,
        cmd: Cmd,
    },
    /// The POSIX queue calls (`mq_*`).
    Mq(MqArgs),
}

impl Args {
    /// The IPC id the call operates on, if it names one.
    pub fn id(&self) -> Option<i32> {
        match *self {
            Args::Semop { semid, .. } | Args::Semctl { semid, .. } => Some(semid),
            Args::Shmat { shmid, .. } | Args::Shmctl { shmid, .. } => Some(shmid),
            Args::Msgsnd { msqid, .. }
            | Args::Msgrcv { msqid, .. }
            | Args::Msgctl { msqid, .. } => Some(msqid),
            _ => None,
        }
    }
}

fn fmt_addr(f: &mut fmt::Formatter<'_>, a: u64) -> fmt::Result {
    if a == 0 {
        f.write_str("NULL")
    } else {
        write!(f, "{a:#x}")
    }
}

fn fmt_get_flags(f: &mut fmt::Formatter<'_>, flags: &Flags, mode: &Mode) -> fmt::Result {
    if flags.bits != 0 {
        write!(f, "{flags}|")?;
    }
    write!(f, "{mode}")
}

/// semop's `nsops` as the kernel reads it (an unsigned int, whatever the register held).
pub fn nsops_uint(raw: u64) -> u32 {
    raw as u32
}

fn ser_nsops<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u32(nsops_uint(*n))
}

impl Args {
    /// The argument list of `syscall` as strace shows it: semop(2) has no fourth argument.
    pub fn shown(&self, syscall: Syscall) -> String {
        if syscall == Syscall::SEMOP {
            format!("{self:#}")
        } else {
            self.to_string()
        }
    }
}

/// strace-like argument list (without the parentheses); `{:#}` leaves out semtimedop's
/// timeout (for semop).
impl fmt::Display for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Args::Semget {
                key,
                nsems,
                flags,
                mode,
            } => {
                write!(f, "key={key}, nsems={nsems}, ")?;
                fmt_get_flags(f, flags, mode)
            }
            Args::Semop {
                semid,
                nsops,
                sops,
                sops_read,
                timeout_ns,
                timeout_unreadable,
            } => {
                write!(f, "semid={semid}, ")?;
                if *sops_read {
                    f.write_str("[")?;
                    for (i, op) in sops.as_slice().iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{{{},{},{}}}", op.sem_num, op.sem_op, op.sem_flg)?;
                    }
                    if nsops_uint(*nsops) as u64 > sops.as_slice().len() as u64 {
                        f.write_str(", ...")?;
                    }
                    f.write_str("]")?;
                } else {
                    f.write_str("<unreadable>")?;
                }
                // The kernel takes nsops as an unsigned int.
                write!(f, ", {}", nsops_uint(*nsops))?;
                if f.alternate() {
                    // semop(2): three arguments, no timeout.
                    return Ok(());
                }
                match timeout_ns {
                    Some(t) => write!(f, ", {{{}.{:09}}}", t / 1_000_000_000, t % 1_000_000_000),
                    None if *timeout_unreadable => f.write_str(", <unreadable>"),
                    None => f.write_str(", NULL"),
                }
            }
            Args::Semctl {
                semid,
                semnum,
                cmd,
                arg,
            } => {
                write!(f, "semid={semid}, semnum={semnum}, {cmd}")?;
                if cmd.name == Some("SETVAL") {
                    write!(f, ", {}", *arg as i32)?;
                }
                Ok(())
            }
            Args::Shmget {
                key,
                size,
                flags,
                mode,
            } => {
                write!(f, "key={key}, size={size}, ")?;
                fmt_get_flags(f, flags, mode)
            }
            Args::Shmat {
                shmid,
                shmaddr,
                flags,
            } => {
                write!(f, "shmid={shmid}, ")?;
                fmt_addr(f, *shmaddr)?;
                write!(f, ", {flags}")
            }
            Args::Shmdt { shmaddr } => fmt_addr(f, *shmaddr),
            Args::Shmctl { shmid, cmd } => write!(f, "shmid={shmid}, {cmd}"),
            Args::Msgget { key, flags, mode } => {
                write!(f, "key={key}, ")?;
                fmt_get_flags(f, flags, mode)
            }
            Args::Msgsnd {
                msqid,
                mtype,
                msgsz,
                flags,
            } => {
                write!(f, "msqid={msqid}, ")?;
                match mtype {
                    Some(t) => write!(f, "{{mtype={t}}}")?,
                    None => f.write_str("<unreadable>")?,
                }
                write!(f, ", {msgsz}, {flags}")
            }
            Args::Msgrcv {
                msqid,
                msgsz,
                msgtyp,
                flags,
                mtype,
                mtype_unreadable,
            } => {
                // strace shows the buffer received as {mtype=N, ...}.
                write!(f, "msqid={msqid}, ")?;
                match mtype {
                    Some(t) => write!(f, "{{mtype={t}}}, ")?,
                    None if *mtype_unreadable => f.write_str("<unreadable>, ")?,
                    None => {}
                }
                write!(f, "{msgsz}, msgtyp={msgtyp}, {flags}")
            }
            Args::Msgctl { msqid, cmd } => write!(f, "msqid={msqid}, {cmd}"),
            Args::Mq(m) => m.fmt(f),
        }
    }
}

/// One System V IPC call: finished, or still in progress (`end_ns` is `None`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    /// CLOCK_MONOTONIC ns at entry; `None` when the entry was not seen (the call began before
    /// the probe was attached).
    pub start_ns: Option<u64>,
    /// CLOCK_MONOTONIC ns at exit; `None` while the call is in progress.
    pub end_ns: Option<u64>,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    pub comm: Comm,
    pub syscall: Syscall,
    /// `None` when the entry was not seen.
    pub args: Option<Args>,
    /// The return value (negative errno on failure); `None` while in progress.
    pub ret: Option<i64>,
    /// The caller's IPC namespace (the inode of /proc/PID/ns/ipc) at the call's entry, from
    /// the kernel; `None`: unknown (no offsets for this kernel, a recording of an older
    /// ipctop, or a call seen only by a snapshot).
    pub ipc_ns: Option<u64>,
    /// The kernel's id of that namespace (`ns_common.ns_id`: never reused, unlike the inode);
    /// `None`: unknown (before 6.18, older recordings, calls in progress of no slot).
    pub ns_id: Option<u64>,
    /// The caller's process start (/proc/PID/stat's starttime, clock ticks), from the kernel:
    /// with the pid, the process even after /proc no longer has it. `None`: unknown (no slot,
    /// older recordings, calls in progress).
    pub proc_start: Option<u64>,
    /// The caller's cgroup id (`bpf_get_current_cgroup_id()`), from the kernel; `None`:
    /// unknown.
    pub cgroup_id: Option<u64>,
    /// The call came from a 32-bit task (an i386 syscall, direct or through `ipc()`), mapped by
    /// the probe onto the 64-bit call's arguments.
    pub compat: bool,
    /// The call was ended by its process's death (a fatal signal came while it ran, e.g.
    /// SIGKILL while blocked): it neither failed nor was interrupted; nobody saw its return.
    pub ended: bool,
}

impl Event {
    pub fn in_progress(&self) -> bool {
        self.end_ns.is_none()
    }

    /// The error number of a failed call. A call ended by a signal (an `ERESTART*` code,
    /// which never reaches the program: see [`Event::interrupted`]) did not fail, nor did one
    /// ended by its process's death ([`Event::ended`]).
    pub fn errno(&self) -> Option<i32> {
        match self.ret {
            Some(_) if self.ended => None,
            Some(r) if (-4095..0).contains(&r) && restart_name(-r as i32).is_none() => {
                Some(-r as i32)
            }
            _ => None,
        }
    }

    /// The kernel's `ERESTART*` code of a call a signal interrupted (it is restarted, or the
    /// program sees EINTR, or it was killed): strace shows these as `= ?`.
    pub fn interrupted(&self) -> Option<&'static str> {
        match self.ret {
            Some(_) if self.ended => None,
            Some(r) if r < 0 => restart_name(r.unsigned_abs().min(4096) as i32),
            _ => None,
        }
    }

    pub fn failed(&self) -> bool {
        self.errno().is_some()
    }

    pub fn duration_ns(&self) -> Option<u64> {
        Some(self.end_ns?.saturating_sub(self.start_ns?))
    }

    /// The best time stamp of the call: its start, else its end.
    pub fn ts_ns(&self) -> u64 {
        self.start_ns.or(self.end_ns).unwrap_or(0)
    }
}

/// The kernel-internal restart codes (include/linux/errno.h): a signal interrupted the call.
pub fn restart_name(code: i32) -> Option<&'static str> {
    match code {
        512 => Some("ERESTARTSYS"),
        513 => Some("ERESTARTNOINTR"),
        514 => Some("ERESTARTNOHAND"),
        516 => Some("ERESTART_RESTARTBLOCK"),
        _ => None,
    }
}

/// The name of an errno value ("EACCES"), or its number.
pub fn errno_name(errno: i32) -> std::borrow::Cow<'static, str> {
    let e = nix::errno::Errno::from_raw(errno);
    if e == nix::errno::Errno::UnknownErrno {
        errno.to_string().into()
    } else {
        format!("{e:?}").into()
    }
}

/// Its description ("Permission denied").
pub fn errno_desc(errno: i32) -> &'static str {
    nix::errno::Errno::from_raw(errno).desc()
}
