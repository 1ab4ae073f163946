//! Writing images out: an OCI layout (in a tar, or as a directory) with, for Docker archives,
//! Docker's `manifest.json` beside it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, ArchiveError};
use crate::image::digest::Digest;
use crate::image::reference::Reference;
use crate::image::store::images_familiar;
use crate::image::store::oci::{Descriptor, Index, OCI_INDEX};
use crate::image::store::{ImageRecord, Store};

/// What kind of archive to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ArchiveFormat {
    /// `docker save`'s format: an OCI layout plus `manifest.json`, in a tar.
    #[default]
    Docker,
    /// An OCI image layout in a tar (`oci-archive`).
    OciArchive,
}

/// One image to write, with the names to record for it.
struct Selected {
    record: ImageRecord,
    manifest: Digest,
    /// Canonical `name:tag` references.
    tags: Vec<String>,
}

/// Docker's `manifest.json` entry.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// Where the files of a layout go.
enum Sink<W: Write> {
    Tar(tar::Builder<W>),
    Dir(PathBuf),
}

impl<W: Write> Sink<W> {
    fn add_bytes(&mut self, path: &str, data: &[u8]) -> Result<(), ArchiveError> {
        match self {
            Sink::Tar(builder) => {
                let mut header = file_header(data.len() as u64);
                builder
                    .append_data(&mut header, path, data)
                    .map_err(|e| ArchiveError::io(format!("writing {path} to the archive"), e))
            }
            Sink::Dir(root) => {
                let target = root.join(path);
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|source| ArchiveError::Path {
                        path: parent.to_owned(),
                        source,
                    })?;
                }
                fs::write(&target, data).map_err(|source| ArchiveError::Path {
                    path: target,
                    source,
                })
            }
        }
    }

    fn add_file(&mut self, path: &str, source: &Path) -> Result<(), ArchiveError> {
        let mut file = File::open(source).map_err(|e| ArchiveError::Path {
            path: source.to_owned(),
            source: e,
        })?;
        match self {
            Sink::Tar(builder) => {
                let size = file
                    .metadata()
                    .map_err(|e| ArchiveError::Path {
                        path: source.to_owned(),
                        source: e,
                    })?
                    .len();
                let mut header = file_header(size);
                builder
                    .append_data(&mut header, path, &mut file)
                    .map_err(|e| ArchiveError::io(format!("writing {path} to the archive"), e))
            }
            Sink::Dir(root) => {
                let target = root.join(path);
                if target.exists() {
                    return Ok(());
                }
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|source| ArchiveError::Path {
                        path: parent.to_owned(),
                        source,
                    })?;
                }
                let mut out = File::create(&target).map_err(|source| ArchiveError::Path {
                    path: target.clone(),
                    source,
                })?;
                io::copy(&mut file, &mut out).map_err(|source| ArchiveError::Path {
                    path: target,
                    source,
                })?;
                Ok(())
            }
        }
    }
}

fn file_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(size);
    header.set_mtime(0);
    header
}

/// Writes the images named in `images` (names or IDs) to `out` as a tar archive.
pub fn save(
    store: &Store,
    images: &[&str],
    format: ArchiveFormat,
    out: impl Write,
) -> Result<(), ArchiveError> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    let mut sink = Sink::Tar(builder);
    write_layout(store, images, format == ArchiveFormat::Docker, &mut sink)?;
    match sink {
        Sink::Tar(builder) => builder
            .into_inner()
            .and_then(|mut out| out.flush())
            .map_err(|e| ArchiveError::io("finishing the archive", e)),
        Sink::Dir(_) => Ok(()),
    }
}

/// Writes the images as an OCI image layout directory `dir` (created if missing).
pub fn save_oci_layout(store: &Store, images: &[&str], dir: &Path) -> Result<(), ArchiveError> {
    fs::create_dir_all(dir).map_err(|source| ArchiveError::Path {
        path: dir.to_owned(),
        source,
    })?;
    let mut sink: Sink<io::Sink> = Sink::Dir(dir.to_owned());
    write_layout(store, images, false, &mut sink)
}

