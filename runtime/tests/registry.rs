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
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use berth_runtime::image::archive::{
    ArchiveFormat, ImportOptions, import, load, load_oci_layout, save, save_oci_layout,
};
use berth_runtime::image::pull::{LayerState, PullEvent, PullOptions, pull};
use berth_runtime::image::registry::Platform;
use berth_runtime::image::rootfs::{MountMethod, RootfsDirs, mount_rootfs, unmount_rootfs};
use berth_runtime::image::store::PruneOptions;
use berth_runtime::image::store::oci::ContainerConfig;
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
    // Docker's media types have no zstd layer.
    let compressions = match format {
        Format::Oci => [Compress::Gzip, Compress::Zstd, Compress::None],
        Format::Docker => [Compress::Gzip, Compress::Gzip, Compress::None],
    };
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

fn mount_and_compare(
    store: &Store,
    image: &str,
    work: &Path,
    expected: &tree::Tree,
    method: MountMethod,
) {
    let dirs = RootfsDirs {
        upper: work.join("upper"),
        work: work.join("work"),
        target: work.join("merged"),
    };
    let mounted = mount_rootfs(store, image, &dirs, method).expect("mounting the rootfs");
    let _guard = MountGuard(mounted.target.clone());
    let actual = tree::read(&mounted.target);
    let diff = tree::diff(expected, &actual);
    assert!(
        diff.is_empty(),
        "the merged rootfs differs from the layers:\n{diff}"
    );
}

#[test]
fn pulls_layers_with_whiteouts_and_mounts_the_exact_rootfs() {
    if !prerequisites(
        "pulls_layers_with_whiteouts_and_mounts_the_exact_rootfs",
        true,
        TOOLS,
    ) {
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
                PullEvent::Layer {
                    digest,
                    state,
                    done,
                    total,
                } if digest.to_string() == layer.digest => Some((state.clone(), *done, *total)),
                _ => None,
            })
            .collect();
        let size = layer.blob.len() as u64;
        assert!(
            mine.contains(&(LayerState::Downloading, size, size)),
            "{mine:?}"
        );
        assert!(
            mine.contains(&(LayerState::Complete, size, size)),
            "{mine:?}"
        );
    }

    let expected = tree::expected(&entries);
    assert!(!expected.contains_key("etc/motd") && expected.contains_key("data/only"));
    let image_name = format!("{}/test/layered:v1", registry.host());
    mount_and_compare(
        &store,
        &image_name,
        &work.path().join("c1"),
        &expected,
        MountMethod::ShortLinks,
    );
    mount_and_compare(
        &store,
        &pulled.id,
        &work.path().join("c2"),
        &expected,
        MountMethod::MountApi,
    );

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
    assert_eq!(
        summaries[0].repo_tags,
        vec![format!("{}/test/layered:v1", registry.host())]
    );
    let details = store.inspect(&image_name).expect("inspect");
    assert_eq!(details.layers.len(), 3);
    assert_eq!(
        details
            .layers
            .iter()
            .map(|l| l.digest.clone())
            .collect::<BTreeSet<_>>(),
        image
            .layers
            .iter()
            .map(|l| l.digest.clone())
            .collect::<BTreeSet<_>>()
    );
    assert_eq!(
        details.config.and_then(|c| c.cmd),
        Some(vec!["sh".to_owned()])
    );
    assert!(
        details.size > 1_000_000,
        "busybox alone is larger: {}",
        details.size
    );
}

/// Pushes the layered image as `test/layered:v1` and returns it with its entries.
fn push_layered(registry: &TestRegistry, format: Format) -> (TestImage, Vec<Vec<Entry>>) {
    let (image, entries) = layered_image(format);
    runtime().block_on(Pusher::new(&registry.host(), None).push_image(
        "test/layered",
        "v1",
        &image,
    ));
    (image, entries)
}

fn pull_quietly(
    store: &Store,
    reference: &Reference,
    options: &PullOptions,
) -> Result<berth_runtime::image::pull::PulledImage, String> {
    runtime()
        .block_on(pull(store, reference, options, &|_: &PullEvent| {}))
        .map_err(|e| e.to_string())
}

fn layer_digests(store: &Store, image: &str) -> Vec<String> {
    store
        .inspect(image)
        .expect("inspect")
        .layers
        .into_iter()
        .map(|l| l.digest)
        .collect()
}

