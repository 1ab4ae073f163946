//! Resolving a path of the container inside its root filesystem on the host.
//!
//! The root filesystem is untrusted (it comes from an image): a mount destination such as
//! `/etc/hosts` may be a symlink to `/../../host/etc/shadow`. Before pivot_root, every such path is
//! resolved here as if the rootfs were `/`: symlinks are followed, absolute ones restart at the
//! rootfs, `..` stops at the rootfs. The result is always inside the rootfs.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

/// More symlinks than this in one path is a loop (the kernel's own limit is 40).
const MAX_SYMLINKS: usize = 255;

/// Resolves `path` (absolute or relative, as seen in the container) to a host path inside
/// `root`. Components that do not exist are kept literally (they will be created).
pub fn resolve_in_root(root: &Path, path: &Path) -> io::Result<PathBuf> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut pending: Vec<OsString> = components_reversed(path);
    let mut links = 0usize;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        if part == "." || part.is_empty() {
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "too many levels of symbolic links resolving {} in {}",
                            path.display(),
                            root.display()
                        ),
                    ));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                pending.extend(components_reversed(&target));
            }
            Ok(_) => resolved.push(part),
            Err(e) if e.kind() == io::ErrorKind::NotFound => resolved.push(part),
            // A component that is a file where a directory is needed: keep it; the mount or
            // mkdir that follows reports ENOTDIR with the full path.
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => resolved.push(part),
            Err(e) => return Err(e),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

/// The normal components of `path`, last first (a stack to pop from).
fn components_reversed(path: &Path) -> Vec<OsString> {
    let mut parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
        })
        .collect();
    parts.reverse();
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn plain_paths_are_joined() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        assert_eq!(
            resolve_in_root(root.path(), Path::new("/etc/hosts")).unwrap(),
            root.path().join("etc/hosts")
        );
        assert_eq!(
            resolve_in_root(root.path(), Path::new("a/./b")).unwrap(),
            root.path().join("a/b")
        );
    }

    #[test]
    fn dotdot_stops_at_the_root() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(
            resolve_in_root(root.path(), Path::new("/../../../etc")).unwrap(),
            root.path().join("etc")
        );
        assert_eq!(
            resolve_in_root(root.path(), Path::new("/a/../../b")).unwrap(),
            root.path().join("b")
        );
    }

    #[test]
    fn absolute_symlinks_restart_at_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        symlink("/../../../../etc/shadow", root.path().join("etc/hosts")).unwrap();
        assert_eq!(
            resolve_in_root(root.path(), Path::new("/etc/hosts")).unwrap(),
            root.path().join("etc/shadow")
        );
    }

    #[test]
    fn relative_symlinks_resolve_from_their_directory() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("usr/lib")).unwrap();
        symlink("usr/lib", root.path().join("lib")).unwrap();
        symlink("../../../../..", root.path().join("usr/lib/up")).unwrap();
        assert_eq!(
            resolve_in_root(root.path(), Path::new("/lib/x")).unwrap(),
            root.path().join("usr/lib/x")
        );
        assert_eq!(
            resolve_in_root(root.path(), Path::new("/lib/up/tmp")).unwrap(),
            root.path().join("tmp")
        );
    }

    #[test]
    fn symlink_loops_are_an_error() {
        let root = tempfile::tempdir().unwrap();
        symlink("/b", root.path().join("a")).unwrap();
        symlink("/a", root.path().join("b")).unwrap();
        let err = resolve_in_root(root.path(), Path::new("/a/x")).unwrap_err();
        assert!(err.to_string().contains("too many levels"), "{err}");
    }
}
