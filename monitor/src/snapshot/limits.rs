//! The IPC limits of the namespace: /proc/sys/kernel/{sem,shmmni,shmall,shmmax,msgmni,
//! msgmax,msgmnb}.
//! (They are per IPC namespace: read them from a thread inside the namespace.)
use std::path::Path;

/// The limits; a field is `None` when its file could not be read or parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Max semaphores per set.
    pub semmsl: Option<u64>,
    /// Max semaphores in the namespace.
    pub semmns: Option<u64>,
    /// Max operations per semop call.
    pub semopm: Option<u64>,
    /// Max semaphore sets.
    pub semmni: Option<u64>,
    /// Max segments.
    pub shmmni: Option<u64>,
    /// Max total shared memory, in pages.
    pub shmall: Option<u64>,
    /// Max segment size in bytes.
    pub shmmax: Option<u64>,
    /// Max queues.
    pub msgmni: Option<u64>,
    /// Max bytes in one message (recordings made before it was read have none).
    pub msgmax: Option<u64>,
    /// Default max bytes in a queue (a new queue's qbytes).
    pub msgmnb: Option<u64>,
    /// Page size in bytes (for shmall).
    pub page_size: u64,
}

fn one(dir: &Path, name: &str) -> Option<u64> {
    std::fs::read_to_string(dir.join(name))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads the limits from a `/proc/sys/kernel`-like directory.
pub fn read_from(dir: &Path) -> Limits {
    let sem: Vec<Option<u64>> = std::fs::read_to_string(dir.join("sem"))
        .map(|s| s.split_whitespace().map(|v| v.parse().ok()).collect())
        .unwrap_or_default();
    let sem_at = |i: usize| sem.get(i).copied().flatten();
    Limits {
        semmsl: sem_at(0),
        semmns: sem_at(1),
        semopm: sem_at(2),
        semmni: sem_at(3),
        shmmni: one(dir, "shmmni"),
        shmall: one(dir, "shmall"),
        shmmax: one(dir, "shmmax"),
        msgmni: one(dir, "msgmni"),
        msgmax: one(dir, "msgmax"),
        msgmnb: one(dir, "msgmnb"),
        // SAFETY: sysconf has no preconditions.
        page_size: (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).max(1) as u64,
    }
}

/// Reads the limits of the calling thread's namespace.
pub fn read() -> Limits {
    read_from(Path::new("/proc/sys/kernel"))
}
