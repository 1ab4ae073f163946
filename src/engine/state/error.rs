//! Errors of the state root. Each says what failed and on which path or name.

use std::io;
use std::path::PathBuf;

/// What can go wrong reading or writing the state root.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file system operation failed.
    #[error("state root: cannot {op} {path}: {source}")]
    Io {
        /// What was being done (`create`, `read`, `rename`, ...).
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A record exists but cannot be parsed (truncated by a crash, or edited by hand).
    #[error("state root: {path} is not a valid record: {source}")]
    Corrupt {
        /// The record file.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A container name is already reserved by another container.
    #[error(
        "container name {name:?} is already in use by container {holder}; remove or rename that container to reuse the name"
    )]
    NameInUse {
        /// The name asked for.
        name: String,
        /// The id of the container holding it (may be empty when its reservation was
        /// interrupted by a crash; `repair` removes those).
        holder: String,
    },
    /// A container with this id is already recorded.
    #[error("container {id} is already recorded in the state root")]
    ContainerExists {
        /// The id.
        id: String,
    },
    /// No container with this id is recorded.
    #[error("no such container: {id}")]
    NoSuchContainer {
        /// The id.
        id: String,
    },
    /// A name or id that cannot be used as a file name in the state root.
    #[error("invalid {what} {name:?}: {reason}")]
    InvalidName {
        /// `container id`, `container name`, `project name`.
        what: &'static str,
        /// The offending value.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// Another berth command holds the project's lock (only from `try_lock_project`).
    #[error(
        "project {name:?} is busy: another berth command{} is working on it (lock {path})",
        holder.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    ProjectBusy {
        /// The project.
        name: String,
        /// The pid written in the lock file by the holder, when readable.
        holder: Option<u32>,
        /// The lock file.
        path: PathBuf,
    },
}

impl StateError {
    /// An [`StateError::Io`] for `op` on `path`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| StateError::Io { op, path, source }
    }
}

/// A result of the state root.
pub type Result<T, E = StateError> = std::result::Result<T, E>;
