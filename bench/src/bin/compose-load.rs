//! How long loading a compose project takes: the full example of the corpus (nearly every
//! attribute of the format) and the examples, loaded in-process, as `berth config` does.
//!
//! Run: `cargo run --release -p berth-bench --bin compose-load`

use berth_bench::Samples;
use berth_compose::loader::{ConfigSource, Environment};
use berth_compose::{LoadOptions, load};
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let full = root.join("tests/corpus/full-example");
    let mut env = Environment::new();
    env.insert("HOME".into(), "/home/bench".into());
    env.insert("BAR".into(), "this is a secret".into());
    env.insert("QUX".into(), "qux_from_environment".into());
    let mut opts = LoadOptions::new(full.clone(), env);
    opts.files = vec![ConfigSource::file(full.join("full-example.yml"))];
    opts.consistency = false;
    opts.normalize = false;
    let samples = Samples::measure(20, 500, || {
        load(&opts).expect("the full example loads");
    });
    println!("load full-example.yml: {}", samples.summary());

    for example in ["wordpress", "app-db-cache"] {
        let dir = root.join("examples").join(example);
        let mut env = Environment::new();
        env.insert("HOME".into(), "/home/bench".into());
        let opts = LoadOptions::new(dir, env);
        let samples = Samples::measure(20, 500, || {
            load(&opts).expect("the example loads");
        });
        println!("load examples/{example}: {}", samples.summary());
    }
}
