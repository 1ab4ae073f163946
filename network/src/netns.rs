//! Network namespaces that outlive processes: each is bind-mounted on a file under berth's run
//! directory (as `ip netns add` does), so a container keeps its interfaces, addresses and DNS
//! names across restarts of its process. Also the helpers to join one (for
//! `network_mode: container:<name>` / `service:<name>`, and for code that must run inside).
//!
//! Namespaces are only ever entered from a dedicated thread (or, by the engine, from a
//! re-executed child before it runs anything else), never from a thread that goes on to serve
//! other work: a thread's network namespace decides where its sockets live.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::statfs::{NSFS_MAGIC, statfs};

/// A namespace operation that failed, with the path it concerned.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// A system call failed.
    #[error("network namespace {path}: {action}: {source}")]
    Sys {
        /// The namespace file (or directory).
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// The path exists but is not a namespace.
    #[error("{0} exists but is not a network namespace")]
    NotNetns(PathBuf),
    /// The helper thread died.
    #[error("network namespace {0}: the thread running in it panicked")]
    Panicked(PathBuf),
}

fn sys<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(Errno) -> NetnsError + 'a {
    move |errno| NetnsError::Sys {
        path: path.to_path_buf(),
        action,
        source: io::Error::from(errno),
    }
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> NetnsError + 'a {
    move |source| NetnsError::Sys {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// An open network namespace.
#[derive(Debug)]
pub struct Netns {
    path: PathBuf,
    file: File,
}

impl Netns {
    /// Creates a new, empty network namespace pinned at `path` (a file in a directory of
    /// berth's run dir). If `path` already pins a namespace, that one is opened instead, so a
    /// crashed `create` can be repeated.
    pub fn create(path: &Path) -> Result<Netns, NetnsError> {
        if let Ok(existing) = Netns::open(path) {
            return Ok(existing);
        }
        let dir = path.parent().unwrap_or(Path::new("/"));
        prepare_dir(dir)?;
        match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(_) => {}
            // An empty leftover from an interrupted create: reuse it as the mount point.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(path, "creating the mount point")(e)),
        }
        // unshare() moves the calling thread; a short-lived thread keeps every other thread
        // (and the tokio workers) where they are.
        let result = std::thread::scope(|scope| {
            scope
                .spawn(|| -> Result<(), NetnsError> {
                    unshare(CloneFlags::CLONE_NEWNET).map_err(sys(path, "unshare"))?;
                    mount(
                        Some("/proc/thread-self/ns/net"),
                        path,
                        None::<&str>,
                        MsFlags::MS_BIND,
                        None::<&str>,
                    )
                    .map_err(sys(path, "bind-mounting the namespace"))
                })
                .join()
                .map_err(|_| NetnsError::Panicked(path.to_path_buf()))?
        });
        if let Err(e) = result {
            let _ = fs::remove_file(path);
            return Err(e);
        }
        Netns::open(path)
    }

    /// Opens the namespace pinned at `path` (or any nsfs file, such as `/proc/<pid>/ns/net`).
    pub fn open(path: &Path) -> Result<Netns, NetnsError> {
        let fs_type = statfs(path).map_err(sys(path, "statfs"))?.filesystem_type();
        if fs_type != NSFS_MAGIC {
            return Err(NetnsError::NotNetns(path.to_path_buf()));
        }
        let file = File::open(path).map_err(io_err(path, "open"))?;
        Ok(Netns {
            path: path.to_path_buf(),
            file,
        })
    }

    /// The namespace of the calling thread (the host's, for berth's own threads).
    pub fn current() -> Result<Netns, NetnsError> {
        let path = Path::new("/proc/thread-self/ns/net");
        let file = File::open(path).map_err(io_err(path, "open"))?;
        Ok(Netns {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Unpins the namespace at `path` and removes the file. The namespace itself goes away
    /// once no process is in it. Returns whether there was anything to remove.
    pub fn remove(path: &Path) -> Result<bool, NetnsError> {
        let mut removed = false;
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) => removed = true,
            // EINVAL: not a mount point (an empty leftover file); ENOENT: already gone.
            Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(sys(path, "unmounting")(e)),
        }
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(removed),
            Err(e) => Err(io_err(path, "removing the mount point")(e)),
        }
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the calling thread into the namespace. Only for threads that exist for that
    /// purpose (see the module documentation); prefer [`Netns::run`].
    pub fn enter(&self) -> Result<(), NetnsError> {
        setns(self.file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(sys(&self.path, "setns"))
    }

    /// Runs `f` on a new thread inside the namespace and returns its result: sockets `f`
    /// creates belong to the namespace (and stay there when handed back).
    pub fn run<F, R>(&self, f: F) -> Result<R, NetnsError>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        std::thread::scope(|scope| {
            scope
                .spawn(|| -> Result<R, NetnsError> {
                    self.enter()?;
                    Ok(f())
                })
                .join()
                .map_err(|_| NetnsError::Panicked(self.path.clone()))?
        })
    }

    /// Another handle on the same namespace.
    pub fn try_clone(&self) -> Result<Netns, NetnsError> {
        let file = self.file.try_clone().map_err(io_err(&self.path, "dup"))?;
        Ok(Netns {
            path: self.path.clone(),
            file,
        })
    }

    /// Whether both handles refer to the same namespace.
    pub fn same_as(&self, other: &Netns) -> Result<bool, NetnsError> {
        let a = nix::sys::stat::fstat(self.file.as_fd()).map_err(sys(&self.path, "fstat"))?;
        let b = nix::sys::stat::fstat(other.file.as_fd()).map_err(sys(&other.path, "fstat"))?;
        Ok(a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for Netns {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// Makes `dir` a shared mount point (bind-mounting it on itself first if needed), as
/// `ip netns` does for /run/netns: then unmounting a namespace file also unmounts the copies
/// that mount namespaces created meanwhile hold, and the namespace can really go away.
pub fn prepare_dir(dir: &Path) -> Result<(), NetnsError> {
    fs::create_dir_all(dir).map_err(io_err(dir, "creating the directory"))?;
    // Two commands preparing it at once would each bind-mount it on itself.
    let lock_path = dir.with_extension("lock");
    let _lock = crate::state::lock_exclusive(&lock_path)
        .map_err(io_err(&lock_path, "locking the namespace directory"))?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount(None::<&str>, dir, None::<&str>, shared, None::<&str>) {
        Ok(()) => return Ok(()),
        // Not a mount point yet.
        Err(Errno::EINVAL) => {}
        Err(e) => return Err(sys(dir, "making the directory a shared mount")(e)),
    }
    mount(
        Some(dir),
        dir,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys(dir, "bind-mounting the directory on itself"))?;
    mount(None::<&str>, dir, None::<&str>, shared, None::<&str>)
        .map_err(sys(dir, "making the directory a shared mount"))
}

/// Undoes [`prepare_dir`] (for run directories that are themselves removed, as in tests).
pub fn release_dir(dir: &Path) -> Result<(), NetnsError> {
    if !is_mount_point(dir) {
        return Ok(());
    }
    match umount2(dir, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(sys(dir, "unmounting the directory")(e)),
    }
}

/// Whether `dir` is a mount point (its own entry in /proc/self/mountinfo).
fn is_mount_point(dir: &Path) -> bool {
    let Ok(canonical) = dir.canonicalize() else {
        return false;
    };
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = canonical.to_string_lossy();
    info.lines()
        .any(|line| line.split(' ').nth(4).map(unescape_mountinfo).as_deref() == Some(&*wanted))
}

fn unescape_mountinfo(field: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Some(code) = field
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_unescaping() {
        assert_eq!(unescape_mountinfo("/run/a\\040b"), "/run/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
        assert_eq!(unescape_mountinfo("/x\\"), "/x\\");
    }

    #[test]
    fn opening_a_non_namespace_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        fs::write(&file, "").unwrap();
        assert!(matches!(Netns::open(&file), Err(NetnsError::NotNetns(_))));
        assert!(matches!(
            Netns::open(&dir.path().join("missing")),
            Err(NetnsError::Sys {
                action: "statfs",
                ..
            })
        ));
    }
}