#[test]
fn save_then_load_keeps_digests_in_every_format() {
    if !prerequisites(
        "save_then_load_keeps_digests_in_every_format",
        true,
        &["docker-registry", "skopeo"],
    ) {
        return;
    }
    let registry = TestRegistry::start();
    let (image, entries) = push_layered(&registry, Format::Docker);
    let work = tempfile::tempdir().expect("tempdir");
    let source = Store::open(work.path().join("source")).expect("store");
    let name = format!("{}/test/layered:v1", registry.host());
    pull_quietly(
        &source,
        &reference(&registry, "test/layered:v1"),
        &options(work.path()),
    )
    .expect("pull");
    let original = source.inspect(&name).expect("inspect");
    assert_eq!(
        original.manifest_media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let expected = tree::expected(&entries);

    let check = |store: &Store, what: &str| {
        let loaded = store
            .inspect(&name)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(loaded.id, original.id, "{what}");
        assert_eq!(loaded.manifest_digest, original.manifest_digest, "{what}");
        assert_eq!(
            layer_digests(store, &name),
            layer_digests(&source, &name),
            "{what}"
        );
        assert_eq!(loaded.repo_tags, vec![name.clone()], "{what}");
    };

    // docker-archive (OCI layout + manifest.json), also gzip-compressed.
    let archive = work.path().join("saved.tar");
    let file = fs::File::create(&archive).expect("archive file");
    save(&source, &[&name], ArchiveFormat::Docker, file).expect("save");
    let target = Store::open(work.path().join("docker")).expect("store");
    let loaded = load(&target, fs::File::open(&archive).expect("open")).expect("load");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, image.config_digest);
    assert_eq!(loaded[0].tags, vec![name.clone()]);
    check(&target, "docker archive");
    mount_and_compare(
        &target,
        &name,
        &work.path().join("c-docker"),
        &expected,
        MountMethod::Auto,
    );

    let gzipped = work.path().join("saved.tar.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        fs::File::create(&gzipped).expect("gz"),
        flate2::Compression::fast(),
    );
    std::io::copy(&mut fs::File::open(&archive).expect("open"), &mut encoder).expect("gzip");
    encoder.finish().expect("gzip");
    let target = Store::open(work.path().join("gzip")).expect("store");
    load(&target, fs::File::open(&gzipped).expect("open")).expect("load gzip");
    check(&target, "gzip docker archive");

    // OCI archive and OCI layout directory.
    let oci_archive = work.path().join("saved-oci.tar");
    save(
        &source,
        &[&name],
        ArchiveFormat::OciArchive,
        fs::File::create(&oci_archive).expect("file"),
    )
    .expect("save oci");
    let target = Store::open(work.path().join("oci")).expect("store");
    load(&target, fs::File::open(&oci_archive).expect("open")).expect("load oci");
    check(&target, "oci archive");
    let layout = work.path().join("layout");
    save_oci_layout(&source, &[&name], &layout).expect("save layout");
    let target = Store::open(work.path().join("layout-store")).expect("store");
    load_oci_layout(&target, &layout).expect("load layout");
    check(&target, "oci layout");

    // Other tools read berth's archives, and berth reads skopeo's legacy docker-archive.
    let copied = work.path().join("skopeo-oci");
    let status = std::process::Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("oci:{}:copied", copied.display()))
        .status()
        .expect("skopeo");
    assert!(
        status.success(),
        "skopeo could not read berth's docker archive"
    );
    let legacy = work.path().join("legacy.tar");
    let status = std::process::Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{name}"))
        .arg(format!("docker-archive:{}:{name}", legacy.display()))
        .status()
        .expect("skopeo");
    assert!(status.success(), "skopeo copy to docker-archive");
    let target = Store::open(work.path().join("legacy-store")).expect("store");
    let loaded =
        load(&target, fs::File::open(&legacy).expect("open")).expect("load legacy archive");
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        loaded[0].id, original.id,
        "the configuration survives a legacy archive"
    );
    assert_eq!(loaded[0].tags, vec![name.clone()]);
    mount_and_compare(
        &target,
        &name,
        &work.path().join("c-legacy"),
        &expected,
        MountMethod::Auto,
    );
}

