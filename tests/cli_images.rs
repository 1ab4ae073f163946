//! The image commands driven as a user drives them: `berth pull` of a project whose images
//! come from a local registry (the harness of runtime/tests/support: Debian's
//! `docker-registry` on 127.0.0.1), then `images`, `image ls|inspect|tag|save|rm|load|import|
//! prune`, each against a state root in a temporary directory.
//!
//! Needs root (layers are unpacked with their owners) and `docker-registry`; without them the
//! tests fail under `BERTH_REQUIRE_PRIVILEGED=1` and otherwise say so and return early.

#[path = "../runtime/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use support::image::{Compress, Format, LayerBuilder, Pusher, TestImage, build_image};
use support::registry::TestRegistry;
use support::{busybox, prerequisites, runtime};

const TOOLS: &[&str] = &["docker-registry"];

/// `berth` in `dir` with the state root `root` and nothing else from the environment.
fn berth(dir: &Path, root: &Path) -> Command {
    let mut cmd = Command::cargo_bin("berth").expect("the berth binary");
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("BERTH_ROOT", root)
        // No host configuration file: loopback registries need none.
        .env("BERTH_CONFIG", dir.join("berth-config.toml"));
    std::fs::write(dir.join("berth-config.toml"), "").expect("writing berth-config.toml");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("running berth")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs and requires success; returns stdout.
fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "berth failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A two-layer image: busybox (gzip) and one file (uncompressed).
fn test_image() -> TestImage {
    let base = LayerBuilder::new()
        .entries(&busybox::rootfs())
        .finish(Compress::Gzip);
    let top = LayerBuilder::new()
        .dir("srv", 0o755)
        .file("srv/hello", b"hello from the test image\n", 0o644)
        .finish(Compress::None);
    build_image(
        vec![base, top],
        Format::Oci,
        &berth_runtime::image::registry::Platform::host().architecture,
        &["/bin/sh"],
    )
}

/// The JSON lines of `image ls --format json`.
fn ls_json(dir: &Path, root: &Path) -> Vec<serde_json::Value> {
    ok(berth(dir, root).args(["image", "ls", "--format", "json"]))
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

#[test]
fn project_pull_and_image_commands_round_trip() {
    if !prerequisites("project_pull_and_image_commands_round_trip", true, TOOLS) {
        return;
    }
    let registry = TestRegistry::start();
    let image = test_image();
    runtime().block_on(Pusher::new(&registry.host(), None).push_image("test/app", "v1", &image));
    let app = format!("{}/test/app:v1", registry.host());

    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let root = dir.join("state");
    std::fs::create_dir_all(dir.join("builder")).expect("build dir");
    std::fs::write(dir.join("builder/Dockerfile"), "FROM scratch\n").expect("Dockerfile");
    std::fs::write(
        dir.join("compose.yaml"),
        format!(
            "services:\n  web:\n    image: {app}\n  worker:\n    image: {app}\n  builder:\n    build: ./builder\n"
        ),
    )
    .expect("compose.yaml");

    // Pull: plain progress lines on a pipe, in Compose's words.
    let out = run(berth(dir, &root).args(["-f", "compose.yaml", "pull"]));
    let err = text(&out.stderr);
    assert!(out.status.success(), "pull failed: {err}");
    for line in [
        format!(" Image {app} Pulling"),
        format!(" Image {app} Pulled"),
        " builder Skipped No image to be pulled".to_owned(),
        "Pull complete".to_owned(),
    ] {
        assert!(err.contains(&line), "missing {line:?} in:\n{err}");
    }
    // web and worker share the image: it is pulled once.
    assert_eq!(err.matches(" Pulling").count(), 1, "{err}");
    let first_layer = short(&image.layers[0].digest);
    assert!(
        err.contains(&format!(" {first_layer} Pull complete")),
        "{err}"
    );

    // Again: no policy means pull, and the layers are already there.
    let err = text(&run(berth(dir, &root).arg("pull")).stderr);
    assert!(
        err.contains(&format!(" Image {app} Pulled")) && err.contains("Already exists"),
        "{err}"
    );
    // With --policy missing the present image is not pulled.
    let err = text(&run(berth(dir, &root).args(["pull", "--policy", "missing", "-q"])).stderr);
    assert!(
        !err.contains("Pulling"),
        "quiet pull printed progress: {err}"
    );
    let err = text(&run(berth(dir, &root).args(["pull", "--policy", "missing"])).stderr);
    assert!(
        err.contains(&format!(
            " Image {app} Skipped Image is already present locally"
        )),
        "{err}"
    );

    // The project's images.
    let id = image.config_digest.clone();
    let images = ok(berth(dir, &root).arg("images"));
    let mut lines = images.lines();
    let header: Vec<&str> = lines.next().expect("a header").split("   ").collect();
    assert_eq!(
        header
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
            .collect::<Vec<_>>(),
        ["REPOSITORY", "TAG", "IMAGE ID", "SIZE"]
    );
    let row: Vec<&str> = lines.next().expect("a row").split_whitespace().collect();
    assert_eq!(
        row[..3],
        [&format!("{}/test/app", registry.host()), "v1", &short(&id)]
    );
    assert!(
        lines.next().is_none(),
        "one image for two services: {images}"
    );

    // image ls: table and JSON.
    let table = ok(berth(dir, &root).args(["image", "ls"]));
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    assert!(table.contains(" ago "), "{table}");
    assert!(table.contains(&short(&id)), "{table}");
    let listed = ls_json(dir, &root);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        listed[0]["Repository"],
        format!("{}/test/app", registry.host())
    );
    assert_eq!(listed[0]["Tag"], "v1");
    assert_eq!(listed[0]["ID"], short(&id));
    assert_eq!(
        ok(berth(dir, &root).args(["image", "ls", "-q"])),
        format!("{}\n", short(&id))
    );

    // image inspect: Docker's fields.
    let inspected: serde_json::Value =
        serde_json::from_str(&ok(berth(dir, &root).args(["image", "inspect", &app])))
            .expect("inspect JSON");
    let first = &inspected[0];
    assert_eq!(first["Id"], id.as_str());
    assert_eq!(first["RepoTags"][0], app.as_str());
    assert!(
        first["RepoDigests"][0]
            .as_str()
            .is_some_and(|d| d.ends_with(&image.manifest_digest)),
        "{first}"
    );
    assert_eq!(first["Os"], "linux");
    assert_eq!(first["Config"]["Cmd"][0], "/bin/sh");
    assert_eq!(first["RootFS"]["Layers"].as_array().map(Vec::len), Some(2));
    assert!(first["Size"].as_u64().is_some_and(|s| s > 0));

    // tag, save, rm, load: the same image back.
    ok(berth(dir, &root).args(["image", "tag", &app, "saved/app:copy"]));
    let tags: Vec<String> = ls_json(dir, &root)
        .iter()
        .map(|v| {
            format!(
                "{}:{}",
                v["Repository"].as_str().unwrap_or(""),
                v["Tag"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(tags.contains(&"saved/app:copy".to_owned()), "{tags:?}");
    let archive = dir.join("app.tar");
    ok(berth(dir, &root)
        .args(["image", "save", "-o"])
        .arg(&archive)
        .arg("saved/app:copy"));
    let removed = ok(berth(dir, &root).args(["image", "rm", "-f", &app, "saved/app:copy"]));
    assert!(removed.contains("Untagged: saved/app:copy"), "{removed}");
    assert!(removed.contains(&format!("Deleted: {id}")), "{removed}");
    assert!(ls_json(dir, &root).is_empty());
    let loaded = ok(berth(dir, &root)
        .args(["image", "load", "-i"])
        .arg(&archive));
    assert_eq!(loaded, "Loaded image: saved/app:copy\n");
    let inspected: serde_json::Value = serde_json::from_str(&ok(berth(dir, &root).args([
        "image",
        "inspect",
        "saved/app:copy",
    ])))
    .expect("inspect JSON");
    assert_eq!(inspected[0]["Id"], id.as_str());

    // The same through standard output and input.
    let out = run(berth(dir, &root).args(["image", "save", "saved/app:copy"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    ok(berth(dir, &root).args(["image", "rm", "saved/app:copy"]));
    let loaded = ok(berth(dir, &root)
        .args(["image", "load"])
        .write_stdin(out.stdout));
    assert_eq!(loaded, "Loaded image: saved/app:copy\n");
    assert_eq!(ls_json(dir, &root)[0]["ID"], short(&id));

    // import of a root filesystem tarball.
    let rootfs = LayerBuilder::new()
        .dir("etc", 0o755)
        .file("etc/imported", b"yes\n", 0o644)
        .finish(Compress::Gzip);
    let tarball = dir.join("rootfs.tar.gz");
    std::fs::write(&tarball, &rootfs.blob).expect("writing the tarball");
    let imported = ok(berth(dir, &root)
        .args(["image", "import", "-c", "CMD [\"/bin/true\"]"])
        .arg(&tarball)
        .arg("imported/fs:1"));
    let imported_id = imported.trim().to_owned();
    assert!(imported_id.starts_with("sha256:"), "{imported}");
    let inspected: serde_json::Value = serde_json::from_str(&ok(berth(dir, &root).args([
        "image",
        "inspect",
        "imported/fs:1",
    ])))
    .expect("inspect JSON");
    assert_eq!(inspected[0]["Id"], imported_id.as_str());
    assert_eq!(inspected[0]["RootFS"]["Layers"][0], rootfs.diff_id.as_str());
    assert_eq!(inspected[0]["Config"]["Cmd"][0], "/bin/true");

    let from_stdin = ok(berth(dir, &root)
        .args(["image", "import", "-", "imported/stdin"])
        .write_stdin(rootfs.blob.clone()));
    assert_eq!(
        from_stdin.trim().len(),
        "sha256:".len() + 64,
        "{from_stdin}"
    );
    let tags: Vec<String> = ls_json(dir, &root)
        .iter()
        .map(|v| v["Repository"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(tags.contains(&"imported/stdin".to_owned()), "{tags:?}");

    // Errors: one clear line, exit 1.
    let out = run(berth(dir, &root).args(["image", "rm", "no/such:image"]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).trim(), "No such image: no/such:image");
    let out = run(berth(dir, &root).args(["image", "inspect", "no/such:image"]));
    assert_eq!(out.status.code(), Some(1));

    // prune -a -f removes everything.
    let pruned = ok(berth(dir, &root).args(["image", "prune", "-a", "-f"]));
    assert!(
        pruned.contains("Deleted Images:") && pruned.contains(&imported_id),
        "{pruned}"
    );
    assert!(pruned.contains("Total reclaimed space: "), "{pruned}");
    assert_eq!(ok(berth(dir, &root).args(["image", "ls", "-q"])), "");
    let blobs = std::fs::read_dir(root.join("images/blobs/sha256"))
        .expect("blobs dir")
        .count();
    assert_eq!(blobs, 0, "prune left blobs behind");
}

#[test]
fn pull_failures_are_one_line_and_can_be_ignored() {
    if !prerequisites("pull_failures_are_one_line_and_can_be_ignored", true, TOOLS) {
        return;
    }
    let registry = TestRegistry::start();
    let image = test_image();
    runtime().block_on(Pusher::new(&registry.host(), None).push_image("test/app", "v1", &image));
    let good = format!("{}/test/app:v1", registry.host());
    let missing = format!("{}/test/app:nope", registry.host());

    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let root = dir.join("state");
    std::fs::write(
        dir.join("compose.yaml"),
        format!("services:\n  good:\n    image: {good}\n  bad:\n    image: {missing}\n"),
    )
    .expect("compose.yaml");

    let out = run(berth(dir, &root).arg("pull"));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let failures: Vec<&str> = err.lines().filter(|l| l.contains("cannot pull")).collect();
    assert_eq!(failures.len(), 1, "{err}");
    assert!(
        failures[0].starts_with(&format!("cannot pull {missing}: ")),
        "{err}"
    );
    // The other service's image was pulled all the same.
    assert!(err.contains(&format!(" Image {good} Pulled")), "{err}");

    let out = run(berth(dir, &root).args(["pull", "--ignore-pull-failures"]));
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("WARN[0000] cannot pull {missing}")),
        "{err}"
    );

    // `image pull` of the missing tag: the same one line.
    let out = run(berth(dir, &root).args(["image", "pull", &missing]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr)
            .lines()
            .filter(|l| l.contains("cannot pull"))
            .count(),
        1
    );
    // Bars on a terminal (forced here, drawn nowhere) take the same path without failing.
    ok(berth(dir, &root).args(["--progress", "tty", "pull", "good"]));
    // Only the named service, and `images` as JSON.
    let out = run(berth(dir, &root).args(["pull", "good"]));
    assert!(out.status.success() && !text(&out.stderr).contains(" bad "));
    let images: serde_json::Value =
        serde_json::from_str(&ok(berth(dir, &root).args(["images", "--format", "json"])))
            .expect("images JSON");
    assert_eq!(images[0]["ID"], image.config_digest.as_str());
    assert_eq!(images[0]["Tag"], "v1");
    assert_eq!(images.as_array().map(Vec::len), Some(1));
    // An unknown service is an error.
    assert_eq!(
        run(berth(dir, &root).args(["pull", "nosuch"]))
            .status
            .code(),
        Some(1)
    );
    // And of the good one: Docker's lines.
    let pulled = ok(berth(dir, &root).args(["image", "pull", &good]));
    assert!(pulled.contains("v1: Pulling from test/app"), "{pulled}");
    assert!(
        pulled.contains(&format!("Status: Image is up to date for {good}")),
        "{pulled}"
    );
    assert!(pulled.ends_with(&format!("{good}\n")), "{pulled}");
}
