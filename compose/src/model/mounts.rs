//! A service's mounts (`volumes` in long syntax) and device mappings.

use super::common::{ByteSize, Extensions, StringMap};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The kind of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    /// A host path.
    Bind,
    /// A named or anonymous volume.
    Volume,
    /// A tmpfs.
    Tmpfs,
    /// A cluster (CSI) volume.
    Cluster,
    /// A Windows named pipe.
    Npipe,
    /// The content of an image.
    Image,
}

/// One entry of a service's `volumes`, in long syntax.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeConfig {
    /// The kind of mount.
    #[serde(rename = "type")]
    pub kind: MountType,
    /// Host path, volume name or image; absent for tmpfs and anonymous volumes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Path in the container.
    pub target: String,
    /// Mount read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Consistency requirement (`cached`, ...; platform specific).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    /// Options of a bind mount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<ServiceVolumeBind>,
    /// Options of a volume mount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<ServiceVolumeVolume>,
    /// Options of a tmpfs mount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<ServiceVolumeTmpfs>,
    /// Options of an image mount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ServiceVolumeImage>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

impl ServiceVolumeConfig {
    /// Whether the mount is read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only == Some(true)
    }
}

/// `bind` options of a mount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeBind {
    /// SELinux relabeling: `z` (shared) or `Z` (private).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
    /// Mount propagation (`rprivate`, `shared`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    /// Create the host path when missing (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_host_path: Option<bool>,
    /// Recursive mount mode: `enabled`, `disabled`, `writable` or `readonly`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recursive: Option<String>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

impl ServiceVolumeBind {
    /// Whether a missing host path is created (it is unless switched off).
    pub fn creates_host_path(&self) -> bool {
        self.create_host_path != Some(false)
    }
}

/// `volume` options of a mount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeVolume {
    /// Labels of the volume.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: StringMap,
    /// Do not copy the image's content into a new volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nocopy: Option<bool>,
    /// Path inside the volume to mount instead of its root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// `tmpfs` options of a mount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeTmpfs {
    /// Size limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<ByteSize>,
    /// Permission bits of the mount's root, a number as compose-go keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// `image` options of a mount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeImage {
    /// Path inside the image to mount instead of its root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// One entry of a service's `devices`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceMapping {
    /// Device path on the host.
    pub source: String,
    /// Path in the container (the source's, when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Cgroup permissions (`rwm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}
