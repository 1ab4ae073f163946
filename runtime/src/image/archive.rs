//! Images as files: `save` and `load` (Docker archives, OCI archives and OCI layout
//! directories) and `import` (a root filesystem tarball becomes a one-layer image).
//!
//! A Docker archive as written by `docker save` since Docker 25 is an OCI image layout in a tar
//! (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`) plus Docker's `manifest.json` (per image:
//! `Config`, `RepoTags`, `Layers` as paths into the archive). berth writes that, so that both
//! Docker and OCI tools read it, and keeps the manifests, configurations and layer blobs byte
//! for byte: an image saved and loaded again has the same digests. Loading also accepts older
//! Docker archives (`<id>/layer.tar` and `<id>.json`, `manifest.json` only), OCI archives and
//! layout directories, plain or compressed (gzip, zstd).
//!
//! Archives are untrusted input: only plain files at relative paths are read, blob files must
//! hash to their names, and layers are unpacked by the same safe unpacker as pulled ones.

mod import;
mod load;
mod save;

use std::io;
use std::path::PathBuf;

pub use import::{ImportOptions, import};
pub use load::{LoadedImage, load, load_oci_layout};
pub use save::{ArchiveFormat, save, save_oci_layout};

use crate::image::store::StoreError;

/// The annotation containerd and Docker put the full image name in.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI annotation for the reference (the tag) of an index entry.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Why an archive could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The store failed (or content did not match its digest).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Reading or writing the archive failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done (names the file).
        action: String,
        /// The reason.
        source: io::Error,
    },
    /// The archive is not a valid image archive.
    #[error("invalid image archive: {0}")]
    Invalid(String),
    /// A path named on the command line.
    #[error("{}: {source}", path.display())]
    Path {
        /// The path.
        path: PathBuf,
        /// The reason.
        source: io::Error,
    },
}

impl ArchiveError {
    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> ArchiveError {
        ArchiveError::Io {
            action: action.into(),
            source,
        }
    }
}

/// Runs `work` while holding off garbage collection (content is written before it is named).
pub(crate) fn with_content_guard<T>(
    store: &crate::image::store::Store,
    work: impl FnOnce() -> Result<T, ArchiveError>,
) -> Result<T, ArchiveError> {
    let _guard = store.content_guard()?;
    work()
}
