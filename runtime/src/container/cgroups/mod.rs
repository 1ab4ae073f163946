//! Control groups: limits, accounting, freezing and OOM reporting for a container.
//!
//! Both layouts are supported, and which one the host uses is detected from
//! /proc/self/mountinfo: the unified v2 hierarchy, or v1 controllers each on their own mount
//! (with or without a v2 mount beside them: "hybrid", as on this workplace's machines). Every
//! limit of the spec is either written or refused with an error that says why (a controller
//! that is not mounted, a file the kernel does not offer); nothing is silently skipped.
//!
//! Everything here works on paths under a hierarchy root, so tests run it on a directory tree
//! that imitates cgroupfs.

pub mod devices;
mod hierarchy;
pub mod stats;
mod v1;
mod v2;

use super::rootfs::CgroupMount;
use oci_spec::runtime::LinuxResources;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

pub use hierarchy::{Hierarchy, V1Mount};
pub use stats::CgroupStats;

/// Why a cgroup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// No usable cgroup hierarchy.
    #[error("no cgroup hierarchy found in /proc/self/mountinfo")]
    NoHierarchy,
    /// A limit needs a controller that the host does not offer.
    #[error("{what} needs the {controller} cgroup controller, which is not {where_}")]
    MissingController {
        /// The limit (`memory limit`).
        what: String,
        /// The controller (`memory`).
        controller: &'static str,
        /// `mounted` (v1) or `available in cgroup.controllers` (v2).
        where_: &'static str,
    },
    /// A limit whose interface file does not exist.
    #[error("{what} cannot be applied: {} does not exist ({why})", path.display())]
    MissingFile {
        /// The limit.
        what: String,
        /// The file.
        path: PathBuf,
        /// The probable cause.
        why: &'static str,
    },
    /// A limit the kernel refused.
    #[error("{what}: writing {value:?} to {} failed: {source}", path.display())]
    Write {
        /// The limit.
        what: String,
        /// The file.
        path: PathBuf,
        /// The value.
        value: String,
        /// The kernel's answer.
        source: std::io::Error,
    },
    /// A limit berth does not support on this layout.
    #[error("{0}")]
    Unsupported(String),
    /// Reading, creating or removing a cgroup failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// The step.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A cgroups path leaving the hierarchy.
    #[error("invalid cgroupsPath {0:?}: it must not contain '..'")]
    InvalidPath(String),
    /// Freezing did not complete.
    #[error("the cgroup did not reach the {0} state in time")]
    FreezeTimeout(&'static str),
}

/// The cgroup of one container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cgroup {
    hierarchy: Hierarchy,
    /// The spec's `cgroupsPath`, cleaned: absolute paths are from each hierarchy's root,
    /// relative ones from the runtime's own cgroup in that hierarchy (as runc does).
    path: PathBuf,
}

/// Checks and cleans a spec `cgroupsPath`.
fn clean_path(spec_path: &Path) -> Result<PathBuf, CgroupError> {
    if spec_path.components().any(|c| c == Component::ParentDir) {
        return Err(CgroupError::InvalidPath(spec_path.display().to_string()));
    }
    let rel: PathBuf = spec_path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    if rel.as_os_str().is_empty() {
        return Err(CgroupError::InvalidPath(spec_path.display().to_string()));
    }
    Ok(if spec_path.is_absolute() {
        Path::new("/").join(rel)
    } else {
        rel
    })
}

fn strip_root(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

/// Creates `base/rel` one level at a time, calling `each(parent, dir)` once `dir` exists.
///
/// The shared parents (`berth/`) are removed by whoever removes their last container, so one
/// can vanish between its creation and its child's, or while `each` works in it: then the
/// walk starts again from `base`.
fn create_levels(
    base: &Path,
    rel: &Path,
    mut each: impl FnMut(&Path, &Path) -> Result<(), CgroupError>,
) -> Result<(), CgroupError> {
    let mut attempts = 0;
    'walk: loop {
        let mut dir = base.to_path_buf();
        for part in strip_root(rel).components() {
            let parent = dir.clone();
            dir.push(part);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 100 => {
                    attempts += 1;
                    continue 'walk;
                }
                Err(source) => {
                    return Err(CgroupError::Io {
                        what: "create",
                        path: dir,
                        source,
                    });
                }
            }
            match each(&parent, &dir) {
                Ok(()) => {}
                // Removed while `each` read or wrote its files (ENOENT or ENODEV).
                Err(_) if !dir.exists() && attempts < 100 => {
                    attempts += 1;
                    continue 'walk;
                }
                Err(e) => return Err(e),
            }
        }
        return Ok(());
    }
}