#[test]
fn import_makes_a_one_layer_image_from_a_rootfs_tarball() {
    if !prerequisites(
        "import_makes_a_one_layer_image_from_a_rootfs_tarball",
        true,
        &[],
    ) {
        return;
    }
    let mut entries = busybox::rootfs();
    entries.push(file("etc/imported", "yes\n"));
    let layer = LayerBuilder::new().entries(&entries).finish(Compress::Gzip);
    let work = tempfile::tempdir().expect("tempdir");
    let store = Store::open(work.path().join("images")).expect("store");
    let options = ImportOptions {
        reference: Some(Reference::parse("imported/busybox:1").expect("reference")),
        config: ContainerConfig {
            cmd: Some(vec!["sh".to_owned()]),
            ..ContainerConfig::default()
        },
        message: Some("from a tarball".to_owned()),
        platform: None,
    };
    let id = import(&store, &layer.blob[..], &options).expect("import");
    let details = store.inspect("imported/busybox:1").expect("inspect");
    assert_eq!(details.id, id);
    assert_eq!(details.layers.len(), 1);
    assert_eq!(details.layers[0].diff_id, layer.diff_id);
    assert_eq!(
        details.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(details.repo_tags, vec!["imported/busybox:1".to_owned()]);
    assert_eq!(
        details.config.and_then(|c| c.cmd),
        Some(vec!["sh".to_owned()])
    );
    assert_eq!(
        details.history[0].comment.as_deref(),
        Some("from a tarball")
    );
    let expected = tree::expected(&[entries]);
    mount_and_compare(
        &store,
        "imported/busybox:1",
        &work.path().join("c"),
        &expected,
        MountMethod::Auto,
    );

    // Importing the same content again gives the same layer, stored once.
    let again = import(&store, &layer.blob[..], &ImportOptions::default()).expect("import again");
    assert_ne!(again, id, "the creation time differs, so the image differs");
    let layers = fs::read_dir(work.path().join("images/layers/sha256"))
        .expect("layers")
        .count();
    assert_eq!(layers, 1);
}

#[test]
fn errors_name_the_image_and_the_cause_on_one_line() {
    if !prerequisites(
        "errors_name_the_image_and_the_cause_on_one_line",
        true,
        TOOLS,
    ) {
        return;
    }
    let open = TestRegistry::start();
    push_layered(&open, Format::Oci);
    let private = TestRegistry::start_with_auth("alice", "secret");
    let (image, _) = layered_image(Format::Oci);
    runtime().block_on(
        Pusher::new(&private.host(), private.credentials.as_ref()).push_image(
            "test/private",
            "v1",
            &image,
        ),
    );

    let work = tempfile::tempdir().expect("tempdir");
    let store = Store::open(work.path().join("images")).expect("store");
    let with_config = |auth: &str| {
        let path = work.path().join(format!("config-{}.json", auth.len()));
        let encoded = base64(auth);
        fs::write(
            &path,
            format!(
                r#"{{"auths":{{"{}":{{"auth":"{encoded}"}}}}}}"#,
                private.host()
            ),
        )
        .expect("config");
        PullOptions {
            docker_config: Some(path),
            retries: 0,
            ..PullOptions::default()
        }
    };
    let error_of = |reference: Reference, options: &PullOptions| -> String {
        let message = pull_quietly(&store, &reference, options).expect_err("the pull must fail");
        assert!(!message.contains('\n'), "one line: {message}");
        message
    };

    let host = private.host();
    let message = error_of(
        reference(&private, "test/private:v1"),
        &with_config("alice:wrong"),
    );
    assert_eq!(
        message,
        format!(
            "cannot pull {host}/test/private:v1: authentication failed: {host} rejected the credentials of user \"alice\""
        )
    );
    let message = error_of(
        reference(&private, "test/private:v1"),
        &options(work.path()),
    );
    assert!(
        message.starts_with(&format!("cannot pull {host}/test/private:v1: authentication required: {host} refused anonymous access")),
        "{message}"
    );
    // The right credentials, from the same kind of file, work.
    let pulled = pull_quietly(
        &store,
        &reference(&private, "test/private:v1"),
        &with_config("alice:secret"),
    )
    .expect("pull with credentials");
    assert_eq!(pulled.id, image.config_digest);

    let host = open.host();
    let message = error_of(reference(&open, "test/nothing:v1"), &options(work.path()));
    assert_eq!(
        message,
        format!(
            "cannot pull {host}/test/nothing:v1: repository {host}/test/nothing not found: it does not exist on {host}"
        )
    );
    let message = error_of(reference(&open, "test/layered:nope"), &options(work.path()));
    assert_eq!(
        message,
        format!(
            "cannot pull {host}/test/layered:nope: tag \"nope\" not found in repository {host}/test/layered"
        )
    );
    let digest = format!("sha256:{}", "0".repeat(64));
    let message = error_of(
        reference(&open, &format!("test/layered@{digest}")),
        &options(work.path()),
    );
    assert_eq!(
        message,
        format!(
            "cannot pull {host}/test/layered@{digest}: manifest {digest} not found in repository {host}/test/layered"
        )
    );

    let port = support::registry::free_port();
    let unreachable =
        Reference::parse(&format!("127.0.0.1:{port}/test/layered:v1")).expect("reference");
    let message = error_of(unreachable, &options(work.path()));
    let prefix = format!(
        "cannot pull 127.0.0.1:{port}/test/layered:v1: registry 127.0.0.1:{port} is unreachable: "
    );
    assert!(message.starts_with(&prefix), "{message}");
    assert!(
        message.to_lowercase().contains("connection refused"),
        "{message}"
    );
}

/// Standard base64 (for `auths` entries).
fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An image whose middle layer is large (incompressible), to interrupt mid-transfer.
fn big_image() -> (TestImage, Vec<Vec<Entry>>) {
    let base = busybox::rootfs();
    let big = vec![
        dir("big"),
        Entry::File("big/blob".to_owned(), support::noise(7, 48 << 20), 0o644),
    ];
    let top = vec![file("etc/top", "top\n")];
    let layers = vec![
        LayerBuilder::new().entries(&base).finish(Compress::Gzip),
        LayerBuilder::new().entries(&big).finish(Compress::None),
        LayerBuilder::new().entries(&top).finish(Compress::Zstd),
    ];
    (
        build_image(layers, Format::Oci, &host_arch(), &["sh"]),
        vec![base, big, top],
    )
}

fn resumed_from(events: &[PullEvent], layer: &str) -> Option<u64> {
    events.iter().find_map(|e| match e {
        PullEvent::Layer {
            digest,
            state: LayerState::Resuming { from },
            ..
        } if digest.to_string() == layer => Some(*from),
        _ => None,
    })
}

#[test]
fn a_pull_interrupted_mid_layer_resumes_and_verifies() {
    if !prerequisites(
        "a_pull_interrupted_mid_layer_resumes_and_verifies",
        true,
        TOOLS,
    ) {
        return;
    }
    let mut registry = TestRegistry::start();
    let (image, entries) = big_image();
    runtime().block_on(Pusher::new(&registry.host(), None).push_image("test/big", "v1", &image));
    let big = image.layers[1].digest.clone();
    let big_size = image.layers[1].blob.len() as u64;
    let work = tempfile::tempdir().expect("tempdir");
    let store = Store::open(work.path().join("images")).expect("store");
    let name = reference(&registry, "test/big:v1");
    let options = PullOptions {
        retries: 1,
        max_concurrent_downloads: 1,
        ..options(work.path())
    };

    // 1. The registry process is killed while the big layer is being transferred.
    let pid = registry.pid().expect("registry pid");
    let killed = std::sync::atomic::AtomicBool::new(false);
    let on_event = |event: &PullEvent| {
        if downloading_past(event, &big, 8 << 20)
            && !killed.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let pid = rustix::process::Pid::from_raw(pid as i32).expect("pid");
            rustix::process::kill_process(pid, rustix::process::Signal::KILL)
                .expect("killing the registry");
        }
    };
    let error = runtime()
        .block_on(pull(&store, &name, &options, &on_event))
        .expect_err("the pull must fail while the registry is gone")
        .to_string();
    assert!(killed.load(std::sync::atomic::Ordering::SeqCst));
    assert!(
        error.contains("unreachable") || error.contains("interrupted"),
        "{error}"
    );
    let partial = work
        .path()
        .join(format!("images/ingest/{}.partial", big.replace(':', "-")));
    let kept = fs::metadata(&partial)
        .expect("the partial download is kept")
        .len();
    assert!(
        kept >= 8 << 20 && kept < big_size,
        "kept {kept} of {big_size}"
    );
    assert!(
        store.list().expect("list").is_empty(),
        "nothing half-pulled is named"
    );

    // 2. With the registry back, the next pull continues from the partial file.
    registry.restart();
    let events = Events::default();
    let pulled = runtime()
        .block_on(pull(&store, &name, &options, &recorder(&events)))
        .expect("the resumed pull");
    let events = events.into_inner().expect("events");
    assert_eq!(resumed_from(&events, &big), Some(kept));
    assert_eq!(pulled.id, image.config_digest);
    assert!(!partial.exists());
    mount_and_compare(
        &store,
        &pulled.id,
        &work.path().join("c1"),
        &tree::expected(&entries),
        MountMethod::Auto,
    );

    // 3. A pull cancelled by its caller (the future dropped) resumes the same way.
    let store = Store::open(work.path().join("images2")).expect("store");
    let cancel = tokio::sync::Notify::new();
    let on_event = |event: &PullEvent| {
        if downloading_past(event, &big, 4 << 20) {
            cancel.notify_one();
        }
    };
    let finished = runtime().block_on(async {
        tokio::select! {
            result = pull(&store, &name, &options, &on_event) => Some(result),
            () = cancel.notified() => None,
        }
    });
    assert!(finished.is_none(), "the pull was cancelled");
    let events = Events::default();
    runtime()
        .block_on(pull(&store, &name, &options, &recorder(&events)))
        .expect("the pull after cancelling");
    let from = resumed_from(&events.into_inner().expect("events"), &big).expect("resumed");
    assert!(from >= 4 << 20 && from < big_size, "resumed from {from}");
}

