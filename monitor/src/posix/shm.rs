//! POSIX shared memory and named semaphores: the files of the `/dev/shm` of every mount
//! namespace (through /proc/PID/root of one of its processes; namespaces that share a tmpfs
//! are listed once), their users by device and inode, a semaphore's value read from a
//! process that maps it (else from its file with O_NOATIME, so its access time stays), and
//! the objects removed from the directory but still mapped.
use std::{
    collections::{BTreeMap, HashMap},
    os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt},
};

use super::{
    futex::read_remote, scan::Ids, scan::Scanned, Mapper, Opener, PosixSnapshot, SemWord, ShmKind,
    ShmObject,
};

/// One /dev/shm filesystem.
pub(super) struct Dir {
    pub dev: u64,
    /// Whether it is a mount of its own (else its device is the root's, and maps entries on
    /// it are not taken for deleted objects).
    pub own_mount: bool,
    /// A process that sees it (to read files through its root).
    pub pid: u32,
    pub objects: Vec<ShmObject>,
}

fn object(md: &std::fs::Metadata, name: &str, dir: &Dir, ipc_ns: Option<u64>) -> ShmObject {
    let (kind, name) = match name.strip_prefix("sem.") {
        Some(n) => (ShmKind::Semaphore, n.to_string()),
        None => (ShmKind::Shm, name.to_string()),
    };
    ShmObject {
        dev: dir.dev,
        ino: md.ino(),
        name,
        kind,
        ipc_ns,
        mnt_ns: Vec::new(),
        size: md.size(),
        uid: md.uid(),
        gid: md.gid(),
        mode: md.mode() & 0o7777,
        atime_s: md.atime(),
        mtime_s: md.mtime(),
        ctime_s: md.ctime(),
        openers: Vec::new(),
        mappers: Vec::new(),
        sem: None,
    }
}

/// Every /dev/shm, once per filesystem.
pub(super) fn read_all(ids: &Ids, unknowns: &mut Vec<String>) -> Vec<Dir> {
    let mut by_dev: BTreeMap<u64, Dir> = BTreeMap::new();
    let mut seen_mnt: BTreeMap<u64, u64> = BTreeMap::new();
    for i in &ids.procs {
        let (Some(mnt), pid) = (i.p.mnt_ns, i.p.pid) else {
            continue;
        };
        if seen_mnt.contains_key(&mnt) {
            continue;
        }
        let Ok(root) = std::fs::metadata(format!("/proc/{pid}/root")) else {
            // Gone, or not ours to read.
            if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                unknowns.push(format!(
                    "/dev/shm of mount namespace {mnt} (pid {pid}): its root is not readable \
                     (run as root)"
                ));
            }
            continue;
        };
        let path = format!("/proc/{pid}/root/dev/shm");
        // Through the process's root, a symlink would resolve against ours: /dev and
        // /dev/shm must be directories themselves (a container's own), else not read.
        let real_dir = |p: &str| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
        if !real_dir(&format!("/proc/{pid}/root/dev")) || !real_dir(&path) {
            seen_mnt.insert(mnt, 0);
            continue;
        }
        let Ok(d) = std::fs::metadata(&path) else {
            continue;
        };
        seen_mnt.insert(mnt, d.dev());
        if let Some(dir) = by_dev.get_mut(&d.dev()) {
            for o in &mut dir.objects {
                o.mnt_ns.push(mnt);
            }
            continue;
        }
        let mut dir = Dir {
            dev: d.dev(),
            own_mount: d.dev() != root.dev(),
            pid,
            objects: Vec::new(),
        };
        match std::fs::read_dir(&path) {
            Ok(entries) => {
                for e in entries.flatten() {
                    let Ok(md) = e.metadata() else { continue };
                    if md.file_type().is_file() {
                        let mut o = object(&md, &e.file_name().to_string_lossy(), &dir, i.p.ipc_ns);
                        o.mnt_ns.push(mnt);
                        dir.objects.push(o);
                    }
                }
            }
            Err(e) => unknowns.push(format!("{path}: {e}")),
        }
        dir.objects.sort_by(|a, b| a.name.cmp(&b.name));
        by_dev.insert(dir.dev, dir);
    }
    by_dev.into_values().collect()
}

