//! Repair: removes what a crash (or a hand edit) left in the state root. Runs under the
//! exclusive state lock, so a change in progress in another berth process (which holds it
//! shared) is never taken for a leftover.

use super::atomic;
use super::error::{Result, StateError};
use super::record::{ContainerRecord, ContainerStatus, ProjectRecord};
use super::{Problem, StateRoot, names, read_json};
use std::fs;
use std::path::Path;

/// What [`StateRoot::repair`] removed, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Each removed file or directory with the reason.
    pub removed: Vec<Problem>,
}

impl RepairReport {
    fn remove(&mut self, path: &Path, reason: impl Into<String>) -> Result<()> {
        if path.is_dir() {
            atomic::remove_dir_all(path)?;
        } else {
            atomic::remove_file(path)?;
        }
        if let Some(parent) = path.parent() {
            atomic::sync_dir(parent)?;
        }
        let reason = reason.into();
        tracing::info!("repair: removed {}: {reason}", path.display());
        self.removed.push(Problem {
            path: path.to_path_buf(),
            reason,
        });
        Ok(())
    }
}

/// All entries of `dir` (hidden ones included), sorted; a missing directory is empty.
fn all_entries(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StateError::io("list", dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(StateError::io("list", dir))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Removes the temporary files of interrupted writes in `dir`.
fn remove_temps(dir: &Path, report: &mut RepairReport) -> Result<()> {
    for name in all_entries(dir)? {
        if atomic::is_temp(&name) {
            report.remove(&dir.join(name), "temporary file of an interrupted write")?;
        }
    }
    Ok(())
}

impl StateRoot {
    /// Removes leftovers: temporary files and directories of interrupted writes, container
    /// and project records that cannot be read, container statuses that cannot be read (the
    /// one in config.json takes over), and name reservations whose container is not
    /// recorded. Waits for changes in progress in other berth processes first.
    pub fn repair(&self) -> Result<RepairReport> {
        let _exclusive = self.state_lock(true)?;
        let mut report = RepairReport::default();

        let containers = self.containers_dir();
        remove_temps(&containers, &mut report)?;
        for id in all_entries(&containers)? {
            if id.starts_with('.') {
                continue;
            }
            let dir = containers.join(&id);
            if !dir.is_dir() {
                report.remove(&dir, "not a container directory")?;
                continue;
            }
            remove_temps(&dir, &mut report)?;
            if let Err(e) = read_json::<ContainerRecord>(&dir.join("config.json")) {
                report.remove(&dir, format!("unreadable container record: {e}"))?;
                continue;
            }
            let status = dir.join("state.json");
            if status.exists()
                && let Err(e) = read_json::<ContainerStatus>(&status)
            {
                report.remove(&status, format!("unreadable container status: {e}"))?;
            }
        }

        let names_dir = self.names_dir();
        remove_temps(&names_dir, &mut report)?;
        for name in all_entries(&names_dir)? {
            if name.starts_with('.') {
                continue;
            }
            let path = names_dir.join(&name);
            let holder = match names::holder(&names_dir, &name) {
                Ok(h) => h.unwrap_or_default(),
                Err(e) => {
                    report.remove(&path, format!("unreadable name reservation: {e}"))?;
                    continue;
                }
            };
            let owned = !holder.is_empty()
                && names::validate("container id", &holder).is_ok()
                && read_json::<ContainerRecord>(&containers.join(&holder).join("config.json"))
                    .is_ok_and(|r| r.name == name);
            if !owned {
                report.remove(
                    &path,
                    format!("name reserved for container {holder:?}, which is not recorded"),
                )?;
            }
        }

        let projects = self.projects_dir();
        remove_temps(&projects, &mut report)?;
        for name in all_entries(&projects)? {
            if name.starts_with('.') {
                continue;
            }
            let dir = projects.join(&name);
            if !dir.is_dir() {
                report.remove(&dir, "not a project directory")?;
                continue;
            }
            remove_temps(&dir, &mut report)?;
            if let Err(e) = read_json::<ProjectRecord>(&dir.join("project.json")) {
                report.remove(&dir, format!("unreadable project record: {e}"))?;
            }
        }
        Ok(report)
    }
}
