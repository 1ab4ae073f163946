//! The volume store: one directory per volume under a root the caller chooses
//! (`<root>/<name>/_data` for the data, `<root>/<name>/volume.json` for what the volume is).
//!
//! Writes are crash-safe: a volume is assembled in a hidden staging directory and renamed into
//! place, so a crash leaves either no volume or a whole one; metadata is replaced by an fsynced
//! temporary file renamed over it. Removal renames the volume out of sight before deleting it,
//! and refuses a volume in use or one whose `_data` is still a mount point (deleting through a
//! mount would destroy the mounted data: a bind-mounted host directory, an NFS export).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::copy_up::{self, CopyOutcome};
use crate::error::{Result, VolumeError, io};
use crate::local_driver::{self, LocalOptions};

/// The metadata file of a volume.
pub const METADATA_FILE: &str = "volume.json";
/// The data directory of a volume, what containers mount.
pub const DATA_DIR: &str = "_data";
/// The only driver berth has, Docker's default.
pub const LOCAL_DRIVER: &str = "local";
/// The label Docker puts on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// Staging and trash entries start with a dot, which no valid volume name does.
const STAGING_PREFIX: &str = ".new-";
const TRASH_PREFIX: &str = ".trash-";

/// What to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeSpec {
    /// The name (`project_key` for a compose volume, or its `name:`).
    pub name: String,
    /// The driver; empty means `local`.
    pub driver: String,
    /// `driver_opts`.
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// A volume as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Its name.
    pub name: String,
    /// Its driver (`local`).
    pub driver: String,
    /// Its driver options.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Its labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// When it was created, in seconds since the epoch.
    pub created_at: u64,
    /// Whether it is anonymous (made for one container, pruned by default).
    #[serde(default)]
    pub anonymous: bool,
    /// Whether its first user has been set up (copy-up done or declined): copy-up happens once.
    #[serde(default)]
    pub populated: bool,
    /// Where its data is on the host (`<root>/<name>/_data`); not stored, derived.
    #[serde(skip)]
    pub mountpoint: PathBuf,
}

impl Volume {
    /// The creation time as Docker prints it in `inspect` (`2024-01-01T00:00:00Z`).
    pub fn created_rfc3339(&self) -> String {
        rfc3339(self.created_at)
    }

    /// The local driver options of this volume, if it has any.
    pub fn local_options(&self) -> Result<Option<LocalOptions>> {
        LocalOptions::parse(&self.options)
    }
}

/// Volumes under one root directory.
#[derive(Debug, Clone)]
pub struct VolumeStore {
    root: PathBuf,
}

impl VolumeStore {
    /// Opens (creating when needed) the store at `root`, and clears what an interrupted create
    /// or remove left behind.
    pub fn open(root: impl Into<PathBuf>) -> Result<VolumeStore> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(io("creating", &root))?;
        let store = VolumeStore { root };
        store.clear_leftovers();
        Ok(store)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of volume `name`.
    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Creates a named volume, or returns the existing one of that name when it agrees
    /// (same driver; same options when options are given), as `docker volume create` does.
    pub fn create(&self, spec: &VolumeSpec) -> Result<Volume> {
        validate_name(&spec.name)?;
        let driver = if spec.driver.is_empty() {
            LOCAL_DRIVER
        } else {
            spec.driver.as_str()
        };
        if driver != LOCAL_DRIVER {
            return Err(VolumeError::UnsupportedDriver(driver.to_owned()));
        }
        // Bad options fail now, not at the first container start.
        LocalOptions::parse(&spec.options)?;
        if let Some(existing) = self.get(&spec.name)? {
            if existing.driver != driver {
                return Err(VolumeError::Conflict {
                    name: spec.name.clone(),
                    what: "driver",
                });
            }
            if !spec.options.is_empty() && existing.options != spec.options {
                return Err(VolumeError::Conflict {
                    name: spec.name.clone(),
                    what: "options",
                });
            }
            return Ok(existing);
        }
        let volume = Volume {
            name: spec.name.clone(),
            driver: driver.to_owned(),
            options: spec.options.clone(),
            labels: spec.labels.clone(),
            created_at: now(),
            anonymous: false,
            populated: false,
            mountpoint: PathBuf::new(),
        };
        self.install(volume)
    }

