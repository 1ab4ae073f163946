//! Container records: `containers/<id>/config.json` (durable, written at create and when the
//! configuration changes) and `containers/<id>/state.json` (the status, fast path).
//!
//! A record is created in a hidden temporary directory and renamed into place, so a
//! `containers/<id>` directory always has its config.json unless something outside berth
//! damaged it or a removal was interrupted; both are reported and repaired.

use super::atomic::{self, Durability};
use super::error::{Result, StateError};
use super::record::{ContainerRecord, ContainerStatus};
use super::{Listing, Problem, StateRoot, names, read_json, visible_entries, write_json};
use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

const CONFIG: &str = "config.json";
const STATUS: &str = "state.json";

impl StateRoot {
    /// Records a new container and reserves its name, durably. Fails with
    /// [`StateError::NameInUse`] when another container holds the name and with
    /// [`StateError::ContainerExists`] when the id is recorded already; on failure nothing
    /// is left behind.
    pub fn create_container_record(&self, record: &ContainerRecord) -> Result<()> {
        names::validate("container id", &record.id)?;
        names::validate("container name", &record.name)?;
        let _changing = self.state_lock(false)?;
        let dir = self.container_dir(&record.id);
        if dir.exists() {
            return Err(StateError::ContainerExists {
                id: record.id.clone(),
            });
        }
        let reserved = names::reserve(&self.names_dir(), &record.name, &record.id)?;
        let containers = self.containers_dir();
        let tmp = containers.join(atomic::temp_name(&record.id));
        let created = (|| {
            fs::create_dir(&tmp).map_err(StateError::io("create directory", &tmp))?;
            write_json(&tmp.join(CONFIG), record, Durability::Durable)?;
            // rename(2) would replace an empty directory of that id: only ours may exist.
            if dir.exists() {
                return Err(StateError::ContainerExists {
                    id: record.id.clone(),
                });
            }
            // A racer with the same id that renamed first makes ours fail on its
            // non-empty directory.
            fs::rename(&tmp, &dir).map_err(|e| match e.kind() {
                ErrorKind::DirectoryNotEmpty | ErrorKind::AlreadyExists => {
                    StateError::ContainerExists {
                        id: record.id.clone(),
                    }
                }
                _ => StateError::io("rename into place", &dir)(e),
            })?;
            atomic::sync_dir(&containers)
        })();
        if let Err(e) = created {
            let _ = atomic::remove_dir_all(&tmp);
            // A reservation we did not make is not ours to undo; nor is one a racer with
            // this very record (same id and name) recorded under before us.
            let racer_owns = read_json::<ContainerRecord>(&dir.join(CONFIG))
                .is_ok_and(|r| r.name == record.name);
            if reserved && !racer_owns {
                let _ = names::release(&self.names_dir(), &record.name, &record.id);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Records a container's new status (a start, exit, restart, pause): atomic, without
    /// fsync (see the module docs of [`super`] for why).
    pub fn update_container_state(&self, id: &str, status: &ContainerStatus) -> Result<()> {
        let dir = self.existing_container_dir(id)?;
        let _changing = self.state_lock(false)?;
        write_json(&dir.join(STATUS), status, Durability::Fast)
    }

    /// Replaces a recorded container's configuration (its endpoints after a network
    /// connect, ...), durably. Its id and name cannot change.
    pub fn save_container_record(&self, record: &ContainerRecord) -> Result<()> {
        let dir = self.existing_container_dir(&record.id)?;
        let _changing = self.state_lock(false)?;
        let current: ContainerRecord = read_json(&dir.join(CONFIG))?;
        if current.name != record.name {
            return Err(StateError::InvalidName {
                what: "container name",
                name: record.name.clone(),
                reason: "a recorded container keeps its name",
            });
        }
        // The status first: if we crash in between, the newer status goes with the older
        // configuration, which is what was true a moment ago.
        write_json(&dir.join(STATUS), &record.status, Durability::Fast)?;
        write_json(&dir.join(CONFIG), record, Durability::Durable)
    }

    /// The record of container `id`, with its latest status.
    pub fn container(&self, id: &str) -> Result<ContainerRecord> {
        let dir = self.existing_container_dir(id)?;
        let mut record: ContainerRecord = read_json(&dir.join(CONFIG))?;
        let status_path = dir.join(STATUS);
        if status_path.exists() {
            match read_json::<ContainerStatus>(&status_path) {
                Ok(status) => record.status = status,
                // A torn fast write: the status in config.json is older but sound, and the
                // next transition rewrites state.json.
                Err(e) => tracing::warn!("{e}; using the status recorded at creation"),
            }
        }
        Ok(record)
    }

    /// Forgets container `id` and releases its name, durably.
    pub fn remove_container_record(&self, id: &str) -> Result<()> {
        let dir = self.existing_container_dir(id)?;
        let _changing = self.state_lock(false)?;
        // The name comes from the record; an unreadable one leaves its name reservation to
        // `repair`, which finds it pointing at nothing.
        let name = read_json::<ContainerRecord>(&dir.join(CONFIG))
            .ok()
            .map(|r| r.name);
        // config.json goes first and durably: from then on the container is gone for every
        // reader, whatever is left of its directory.
        if atomic::remove_file(&dir.join(CONFIG))? {
            atomic::sync_dir(&dir)?;
        }
        atomic::remove_dir_all(&dir)?;
        atomic::sync_dir(&self.containers_dir())?;
        if let Some(name) = name {
            names::release(&self.names_dir(), &name, id)?;
        }
        Ok(())
    }

    /// Every recorded container, by name; unreadable records are reported, not returned.
    pub fn containers(&self) -> Result<Listing<ContainerRecord>> {
        let mut listing = Listing::default();
        for id in visible_entries(&self.containers_dir())? {
            match self.container(&id) {
                Ok(r) => listing.records.push(r),
                // Removed while we listed: not a problem.
                Err(_) if !self.container_dir(&id).exists() => {}
                Err(e) => {
                    tracing::warn!("skipping container {id}: {e}");
                    listing.problems.push(Problem {
                        path: self.container_dir(&id),
                        reason: e.to_string(),
                    });
                }
            }
        }
        listing.records.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listing)
    }

    /// The recorded containers of `project` (by their project label), by name.
    pub fn containers_of(&self, project: &str) -> Result<Listing<ContainerRecord>> {
        let mut listing = self.containers()?;
        listing.records.retain(|r| r.project() == Some(project));
        Ok(listing)
    }

    fn existing_container_dir(&self, id: &str) -> Result<PathBuf> {
        names::validate("container id", id)?;
        let dir = self.container_dir(id);
        if !dir.is_dir() {
            return Err(StateError::NoSuchContainer { id: id.to_string() });
        }
        Ok(dir)
    }
}
