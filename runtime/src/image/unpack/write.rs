//! Creating each kind of entry below its (already safely opened) parent directory, and
//! applying its metadata: ownership first (chown clears setuid bits), then mode, then extended
//! attributes (chown also clears `security.capability`), then times.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;

use super::header::{EntryHeader, Kind, Mtime};
use super::path::{self, PathError, Tree};
use super::whiteout::{self, OVERLAY_OPAQUE_XATTR, Whiteout};
use super::{UnpackError, UnpackStats};

const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";

/// The state of one layer being unpacked.
pub(super) struct Unpacker {
    tree: Tree,
    stats: UnpackStats,
    /// chown only works (and only makes sense) for root.
    apply_ownership: bool,
    /// Directory times are set at the end: creating children changes them.
    directory_times: Vec<(Vec<Vec<u8>>, Mtime)>,
}

fn path_error(entry: &EntryHeader, error: PathError) -> UnpackError {
    match error {
        PathError::Escape(reason) => UnpackError::Refused {
            entry: entry.display_path(),
            reason,
        },
        PathError::Invalid(reason) => UnpackError::Invalid {
            entry: entry.display_path(),
            reason,
        },
        PathError::Io(action, errno) => io_error(entry, action, errno),
    }
}

fn io_error(entry: &EntryHeader, action: &str, errno: Errno) -> UnpackError {
    UnpackError::Io {
        entry: entry.display_path(),
        action: action.to_owned(),
        source: errno.into(),
    }
}

fn invalid(entry: &EntryHeader, reason: &str) -> UnpackError {
    UnpackError::Invalid {
        entry: entry.display_path(),
        reason: reason.to_owned(),
    }
}

fn timestamps(mtime: Mtime) -> Timestamps {
    let time = Timespec {
        tv_sec: mtime.seconds,
        tv_nsec: i64::from(mtime.nanoseconds),
    };
    Timestamps {
        last_access: time,
        last_modification: time,
    }
}

fn mode_of(entry: &EntryHeader) -> Mode {
    Mode::from_raw_mode(entry.mode)
}

/// Empties the slot `name` in `parent` for a new entry, as tar does: anything there is removed,
/// except that a directory stays when a directory is coming (its content is kept).
/// Returns whether a directory was kept.
fn prepare_slot(parent: BorrowedFd<'_>, name: &[u8], keep_directory: bool) -> Result<bool, Errno> {
    match path::type_of(parent, name)? {
        None => Ok(false),
        Some(FileType::Directory) if keep_directory => Ok(true),
        Some(FileType::Directory) => path::remove_tree(parent, name).map(|()| false),
        Some(_) => rustix::fs::unlinkat(parent, name, AtFlags::empty()).map(|()| false),
    }
}

impl Unpacker {
    /// Starts unpacking into `tree`.
    pub(super) fn new(tree: Tree) -> Unpacker {
        Unpacker {
            tree,
            stats: UnpackStats::default(),
            apply_ownership: rustix::process::geteuid().is_root(),
            directory_times: Vec::new(),
        }
    }

    /// Creates one entry; `data` is its content (for regular files).
    pub(super) fn unpack_entry(
        &mut self,
        entry: &EntryHeader,
        data: &mut impl Read,
    ) -> Result<(), UnpackError> {
        if entry.kind == Kind::Metadata {
            self.stats.skipped_entries += 1;
            return Ok(());
        }
        let components = path::clean(&entry.path, "path").map_err(|e| path_error(entry, e))?;
        let Some((name, parents)) = components.split_last() else {
            return self.layer_root(entry);
        };
        let hidden = match whiteout::classify(name) {
            Whiteout::Ignored => {
                self.stats.skipped_entries += 1;
                return Ok(());
            }
            Whiteout::Opaque => return self.opaque(entry, parents),
            Whiteout::Remove(hidden) => Some(hidden),
            Whiteout::None => None,
        };
        let parent = self
            .tree
            .open_dir(parents, true)
            .map_err(|e| path_error(entry, e))?;
        let parent = parent.as_fd();
        if let Some(hidden) = hidden {
            return self.whiteout(entry, parent, hidden);
        }
        match entry.kind {
            Kind::File => self.file(entry, parent, name, data),
            Kind::Directory => self.directory(entry, parent, name, &components),
            Kind::Symlink => self.symlink(entry, parent, name),
            Kind::HardLink => self.hard_link(entry, parent, name, &components),
            Kind::CharDevice | Kind::BlockDevice | Kind::Fifo => self.node(entry, parent, name),
            Kind::Metadata => Ok(()),
        }
    }