    /// Creates an anonymous volume (a random 64-hex name, Docker's anonymous label), for a
    /// `- /path` entry or an image's `VOLUME`.
    pub fn create_anonymous(&self, labels: &BTreeMap<String, String>) -> Result<Volume> {
        let mut labels = labels.clone();
        labels.insert(ANONYMOUS_LABEL.to_owned(), String::new());
        let volume = Volume {
            name: random_hex()?,
            driver: LOCAL_DRIVER.to_owned(),
            options: BTreeMap::new(),
            labels,
            created_at: now(),
            anonymous: true,
            populated: false,
            mountpoint: PathBuf::new(),
        };
        self.install(volume)
    }

    /// Builds the volume in a staging directory and renames it into place.
    fn install(&self, mut volume: Volume) -> Result<Volume> {
        let staging = self.root.join(format!(
            "{STAGING_PREFIX}{}-{}",
            volume.name,
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&staging);
        let data = staging.join(DATA_DIR);
        std::fs::create_dir_all(&data).map_err(io("creating", &data))?;
        write_metadata(&staging, &volume)?;
        let dir = self.dir(&volume.name);
        if let Err(e) = std::fs::rename(&staging, &dir) {
            let _ = std::fs::remove_dir_all(&staging);
            // Another process created it meanwhile: theirs stands.
            if dir.join(METADATA_FILE).exists() {
                return self.inspect(&volume.name);
            }
            return Err(io("creating", &dir)(e));
        }
        sync_dir(&self.root);
        volume.mountpoint = dir.join(DATA_DIR);
        Ok(volume)
    }

    /// The volume `name`, or [`VolumeError::NotFound`].
    pub fn inspect(&self, name: &str) -> Result<Volume> {
        self.get(name)?
            .ok_or_else(|| VolumeError::NotFound(name.to_owned()))
    }

    /// The volume `name`, if it exists.
    pub fn get(&self, name: &str) -> Result<Option<Volume>> {
        if validate_name(name).is_err() {
            return Ok(None);
        }
        let dir = self.dir(name);
        let path = dir.join(METADATA_FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("reading", &path)(e)),
        };
        let mut volume: Volume = serde_json::from_slice(&data)
            .map_err(|source| VolumeError::Metadata { path, source })?;
        volume.mountpoint = dir.join(DATA_DIR);
        Ok(Some(volume))
    }

