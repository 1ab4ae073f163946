//! Images end to end against a real registry: Debian's `docker-registry` on 127.0.0.1 (see
//! `support::registry`), images built here from `busybox-static` and pushed with `oci-client`,
//! pulled into a store with berth, mounted as overlay root filesystems, saved, loaded and
//! imported.
//!
//! These tests need root (overlay mounts, device whiteouts) and the Debian packages
//! `docker-registry`, `busybox-static` and `apache2-utils`. Without them they fail when
//! `BERTH_REQUIRE_PRIVILEGED=1` and otherwise say so on stderr and return early.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use berth_runtime::image::pull::{LayerState, PullEvent, PullOptions, pull};
use berth_runtime::image::registry::Platform;
use berth_runtime::image::rootfs::{MountMethod, RootfsDirs, mount_rootfs, unmount_rootfs};
use berth_runtime::image::{Reference, Store};

use support::image::{Compress, Entry, Format, LayerBuilder, Pusher, TestImage, build_image};
use support::registry::TestRegistry;
use support::{busybox, prerequisites, runtime, tree};

const TOOLS: &[&str] = &["docker-registry", "htpasswd"];

/// The host's architecture as image configurations name it.
fn host_arch() -> String {
    Platform::host().architecture
}

fn dir(path: &str) -> Entry {
    Entry::Dir(path.to_owned(), 0o755)
}

fn file(path: &str, content: &str) -> Entry {
    Entry::File(path.to_owned(), content.as_bytes().to_vec(), 0o644)
}

/// Three layers: busybox plus files (gzip), deletions and changes (zstd), an opaque directory
/// and more deletions (uncompressed).
fn layered_entries() -> Vec<Vec<Entry>> {
    let mut base = busybox::rootfs();
    base.extend([
        dir("data"),
        file("data/a", "a\n"),
        file("data/b", "b\n"),
        dir("data/sub"),
        file("data/sub/c", "c\n"),
        file("etc/removed-later", "doomed\n"),
        dir("opt"),
        dir("opt/keep"),
        file("opt/keep/file", "kept until layer 3\n"),
    ]);
    let second = vec![
        Entry::Whiteout("etc/motd".to_owned()),
        file("etc/layer2", "from layer 2\n"),
        Entry::Whiteout("bin/vi".to_owned()),
        file("data/d", "d\n"),
        file("etc/hostname", "layer2\n"),
    ];
    let third = vec![
        dir("data"),
        Entry::Opaque("data".to_owned()),
        file("data/only", "the only file left in data\n"),
        Entry::Whiteout("etc/removed-later".to_owned()),
        Entry::Whiteout("opt/keep".to_owned()),
        dir("newdir"),
        file("newdir/x", "x\n"),
    ];
    vec![base, second, third]
}

fn layered_image(format: Format) -> (TestImage, Vec<Vec<Entry>>) {
    let entries = layered_entries();
    let compressions = [Compress::Gzip, Compress::Zstd, Compress::None];
    let layers = entries
        .iter()
        .zip(compressions)
        .map(|(layer, compression)| LayerBuilder::new().entries(layer).finish(compression))
        .collect();
    (build_image(layers, format, &host_arch(), &["sh"]), entries)
}

