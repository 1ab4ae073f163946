//! Reading images in: Docker archives (current and legacy), OCI archives and OCI layout
//! directories.
//!
//! A tar archive is read once, front to back: blob files go straight into the store (verified
//! against their names), small documents are kept in memory, and only then are the images
//! resolved, since `index.json` and `manifest.json` may come after the blobs.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path};

use serde::Deserialize;

use super::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, ArchiveError, with_content_guard};
use crate::image::digest::{Algorithm, Digest};
use crate::image::reference::Reference;
use crate::image::registry::{Platform, select_manifest};
use crate::image::store::oci::{
    self, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, Descriptor, DocumentKind, Index,
    Manifest, OCI_LAYER_ZSTD,
};
use crate::image::store::{NewImage, Store, StoreError, images_familiar};
use crate::image::unpack::Compression;

/// Largest document (JSON) read into memory from an archive.
const MAX_DOCUMENT: u64 = 64 << 20;
/// Legacy archives may use symlinks for repeated layers; chains longer than this are refused.
const MAX_LINK_DEPTH: usize = 8;

/// An image that was loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedImage {
    /// The image ID.
    pub id: String,
    /// Its names (short form), as Docker prints `Loaded image: ...`.
    pub tags: Vec<String>,
}

/// What an archive holds, by path.
#[derive(Default)]
struct Contents {
    /// JSON documents.
    documents: BTreeMap<String, Vec<u8>>,
    /// Files stored as blobs.
    blobs: BTreeMap<String, Digest>,
    /// Symlinks: path to target path.
    links: BTreeMap<String, String>,
}

impl Contents {
    fn resolve_path(&self, path: &str) -> Result<String, ArchiveError> {
        let mut current = path.to_owned();
        for _ in 0..MAX_LINK_DEPTH {
            match self.links.get(&current) {
                Some(target) => current = target.clone(),
                None => return Ok(current),
            }
        }
        Err(ArchiveError::Invalid(format!(
            "too many symlinks at {path}"
        )))
    }

    fn blob_at(&self, path: &str) -> Result<Digest, ArchiveError> {
        let path = self.resolve_path(path)?;
        self.blobs
            .get(&path)
            .cloned()
            .ok_or_else(|| ArchiveError::Invalid(format!("{path} is missing from the archive")))
    }
}

/// `docker manifest.json` entry.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// A path inside an archive, normalized (`./`, empty components and `x/..` resolved):
/// `Ok(None)` for the archive root itself, an error for absolute paths and `..` that climbs
/// out of the archive.
fn clean_path(raw: &Path) -> Result<Option<String>, ArchiveError> {
    let escape = || ArchiveError::Invalid(format!("entry {} escapes the archive", raw.display()));
    let mut parts: Vec<String> = Vec::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => parts.push(
                part.to_str()
                    .ok_or_else(|| {
                        ArchiveError::Invalid(format!("entry {} is not UTF-8", raw.display()))
                    })?
                    .to_owned(),
            ),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop().ok_or_else(escape)?;
            }
            Component::RootDir | Component::Prefix(_) => return Err(escape()),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// `blobs/<alg>/<hex>` paths name their digest.
fn blob_name(path: &str) -> Option<Result<Digest, String>> {
    let rest = path.strip_prefix("blobs/")?;
    let (algorithm, hex) = rest.split_once('/')?;
    Some(match Algorithm::from_name(algorithm) {
        Some(algorithm) => Digest::new(algorithm, hex).map_err(|e| e.to_string()),
        None => Err(format!("unsupported digest algorithm in {path}")),
    })
}

/// Wraps `reader` in a decompressor if the data is gzip or zstd.
pub(super) fn decompressed_stream<'a>(
    reader: impl Read + 'a,
) -> Result<Box<dyn Read + 'a>, ArchiveError> {
    let mut buffered = BufReader::with_capacity(1 << 20, reader);
    let head = buffered
        .fill_buf()
        .map_err(|e| ArchiveError::io("reading the archive", e))?;
    Ok(match Compression::detect(head) {
        Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(buffered)),
        Some(Compression::Zstd) => Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(|e| ArchiveError::io("reading the archive", e))?,
        ),
        _ => Box::new(buffered),
    })
}