/// Writes `value` to an existing interface file, with errors that say which limit failed.
pub(crate) fn write_file(
    dir: &Path,
    file: &str,
    value: &str,
    what: &str,
) -> Result<(), CgroupError> {
    use std::io::Write;
    let path = dir.join(file);
    let mut f = match std::fs::OpenOptions::new().write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CgroupError::MissingFile {
                what: what.to_string(),
                path,
                why: "the kernel does not offer this interface",
            });
        }
        Err(source) => {
            return Err(CgroupError::Write {
                what: what.to_string(),
                path,
                value: value.into(),
                source,
            });
        }
    };
    f.write_all(value.as_bytes())
        .map_err(|source| CgroupError::Write {
            what: what.to_string(),
            path,
            value: value.into(),
            source,
        })
}

/// Reads an interface file, trimmed.
pub(crate) fn read_file(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|source| CgroupError::Io {
            what: "read",
            path,
            source,
        })
}

impl Cgroup {
    /// The cgroup at `spec_path` (the spec's `cgroupsPath`) in `hierarchy`, without touching
    /// the system.
    pub fn new(hierarchy: &Hierarchy, spec_path: &Path) -> Result<Cgroup, CgroupError> {
        Ok(Cgroup {
            hierarchy: hierarchy.clone(),
            path: clean_path(spec_path)?,
        })
    }

    /// The cgroup's path as given (absolute, or relative to the runtime's own cgroup).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the path starts in a hierarchy mounted at `mountpoint`, in which the runtime's own
    /// cgroup is `own`: the mount point for absolute paths, the own cgroup for relative ones.
    fn base(&self, mountpoint: &Path, own: &Path) -> PathBuf {
        if self.path.is_absolute() {
            mountpoint.to_path_buf()
        } else {
            mountpoint.join(strip_root(own))
        }
    }

    /// The cgroup's directory in a hierarchy.
    fn dir_in(&self, mountpoint: &Path, own: &Path) -> PathBuf {
        self.base(mountpoint, own).join(strip_root(&self.path))
    }

    /// (base, leaf) per hierarchy: the directories between them are the container's.
    pub(crate) fn bases_and_dirs(&self) -> Vec<(PathBuf, PathBuf)> {
        match &self.hierarchy {
            Hierarchy::V1 { mounts } => mounts
                .iter()
                .map(|m| {
                    (
                        self.base(&m.mountpoint, &m.own),
                        self.dir_in(&m.mountpoint, &m.own),
                    )
                })
                .collect(),
            Hierarchy::V2 { mountpoint, own } => {
                vec![(self.base(mountpoint, own), self.dir_in(mountpoint, own))]
            }
        }
    }

    /// The hierarchy.
    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// The directories of this cgroup, one per hierarchy (v1) or the one (v2).
    pub fn dirs(&self) -> Vec<PathBuf> {
        match &self.hierarchy {
            Hierarchy::V1 { mounts } => mounts
                .iter()
                .map(|m| self.dir_in(&m.mountpoint, &m.own))
                .collect(),
            Hierarchy::V2 { mountpoint, own } => vec![self.dir_in(mountpoint, own)],
        }
    }

    /// The directory of this cgroup in the v1 hierarchy carrying `controller`.
    pub(crate) fn v1_dir(&self, controller: &str) -> Option<PathBuf> {
        match &self.hierarchy {
            Hierarchy::V1 { mounts } => mounts
                .iter()
                .find(|m| m.controllers.iter().any(|c| c == controller))
                .map(|m| self.dir_in(&m.mountpoint, &m.own)),
            Hierarchy::V2 { .. } => None,
        }
    }

    /// The directory of a v2 cgroup.
    pub(crate) fn v2_dir(&self) -> Option<PathBuf> {
        match &self.hierarchy {
            Hierarchy::V2 { mountpoint, own } => Some(self.dir_in(mountpoint, own)),
            Hierarchy::V1 { .. } => None,
        }
    }

    /// Creates the cgroup and applies `resources`. On failure, what was created is removed.
    pub fn create(&self, resources: Option<&LinuxResources>) -> Result<(), CgroupError> {
        let result = match &self.hierarchy {
            Hierarchy::V1 { mounts } => v1::create(self, mounts),
            Hierarchy::V2 { .. } => v2::create(self),
        }
        .and_then(|()| match resources {
            Some(r) => self.apply(r),
            None => Ok(()),
        });
        if result.is_err() {
            let _ = self.remove();
        }
        result
    }