#[test]
fn a_corrupt_partial_download_is_not_trusted() {
    if !prerequisites("a_corrupt_partial_download_is_not_trusted", true, TOOLS) {
        return;
    }
    let registry = TestRegistry::start();
    let (image, entries) = push_layered(&registry, Format::Oci);
    let work = tempfile::tempdir().expect("tempdir");
    let store = Store::open(work.path().join("images")).expect("store");
    // A partial file whose bytes are not the blob's: resuming after it cannot verify, so the
    // pull must fail and drop it; the next pull starts over and succeeds.
    let layer = &image.layers[0];
    let partial = work.path().join(format!(
        "images/ingest/{}.partial",
        layer.digest.replace(':', "-")
    ));
    fs::write(&partial, support::noise(3, layer.blob.len() / 2)).expect("partial");
    let name = reference(&registry, "test/layered:v1");
    let error = pull_quietly(&store, &name, &options(work.path())).expect_err("corrupt partial");
    assert!(error.contains("digest mismatch"), "{error}");
    assert!(!partial.exists(), "the corrupt partial file is dropped");
    pull_quietly(&store, &name, &options(work.path())).expect("the next pull");
    mount_and_compare(
        &store,
        &image.config_digest,
        &work.path().join("c"),
        &tree::expected(&entries),
        MountMethod::Auto,
    );
}

