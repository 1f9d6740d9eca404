//! From a cgroup id to its path. On the unified hierarchy (cgroup v2) the id the probe reads
//! with `bpf_get_current_cgroup_id()` is the inode number of the cgroup's directory and its
//! kernfs file handle. The path is found by opening that handle (open_by_handle_at, needs
//! CAP_DAC_READ_SEARCH) and reading the link of the descriptor; without the capability, by
//! walking the cgroup2 mount and remembering what it saw: a bounded map refilled by a new
//! walk on a miss (at most once per `min_rewalk`, so ids of cgroups that are gone do not cost
//! a walk each).
use std::{
    collections::HashMap,
    fs::File,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::fs::MetadataExt,
    },
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// Directories below the mount visited at most (and paths remembered).
pub const DEFAULT_CAP: usize = 65_536;
/// Nesting walked at most (the kernel's default cgroup.max.depth is unlimited; real trees
/// stay under a dozen).
const MAX_DEPTH: usize = 32;

/// Where the unified (v2) hierarchy is mounted, and which cgroup its root is (not "/" inside
/// a cgroup namespace or a bind mount of a subtree), from a `/proc/self/mountinfo` text.
pub fn cgroup2_mount(mountinfo: &str) -> Option<(PathBuf, String)> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split(' ').next()? != "cgroup2" {
            return None;
        }
        let f: Vec<&str> = left.split(' ').collect();
        Some((
            PathBuf::from(unescape_octal(f.get(4)?)),
            unescape_octal(f.get(3)?),
        ))
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|o| o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(o) if b[i] == b'\\' => {
                out.push(o.iter().fold(0u8, |v, c| v.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Cgroup ids to paths (as `/proc/PID/cgroup` writes them: from the hierarchy's root).
pub struct CgroupPaths {
    mount: PathBuf,
    /// The cgroup the mount shows at its top ("/" normally).
    mount_root: String,
    cap: usize,
    min_rewalk: Duration,
    paths: HashMap<u64, String>,
    last_walk: Option<Instant>,
    /// The mount's directory, for open_by_handle_at (`None` once it failed: walk instead).
    mount_fd: Option<File>,
}

/// `struct file_handle` of a kernfs node: its 64-bit id.
#[repr(C)]
struct KernfsHandle {
    handle_bytes: u32,
    handle_type: i32,
    id: [u8; 8],
}

/// `FILEID_KERNFS` (include/linux/exportfs.h).
const FILEID_KERNFS: i32 = 0xfe;

impl CgroupPaths {
    /// For the cgroup2 hierarchy mounted at `mount`, which shows the cgroup `mount_root`.
    pub fn new(mount: PathBuf, mount_root: String, cap: usize, min_rewalk: Duration) -> Self {
        CgroupPaths {
            mount_root,
            cap: cap.max(1),
            min_rewalk,
            paths: HashMap::new(),
            last_walk: None,
            mount_fd: File::open(&mount).ok(),
            mount,
        }
    }

    /// For this system's cgroup2 mount (`None`: no unified hierarchy is mounted, cgroup v1
    /// only, where the probe's cgroup ids name nothing that can be looked up).
    pub fn system() -> Option<Self> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let (mount, root) = cgroup2_mount(&mountinfo)?;
        Some(Self::new(mount, root, DEFAULT_CAP, Duration::from_secs(1)))
    }

    /// Never opens file handles: walks (what happens without CAP_DAC_READ_SEARCH).
    pub fn walking_only(mut self) -> Self {
        self.mount_fd = None;
        self
    }

    /// The directory the hierarchy is mounted on.
    pub fn mount(&self) -> &Path {
        &self.mount
    }

    /// The path of the cgroup `id`, walking the hierarchy again if it is not known yet.
    pub fn path_of(&mut self, id: u64) -> Option<&str> {
        if !self.paths.contains_key(&id) {
            if let Some(path) = self.by_handle(id) {
                if self.paths.len() >= self.cap {
                    self.paths.clear();
                }
                return Some(self.paths.entry(id).or_insert(path));
            }
            let stale = self
                .last_walk
                .is_none_or(|t| t.elapsed() >= self.min_rewalk);
            if !stale {
                return None;
            }
            self.walk();
        }
        self.paths.get(&id).map(String::as_str)
    }

    /// The path of cgroup `id` through its file handle (`None`: not allowed, or no such id).
    fn by_handle(&mut self, id: u64) -> Option<String> {
        let mount_fd = self.mount_fd.as_ref()?;
        let mut h = KernfsHandle {
            handle_bytes: 8,
            handle_type: FILEID_KERNFS,
            id: id.to_ne_bytes(),
        };
        // SAFETY: a file_handle header followed by its 8 bytes of handle; the kernel reads
        // handle_bytes bytes after the header and nothing else.
        let fd = unsafe {
            libc::open_by_handle_at(
                mount_fd.as_raw_fd(),
                (&raw mut h).cast::<libc::file_handle>(),
                libc::O_PATH | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = std::io::Error::last_os_error().raw_os_error();
            if matches!(e, Some(libc::EPERM | libc::EOPNOTSUPP | libc::ENOSYS)) {
                self.mount_fd = None; // never allowed here: walk from now on
            }
            return None;
        }
        // SAFETY: a descriptor just opened and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let file = File::from(fd);
        if file.metadata().ok()?.ino() != id {
            return None;
        }
        let link = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
        let rel = link.strip_prefix(&self.mount).ok()?;
        let base = self.mount_root.trim_end_matches('/');
        let rel = rel.to_str()?;
        Some(match (base, rel) {
            ("", "") => "/".into(),
            (b, "") => b.into(),
            (b, r) => format!("{b}/{r}"),
        })
    }

    /// The number of paths remembered.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Forgets everything and walks the hierarchy (depth first, `cap` directories at most).
    fn walk(&mut self) {
        self.last_walk = Some(Instant::now());
        self.paths.clear();
        let base = self.mount_root.trim_end_matches('/').to_string();
        let mut stack = vec![(self.mount.clone(), String::new(), 0usize)];
        while let Some((dir, rel, depth)) = stack.pop() {
            if self.paths.len() >= self.cap {
                break;
            }
            let Ok(meta) = std::fs::symlink_metadata(&dir) else {
                continue; // removed while walking
            };
            let path = if rel.is_empty() && base.is_empty() {
                "/".to_string()
            } else {
                format!("{base}{rel}")
            };
            self.paths.insert(meta.ino(), path);
            if depth >= MAX_DEPTH {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let name = e.file_name().to_string_lossy().into_owned();
                    stack.push((e.path(), format!("{rel}/{name}"), depth + 1));
                }
            }
        }
    }
}
