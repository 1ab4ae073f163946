//! Images as the commands see them: recording a complete image in the index, listing,
//! inspecting and tagging.

use serde::Serialize;

use super::index::ImageRecord;
use super::oci::{self, ContainerConfig, Descriptor, History, ImageConfig, Manifest};
use super::{Store, StoreError, unix_now};
use crate::image::digest::Digest;
use crate::image::reference::Reference;

/// An image whose content is in the store, to be named in the index.
#[derive(Clone, Debug)]
pub struct NewImage {
    /// Its manifest (a stored blob).
    pub manifest: Digest,
    /// `name@digest` the registry knows it by, if it came from one.
    pub repo_digest: Option<String>,
    /// Names to point at it (canonical references with tags).
    pub tags: Vec<Reference>,
    /// Whether it was just pulled (sets [`ImageRecord::last_pulled`]).
    pub pulled: bool,
}

/// One layer of an image: its blob and its uncompressed digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageLayer {
    /// The (possibly compressed) blob as the manifest describes it.
    pub blob: Descriptor,
    /// The digest of the uncompressed tar.
    pub diff_id: Digest,
}

/// An image in a listing (`berth image ls`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    /// The image ID (`sha256:...`).
    pub id: String,
    /// Its names, in Docker's short form (`busybox:latest`).
    pub repo_tags: Vec<String>,
    /// `name@digest`, short form.
    pub repo_digests: Vec<String>,
    /// Creation time from the configuration (RFC 3339), if recorded.
    pub created: Option<String>,
    /// Unpacked size of its layers in bytes.
    pub size: u64,
}

/// One layer in [`ImageDetails`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LayerDetails {
    /// The blob digest.
    pub digest: String,
    /// The uncompressed digest.
    pub diff_id: String,
    /// The blob's media type.
    pub media_type: String,
    /// The blob's size in bytes.
    pub size: u64,
    /// The unpacked size in bytes, if the layer is unpacked.
    pub unpacked_size: Option<u64>,
}

/// Everything about one image (`berth image inspect`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageDetails {
    /// The image ID.
    pub id: String,
    /// Names, short form.
    pub repo_tags: Vec<String>,
    /// `name@digest`, short form.
    pub repo_digests: Vec<String>,
    /// Creation time (RFC 3339).
    pub created: Option<String>,
    /// Author.
    pub author: Option<String>,
    /// CPU architecture.
    pub architecture: String,
    /// Operating system.
    pub os: String,
    /// CPU variant.
    pub variant: Option<String>,
    /// Container defaults.
    pub config: Option<ContainerConfig>,
    /// The manifest digest.
    pub manifest_digest: String,
    /// The manifest media type.
    pub manifest_media_type: String,
    /// Layers, lowest first.
    pub layers: Vec<LayerDetails>,
    /// Build history.
    pub history: Vec<History>,
    /// Unpacked size in bytes.
    pub size: u64,
    /// Compressed size of config and layer blobs in bytes.
    pub blob_size: u64,
    /// When it entered the store (seconds since the epoch).
    pub added: u64,
    /// When it was last pulled (seconds since the epoch).
    pub last_pulled: Option<u64>,
}

/// The short form Docker shows for a canonical name (`busybox:latest`).
pub(crate) fn familiar(canonical: &str) -> String {
    Reference::parse(canonical)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| canonical.to_owned())
}

impl Store {
    /// Reads and parses a stored manifest.
    pub fn load_manifest(&self, digest: &Digest) -> Result<Manifest, StoreError> {
        let data = self.read_blob(digest)?;
        serde_json::from_slice(&data)
            .map_err(|error| StoreError::invalid(digest.to_string(), format!("manifest: {error}")))
    }

    /// Reads and parses a stored image configuration.
    pub fn load_config(&self, digest: &Digest) -> Result<ImageConfig, StoreError> {
        let data = self.read_blob(digest)?;
        serde_json::from_slice(&data).map_err(|error| {
            StoreError::invalid(digest.to_string(), format!("configuration: {error}"))
        })
    }

    /// The layers of the image with manifest `manifest`, lowest first, paired with their diff
    /// IDs from the configuration (which must list exactly one per layer).
    pub fn image_layers(&self, manifest: &Manifest) -> Result<Vec<ImageLayer>, StoreError> {
        let config_digest = manifest.config.digest()?;
        let config = self.load_config(&config_digest)?;
        pair_layers(&config_digest.to_string(), manifest, &config)
    }