    /// Every volume, sorted by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(io("listing", &self.root))? {
            let entry = entry.map_err(io("listing", &self.root))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if let Some(v) = self.get(&name)? {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes volume `name` and its data, unless a container uses it (`in_use` holds the
    /// names of volumes in use) or its `_data` is still mounted.
    pub fn remove(&self, name: &str, in_use: &BTreeSet<String>) -> Result<()> {
        let volume = self.inspect(name)?;
        let _lock = self.lock(name)?;
        if in_use.contains(name) {
            return Err(VolumeError::InUse(name.to_owned()));
        }
        if local_driver::is_mount_point(&volume.mountpoint)? {
            // A local-driver mount nobody uses any more (a crash between use and release):
            // undo it, then check again, so that deleting never reaches the mounted data.
            if volume.local_options()?.is_some() {
                local_driver::unmount(&volume.mountpoint)?;
            }
        }
        let dir = self.dir(name);
        // Nothing mounted at `_data` or anywhere below: deleting must never reach mounted data.
        if local_driver::has_mounts_under(&dir)? {
            return Err(VolumeError::StillMounted(name.to_owned()));
        }
        let trash = self
            .root
            .join(format!("{TRASH_PREFIX}{name}-{}", random_hex()?));
        std::fs::rename(&dir, &trash).map_err(io("removing", &dir))?;
        sync_dir(&self.root);
        // A concurrent `open` may be clearing the same trash: only what is left is an error.
        match std::fs::remove_dir_all(&trash) {
            Err(e) if trash.exists() => Err(io("removing", &trash)(e)),
            _ => Ok(()),
        }
    }

    /// Removes the unused anonymous volumes, or every unused volume when `all`; returns the
    /// names removed, as `docker volume prune [-a]`. A volume with something mounted in it is
    /// kept, as if in use.
    pub fn prune(&self, in_use: &BTreeSet<String>, all: bool) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for v in self.list()? {
            if in_use.contains(&v.name) || !(all || v.anonymous) {
                continue;
            }
            match self.remove(&v.name, in_use) {
                Ok(()) => removed.push(v.name),
                // Something mounted in it is a use the caller did not know of: keep it.
                Err(VolumeError::StillMounted(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// Makes the volume ready for a container and returns the host path to bind-mount: with
    /// local driver options, `_data` is mounted (once: a mounted `_data` is left as is).
    pub fn mount(&self, name: &str) -> Result<PathBuf> {
        let _lock = self.lock(name)?;
        let volume = self.inspect(name)?;
        if let Some(opts) = volume.local_options()? {
            local_driver::mount(&opts, &volume.mountpoint)?;
        }
        Ok(volume.mountpoint)
    }

    /// Undoes [`VolumeStore::mount`] when the last container using the volume is gone; the
    /// caller knows when that is. Volumes without driver options need nothing.
    pub fn release(&self, name: &str) -> Result<()> {
        let _lock = self.lock(name)?;
        let volume = self.inspect(name)?;
        if volume.local_options()?.is_some() {
            local_driver::unmount(&volume.mountpoint)?;
        }
        Ok(())
    }

    /// Sets the volume up for its first user: when it was never populated, copies the image's
    /// content at `target` (inside `rootfs`) into it if it is empty, as Docker does, then
    /// records that this happened so it never happens again. `image` is `None` for a
    /// container with `nocopy` or without an image path there.
    ///
    /// A volume with local driver options must be [mounted](VolumeStore::mount) first, so that
    /// the copy lands in the mounted file system.
    pub fn populate(&self, name: &str, image: Option<(&Path, &Path)>) -> Result<CopyOutcome> {
        let _lock = self.lock(name)?;
        let mut volume = self.inspect(name)?;
        if volume.populated {
            return Ok(CopyOutcome::AlreadyPopulated);
        }
        let outcome = match image {
            Some((rootfs, target)) => copy_up::copy_up(rootfs, target, &volume.mountpoint)?,
            None => CopyOutcome::SourceMissing,
        };
        volume.populated = true;
        write_metadata(&self.dir(name), &volume)?;
        Ok(outcome)
    }

    /// An exclusive lock on volume `name` (its directory), held while it is mounted, released
    /// or populated, so that two containers starting at once mount it once and copy once.
    fn lock(&self, name: &str) -> Result<std::fs::File> {
        validate_name(name).map_err(|_| VolumeError::NotFound(name.to_owned()))?;
        let dir = self.dir(name);
        let file = std::fs::File::open(&dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => VolumeError::NotFound(name.to_owned()),
            _ => io("opening", &dir)(e),
        })?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io("locking", &dir)(e.into()))?;
        Ok(file)
    }

    /// Replaces the labels of a volume.
    pub fn set_labels(&self, name: &str, labels: BTreeMap<String, String>) -> Result<Volume> {
        let mut volume = self.inspect(name)?;
        volume.labels = labels;
        write_metadata(&self.dir(name), &volume)?;
        Ok(volume)
    }

    /// The volume whose data `path` is (`<root>/<name>/_data` or below): how a caller tells
    /// the volumes a container's mounts keep in use.
    pub fn volume_of_path(&self, path: &Path) -> Option<String> {
        let rest = path.strip_prefix(&self.root).ok()?;
        let mut parts = rest.components();
        let name = parts.next()?.as_os_str().to_str()?;
        let data = parts.next()?.as_os_str();
        (data == DATA_DIR && validate_name(name).is_ok()).then(|| name.to_owned())
    }

    /// Removes staging and trash entries of interrupted operations. Best effort: a leftover
    /// that cannot be removed now is tried again next time, and never hides a volume.
    fn clear_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let stale = if let Some(rest) = name.strip_prefix(STAGING_PREFIX) {
                // Only staging of processes that are gone: a live one is still creating.
                rest.rsplit_once('-')
                    .and_then(|(_, pid)| pid.parse::<u32>().ok())
                    .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
            } else {
                name.starts_with(TRASH_PREFIX)
            };
            // Never delete through a mount point.
            if stale && !local_driver::has_mounts_under(&entry.path()).unwrap_or(true) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// The name of a compose volume: its `name:` when given, else `project_key`, as Docker
/// Compose names them.
pub fn compose_volume_name(project: &str, key: &str, name: Option<&str>) -> String {
    match name {
        Some(n) => n.to_owned(),
        None => format!("{project}_{key}"),
    }
}

/// The labels Docker Compose puts on the volumes it creates.
pub fn compose_labels(project: &str, key: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PROJECT_LABEL.to_owned(), project.to_owned()),
        (VOLUME_LABEL.to_owned(), key.to_owned()),
    ])
}

/// The label naming the compose project of a volume.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label naming the compose key of a volume.
pub const VOLUME_LABEL: &str = "com.docker.compose.volume";

impl VolumeStore {
    /// An `external: true` volume: it must exist, berth never creates it.
    pub fn external(&self, name: &str) -> Result<Volume> {
        self.inspect(name)
    }

    /// Docker Compose's warning when project `project` is about to use an existing volume it
    /// did not create (so its data is someone else's): `None` when the volume is the
    /// project's.
    pub fn foreign_warning(volume: &Volume, project: &str) -> Option<String> {
        match volume.labels.get(PROJECT_LABEL) {
            Some(p) if p == project => None,
            _ => Some(format!(
                "volume \"{}\" already exists but was not created by Docker Compose. Use `external: true` to use an existing volume",
                volume.name
            )),
        }
    }
}

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(VolumeError::InvalidName(name.to_owned()))
    }
}

