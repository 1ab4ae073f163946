//! `docker import`: a root filesystem tarball (plain, gzip or zstd) becomes an image with one
//! uncompressed layer, a configuration for the host platform and an OCI manifest.

use std::io::Read;

use super::{ArchiveError, with_content_guard};
use crate::image::digest::Algorithm;
use crate::image::reference::Reference;
use crate::image::registry::Platform;
use crate::image::store::oci::{
    ContainerConfig, Descriptor, History, ImageConfig, Manifest, OCI_CONFIG, OCI_LAYER_TAR,
    OCI_MANIFEST, RootFs,
};
use crate::image::store::{NewImage, Store, rfc3339, unix_now};
use crate::image::unpack::Compression;

/// Settings of an imported image.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The name to give it (`name[:tag]`); unnamed (dangling) when `None`.
    pub reference: Option<Reference>,
    /// Container defaults (`--change`): command, environment, working directory, ...
    pub config: ContainerConfig,
    /// The history comment (`--message`).
    pub message: Option<String>,
    /// The platform to record; the host's when `None`.
    pub platform: Option<Platform>,
}

/// Imports the tarball read from `reader` as a new image; returns its ID.
pub fn import(
    store: &Store,
    reader: impl Read,
    options: &ImportOptions,
) -> Result<String, ArchiveError> {
    if options
        .reference
        .as_ref()
        .is_some_and(|r| r.digest().is_some())
    {
        return Err(ArchiveError::Invalid(
            "an imported image cannot be named by digest".to_owned(),
        ));
    }
    with_content_guard(store, || {
        let mut stream = super::load::decompressed_stream(reader)?;
        // The layer is kept uncompressed, so that its blob digest is its diff ID.
        let (diff_id, size) = store.put_blob_from_reader(Algorithm::Sha256, &mut stream)?;
        store.ensure_layer(&diff_id, &diff_id, Compression::None)?;

        let platform = options.platform.clone().unwrap_or_else(Platform::host);
        let now = rfc3339(unix_now());
        let config = ImageConfig {
            created: Some(now.clone()),
            author: None,
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            variant: platform.variant.clone(),
            config: Some(options.config.clone()),
            rootfs: RootFs {
                kind: "layers".to_owned(),
                diff_ids: vec![diff_id.to_string()],
            },
            history: Some(vec![History {
                created: Some(now),
                created_by: Some("berth image import".to_owned()),
                comment: options.message.clone(),
                empty_layer: None,
            }]),
        };
        let config_json =
            serde_json::to_vec(&config).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
        let config_digest = store.put_blob(&config_json)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_owned()),
            config: Descriptor {
                media_type: OCI_CONFIG.to_owned(),
                digest: config_digest.to_string(),
                size: config_json.len() as u64,
                ..Descriptor::default()
            },
            layers: vec![Descriptor {
                media_type: OCI_LAYER_TAR.to_owned(),
                digest: diff_id.to_string(),
                size,
                ..Descriptor::default()
            }],
            annotations: None,
        };
        let manifest_json =
            serde_json::to_vec(&manifest).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
        let manifest_digest = store.put_blob(&manifest_json)?;
        let record = store.record_image(NewImage {
            manifest: manifest_digest,
            repo_digest: None,
            tags: options.reference.iter().cloned().collect(),
            pulled: false,
        })?;
        Ok(record.id)
    })
}