/// Unmounts on drop, so that a failing test leaves no mount behind.
struct MountGuard(PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        if unmount_rootfs(&self.0).is_err() {
            let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

fn reference(registry: &TestRegistry, path: &str) -> Reference {
    Reference::parse(&format!("{}/{path}", registry.host())).expect("a valid reference")
}

/// Options with no credentials file (so that the machine's own is never read).
fn options(work: &Path) -> PullOptions {
    PullOptions {
        docker_config: Some(work.join("no-docker-config.json")),
        retry_delay: Duration::from_millis(50),
        ..PullOptions::default()
    }
}

type Events = Mutex<Vec<PullEvent>>;

fn recorder(events: &Events) -> impl Fn(&PullEvent) + Send + Sync + '_ {
    move |event: &PullEvent| events.lock().expect("events").push(event.clone())
}

fn mount_and_compare(store: &Store, image: &str, work: &Path, expected: &tree::Tree, method: MountMethod) {
    let dirs = RootfsDirs {
        upper: work.join("upper"),
        work: work.join("work"),
        target: work.join("merged"),
    };
    let mounted = mount_rootfs(store, image, &dirs, method).expect("mounting the rootfs");
    let _guard = MountGuard(mounted.target.clone());
    let actual = tree::read(&mounted.target);
    let diff = tree::diff(expected, &actual);
    assert!(diff.is_empty(), "the merged rootfs differs from the layers:\n{diff}");
}

#[test]
fn pulls_layers_with_whiteouts_and_mounts_the_exact_rootfs() {
    if !prerequisites("pulls_layers_with_whiteouts_and_mounts_the_exact_rootfs", true, TOOLS) {
        return;
    }
    let registry = TestRegistry::start();
    let (image, entries) = layered_image(Format::Oci);
    let rt = runtime();
    rt.block_on(Pusher::new(&registry.host(), None).push_image("test/layered", "v1", &image));

    let work = tempfile::tempdir().expect("tempdir");
    let store = Store::open(work.path().join("images")).expect("store");
    let events = Events::default();
    let pulled = rt
        .block_on(pull(
            &store,
            &reference(&registry, "test/layered:v1"),
            &options(work.path()),
            &recorder(&events),
        ))
        .expect("pull");
    assert_eq!(pulled.id, image.config_digest);
    assert_eq!(pulled.manifest.to_string(), image.manifest_digest);
    assert!(pulled.downloaded);

    // Per-layer progress reached each layer's size, and every layer completed.
    let events = events.into_inner().expect("events");
    for layer in &image.layers {
        let mine: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                PullEvent::Layer { digest, state, done, total } if digest.to_string() == layer.digest => {
                    Some((state.clone(), *done, *total))
                }
                _ => None,
            })
            .collect();
        let size = layer.blob.len() as u64;
        assert!(mine.contains(&(LayerState::Downloading, size, size)), "{mine:?}");
        assert!(mine.contains(&(LayerState::Complete, size, size)), "{mine:?}");
    }

    let expected = tree::expected(&entries);
    assert!(!expected.contains_key("etc/motd") && expected.contains_key("data/only"));
    let image_name = format!("{}/test/layered:v1", registry.host());
    mount_and_compare(&store, &image_name, &work.path().join("c1"), &expected, MountMethod::ShortLinks);
    mount_and_compare(&store, &pulled.id, &work.path().join("c2"), &expected, MountMethod::MountApi);

    // The merged tree runs: busybox reads the layer-2 hostname through the overlay.
    let dirs = RootfsDirs {
        upper: work.path().join("c3/upper"),
        work: work.path().join("c3/work"),
        target: work.path().join("c3/merged"),
    };
    let mounted = mount_rootfs(&store, &image_name, &dirs, MountMethod::Auto).expect("mount");
    let _guard = MountGuard(mounted.target.clone());
    let output = std::process::Command::new("chroot")
        .arg(&mounted.target)
        .args(["/bin/sh", "-c", "cat /etc/hostname; ls /data"])
        .output()
        .expect("chroot");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "layer2\nonly\n");

    // A second pull finds everything in place.
    let again = rt
        .block_on(pull(
            &store,
            &reference(&registry, "test/layered:v1"),
            &options(work.path()),
            &|_: &PullEvent| {},
        ))
        .expect("second pull");
    assert!(!again.downloaded);
    let summaries = store.list().expect("list");
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].repo_tags, vec![format!("{}/test/layered:v1", registry.host())]);
    let details = store.inspect(&image_name).expect("inspect");
    assert_eq!(details.layers.len(), 3);
    assert_eq!(
        details.layers.iter().map(|l| l.digest.clone()).collect::<BTreeSet<_>>(),
        image.layers.iter().map(|l| l.digest.clone()).collect::<BTreeSet<_>>()
    );
    assert_eq!(details.config.and_then(|c| c.cmd), Some(vec!["sh".to_owned()]));
    assert!(details.size > 1_000_000, "busybox alone is larger: {}", details.size);
}
