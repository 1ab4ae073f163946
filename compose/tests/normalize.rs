//! The normalization stage against tests/corpus/normalize/ and further cases of compose-go's
//! normalize tests, compared as data trees (mapping key order does not matter).

use berth_compose::normalize::normalize;
use berth_compose::{Map, Value, yaml};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/normalize")
}

fn parse(text: &str, file: &str) -> Value {
    let mut docs = yaml::parse(text, file).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(!docs.is_empty(), "{file}: no document");
    docs.remove(0).value
}

/// Equality of data trees: mappings compare as sets of keys, sequences in order, scalars by
/// type and value.
fn same_tree(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|other| same_tree(v, other)))
        }
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_tree(v, w))
        }
        _ => a == b,
    }
}

/// Normalizes `input` with `env` and checks the result against `expected`.
fn check(name: &str, input: &str, expected: &str, env: &BTreeMap<String, String>) {
    let mut tree = parse(input, &format!("{name}/input.yaml"));
    let lookup = |key: &str| env.get(key).cloned();
    normalize(&mut tree, &lookup).unwrap_or_else(|e| panic!("{name}: {e}"));
    let expected = parse(expected, &format!("{name}/expected.yaml"));
    assert!(
        same_tree(&tree, &expected),
        "{name}: normalized tree differs\n--- got\n{}--- expected\n{}",
        yaml::to_string(&tree),
        yaml::to_string(&expected)
    );
}

fn env_of(case: &Value) -> BTreeMap<String, String> {
    case.get("env")
        .and_then(Value::as_map)
        .map(|m: &Map| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.scalar_to_string()?)))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn corpus_cases() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory exists")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.join("case.yaml").is_file())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 6,
        "expected the normalize corpus, found {dirs:?}"
    );
    for dir in &dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        let read = |file: &str| {
            std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{name}/{file}: {e}"))
        };
        let case = parse(&read("case.yaml"), &format!("{name}/case.yaml"));
        assert_eq!(
            case.get("stage").and_then(Value::as_str),
            Some("normalize"),
            "{name}"
        );
        check(
            &name,
            &read("input.yaml"),
            &read("expected.yaml"),
            &env_of(&case),
        );
    }
}

fn no_env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

#[test]
fn explicit_and_implied_dependencies() {
    // compose-go loader/normalize_test.go:TestNormalizeDependsOn
    check(
        "depends-on",
        "
name: myProject
services:
  foo:
    depends_on:
      bar:
        condition: service_healthy
        required: true
        restart: true
    network_mode: service:zot
  bar:
    volumes_from:
      - zot
      - container:xxx
  zot: {}
",
        "
name: myProject
services:
  bar:
    depends_on:
      zot: {condition: service_started, required: true, restart: false}
    networks: {default: null}
    volumes_from: [zot, 'container:xxx']
  foo:
    depends_on:
      bar: {condition: service_healthy, required: true, restart: true}
      zot: {condition: service_started, required: true, restart: true}
    network_mode: service:zot
  zot:
    networks: {default: null}
networks:
  default: {name: myProject_default}
",
        &no_env(),
    );
}

#[test]
fn every_kind_of_implied_dependency() {
    // compose-go loader/normalize_test.go:TestNormalizeImplicitDependencies
    check(
        "implicit-dependencies",
        "
name: myProject
services:
  test:
    ipc: service:foo
    cgroup: service:bar
    uts: service:baz
    pid: service:qux
    volumes_from: [quux]
    links: [corge]
    depends_on:
      foo:
        condition: service_healthy
",
        "
name: myProject
services:
  test:
    ipc: service:foo
    cgroup: service:bar
    uts: service:baz
    pid: service:qux
    volumes_from: [quux]
    links: [corge]
    depends_on:
      foo: {condition: service_healthy}
      bar: {condition: service_started, restart: true, required: true}
      baz: {condition: service_started, restart: true, required: true}
      qux: {condition: service_started, restart: true, required: true}
      quux: {condition: service_started, required: true, restart: false}
      corge: {condition: service_started, restart: true, required: true}
    networks: {default: null}
networks:
  default: {name: myProject_default}
",
        &no_env(),
    );
}

#[test]
fn volume_names() {
    // compose-go loader/normalize_test.go:TestNormalizeVolumes: no service, so no default
    // network either.
    check(
        "volumes",
        "
name: myProject
volumes:
  myExternalVol:
    external: true
  myvol: {}
  myNamedVol:
    name: CustomName
",
        "
name: myProject
volumes:
  myExternalVol: {name: myExternalVol, external: true}
  myvol: {name: myProject_myvol}
  myNamedVol: {name: CustomName}
",
        &no_env(),
    );
}

