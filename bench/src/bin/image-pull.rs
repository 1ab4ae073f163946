//! Pulling and unpacking a ~200 MB multi-layer image from a local registry: berth (pull into
//! its store, layers unpacked) against `skopeo copy` to an OCI layout followed by
//! `umoci unpack` (both Debian packages), in the same run, against the same registry process.
//!
//! The image is built here: the busybox root filesystem plus four layers of about 50 MB each
//! (mostly incompressible data, some text), gzip-compressed, pushed to Debian's
//! `docker-registry` on 127.0.0.1. Every run starts from empty directories. Figures only; no
//! duration is asserted.
//!
//! Run as root: `cargo run --release -p berth-bench --bin image-pull [-- RUNS]`

#[path = "../../../runtime/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_runtime::image::pull::{PullEvent, PullOptions, pull};
use berth_runtime::image::{Reference, Store};
use support::image::{Compress, Entry, Format, LayerBuilder, Pusher, build_image};
use support::registry::TestRegistry;

const LAYERS: usize = 4;
const FILES_PER_LAYER: usize = 40;
const FILE_SIZE: usize = 1280 * 1024;

fn big_layer(index: usize) -> Vec<Entry> {
    let mut entries = vec![Entry::Dir(format!("data{index}"), 0o755)];
    for file in 0..FILES_PER_LAYER {
        // Seven files in ten are noise (as compressed assets are), the rest text.
        let content = if file % 10 < 7 {
            support::noise((index * 1000 + file) as u64 + 1, FILE_SIZE)
        } else {
            format!("line {file} of layer {index}: the quick brown fox jumps over the lazy dog\n")
                .repeat(FILE_SIZE / 70)
                .into_bytes()
        };
        entries.push(Entry::File(
            format!("data{index}/file{file:03}"),
            content,
            0o644,
        ));
    }
    entries
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn run(command: &mut Command) {
    let output = command.output().expect("running a comparison tool");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn main() {
    if !support::prerequisites("image-pull", true, &["docker-registry", "skopeo", "umoci"]) {
        return;
    }
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);

    let registry = TestRegistry::start();
    let mut layers = vec![
        LayerBuilder::new()
            .entries(&support::busybox::rootfs())
            .finish(Compress::Gzip),
    ];
    for index in 0..LAYERS {
        layers.push(
            LayerBuilder::new()
                .entries(&big_layer(index))
                .finish(Compress::Gzip),
        );
    }
    let arch = berth_runtime::image::registry::Platform::host().architecture;
    let image = build_image(layers, Format::Oci, &arch, &["sh"]);
    let compressed: usize = image.layers.iter().map(|l| l.blob.len()).sum();
    support::runtime().block_on(Pusher::new(&registry.host(), None).push_image(
        "bench/big",
        "v1",
        &image,
    ));
    let name = format!("{}/bench/big:v1", registry.host());
    println!(
        "image {name}: {} layers, {:.1} MB compressed, {:.1} MB unpacked",
        image.layers.len(),
        compressed as f64 / 1e6,
        (LAYERS * FILES_PER_LAYER * FILE_SIZE) as f64 / 1e6 + 2.0
    );

    let reference = Reference::parse(&name).expect("reference");
    let scratch = tempfile::Builder::new()
        .prefix("berth-bench-pull-")
        .tempdir()
        .expect("tempdir");
    let mut berth = Vec::new();
    let mut other = Vec::new();
    for round in 0..runs {
        let dir = scratch.path().join(format!("round{round}"));
        let store = Store::open(dir.join("berth")).expect("store");
        let options = PullOptions {
            docker_config: Some(dir.join("none.json")),
            ..PullOptions::default()
        };
        let start = Instant::now();
        support::runtime()
            .block_on(pull(&store, &reference, &options, &|_: &PullEvent| {}))
            .expect("berth pull");
        berth.push(start.elapsed());

        let layout = dir.join("oci");
        let bundle = dir.join("bundle");
        let start = Instant::now();
        run(Command::new("skopeo")
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{name}"))
            .arg(format!("oci:{}:v1", layout.display())));
        run(Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:v1", layout.display()))
            .arg(&bundle));
        other.push(start.elapsed());
        println!(
            "round {round}: berth {:.3} s, skopeo+umoci {:.3} s",
            berth[round].as_secs_f64(),
            other[round].as_secs_f64()
        );
        remove(&dir);
    }
    let (berth, other) = (median(berth), median(other));
    println!(
        "median over {runs} runs: berth pull+unpack {:.3} s, skopeo copy + umoci unpack {:.3} s, ratio (skopeo+umoci / berth) {:.2}",
        berth.as_secs_f64(),
        other.as_secs_f64(),
        other.as_secs_f64() / berth.as_secs_f64().max(f64::EPSILON)
    );
}

fn remove(dir: &Path) {
    if let Err(error) = std::fs::remove_dir_all(dir) {
        eprintln!("could not remove {}: {error}", dir.display());
    }
}
