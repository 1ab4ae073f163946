//! Helpers shared by the black-box and corpus tests.
#![allow(dead_code)]

pub mod stack;

use berth_compose::{Value, yaml};
use std::path::{Path, PathBuf};

/// The corpus copied from ../shared/corpus (see tests/corpus/README.md).
pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Parses the first document of a YAML text.
pub fn parse(text: &str) -> Value {
    yaml::parse(text, "test")
        .expect("test data parses")
        .into_iter()
        .next()
        .map(|d| d.value)
        .unwrap_or_default()
}

/// Reads and parses a YAML file.
pub fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(&text)
}

/// The tree with every mapping sorted by key, so that trees compare as data (key order
/// ignored, sequence order kept).
pub fn canonical_order(v: &Value) -> Value {
    v.with_sorted_keys()
}

/// Asserts two trees are equal as data, printing both as YAML when they are not.
pub fn assert_same_tree(actual: &Value, expected: &Value, what: &str) {
    let a = canonical_order(actual);
    let e = canonical_order(expected);
    if a != e {
        panic!(
            "{what}: trees differ\n--- actual\n{}\n--- expected\n{}",
            yaml::to_string(&a),
            yaml::to_string(&e)
        );
    }
}

/// A string field of a mapping.
pub fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A map of strings (`env:` blocks of case files) as an environment.
pub fn env_of(v: Option<&Value>) -> berth_compose::loader::Environment {
    let mut env = berth_compose::loader::Environment::new();
    if let Some(Value::Map(m)) = v {
        for (k, v) in m {
            env.insert(k.clone(), v.scalar_to_string().unwrap_or_default());
        }
    }
    env
}

/// Fails the test when privileged features are required but missing (CI sets
/// BERTH_REQUIRE_PRIVILEGED=1); otherwise says why it returns early.
pub fn require_privileged(what: &str) -> bool {
    let is_root = unsafe_free_is_root();
    if is_root {
        return true;
    }
    if std::env::var("BERTH_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{what} needs root, and BERTH_REQUIRE_PRIVILEGED=1");
    }
    eprintln!("skipping {what}: needs root");
    false
}

fn unsafe_free_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A project with every kind of dependency, replicas, a volume and a disabled profile: the
/// fixture of the reconciler's golden plans and of the state tests.
pub const STACK: &str = r#"
name: shop
services:
  web:
    image: nginx:1.27
    depends_on:
      api: {condition: service_started}
    ports: ["8080:80"]
  api:
    image: shop/api:1
    depends_on:
      db: {condition: service_healthy, restart: true}
      migrate: {condition: service_completed_successfully}
    deploy: {replicas: 2}
  migrate:
    image: shop/api:1
    command: ["migrate"]
    depends_on: [db]
  db:
    image: postgres:16
    volumes: [data:/var/lib/postgresql/data]
    healthcheck: {test: pg_isready}
  debug:
    image: busybox
    profiles: [debug]
volumes:
  data: {}
"#;

/// The desired state of a compose text, loaded from standard-input form.
pub fn desired(text: &str) -> berth::engine::desired::DesiredProject {
    let mut opts = berth_compose::LoadOptions::new(std::env::temp_dir(), Default::default());
    opts.files = vec![berth_compose::loader::ConfigSource::stdin(text.to_string())];
    let loaded = berth_compose::load(&opts).unwrap_or_else(|e| panic!("{e}"));
    berth::engine::desired::DesiredProject::from_loaded(&loaded).expect("a desired project")
}
