//! The errors of this crate: each says what failed and where.

use std::path::PathBuf;

/// What can go wrong with volumes, mounts, configs and secrets.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A file system operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done ("creating", "reading", ...).
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A volume name Docker would refuse.
    #[error(
        "invalid volume name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters"
    )]
    InvalidName(String),
    /// No volume of that name.
    #[error("no such volume: {0}")]
    NotFound(String),
    /// The volume exists with a different driver or options.
    #[error("volume {name} already exists with different {what}")]
    Conflict {
        /// The volume.
        name: String,
        /// "driver" or "options".
        what: &'static str,
    },
    /// A container uses the volume.
    #[error("remove {0}: volume is in use")]
    InUse(String),
    /// Something is mounted in the volume: removing it would delete the mounted data.
    #[error("remove {0}: something is still mounted in the volume's directory; unmount it first")]
    StillMounted(String),
    /// The metadata file is not valid.
    #[error("corrupt volume metadata {}: {source}", path.display())]
    Metadata {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A driver other than `local`.
    #[error("volume driver {0:?} is not supported (berth only has the \"local\" driver)")]
    UnsupportedDriver(String),
    /// A `driver_opts` key or value the local driver does not know.
    #[error("invalid option for the local volume driver: {0}")]
    InvalidOption(String),
    /// A mount system call failed.
    #[error("{what} {}: {source}", path.display())]
    Mount {
        /// What ("mounting tmpfs on", ...).
        what: String,
        /// The mount point.
        path: PathBuf,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// A path inside an image that leaves the image's root.
    #[error("{} escapes the image root {}", path.display(), root.display())]
    Escape {
        /// The path asked for.
        path: PathBuf,
        /// The root.
        root: PathBuf,
    },
    /// A bind source that does not exist, and may not be created.
    #[error("bind source path does not exist: {}", .0.display())]
    BindSourceMissing(PathBuf),
    /// A config or secret without a usable source.
    #[error("{kind} {name}: {reason}")]
    FileSource {
        /// "config" or "secret".
        kind: &'static str,
        /// Its name.
        name: String,
        /// Why it cannot be materialized.
        reason: String,
    },
    /// A mount specification that cannot be parsed.
    #[error("invalid {what} {spec:?}: {reason}")]
    InvalidSpec {
        /// What was parsed ("tmpfs", "volumes_from", "size").
        what: &'static str,
        /// The text.
        spec: String,
        /// Why.
        reason: String,
    },
}

/// A closure turning an I/O error into [`VolumeError::Io`] on `path`.
pub(crate) fn io(
    what: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> VolumeError {
    let path = path.into();
    move |source| VolumeError::Io { what, path, source }
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, VolumeError>;