/// A semaphore's word from its file, not changing its access time (O_NOATIME: the owner or
/// CAP_FOWNER); `None` when that is not allowed.
fn read_file_word(pid: u32, name: &str) -> Option<u64> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME | libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(format!("/proc/{pid}/root/dev/shm/sem.{name}"))
        .ok()?;
    let mut b = [0u8; 8];
    (f.read_at(&mut b, 0).ok()? == 8).then(|| u64::from_le_bytes(b))
}

fn sem_word(w: u64) -> SemWord {
    SemWord {
        value: (w & 0xffff_ffff) as u32,
        nwaiters: (w >> 32) as u32,
    }
}

/// Each object's users, semaphores' values, and the deleted objects still mapped.
pub(super) fn join(
    snap: &mut PosixSnapshot,
    dirs: Vec<Dir>,
    sc: &Scanned,
    ids: &Ids,
    unknowns: &mut Vec<String>,
) {
    let mut objs: Vec<ShmObject> = Vec::new();
    let mut own: HashMap<u64, (bool, u32)> = HashMap::new();
    for d in dirs {
        own.insert(d.dev, (d.own_mount, d.pid));
        objs.extend(d.objects);
    }
    let mut idx: HashMap<(u64, u64), usize> = objs
        .iter()
        .enumerate()
        .map(|(i, o)| ((o.dev, o.ino), i))
        .collect();
    for f in &sc.fds {
        if let Some(&i) = idx.get(&(f.dev, f.ino)) {
            objs[i].openers.push(Opener {
                pid: f.pid,
                fd: f.fd,
                access: f.access,
            });
        }
    }
    let mut pids: Vec<&u32> = sc.maps.keys().collect();
    pids.sort_unstable();
    for &pid in pids {
        for m in &sc.maps[&pid] {
            let dev = m.dev_t();
            let i = match idx.get(&(dev, m.ino)) {
                Some(&i) => i,
                None => {
                    // Not in the directory: removed but still mapped (on a /dev/shm of its own).
                    if !own.get(&dev).is_some_and(|(o, _)| *o) {
                        continue;
                    }
                    let name = m.path.strip_suffix(" (deleted)").unwrap_or(&m.path);
                    let name = name.rsplit('/').next().unwrap_or(name).to_string();
                    let size = std::fs::metadata(format!(
                        "/proc/{pid}/map_files/{:x}-{:x}",
                        m.start, m.end
                    ))
                    .map_or(m.end - m.start, |md| md.size());
                    objs.push(ShmObject {
                        dev,
                        ino: m.ino,
                        name,
                        kind: ShmKind::Deleted,
                        ipc_ns: ids.ipc_ns_of(pid),
                        mnt_ns: Vec::new(),
                        size,
                        uid: 0,
                        gid: 0,
                        mode: 0,
                        atime_s: 0,
                        mtime_s: 0,
                        ctime_s: 0,
                        openers: Vec::new(),
                        mappers: Vec::new(),
                        sem: None,
                    });
                    idx.insert((dev, m.ino), objs.len() - 1);
                    objs.len() - 1
                }
            };
            objs[i].mappers.push(Mapper {
                pid,
                start: m.start,
                end: m.end,
                offset: m.offset,
            });
        }
    }
    let mut unread = 0;
    for o in objs.iter_mut().filter(|o| o.kind == ShmKind::Semaphore) {
        let from_map = o
            .mappers
            .iter()
            .find(|m| m.offset == 0 && m.end - m.start >= 8)
            .and_then(|m| read_remote(m.pid, m.start, 8));
        let w = from_map.or_else(|| {
            own.get(&o.dev)
                .and_then(|(_, p)| read_file_word(*p, &o.name))
        });
        o.sem = w.map(sem_word);
        unread += usize::from(w.is_none());
    }
    if unread > 0 {
        unknowns.push(format!(
            "the value of {unread} named semaphore(s): not readable from a process that maps \
             them, nor from their file without changing its access time (run as root)"
        ));
    }
    snap.shm = objs;
}
