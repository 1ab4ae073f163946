//! Project records: `projects/<name>/project.json`, durable (they name what the project
//! owns, which `down` without a compose file must find).

use super::atomic::{self, Durability};
use super::error::{Result, StateError};
use super::record::ProjectRecord;
use super::{Listing, Problem, StateRoot, names, read_json, visible_entries, write_json};
use std::fs;

const RECORD: &str = "project.json";

impl StateRoot {
    /// The record of project `name`, or `None` when berth has none.
    pub fn project(&self, name: &str) -> Result<Option<ProjectRecord>> {
        names::validate("project name", name)?;
        let path = self.project_dir(name).join(RECORD);
        if !path.exists() {
            return Ok(None);
        }
        read_json(&path).map(Some)
    }

    /// Writes the record of a project, durably (creating or replacing it).
    pub fn save_project(&self, record: &ProjectRecord) -> Result<()> {
        names::validate("project name", &record.name)?;
        let _changing = self.state_lock(false)?;
        let dir = self.project_dir(&record.name);
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(StateError::io("create directory", &dir))?;
            atomic::sync_dir(&self.projects_dir())?;
        }
        write_json(&dir.join(RECORD), record, Durability::Durable)
    }

    /// Forgets project `name`, durably; a project without a record is no error.
    pub fn remove_project(&self, name: &str) -> Result<()> {
        names::validate("project name", name)?;
        let _changing = self.state_lock(false)?;
        let dir = self.project_dir(name);
        if atomic::remove_file(&dir.join(RECORD))? {
            atomic::sync_dir(&dir)?;
        }
        atomic::remove_dir_all(&dir)?;
        atomic::sync_dir(&self.projects_dir())
    }

    /// Every recorded project, by name (for `berth ls`); unreadable records are reported.
    pub fn projects(&self) -> Result<Listing<ProjectRecord>> {
        let mut listing = Listing::default();
        for name in visible_entries(&self.projects_dir())? {
            let path = self.project_dir(&name).join(RECORD);
            match read_json::<ProjectRecord>(&path) {
                Ok(r) => listing.records.push(r),
                Err(e) => {
                    tracing::warn!("skipping project {name}: {e}");
                    listing.problems.push(Problem {
                        path: self.project_dir(&name),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(listing)
    }
}