#[test]
fn short_forms_come_out_long() {
    check(
        "short-forms",
        "
name: p
services:
  web:
    build: ./app
    depends_on: [db]
    links: ['cache:redis']
    networks: [front]
  db:
    networks: []
  cache:
    networks: [default, back]
networks:
  front:
  back:
",
        "
name: p
services:
  web:
    build: {context: ./app, dockerfile: Dockerfile}
    depends_on:
      db: {condition: service_started, required: true}
      cache: {condition: service_started, restart: true, required: true}
    links: ['cache:redis']
    networks: {front: null}
  db:
    networks: {default: null}
  cache:
    networks: {default: null, back: null}
networks:
  front: {name: p_front}
  back: {name: p_back}
  default: {name: p_default}
",
        &no_env(),
    );
}

#[test]
fn services_without_own_networks_get_none() {
    // network_mode and provider services have no networks; nothing uses `default`, so it is
    // not declared.
    check(
        "no-default",
        "
name: p
services:
  sidecar:
    image: busybox
    network_mode: host
  model:
    provider: {type: model, options: {model: ai/smollm2}}
",
        "
name: p
services:
  sidecar:
    image: busybox
    network_mode: host
  model:
    provider: {type: model, options: {model: ai/smollm2}}
",
        &no_env(),
    );
}

#[test]
fn resources_are_named_and_environment_resolved() {
    let env = BTreeMap::from([
        ("HOME_DIR".to_string(), "/home/me".to_string()),
        ("EMPTY".to_string(), String::new()),
    ]);
    check(
        "resources-env",
        "
name: p
services:
  app:
    image: app
    pull_policy: if_not_present
    environment:
      HOME_DIR: null
      EMPTY: null
      MISSING: null
      SET: value
    build:
      dockerfile_inline: FROM scratch
      args: [HOME_DIR, MISSING, 'X=1']
    volumes:
      - {type: volume, source: data, target: /data/}
    pre_start:
      - {command: [init]}
      - {image: null, command: [other]}
networks:
  legacy:
    external: {name: real_net}
  ext_string:
    external: 'true'
volumes:
  data:
configs:
  cfg: {file: ./cfg}
secrets:
  token: {external: true}
",
        "
name: p
services:
  app:
    image: app
    pull_policy: missing
    environment:
      HOME_DIR: /home/me
      EMPTY: ''
      MISSING: null
      SET: value
    build:
      context: .
      dockerfile_inline: FROM scratch
      args: ['HOME_DIR=/home/me', 'X=1']
    volumes:
      - {type: volume, source: data, target: /data}
    pre_start:
      - {command: [init], image: app}
      - {image: app, command: [other]}
    networks: {default: null}
networks:
  legacy: {external: {name: real_net}, name: real_net}
  ext_string: {external: 'true', name: ext_string}
  default: {name: p_default}
volumes:
  data: {name: p_data}
configs:
  cfg: {file: ./cfg, name: p_cfg}
secrets:
  token: {external: true, name: token}
",
        &env,
    );
}

#[test]
fn normalizing_twice_changes_nothing_more() {
    let input = "
name: p
services:
  a: {image: a, links: [b], volumes_from: ['b:ro']}
  b: {image: b, environment: [X]}
";
    let env = BTreeMap::from([("X".to_string(), "1".to_string())]);
    let lookup = |key: &str| env.get(key).cloned();
    let mut once = parse(input, "input.yaml");
    normalize(&mut once, &lookup).unwrap();
    let mut twice = once.clone();
    normalize(&mut twice, &lookup).unwrap();
    assert!(same_tree(&once, &twice), "{}", yaml::to_string(&twice));
}

#[test]
fn odd_shapes_do_not_panic() {
    for text in [
        "services: 3",
        "services: {a: null, b: [1], c: {networks: 3, depends_on: 4, links: [{}], build: 5}}",
        "services: {a: {environment: [1, null], volumes: [3, {target: 4}], pre_start: 5}}",
        "networks: [a]\nservices: {a: {}}",
        "volumes: {v: 3}",
        "name: [x]\nservices: {a: {network_mode: 5, ipc: 'service:'}}",
    ] {
        let mut tree = parse(text, "odd.yaml");
        normalize(&mut tree, &|_| None).unwrap();
    }
    let mut scalar = Value::from("x");
    assert!(normalize(&mut scalar, &|_| None).is_err());
}

#[test]
fn tree_comparison_ignores_key_order_only() {
    let a = parse("{x: 1, y: [a, b], z: {p: null}}", "a.yaml");
    assert!(same_tree(
        &a,
        &parse("{z: {p: null}, y: [a, b], x: 1}", "b.yaml")
    ));
    assert!(!same_tree(
        &a,
        &parse("{x: '1', y: [a, b], z: {p: null}}", "c.yaml")
    ));
    assert!(!same_tree(
        &a,
        &parse("{x: 1, y: [b, a], z: {p: null}}", "d.yaml")
    ));
    assert!(!same_tree(
        &a,
        &parse("{x: 1, y: [a, b], z: {p: ''}}", "e.yaml")
    ));
    assert!(!same_tree(&a, &parse("{x: 1, y: [a, b]}", "f.yaml")));
}
