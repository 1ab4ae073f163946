//! Content-addressed blobs (`blobs/<alg>/<hex>`) and their ingestion.
//!
//! A blob file exists under its digest only once its content has been verified against that
//! digest and synced, so its presence alone makes it trustworthy. Downloads go through an
//! [`Ingest`]: a partial file `ingest/<alg>-<hex>.partial` that survives an interrupted
//! transfer, so that the next attempt continues from where the last one stopped. The partial
//! file is never trusted: on resume its bytes are re-hashed, and the whole content is verified
//! before it is published.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::fsutil;
use super::lock::{self, LockGuard};
use super::{Store, StoreError};
use crate::image::digest::{Algorithm, Digest, Digester};

impl Store {
    /// Where the blob `digest` lives (whether or not it is present).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root()
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    /// Whether the blob `digest` is present (and therefore verified).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a whole (small) blob: manifests, indexes, configurations.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        fs::read(&path).map_err(|source| StoreError::io("reading blob", &path, source))
    }

    /// Stores `data`, which must hash to `expected`.
    pub fn write_blob(&self, expected: &Digest, data: &[u8]) -> Result<(), StoreError> {
        let actual = Digest::of_bytes(expected.algorithm(), data);
        if &actual != expected {
            return Err(StoreError::Digest(crate::image::DigestError::Mismatch {
                expected: expected.clone(),
                actual,
            }));
        }
        let path = self.blob_path(expected);
        if path.is_file() {
            return Ok(());
        }
        fsutil::write_atomic(&path, data)
            .map_err(|source| StoreError::io("writing blob", &path, source))
    }

    /// Stores `data` under its SHA-256 digest, which is returned.
    pub fn put_blob(&self, data: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of_bytes(Algorithm::Sha256, data);
        self.write_blob(&digest, data)?;
        Ok(digest)
    }

    /// Copies a stream of unknown digest into the store, hashed with `algorithm`, returning its
    /// digest and size. Used by load and import, where content arrives without a digest to
    /// check beforehand.
    pub fn put_blob_from_reader(
        &self,
        algorithm: Algorithm,
        reader: &mut dyn Read,
    ) -> Result<(Digest, u64), StoreError> {
        let temp = fsutil::temp_path_beside(&self.root().join("tmp").join("blob"));
        let result = (|| {
            let mut file =
                File::create(&temp).map_err(|source| StoreError::io("creating", &temp, source))?;
            let mut digester = Digester::new(algorithm);
            let mut buffer = vec![0u8; 256 * 1024];
            let mut size = 0u64;
            loop {
                let n = match reader.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Err(source) => return Err(StoreError::io("reading", &temp, source)),
                };
                let chunk = buffer.get(..n).unwrap_or_default();
                digester.update(chunk);
                file.write_all(chunk)
                    .map_err(|source| StoreError::io("writing", &temp, source))?;
                size += n as u64;
            }
            file.sync_all()
                .map_err(|source| StoreError::io("syncing", &temp, source))?;
            let digest = digester.finish();
            let path = self.blob_path(&digest);
            fsutil::publish(&temp, &path)
                .map_err(|source| StoreError::io("publishing blob", &path, source))?;
            Ok((digest, size))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Starts (or resumes) the download of blob `digest` of `size` bytes. Waits while another
    /// process downloads the same blob. Returns `None` when the blob is already present.
    pub fn begin_ingest(&self, digest: &Digest, size: u64) -> Result<Option<Ingest>, StoreError> {
        let lock_path = self.lock_path(&format!("blob-{}-{}", digest.algorithm(), digest.hex()));
        let guard = lock::exclusive(&lock_path)
            .map_err(|source| StoreError::io("locking", &lock_path, source))?;
        if self.has_blob(digest) {
            return Ok(None);
        }
        let partial = self.root().join("ingest").join(format!(
            "{}-{}.partial",
            digest.algorithm(),
            digest.hex()
        ));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&partial)
            .map_err(|source| StoreError::io("opening", &partial, source))?;
        let mut ingest = Ingest {
            store_blob: self.blob_path(digest),
            partial,
            digester: Digester::new(digest.algorithm()),
            offset: 0,
            expected: digest.clone(),
            size,
            _lock: guard,
            file: None,
        };
        // Re-hash what an earlier attempt left, so the download can continue after it.
        let existing = file
            .metadata()
            .map_err(|source| StoreError::io("reading", &ingest.partial, source))?
            .len();
        if existing > size {
            ingest.truncate(&file)?;
        } else if existing > 0 {
            let mut buffer = vec![0u8; 256 * 1024];
            let mut remaining = existing;
            while remaining > 0 {
                let want = usize::try_from(remaining.min(buffer.len() as u64)).unwrap_or(0);
                let chunk = buffer.get_mut(..want).unwrap_or_default();
                file.read_exact(chunk)
                    .map_err(|source| StoreError::io("reading", &ingest.partial, source))?;
                ingest.digester.update(chunk);
                remaining -= want as u64;
            }
            ingest.offset = existing;
        }
        file.seek(SeekFrom::End(0))
            .map_err(|source| StoreError::io("seeking", &ingest.partial, source))?;
        ingest.file = Some(file);
        Ok(Some(ingest))
    }
}

