//! The volume store: create, inspect, list, remove, prune; data that survives everything but
//! an explicit remove.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use berth_volumes::VolumeError;
use berth_volumes::copy_up::CopyOutcome;
use berth_volumes::store::{ANONYMOUS_LABEL, VolumeSpec, VolumeStore};
use common::tempdir;

fn spec(name: &str) -> VolumeSpec {
    VolumeSpec {
        name: name.to_owned(),
        labels: BTreeMap::from([("com.docker.compose.project".to_owned(), "proj".to_owned())]),
        ..VolumeSpec::default()
    }
}

#[test]
fn create_list_inspect_remove() {
    let dir = tempdir();
    let store = VolumeStore::open(dir.path().join("volumes")).unwrap();
    let v = store.create(&spec("proj_data")).unwrap();
    assert_eq!(v.driver, "local");
    assert!(!v.anonymous);
    assert_eq!(v.mountpoint, dir.path().join("volumes/proj_data/_data"));
    assert!(v.mountpoint.is_dir());
    assert_eq!(v.labels["com.docker.compose.project"], "proj");
    assert!(v.created_rfc3339().ends_with('Z'));

    let anon = store.create_anonymous(&BTreeMap::new()).unwrap();
    assert!(anon.anonymous);
    assert_eq!(anon.name.len(), 64);
    assert!(anon.labels.contains_key(ANONYMOUS_LABEL));

    let names: Vec<String> = store.list().unwrap().into_iter().map(|v| v.name).collect();
    let mut expected = vec![anon.name.clone(), "proj_data".to_owned()];
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(store.inspect("proj_data").unwrap(), v);

    store.remove("proj_data", &BTreeSet::new()).unwrap();
    assert!(matches!(
        store.inspect("proj_data"),
        Err(VolumeError::NotFound(_))
    ));
    assert!(!dir.path().join("volumes/proj_data").exists());
    assert!(matches!(
        store.remove("proj_data", &BTreeSet::new()),
        Err(VolumeError::NotFound(_))
    ));
    // Nothing but volumes is left in the root: no staging or trash.
    let left: Vec<_> = std::fs::read_dir(store.root()).unwrap().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn data_survives_reopen_and_recreate() {
    let dir = tempdir();
    let root = dir.path().join("volumes");
    {
        let store = VolumeStore::open(&root).unwrap();
        let v = store.create(&spec("proj_db")).unwrap();
        std::fs::write(v.mountpoint.join("table"), b"rows").unwrap();
    }
    let store = VolumeStore::open(&root).unwrap();
    let v = store.inspect("proj_db").unwrap();
    assert_eq!(std::fs::read(v.mountpoint.join("table")).unwrap(), b"rows");
    // Creating it again (the next `up`) returns the same volume, data untouched.
    let again = store.create(&spec("proj_db")).unwrap();
    assert_eq!(again.created_at, v.created_at);
    assert_eq!(
        std::fs::read(again.mountpoint.join("table")).unwrap(),
        b"rows"
    );
    // Pruning without -a never touches a named volume.
    assert!(store.prune(&BTreeSet::new(), false).unwrap().is_empty());
    assert!(again.mountpoint.join("table").exists());
}

#[test]
fn remove_refuses_in_use() {
    let dir = tempdir();
    let store = VolumeStore::open(dir.path()).unwrap();
    let v = store.create(&spec("proj_keep")).unwrap();
    std::fs::write(v.mountpoint.join("f"), b"x").unwrap();
    let in_use = BTreeSet::from(["proj_keep".to_owned()]);
    let err = store.remove("proj_keep", &in_use).unwrap_err();
    assert!(matches!(err, VolumeError::InUse(_)));
    assert_eq!(err.to_string(), "remove proj_keep: volume is in use");
    assert!(v.mountpoint.join("f").exists());
    assert!(store.prune(&in_use, true).unwrap().is_empty());
    assert!(v.mountpoint.join("f").exists());
}

#[test]
fn prune_anonymous_then_all() {
    let dir = tempdir();
    let store = VolumeStore::open(dir.path()).unwrap();
    let named = store.create(&spec("proj_named")).unwrap();
    let anon = store.create_anonymous(&BTreeMap::new()).unwrap();
    let busy = store.create_anonymous(&BTreeMap::new()).unwrap();
    let in_use = BTreeSet::from([busy.name.clone()]);
    assert_eq!(store.prune(&in_use, false).unwrap(), vec![anon.name]);
    assert_eq!(store.prune(&in_use, true).unwrap(), vec![named.name]);
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn bad_input_is_refused_clearly() {
    let dir = tempdir();
    let store = VolumeStore::open(dir.path()).unwrap();
    for bad in ["a", "../etc", "x/y", ".hidden"] {
        assert!(matches!(
            store.create(&spec(bad)),
            Err(VolumeError::InvalidName(_))
        ));
    }
    let mut s = spec("proj_nfs");
    s.driver = "rexray".into();
    assert!(matches!(
        store.create(&s),
        Err(VolumeError::UnsupportedDriver(_))
    ));
    let mut s = spec("proj_opts");
    s.options.insert("sise".into(), "1m".into());
    let err = store.create(&s).unwrap_err();
    assert!(err.to_string().contains("\"sise\""), "{err}");
    // Same name, other options: a conflict, not a silent reuse.
    let mut a = spec("proj_tmp");
    a.options = BTreeMap::from([
        ("type".into(), "tmpfs".into()),
        ("device".into(), "tmpfs".into()),
    ]);
    store.create(&a).unwrap();
    a.options.insert("o".into(), "size=1m".into());
    assert!(matches!(
        store.create(&a),
        Err(VolumeError::Conflict { .. })
    ));
    // Corrupt metadata is an error naming the file, not a panic.
    std::fs::write(dir.path().join("proj_tmp/volume.json"), b"{").unwrap();
    let err = store.inspect("proj_tmp").unwrap_err();
    assert!(err.to_string().contains("volume.json"), "{err}");
}

#[test]
fn leftovers_of_interrupted_operations_are_cleared() {
    let dir = tempdir();
    std::fs::create_dir_all(dir.path().join(".trash-old-1234/_data/x")).unwrap();
    // A staging directory of a process that no longer exists (pid beyond pid_max).
    std::fs::create_dir_all(dir.path().join(".new-half-99999999/_data")).unwrap();
    let store = VolumeStore::open(dir.path()).unwrap();
    assert!(store.list().unwrap().is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn populate_copies_once() {
    let dir = tempdir();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("var/lib/app")).unwrap();
    std::fs::write(rootfs.join("var/lib/app/seed"), b"seed").unwrap();
    let store = VolumeStore::open(dir.path().join("volumes")).unwrap();
    let v = store.create(&spec("proj_app")).unwrap();
    let target = std::path::Path::new("/var/lib/app");
    assert_eq!(
        store.populate("proj_app", Some((&rootfs, target))).unwrap(),
        CopyOutcome::Copied(1)
    );
    assert_eq!(std::fs::read(v.mountpoint.join("seed")).unwrap(), b"seed");
    // The user empties the volume: the next container does not bring the image's data back.
    std::fs::remove_file(v.mountpoint.join("seed")).unwrap();
    assert_eq!(
        store.populate("proj_app", Some((&rootfs, target))).unwrap(),
        CopyOutcome::AlreadyPopulated
    );
    assert!(!v.mountpoint.join("seed").exists());
    assert!(store.inspect("proj_app").unwrap().populated);
}

#[test]
fn volume_of_path() {
    let dir = tempdir();
    let store = VolumeStore::open(dir.path()).unwrap();
    let v = store.create(&spec("proj_x")).unwrap();
    assert_eq!(
        store.volume_of_path(&v.mountpoint).as_deref(),
        Some("proj_x")
    );
    assert_eq!(
        store.volume_of_path(&v.mountpoint.join("sub")).as_deref(),
        Some("proj_x")
    );
    assert_eq!(store.volume_of_path(std::path::Path::new("/srv")), None);
}

#[test]
fn remove_refuses_a_mounted_data_dir() {
    if !common::privileged("remove_refuses_a_mounted_data_dir") {
        return;
    }
    let dir = tempdir();
    let host = dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("precious"), b"keep").unwrap();
    let store = VolumeStore::open(dir.path().join("volumes")).unwrap();
    let v = store.create(&spec("proj_m")).unwrap();
    nix::mount::mount(
        Some(&host),
        &v.mountpoint,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .unwrap();
    let _guard = common::Unmount(v.mountpoint.clone());
    assert!(matches!(
        store.remove("proj_m", &BTreeSet::new()),
        Err(VolumeError::StillMounted(_))
    ));
    assert_eq!(std::fs::read(host.join("precious")).unwrap(), b"keep");
}

#[test]
fn external_volumes_must_exist() {
    let dir = tempdir();
    let store = VolumeStore::open(dir.path()).unwrap();
    let err = store.external("shared_data").unwrap_err();
    assert_eq!(err.to_string(), "no such volume: shared_data");
    // berth never creates it on the way.
    assert!(store.list().unwrap().is_empty());
    store.create(&spec("shared_data")).unwrap();
    assert_eq!(store.external("shared_data").unwrap().name, "shared_data");
}

#[test]
fn remove_refuses_a_mount_inside_the_volume() {
    if !common::privileged("remove_refuses_a_mount_inside_the_volume") {
        return;
    }
    let dir = tempdir();
    let host = dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("precious"), b"keep").unwrap();
    let store = VolumeStore::open(dir.path().join("volumes")).unwrap();
    let v = store.create(&spec("proj_nested")).unwrap();
    let inner = v.mountpoint.join("deep/inner");
    std::fs::create_dir_all(&inner).unwrap();
    nix::mount::mount(
        Some(&host),
        &inner,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .unwrap();
    let guard = common::Unmount(inner.clone());
    let err = store.remove("proj_nested", &BTreeSet::new()).unwrap_err();
    assert!(matches!(err, VolumeError::StillMounted(_)), "{err}");
    assert_eq!(std::fs::read(host.join("precious")).unwrap(), b"keep");
    assert!(store.inspect("proj_nested").is_ok());
    drop(guard);
    store.remove("proj_nested", &BTreeSet::new()).unwrap();
    assert_eq!(std::fs::read(host.join("precious")).unwrap(), b"keep");
}