    /// Sets the deferred directory times and returns the counts.
    pub(super) fn finish(self) -> UnpackStats {
        for (components, mtime) in &self.directory_times {
            // Best effort: a later entry may have replaced or removed the directory.
            let Some((name, parents)) = components.split_last() else {
                let _ = rustix::fs::futimens(self.tree.root(), &timestamps(*mtime));
                continue;
            };
            let Ok(parent) = self.tree.open_dir(parents, false) else {
                continue;
            };
            if let Ok(Some(FileType::Directory)) = path::type_of(parent.as_fd(), name) {
                let _ = rustix::fs::utimensat(
                    &parent,
                    name.as_slice(),
                    &timestamps(*mtime),
                    AtFlags::SYMLINK_NOFOLLOW,
                );
            }
        }
        self.stats
    }

    /// `./` describes the layer directory itself: only a directory may, and only its metadata
    /// is applied.
    fn layer_root(&mut self, entry: &EntryHeader) -> Result<(), UnpackError> {
        if entry.kind != Kind::Directory {
            return Err(invalid(
                entry,
                "only a directory may describe the layer root",
            ));
        }
        let root = self
            .tree
            .open_dir(&[], false)
            .map_err(|e| path_error(entry, e))?;
        self.fd_metadata(entry, root.as_fd())?;
        self.directory_times.push((Vec::new(), entry.mtime));
        self.stats.directories += 1;
        Ok(())
    }

    fn opaque(&mut self, entry: &EntryHeader, directory: &[Vec<u8>]) -> Result<(), UnpackError> {
        let dir = self
            .tree
            .open_dir(directory, true)
            .map_err(|e| path_error(entry, e))?;
        rustix::fs::fsetxattr(&dir, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())
            .map_err(|e| io_error(entry, "marking the directory opaque", e))?;
        self.stats.opaque_directories += 1;
        Ok(())
    }