/// A blob being downloaded; holds the blob's lock until dropped or committed.
pub struct Ingest {
    partial: PathBuf,
    store_blob: PathBuf,
    file: Option<File>,
    digester: Digester,
    offset: u64,
    expected: Digest,
    size: u64,
    _lock: LockGuard,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("digest", &self.expected)
            .field("offset", &self.offset)
            .field("size", &self.size)
            .finish()
    }
}

impl Ingest {
    /// How many bytes are already there (the offset to resume from).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The expected size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The expected digest.
    pub fn digest(&self) -> &Digest {
        &self.expected
    }

    fn truncate(&mut self, file: &File) -> Result<(), StoreError> {
        file.set_len(0)
            .map_err(|source| StoreError::io("truncating", &self.partial, source))?;
        self.digester = Digester::new(self.expected.algorithm());
        self.offset = 0;
        Ok(())
    }

    /// Starts over from byte 0 (when the server ignored the range request).
    pub fn restart(&mut self) -> Result<(), StoreError> {
        let Some(mut file) = self.file.take() else {
            return Ok(());
        };
        self.truncate(&file)?;
        file.seek(SeekFrom::Start(0))
            .map_err(|source| StoreError::io("seeking", &self.partial, source))?;
        self.file = Some(file);
        Ok(())
    }

    /// Appends downloaded bytes. Refuses content longer than announced.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        let end = self.offset.saturating_add(chunk.len() as u64);
        if end > self.size {
            return Err(StoreError::Digest(
                crate::image::DigestError::SizeMismatch {
                    digest: self.expected.clone(),
                    expected: self.size,
                    actual: end,
                    truncated: true,
                },
            ));
        }
        let Some(file) = self.file.as_mut() else {
            return Err(StoreError::io(
                "writing",
                &self.partial,
                io::Error::other("ingest already closed"),
            ));
        };
        file.write_all(chunk)
            .map_err(|source| StoreError::io("writing", &self.partial, source))?;
        self.digester.update(chunk);
        self.offset = end;
        Ok(())
    }

    /// Verifies the complete content and publishes it as a blob. On a mismatch the partial
    /// file is deleted, so that nothing unverified is ever resumed from again.
    pub fn commit(mut self) -> Result<(), StoreError> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let actual = self.digester.clone().finish();
        let check = if self.offset != self.size {
            Err(crate::image::DigestError::SizeMismatch {
                digest: self.expected.clone(),
                expected: self.size,
                actual: self.offset,
                truncated: false,
            })
        } else if actual != self.expected {
            Err(crate::image::DigestError::Mismatch {
                expected: self.expected.clone(),
                actual,
            })
        } else {
            Ok(())
        };
        if let Err(error) = check {
            drop(file);
            let _ = fs::remove_file(&self.partial);
            return Err(StoreError::Digest(error));
        }
        file.sync_all()
            .map_err(|source| StoreError::io("syncing", &self.partial, source))?;
        drop(file);
        fsutil::publish(&self.partial, &self.store_blob)
            .map_err(|source| StoreError::io("publishing blob", &self.store_blob, source))
    }

    /// Syncs what was downloaded so far, so that a later attempt can resume from it.
    pub fn keep_for_resume(mut self) {
        if let Some(file) = self.file.take() {
            let _ = file.sync_data();
        }
    }
}

