//! Safe path resolution inside the layer directory.
//!
//! Every directory on the way to an entry is opened relative to its already-opened parent with
//! `O_NOFOLLOW`, so the kernel never follows a symlink for us. When a component is a symlink
//! (written by an earlier entry), its target is resolved here, component by component, inside
//! the tree; targets that are absolute or climb above the layer root are refused. `..` is
//! handled by popping our own stack of opened directories, never by the kernel.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Longest entry path accepted: Linux's `PATH_MAX`. It also bounds how deep a layer can make
/// the tree, and so the recursion of [`remove_tree`].
const PATH_MAX: usize = 4096;
/// Deepest directory a resolution may reach: as deep as a `PATH_MAX` path can go. Symlinks
/// could otherwise stack depths and make trees too deep to hold open or remove recursively.
const MAX_DEPTH: usize = PATH_MAX / 2;
/// How many symlinks one resolution may pass through, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINK_HOPS: usize = 40;

/// Why a path could not be resolved.
#[derive(Debug)]
pub(super) enum PathError {
    /// The path would leave the layer directory.
    Escape(String),
    /// The path is malformed or its parents are not what they must be.
    Invalid(String),
    /// The filesystem refused an operation.
    Io(&'static str, Errno),
}

/// Splits an archive path into its normal components, resolving `.` and `..` lexically.
/// Absolute paths and `..` that climbs above the root are refused.
pub(super) fn clean(raw: &[u8], what: &str) -> Result<Vec<Vec<u8>>, PathError> {
    if raw.is_empty() {
        return Err(PathError::Invalid(format!("empty {what}")));
    }
    if raw.len() > PATH_MAX {
        return Err(PathError::Invalid(format!(
            "{what} is longer than {PATH_MAX} bytes"
        )));
    }
    if raw.contains(&0) {
        return Err(PathError::Invalid(format!("{what} contains a NUL byte")));
    }
    if raw.starts_with(b"/") {
        return Err(PathError::Escape(format!("{what} is absolute")));
    }
    let mut components: Vec<Vec<u8>> = Vec::new();
    for component in raw.split(|b| *b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                if components.pop().is_none() {
                    return Err(PathError::Escape(format!(
                        "{what} climbs above the layer root with '..'"
                    )));
                }
            }
            name => components.push(name.to_vec()),
        }
    }
    Ok(components)
}

/// The layer directory, through which every path is resolved.
pub(super) struct Tree {
    root: OwnedFd,
}

impl Tree {
    /// Wraps an opened layer directory.
    pub(super) fn new(root: OwnedFd) -> Tree {
        Tree { root }
    }

    /// The layer directory itself.
    pub(super) fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// Opens the directory reached by `components` from the root. In-tree symlinks are followed
    /// by hand; any escape is refused. With `create`, missing directories are made (mode 0755,
    /// as tar does for parents that the archive does not list).
    pub(super) fn open_dir(
        &self,
        components: &[Vec<u8>],
        create: bool,
    ) -> Result<OwnedFd, PathError> {
        let mut opened: Vec<OwnedFd> = Vec::new();
        let mut pending: VecDeque<Vec<u8>> = components.iter().cloned().collect();
        let mut hops = 0;
        while let Some(component) = pending.pop_front() {
            match component.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    if opened.pop().is_none() {
                        return Err(PathError::Escape(
                            "a symlink on the way leads above the layer root".to_owned(),
                        ));
                    }
                    continue;
                }
                _ => {}
            }
            if opened.len() >= MAX_DEPTH {
                return Err(PathError::Invalid(format!(
                    "path resolves deeper than {MAX_DEPTH} directories"
                )));
            }
            let current = opened.last().map_or(self.root.as_fd(), |fd| fd.as_fd());
            match open_subdir(current, &component) {
                Ok(fd) => {
                    opened.push(fd);
                    continue;
                }
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(
                        current,
                        component.as_slice(),
                        Mode::from_raw_mode(0o755),
                    ) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(errno) => {
                            return Err(PathError::Io("creating a parent directory", errno));
                        }
                    }
                    let fd = open_subdir(current, &component)
                        .map_err(|errno| PathError::Io("opening a parent directory", errno))?;
                    opened.push(fd);
                    continue;
                }
                Err(Errno::NOENT) => {
                    return Err(PathError::Invalid(format!(
                        "parent directory {:?} does not exist",
                        String::from_utf8_lossy(&component)
                    )));
                }
                Err(Errno::LOOP | Errno::NOTDIR) => {}
                Err(errno) => return Err(PathError::Io("opening a parent directory", errno)),
            }
            // Not a directory: either a symlink to resolve by hand, or something we cannot enter.
            let stat = rustix::fs::statat(current, component.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|errno| PathError::Io("inspecting a parent path component", errno))?;
            let name = String::from_utf8_lossy(&component).into_owned();
            if FileType::from_raw_mode(stat.st_mode) != FileType::Symlink {
                return Err(PathError::Invalid(format!(
                    "parent path component {name:?} is not a directory"
                )));
            }
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(PathError::Invalid(
                    "too many levels of symbolic links on the way".to_owned(),
                ));
            }
            let target = rustix::fs::readlinkat(current, component.as_slice(), Vec::new())
                .map_err(|errno| PathError::Io("reading a symlink on the way", errno))?
                .into_bytes();
            if target.starts_with(b"/") {
                return Err(PathError::Escape(format!(
                    "parent path component {name:?} is a symlink to the absolute path {:?}, outside the layer",
                    String::from_utf8_lossy(&target)
                )));
            }
            for part in target.split(|b| *b == b'/').rev() {
                pending.push_front(part.to_vec());
            }
        }
        match opened.pop() {
            Some(fd) => Ok(fd),
            None => rustix::fs::openat(
                &self.root,
                c".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|errno| PathError::Io("reopening the layer root", errno)),
        }
    }
}