/// Writes the metadata of `volume` into `dir` atomically and durably: it is user data's only
/// description.
fn write_metadata(dir: &Path, volume: &Volume) -> Result<()> {
    let path = dir.join(METADATA_FILE);
    let tmp = dir.join(format!("{METADATA_FILE}.tmp{}", std::process::id()));
    let data = serde_json::to_vec_pretty(volume).map_err(|source| VolumeError::Metadata {
        path: path.clone(),
        source,
    })?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("writing", &path)(e)
    })?;
    sync_dir(dir);
    Ok(())
}

/// Makes a rename in `dir` durable; a failure only weakens durability, so it is ignored.
fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh random volume name: 64 hex digits, the form of Docker's generated names.
pub fn random_name() -> Result<String> {
    random_hex()
}

/// 64 random hex digits, the form of Docker's anonymous volume names.
fn random_hex() -> Result<String> {
    let mut bytes = [0u8; 32];
    let path = Path::new("/dev/urandom");
    std::io::Read::read_exact(
        &mut std::fs::File::open(path).map_err(io("opening", path))?,
        &mut bytes,
    )
    .map_err(io("reading", path))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `2024-01-01T00:00:00Z` for seconds since the epoch.
pub fn rfc3339(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // The civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_docker() {
        assert!(validate_name("proj_db-data.1").is_ok());
        for bad in ["", "a", "_x", ".x", "a/b", "..", "x y", "é1"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn compose_names_and_owners() {
        assert_eq!(compose_volume_name("proj", "db", None), "proj_db");
        assert_eq!(compose_volume_name("proj", "db", Some("shared")), "shared");
        let mut v = Volume {
            name: "proj_db".into(),
            driver: LOCAL_DRIVER.into(),
            options: BTreeMap::new(),
            labels: compose_labels("proj", "db"),
            created_at: 0,
            anonymous: false,
            populated: false,
            mountpoint: PathBuf::new(),
        };
        assert_eq!(VolumeStore::foreign_warning(&v, "proj"), None);
        v.labels.clear();
        assert!(
            VolumeStore::foreign_warning(&v, "proj")
                .unwrap()
                .contains("external: true")
        );
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
    }
}
