//! What the tests of this crate share: the privilege check and cleanup guards.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Whether the test may do what needs root; when not, fails under
/// `BERTH_REQUIRE_PRIVILEGED=1` (CI) and otherwise says why and lets the test return early.
pub fn privileged(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    let message = format!("{test}: needs root (mounts, file owners)");
    if std::env::var("BERTH_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{message} (BERTH_REQUIRE_PRIVILEGED=1)");
    }
    eprintln!("skipping {message}");
    false
}

/// Unmounts what is mounted at its path when dropped, so that a failing test leaves no mount
/// behind (and its temporary directory can be deleted without reaching mounted data).
pub struct Unmount(pub PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        for _ in 0..4 {
            if nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH).is_err() {
                break;
            }
        }
    }
}

/// A temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("berth-volumes-{}-", std::process::id()))
        .tempdir()
        .expect("creating a temporary directory")
}

/// The mode bits of `path` (not following a symlink).
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).expect("stat").mode() & 0o7777
}

/// The owner of `path` (not following a symlink).
pub fn owner(path: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).expect("stat");
    (m.uid(), m.gid())
}
