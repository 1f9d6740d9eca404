//! Parsers of /proc text: stat, the SYSV lines of maps, a task's syscall line, ns links.
use std::io;

use super::MapAttach;

/// The inode in the target of a `/proc/…/ns/ipc` link ("ipc:[4026531839]").
pub(super) fn ns_inode_of(target: &[u8]) -> io::Result<u64> {
    std::str::from_utf8(target)
        .ok()
        .and_then(|s| s.strip_prefix("ipc:["))
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("odd ns link {:?}", String::from_utf8_lossy(target)),
            )
        })
}

/// The fields of /proc/PID/stat that are used.
pub(super) struct Stat {
    pub(super) comm: String,
    pub(super) state: char,
    pub(super) ppid: i32,
    pub(super) flags: u64,
    pub(super) num_threads: i64,
    pub(super) starttime: u64,
}

/// The PF_KTHREAD bit of the flags in /proc/PID/stat.
pub(super) const PF_KTHREAD: u64 = 0x0020_0000;

/// Parses /proc/PID/stat: "pid (comm) state ppid …"; `None` when it is not like that.
pub(super) fn parse_stat(b: &[u8]) -> Option<Stat> {
    let open = b.iter().position(|&c| c == b'(')?;
    let close = b.iter().rposition(|&c| c == b')')?;
    if close < open {
        return None;
    }
    let comm = String::from_utf8_lossy(&b[open + 1..close]).into_owned();
    // After ") ": field 3 (state) is index 0.
    let mut f = b.get(close + 2..)?.split(|&c| c == b' ' || c == b'\n');
    let mut nth = |n: usize| f.nth(n).and_then(|v| std::str::from_utf8(v).ok());
    let state = nth(0)?.chars().next()?;
    let ppid = nth(0)?.parse().ok()?; // 4
    let flags = nth(4)?.parse().ok()?; // 9
    let num_threads = nth(10)?.parse().ok()?; // 20
    let starttime = nth(1)?.parse().ok()?; // 22
    Some(Stat {
        comm,
        state,
        ppid,
        flags,
        num_threads,
        starttime,
    })
}

/// The SYSV mappings among the lines of /proc/PID/maps ("start-end perms offset dev inode
/// path"; SysV segments are "/SYSV<key> (deleted)", their inode the shmid). Odd lines are
/// skipped.
pub(super) fn parse_maps(text: &[u8]) -> Vec<MapAttach> {
    let mut v = Vec::new();
    for line in text.split(|&c| c == b'\n') {
        let mut f = line.split(|&c| c == b' ').filter(|x| !x.is_empty());
        let (Some(addr), Some(perms), Some(_off), Some(dev), Some(inode), Some(path)) =
            (f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        if !path.starts_with(b"/SYSV") {
            continue;
        }
        let s = |b| std::str::from_utf8(b).ok();
        let parse = || -> Option<MapAttach> {
            let (start, end) = s(addr)?.split_once('-')?;
            let (maj, min) = s(dev)?.split_once(':')?;
            Some(MapAttach {
                shmid: s(inode)?.parse::<u64>().ok()? as i32,
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                dev: (
                    u32::from_str_radix(maj, 16).ok()?,
                    u32::from_str_radix(min, 16).ok()?,
                ),
                writable: perms.get(1) == Some(&b'w'),
            })
        };
        if let Some(m) = parse() {
            v.push(m);
        }
    }
    v
}

/// One line of /proc/PID/task/TID/syscall: the number and six argument registers of the call
/// the task is blocked in; `None` for "running", "-1 …" (not in a call) or anything odd.
pub(crate) fn parse_syscall(b: &[u8]) -> Option<(i64, [u64; 6])> {
    let s = std::str::from_utf8(b).ok()?;
    let mut f = s.split_ascii_whitespace();
    let nr: i64 = f.next()?.parse().ok()?;
    let mut a = [0u64; 6];
    for x in &mut a {
        let v = f.next()?;
        *x = u64::from_str_radix(v.strip_prefix("0x").unwrap_or(v), 16).ok()?;
    }
    Some((nr, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_even_with_odd_comms() {
        let line = b"4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 110 0 0 0 1 2 0 0 20 0 3 0 987654 \
                     2478080 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.comm, "a) b (c)");
        assert_eq!((s.state, s.ppid, s.flags), ('S', 1, 4194560));
        assert_eq!((s.num_threads, s.starttime), (3, 987654));
        let kthread = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 \
                        18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0";
        let s = parse_stat(kthread).unwrap();
        assert_ne!(s.flags & PF_KTHREAD, 0);
        for bad in [
            &b""[..],
            b"1 (x",
            b"1 x) S",
            b"1 (x) S",
            b"1 (x) S 1 2 3",
            b")(",
        ] {
            assert!(parse_stat(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn only_sysv_mappings() {
        let maps =
            b"55923259a000-559232607000 r--p 00000000 fe:00 5367244                    /usr/bin/x
7f9a95dae000-7f9a95daf000 rw-s 00000000 00:01 1                          /SYSV00000000 (deleted)
7f9a95daf000-7f9a95db0000 r--s 00000000 00:01 65538                      /SYSV12345678 (deleted)
7f9a95db0000-7f9a95db1000 ---p 00000000 00:00 0 
7f9a95db1000-7f9a95db3000 rw-s 00000000 00:01 7                          /dev/zero (deleted)
7f0000000000-7f0000200000 rw-s 00000000 00:10 98304                      /SYSV00000001 (deleted)
zzzz-7f0000200000 rw-s 00000000 00:10 98304                      /SYSV00000001 (deleted)
7f9a95dbb000-7f9a95dbd000 r-xp 00000000 00:00 0                          [vdso]";
        let v = parse_maps(maps);
        assert_eq!(
            v,
            [
                MapAttach {
                    shmid: 1,
                    start: 0x7f9a95dae000,
                    end: 0x7f9a95daf000,
                    dev: (0, 1),
                    writable: true
                },
                MapAttach {
                    shmid: 65538,
                    start: 0x7f9a95daf000,
                    end: 0x7f9a95db0000,
                    dev: (0, 1),
                    writable: false
                },
                MapAttach {
                    shmid: 98304,
                    start: 0x7f0000000000,
                    end: 0x7f0000200000,
                    dev: (0, 0x10),
                    writable: true
                },
            ]
        );
        assert!(parse_maps(b"").is_empty());
        assert!(parse_maps(b"\n\n /SYSV\n\xff\xfe /SYSV").is_empty());
    }

    #[test]
    fn syscall_lines() {
        let blocked = b"64 0x8001 0x7ffd1234 0x1 0x0 0x0 0x0 0x7ffd0000 0x7f00deadbeef\n";
        assert_eq!(
            parse_syscall(blocked),
            Some((64, [0x8001, 0x7ffd1234, 1, 0, 0, 0]))
        );
        assert_eq!(parse_syscall(b"running\n"), None);
        assert_eq!(parse_syscall(b"-1 0x7ffd0000 0x7f00deadbeef\n"), None);
        assert_eq!(parse_syscall(b""), None);
        assert_eq!(parse_syscall(b"64 0xzz 0x1 0x1 0x1 0x1 0x1"), None);
    }

    #[test]
    fn ns_links() {
        assert_eq!(ns_inode_of(b"ipc:[4026531839]").unwrap(), 4026531839);
        assert!(ns_inode_of(b"net:[4026531839]").is_err());
        assert!(ns_inode_of(b"ipc:[x]").is_err());
    }
}