    fn whiteout(
        &mut self,
        entry: &EntryHeader,
        parent: BorrowedFd<'_>,
        hidden: &[u8],
    ) -> Result<(), UnpackError> {
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(invalid(entry, "whiteout of an invalid name"));
        }
        prepare_slot(parent, hidden, false)
            .map_err(|e| io_error(entry, "replacing an existing entry", e))?;
        rustix::fs::mknodat(
            parent,
            hidden,
            FileType::CharacterDevice,
            Mode::empty(),
            rustix::fs::makedev(0, 0),
        )
        .map_err(|e| io_error(entry, "creating the overlay whiteout device", e))?;
        self.owner_at(entry, parent, hidden)?;
        self.stats.whiteouts += 1;
        Ok(())
    }

    fn file(
        &mut self,
        entry: &EntryHeader,
        parent: BorrowedFd<'_>,
        name: &[u8],
        data: &mut impl Read,
    ) -> Result<(), UnpackError> {
        prepare_slot(parent, name, false)
            .map_err(|e| io_error(entry, "replacing an existing entry", e))?;
        let fd = rustix::fs::openat(
            parent,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| io_error(entry, "creating the file", e))?;
        let mut file = File::from(fd);
        let written = io::copy(data, &mut file).map_err(|e| UnpackError::Io {
            entry: entry.display_path(),
            action: "writing the file".to_owned(),
            source: e,
        })?;
        let fd = OwnedFd::from(file);
        self.fd_metadata(entry, fd.as_fd())?;
        rustix::fs::futimens(&fd, &timestamps(entry.mtime))
            .map_err(|e| io_error(entry, "setting the modification time", e))?;
        self.stats.files += 1;
        self.stats.bytes = self.stats.bytes.saturating_add(written);
        Ok(())
    }

    fn directory(
        &mut self,
        entry: &EntryHeader,
        parent: BorrowedFd<'_>,
        name: &[u8],
        components: &[Vec<u8>],
    ) -> Result<(), UnpackError> {
        let kept = prepare_slot(parent, name, true)
            .map_err(|e| io_error(entry, "replacing an existing entry", e))?;
        if !kept {
            rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
                .map_err(|e| io_error(entry, "creating the directory", e))?;
        }
        let dir = path::open_subdir(parent, name)
            .map_err(|e| io_error(entry, "opening the directory", e))?;
        self.fd_metadata(entry, dir.as_fd())?;
        self.directory_times
            .push((components.to_vec(), entry.mtime));
        self.stats.directories += 1;
        Ok(())
    }

    fn symlink(
        &mut self,
        entry: &EntryHeader,
        parent: BorrowedFd<'_>,
        name: &[u8],
    ) -> Result<(), UnpackError> {
        let target = match entry.link_target.as_deref() {
            Some(target) if !target.is_empty() => target,
            _ => return Err(invalid(entry, "symlink without a target")),
        };
        if target.contains(&0) {
            return Err(invalid(entry, "symlink target contains a NUL byte"));
        }
        prepare_slot(parent, name, false)
            .map_err(|e| io_error(entry, "replacing an existing entry", e))?;
        rustix::fs::symlinkat(target, parent, name)
            .map_err(|e| io_error(entry, "creating the symlink", e))?;
        self.owner_at(entry, parent, name)?;
        self.xattrs_at(entry, parent, name)?;
        rustix::fs::utimensat(
            parent,
            name,
            &timestamps(entry.mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_error(entry, "setting the modification time", e))?;
        self.stats.symlinks += 1;
        Ok(())
    }

    fn hard_link(
        &mut self,
        entry: &EntryHeader,
        parent: BorrowedFd<'_>,
        name: &[u8],
        components: &[Vec<u8>],
    ) -> Result<(), UnpackError> {
        let raw_target = entry
            .link_target
            .as_deref()
            .ok_or_else(|| invalid(entry, "hard link without a target"))?;
        let target =
            path::clean(raw_target, "hard link target").map_err(|e| path_error(entry, e))?;
        let Some((target_name, target_parents)) = target.split_last() else {
            return Err(invalid(entry, "hard link to the layer root"));
        };
        if target == components {
            // A link to itself: the file is already there.
            return Ok(());
        }
        let target_parent = self
            .tree
            .open_dir(target_parents, false)
            .map_err(|e| path_error(entry, e))?;
        match path::type_of(target_parent.as_fd(), target_name) {
            Ok(None) => {
                return Err(invalid(
                    entry,
                    "hard link target does not exist in this layer",
                ));
            }
            Ok(Some(FileType::Directory)) => {
                return Err(invalid(entry, "hard link to a directory"));
            }
            Ok(Some(_)) => {}
            Err(e) => return Err(io_error(entry, "inspecting the hard link target", e)),
        }
        prepare_slot(parent, name, false)
            .map_err(|e| io_error(entry, "replacing an existing entry", e))?;
        // Without AT_SYMLINK_FOLLOW a symlink target is linked itself, never followed.
        rustix::fs::linkat(
            &target_parent,
            target_name.as_slice(),
            parent,
            name,
            AtFlags::empty(),
        )
        .map_err(|e| io_error(entry, "creating the hard link", e))?;
        self.stats.hard_links += 1;
        Ok(())
    }

    fn node(
        &mut self,
        entry: &EntryHeader,
        parent: BorrowedFd<'_>,
        name: &[u8],
    ) -> Result<(), UnpackError> {
        let (file_type, device) = match entry.kind {
            Kind::CharDevice => (
                FileType::CharacterDevice,
                rustix::fs::makedev(entry.device.0, entry.device.1),
            ),
            Kind::BlockDevice => (
                FileType::BlockDevice,
                rustix::fs::makedev(entry.device.0, entry.device.1),
            ),
            _ => (FileType::Fifo, 0),
        };
        prepare_slot(parent, name, false)
            .map_err(|e| io_error(entry, "replacing an existing entry", e))?;
        rustix::fs::mknodat(parent, name, file_type, Mode::empty(), device)
            .map_err(|e| io_error(entry, "creating the special file", e))?;
        self.owner_at(entry, parent, name)?;
        // The node was just created by us in a directory opened without following links, so
        // chmodat (which follows a final symlink) reaches exactly it.
        rustix::fs::chmodat(parent, name, mode_of(entry), AtFlags::empty())
            .map_err(|e| io_error(entry, "setting the mode", e))?;
        self.xattrs_at(entry, parent, name)?;
        rustix::fs::utimensat(
            parent,
            name,
            &timestamps(entry.mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_error(entry, "setting the modification time", e))?;
        if file_type == FileType::Fifo {
            self.stats.fifos += 1;
        } else {
            self.stats.devices += 1;
        }
        Ok(())
    }

    /// Owner, mode and xattrs of an opened file or directory.
    fn fd_metadata(&mut self, entry: &EntryHeader, fd: BorrowedFd<'_>) -> Result<(), UnpackError> {
        if self.apply_ownership {
            rustix::fs::fchown(
                fd,
                Some(Uid::from_raw(entry.uid)),
                Some(Gid::from_raw(entry.gid)),
            )
            .map_err(|e| io_error(entry, "setting the owner", e))?;
        }
        rustix::fs::fchmod(fd, mode_of(entry))
            .map_err(|e| io_error(entry, "setting the mode", e))?;
        for (name, value) in &entry.xattrs {
            if !self.allowed_xattr(entry, name) {
                continue;
            }
            let result = rustix::fs::fsetxattr(fd, name.as_slice(), value, XattrFlags::empty());
            self.xattr_result(entry, result)?;
        }
        Ok(())
    }

    fn owner_at(
        &self,
        entry: &EntryHeader,
        parent: BorrowedFd<'_>,
        name: &[u8],
    ) -> Result<(), UnpackError> {
        if !self.apply_ownership {
            return Ok(());
        }
        rustix::fs::chownat(
            parent,
            name,
            Some(Uid::from_raw(entry.uid)),
            Some(Gid::from_raw(entry.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_error(entry, "setting the owner", e))
    }

    /// Xattrs of something that cannot be opened for writing (symlink, device, fifo): set
    /// through the parent's descriptor in /proc, without following the final component.
    fn xattrs_at(
        &mut self,
        entry: &EntryHeader,
        parent: BorrowedFd<'_>,
        name: &[u8],
    ) -> Result<(), UnpackError> {
        if entry.xattrs.is_empty() {
            return Ok(());
        }
        let mut path = format!("/proc/self/fd/{}/", parent.as_raw_fd()).into_bytes();
        path.extend_from_slice(name);
        for (xattr, value) in &entry.xattrs {
            if !self.allowed_xattr(entry, xattr) {
                continue;
            }
            let result = rustix::fs::lsetxattr(
                path.as_slice(),
                xattr.as_slice(),
                value,
                XattrFlags::empty(),
            );
            self.xattr_result(entry, result)?;
        }
        Ok(())
    }

    /// Overlay's own xattrs could make a layer redirect into other layers; only the opaque
    /// marker on a directory is let through.
    fn allowed_xattr(&mut self, entry: &EntryHeader, name: &[u8]) -> bool {
        let allowed = !name.starts_with(OVERLAY_XATTR_PREFIX)
            || (name == OVERLAY_OPAQUE_XATTR.as_bytes() && entry.kind == Kind::Directory);
        if !allowed {
            self.stats.skipped_xattrs += 1;
        }
        allowed
    }

    /// Like Docker, an xattr the filesystem does not support is skipped rather than fatal; so is
    /// one refused for lack of privilege when not running as root.
    fn xattr_result(
        &mut self,
        entry: &EntryHeader,
        result: Result<(), Errno>,
    ) -> Result<(), UnpackError> {
        match result {
            Ok(()) => Ok(()),
            Err(Errno::NOTSUP) => {
                self.stats.skipped_xattrs += 1;
                Ok(())
            }
            Err(Errno::PERM) if !self.apply_ownership => {
                self.stats.skipped_xattrs += 1;
                Ok(())
            }
            Err(e) => Err(io_error(entry, "setting an extended attribute", e)),
        }
    }
}
