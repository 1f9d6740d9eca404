//! 32-bit processes: finding them, and whether the probe's 32-bit path follows them.
//!
//! The per-syscall tracepoints never fire for the syscalls of 32-bit (compat) tasks, and
//! the raw tracepoints that see them run on every syscall of the machine. So in the
//! tracepoint mode the raw 32-bit path (`ipc_compat_enter`/`ipc_compat_exit`, which return at
//! once for anything but an i386 IPC number of a compat task) is attached only when 32-bit
//! processes exist when the probe is loaded; the raw mode follows 32-bit tasks always.
//! A process is 32-bit when its executable (/proc/PID/exe) is an ELFCLASS32 file.
use std::{fs, io::Read, path::Path};

/// Whether the probe follows the IPC calls of 32-bit processes, in words for the header and
/// `trace`'s start line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompatPath {
    /// The raw mode: every syscall passes the probe, 32-bit ones are told apart and followed.
    Raw { processes: usize },
    /// The tracepoint mode with the raw 32-bit path attached.
    Attached { processes: usize },
    /// The tracepoint mode without it: there were no 32-bit processes at load time, or
    /// (`why`) its programs could not be loaded or attached.
    NotAttached {
        processes: usize,
        why: Option<String>,
    },
}

impl std::fmt::Display for CompatPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "es" };
        match *self {
            CompatPath::Raw { processes: n } => {
                write!(
                    f,
                    "32-bit calls followed too ({n} 32-bit process{} now)",
                    plural(n)
                )
            }
            CompatPath::Attached { processes: n } => {
                write!(f, "32-bit path attached: {n} process{}", plural(n))
            }
            CompatPath::NotAttached {
                processes: 0,
                why: None,
            } => f.write_str(
                "no 32-bit processes, 32-bit path not attached (32-bit processes started later \
                 are not traced; --attach raw follows them)",
            ),
            CompatPath::NotAttached {
                processes: n,
                ref why,
            } => {
                write!(
                    f,
                    "{n} 32-bit process{} {} not traced",
                    plural(n),
                    if n == 1 { "is" } else { "are" }
                )?;
                match why {
                    Some(why) => write!(f, " (the 32-bit path failed: {why})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The ELF class of an executable: 1 (32-bit), 2 (64-bit); `None`: not readable or not ELF.
pub fn elf_class(exe: &Path) -> Option<u8> {
    let mut head = [0u8; 5];
    fs::File::open(exe).ok()?.read_exact(&mut head).ok()?;
    (head[..4] == *b"\x7fELF").then_some(head[4])
}

/// The pids of the 32-bit processes running now (kernel threads and processes whose
/// executable cannot be read are left out).
pub fn processes_32bit() -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| elf_class(&Path::new("/proc").join(pid.to_string()).join("exe")) == Some(1))
        .collect();
    pids.sort_unstable();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_classes() {
        let dir = std::env::temp_dir().join(format!("ipctop-elf-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            fs::write(&p, bytes).unwrap();
            p
        };
        assert_eq!(elf_class(&write("32", b"\x7fELF\x01\x01\x01")), Some(1));
        assert_eq!(elf_class(&write("64", b"\x7fELF\x02\x01\x01")), Some(2));
        assert_eq!(elf_class(&write("sh", b"#!/bin/sh\n")), None);
        assert_eq!(elf_class(&write("short", b"\x7fEL")), None);
        assert_eq!(elf_class(&dir.join("missing")), None);
        // This test binary is a 64-bit one.
        assert_eq!(elf_class(Path::new("/proc/self/exe")), Some(2));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn in_words() {
        assert_eq!(
            CompatPath::Attached { processes: 2 }.to_string(),
            "32-bit path attached: 2 processes"
        );
        assert_eq!(
            CompatPath::NotAttached {
                processes: 1,
                why: Some("refused".into())
            }
            .to_string(),
            "1 32-bit process is not traced (the 32-bit path failed: refused)"
        );
    }
}