fn select(store: &Store, images: &[&str]) -> Result<Vec<Selected>, ArchiveError> {
    let index = store.read_index()?;
    let mut selected: Vec<Selected> = Vec::new();
    for text in images {
        let record = index.lookup(text)?.clone();
        // A name saves that name; an ID saves the image without names, as Docker does.
        let tag = Reference::parse(text)
            .ok()
            .filter(|r| r.digest().is_none())
            .map(|r| r.to_string())
            .filter(|canonical| index.tags.get(canonical) == Some(&record.id));
        let manifest =
            Digest::parse(&record.manifest).map_err(crate::image::store::StoreError::from)?;
        match selected.iter_mut().find(|s| s.record.id == record.id) {
            Some(existing) => existing.tags.extend(tag),
            None => selected.push(Selected {
                record,
                manifest,
                tags: tag.into_iter().collect(),
            }),
        }
    }
    Ok(selected)
}

fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}

fn write_layout<W: Write>(
    store: &Store,
    images: &[&str],
    docker_manifest: bool,
    sink: &mut Sink<W>,
) -> Result<(), ArchiveError> {
    let selected = select(store, images)?;
    sink.add_bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    let mut entries: Vec<Descriptor> = Vec::new();
    let mut docker_entries = Vec::new();
    for image in &selected {
        let manifest = store.load_manifest(&image.manifest)?;
        let layers = store.image_layers(&manifest)?;
        let config = manifest
            .config
            .digest()
            .map_err(crate::image::store::StoreError::from)?;
        let mut blobs = vec![image.manifest.clone(), config.clone()];
        for layer in &layers {
            blobs.push(
                layer
                    .blob
                    .digest()
                    .map_err(crate::image::store::StoreError::from)?,
            );
        }
        for digest in blobs {
            if written.insert(digest.clone()) {
                sink.add_file(&blob_path(&digest), &store.blob_path(&digest))?;
            }
        }
        let manifest_size = fs::metadata(store.blob_path(&image.manifest))
            .map_err(|source| ArchiveError::Path {
                path: store.blob_path(&image.manifest),
                source,
            })?
            .len();
        let descriptor = |annotations: Option<BTreeMap<String, String>>| Descriptor {
            media_type: image.record.manifest_media_type.clone(),
            digest: image.manifest.to_string(),
            size: manifest_size,
            annotations,
            ..Descriptor::default()
        };
        if image.tags.is_empty() {
            entries.push(descriptor(None));
        }
        for tag in &image.tags {
            let mut annotations = BTreeMap::new();
            annotations.insert(ANNOTATION_IMAGE_NAME.to_owned(), tag.clone());
            if let Some((_, short)) = tag.rsplit_once(':') {
                annotations.insert(ANNOTATION_REF_NAME.to_owned(), short.to_owned());
            }
            entries.push(descriptor(Some(annotations)));
        }
        docker_entries.push(DockerManifestEntry {
            config: blob_path(&config),
            repo_tags: image.tags.iter().map(|t| images_familiar(t)).collect(),
            layers: layers
                .iter()
                .map(|l| l.blob.digest().map(|d| blob_path(&d)))
                .collect::<Result<_, _>>()
                .map_err(crate::image::store::StoreError::from)?,
        });
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(OCI_INDEX.to_owned()),
        manifests: entries,
        annotations: None,
    };
    let index_json =
        serde_json::to_vec(&index).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
    sink.add_bytes("index.json", &index_json)?;
    if docker_manifest {
        let manifest_json = serde_json::to_vec(&docker_entries)
            .map_err(|e| ArchiveError::Invalid(e.to_string()))?;
        sink.add_bytes("manifest.json", &manifest_json)?;
    }
    Ok(())
}
