//! Atomic replacement of a record file: a temporary file in the same directory, renamed over
//! the record, so a reader or a crash sees the old content or the new, never a mix.
//!
//! Temporary files are named `.<record>.tmp.<pid>.<n>`: hidden (listings skip every dot
//! name), unique per process and write, and recognisable by [`is_temp`] so that `repair`
//! removes the ones a crash left behind.

use super::error::{Result, StateError};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// How hard a write insists on reaching the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync of the file before the rename and of the directory after it: once the call
    /// returns, the record survives a power loss. For records of what berth created, whose
    /// loss would leak a container, network or volume nobody knows about any more.
    Durable,
    /// Rename only. Still atomic for readers and across a crash of berth itself, but a power
    /// loss may lose the write (the old content, or none, comes back). For the hot path of
    /// state transitions, whose loss the next command repairs by asking the runtime, and
    /// which would otherwise pay ~20 ms of fsync per transition on these machines.
    Fast,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether `file_name` is a temporary file of [`write`] (or a temporary directory of a
/// container record being created).
pub fn is_temp(file_name: &str) -> bool {
    file_name.starts_with('.') && file_name.contains(".tmp.")
}

/// A fresh temporary name for `target_name` in the same directory.
pub fn temp_name(target_name: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".{target_name}.tmp.{}.{n}", std::process::id())
}

/// Replaces `path` with `data` atomically, with the given durability.
pub fn write(path: &Path, data: &[u8], durability: Durability) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(temp_name(&name));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(StateError::io("create", &tmp))?;
        file.write_all(data)
            .map_err(StateError::io("write", &tmp))?;
        if durability == Durability::Durable {
            file.sync_all().map_err(StateError::io("fsync", &tmp))?;
        }
        drop(file);
        fs::rename(&tmp, path).map_err(StateError::io("rename into place", path))?;
        if durability == Durability::Durable {
            sync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// fsync of a directory, which makes the entries created, renamed or removed in it durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StateError::io("fsync directory", dir))
}

/// Removes a file; a missing one counts as removed. Returns whether it existed.
pub fn remove_file(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StateError::io("remove", path)(e)),
    }
}

/// Removes a directory tree; a missing one counts as removed.
pub fn remove_dir_all(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StateError::io("remove", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        for (i, d) in [Durability::Durable, Durability::Fast]
            .into_iter()
            .enumerate()
        {
            write(&path, format!("v{i}").as_bytes(), d).unwrap();
            assert_eq!(fs::read_to_string(&path).unwrap(), format!("v{i}"));
        }
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["r.json"]);
    }

    #[test]
    fn temp_names_are_unique_and_recognised() {
        let a = temp_name("config.json");
        let b = temp_name("config.json");
        assert_ne!(a, b);
        assert!(is_temp(&a) && is_temp(&b));
        assert!(!is_temp("config.json"));
        assert!(!is_temp(".hidden"));
    }

    #[test]
    fn failed_write_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty directory fails.
        let target = dir.path().join("sub");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x"), "x").unwrap();
        assert!(write(&target, b"data", Durability::Fast).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
