//! berth-volumes: where containers' persistent and ephemeral data lives.
//!
//! - [`store`]: named and anonymous volumes under a root directory (`<root>/<name>/_data`
//!   plus an atomic JSON metadata file), with create/inspect/list/remove/prune.
//! - [`local_driver`]: Docker's `local` driver options (`type`, `o`, `device`): the volume's
//!   `_data` is a mount made on first use and undone on release.
//! - [`copy_up`]: the image's content at a mount target copied into a fresh, empty volume.
//! - [`binds`]: bind sources relative to the project directory, created when asked.
//! - [`files`]: configs and secrets materialized as files to bind-mount read-only.
//! - [`mounts`]: the neutral description of a container's mounts that the engine turns into
//!   OCI mounts; [`volumes_from`] inherits them from another container.
//!
//! Named volume data is never deleted except by an explicit [`store::VolumeStore::remove`] or
//! [`store::VolumeStore::prune`]; neither touches a volume in use or one whose `_data` is
//! still a mount point.
//!
//! This crate knows nothing of compose files, containers or networks: the engine translates.

pub mod binds;
pub mod copy_up;
pub mod error;
pub mod files;
pub mod local_driver;
pub mod mounts;
pub mod store;
pub mod volumes_from;

pub use error::VolumeError;
