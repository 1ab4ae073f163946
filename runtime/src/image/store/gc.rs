//! Removing images and collecting what no image references any more.
//!
//! Removal only changes the index; garbage collection then deletes blobs, unpacked layers and
//! short links that no remaining image needs. Collection holds `gc.lock` exclusively, so it
//! waits for running pulls, loads and imports (which hold it shared) and never deletes content
//! they have written but not yet named in the index.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde::Serialize;

use super::images::familiar;
use super::index::IndexFile;
use super::{Store, StoreError, blobs, fsutil, layers, lock};
use crate::image::digest::Digest;
use crate::image::reference::Reference;

/// What [`Store::remove`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RemoveReport {
    /// Names removed (short form), as Docker's `Untagged:` lines.
    pub untagged: Vec<String>,
    /// Image IDs deleted, as Docker's `Deleted:` lines.
    pub deleted: Vec<String>,
    /// What garbage collection freed afterwards.
    pub gc: GcReport,
}

/// Options of [`Store::prune`].
#[derive(Clone, Debug, Default)]
pub struct PruneOptions {
    /// Remove every image not in use, not only dangling (untagged) ones.
    pub all: bool,
    /// IDs of images used by containers; never removed.
    pub in_use: BTreeSet<String>,
}

/// What [`Store::prune`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Names removed (short form).
    pub untagged: Vec<String>,
    /// Image IDs deleted.
    pub deleted: Vec<String>,
    /// What garbage collection freed.
    pub gc: GcReport,
}

/// What garbage collection deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs: usize,
    /// Unpacked layers deleted.
    pub layers: usize,
    /// Bytes freed (blob sizes plus unpacked layer sizes).
    pub reclaimed_bytes: u64,
}

impl Store {
    /// Removes the name `text`, or the image with ID `text`, as `docker rmi` does: a name is
    /// untagged and its image deleted when no name is left; an ID deletes the image and all its
    /// names, which needs `force` when the image is tagged in several repositories. Images in
    /// `in_use` (IDs) are never deleted. Unreferenced content is then collected.
    pub fn remove(
        &self,
        text: &str,
        force: bool,
        in_use: &BTreeSet<String>,
    ) -> Result<RemoveReport, StoreError> {
        let mut report = self.update_index(|index| {
            let mut report = RemoveReport::default();
            let id = index.lookup(text)?.id.clone();
            let tags = index.tags_of(&id);
            let by_name = Reference::parse(text).ok().filter(|r| {
                let canonical = r.to_string();
                tags.contains(&canonical)
                    || index
                        .images
                        .get(&id)
                        .is_some_and(|i| i.repo_digests.contains(&canonical))
            });
            if let Some(reference) = by_name {
                let canonical = reference.to_string();
                let name = reference.name();
                let other_tags: Vec<&String> = tags.iter().filter(|t| **t != canonical).collect();
                if other_tags.is_empty() && in_use.contains(&id) && !force {
                    return Err(StoreError::InUse {
                        text: text.to_owned(),
                        id,
                    });
                }
                if index.tags.remove(&canonical).is_some() {
                    report.untagged.push(familiar(&canonical));
                }
                // The last tag of a repository takes the repository's digest along.
                let repository_left = other_tags
                    .iter()
                    .any(|t| t.rsplit_once(':').is_some_and(|(n, _)| n == name));
                if let Some(record) = index.images.get_mut(&id) {
                    let prefix = format!("{name}@");
                    let before = record.repo_digests.len();
                    record.repo_digests.retain(|d| {
                        *d != canonical && (repository_left || !d.starts_with(&prefix))
                    });
                    if record.repo_digests.len() < before && reference.digest().is_some() {
                        report.untagged.push(familiar(&canonical));
                    }
                }
                if other_tags.is_empty() && !in_use.contains(&id) {
                    delete_image(index, &id, &mut report.untagged);
                    report.deleted.push(id);
                }
                return Ok(report);
            }
            if in_use.contains(&id) {
                return Err(StoreError::InUse {
                    text: text.to_owned(),
                    id,
                });
            }
            let repositories: BTreeSet<String> = tags
                .iter()
                .filter_map(|t| t.rsplit_once(':').map(|(name, _)| name.to_owned()))
                .collect();
            if repositories.len() > 1 && !force {
                return Err(StoreError::Conflict { id });
            }
            delete_image(index, &id, &mut report.untagged);
            report.deleted.push(id);
            Ok(report)
        })?;
        report.gc = self.collect_garbage(false)?;
        Ok(report)
    }

    /// Removes dangling images (no name), or with `all` every image not in use, then collects
    /// unreferenced content including partial downloads.
    pub fn prune(&self, options: &PruneOptions) -> Result<PruneReport, StoreError> {
        let mut report = self.update_index(|index| {
            let mut report = PruneReport::default();
            let doomed: Vec<String> = index
                .images
                .keys()
                .filter(|id| !options.in_use.contains(*id))
                .filter(|id| options.all || index.tags_of(id).is_empty())
                .cloned()
                .collect();
            for id in doomed {
                delete_image(index, &id, &mut report.untagged);
                report.deleted.push(id);
            }
            Ok(report)
        })?;
        report.gc = self.collect_garbage(true)?;
        Ok(report)
    }

