//! Copy-up: when a container mounts a fresh, empty volume over a directory of its image, the
//! image's content there is copied into the volume first (Docker's behaviour), keeping owners,
//! modes, extended attributes, times, symlinks (as links, never followed), hard links and
//! device nodes.
//!
//! The image is untrusted: the mount target is resolved inside the rootfs the way the
//! container would see it (an absolute symlink is relative to the rootfs), and a `..` that
//! would climb above the rootfs is refused. Inside the tree, symlinks are copied, not followed,
//! and files are opened with `O_NOFOLLOW`, so nothing outside the image is ever read.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, CWD, Timespec, Timestamps};

use crate::error::{Result, VolumeError, io};

/// Symlinks followed while resolving one path, as the kernel's limit.
const MAX_SYMLINKS: usize = 40;

/// What copy-up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyOutcome {
    /// Copied this many entries (files, directories, links, nodes).
    Copied(u64),
    /// The volume already had content: left alone.
    NotEmpty,
    /// The image has no directory at the target: nothing to copy.
    SourceMissing,
    /// The volume was set up before: copy-up happens once.
    AlreadyPopulated,
}

/// Copies the image's directory at `target` (a path in the container) under `rootfs` into
/// `dest` (the volume's `_data`), if `dest` is empty.
pub fn copy_up(rootfs: &Path, target: &Path, dest: &Path) -> Result<CopyOutcome> {
    let Some(source) = resolve_in_root(rootfs, target)? else {
        return Ok(CopyOutcome::SourceMissing);
    };
    let meta = std::fs::symlink_metadata(&source).map_err(io("reading", &source))?;
    if !meta.is_dir() {
        return Ok(CopyOutcome::SourceMissing);
    }
    let mut entries = std::fs::read_dir(dest).map_err(io("reading", dest))?;
    if entries.next().is_some() {
        return Ok(CopyOutcome::NotEmpty);
    }
    let mut copier = Copier::default();
    copier.copy_children(&source, dest)?;
    // The volume's root takes the image directory's owner and mode too (a database image's
    // data directory belongs to its user).
    apply_metadata(&source, dest, &meta)?;
    Ok(CopyOutcome::Copied(copier.count))
}

/// Resolves `target` inside `rootfs` as the container would: absolute symlinks are relative to
/// the rootfs. `None` when some component does not exist; an error when `..` climbs out.
pub fn resolve_in_root(rootfs: &Path, target: &Path) -> Result<Option<PathBuf>> {
    let escape = || VolumeError::Escape {
        path: target.to_path_buf(),
        root: rootfs.to_path_buf(),
    };
    let mut resolved: Vec<OsString> = Vec::new();
    // Components still to walk, in reverse order (a stack).
    let mut pending: Vec<OsString> = components(target);
    pending.reverse();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == "/" {
            resolved.clear();
            continue;
        }
        if part == ".." {
            resolved.pop().ok_or_else(escape)?;
            continue;
        }
        let mut here = rootfs.to_path_buf();
        here.extend(&resolved);
        here.push(&part);
        let meta = match std::fs::symlink_metadata(&here) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("reading", &here)(e)),
        };
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > MAX_SYMLINKS {
                return Err(io("resolving", &here)(std::io::Error::from_raw_os_error(
                    libc_eloop(),
                )));
            }
            let link = std::fs::read_link(&here).map_err(io("reading", &here))?;
            let mut parts = components(&link);
            parts.reverse();
            pending.extend(parts);
        } else {
            resolved.push(part);
        }
    }
    let mut out = rootfs.to_path_buf();
    out.extend(&resolved);
    Ok(Some(out))
}

fn libc_eloop() -> i32 {
    rustix::io::Errno::LOOP.raw_os_error()
}

/// The components of a path as strings: `/` for the root, `..`, names; `.` dropped.
fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::RootDir => Some(OsString::from("/")),
            Component::ParentDir => Some(OsString::from("..")),
            Component::Normal(n) => Some(n.to_os_string()),
            Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// One copy: the hard links seen so far and how many entries were made.
#[derive(Default)]
struct Copier {
    /// (device, inode) of a multiply-linked file -> its first copy.
    links: HashMap<(u64, u64), PathBuf>,
    count: u64,
}