/// Loads every image of a tar archive (plain, gzip or zstd) from `reader`.
pub fn load(store: &Store, reader: impl Read) -> Result<Vec<LoadedImage>, ArchiveError> {
    with_content_guard(store, || {
        let mut archive = tar::Archive::new(decompressed_stream(reader)?);
        let mut contents = Contents::default();
        let entries = archive
            .entries()
            .map_err(|e| ArchiveError::io("reading the archive", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| ArchiveError::io("reading the archive", e))?;
            let raw = entry
                .path()
                .map_err(|e| ArchiveError::io("reading the archive", e))?
                .into_owned();
            let Some(path) = clean_path(&raw)? else {
                continue;
            };
            let kind = entry.header().entry_type();
            if kind.is_symlink() {
                let target = entry
                    .link_name()
                    .map_err(|e| ArchiveError::io("reading the archive", e))?
                    .unwrap_or_default();
                let parent = Path::new(&path).parent().unwrap_or(Path::new(""));
                let joined = if target.is_absolute() {
                    None
                } else {
                    clean_path(&parent.join(&target))?
                };
                let Some(resolved) = joined else {
                    return Err(ArchiveError::Invalid(format!(
                        "symlink {path} leaves the archive"
                    )));
                };
                contents.links.insert(path, resolved);
                continue;
            }
            if !(kind.is_file() || kind == tar::EntryType::Continuous) {
                continue;
            }
            add_file(store, &mut contents, path, entry.size(), &mut entry)?;
        }
        resolve_and_record(store, &contents)
    })
}

/// Loads every image of the OCI image layout directory `dir`.
pub fn load_oci_layout(store: &Store, dir: &Path) -> Result<Vec<LoadedImage>, ArchiveError> {
    with_content_guard(store, || {
        let mut contents = Contents::default();
        let index = dir.join("index.json");
        let data = fs::read(&index).map_err(|source| ArchiveError::Path {
            path: index,
            source,
        })?;
        contents.documents.insert("index.json".to_owned(), data);
        let blobs = dir.join("blobs");
        let algorithms = fs::read_dir(&blobs).map_err(|source| ArchiveError::Path {
            path: blobs.clone(),
            source,
        })?;
        for algorithm in algorithms {
            let algorithm = algorithm.map_err(|source| ArchiveError::Path {
                path: blobs.clone(),
                source,
            })?;
            let files = fs::read_dir(algorithm.path()).map_err(|source| ArchiveError::Path {
                path: algorithm.path(),
                source,
            })?;
            for file in files {
                let file = file.map_err(|source| ArchiveError::Path {
                    path: algorithm.path(),
                    source,
                })?;
                let meta =
                    fs::symlink_metadata(file.path()).map_err(|source| ArchiveError::Path {
                        path: file.path(),
                        source,
                    })?;
                if !meta.is_file() {
                    continue;
                }
                let path = format!(
                    "blobs/{}/{}",
                    algorithm.file_name().to_string_lossy(),
                    file.file_name().to_string_lossy()
                );
                let mut reader =
                    fs::File::open(file.path()).map_err(|source| ArchiveError::Path {
                        path: file.path(),
                        source,
                    })?;
                add_file(store, &mut contents, path, meta.len(), &mut reader)?;
            }
        }
        resolve_and_record(store, &contents)
    })
}

/// Takes one file of an archive: a blob into the store, a document into memory.
fn add_file(
    store: &Store,
    contents: &mut Contents,
    path: String,
    size: u64,
    reader: &mut dyn Read,
) -> Result<(), ArchiveError> {
    if let Some(named) = blob_name(&path) {
        let named = named.map_err(ArchiveError::Invalid)?;
        let (actual, _) = store.put_blob_from_reader(named.algorithm(), reader)?;
        if actual != named {
            return Err(ArchiveError::Invalid(format!("{path} has digest {actual}")));
        }
        contents.blobs.insert(path, actual);
    } else if path.ends_with(".json") || path == "oci-layout" || path == "repositories" {
        if size > MAX_DOCUMENT {
            return Err(ArchiveError::Invalid(format!(
                "{path} is {size} bytes, too large"
            )));
        }
        let mut data = Vec::new();
        reader
            .take(MAX_DOCUMENT)
            .read_to_end(&mut data)
            .map_err(|e| ArchiveError::io(format!("reading {path}"), e))?;
        contents.documents.insert(path, data);
    } else {
        // Legacy layer tarballs (`<id>/layer.tar`) and anything else the manifests may name.
        let (digest, _) = store.put_blob_from_reader(Algorithm::Sha256, reader)?;
        contents.blobs.insert(path, digest);
    }
    Ok(())
}

