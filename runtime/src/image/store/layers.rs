//! Unpacked layers: each layer, identified by its uncompressed digest (diff ID), is unpacked
//! once into `layers/<alg>/<hex>/diff` and shared by every image that contains it.
//!
//! Each layer directory also has a short name: `l/<ID>` is a symlink to its `diff` directory
//! and `layers/<alg>/<hex>/link` holds `<ID>`. Overlay mounts list lower directories in one
//! mount option string of at most a page; `l/<ID>` (15 bytes with the separator) instead of
//! the full path is what lets images with a couple of hundred layers be mounted (Docker's
//! overlay2 driver does the same).
//!
//! A layer is unpacked into a temporary directory, verified against its diff ID while
//! unpacking, synced, and only then renamed to its final name: a layer directory that exists
//! is complete.

use std::fs::{self, File};
use std::io::{self, BufReader};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::fsutil;
use super::lock;
use super::{Store, StoreError};
use crate::image::digest::{Algorithm, Digest, VerifyingReader};
use crate::image::unpack::{Compression, UnpackStats, unpack_layer};

/// Length of a short layer name: 12 base-32 characters are 60 random bits.
const LINK_ID_LEN: usize = 12;

/// What [`Store::ensure_layer`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerOutcome {
    /// The layer was already unpacked.
    Present,
    /// The layer was unpacked now.
    Unpacked(UnpackStats),
}

impl Store {
    /// The directory of the layer `diff_id` (containing `diff/`, `link` and `size`).
    pub fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.root()
            .join("layers")
            .join(diff_id.algorithm().name())
            .join(diff_id.hex())
    }

    /// The unpacked content of the layer `diff_id`.
    pub fn layer_diff_path(&self, diff_id: &Digest) -> PathBuf {
        self.layer_path(diff_id).join("diff")
    }

    /// Whether the layer `diff_id` is unpacked.
    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_path(diff_id).join("diff").is_dir()
    }

    /// The short name of an unpacked layer (`l/<ID>` relative to the store root).
    pub fn layer_link(&self, diff_id: &Digest) -> Result<String, StoreError> {
        let path = self.layer_path(diff_id).join("link");
        let id =
            fs::read_to_string(&path).map_err(|source| StoreError::io("reading", &path, source))?;
        let id = id.trim();
        let valid = id.len() == LINK_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid {
            return Err(StoreError::Corrupt {
                path,
                reason: format!("invalid short layer name {id:?}"),
            });
        }
        Ok(format!("l/{id}"))
    }

    /// The unpacked size in bytes of the layer `diff_id` (content of regular files), if known.
    pub fn layer_size(&self, diff_id: &Digest) -> Option<u64> {
        let text = fs::read_to_string(self.layer_path(diff_id).join("size")).ok()?;
        text.trim().parse().ok()
    }

    /// Unpacks the layer `diff_id` from the stored blob `blob` unless it is unpacked already.
    /// `declared` is the compression the manifest's media type names; the data's magic bytes
    /// decide. The uncompressed stream must hash to `diff_id`, or nothing is kept.
    pub fn ensure_layer(
        &self,
        diff_id: &Digest,
        blob: &Digest,
        declared: Compression,
    ) -> Result<LayerOutcome, StoreError> {
        let lock_path = self.lock_path(&format!("layer-{}-{}", diff_id.algorithm(), diff_id.hex()));
        let _guard = lock::exclusive(&lock_path)
            .map_err(|source| StoreError::io("locking", &lock_path, source))?;
        if self.has_layer(diff_id) {
            return Ok(LayerOutcome::Present);
        }
        let blob_path = self.blob_path(blob);
        let file = File::open(&blob_path)
            .map_err(|source| StoreError::io("opening", &blob_path, source))?;
        let final_path = self.layer_path(diff_id);
        let parent = final_path.parent().unwrap_or(self.root());
        fs::create_dir_all(parent).map_err(|source| StoreError::io("creating", parent, source))?;
        let temp = fsutil::temp_path_beside(&final_path);
        let result = self.unpack_into(&temp, diff_id, file, declared);
        let stats = match result {
            Ok(stats) => stats,
            Err(error) => {
                let _ = fsutil::remove_any(&temp);
                return Err(error);
            }
        };
        let link = match self.create_link(diff_id, &temp) {
            Ok(link) => link,
            Err(error) => {
                let _ = fsutil::remove_any(&temp);
                return Err(error);
            }
        };
        if let Err(source) = fs::rename(&temp, &final_path) {
            let _ = fsutil::remove_any(&temp);
            let _ = fs::remove_file(&link);
            return Err(StoreError::io("publishing layer", &final_path, source));
        }
        fsutil::sync_dir(parent).map_err(|source| StoreError::io("syncing", parent, source))?;
        Ok(LayerOutcome::Unpacked(stats))
    }

    fn unpack_into(
        &self,
        temp: &Path,
        diff_id: &Digest,
        file: File,
        declared: Compression,
    ) -> Result<UnpackStats, StoreError> {
        let diff = temp.join("diff");
        fs::create_dir_all(&diff).map_err(|source| StoreError::io("creating", &diff, source))?;
        let stream =
            crate::image::unpack::decoder(BufReader::with_capacity(256 * 1024, file), declared)
                .map_err(|source| StoreError::unpack(diff_id, source))?;
        let verified = VerifyingReader::new(stream, diff_id.clone());
        let stats = unpack_layer(verified, Compression::None, &diff)
            .map_err(|source| StoreError::unpack(diff_id, source))?;
        fsutil::write_atomic(&temp.join("size"), stats.bytes.to_string().as_bytes())
            .map_err(|source| StoreError::io("writing", temp, source))?;
        // One syncfs makes the whole unpacked tree durable before it is published.
        let dir = File::open(temp).map_err(|source| StoreError::io("opening", temp, source))?;
        rustix::fs::syncfs(dir.as_fd())
            .map_err(|errno| StoreError::io("syncing", temp, errno.into()))?;
        Ok(stats)
    }

    /// Picks a free short name, records it in `<temp>/link` and creates `l/<ID>`, which
    /// dangles until the layer directory is renamed into place.
    fn create_link(&self, diff_id: &Digest, temp: &Path) -> Result<PathBuf, StoreError> {
        let target = format!("../layers/{}/{}/diff", diff_id.algorithm(), diff_id.hex());
        let links = self.root().join("l");
        for _ in 0..16 {
            let id = random_link_id(diff_id);
            let link = links.join(&id);
            match std::os::unix::fs::symlink(&target, &link) {
                Ok(()) => {
                    fsutil::write_atomic(&temp.join("link"), id.as_bytes())
                        .map_err(|source| StoreError::io("writing", temp, source))?;
                    return Ok(link);
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(StoreError::io("creating", &link, source)),
            }
        }
        Err(StoreError::Corrupt {
            path: links,
            reason: "no free short layer name after 16 attempts".to_owned(),
        })
    }
}