/// Opens `name` in `dir` only if it is a real directory, never following a symlink.
pub(super) fn open_subdir(dir: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// The type of `name` in `dir` without following it, or `None` if nothing is there.
pub(super) fn type_of(dir: BorrowedFd<'_>, name: &[u8]) -> Result<Option<FileType>, Errno> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(FileType::from_raw_mode(stat.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(errno) => Err(errno),
    }
}

/// Removes the directory `name` in `parent` and everything in it, without following symlinks.
pub(super) fn remove_tree(parent: BorrowedFd<'_>, name: &[u8]) -> Result<(), Errno> {
    let dir = open_subdir(parent, name)?;
    let mut children: Vec<(Vec<u8>, FileType)> = Vec::new();
    for child in rustix::fs::Dir::read_from(&dir)? {
        let child = child?;
        let child_name = child.file_name().to_bytes();
        if child_name == b"." || child_name == b".." {
            continue;
        }
        children.push((child_name.to_vec(), child.file_type()));
    }
    for (child_name, file_type) in children {
        let file_type = match file_type {
            FileType::Unknown => type_of(dir.as_fd(), &child_name)?.unwrap_or(FileType::Unknown),
            known => known,
        };
        if file_type == FileType::Directory {
            remove_tree(dir.as_fd(), &child_name)?;
        } else {
            rustix::fs::unlinkat(&dir, child_name.as_slice(), AtFlags::empty())?;
        }
    }
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(raw: &str) -> Vec<String> {
        match clean(raw.as_bytes(), "path") {
            Ok(parts) => parts
                .into_iter()
                .map(|p| String::from_utf8_lossy(&p).into_owned())
                .collect(),
            Err(error) => panic!("{raw}: {error:?}"),
        }
    }

    #[test]
    fn cleans_relative_paths() {
        assert_eq!(names("a/b/c"), ["a", "b", "c"]);
        assert_eq!(names("./a//b/./c/"), ["a", "b", "c"]);
        assert_eq!(names("a/../b"), ["b"]);
        assert_eq!(names("a/b/../../c"), ["c"]);
        assert!(names("./").is_empty());
        assert!(names("a/..").is_empty());
    }

    #[test]
    fn refuses_escaping_paths() {
        for raw in [
            "/etc/passwd",
            "/",
            "..",
            "../x",
            "a/../../x",
            "./../x",
            "a/b/../../../x",
        ] {
            assert!(
                matches!(clean(raw.as_bytes(), "path"), Err(PathError::Escape(_))),
                "{raw}"
            );
        }
        for raw in [&b""[..], b"a\0b"] {
            assert!(matches!(clean(raw, "path"), Err(PathError::Invalid(_))));
        }
        assert!(matches!(
            clean(&vec![b'a'; PATH_MAX + 1], "path"),
            Err(PathError::Invalid(_))
        ));
    }
}