impl Copier {
    fn copy_children(&mut self, src: &Path, dst: &Path) -> Result<()> {
        for entry in std::fs::read_dir(src).map_err(io("reading", src))? {
            let entry = entry.map_err(io("reading", src))?;
            let (from, to) = (entry.path(), dst.join(entry.file_name()));
            self.copy_entry(&from, &to)?;
        }
        Ok(())
    }

    fn copy_entry(&mut self, from: &Path, to: &Path) -> Result<()> {
        let meta = std::fs::symlink_metadata(from).map_err(io("reading", from))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir(to).map_err(io("creating", to))?;
            self.copy_children(from, to)?;
        } else if ft.is_symlink() {
            let link = std::fs::read_link(from).map_err(io("reading", from))?;
            std::os::unix::fs::symlink(&link, to).map_err(io("creating", to))?;
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = self.links.get(&key) {
                    std::fs::hard_link(first, to).map_err(io("linking", to))?;
                    self.count += 1;
                    return Ok(());
                }
                self.links.insert(key, to.to_path_buf());
            }
            copy_file(from, to)?;
        } else if ft.is_socket() {
            // A socket is meaningless without its listener: Docker skips them too.
            return Ok(());
        } else {
            use rustix::fs::{FileType, Mode};
            let mode = meta.mode();
            rustix::fs::mknodat(
                CWD,
                to,
                FileType::from_raw_mode(mode),
                Mode::from_raw_mode(mode),
                meta.rdev(),
            )
            .map_err(|e| io("creating", to)(e.into()))?;
        }
        self.count += 1;
        apply_metadata(from, to, &meta)
    }
}

use std::os::unix::fs::FileTypeExt;

/// Copies a regular file's content without following a symlink at either end.
fn copy_file(from: &Path, to: &Path) -> Result<()> {
    let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    let mut src = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nofollow)
        .open(from)
        .map_err(io("opening", from))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(io("creating", to))?;
    std::io::copy(&mut src, &mut dst).map_err(io("copying to", to))?;
    Ok(())
}

/// Gives `to` the owner, mode, extended attributes and times of `from`. Owner first: chown
/// clears set-id bits, which the mode then restores.
fn apply_metadata(from: &Path, to: &Path, meta: &std::fs::Metadata) -> Result<()> {
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))
        .map_err(io("changing the owner of", to))?;
    let symlink = meta.file_type().is_symlink();
    if !symlink {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(io("changing the mode of", to))?;
    }
    copy_xattrs(from, to, symlink)?;
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec() as _,
        },
        last_modification: Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec() as _,
        },
    };
    rustix::fs::utimensat(CWD, to, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| io("setting the times of", to)(e.into()))
}

/// Copies extended attributes (capabilities, ACLs, labels). A file system without them, or a
/// namespace the kernel refuses on symlinks (`user.`), is not an error.
fn copy_xattrs(from: &Path, to: &Path, symlink: bool) -> Result<()> {
    use rustix::io::Errno;
    let size = match rustix::fs::llistxattr_query(from) {
        Ok(0) => return Ok(()),
        Ok(n) => n,
        Err(Errno::NOTSUP) => return Ok(()),
        Err(e) => return Err(io("listing the attributes of", from)(e.into())),
    };
    let mut names = vec![0u8; size];
    let n = rustix::fs::llistxattr(from, &mut names[..])
        .map_err(|e| io("listing the attributes of", from)(e.into()))?;
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name);
        let len = rustix::fs::lgetxattr_query(from, name)
            .map_err(|e| io("reading the attributes of", from)(e.into()))?;
        let mut value = vec![0u8; len];
        let got = rustix::fs::lgetxattr(from, name, &mut value[..])
            .map_err(|e| io("reading the attributes of", from)(e.into()))?;
        match rustix::fs::lsetxattr(to, name, &value[..got], rustix::fs::XattrFlags::empty()) {
            Ok(()) => {}
            Err(Errno::NOTSUP | Errno::PERM) if symlink => {}
            Err(Errno::NOTSUP) => {}
            Err(e) => return Err(io("setting the attributes of", to)(e.into())),
        }
    }
    Ok(())
}
