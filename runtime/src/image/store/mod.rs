//! The content store: images on disk under one state root (berth uses `$BERTH_ROOT/images`).
//!
//! ```text
//! blobs/<alg>/<hex>          verified blobs: manifests, indexes, configurations, layer tars
//! layers/<alg>/<hex>/diff    each layer (by diff ID) unpacked once; `link` and `size` beside
//! l/<ID>                     short symlinks to layer `diff` directories, for overlay mounts
//! index.json                 names and IDs of images -> manifests
//! ingest/                    partial downloads, resumed by the next pull
//! locks/                     lock files (see `lock`)
//! tmp/                       temporary files of load and import
//! ```
//!
//! Every write is atomic (temporary name, fsync, rename), so an interrupted operation leaves
//! nothing that a later one trusts: blobs exist only once verified, layer directories only
//! once completely unpacked and verified, and the index names only images whose content is
//! all present. Several processes may use one store at once (see `lock`).

mod blobs;
mod fsutil;
mod gc;
mod images;
mod index;
mod layers;
mod lock;
pub mod oci;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use blobs::Ingest;
pub use gc::{GcReport, PruneOptions, PruneReport, RemoveReport};
pub use images::{ImageDetails, ImageLayer, ImageSummary, LayerDetails, NewImage};
pub use index::{ImageRecord, IndexFile};
pub use layers::LayerOutcome;
pub use lock::LockGuard;

pub(crate) use fsutil::{rfc3339, temp_path_beside, unix_now};
pub(crate) use images::{familiar as images_familiar, pair_layers};

use crate::image::digest::{Digest, DigestError};
use crate::image::reference::ReferenceError;
use crate::image::unpack::UnpackError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: String,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// A file of the store does not have the expected content.
    #[error("image store file {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Content did not match its digest or size.
    #[error("{0}")]
    Digest(#[from] DigestError),
    /// A layer could not be unpacked.
    #[error("unpacking layer {diff_id}: {source}")]
    Unpack {
        /// The layer's uncompressed digest.
        diff_id: Digest,
        /// Why.
        source: UnpackError,
    },
    /// No image has this name or ID.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// An ID prefix matches several images.
    #[error("{text:?} matches {count} images; give more of the image ID")]
    Ambiguous {
        /// The prefix.
        text: String,
        /// How many images matched.
        count: usize,
    },
    /// A name is not a valid reference.
    #[error("{0}")]
    Reference(#[from] ReferenceError),
    /// An image's documents are inconsistent or unsupported.
    #[error("image {image}: {reason}")]
    InvalidImage {
        /// The image (name, ID or digest).
        image: String,
        /// What is wrong.
        reason: String,
    },
    /// Removing the image needs `force`.
    #[error(
        "conflict: unable to delete {id} (must be forced) - image is referenced in multiple repositories"
    )]
    Conflict {
        /// The image ID.
        id: String,
    },
    /// The image is used by a container.
    #[error("conflict: unable to remove {text}: image {id} is in use by a container")]
    InUse {
        /// The name or ID given.
        text: String,
        /// The image ID.
        id: String,
    },
}

impl StoreError {
    pub(crate) fn io(action: &str, path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            action: action.to_owned(),
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn unpack(diff_id: &Digest, source: UnpackError) -> StoreError {
        StoreError::Unpack {
            diff_id: diff_id.clone(),
            source,
        }
    }

    pub(crate) fn invalid(image: impl Into<String>, reason: impl Into<String>) -> StoreError {
        StoreError::InvalidImage {
            image: image.into(),
            reason: reason.into(),
        }
    }
}

/// An image store rooted at one directory.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        for dir in [
            "blobs/sha256",
            "blobs/sha512",
            "layers/sha256",
            "layers/sha512",
            "l",
            "ingest",
            "locks",
            "tmp",
        ] {
            let path = root.join(dir);
            fs::create_dir_all(&path)
                .map_err(|source| StoreError::io("creating", &path, source))?;
        }
        // Absolute, so that short layer links and mount options stay valid whatever the
        // current directory.
        let root =
            fs::canonicalize(&root).map_err(|source| StoreError::io("resolving", &root, source))?;
        Ok(Store { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn lock_path(&self, name: &str) -> PathBuf {
        self.root.join("locks").join(format!("{name}.lock"))
    }

    /// Holds off garbage collection while content is being added: every operation that
    /// writes blobs or layers before referencing them from the index holds this guard.
    pub fn content_guard(&self) -> Result<LockGuard, StoreError> {
        let path = self.lock_path("gc");
        lock::shared(&path).map_err(|source| StoreError::io("locking", &path, source))
    }

    /// A fresh temporary path under `tmp/` (not yet created).
    pub fn temp_path(&self, what: &str) -> PathBuf {
        temp_path_beside(&self.root.join("tmp").join(what))
    }
}