/// A fresh random-looking short name: base-32 of a hash of the layer and a unique suffix.
fn random_link_id(diff_id: &Digest) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let seed = format!("{diff_id}/{}", fsutil::unique_suffix());
    let hash = Digest::of_bytes(Algorithm::Sha256, seed.as_bytes());
    // Each pair of hex digits is a byte; its low five bits pick a character (256 is a
    // multiple of 32, so every character is equally likely).
    hash.hex()
        .as_bytes()
        .chunks(2)
        .take(LINK_ID_LEN)
        .map(|pair| {
            let byte = std::str::from_utf8(pair)
                .ok()
                .and_then(|text| u8::from_str_radix(text, 16).ok())
                .unwrap_or(0);
            char::from(
                ALPHABET
                    .get(usize::from(byte % 32))
                    .copied()
                    .unwrap_or(b'A'),
            )
        })
        .collect()
}

/// The short links in `l/`, with their targets.
pub(crate) fn list_links(root: &Path) -> io::Result<Vec<(PathBuf, PathBuf)>> {
    let mut links = Vec::new();
    let entries = match fs::read_dir(root.join("l")) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(links),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        let target = fs::read_link(entry.path()).unwrap_or_default();
        links.push((entry.path(), target));
    }
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_ids_are_short_and_distinct() {
        let digest = Digest::of_bytes(Algorithm::Sha256, b"layer");
        let a = random_link_id(&digest);
        let b = random_link_id(&digest);
        assert_eq!(a.len(), LINK_ID_LEN);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert_ne!(a, b);
    }

    #[test]
    fn declared_compression_without_magic_is_refused() {
        assert!(crate::image::unpack::decoder(&b"plain tar data"[..], Compression::Gzip).is_err());
        let mut plain =
            crate::image::unpack::decoder(&b"plain tar data"[..], Compression::None).unwrap();
        let mut text = String::new();
        plain.read_to_string(&mut text).unwrap();
        assert_eq!(text, "plain tar data");
    }
}