/// Environment of the helper process of the concurrency test.
const CHILD_ROOT: &str = "BERTH_TEST_PULL_CHILD_ROOT";
const CHILD_REFERENCE: &str = "BERTH_TEST_PULL_CHILD_REFERENCE";

/// The pull that the concurrent test's child processes (this test binary, run again with
/// the variables above) perform.
fn child_pull(root: &str) {
    let name =
        Reference::parse(&std::env::var(CHILD_REFERENCE).expect("reference")).expect("reference");
    let store = Store::open(root).expect("store");
    let options = options(Path::new(root));
    let id = pull_quietly(&store, &name, &options).expect("the child's pull");
    println!("pulled {}", id.id);
}

#[test]
fn concurrent_pulls_of_the_same_image_share_the_work() {
    if let Ok(root) = std::env::var(CHILD_ROOT) {
        // This is one of the competing processes the test starts (itself, run again).
        child_pull(&root);
        return;
    }
    if !prerequisites(
        "concurrent_pulls_of_the_same_image_share_the_work",
        true,
        TOOLS,
    ) {
        return;
    }
    let registry = TestRegistry::start();
    let (image, entries) = push_layered(&registry, Format::Oci);
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("images");
    let name = reference(&registry, "test/layered:v1");
    // Two other processes (this binary again) and two threads of this one pull at once; the
    // threads open their own store handles, and file locks are per open file, so they contend
    // exactly as processes do.
    let children: Vec<std::process::Child> = (0..2)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().expect("test binary"))
                .args([
                    "--exact",
                    "concurrent_pulls_of_the_same_image_share_the_work",
                    "--nocapture",
                ])
                .env(CHILD_ROOT, &root)
                .env(CHILD_REFERENCE, name.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("starting a child process")
        })
        .collect();
    let results: Vec<Result<String, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (root, name, options) = (root.clone(), name.clone(), options(work.path()));
                scope.spawn(move || {
                    let store = Store::open(&root).map_err(|e| e.to_string())?;
                    pull_quietly(&store, &name, &options).map(|p| p.id)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for result in results {
        assert_eq!(result.expect("every pull succeeds"), image.config_digest);
    }
    for child in children {
        let output = child.wait_with_output().expect("child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains(&format!("pulled {}", image.config_digest)),
            "child pull failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let store = Store::open(&root).expect("store");
    assert_eq!(
        fs::read_dir(root.join("layers/sha256"))
            .expect("layers")
            .count(),
        3
    );
    assert_eq!(fs::read_dir(root.join("l")).expect("links").count(), 3);
    let partials = fs::read_dir(root.join("ingest"))
        .expect("ingest")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "partial"))
        })
        .count();
    assert_eq!(partials, 0);
    assert_eq!(store.list().expect("list").len(), 1);
    mount_and_compare(
        &store,
        &image.config_digest,
        &work.path().join("c"),
        &tree::expected(&entries),
        MountMethod::Auto,
    );
}

