//! One service of a loaded project, plus its image, translated into what the runtime runs:
//! an OCI runtime spec ([`build_spec`]), the container's mounts ([`mounts`]), its labels
//! ([`labels::labels`]) and the fields of its record ([`record::record_fields`]).
//!
//! Docker's rules decide wherever the compose file is silent (entrypoint and command, the
//! environment, hostnames, mounts over Docker's defaults). A key berth cannot honour is an
//! error that names the service and the key; a key Docker itself ignores on Linux is ignored.
//! Everything here is pure except [`mounts::resolve`], which creates volumes, bind sources
//! and secret files, and user resolution, which reads the image's /etc/passwd.
//!
//! The executor's order for one container: mount its rootfs at `ContainerPaths::rootfs`;
//! [`mounts::plan`] then [`mounts::resolve`] (volumes, binds, secrets); make or find the
//! namespaces to join ([`NamespaceJoins`]); then [`build_spec`], [`labels()`] and
//! [`record_fields`] on one [`ContainerInput`]; write the spec's hostname, the hosts file and
//! resolv.conf at `ContainerPaths::hostname`/`hosts`/`resolv_conf` (the spec bind-mounts
//! them); record [`ResolvedMounts::records`] and the ports chosen for each [`PortRequest`].

pub mod labels;
pub mod mounts;
pub mod namespaces;
pub mod process;
pub mod record;
pub mod resources;
pub mod spec;

pub use labels::labels;
pub use mounts::{MountPlan, PlannedMount, ResolveContext, ResolvedMounts};
pub use namespaces::NamespaceJoins;
pub use record::{HostPort, PortRequest, RecordFields, record_fields};
pub use spec::build_spec;

use anyhow::Context;
use berth_compose::LoadedProject;
use berth_compose::model::ServiceConfig;
use berth_runtime::image::store::oci::{ContainerConfig, ImageConfig};
use std::path::PathBuf;

use crate::engine::state::ContainerPaths;

/// Everything needed to make one container of a service.
#[derive(Debug, Clone, Copy)]
pub struct ContainerInput<'a> {
    /// The loaded project.
    pub project: &'a LoadedProject,
    /// The service's name.
    pub service: &'a str,
    /// The replica number (`1`, `2`, ...).
    pub number: u32,
    /// Whether it is a one-off container of `run`.
    pub oneoff: bool,
    /// The container id (64 lowercase hex digits).
    pub id: &'a str,
    /// The container name (`project-service-1`).
    pub name: &'a str,
    /// The image reference as the service writes it (`nginx:1.27`).
    pub image_ref: &'a str,
    /// The image id (its config digest, `sha256:...`).
    pub image_id: &'a str,
    /// The image's configuration.
    pub image: &'a ImageConfig,
    /// Where the container's files live. Its rootfs must be mounted: user and group names are
    /// resolved in the image's /etc/passwd and /etc/group.
    pub paths: &'a ContainerPaths,
    /// The namespaces the engine made or found for it to join.
    pub namespaces: &'a NamespaceJoins,
    /// Its mounts, resolved by [`mounts::resolve`].
    pub mounts: &'a [berth_volumes::mounts::Mount],
    /// The project's environment files (`.env`, `--env-file`), for Compose's label.
    pub env_files: &'a [PathBuf],
}

impl<'a> ContainerInput<'a> {
    /// The service's configuration.
    pub fn config(&self) -> anyhow::Result<&'a ServiceConfig> {
        self.project
            .project
            .service(self.service)
            .with_context(|| format!("no such service: {}", self.service))
    }

    /// The image's container defaults (empty when the image has none).
    pub fn defaults(&self) -> &'a ContainerConfig {
        static EMPTY: std::sync::OnceLock<ContainerConfig> = std::sync::OnceLock::new();
        match &self.image.config {
            Some(c) => c,
            None => EMPTY.get_or_init(ContainerConfig::default),
        }
    }
}

/// The prefix of every error about `key` of service `service`: `service "web": ulimits.nofile`.
pub(crate) fn at(service: &str, key: &str) -> String {
    format!("service {service:?}: {key}")
}

/// Fails with an error about `key` of service `service`.
pub(crate) fn refuse(service: &str, key: &str, why: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{}: {why}", at(service, key))
}

#[cfg(test)]
pub(crate) mod testing;