    /// Names a complete image in the index: its manifest, configuration and layer blobs must
    /// be stored and every layer unpacked. Tags given move to it from any other image.
    pub fn record_image(&self, new: NewImage) -> Result<ImageRecord, StoreError> {
        let manifest = self.load_manifest(&new.manifest)?;
        let config_digest = manifest.config.digest()?;
        for layer in self.image_layers(&manifest)? {
            let blob = layer.blob.digest()?;
            if !self.has_blob(&blob) || !self.has_layer(&layer.diff_id) {
                return Err(StoreError::invalid(
                    new.manifest.to_string(),
                    format!("layer {blob} is not in the store"),
                ));
            }
        }
        let media_type = manifest
            .media_type
            .clone()
            .unwrap_or_else(|| oci::OCI_MANIFEST.to_owned());
        let id = config_digest.to_string();
        self.update_index(|index| {
            let now = unix_now();
            let record = index
                .images
                .entry(id.clone())
                .or_insert_with(|| ImageRecord {
                    id: id.clone(),
                    manifest: new.manifest.to_string(),
                    manifest_media_type: media_type.clone(),
                    repo_digests: Vec::new(),
                    added: now,
                    last_pulled: None,
                });
            record.manifest = new.manifest.to_string();
            record.manifest_media_type = media_type;
            if let Some(repo_digest) = &new.repo_digest {
                // One digest per repository: a newer pull replaces the older one.
                let name = repo_digest.split('@').next().unwrap_or_default();
                record
                    .repo_digests
                    .retain(|d| d.split('@').next() != Some(name));
                record.repo_digests.push(repo_digest.clone());
            }
            if new.pulled {
                record.last_pulled = Some(now);
            }
            let record = record.clone();
            for tag in &new.tags {
                index.tags.insert(tag.to_string(), id.clone());
            }
            Ok(record)
        })
    }

    /// All images, newest first.
    pub fn list(&self) -> Result<Vec<ImageSummary>, StoreError> {
        let index = self.read_index()?;
        let mut summaries = Vec::new();
        for record in index.images.values() {
            let details = self.details(&index, record)?;
            summaries.push(ImageSummary {
                id: details.id,
                repo_tags: details.repo_tags,
                repo_digests: details.repo_digests,
                created: details.created,
                size: details.size,
            });
        }
        summaries.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(summaries)
    }

    /// Everything about the image named `text` (name, ID or ID prefix).
    pub fn inspect(&self, text: &str) -> Result<ImageDetails, StoreError> {
        let index = self.read_index()?;
        let record = index.lookup(text)?;
        self.details(&index, record)
    }

    fn details(
        &self,
        index: &super::IndexFile,
        record: &ImageRecord,
    ) -> Result<ImageDetails, StoreError> {
        let manifest_digest = Digest::parse(&record.manifest)?;
        let manifest = self.load_manifest(&manifest_digest)?;
        let config_digest = manifest.config.digest()?;
        let config = self.load_config(&config_digest)?;
        let layers = pair_layers(&record.id, &manifest, &config)?;
        let layers: Vec<LayerDetails> = layers
            .into_iter()
            .map(|layer| LayerDetails {
                unpacked_size: self.layer_size(&layer.diff_id),
                digest: layer.blob.digest.clone(),
                diff_id: layer.diff_id.to_string(),
                media_type: layer.blob.media_type.clone(),
                size: layer.blob.size,
            })
            .collect();
        let size = layers.iter().filter_map(|l| l.unpacked_size).sum();
        let blob_size = manifest.config.size + layers.iter().map(|l| l.size).sum::<u64>();
        Ok(ImageDetails {
            id: record.id.clone(),
            repo_tags: index
                .tags_of(&record.id)
                .iter()
                .map(|t| familiar(t))
                .collect(),
            repo_digests: record.repo_digests.iter().map(|d| familiar(d)).collect(),
            created: config.created.clone(),
            author: config.author.clone(),
            architecture: config.architecture.clone(),
            os: config.os.clone(),
            variant: config.variant.clone(),
            config: config.config.clone(),
            manifest_digest: record.manifest.clone(),
            manifest_media_type: record.manifest_media_type.clone(),
            layers,
            history: config.history.clone().unwrap_or_default(),
            size,
            blob_size,
            added: record.added,
            last_pulled: record.last_pulled,
        })
    }

    /// Points the name `target` (`name[:tag]`) at the image `source` (name or ID), as
    /// `docker tag` does. Returns the canonical target.
    pub fn tag(&self, source: &str, target: &str) -> Result<Reference, StoreError> {
        let target_ref = Reference::parse(target)?;
        if target_ref.digest().is_some() {
            return Err(StoreError::invalid(
                target,
                "refusing to create a tag with a digest reference",
            ));
        }
        self.update_index(|index| {
            let id = index.lookup(source)?.id.clone();
            index.tags.insert(target_ref.to_string(), id);
            Ok(())
        })?;
        Ok(target_ref)
    }
}

/// Pairs a manifest's layers with the configuration's diff IDs.
pub(crate) fn pair_layers(
    image: &str,
    manifest: &Manifest,
    config: &ImageConfig,
) -> Result<Vec<ImageLayer>, StoreError> {
    if manifest.layers.len() != config.rootfs.diff_ids.len() {
        return Err(StoreError::invalid(
            image,
            format!(
                "the manifest has {} layers but the configuration lists {} diff IDs",
                manifest.layers.len(),
                config.rootfs.diff_ids.len()
            ),
        ));
    }
    manifest
        .layers
        .iter()
        .zip(&config.rootfs.diff_ids)
        .map(|(blob, diff_id)| {
            let diff_id = Digest::parse(diff_id)
                .map_err(|error| StoreError::invalid(image, format!("diff ID: {error}")))?;
            Ok(ImageLayer {
                blob: blob.clone(),
                diff_id,
            })
        })
        .collect()
}