    /// Deletes blobs, layers and links no image in the index references, and leftovers of
    /// interrupted writes. With `partials`, partial downloads go too (otherwise they are kept
    /// for the next pull to resume).
    pub fn collect_garbage(&self, partials: bool) -> Result<GcReport, StoreError> {
        let lock_path = self.lock_path("gc");
        let _guard = lock::exclusive(&lock_path)
            .map_err(|source| StoreError::io("locking", &lock_path, source))?;
        let index = self.read_index()?;
        let (keep_blobs, keep_layers) = self.referenced(&index)?;
        let mut report = GcReport::default();
        let root = self.root();
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::io("collecting garbage in", &path, source)
        };

        let listing =
            blobs::list_by_digest(&root.join("blobs")).map_err(io(&root.join("blobs")))?;
        for (digest, path) in listing.present {
            if !keep_blobs.contains(&digest) {
                report.reclaimed_bytes += fs::metadata(&path).map_or(0, |m| m.len());
                fsutil::remove_any(&path).map_err(io(&path))?;
                let _ = fs::remove_file(self.lock_path(&format!(
                    "blob-{}-{}",
                    digest.algorithm(),
                    digest.hex()
                )));
                report.blobs += 1;
            }
        }
        for path in listing.leftovers {
            fsutil::remove_any(&path).map_err(io(&path))?;
        }

        let listing =
            blobs::list_by_digest(&root.join("layers")).map_err(io(&root.join("layers")))?;
        for (diff_id, path) in listing.present {
            if !keep_layers.contains(&diff_id) {
                report.reclaimed_bytes += self.layer_size(&diff_id).unwrap_or(0);
                fsutil::remove_any(&path).map_err(io(&path))?;
                let _ = fs::remove_file(self.lock_path(&format!(
                    "layer-{}-{}",
                    diff_id.algorithm(),
                    diff_id.hex()
                )));
                report.layers += 1;
            }
        }
        for path in listing.leftovers {
            fsutil::remove_any(&path).map_err(io(&path))?;
        }
        // Links whose layer is gone (or never got published).
        for (link, _) in layers::list_links(root).map_err(io(&root.join("l")))? {
            if fs::metadata(&link).is_err() {
                fsutil::remove_any(&link).map_err(io(&link))?;
            }
        }
        let tmp = root.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(io(&tmp))? {
            let entry = entry.map_err(io(&tmp))?;
            fsutil::remove_any(&entry.path()).map_err(io(&entry.path()))?;
        }
        if partials {
            let ingest = root.join("ingest");
            for entry in fs::read_dir(&ingest).map_err(io(&ingest))? {
                let entry = entry.map_err(io(&ingest))?;
                report.reclaimed_bytes += entry.metadata().map_or(0, |m| m.len());
                fsutil::remove_any(&entry.path()).map_err(io(&entry.path()))?;
            }
        }
        Ok(report)
    }

    /// Blobs and layers the images of `index` need.
    fn referenced(
        &self,
        index: &IndexFile,
    ) -> Result<(BTreeSet<Digest>, BTreeSet<Digest>), StoreError> {
        let mut blobs = BTreeSet::new();
        let mut layers = BTreeSet::new();
        for record in index.images.values() {
            let manifest_digest = Digest::parse(&record.manifest)?;
            for repo_digest in &record.repo_digests {
                if let Some(digest) = repo_digest
                    .rsplit_once('@')
                    .and_then(|(_, d)| Digest::parse(d).ok())
                {
                    blobs.insert(digest);
                }
            }
            let manifest = self.load_manifest(&manifest_digest)?;
            blobs.insert(manifest_digest);
            blobs.insert(manifest.config.digest()?);
            for layer in self.image_layers(&manifest)? {
                blobs.insert(layer.blob.digest()?);
                layers.insert(layer.diff_id);
            }
        }
        Ok((blobs, layers))
    }
}

/// Removes the image `id` and every name pointing at it from the index.
fn delete_image(index: &mut IndexFile, id: &str, untagged: &mut Vec<String>) {
    for tag in index.tags_of(id) {
        index.tags.remove(&tag);
        untagged.push(familiar(&tag));
    }
    if let Some(record) = index.images.remove(id) {
        untagged.extend(record.repo_digests.iter().map(|d| familiar(d)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_leftovers_of_interrupted_work() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("images")).unwrap();
        let root = store.root().to_owned();
        let orphan = store.put_blob(b"nobody refers to me").unwrap();
        fs::create_dir_all(root.join("layers/sha256/.tmp-abc-1/diff")).unwrap();
        fs::write(root.join("blobs/sha256/.tmp-def-2"), b"half").unwrap();
        std::os::unix::fs::symlink("../layers/sha256/gone/diff", root.join("l/ABCDEFGHIJKL"))
            .unwrap();
        fs::write(root.join("tmp/.tmp-blob-3"), b"x").unwrap();
        fs::write(root.join("ingest/sha256-00.partial"), b"resume me").unwrap();

        let report = store.collect_garbage(false).unwrap();
        assert_eq!(report.blobs, 1);
        assert!(!store.has_blob(&orphan));
        for gone in [
            "layers/sha256/.tmp-abc-1",
            "blobs/sha256/.tmp-def-2",
            "l/ABCDEFGHIJKL",
            "tmp/.tmp-blob-3",
        ] {
            assert!(fs::symlink_metadata(root.join(gone)).is_err(), "{gone}");
        }
        assert!(
            root.join("ingest/sha256-00.partial").exists(),
            "kept for resuming"
        );
        store.prune(&PruneOptions::default()).unwrap();
        assert!(!root.join("ingest/sha256-00.partial").exists());
    }
}
