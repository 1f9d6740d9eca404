//! Creating an output file safely as root: a recording named by the user may sit in a
//! directory others can write to (`/tmp`), where a planted symlink, hard link, device node or
//! FIFO must never turn into a root-owned write, a chmod or a chown of something else.
//!
//! The file is always a new inode ipctop creates itself: `O_CREAT|O_EXCL|O_NOFOLLOW` under a
//! temporary name in the target's directory (opened once, then used by descriptor), mode
//! 0600, given to the sudo user; once the header is written it is renamed onto the name asked
//! for. An existing regular file of that name is thereby replaced (never written through,
//! chmodded or chowned); a symlink, directory, device, FIFO or socket is refused.
use std::{
    ffi::OsString,
    fs::File,
    io,
    os::fd::{AsFd, OwnedFd},
    path::{Path, PathBuf},
};

use nix::{
    errno::Errno,
    fcntl::{openat, renameat, OFlag, AT_FDCWD},
    sys::stat::{fchmod, fstatat, Mode, SFlag},
    unistd::{unlinkat, UnlinkatFlags},
};

/// Why an output file was not created: one sentence (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0} is a symbolic link; ipctop does not write through links (name the file itself)")]
    Symlink(String),
    #[error("{0} is a directory; name a file to write")]
    Directory(String),
    #[error("{0} is a {1}, not a regular file; ipctop writes recordings only to regular files")]
    Special(String, &'static str),
    #[error("cannot create {0}: {1}")]
    Io(String, io::Error),
}

/// Where a new file goes: made under a temporary name, put in place with
/// [`NewFile::commit`]; removed if dropped before.
pub struct NewFile {
    dir: OwnedFd,
    tmp: OsString,
    name: OsString,
    path: PathBuf,
    committed: bool,
}

fn kind_name(mode: u32) -> Option<&'static str> {
    let fmt = SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits());
    match fmt {
        SFlag::S_IFCHR => Some("character device"),
        SFlag::S_IFBLK => Some("block device"),
        SFlag::S_IFIFO => Some("FIFO"),
        SFlag::S_IFSOCK => Some("socket"),
        _ => None,
    }
}

/// The target's directory (opened once, used by descriptor from then on) and name, checked:
/// absent, or a regular file.
struct Target<'a> {
    dir: OwnedFd,
    dir_path: &'a Path,
    name: OsString,
    shown: String,
}

fn target(path: &Path) -> Result<Target<'_>, CreateError> {
    let shown = crate::text::path(path);
    let name = match path.file_name() {
        Some(n) => n.to_os_string(),
        None => return Err(CreateError::Directory(shown)),
    };
    let dir_path = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = open_dir(dir_path, &shown)?;
    check_target(&dir, &name, &shown)?;
    Ok(Target {
        dir,
        dir_path,
        name,
        shown,
    })
}

impl Target<'_> {
    /// A new file under a fresh temporary name nobody can have planted (O_EXCL, O_NOFOLLOW;
    /// retried on a collision).
    fn create_temp(&self) -> Result<(OwnedFd, OsString), CreateError> {
        let mut n = 0u32;
        loop {
            let mut tmp = OsString::from(".");
            tmp.push(&self.name);
            tmp.push(format!(".ipctop-{}-{}-{n}", std::process::id(), nonce()));
            match openat(
                &self.dir,
                tmp.as_os_str(),
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            ) {
                Ok(fd) => return Ok((fd, tmp)),
                Err(Errno::EEXIST) if n < 100 => n += 1,
                Err(e) => {
                    let dir = crate::text::path(self.dir_path);
                    let why = match e {
                        Errno::ENOENT | Errno::EOPNOTSUPP | Errno::EINVAL => {
                            format!("the file system of {dir} takes no new files ({})", e.desc())
                        }
                        _ => format!("cannot create a file in {dir}: {}", e.desc()),
                    };
                    return Err(CreateError::Io(
                        self.shown.clone(),
                        io::Error::new(io::Error::from(e).kind(), why),
                    ));
                }
            }
        }
    }
}

/// Creates a new file for `path` (see the module's doc). `owner`: uid and gid to give it
/// (the sudo user), if any.
pub fn create(path: &Path, owner: Option<(u32, u32)>) -> Result<(File, NewFile), CreateError> {
    let t = target(path)?;
    let (fd, tmp) = t.create_temp()?;
    let shown = t.shown.clone();
    let file = File::from(fd);
    let new = NewFile {
        dir: t.dir,
        tmp,
        name: t.name,
        path: path.to_path_buf(),
        committed: false,
    };
    // Only the file just created is chmodded and chowned.
    fchmod(file.as_fd(), Mode::from_bits_truncate(0o600))
        .map_err(|e| CreateError::Io(shown.clone(), e.into()))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
            .map_err(|e| CreateError::Io(shown, e))?;
    }
    Ok((file, new))
}

/// Whether `path` can be created: the name is free or a regular file, and a new file can be
/// made beside it (one is, and removed at once). To refuse a bad name before anything
/// starts; `create` checks again.
pub fn check(path: &Path) -> Result<(), CreateError> {
    let t = target(path)?;
    let (_fd, tmp) = t.create_temp()?;
    let _ = unlinkat(&t.dir, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
    Ok(())
}

fn open_dir(dir_path: &Path, shown: &str) -> Result<OwnedFd, CreateError> {
    openat(
        AT_FDCWD,
        dir_path,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        CreateError::Io(
            shown.to_string(),
            io::Error::new(
                io::Error::from(e).kind(),
                format!(
                    "its directory {}: {}",
                    crate::text::path(dir_path),
                    e.desc()
                ),
            ),
        )
    })
}

/// Refuses a name that is there and is not a regular file.
fn check_target(dir: &OwnedFd, name: &OsString, shown: &str) -> Result<(), CreateError> {
    match fstatat(
        dir,
        name.as_os_str(),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(CreateError::Io(shown.to_string(), e.into())),
        Ok(st) => {
            let fmt = st.st_mode & SFlag::S_IFMT.bits();
            if fmt == SFlag::S_IFLNK.bits() {
                Err(CreateError::Symlink(shown.to_string()))
            } else if fmt == SFlag::S_IFDIR.bits() {
                Err(CreateError::Directory(shown.to_string()))
            } else if let Some(kind) = kind_name(st.st_mode) {
                Err(CreateError::Special(shown.to_string(), kind))
            } else {
                Ok(())
            }
        }
    }
}

/// A little randomness for temporary names (not security: O_EXCL is).
fn nonce() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (t >> 29)
}

impl NewFile {
    /// Puts the file under the name asked for (replacing a regular file of that name; the
    /// rename never follows a link placed there meanwhile, it replaces the link itself).
    pub fn commit(&mut self) -> Result<(), CreateError> {
        if self.committed {
            return Ok(());
        }
        let shown = crate::text::path(&self.path);
        check_target(&self.dir, &self.name, &shown)?;
        renameat(
            &self.dir,
            self.tmp.as_os_str(),
            &self.dir,
            self.name.as_os_str(),
        )
        .map_err(|e| CreateError::Io(shown, e.into()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = unlinkat(&self.dir, self.tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// The sudo user's uid and gid when run under sudo (`SUDO_UID`, `SUDO_GID`).
pub fn sudo_owner() -> Option<(u32, u32)> {
    let uid = std::env::var("SUDO_UID").ok()?.parse().ok()?;
    let gid = std::env::var("SUDO_GID").ok()?.parse().ok()?;
    Some((uid, gid))
}
