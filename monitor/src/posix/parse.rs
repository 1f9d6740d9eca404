//! Parsers of /proc text for the POSIX layer: shared mappings of maps, a task's syscall line,
//! fdinfo flags, namespace links, and what the words of a futex say.
use super::SyncKind;

/// One shared (`s`) mapping of /proc/PID/maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedMap {
    pub start: u64,
    pub end: u64,
    /// The file offset of `start`.
    pub offset: u64,
    pub dev: (u32, u32),
    pub ino: u64,
    /// The path as maps shows it (` (deleted)` kept).
    pub path: String,
}

impl SharedMap {
    /// The kernel's `dev_t` of the mapping's device (as `stat` gives `st_dev`).
    pub fn dev_t(&self) -> u64 {
        libc::makedev(self.dev.0, self.dev.1)
    }

    /// A System V segment (`/SYSV<key> (deleted)`, its inode the shmid).
    pub fn is_sysv(&self) -> bool {
        self.path.starts_with("/SYSV")
    }
}

/// The shared mappings among the lines of /proc/PID/maps ("start-end perms offset dev inode
/// path"); odd lines skipped.
pub fn shared_maps(text: &[u8]) -> Vec<SharedMap> {
    let mut v = Vec::new();
    for line in text.split(|&c| c == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let mut f = line.splitn(6, ' ');
        let (Some(addr), Some(perms), Some(off), Some(dev), Some(rest)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        if perms.as_bytes().get(3) != Some(&b's') {
            continue;
        }
        let rest = match f.next() {
            Some(path) => format!("{rest} {path}"),
            None => rest.to_string(),
        };
        let rest = rest.trim_start();
        let (ino, path) = rest.split_once(' ').unwrap_or((rest, ""));
        let parse = || -> Option<SharedMap> {
            let (start, end) = addr.split_once('-')?;
            let (maj, min) = dev.split_once(':')?;
            Some(SharedMap {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                offset: u64::from_str_radix(off, 16).ok()?,
                dev: (
                    u32::from_str_radix(maj, 16).ok()?,
                    u32::from_str_radix(min, 16).ok()?,
                ),
                ino: ino.parse().ok()?,
                path: path.trim().to_string(),
            })
        };
        if let Some(m) = parse() {
            v.push(m);
        }
    }
    v
}

/// One line of /proc/PID/task/TID/syscall (the System V reader's parser).
pub(crate) use crate::snapshot::procs::parse_syscall as syscall_line;

/// The `flags:` (octal) of a /proc/PID/fdinfo/N file.
pub fn fdinfo_flags(b: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(b).ok()?;
    let line = s.lines().find(|l| l.starts_with("flags:"))?;
    u32::from_str_radix(line["flags:".len()..].trim(), 8).ok()
}

/// The inode in a namespace link (`ipc:[4026531839]`, `mnt:[4026531841]`).
pub fn ns_link_inode(target: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(target).ok()?;
    let (_, r) = s.split_once(":[")?;
    r.strip_suffix(']')?.parse().ok()
}

/// The futex commands that wait (`op & FUTEX_CMD_MASK`).
pub const FUTEX_WAIT: u64 = 0;
pub const FUTEX_LOCK_PI: u64 = 6;
pub const FUTEX_WAIT_BITSET: u64 = 9;
pub const FUTEX_WAIT_REQUEUE_PI: u64 = 11;
pub const FUTEX_LOCK_PI2: u64 = 13;
/// The private flag: the futex is keyed by address in its process, not by the object.
pub const FUTEX_PRIVATE_FLAG: u64 = 128;
/// The owner bits of a robust or PI mutex's word.
pub const FUTEX_TID_MASK: u64 = 0x3fff_ffff;
const FUTEX_WAITERS: u64 = 0x8000_0000;

/// Whether a futex op makes the caller wait.
pub fn futex_waits(op: u64) -> bool {
    matches!(
        op & 0x7f,
        FUTEX_WAIT | FUTEX_WAIT_BITSET | FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_WAIT_REQUEUE_PI
    )
}

/// What a waiter's call (`op`, the expected value `val`) and the memory at its address
/// (`word`: 8 bytes, little-endian, when readable; `word4`: only 4 could be read) say the
/// object is. Rules, from glibc's layouts on 64-bit Linux:
/// - FUTEX_LOCK_PI(2): a PI mutex; its owner is the tid in its word.
/// - a wait whose expected value has FUTEX_WAITERS and an owner tid: a robust mutex (glibc
///   waits on `owner | FUTEX_WAITERS`); the owner is that tid (the word's, when it still
///   has one).
/// - FUTEX_WAIT_BITSET expecting 0 where the 64-bit word reads value 0 and waiters > 0: a
///   semaphore (`sem_t`: value in the low 32 bits, nwaiters in the high 32).
/// - anything else: a wait (a condition variable, a plain mutex, another protocol), its
///   word shown as read.
pub fn classify(op: u64, val: u64, word: Option<u64>) -> SyncKind {
    let cmd = op & 0x7f;
    let low = word.map(|w| w & 0xffff_ffff);
    if matches!(cmd, FUTEX_LOCK_PI | FUTEX_LOCK_PI2) {
        return SyncKind::PiMutex {
            owner: low.map(|w| (w & FUTEX_TID_MASK) as u32).filter(|&t| t != 0),
        };
    }
    let val = val & 0xffff_ffff;
    if matches!(cmd, FUTEX_WAIT | FUTEX_WAIT_BITSET)
        && val & FUTEX_WAITERS != 0
        && val & FUTEX_TID_MASK != 0
    {
        let now = low.map(|w| (w & FUTEX_TID_MASK) as u32).filter(|&t| t != 0);
        return SyncKind::RobustMutex {
            owner: Some(now.unwrap_or((val & FUTEX_TID_MASK) as u32)),
        };
    }
    if cmd == FUTEX_WAIT_BITSET && val == 0 {
        if let Some(w) = word {
            let (value, nwaiters) = ((w & 0xffff_ffff) as u32, (w >> 32) as u32);
            if nwaiters > 0 {
                return SyncKind::Semaphore {
                    value: Some(value),
                    nwaiters: Some(nwaiters),
                };
            }
        }
    }
    SyncKind::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_mappings_only() {
        let maps =
            b"55923259a000-559232607000 r--p 00000000 fe:00 5367244                    /usr/bin/x
7f9a95dae000-7f9a95daf000 rw-s 00000000 00:01 1                          /SYSV00000000 (deleted)
7f9a95db1000-7f9a95db3000 rw-s 00001000 00:19 42                         /dev/shm/sem.x y
7f9a95db3000-7f9a95db4000 rw-s 00000000 00:01 77                         /dev/zero (deleted)
7f9a95db4000-7f9a95db5000 rw-s 00000000 00:01 78
zz-7f0000200000 rw-s 00000000 00:10 98304                      /SYSV00000001 (deleted)
7f9a95dbb000-7f9a95dbd000 r-xp 00000000 00:00 0                          [vdso]";
        let v = shared_maps(maps);
        assert_eq!(v.len(), 4, "{v:?}");
        assert!(v[0].is_sysv());
        assert_eq!((v[0].ino, v[0].dev), (1, (0, 1)));
        assert_eq!(v[1].path, "/dev/shm/sem.x y");
        assert_eq!((v[1].offset, v[1].ino, v[1].dev), (0x1000, 42, (0, 0x19)));
        assert_eq!(v[2].path, "/dev/zero (deleted)");
        assert_eq!((v[3].ino, v[3].path.as_str()), (78, ""));
        assert!(shared_maps(b"").is_empty());
    }

    #[test]
    fn syscall_and_fdinfo_lines() {
        let futex = b"202 0x7f00001000 0x189 0x0 0x0 0x0 0xffffffff 0x7ffd0000 0x7f00deadbeef\n";
        assert_eq!(
            syscall_line(futex),
            Some((202, [0x7f00001000, 0x189, 0, 0, 0, 0xffffffff]))
        );
        assert_eq!(
            fdinfo_flags(b"pos:\t0\nflags:\t02000002\nmnt_id:\t21\n"),
            Some(0o2000002)
        );
        assert_eq!(fdinfo_flags(b"pos: 0\n"), None);
        assert_eq!(ns_link_inode(b"mnt:[4026531841]"), Some(4026531841));
        assert_eq!(ns_link_inode(b"mnt:[x]"), None);
    }

    #[test]
    fn what_a_futex_is() {
        // sem_wait: FUTEX_WAIT_BITSET expecting 0; value 0, 3 waiters.
        assert_eq!(
            classify(0x189, 0, Some(3 << 32)),
            SyncKind::Semaphore {
                value: Some(0),
                nwaiters: Some(3)
            }
        );
        // The same call where the word shows no waiter is not called a semaphore.
        assert_eq!(classify(0x109, 0, Some(0)), SyncKind::Other);
        assert_eq!(classify(0x109, 0, None), SyncKind::Other);
        // A robust mutex held by 4242 with waiters.
        assert_eq!(
            classify(0, 0x8000_0000 | 4242, Some(0x8000_0000 | 4242)),
            SyncKind::RobustMutex { owner: Some(4242) }
        );
        // Its owner gone since (the word without a tid): the tid the waiter saw.
        assert_eq!(
            classify(0, 0x8000_0000 | 4242, Some(0)),
            SyncKind::RobustMutex { owner: Some(4242) }
        );
        assert_eq!(
            classify(
                FUTEX_LOCK_PI | FUTEX_PRIVATE_FLAG,
                0,
                Some(77 | 0x8000_0000)
            ),
            SyncKind::PiMutex { owner: Some(77) }
        );
        // A plain mutex's contended 2, a condition variable's sequence.
        assert_eq!(classify(0, 2, Some(2)), SyncKind::Other);
        assert!(futex_waits(0x189) && futex_waits(0x80) && !futex_waits(1) && !futex_waits(0x81));
    }
}