#[test]
fn multi_platform_indexes_resolve_to_the_host_or_the_requested_platform() {
    if !prerequisites(
        "multi_platform_indexes_resolve_to_the_host_or_the_requested_platform",
        true,
        TOOLS,
    ) {
        return;
    }
    let registry = TestRegistry::start();
    let host = host_arch();
    let other = if host == "arm64" { "amd64" } else { "arm64" };
    let make = |marker: &str, arch: &str, format: Format| {
        let mut entries = busybox::rootfs();
        entries.push(file("platform", marker));
        build_image(
            vec![LayerBuilder::new().entries(&entries).finish(Compress::Gzip)],
            format,
            arch,
            &["sh"],
        )
    };
    // A Docker manifest list with a Docker image for the host and an OCI one for the other.
    let native = make("native\n", &host, Format::Docker);
    let foreign = make("foreign\n", other, Format::Oci);
    let other_variant = if other == "arm64" { Some("v8") } else { None };
    let index_digest = runtime().block_on(Pusher::new(&registry.host(), None).push_index(
        "test/multi",
        "v1",
        &[(&native, &host, None), (&foreign, other, other_variant)],
        Format::Docker,
    ));
    let work = tempfile::tempdir().expect("tempdir");
    let name = reference(&registry, "test/multi:v1");

    let store = Store::open(work.path().join("host")).expect("store");
    let pulled = pull_quietly(&store, &name, &options(work.path())).expect("pull for the host");
    assert_eq!(pulled.id, native.config_digest);
    assert_eq!(pulled.digest.to_string(), index_digest);
    let details = store.inspect(&pulled.id).expect("inspect");
    assert_eq!(
        details.repo_digests,
        vec![format!("{}/test/multi@{index_digest}", registry.host())]
    );

    let store = Store::open(work.path().join("other")).expect("store");
    let requested = PullOptions {
        platform: Some(format!("linux/{other}").parse().expect("platform")),
        ..options(work.path())
    };
    let pulled = pull_quietly(&store, &name, &requested).expect("pull for the other platform");
    assert_eq!(pulled.id, foreign.config_digest);
    // Pulling by the index digest works too, and a platform the index lacks is one clear line.
    let by_digest = reference(&registry, &format!("test/multi@{index_digest}"));
    pull_quietly(&store, &by_digest, &requested).expect("pull by digest");
    let missing = PullOptions {
        platform: Some("linux/s390x".parse().expect("platform")),
        ..options(work.path())
    };
    let error = pull_quietly(&store, &name, &missing).expect_err("no such platform");
    assert!(
        error.contains("no manifest for platform linux/s390x"),
        "{error}"
    );
    assert!(error.contains(&format!("linux/{host}")), "{error}");
}

/// An OCI layout directory with one image of `count` tiny layers, each adding a file and
/// deleting the previous layer's.
fn deep_layout(layout: &Path, count: usize, tag: &str) -> Vec<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut layers = Vec::new();
    for i in 0..count {
        let mut layer = vec![
            dir("deep"),
            file(&format!("deep/{i:04}"), &format!("{i}\n")),
        ];
        if i > 0 {
            layer.push(Entry::Whiteout(format!("deep/{:04}", i - 1)));
        }
        layers.push(LayerBuilder::new().entries(&layer).finish(Compress::Gzip));
        entries.push(layer);
    }
    let image = build_image(layers, Format::Oci, &host_arch(), &["sh"]);
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).expect("layout");
    let write = |digest: &str, data: &[u8]| {
        fs::write(blobs.join(digest.trim_start_matches("sha256:")), data).expect("blob")
    };
    write(&image.manifest_digest, &image.manifest);
    write(&image.config_digest, &image.config);
    for layer in &image.layers {
        write(&layer.digest, &layer.blob);
    }
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": image.media_type,
            "digest": image.manifest_digest,
            "size": image.manifest.len(),
            "annotations": {"io.containerd.image.name": tag}
        }]
    });
    fs::write(layout.join("index.json"), index.to_string()).expect("index.json");
    entries
}

