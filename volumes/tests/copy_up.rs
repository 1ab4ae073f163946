//! Copy-up of an image's directory into a fresh volume: owners, modes, symlinks, hard links,
//! special files and extended attributes kept; symlinks never followed out of the image.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_volumes::VolumeError;
use berth_volumes::copy_up::{CopyOutcome, copy_up, resolve_in_root};
use common::{mode, owner, tempdir};

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
}

fn chmod(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

#[test]
fn copies_tree_with_owners_modes_links() {
    if !common::privileged("copies_tree_with_owners_modes_links") {
        return;
    }
    let dir = tempdir();
    let rootfs = dir.path().join("rootfs");
    let src = rootfs.join("var/lib/db");
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    chown(&src, 999, 998);
    chmod(&src, 0o750);
    std::fs::write(src.join("conf"), b"config").unwrap();
    chown(&src.join("conf"), 1001, 1002);
    chmod(&src.join("conf"), 0o640);
    std::fs::write(src.join("tool"), b"#!/bin/sh\n").unwrap();
    chmod(&src.join("tool"), 0o4755);
    std::fs::write(src.join("sub/deeper/leaf"), b"leaf").unwrap();
    std::fs::hard_link(src.join("conf"), src.join("sub/conf-link")).unwrap();
    std::os::unix::fs::symlink("../conf", src.join("sub/rel")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", src.join("abs")).unwrap();
    chown(&src.join("abs"), 7, 8);
    nix::unistd::mkfifo(
        &src.join("pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o620),
    )
    .unwrap();
    chmod(&src.join("pipe"), 0o620);
    let xattr = rustix::fs::lsetxattr(
        src.join("conf"),
        "user.berth",
        b"yes",
        rustix::fs::XattrFlags::empty(),
    )
    .is_ok();

    let dest = dir.path().join("_data");
    std::fs::create_dir(&dest).unwrap();
    let out = copy_up(&rootfs, Path::new("/var/lib/db"), &dest).unwrap();
    // conf, tool, sub, sub/deeper, sub/deeper/leaf, sub/conf-link, sub/rel, abs, pipe
    assert_eq!(out, CopyOutcome::Copied(9));

    assert_eq!(owner(&dest), (999, 998));
    assert_eq!(mode(&dest), 0o750);
    assert_eq!(std::fs::read(dest.join("conf")).unwrap(), b"config");
    assert_eq!(owner(&dest.join("conf")), (1001, 1002));
    assert_eq!(mode(&dest.join("conf")), 0o640);
    assert_eq!(mode(&dest.join("tool")), 0o4755);
    assert_eq!(
        std::fs::read(dest.join("sub/deeper/leaf")).unwrap(),
        b"leaf"
    );
    let a = std::fs::metadata(dest.join("conf")).unwrap();
    let b = std::fs::metadata(dest.join("sub/conf-link")).unwrap();
    assert_eq!(a.ino(), b.ino(), "hard links stay hard links");
    assert_eq!(
        std::fs::read_link(dest.join("sub/rel")).unwrap(),
        Path::new("../conf")
    );
    // The symlink is copied as a link, never followed: no copy of the host's /etc/passwd.
    assert_eq!(
        std::fs::read_link(dest.join("abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(owner(&dest.join("abs")), (7, 8));
    assert!(
        std::fs::symlink_metadata(dest.join("pipe"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(mode(&dest.join("pipe")), 0o620);
    assert_eq!(
        std::fs::metadata(dest.join("conf")).unwrap().mtime(),
        std::fs::metadata(src.join("conf")).unwrap().mtime()
    );
    if xattr {
        let mut buf = [0u8; 16];
        let n = rustix::fs::lgetxattr(dest.join("conf"), "user.berth", &mut buf[..]).unwrap();
        assert_eq!(&buf[..n], b"yes");
    }
}

use std::os::unix::fs::FileTypeExt;

#[test]
fn only_into_an_empty_volume() {
    let dir = tempdir();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("data")).unwrap();
    std::fs::write(rootfs.join("data/image-file"), b"image").unwrap();
    let dest = dir.path().join("_data");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("user-file"), b"mine").unwrap();
    assert_eq!(
        copy_up(&rootfs, Path::new("/data"), &dest).unwrap(),
        CopyOutcome::NotEmpty
    );
    assert!(!dest.join("image-file").exists());
    assert_eq!(std::fs::read(dest.join("user-file")).unwrap(), b"mine");
    assert_eq!(
        copy_up(&rootfs, Path::new("/nothing/here"), &dest).unwrap(),
        CopyOutcome::SourceMissing
    );
    // A file at the target is not a directory to copy.
    assert_eq!(
        copy_up(&rootfs, Path::new("/data/image-file"), &dest).unwrap(),
        CopyOutcome::SourceMissing
    );
}

#[test]
fn symlinks_resolve_inside_the_image() {
    let dir = tempdir();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc/app")).unwrap();
    std::fs::write(rootfs.join("etc/app/image-only"), b"i").unwrap();
    // An absolute symlink means the image's /etc, not the host's.
    std::os::unix::fs::symlink("/etc/app", rootfs.join("config")).unwrap();
    let dest = dir.path().join("_data");
    std::fs::create_dir(&dest).unwrap();
    assert_eq!(
        copy_up(&rootfs, Path::new("/config"), &dest).unwrap(),
        CopyOutcome::Copied(1)
    );
    assert!(dest.join("image-only").exists());
    assert_eq!(
        resolve_in_root(&rootfs, Path::new("/config/../app")).unwrap(),
        Some(rootfs.join("etc/app"))
    );
}

#[test]
fn refuses_escaping_symlinks() {
    let dir = tempdir();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("var/lib")).unwrap();
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    std::fs::write(dir.path().join("outside/host-secret"), b"s").unwrap();
    std::os::unix::fs::symlink("../../../outside", rootfs.join("var/lib/evil")).unwrap();
    let dest = dir.path().join("_data");
    std::fs::create_dir(&dest).unwrap();
    let err = copy_up(&rootfs, Path::new("/var/lib/evil"), &dest).unwrap_err();
    assert!(matches!(err, VolumeError::Escape { .. }), "{err}");
    assert!(err.to_string().contains("escapes the image root"), "{err}");
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
    assert!(matches!(
        resolve_in_root(&rootfs, Path::new("/../etc")),
        Err(VolumeError::Escape { .. })
    ));
    // A loop is an error, not a hang.
    std::os::unix::fs::symlink("loop", rootfs.join("loop")).unwrap();
    assert!(resolve_in_root(&rootfs, Path::new("/loop")).is_err());
}
