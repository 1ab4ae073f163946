//! Crash-safe state files: atomic replacement (temporary file, fsync, rename, fsync of the
//! directory) and an exclusive lock file that serializes berth processes changing the same state.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Replaces `path` with `data` so that a reader (or a crash) sees either the old or the new
/// content, never a mix.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // The rename itself is durable only once the directory entry is on disk.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes `path`, treating "already gone" as success, and makes the removal durable.
pub fn remove_durable(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// An exclusive advisory lock held until dropped (flock(2) on a lock file; the kernel releases
/// it if the process dies, so a crash never leaves a stale lock).
#[derive(Debug)]
pub struct LockGuard {
    _lock: Flock<File>,
}

/// Takes the exclusive lock on `path`, creating the file when needed; blocks while another
/// process holds it.
pub fn lock_exclusive(path: &Path) -> io::Result<LockGuard> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    let lock = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| io::Error::from_raw_os_error(errno as i32))?;
    Ok(LockGuard { _lock: lock })
}

/// Whether `name` is safe as one path component and as an object name: starts with an ASCII
/// letter or digit, then letters, digits, `_`, `.` or `-` (Docker's rule for names).
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && name.len() <= 200
}

/// `dir/<name>.json`.
pub fn json_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
        assert!(remove_durable(&path).unwrap());
        assert!(!remove_durable(&path).unwrap());
    }

    #[test]
    fn names() {
        for ok in ["a", "proj_default", "x-1.2"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "../x", ".hidden", "a/b", "_x", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