    /// Applies `resources` (also used to update a running container).
    pub fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        match &self.hierarchy {
            Hierarchy::V1 { .. } => v1::apply(self, resources),
            Hierarchy::V2 { .. } => v2::apply(self, resources),
        }
    }

    /// Moves process `pid` into the cgroup (every hierarchy).
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in self.dirs() {
            write_file(&dir, "cgroup.procs", &pid.to_string(), "joining the cgroup")?;
        }
        Ok(())
    }

    /// The processes in the cgroup (from the memory hierarchy on v1, or the first one).
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let dir = self
            .v1_dir("pids")
            .or_else(|| self.v1_dir("memory"))
            .or_else(|| self.dirs().into_iter().next());
        let Some(dir) = dir else { return Ok(vec![]) };
        match read_file(&dir, "cgroup.procs") {
            Ok(text) => Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect()),
            // Removed, by whoever saw the last process end first: nothing is left in it.
            Err(CgroupError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && !dir.exists() =>
            {
                Ok(vec![])
            }
            Err(e) => Err(e),
        }
    }

    /// Freezes every process of the cgroup and waits until the kernel says it is frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.set_frozen(true)
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        let (dir, file, value, state_file, want) = match &self.hierarchy {
            Hierarchy::V1 { .. } => {
                let dir = self
                    .v1_dir("freezer")
                    .ok_or(CgroupError::MissingController {
                        what: "pause".into(),
                        controller: "freezer",
                        where_: "mounted",
                    })?;
                let v = if frozen { "FROZEN" } else { "THAWED" };
                (dir, "freezer.state", v, "freezer.state", v.to_string())
            }
            Hierarchy::V2 { .. } => {
                let dir = self.v2_dir().unwrap_or_default();
                let v = if frozen { "1" } else { "0" };
                (
                    dir,
                    "cgroup.freeze",
                    v,
                    "cgroup.events",
                    format!("frozen {v}"),
                )
            }
        };
        if !frozen && !dir.exists() {
            // A removed cgroup holds no process that could stay frozen.
            return Ok(());
        }
        write_file(&dir, file, value, if frozen { "pause" } else { "unpause" })?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let state = read_file(&dir, state_file)?;
            if state.lines().any(|l| l.trim() == want) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(CgroupError::FreezeTimeout(if frozen {
                    "frozen"
                } else {
                    "thawed"
                }));
            }
            // v1 freezing can stall on a task in an uninterruptible sleep; asking again is
            // what the kernel documentation suggests.
            if !self.hierarchy.is_v2() && frozen {
                write_file(&dir, file, value, "pause")?;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Whether the cgroup is frozen.
    pub fn is_frozen(&self) -> bool {
        match &self.hierarchy {
            Hierarchy::V1 { .. } => self
                .v1_dir("freezer")
                .and_then(|d| read_file(&d, "freezer.state").ok())
                .is_some_and(|s| s == "FROZEN" || s == "FREEZING"),
            Hierarchy::V2 { .. } => self
                .v2_dir()
                .and_then(|d| read_file(&d, "cgroup.events").ok())
                .is_some_and(|s| s.lines().any(|l| l.trim() == "frozen 1")),
        }
    }

    /// How many processes the kernel's OOM killer has killed in this cgroup.
    pub fn oom_kills(&self) -> u64 {
        let (dir, file) = match &self.hierarchy {
            Hierarchy::V1 { .. } => (self.v1_dir("memory"), "memory.oom_control"),
            Hierarchy::V2 { .. } => (self.v2_dir(), "memory.events"),
        };
        dir.and_then(|d| read_file(&d, file).ok())
            .and_then(|text| stats::keyed(&text, "oom_kill"))
            .unwrap_or(0)
    }

    /// Reads the accounting of the cgroup.
    pub fn stats(&self) -> Result<CgroupStats, CgroupError> {
        stats::read(self)
    }

    /// Sends SIGKILL to every process in the cgroup (`cgroup.kill` where the kernel has it,
    /// else frozen, killed one by one, thawed).
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        if let Some(dir) = self.v2_dir()
            && dir.join("cgroup.kill").exists()
        {
            return write_file(&dir, "cgroup.kill", "1", "kill");
        }
        let frozen = self.freeze().is_ok();
        for pid in self.pids()? {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if frozen {
            self.thaw()?;
        }
        Ok(())
    }

    /// Removes the cgroup directories (the processes must be gone; a few retries cover the
    /// moment the kernel takes to notice the last exit), then the parents between them and the
    /// base that are left empty (`berth/` once its last container is gone).
    pub fn remove(&self) -> Result<(), CgroupError> {
        let mut result = Ok(());
        for (base, dir) in self.bases_and_dirs() {
            let mut tries = 0;
            loop {
                match std::fs::remove_dir(&dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 500 => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(source) => {
                        result = Err(CgroupError::Io {
                            what: "remove",
                            path: dir.clone(),
                            source,
                        });
                        break;
                    }
                }
            }
            let mut parent = dir.parent();
            while let Some(p) = parent.filter(|p| p.starts_with(&base) && *p != base) {
                if std::fs::remove_dir(p).is_err() {
                    break;
                }
                parent = p.parent();
            }
        }
        result
    }

    /// What the container should see under /sys/fs/cgroup: one entry per hierarchy.
    pub fn container_mounts(&self) -> Vec<CgroupMount> {
        match &self.hierarchy {
            Hierarchy::V1 { mounts } => mounts
                .iter()
                .map(|m| {
                    let (name, data) = match &m.name {
                        Some(n) => (n.clone(), format!("none,name={n}")),
                        None => (m.controllers.join(","), m.controllers.join(",")),
                    };
                    CgroupMount {
                        name,
                        fstype: "cgroup".into(),
                        data,
                        host_path: self.dir_in(&m.mountpoint, &m.own),
                    }
                })
                .collect(),
            Hierarchy::V2 { mountpoint, own } => vec![CgroupMount {
                name: String::new(),
                fstype: "cgroup2".into(),
                data: String::new(),
                host_path: self.dir_in(mountpoint, own),
            }],
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
        36 31 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n\
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

    #[test]
    fn hybrid_hosts_are_v1_with_named_hierarchies() {
        let own = "9:name=systemd:/\n4:memory:/api/x\n1:cpu:/\n2:cpu,cpuacct:/\n0::/\n";
        let h = Hierarchy::parse(HYBRID, own).unwrap();
        let Hierarchy::V1 { mounts } = &h else {
            panic!("{h:?}")
        };
        assert_eq!(mounts.len(), 4);
        assert_eq!(mounts[1].controllers, ["memory"]);
        assert_eq!(mounts[1].own, Path::new("/api/x"));
        assert_eq!(mounts[2].controllers, ["cpu", "cpuacct"]);
        assert_eq!(mounts[3].name.as_deref(), Some("systemd"));
        assert!(mounts[3].controllers.is_empty());
        // Relative paths start at the runtime's own cgroup of each hierarchy.
        let cg = Cgroup::new(&h, Path::new("berth/c1")).unwrap();
        assert_eq!(
            cg.v1_dir("memory").unwrap(),
            Path::new("/sys/fs/cgroup/memory/api/x/berth/c1")
        );
        assert_eq!(
            cg.v1_dir("cpu").unwrap(),
            Path::new("/sys/fs/cgroup/cpu/berth/c1")
        );
        let cg = Cgroup::new(&h, Path::new("/berth/c1")).unwrap();
        assert_eq!(
            cg.v1_dir("cpuacct").unwrap(),
            Path::new("/sys/fs/cgroup/cpu,cpuacct/berth/c1")
        );
        assert!(Cgroup::new(&h, Path::new("/berth/../../etc")).is_err());
        assert!(Cgroup::new(&h, Path::new("/")).is_err());
    }

    #[test]
    fn container_mounts_name_each_hierarchy() {
        let h = Hierarchy::parse(HYBRID, "").unwrap();
        let cg = Cgroup::new(&h, Path::new("/berth/c1")).unwrap();
        let m = cg.container_mounts();
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["cpu", "memory", "cpu,cpuacct", "systemd"]);
        assert_eq!(m[3].data, "none,name=systemd");
        assert_eq!(m[1].host_path, Path::new("/sys/fs/cgroup/memory/berth/c1"));
    }

    #[test]
    fn creating_survives_a_parent_removed_under_it() {
        let root = tempfile::tempdir().unwrap();
        let mut removed = 0;
        let mut seen = vec![];
        create_levels(root.path(), Path::new("berth/web-1"), |parent, dir| {
            seen.push(dir.strip_prefix(root.path()).unwrap().to_path_buf());
            // Another container's removal takes the shared parent away, once after `each` is
            // done with it and once while `each` works in it.
            if dir.ends_with("berth") && removed < 2 {
                removed += 1;
                std::fs::remove_dir(dir).unwrap();
                if removed == 2 {
                    return std::fs::read_to_string(dir.join("cpuset.mems"))
                        .map(|_| ())
                        .map_err(|source| CgroupError::Io {
                            what: "read",
                            path: dir.to_path_buf(),
                            source,
                        });
                }
            }
            assert!(dir.starts_with(parent));
            Ok(())
        })
        .unwrap();
        assert!(root.path().join("berth/web-1").is_dir());
        let seen: Vec<_> = seen.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(seen, ["berth", "berth", "berth", "berth/web-1"]);
    }

    #[test]
    fn creating_under_a_missing_base_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let err = create_levels(&root.path().join("gone"), Path::new("a"), |_, _| Ok(()));
        assert!(
            matches!(err, Err(CgroupError::Io { what: "create", .. })),
            "{err:?}"
        );
    }
}
