//! Docker's local driver options: a tmpfs volume and a bind of a host directory, mounted at
//! `_data` on first use and unmounted on release; removal never reaches the mounted data.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use berth_volumes::local_driver::is_mount_point;
use berth_volumes::store::{VolumeSpec, VolumeStore};
use common::{Unmount, tempdir};

fn spec(name: &str, opts: &[(&str, &str)]) -> VolumeSpec {
    VolumeSpec {
        name: name.to_owned(),
        options: opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..VolumeSpec::default()
    }
}

#[test]
fn tmpfs_volume_mounts_and_unmounts() {
    if !common::privileged("tmpfs_volume_mounts_and_unmounts") {
        return;
    }
    let dir = tempdir();
    let store = VolumeStore::open(dir.path()).unwrap();
    let v = store
        .create(&spec(
            "proj_tmp",
            &[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")],
        ))
        .unwrap();
    assert!(!is_mount_point(&v.mountpoint).unwrap());
    let path = store.mount("proj_tmp").unwrap();
    let _guard = Unmount(path.clone());
    assert!(is_mount_point(&path).unwrap());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(path.to_str().unwrap()))
        .expect("the mount in mountinfo");
    assert!(line.contains(" - tmpfs tmpfs "), "{line}");
    // size=1m holds: 2 MiB do not fit.
    let err = std::fs::write(path.join("big"), vec![0u8; 2 << 20]).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(28), "ENOSPC expected, got {err}");
    // A second user mounts nothing more.
    store.mount("proj_tmp").unwrap();
    let count = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(path.to_str().unwrap()))
        .count();
    assert_eq!(count, 1);
    store.release("proj_tmp").unwrap();
    assert!(!is_mount_point(&path).unwrap());
    store.release("proj_tmp").unwrap();
    store.remove("proj_tmp", &BTreeSet::new()).unwrap();
}

#[test]
fn bind_volume_of_a_host_directory() {
    if !common::privileged("bind_volume_of_a_host_directory") {
        return;
    }
    let dir = tempdir();
    let host = dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("existing"), b"host data").unwrap();
    let store = VolumeStore::open(dir.path().join("volumes")).unwrap();
    let device = host.to_str().unwrap();
    store
        .create(&spec(
            "proj_bind",
            &[("type", "none"), ("o", "bind"), ("device", device)],
        ))
        .unwrap();
    let path = store.mount("proj_bind").unwrap();
    let _guard = Unmount(path.clone());
    assert_eq!(std::fs::read(path.join("existing")).unwrap(), b"host data");
    std::fs::write(path.join("new"), b"written in the volume").unwrap();
    assert!(host.join("new").exists());
    store.release("proj_bind").unwrap();
    assert!(!path.join("existing").exists());

    // Removing a volume left mounted (a crash before release) unmounts it first: the host
    // directory keeps every file.
    store.mount("proj_bind").unwrap();
    store.remove("proj_bind", &BTreeSet::new()).unwrap();
    assert_eq!(std::fs::read(host.join("existing")).unwrap(), b"host data");
    assert!(host.join("new").exists());
}

#[test]
fn read_only_bind_volume() {
    if !common::privileged("read_only_bind_volume") {
        return;
    }
    let dir = tempdir();
    let host = dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    let store = VolumeStore::open(dir.path().join("volumes")).unwrap();
    store
        .create(&spec(
            "proj_ro",
            &[
                ("type", "none"),
                ("o", "bind,ro"),
                ("device", host.to_str().unwrap()),
            ],
        ))
        .unwrap();
    let path = store.mount("proj_ro").unwrap();
    let _guard = Unmount(path.clone());
    let err = std::fs::write(path.join("x"), b"x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(30), "EROFS expected, got {err}");
    store.release("proj_ro").unwrap();
}

#[test]
fn a_missing_device_is_a_clear_error() {
    if !common::privileged("a_missing_device_is_a_clear_error") {
        return;
    }
    let dir = tempdir();
    let store = VolumeStore::open(dir.path()).unwrap();
    let missing = dir.path().join("nope");
    store
        .create(&spec(
            "proj_gone",
            &[
                ("type", "none"),
                ("o", "bind"),
                ("device", missing.to_str().unwrap()),
            ],
        ))
        .unwrap();
    let err = store.mount("proj_gone").unwrap_err().to_string();
    assert!(err.contains("nope") && err.contains("_data"), "{err}");
}

#[test]
fn concurrent_users_mount_once() {
    if !common::privileged("concurrent_users_mount_once") {
        return;
    }
    let dir = tempdir();
    let store = VolumeStore::open(dir.path()).unwrap();
    let v = store
        .create(&spec(
            "proj_race",
            &[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=64k")],
        ))
        .unwrap();
    let _guard = Unmount(v.mountpoint.clone());
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| store.mount("proj_race").unwrap());
        }
    });
    let target = v.mountpoint.to_str().unwrap().to_owned();
    let count = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(target.as_str()))
        .count();
    assert_eq!(count, 1, "eight users, one mount");
    store.release("proj_race").unwrap();
    assert!(!is_mount_point(&v.mountpoint).unwrap());
}