/// One image found in the archive.
struct Found {
    manifest: Digest,
    names: Vec<Reference>,
}

fn resolve_and_record(
    store: &Store,
    contents: &Contents,
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let docker_entries: Vec<DockerManifestEntry> = match contents.documents.get("manifest.json") {
        Some(data) => serde_json::from_slice(data)
            .map_err(|e| ArchiveError::Invalid(format!("manifest.json: {e}")))?,
        None => Vec::new(),
    };
    let mut found: Vec<Found> = Vec::new();
    if let Some(data) = contents.documents.get("index.json") {
        let index: Index = serde_json::from_slice(data)
            .map_err(|e| ArchiveError::Invalid(format!("index.json: {e}")))?;
        for entry in &index.manifests {
            let manifest = resolve_entry(store, entry)?;
            let mut names = Vec::new();
            if let Some(annotations) = &entry.annotations {
                let name = annotations.get(ANNOTATION_IMAGE_NAME).or_else(|| {
                    annotations
                        .get(ANNOTATION_REF_NAME)
                        .filter(|r| r.contains(['/', ':']))
                });
                if let Some(reference) = name.and_then(|n| Reference::parse(n).ok()) {
                    names.push(reference);
                }
            }
            match found.iter_mut().find(|f| f.manifest == manifest) {
                Some(existing) => existing.names.extend(names),
                None => found.push(Found { manifest, names }),
            }
        }
        // Docker's manifest.json may name images the index leaves unnamed.
        for image in &mut found {
            let config = store
                .load_manifest(&image.manifest)?
                .config
                .digest()
                .map_err(StoreError::from)?;
            for entry in &docker_entries {
                if contents.blob_at(&entry.config).ok().as_ref() == Some(&config) {
                    image.names.extend(parse_tags(entry.repo_tags.as_deref()));
                }
            }
        }
    } else if !docker_entries.is_empty() {
        for entry in &docker_entries {
            let manifest = legacy_manifest(store, contents, entry)?;
            found.push(Found {
                manifest,
                names: parse_tags(entry.repo_tags.as_deref()),
            });
        }
    } else {
        return Err(ArchiveError::Invalid(
            "neither index.json nor manifest.json found: not an image archive".to_owned(),
        ));
    }

    let mut loaded = Vec::new();
    for image in found {
        let manifest = store.load_manifest(&image.manifest)?;
        for layer in store.image_layers(&manifest)? {
            let blob = layer.blob.digest().map_err(StoreError::from)?;
            if !store.has_blob(&blob) {
                return Err(ArchiveError::Invalid(format!(
                    "layer {blob} is missing from the archive"
                )));
            }
            let compression = Compression::from_media_type(&layer.blob.media_type)
                .map_err(|e| ArchiveError::Invalid(e.to_string()))?;
            store.ensure_layer(&layer.diff_id, &blob, compression)?;
        }
        let mut names = image.names;
        names.sort_by_key(|r| r.to_string());
        names.dedup();
        let record = store.record_image(NewImage {
            manifest: image.manifest,
            repo_digest: None,
            tags: names.clone(),
            pulled: false,
        })?;
        loaded.push(LoadedImage {
            id: record.id,
            tags: names
                .iter()
                .map(|r| images_familiar(&r.to_string()))
                .collect(),
        });
    }
    Ok(loaded)
}

fn parse_tags(tags: Option<&[String]>) -> Vec<Reference> {
    tags.unwrap_or_default()
        .iter()
        .filter_map(|t| Reference::parse(t).ok())
        .filter(|r| r.digest().is_none())
        .collect()
}