#[test]
fn deep_images_mount_despite_the_option_length_limit() {
    if !prerequisites(
        "deep_images_mount_despite_the_option_length_limit",
        true,
        &[],
    ) {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let store = Store::open(work.path().join("images")).expect("store");
    // 200 layers: far beyond what full paths fit in one page, within what short links fit.
    let entries = deep_layout(&work.path().join("deep200"), 200, "deep/two-hundred:v1");
    load_oci_layout(&store, &work.path().join("deep200")).expect("load");
    let expected = tree::expected(&entries);
    assert_eq!(
        expected.len(),
        2,
        "only the last file is left: {expected:?}"
    );
    mount_and_compare(
        &store,
        "deep/two-hundred:v1",
        &work.path().join("c1"),
        &expected,
        MountMethod::ShortLinks,
    );
    // 400 layers: even short links overflow a page; the mount API takes them one by one.
    let entries = deep_layout(&work.path().join("deep400"), 400, "deep/four-hundred:v1");
    load_oci_layout(&store, &work.path().join("deep400")).expect("load");
    let dirs = RootfsDirs {
        upper: work.path().join("c2/upper"),
        work: work.path().join("c2/work"),
        target: work.path().join("c2/merged"),
    };
    let mounted = mount_rootfs(&store, "deep/four-hundred:v1", &dirs, MountMethod::Auto)
        .expect("mount 400 layers");
    let _guard = MountGuard(mounted.target.clone());
    assert_eq!(mounted.method, MountMethod::MountApi);
    assert_eq!(mounted.layers, 400);
    let diff = tree::diff(&tree::expected(&entries), &tree::read(&mounted.target));
    assert!(diff.is_empty(), "{diff}");
}

#[test]
fn remove_and_prune_collect_unreferenced_content() {
    if !prerequisites("remove_and_prune_collect_unreferenced_content", true, &[]) {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let store = Store::open(work.path().join("images")).expect("store");
    let shared = LayerBuilder::new()
        .entries(&[file("shared", "s\n")])
        .finish(Compress::None);
    let own = LayerBuilder::new()
        .entries(&[file("own", "o\n")])
        .finish(Compress::None);
    let import_named = |layer: &support::image::Layer, name: Option<&str>| {
        import(
            &store,
            &layer.blob[..],
            &ImportOptions {
                reference: name.map(|n| Reference::parse(n).expect("reference")),
                ..ImportOptions::default()
            },
        )
        .expect("import")
    };
    let first = import_named(&shared, Some("keep/me:1"));
    let second = import_named(&own, Some("drop/me:1"));
    store.tag("drop/me:1", "drop/me:2").expect("tag");
    store.tag("drop/me:1", "other/name:1").expect("tag");
    assert_eq!(store.inspect("drop/me:2").expect("tag resolves").id, second);

    // An ID with names in two repositories needs force, as in Docker.
    let error = store
        .remove(&second, false, &BTreeSet::new())
        .expect_err("conflict");
    assert!(error.to_string().contains("must be forced"), "{error}");
    // In use: refused.
    let in_use: BTreeSet<String> = [second.clone()].into();
    assert!(store.remove(&second, true, &in_use).is_err());
    // Untagging one name keeps the image.
    let report = store
        .remove("drop/me:1", false, &BTreeSet::new())
        .expect("untag");
    assert_eq!(report.untagged, vec!["drop/me:1".to_owned()]);
    assert!(report.deleted.is_empty());
    let report = store
        .remove(&second, true, &BTreeSet::new())
        .expect("forced remove");
    assert_eq!(report.deleted, vec![second.clone()]);
    assert!(
        report.gc.blobs >= 3 && report.gc.layers == 1,
        "{:?}",
        report.gc
    );
    assert!(store.inspect("drop/me:2").is_err());
    assert!(store.inspect("keep/me:1").is_ok());

    // A dangling image goes with prune; tagged ones stay unless `all`.
    let dangling = import_named(&own, None);
    let report = store.prune(&PruneOptions::default()).expect("prune");
    assert_eq!(report.deleted, vec![dangling]);
    assert_eq!(store.list().expect("list").len(), 1);
    let report = store
        .prune(&PruneOptions {
            all: true,
            in_use: [first.clone()].into(),
        })
        .expect("prune all but in use");
    assert!(report.deleted.is_empty());
    let report = store
        .prune(&PruneOptions {
            all: true,
            ..PruneOptions::default()
        })
        .expect("prune all");
    assert_eq!(report.deleted, vec![first]);
    for dir in ["blobs/sha256", "layers/sha256", "l"] {
        assert_eq!(
            fs::read_dir(work.path().join("images").join(dir))
                .expect(dir)
                .count(),
            0,
            "{dir} is empty"
        );
    }
}

#[test]
fn anonymous_pulls_use_the_registry_token_flow() {
    if !prerequisites(
        "anonymous_pulls_use_the_registry_token_flow",
        true,
        &["docker-registry", "openssl"],
    ) {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let tokens = support::token::TokenServer::start(work.path(), "test/tokened");
    let registry = TestRegistry::start_with_auth_config(&tokens.registry_auth);
    let (image, entries) = layered_image(Format::Oci);
    runtime().block_on(Pusher::new(&registry.host(), None).push_image(
        "test/tokened",
        "v1",
        &image,
    ));
    tokens.requests.lock().expect("requests").clear();

    let store = Store::open(work.path().join("images")).expect("store");
    let pulled = pull_quietly(
        &store,
        &reference(&registry, "test/tokened:v1"),
        &options(work.path()),
    )
    .expect("anonymous pull through the token flow");
    assert_eq!(pulled.id, image.config_digest);
    let requests = tokens.requests.lock().expect("requests").clone();
    assert!(!requests.is_empty(), "the pull asked the token server");
    assert!(
        requests
            .iter()
            .all(|r| !r.authorized && r.line.contains("scope=repository%3Atest%2Ftokened%3Apull")),
        "{requests:?}"
    );
    mount_and_compare(
        &store,
        &pulled.id,
        &work.path().join("c"),
        &tree::expected(&entries),
        MountMethod::Auto,
    );
}

/// Whether `event` reports layer `layer` downloading with at least `bytes` received.
fn downloading_past(event: &PullEvent, layer: &str, bytes: u64) -> bool {
    matches!(
        event,
        PullEvent::Layer {
            digest,
            state: LayerState::Downloading,
            done,
            ..
        } if digest.to_string() == layer && *done >= bytes
    )
}

#[test]
fn a_default_registry_serves_docker_hub_names_alone() {
    if !prerequisites(
        "a_default_registry_serves_docker_hub_names_alone",
        true,
        TOOLS,
    ) {
        return;
    }
    let registry = TestRegistry::start();
    let image = build_image(
        vec![
            LayerBuilder::new()
                .entries(&busybox::rootfs())
                .finish(Compress::Gzip),
        ],
        Format::Oci,
        &host_arch(),
        &["/bin/sh"],
    );
    runtime().block_on(Pusher::new(&registry.host(), None).push_image(
        "library/busybox",
        "stable",
        &image,
    ));
    let work = tempfile::tempdir().expect("tempdir");
    let store = Store::open(work.path().join("images")).expect("store");
    // A loopback mirror nobody listens on: it must be ignored.
    let mirror = format!("127.0.0.1:{}", support::registry::free_port());
    let config = berth_runtime::image::registry::RegistryConfig::from_toml(&format!(
        "registry-mirrors = [\"http://{mirror}\"]\ndefault-registry = \"http://{}\"\n",
        registry.host()
    ))
    .expect("configuration");
    // Before any request: Docker Hub names go to the local registry and nowhere else, so
    // that a regression fails here instead of reaching out to Docker Hub.
    let hosts: Vec<String> = berth_runtime::image::registry::endpoints(&config, "docker.io")
        .into_iter()
        .map(|e| e.host)
        .collect();
    assert_eq!(hosts, vec![registry.host()]);
    let options = PullOptions {
        registry_config: config,
        retries: 0,
        ..options(work.path())
    };
    // `busybox:stable` is docker.io/library/busybox: served by the local registry.
    let name = Reference::parse("busybox:stable").expect("reference");
    let pulled = pull_quietly(&store, &name, &options).expect("pull from the default registry");
    assert_eq!(pulled.id, image.config_digest);
    assert!(store.inspect("busybox:stable").is_ok());
    // A name it lacks fails there, and that is the answer: neither the mirror nor Docker Hub
    // is tried next (the mirror would be refused, with another message).
    let missing = Reference::parse("does_not_exist").expect("reference");
    let error = pull_quietly(&store, &missing, &options).expect_err("not served");
    assert!(
        error.contains(&registry.host()) && error.contains("not found"),
        "{error}"
    );
    assert!(!error.contains(&mirror), "{error}");
}
