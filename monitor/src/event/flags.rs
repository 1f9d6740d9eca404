//! Flag bits of the calls' arguments, named.
use std::fmt;

use serde::{ser::SerializeSeq, Serialize, Serializer};

/// A set of flag bits, named through a table; shown as `A|B` and serialised as `["A","B"]`.
/// Bits the table does not name are kept, as `0x…`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    pub bits: u32,
    table: &'static [(u32, &'static str)],
}

impl Flags {
    pub const fn new(bits: u32, table: &'static [(u32, &'static str)]) -> Self {
        Self { bits, table }
    }

    pub fn contains(&self, bit: u32) -> bool {
        self.bits & bit == bit
    }

    fn for_each(&self, mut f: impl FnMut(&str) -> fmt::Result) -> fmt::Result {
        let mut rest = self.bits;
        for &(bit, name) in self.table {
            if rest & bit == bit && bit != 0 {
                f(name)?;
                rest &= !bit;
            }
        }
        if rest != 0 {
            f(&format!("{rest:#x}"))?;
        }
        Ok(())
    }

    fn unknown_bits(&self) -> u32 {
        self.table
            .iter()
            .fold(self.bits, |rest, &(bit, _)| rest & !bit)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bits == 0 {
            return f.write_str("0");
        }
        let mut first = true;
        self.for_each(|name| {
            if !first {
                f.write_str("|")?;
            }
            first = false;
            f.write_str(name)
        })
    }
}

impl Serialize for Flags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for &(bit, name) in self.table {
            if self.bits & bit == bit && bit != 0 {
                seq.serialize_element(name)?;
            }
        }
        let rest = self.unknown_bits();
        if rest != 0 {
            seq.serialize_element(&format!("{rest:#x}"))?;
        }
        seq.end()
    }
}

pub const GET_FLAGS: &[(u32, &str)] = &[(0o1000, "IPC_CREAT"), (0o2000, "IPC_EXCL")];
pub const SHMGET_FLAGS: &[(u32, &str)] = &[
    (0o1000, "IPC_CREAT"),
    (0o2000, "IPC_EXCL"),
    (0o4000, "SHM_HUGETLB"),
    (0o10000, "SHM_NORESERVE"),
];
pub const SEMBUF_FLAGS: &[(u32, &str)] = &[(0o4000, "IPC_NOWAIT"), (0x1000, "SEM_UNDO")];
pub const SHMAT_FLAGS: &[(u32, &str)] = &[
    (0o10000, "SHM_RDONLY"),
    (0o20000, "SHM_RND"),
    (0o40000, "SHM_REMAP"),
    (0o100000, "SHM_EXEC"),
];
/// mq_open's `oflag` (O_RDONLY is no bit: shown only when nothing else is).
pub const MQ_OPEN_FLAGS: &[(u32, &str)] = &[
    (0o1, "O_WRONLY"),
    (0o2, "O_RDWR"),
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o4000, "O_NONBLOCK"),
    (0o2000000, "O_CLOEXEC"),
];
pub const MSG_FLAGS: &[(u32, &str)] = &[
    (0o4000, "IPC_NOWAIT"),
    (0o10000, "MSG_NOERROR"),
    (0o20000, "MSG_EXCEPT"),
    (0o40000, "MSG_COPY"),
];