/// The manifest an index entry stands for: itself, or (for a nested index) the host
/// platform's entry.
fn resolve_entry(store: &Store, entry: &Descriptor) -> Result<Digest, ArchiveError> {
    let digest = entry.digest().map_err(StoreError::from)?;
    let body = store.read_blob(&digest).map_err(|_| {
        ArchiveError::Invalid(format!("manifest {digest} is missing from the archive"))
    })?;
    match oci::classify(Some(&entry.media_type), &body).map_err(ArchiveError::Invalid)? {
        DocumentKind::Manifest => Ok(digest),
        DocumentKind::Index => {
            let nested: Index = serde_json::from_slice(&body)
                .map_err(|e| ArchiveError::Invalid(format!("index {digest}: {e}")))?;
            let host = Platform::host();
            let chosen = select_manifest(&nested, &host).ok_or_else(|| {
                ArchiveError::Invalid(format!("index {digest} has no manifest for {host}"))
            })?;
            let chosen_digest = chosen.digest().map_err(StoreError::from)?;
            let chosen_body = store.read_blob(&chosen_digest).map_err(|_| {
                ArchiveError::Invalid(format!(
                    "manifest {chosen_digest} is missing from the archive"
                ))
            })?;
            if oci::classify(Some(&chosen.media_type), &chosen_body)
                .map_err(ArchiveError::Invalid)?
                != DocumentKind::Manifest
            {
                return Err(ArchiveError::Invalid(format!(
                    "index {digest} nests indexes too deeply"
                )));
            }
            Ok(chosen_digest)
        }
    }
}

/// Builds (and stores) a Docker manifest for a legacy `manifest.json` entry.
fn legacy_manifest(
    store: &Store,
    contents: &Contents,
    entry: &DockerManifestEntry,
) -> Result<Digest, ArchiveError> {
    let config_path = contents.resolve_path(&entry.config)?;
    let config = match contents.documents.get(&config_path) {
        Some(data) => store.put_blob(data)?,
        None => contents.blob_at(&config_path)?,
    };
    let config_size = fs::metadata(store.blob_path(&config))
        .map_err(|source| ArchiveError::Path {
            path: store.blob_path(&config),
            source,
        })?
        .len();
    let mut layers = Vec::new();
    for path in &entry.layers {
        let digest = contents.blob_at(path)?;
        let blob_path = store.blob_path(&digest);
        let mut head = [0u8; 4];
        let mut file = fs::File::open(&blob_path).map_err(|source| ArchiveError::Path {
            path: blob_path.clone(),
            source,
        })?;
        let read = file.read(&mut head).map_err(|source| ArchiveError::Path {
            path: blob_path.clone(),
            source,
        })?;
        let media_type = match Compression::detect(head.get(..read).unwrap_or_default()) {
            Some(Compression::Gzip) => DOCKER_LAYER_GZIP,
            Some(Compression::Zstd) => OCI_LAYER_ZSTD,
            _ => "application/vnd.docker.image.rootfs.diff.tar",
        };
        let size = file
            .metadata()
            .map_err(|source| ArchiveError::Path {
                path: blob_path,
                source,
            })?
            .len();
        layers.push(Descriptor {
            media_type: media_type.to_owned(),
            digest: digest.to_string(),
            size,
            ..Descriptor::default()
        });
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(DOCKER_MANIFEST.to_owned()),
        config: Descriptor {
            media_type: DOCKER_CONFIG.to_owned(),
            digest: config.to_string(),
            size: config_size,
            ..Descriptor::default()
        },
        layers,
        annotations: None,
    };
    let body = serde_json::to_vec(&manifest).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
    Ok(store.put_blob(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let clean = |p: &str| clean_path(Path::new(p)).map_err(|e| e.to_string());
        assert_eq!(
            clean("./blobs/sha256/ab"),
            Ok(Some("blobs/sha256/ab".to_owned()))
        );
        assert_eq!(clean("a//b"), Ok(Some("a/b".to_owned())));
        assert_eq!(
            clean("b/../a/layer.tar"),
            Ok(Some("a/layer.tar".to_owned()))
        );
        assert_eq!(clean("./"), Ok(None));
        for bad in ["../x", "/etc/passwd", "a/../../x"] {
            assert!(clean(bad).unwrap_err().contains("escapes"), "{bad}");
        }
        assert!(blob_name("blobs/sha256/xyz").unwrap().is_err());
        assert!(blob_name("blobs/md5/abc").unwrap().is_err());
        assert!(blob_name("abc/layer.tar").is_none());
    }
}
