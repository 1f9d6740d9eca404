//! The arguments of the POSIX message queue calls (`mq_*`, issue 26), as the probe reads them
//! from the registers (pointers are not followed: names, messages and timeouts stay in the
//! caller's memory).
use std::fmt;

use serde::Serialize;

use super::{Flags, Mode, Syscall, MQ_OPEN_FLAGS};

impl Syscall {
    /// A POSIX message queue call (`mq_*`): its descriptor is no IPC id, so it is counted
    /// per process and per syscall, never on an object.
    pub fn is_posix_mq(self) -> bool {
        monitor_ebpf::is_mq(self.0)
    }
}

/// One `mq_*` call's arguments. A queue descriptor (`mqdes`) is a file descriptor of the
/// caller, not an IPC id: these calls name no object of the account.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MqArgs {
    /// mq_open(name, oflag, mode, attr).
    Open {
        name: u64,
        oflag: Flags,
        mode: Mode,
        attr: u64,
    },
    Unlink {
        name: u64,
    },
    /// mq_timedsend(mqdes, msg_ptr, msg_len, msg_prio, abs_timeout).
    Timedsend {
        mqdes: i32,
        msg_len: u64,
        msg_prio: u32,
        abs_timeout: u64,
    },
    /// mq_timedreceive(mqdes, msg_ptr, msg_len, &msg_prio, abs_timeout).
    Timedreceive {
        mqdes: i32,
        msg_len: u64,
        msg_prio: u64,
        abs_timeout: u64,
    },
    Notify {
        mqdes: i32,
        sevp: u64,
    },
    Getsetattr {
        mqdes: i32,
        newattr: u64,
        oldattr: u64,
    },
}

impl MqArgs {
    /// From the raw registers of `sys` (an `mq_*` call: [`Syscall::is_posix_mq`]).
    pub fn decode(sys: Syscall, a: &[u64; 6]) -> Self {
        let mqdes = a[0] as i32;
        match sys {
            Syscall::MQ_OPEN => Self::Open {
                name: a[0],
                oflag: Flags::new(a[1] as u32, MQ_OPEN_FLAGS),
                mode: Mode(a[2] as u32 & 0o7777),
                attr: a[3],
            },
            Syscall::MQ_UNLINK => Self::Unlink { name: a[0] },
            Syscall::MQ_TIMEDSEND => Self::Timedsend {
                mqdes,
                msg_len: a[2],
                msg_prio: a[3] as u32,
                abs_timeout: a[4],
            },
            Syscall::MQ_TIMEDRECEIVE => Self::Timedreceive {
                mqdes,
                msg_len: a[2],
                msg_prio: a[3],
                abs_timeout: a[4],
            },
            Syscall::MQ_NOTIFY => Self::Notify { mqdes, sevp: a[1] },
            _ => Self::Getsetattr {
                mqdes,
                newattr: a[1],
                oldattr: a[2],
            },
        }
    }

    /// Back into the registers [`decode`](Self::decode) reads (the recording's form).
    pub fn encode(&self, a: &mut [u64; 6]) {
        let fd = |d: i32| d as u32 as u64;
        match *self {
            Self::Open {
                name,
                oflag,
                mode,
                attr,
            } => a[..4].copy_from_slice(&[name, oflag.bits as u64, mode.0 as u64, attr]),
            Self::Unlink { name } => a[0] = name,
            Self::Timedsend {
                mqdes,
                msg_len,
                msg_prio,
                abs_timeout,
            } => {
                a[0] = fd(mqdes);
                a[2..5].copy_from_slice(&[msg_len, msg_prio as u64, abs_timeout]);
            }
            Self::Timedreceive {
                mqdes,
                msg_len,
                msg_prio,
                abs_timeout,
            } => {
                a[0] = fd(mqdes);
                a[2..5].copy_from_slice(&[msg_len, msg_prio, abs_timeout]);
            }
            Self::Notify { mqdes, sevp } => a[..2].copy_from_slice(&[fd(mqdes), sevp]),
            Self::Getsetattr {
                mqdes,
                newattr,
                oldattr,
            } => a[..3].copy_from_slice(&[fd(mqdes), newattr, oldattr]),
        }
    }
}

fn addr(f: &mut fmt::Formatter<'_>, a: u64) -> fmt::Result {
    if a == 0 {
        f.write_str("NULL")
    } else {
        write!(f, "{a:#x}")
    }
}

/// The strace-like text of the arguments (inside the parentheses).
impl fmt::Display for MqArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open {
                name,
                oflag,
                mode,
                attr,
            } => {
                addr(f, *name)?;
                write!(f, ", {oflag}")?;
                if oflag.contains(0o100) {
                    write!(f, ", {mode}, ")?;
                    addr(f, *attr)?;
                }
                Ok(())
            }
            Self::Unlink { name } => addr(f, *name),
            Self::Timedsend {
                mqdes,
                msg_len,
                msg_prio,
                abs_timeout,
            } => {
                write!(f, "mqdes={mqdes}, {msg_len}, {msg_prio}, ")?;
                addr(f, *abs_timeout)
            }
            Self::Timedreceive {
                mqdes,
                msg_len,
                msg_prio,
                abs_timeout,
            } => {
                write!(f, "mqdes={mqdes}, {msg_len}, ")?;
                addr(f, *msg_prio)?;
                f.write_str(", ")?;
                addr(f, *abs_timeout)
            }
            Self::Notify { mqdes, sevp } => {
                write!(f, "mqdes={mqdes}, ")?;
                addr(f, *sevp)
            }
            Self::Getsetattr {
                mqdes,
                newattr,
                oldattr,
            } => {
                write!(f, "mqdes={mqdes}, ")?;
                addr(f, *newattr)?;
                f.write_str(", ")?;
                addr(f, *oldattr)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sys: Syscall, a: [u64; 6]) -> String {
        let m = MqArgs::decode(sys, &a);
        let mut back = [0; 6];
        m.encode(&mut back);
        assert_eq!(MqArgs::decode(sys, &back), m, "{sys}");
        m.to_string()
    }

    #[test]
    fn mq_calls_read_as_strace_writes_them() {
        assert_eq!(
            line(Syscall::MQ_OPEN, [0x10, 0o302, 0o600, 0, 0, 0]),
            "0x10, O_RDWR|O_CREAT|O_EXCL, 0600, NULL"
        );
        assert_eq!(line(Syscall::MQ_OPEN, [0x10, 0, 0, 0, 0, 0]), "0x10, 0");
        assert_eq!(
            line(Syscall::MQ_TIMEDSEND, [3, 0x10, 8, 5, 0x30, 0]),
            "mqdes=3, 8, 5, 0x30"
        );
        assert_eq!(
            line(Syscall::MQ_TIMEDRECEIVE, [3, 0x10, 64, 0, 0x30, 0]),
            "mqdes=3, 64, NULL, 0x30"
        );
        assert_eq!(
            line(Syscall::MQ_NOTIFY, [3, 0, 0, 0, 0, 0]),
            "mqdes=3, NULL"
        );
        assert_eq!(
            line(Syscall::MQ_GETSETATTR, [3, 0, 0x40, 0, 0, 0]),
            "mqdes=3, NULL, 0x40"
        );
        assert_eq!(line(Syscall::MQ_UNLINK, [0x10, 0, 0, 0, 0, 0]), "0x10");
        assert!(Syscall::MQ_TIMEDSEND.is_posix_mq() && !Syscall::MSGSND.is_posix_mq());
        assert_eq!(
            Syscall::from_name("mq_timedreceive"),
            Some(Syscall::MQ_TIMEDRECEIVE)
        );
    }
}
