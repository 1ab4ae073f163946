//! The image index (`index.json`): which images the store holds and which names point at them.
//!
//! An image is identified, as in Docker, by the digest of its configuration (its ID). Names
//! (`docker.io/library/busybox:latest`) map to IDs; an image also remembers the manifest it was
//! pulled with and the digests the registry knows it by (`name@sha256:...`, the index digest
//! for multi-platform images). Readers read the file without locking (it is replaced
//! atomically); writers hold `index.lock` around read-modify-write.

use std::collections::BTreeMap;
use std::fs;
use std::io;

use serde::{Deserialize, Serialize};

use super::fsutil;
use super::lock;
use super::{Store, StoreError};
use crate::image::reference::Reference;

const INDEX_VERSION: u32 = 1;

/// One image in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The image ID: the digest of its configuration.
    pub id: String,
    /// The digest of its (platform-specific) manifest.
    pub manifest: String,
    /// The manifest's media type (OCI or Docker).
    pub manifest_media_type: String,
    /// `name@digest` for each repository the image was pulled from; the digest is what the
    /// registry serves for the tag (an index digest for multi-platform images).
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// When the image entered the store (seconds since the epoch).
    pub added: u64,
    /// When it was last pulled from a registry, if ever.
    #[serde(default)]
    pub last_pulled: Option<u64>,
}

/// The whole index file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFile {
    /// Format version.
    #[serde(default)]
    pub version: u32,
    /// Images by ID.
    #[serde(default)]
    pub images: BTreeMap<String, ImageRecord>,
    /// Canonical `name:tag` to image ID.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl IndexFile {
    /// The canonical names tagged to `id`, sorted.
    pub fn tags_of(&self, id: &str) -> Vec<String> {
        self.tags
            .iter()
            .filter(|(_, target)| target.as_str() == id)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Finds an image by name (`busybox`, `busybox:1.36`, `name@sha256:...`), by full ID
    /// (`sha256:...`) or by a unique ID prefix, as Docker does.
    pub fn lookup(&self, text: &str) -> Result<&ImageRecord, StoreError> {
        if let Ok(reference) = Reference::parse(text) {
            if let Some(digest) = reference.digest() {
                let wanted = format!("{}@{digest}", reference.name());
                let digest = digest.to_string();
                let found = self.images.values().find(|image| {
                    image.repo_digests.contains(&wanted)
                        || (image.manifest == digest && self.has_name(image, &reference.name()))
                });
                if let Some(image) = found {
                    return Ok(image);
                }
            } else if let Some(image) = self
                .tags
                .get(&reference.to_string())
                .and_then(|id| self.images.get(id))
            {
                return Ok(image);
            }
        }
        let hex = text.strip_prefix("sha256:").unwrap_or(text);
        let is_hex = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hex {
            let matches: Vec<&ImageRecord> = self
                .images
                .values()
                .filter(|image| {
                    image
                        .id
                        .strip_prefix("sha256:")
                        .is_some_and(|id| id.starts_with(&hex.to_ascii_lowercase()))
                })
                .collect();
            match matches.as_slice() {
                [one] => return Ok(one),
                [] => {}
                _ => {
                    return Err(StoreError::Ambiguous {
                        text: text.to_owned(),
                        count: matches.len(),
                    });
                }
            }
        }
        Err(StoreError::NoSuchImage(text.to_owned()))
    }

    fn has_name(&self, image: &ImageRecord, name: &str) -> bool {
        let prefix = format!("{name}@");
        image.repo_digests.iter().any(|d| d.starts_with(&prefix))
            || self.tags_of(&image.id).iter().any(|tag| {
                tag.rsplit_once(':')
                    .is_some_and(|(tag_name, _)| tag_name == name)
            })
    }
}

impl Store {
    /// Reads the index (an empty one if the store is new).
    pub fn read_index(&self) -> Result<IndexFile, StoreError> {
        let path = self.root().join("index.json");
        match fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|error| StoreError::Corrupt {
                path,
                reason: error.to_string(),
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(IndexFile {
                version: INDEX_VERSION,
                ..IndexFile::default()
            }),
            Err(source) => Err(StoreError::io("reading", &path, source)),
        }
    }

    /// Changes the index under its lock: `change` sees the current index and returns a value;
    /// the index is written back (atomically) only if it changed.
    pub fn update_index<T>(
        &self,
        change: impl FnOnce(&mut IndexFile) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let lock_path = self.lock_path("index");
        let _guard = lock::exclusive(&lock_path)
            .map_err(|source| StoreError::io("locking", &lock_path, source))?;
        let before = self.read_index()?;
        let mut index = before.clone();
        let value = change(&mut index)?;
        if index != before {
            index.version = INDEX_VERSION;
            let data = serde_json::to_vec_pretty(&index).map_err(|error| StoreError::Corrupt {
                path: self.root().join("index.json"),
                reason: error.to_string(),
            })?;
            let path = self.root().join("index.json");
            fsutil::write_atomic(&path, &data)
                .map_err(|source| StoreError::io("writing", &path, source))?;
        }
        Ok(value)
    }

    /// Finds an image by name or ID (see [`IndexFile::lookup`]).
    pub fn resolve(&self, text: &str) -> Result<ImageRecord, StoreError> {
        self.read_index()?.lookup(text).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> ImageRecord {
        ImageRecord {
            id: id.to_owned(),
            manifest: format!("sha256:{}", "f".repeat(64)),
            manifest_media_type: String::new(),
            repo_digests: vec![format!(
                "docker.io/library/busybox@sha256:{}",
                "e".repeat(64)
            )],
            added: 0,
            last_pulled: None,
        }
    }

    #[test]
    fn lookups() {
        let a = format!("sha256:{}{}", "ab", "0".repeat(62));
        let b = format!("sha256:{}{}", "ac", "0".repeat(62));
        let mut index = IndexFile::default();
        index.images.insert(a.clone(), record(&a));
        index.images.insert(b.clone(), record(&b));
        index
            .tags
            .insert("docker.io/library/busybox:latest".to_owned(), a.clone());
        assert_eq!(index.lookup("busybox").unwrap().id, a);
        assert_eq!(index.lookup("docker.io/library/busybox").unwrap().id, a);
        assert_eq!(index.lookup("ac").unwrap().id, b);
        assert_eq!(index.lookup(&b).unwrap().id, b);
        assert!(matches!(
            index.lookup("a"),
            Err(StoreError::Ambiguous { count: 2, .. })
        ));
        assert!(matches!(
            index.lookup("busybox:1.0"),
            Err(StoreError::NoSuchImage(_))
        ));
        let by_digest = format!("busybox@sha256:{}", "e".repeat(64));
        assert!(index.lookup(&by_digest).is_ok());
    }
}
