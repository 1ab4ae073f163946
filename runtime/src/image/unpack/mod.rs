//! Unpacking image layers into directories, treating every layer as hostile input.
//!
//! A layer is a (possibly compressed) tar stream. [`unpack_layer`] writes it below one
//! directory and guarantees that nothing is created, changed or removed outside it: absolute
//! paths, `..` that climbs out, symlinks (from the same layer) on the way that lead out, and hard
//! links to targets outside are all refused with an error naming the entry. Paths are resolved
//! with `openat(O_NOFOLLOW)` from the layer directory, one component at a time (see `path`).
//!
//! What is kept: regular files, directories, symlinks (target text verbatim, since it is
//! resolved inside the container), hard links, character and block devices, fifos, ownership,
//! modes including setuid/setgid/sticky, modification times and `SCHILY.xattr.*` extended
//! attributes. AUFS whiteouts become overlayfs whiteouts (see `whiteout`), so that unpacked
//! layers can be stacked as overlay lower directories.
//!
//! Ownership is applied only when running as root; otherwise files belong to the caller, as
//! with GNU tar run by an ordinary user. Extended attributes named `trusted.overlay.*` other than
//! `opaque` are skipped: they would let a layer forge overlayfs redirects and metacopy origins.

mod compression;
mod header;
mod path;
mod whiteout;
mod write;

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

pub use compression::Compression;
pub(crate) use compression::decoder;

/// Counts of what one layer created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Regular files written.
    pub files: u64,
    /// Directories created or updated.
    pub directories: u64,
    /// Symbolic links created.
    pub symlinks: u64,
    /// Hard links created.
    pub hard_links: u64,
    /// Character and block devices created (whiteouts not included).
    pub devices: u64,
    /// Named pipes created.
    pub fifos: u64,
    /// Overlay whiteouts created for `.wh.NAME` entries.
    pub whiteouts: u64,
    /// Directories marked opaque by `.wh..wh..opq` entries.
    pub opaque_directories: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Entries that create nothing: PAX global headers, AUFS bookkeeping.
    pub skipped_entries: u64,
    /// Extended attributes not applied (unsupported by the filesystem, or reserved to overlayfs).
    pub skipped_xattrs: u64,
}

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The destination directory cannot be opened.
    #[error("cannot open layer destination {}: {source}", path.display())]
    Destination {
        /// The destination given.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// A media type that is not a layer type we can read.
    #[error("unsupported layer media type {0:?}")]
    MediaType(String),
    /// Data declared compressed does not start with the magic bytes of any known compression.
    #[error(
        "layer declared {declared}-compressed, but its data is not compressed in any known format"
    )]
    CompressionMismatch {
        /// The compression declared.
        declared: Compression,
    },
    /// The stream could not be read, decompressed or parsed as tar.
    #[error("reading layer: {0}")]
    Read(#[source] io::Error),
    /// An entry tried to write outside the layer directory.
    #[error("layer entry {entry:?} refused: {reason}")]
    Refused {
        /// The entry's path as written in the archive.
        entry: String,
        /// How it would have escaped.
        reason: String,
    },
    /// An entry is malformed or cannot be represented.
    #[error("layer entry {entry:?} is invalid: {reason}")]
    Invalid {
        /// The entry's path as written in the archive.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The filesystem refused to create an entry.
    #[error("layer entry {entry:?}: {action}: {source}")]
    Io {
        /// The entry's path as written in the archive.
        entry: String,
        /// What was being done.
        action: String,
        /// The operating system's reason.
        source: io::Error,
    },
}

/// Unpacks one layer read from `reader` into the existing directory `dest`.
///
/// `compression` is what the manifest declares (see [`Compression::from_media_type`]); the
/// data's magic bytes take precedence, as in Docker. Later entries replace earlier ones of the
/// same path as tar extraction does (a directory over a directory keeps its content). After
/// the last entry the rest of the stream is read, so that a wrapping
/// [`VerifyingReader`](crate::image::VerifyingReader) sees all of it.
pub fn unpack_layer(
    reader: impl Read,
    compression: Compression,
    dest: &Path,
) -> Result<UnpackStats, UnpackError> {
    let root = rustix::fs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| UnpackError::Destination {
        path: dest.to_owned(),
        source: errno.into(),
    })?;
    let stream = compression::decoder(reader, compression)?;
    let mut archive = tar::Archive::new(stream);
    let mut unpacker = write::Unpacker::new(path::Tree::new(root));
    for entry in archive.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        let entry_header = header::read_header(&mut entry)?;
        unpacker.unpack_entry(&entry_header, &mut entry)?;
    }
    let stats = unpacker.finish();
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(UnpackError::Read)?;
    Ok(stats)
}
