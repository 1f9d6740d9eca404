//! A filesystem mounted where only one thread of ours sees it: the probe's tracefs (not
//! mounted at boot) and each IPC namespace's `mqueue` filesystem. The thread gets a mount
//! namespace of its own whose mounts are private, so nothing else on the system — nor
//! ipctop's other threads — sees the mount, and it goes when the thread ends.
use std::path::Path;

use nix::{
    mount::{mount, MsFlags},
    sched::{unshare, CloneFlags},
};

/// What to mount, and where.
pub struct PrivateMount<'a> {
    /// Filesystem type (and source): "tracefs", "mqueue".
    pub fstype: &'a str,
    /// The first of these directories that exists is the mount point.
    pub at: &'a [&'a str],
    pub flags: MsFlags,
    /// Said in errors about what needs privilege: "(needs root / CAP_SYS_ADMIN)".
    pub need: &'a str,
}

/// Runs `enter` then `f` on a thread of its own, in a private mount namespace with `m`
/// mounted (`f` gets the mount point). `enter` runs first, for a namespace to join
/// (setns). `Err`: one sentence on what could not be arranged.
pub fn with_private_mount<T: Send>(
    m: &PrivateMount<'_>,
    enter: impl FnOnce() -> Result<(), String> + Send,
    f: impl FnOnce(&Path) -> T + Send,
) -> Result<T, String> {
    let need = m.need;
    std::thread::scope(|s| {
        s.spawn(|| -> Result<T, String> {
            enter()?;
            // A mount namespace for this thread only (CLONE_NEWNS implies CLONE_FS).
            unshare(CloneFlags::CLONE_NEWNS)
                .map_err(|e| format!("no private mount namespace {need}: {e}"))?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .map_err(|e| format!("cannot make the mounts private: {e}"))?;
            let at =
                m.at.iter()
                    .map(Path::new)
                    .find(|p| p.is_dir())
                    .ok_or_else(|| format!("no directory to mount {} on", m.fstype))?;
            mount(Some(m.fstype), at, Some(m.fstype), m.flags, None::<&str>)
                .map_err(|e| format!("cannot mount {} {need}: {e}", m.fstype))?;
            Ok(f(at))
        })
        .join()
        .map_err(|_| format!("the thread with {} mounted panicked", m.fstype))?
    })
}
