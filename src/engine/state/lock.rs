//! Advisory locks (`flock(2)` through [`File::lock`]) under the run directory.
//!
//! - `locks/project-<name>.lock`: exclusive for a command that changes a project (`up`,
//!   `down`, ...), so two of them on one project run one after the other. The holder writes
//!   its pid into the file so that whoever waits can say for whom.
//! - `locks/state.lock`: shared by every change that spans several files (a container record
//!   and its name), exclusive for `repair`, so that repair never mistakes a change in
//!   progress for the leftover of a crash.
//!
//! The kernel releases a `flock` when its holder dies, so a crash never leaves a stale lock;
//! the lock files themselves stay (they are empty or hold a pid, and cost nothing).

use super::error::{Result, StateError};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
    path: PathBuf,
}

impl LockGuard {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes our pid into the lock file (best effort: it only improves messages).
    fn announce(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.rewind();
        let _ = write!(self.file, "{}", std::process::id());
    }
}

/// The held lock of one project (see [`super::StateRoot::lock_project`]).
pub type ProjectLock = LockGuard;

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(StateError::io("open lock file", path))
}

/// The pid the holder of `path` wrote, if readable.
fn holder_pid(path: &Path) -> Option<u32> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Takes the exclusive lock of `project` at `path` without waiting.
pub fn try_project(path: &Path, project: &str) -> Result<LockGuard> {
    let file = open(path)?;
    match file.try_lock() {
        Ok(()) => {
            let mut guard = LockGuard {
                file,
                path: path.to_path_buf(),
            };
            guard.announce();
            Ok(guard)
        }
        Err(TryLockError::WouldBlock) => Err(StateError::ProjectBusy {
            name: project.to_string(),
            holder: holder_pid(path),
            path: path.to_path_buf(),
        }),
        Err(TryLockError::Error(e)) => Err(StateError::io("lock", path)(e)),
    }
}

/// Takes the exclusive lock of `project` at `path`, waiting for its holder; says so once
/// (through tracing) when it has to wait.
pub fn project(path: &Path, project: &str) -> Result<LockGuard> {
    match try_project(path, project) {
        Err(StateError::ProjectBusy { holder, .. }) => {
            tracing::info!(
                "waiting for another berth command{} to finish with project {project:?}",
                holder.map(|p| format!(" (pid {p})")).unwrap_or_default()
            );
            let file = open(path)?;
            file.lock().map_err(StateError::io("lock", path))?;
            let mut guard = LockGuard {
                file,
                path: path.to_path_buf(),
            };
            guard.announce();
            Ok(guard)
        }
        other => other,
    }
}

/// Takes `path` shared (several holders) or exclusive, waiting as needed.
pub fn state(path: &Path, exclusive: bool) -> Result<LockGuard> {
    let file = open(path)?;
    let locked = if exclusive {
        file.lock()
    } else {
        file.lock_shared()
    };
    locked.map_err(StateError::io("lock", path))?;
    Ok(LockGuard {
        file,
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_project_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("project-p.lock");
        let held = try_project(&path, "p").unwrap();
        match try_project(&path, "p") {
            Err(e @ StateError::ProjectBusy { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains(&format!("pid {}", std::process::id())),
                    "{text}"
                );
                assert!(text.contains("\"p\""), "{text}");
            }
            other => panic!("{other:?}"),
        }
        drop(held);
        try_project(&path, "p").unwrap();
    }

    #[test]
    fn shared_state_locks_coexist_and_exclude_an_exclusive_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.lock");
        let _a = state(&path, false).unwrap();
        let _b = state(&path, false).unwrap();
        assert!(open(&path).unwrap().try_lock().is_err());
    }
}
