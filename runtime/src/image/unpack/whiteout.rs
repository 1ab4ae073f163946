//! Whiteouts: how a layer says "this path of a lower layer is gone", in the AUFS convention of
//! image tarballs, turned into what overlayfs understands.
//!
//! `DIR/.wh.NAME` becomes a character device 0/0 named `DIR/NAME` (an overlay whiteout);
//! `DIR/.wh..wh..opq` marks `DIR` opaque with the xattr `trusted.overlay.opaque=y`; other
//! `.wh..wh.` names are AUFS bookkeeping and are skipped.

/// The whiteout prefix of AUFS-style image layers.
pub(super) const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Prefix of AUFS metadata entries (hard-link directory, opaque marker, ...).
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
/// The entry that makes its directory opaque.
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// The overlayfs xattr that marks a directory opaque.
pub(super) const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What an entry's final path component means.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Whiteout<'a> {
    /// An ordinary name.
    None,
    /// The directory containing the entry hides everything below it in lower layers.
    Opaque,
    /// The named sibling is deleted.
    Remove(&'a [u8]),
    /// AUFS bookkeeping with no meaning for overlayfs.
    Ignored,
}

/// Classifies the final component of an entry path.
pub(super) fn classify(name: &[u8]) -> Whiteout<'_> {
    if name == OPAQUE_MARKER {
        Whiteout::Opaque
    } else if name.starts_with(WHITEOUT_META_PREFIX) {
        Whiteout::Ignored
    } else if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
        Whiteout::Remove(hidden)
    } else {
        Whiteout::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(classify(b"file"), Whiteout::None);
        assert_eq!(classify(b".whatever"), Whiteout::None);
        assert_eq!(classify(b".wh.file"), Whiteout::Remove(b"file"));
        assert_eq!(classify(b".wh..hidden"), Whiteout::Remove(b".hidden"));
        assert_eq!(classify(b".wh..wh..opq"), Whiteout::Opaque);
        assert_eq!(classify(b".wh..wh.plnk"), Whiteout::Ignored);
        assert_eq!(classify(b".wh..wh.aufs"), Whiteout::Ignored);
        assert_eq!(classify(b".wh."), Whiteout::Remove(b""));
    }
}
