//! The persisted state of a container: `<state root>/<id>/state.json`, beside the spec it was
//! made from (`config.json`) and, until `start`, the exec FIFO (`exec.fifo`).
//!
//! The state is written atomically (temporary file, rename), without fsync: it describes
//! processes, which a machine crash ends anyway, and fsync costs ~20 ms on these machines' /run.

use super::cgroups::Cgroup;
use std::io;
use std::path::{Path, PathBuf};

/// What the runtime remembers of a container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct State {
    /// The container id.
    pub id: String,
    /// The init's pid (in the runtime's pid namespace).
    pub pid: i32,
    /// The init's start time (clock ticks since boot), to tell it from a later process that
    /// reuses the pid.
    pub pid_start: u64,
    /// When the container was created (seconds since the epoch).
    pub created: u64,
    /// The rootfs on the host.
    pub rootfs: PathBuf,
    /// Its cgroup.
    pub cgroup: Cgroup,
    /// Whether pid 1 is berth's small init.
    pub mini_init: bool,
}

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Status {
    /// Set up, waiting for `start`.
    Created,
    /// Running its process.
    Running,
    /// Frozen.
    Paused,
    /// Its init has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// The files of a container's state directory.
pub const STATE_FILE: &str = "state.json";
/// The spec the container was made from.
pub const CONFIG_FILE: &str = "config.json";
/// The FIFO that `start` opens.
pub const FIFO_FILE: &str = "exec.fifo";

/// Writes `data` to `path` atomically (a temporary file renamed over it).
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

impl State {
    /// Saves the state in `dir`.
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        let data = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        write_atomic(&dir.join(STATE_FILE), &data)
    }

    /// Loads the state from `dir`.
    pub fn load(dir: &Path) -> io::Result<State> {
        let data = std::fs::read(dir.join(STATE_FILE))?;
        serde_json::from_slice(&data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Whether the init is still the process it was (alive, same start time).
    pub fn init_alive(&self) -> bool {
        process_start_time(self.pid) == Some(self.pid_start) && !is_zombie(self.pid)
    }

    /// The current status, observed from the system.
    pub fn status(&self, dir: &Path) -> Status {
        if !self.init_alive() {
            Status::Stopped
        } else if dir.join(FIFO_FILE).exists() {
            Status::Created
        } else if self.cgroup.is_frozen() {
            Status::Paused
        } else {
            Status::Running
        }
    }
}

/// Fields of /proc/PID/stat after the command (which may contain spaces and parentheses).
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// A process's start time in clock ticks since boot (field 22 of /proc/PID/stat).
pub fn process_start_time(pid: i32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// Whether a process has exited but not been reaped.
pub fn is_zombie(pid: i32) -> bool {
    stat_fields(pid).is_some_and(|f| f.first().map(String::as_str) == Some("Z"))
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::cgroups::Hierarchy;

    #[test]
    fn state_round_trips_and_reports_a_dead_init_as_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let h = Hierarchy::V2 {
            mountpoint: dir.path().join("cg"),
            own: "/".into(),
        };
        let s = State {
            id: "c1".into(),
            pid: i32::MAX,
            pid_start: 1,
            created: now(),
            rootfs: "/r".into(),
            cgroup: Cgroup::new(&h, Path::new("/c1")).unwrap(),
            mini_init: false,
        };
        s.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), s);
        assert_eq!(s.status(dir.path()), Status::Stopped);
    }

    #[test]
    fn our_own_start_time_is_readable() {
        let me = std::process::id() as i32;
        assert!(process_start_time(me).is_some());
        assert!(!is_zombie(me));
    }
}
