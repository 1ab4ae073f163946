//! Advisory file locks (`flock` through [`File::lock`]) that make the store safe for several
//! berth processes at once.
//!
//! - `gc.lock`: held shared by every operation that adds content (pull, load, import) for its
//!   whole duration, and exclusively by garbage collection, so that collection never deletes a
//!   blob that an unfinished operation has written but not yet referenced from the index.
//! - `index.lock`: exclusive around each read-modify-write of the image index.
//! - `blob-<alg>-<hex>.lock`, `layer-<alg>-<hex>.lock`: exclusive while one blob is downloaded
//!   or one layer unpacked, so that two pulls of the same content do the work once; the second
//!   waits and then finds the result in place.
//!
//! A lock is released when its [`LockGuard`] is dropped (closing the descriptor releases a
//! `flock`), including when the process dies.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
    path: PathBuf,
}

impl LockGuard {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Takes an exclusive lock on `path` (created if missing), waiting for other holders.
pub(crate) fn exclusive(path: &Path) -> io::Result<LockGuard> {
    let file = open_lock_file(path)?;
    file.lock()?;
    Ok(LockGuard {
        _file: file,
        path: path.to_owned(),
    })
}

/// Takes a shared lock on `path` (created if missing), waiting for an exclusive holder.
pub(crate) fn shared(path: &Path) -> io::Result<LockGuard> {
    let file = open_lock_file(path)?;
    file.lock_shared()?;
    Ok(LockGuard {
        _file: file,
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn exclusive_locks_exclude_across_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = exclusive(&path).unwrap();
        let (tx, rx) = mpsc::channel();
        let other = path.clone();
        let waiter = std::thread::spawn(move || {
            let _second = exclusive(&other).unwrap();
            tx.send(()).unwrap();
        });
        // The second locker must still be waiting while the first guard lives.
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        drop(first);
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        waiter.join().unwrap();
    }

    #[test]
    fn shared_locks_coexist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gc.lock");
        let _a = shared(&path).unwrap();
        let _b = shared(&path).unwrap();
        let file = open_lock_file(&path).unwrap();
        assert!(file.try_lock().is_err());
    }
}
