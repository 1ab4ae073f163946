//! Layer compression: from the media type a manifest declares, confirmed or overridden by the
//! magic bytes of the data (as Docker does, since registries in the wild mislabel layers).

use std::fmt;
use std::io::{self, Cursor, Read};

use super::UnpackError;

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip (`+gzip`, `.tar.gzip`), possibly several concatenated members.
    Gzip,
    /// Zstandard (`+zstd`).
    Zstd,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

impl Compression {
    /// The compression of an OCI or Docker layer media type, e.g.
    /// `application/vnd.oci.image.layer.v1.tar+gzip` or
    /// `application/vnd.docker.image.rootfs.diff.tar.gzip`.
    pub fn from_media_type(media_type: &str) -> Result<Compression, UnpackError> {
        let known_layer = media_type.starts_with("application/vnd.oci.image.layer.")
            || media_type.starts_with("application/vnd.docker.image.rootfs.");
        if known_layer {
            if media_type.ends_with("+gzip") || media_type.ends_with(".tar.gzip") {
                return Ok(Compression::Gzip);
            }
            if media_type.ends_with("+zstd") || media_type.ends_with(".tar.zstd") {
                return Ok(Compression::Zstd);
            }
            if media_type.ends_with(".tar") {
                return Ok(Compression::None);
            }
        }
        Err(UnpackError::MediaType(media_type.to_owned()))
    }

    /// The compression the first bytes of a blob show, if they show one.
    pub fn detect(prefix: &[u8]) -> Option<Compression> {
        if prefix.starts_with(GZIP_MAGIC) {
            Some(Compression::Gzip)
        } else if prefix.starts_with(ZSTD_MAGIC) {
            Some(Compression::Zstd)
        } else {
            None
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// Wraps `reader` in the decoder the data needs. Magic bytes win over the declared
/// compression; data declared compressed but without any magic is refused.
pub(crate) fn decoder<'a>(
    mut reader: impl Read + 'a,
    declared: Compression,
) -> Result<Box<dyn Read + 'a>, UnpackError> {
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while let Some(rest) = prefix.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(UnpackError::Read(error)),
        }
    }
    let head = prefix.get(..filled).unwrap_or_default().to_vec();
    let actual = match (Compression::detect(&head), declared) {
        (Some(found), _) => found,
        (None, Compression::None) => Compression::None,
        (None, declared) => return Err(UnpackError::CompressionMismatch { declared }),
    };
    let stream = Cursor::new(head).chain(reader);
    Ok(match actual {
        Compression::None => Box::new(stream),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(stream)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(stream).map_err(UnpackError::Read)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        let cases = [
            ("application/vnd.oci.image.layer.v1.tar", Compression::None),
            (
                "application/vnd.oci.image.layer.v1.tar+gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.oci.image.layer.v1.tar+zstd",
                Compression::Zstd,
            ),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar",
                Compression::None,
            ),
        ];
        for (media_type, expected) in cases {
            assert_eq!(Compression::from_media_type(media_type).unwrap(), expected);
        }
        for bad in [
            "application/json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.layer.v1.tar+bzip2",
        ] {
            assert!(Compression::from_media_type(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn detection() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::detect(b"etc/"), None);
        assert_eq!(Compression::detect(&[0x1f]), None);
    }

    #[test]
    fn declared_compression_without_magic_is_refused() {
        let result = decoder(&b"plain tar"[..], Compression::Gzip);
        assert!(matches!(
            result,
            Err(UnpackError::CompressionMismatch {
                declared: Compression::Gzip
            })
        ));
    }
}
