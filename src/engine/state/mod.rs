//! The state root: what berth created, recorded so that [`Observed`] can be read back and
//! `down`, `ps` and `ls` work without the compose file.
//!
//! # Layout
//!
//! ```text
//! <root>/                      --root, BERTH_ROOT, default /var/lib/berth
//!   containers/<id>/config.json   ContainerRecord (durable)
//!   containers/<id>/state.json    its ContainerStatus, newer than config.json's (fast)
//!   projects/<name>/project.json  ProjectRecord (durable)
//!   names/<name>                  the id of the container that owns the name (durable)
//! <run>/                       BERTH_RUN, default /run/berth
//!   locks/project-<name>.lock     one berth command per project at a time
//!   locks/state.lock              changes (shared) against repair (exclusive)
//! ```
//!
//! Networks and volumes are recorded by their own crates; the engine reads their listings
//! through [`ResourceLister`].
//!
//! # Durability, record by record
//!
//! Every write is atomic (temporary file in the same directory, rename). Whether it is also
//! fsynced (file before the rename, directory after) depends on what its loss would cost:
//!
//! - container `config.json`, `names/<name>`, `project.json`, and the removals of each:
//!   durable. They say what exists; losing one leaks a container nobody knows about, or lets
//!   two containers share a name. They change once per create or remove, which costs the
//!   fsync anyway.
//! - container `state.json` (every start, exit, restart, pause): fast, no fsync. A power loss
//!   can only take back the last transitions, which ended every process anyway; the next
//!   command asks the runtime whether the process lives and writes the truth. This keeps
//!   ~20 ms of fsync per transition (DESIGN.md: /run and the root are on disk here) off the
//!   supervisor's hot path.
//!
//! # Crash safety
//!
//! Readers skip every dot name (temporary files, a container directory being created), and
//! report rather than fail on a record they cannot read ([`Listing::problems`]); they never
//! panic. [`StateRoot::repair`] removes what a crash left: temporary files, records that do
//! not parse, name reservations without their container.

mod atomic;
mod containers;
mod error;
pub mod health;
mod lock;
mod names;
mod observe;
mod paths;
mod projects;
mod record;
mod repair;

pub use atomic::{Durability, write as write_file};
pub use error::{Result, StateError};
pub use health::{
    HealthCheck, HealthState, HealthStatus, MAX_LOG_ENTRIES, ProbeResult, truncate_output,
};
pub use lock::{LockGuard, ProjectLock};
pub use observe::{InMemoryResources, ResourceLister};
pub use paths::ContainerPaths;
pub use record::{
    ContainerRecord, ContainerStatus, Endpoint, ImageRecord, LogOptions, MountKind, MountRecord,
    PortRecord, ProjectRecord, RecordedState, current_boot_id,
};
pub use repair::RepairReport;

use std::fs;
use std::path::{Path, PathBuf};

#[cfg(doc)]
use crate::engine::observed::Observed;

/// The default state root.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";
/// The default run directory.
pub const DEFAULT_RUN: &str = "/run/berth";

/// The run directory: `BERTH_RUN` when set and not empty, else [`DEFAULT_RUN`].
pub fn run_dir_from_env() -> PathBuf {
    std::env::var_os("BERTH_RUN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_RUN))
}

/// A record that could not be read, reported instead of failing the whole listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file or directory.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// The records found, and the ones skipped because they could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    /// Readable records, sorted by name.
    pub records: Vec<T>,
    /// Unreadable ones; [`StateRoot::repair`] removes them.
    pub problems: Vec<Problem>,
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Listing {
            records: Vec::new(),
            problems: Vec::new(),
        }
    }
}

/// An opened state root.
#[derive(Debug, Clone)]
pub struct StateRoot {
    root: PathBuf,
    run: PathBuf,
}

impl StateRoot {
    /// Opens the state root at `root` with run state under `run`, creating the directories
    /// that are missing.
    pub fn open(root: impl Into<PathBuf>, run: impl Into<PathBuf>) -> Result<StateRoot> {
        let state = StateRoot {
            root: root.into(),
            run: run.into(),
        };
        for dir in [
            state.containers_dir(),
            state.projects_dir(),
            state.names_dir(),
            state.locks_dir(),
        ] {
            fs::create_dir_all(&dir).map_err(StateError::io("create directory", &dir))?;
        }
        Ok(state)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The run directory.
    pub fn run(&self) -> &Path {
        &self.run
    }

    fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    fn projects_dir(&self) -> PathBuf {
        self.root.join("projects")
    }

    fn names_dir(&self) -> PathBuf {
        self.root.join("names")
    }

    fn locks_dir(&self) -> PathBuf {
        self.run.join("locks")
    }

    /// The directory of container `id`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }

    /// The directory of project `name`.
    pub fn project_dir(&self, name: &str) -> PathBuf {
        self.projects_dir().join(name)
    }

    /// Takes the lock that orders multi-file changes against [`StateRoot::repair`].
    fn state_lock(&self, exclusive: bool) -> Result<LockGuard> {
        lock::state(&self.locks_dir().join("state.lock"), exclusive)
    }

    /// Takes the lock of project `name`, waiting while another berth command holds it (the
    /// wait is logged once, naming the holder's pid). Held until the guard is dropped.
    pub fn lock_project(&self, name: &str) -> Result<ProjectLock> {
        names::validate("project name", name)?;
        lock::project(&self.locks_dir().join(format!("project-{name}.lock")), name)
    }

    /// Takes the lock of project `name` without waiting: [`StateError::ProjectBusy`] when
    /// another command holds it.
    pub fn try_lock_project(&self, name: &str) -> Result<ProjectLock> {
        names::validate("project name", name)?;
        lock::try_project(&self.locks_dir().join(format!("project-{name}.lock")), name)
    }

    /// The id of the container that holds `name`, if any.
    pub fn name_holder(&self, name: &str) -> Result<Option<String>> {
        names::validate("container name", name)?;
        names::holder(&self.names_dir(), name)
    }
}

/// Lists the visible (not dot) entries of `dir`, sorted; a missing directory is empty.
fn visible_entries(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StateError::io("list", dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(StateError::io("list", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Reads and parses a JSON record.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let data = fs::read(path).map_err(StateError::io("read", path))?;
    serde_json::from_slice(&data).map_err(|source| StateError::Corrupt {
        path: path.to_path_buf(),
        source,
    })
}

/// Serializes a record and writes it atomically.
fn write_json<T: serde::Serialize>(path: &Path, value: &T, durability: Durability) -> Result<()> {
    let data = serde_json::to_vec_pretty(value).map_err(|source| StateError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    atomic::write(path, &data, durability)
}