/// The entries of a content-addressed directory (`blobs/` or `layers/`): those named by a
/// digest, and anything else (leftovers of interrupted writes).
pub(crate) struct Listing {
    /// Entries named `<alg>/<hex>`.
    pub(crate) present: Vec<(Digest, PathBuf)>,
    /// Anything else.
    pub(crate) leftovers: Vec<PathBuf>,
}

/// Lists `<base>/<alg>/<hex>` entries.
pub(crate) fn list_by_digest(base: &Path) -> io::Result<Listing> {
    let mut listing = Listing {
        present: Vec::new(),
        leftovers: Vec::new(),
    };
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        let dir = base.join(algorithm.name());
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match Digest::new(algorithm, &name) {
                Ok(digest) => listing.present.push((digest, entry.path())),
                Err(_) => listing.leftovers.push(entry.path()),
            }
        }
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("images")).unwrap();
        (dir, store)
    }

    #[test]
    fn ingest_resumes_from_a_partial_file() {
        let (_dir, store) = store();
        let data = b"hello, resumable world".to_vec();
        let digest = Digest::of_bytes(Algorithm::Sha256, &data);
        let size = data.len() as u64;
        let mut first = store.begin_ingest(&digest, size).unwrap().unwrap();
        first.write(&data[..5]).unwrap();
        first.keep_for_resume();
        let mut second = store.begin_ingest(&digest, size).unwrap().unwrap();
        assert_eq!(second.offset(), 5);
        second.write(&data[5..]).unwrap();
        second.commit().unwrap();
        assert!(store.has_blob(&digest));
        assert_eq!(store.read_blob(&digest).unwrap(), data);
        assert!(store.begin_ingest(&digest, size).unwrap().is_none());
    }

    #[test]
    fn ingest_refuses_wrong_content_and_drops_it() {
        let (_dir, store) = store();
        let digest = Digest::of_bytes(Algorithm::Sha256, b"expected");
        let mut ingest = store.begin_ingest(&digest, 8).unwrap().unwrap();
        assert!(ingest.write(b"too long!").is_err());
        ingest.write(b"unexpect").unwrap();
        let error = ingest.commit().unwrap_err();
        assert!(error.to_string().contains("digest mismatch"), "{error}");
        assert!(!store.has_blob(&digest));
        let again = store.begin_ingest(&digest, 8).unwrap().unwrap();
        assert_eq!(again.offset(), 0, "nothing unverified is resumed from");
    }

    #[test]
    fn restart_starts_over_and_short_content_fails() {
        let (_dir, store) = store();
        let digest = Digest::of_bytes(Algorithm::Sha256, b"abc");
        let mut ingest = store.begin_ingest(&digest, 3).unwrap().unwrap();
        ingest.write(b"xy").unwrap();
        ingest.restart().unwrap();
        assert_eq!(ingest.offset(), 0);
        ingest.write(b"ab").unwrap();
        assert!(matches!(
            ingest.commit(),
            Err(StoreError::Digest(
                crate::image::DigestError::SizeMismatch { .. }
            ))
        ));
    }

    #[test]
    fn blobs_from_readers_are_named_by_their_digest() {
        let (_dir, store) = store();
        let (digest, size) = store
            .put_blob_from_reader(Algorithm::Sha256, &mut &b"content"[..])
            .unwrap();
        assert_eq!(size, 7);
        assert_eq!(digest, Digest::of_bytes(Algorithm::Sha256, b"content"));
        assert!(store.has_blob(&digest));
        let wrong = Digest::of_bytes(Algorithm::Sha256, b"other");
        assert!(store.write_blob(&wrong, b"content").is_err());
    }
}
