//! What a tar entry describes, read once from its header and PAX records: kind, path, link,
//! ownership, mode, modification time, device numbers, extended attributes.

use std::io::Read;

use super::UnpackError;

/// The kinds of filesystem object a layer entry can create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Regular file (also contiguous and GNU sparse files, whose data the tar crate expands).
    File,
    /// Directory.
    Directory,
    /// Symbolic link; its target text is kept verbatim.
    Symlink,
    /// Hard link to an earlier entry of the same layer.
    HardLink,
    /// Character device.
    CharDevice,
    /// Block device.
    BlockDevice,
    /// Named pipe.
    Fifo,
    /// Archive metadata (PAX global header) that creates nothing.
    Metadata,
}

/// A modification time with the sub-second precision PAX records may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Mtime {
    pub(super) seconds: i64,
    pub(super) nanoseconds: u32,
}

/// Everything needed to create one entry, independent of the tar reader.
#[derive(Clone, Debug)]
pub(super) struct EntryHeader {
    pub(super) path: Vec<u8>,
    pub(super) kind: Kind,
    pub(super) link_target: Option<Vec<u8>>,
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) mtime: Mtime,
    pub(super) device: (u32, u32),
    /// `SCHILY.xattr.NAME` records: (NAME, value).
    pub(super) xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl EntryHeader {
    /// The path as text, for messages.
    pub(super) fn display_path(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

const XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// Reads the header (and PAX records) of `entry`.
pub(super) fn read_header<R: Read>(
    entry: &mut tar::Entry<'_, R>,
) -> Result<EntryHeader, UnpackError> {
    let path = entry.path_bytes().into_owned();
    let link_target = entry.link_name_bytes().map(|l| l.into_owned());
    let display = String::from_utf8_lossy(&path).into_owned();
    let invalid = |reason: String| UnpackError::Invalid {
        entry: display.clone(),
        reason,
    };
    let header = entry.header();
    let raw_type = header.as_old().linkflag[0];
    let kind = match raw_type {
        // V7 archives mark directories by a trailing slash on an old-style regular file.
        b'\0' if path.ends_with(b"/") => Kind::Directory,
        b'0' | b'\0' | b'7' | b'S' => Kind::File,
        b'1' => Kind::HardLink,
        b'2' => Kind::Symlink,
        b'3' => Kind::CharDevice,
        b'4' => Kind::BlockDevice,
        b'5' => Kind::Directory,
        b'6' => Kind::Fifo,
        b'g' => Kind::Metadata,
        other => {
            return Err(invalid(format!(
                "unsupported tar entry type {:?}",
                char::from(other)
            )));
        }
    };
    let mode = header
        .mode()
        .map_err(|e| invalid(format!("bad mode field: {e}")))?
        & 0o7777;
    let uid = header
        .uid()
        .map_err(|e| invalid(format!("bad uid field: {e}")))?;
    let gid = header
        .gid()
        .map_err(|e| invalid(format!("bad gid field: {e}")))?;
    let uid = id_from(uid).ok_or_else(|| invalid(format!("uid {uid} out of range")))?;
    let gid = id_from(gid).ok_or_else(|| invalid(format!("gid {gid} out of range")))?;
    let header_mtime = header
        .mtime()
        .map_err(|e| invalid(format!("bad mtime field: {e}")))?;
    let mut mtime = Mtime {
        seconds: i64::try_from(header_mtime).unwrap_or(i64::MAX),
        nanoseconds: 0,
    };
    let device = if matches!(kind, Kind::CharDevice | Kind::BlockDevice) {
        let major = header
            .device_major()
            .map_err(|e| invalid(format!("bad device major: {e}")))?
            .unwrap_or(0);
        let minor = header
            .device_minor()
            .map_err(|e| invalid(format!("bad device minor: {e}")))?
            .unwrap_or(0);
        (major, minor)
    } else {
        (0, 0)
    };

    let mut xattrs = Vec::new();
    if let Some(extensions) = entry.pax_extensions().map_err(UnpackError::Read)? {
        for extension in extensions {
            let extension = extension.map_err(|e| invalid(format!("bad PAX record: {e}")))?;
            let key = extension.key_bytes();
            if let Some(name) = key.strip_prefix(XATTR_PREFIX) {
                xattrs.push((name.to_vec(), extension.value_bytes().to_vec()));
            } else if key == b"mtime" {
                let text = String::from_utf8_lossy(extension.value_bytes());
                mtime = parse_pax_time(&text)
                    .ok_or_else(|| invalid(format!("bad PAX mtime {text:?}")))?;
            }
        }
    }

    Ok(EntryHeader {
        path,
        kind,
        link_target,
        mode,
        uid,
        gid,
        mtime,
        device,
        xattrs,
    })
}

/// A tar uid/gid as a Linux id; `u32::MAX` means "unchanged" to chown, so it is refused.
fn id_from(value: u64) -> Option<u32> {
    u32::try_from(value).ok().filter(|id| *id != u32::MAX)
}

/// PAX times are decimal seconds with an optional fraction: `1700000000.123456789`, `-1.5`.
fn parse_pax_time(text: &str) -> Option<Mtime> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let negative = whole.starts_with('-');
    let digits = whole.strip_prefix('-').unwrap_or(whole);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = digits.parse().ok()?;
    let mut nanoseconds: u32 = 0;
    for (index, digit) in fraction.bytes().take(9).enumerate() {
        let power = 8u32.checked_sub(u32::try_from(index).ok()?)?;
        nanoseconds += u32::from(digit - b'0') * 10u32.pow(power);
    }
    if !negative {
        return Some(Mtime {
            seconds,
            nanoseconds,
        });
    }
    // -1.5 is 1.5 seconds before the epoch: seconds -2, nanoseconds 500_000_000.
    let seconds = seconds.checked_neg()?;
    Some(if nanoseconds == 0 {
        Mtime {
            seconds,
            nanoseconds,
        }
    } else {
        Mtime {
            seconds: seconds.checked_sub(1)?,
            nanoseconds: 1_000_000_000 - nanoseconds,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        let t = |s, n| {
            Some(Mtime {
                seconds: s,
                nanoseconds: n,
            })
        };
        assert_eq!(parse_pax_time("1700000000"), t(1_700_000_000, 0));
        assert_eq!(parse_pax_time("12.5"), t(12, 500_000_000));
        assert_eq!(parse_pax_time("12.123456789123"), t(12, 123_456_789));
        assert_eq!(parse_pax_time("-1.5"), t(-2, 500_000_000));
        assert_eq!(parse_pax_time("-3"), t(-3, 0));
        assert_eq!(parse_pax_time(""), None);
        assert_eq!(parse_pax_time("1e5"), None);
        assert_eq!(parse_pax_time("1.x"), None);
        assert_eq!(parse_pax_time("99999999999999999999"), None);
    }

    #[test]
    fn ids() {
        assert_eq!(id_from(0), Some(0));
        assert_eq!(id_from(65534), Some(65534));
        assert_eq!(id_from(u64::from(u32::MAX)), None);
        assert_eq!(id_from(1 << 40), None);
    }
}
