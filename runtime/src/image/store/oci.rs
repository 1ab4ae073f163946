//! The JSON documents of an image (manifest, index, configuration) in both their OCI and
//! Docker (schema 2) forms, which share one structure and differ in media types.
//!
//! These are berth's own lenient types rather than `oci-spec`'s: they read Docker's documents
//! as well as OCI's, and the configuration keeps Docker's `Healthcheck`, which the OCI image
//! configuration has no field for and Compose needs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::image::digest::Digest;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image configuration.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image configuration.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker schema 1 manifests, refused with a clear message.
pub const DOCKER_SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// Every manifest type berth asks registries for, best first.
pub const MANIFEST_TYPES: &[&str] = &[
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];

/// Whether `media_type` is a manifest list or image index.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// Whether `media_type` is a single-image manifest.
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// A reference from one document to a blob.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the blob is.
    pub media_type: String,
    /// The blob's digest, as written (validated with [`Descriptor::digest`]).
    pub digest: String,
    /// The blob's size in bytes.
    pub size: u64,
    /// Other places the blob may be fetched from (foreign layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// In an index: the platform of the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformJson>,
}

impl Descriptor {
    /// The validated digest.
    pub fn digest(&self) -> Result<Digest, crate::image::DigestError> {
        Digest::parse(&self.digest)
    }
}

/// A platform as written in an index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformJson {
    /// CPU architecture (`amd64`, `arm64`).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`).
    #[serde(default)]
    pub os: String,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Operating system version (Windows).
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

/// An image manifest: a configuration and layers, lowest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type (optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image configuration.
    pub config: Descriptor,
    /// The layers, from the bottom up.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image index (manifest list): one manifest per platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type (optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Only the fields needed to tell a manifest from an index when the registry's content type
/// is missing or generic.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    layers: Option<serde_json::Value>,
}

/// What a manifest document turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentKind {
    /// An image manifest.
    Manifest,
    /// An index / manifest list.
    Index,
}

/// Tells what a manifest document is from its content (and the transport's content type,
/// which wins when it is specific). Schema 1 and other documents are refused with a reason.
pub fn classify(content_type: Option<&str>, body: &[u8]) -> Result<DocumentKind, String> {
    let probe: Probe = serde_json::from_slice(body)
        .map_err(|error| format!("the manifest is not valid JSON: {error}"))?;
    let declared = probe
        .media_type
        .as_deref()
        .or(content_type.filter(|t| is_index(t) || is_manifest(t)));
    if let Some(kind) = declared {
        if DOCKER_SCHEMA1.contains(&kind) {
            return Err("Docker schema 1 manifests are not supported".to_owned());
        }
        if is_index(kind) {
            return Ok(DocumentKind::Index);
        }
        if is_manifest(kind) {
            return Ok(DocumentKind::Manifest);
        }
    }
    if probe.schema_version == Some(1) {
        return Err("Docker schema 1 manifests are not supported".to_owned());
    }
    match (probe.manifests.is_some(), probe.layers.is_some()) {
        (true, false) => Ok(DocumentKind::Index),
        (false, true) => Ok(DocumentKind::Manifest),
        _ => Err(format!(
            "unsupported manifest media type {:?}",
            declared.or(content_type).unwrap_or("(none)")
        )),
    }
}

/// An image configuration (`application/vnd.oci.image.config.v1+json` or Docker's).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// When the image was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// CPU variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// How containers of this image run by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// The uncompressed layer digests.
    pub rootfs: RootFs,
    /// How the image was built, one entry per step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<History>>,
}

/// The `rootfs` section: uncompressed digests of the layers, lowest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The digests of the uncompressed layer tars.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// One build step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// When the step ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The instruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Whether the step created no layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
}

/// An empty JSON object, the value type of Docker's port and volume sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// The defaults of containers of an image (Docker's field names).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// `user[:group]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `port/proto` set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    /// `KEY=value` list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// The entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// The default command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Anonymous volume mount points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Empty>>,
    /// The working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// The signal that stops the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Docker's health check (not part of the OCI configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// The shell of `RUN`/`CMD` in shell form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// Docker's `HEALTHCHECK`. Durations are in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", cmd]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// Time a check may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Time to start before failures count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    /// Time between checks during the start period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    /// Consecutive failures that make the container unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_documents() {
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(classify(None, index), Ok(DocumentKind::Index));
        let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"x","digest":"d","size":1},"layers":[]}"#;
        assert_eq!(classify(None, manifest), Ok(DocumentKind::Manifest));
        let v1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        assert!(classify(None, v1).unwrap_err().contains("schema 1"));
        assert!(classify(None, b"<html>").is_err());
    }

    #[test]
    fn reads_docker_config() {
        let text = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],
            "Cmd":["sh"],"Entrypoint":null,"ExposedPorts":{"80/tcp":{}},
            "Healthcheck":{"Test":["CMD","true"],"Interval":1000000000}},
            "container_config":{"Hostname":"x"},"docker_version":"24",
            "rootfs":{"type":"layers","diff_ids":["sha256:00"]}}"#;
        let config: ImageConfig = serde_json::from_str(text).unwrap();
        let defaults = config.config.unwrap();
        assert_eq!(defaults.cmd.unwrap(), vec!["sh"]);
        assert!(defaults.entrypoint.is_none());
        assert!(defaults.exposed_ports.unwrap().contains_key("80/tcp"));
        assert_eq!(defaults.healthcheck.unwrap().interval, Some(1_000_000_000));
        assert_eq!(config.rootfs.diff_ids.len(), 1);
    }
}
