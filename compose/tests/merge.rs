//! Merging of compose files: the `merge/` cases of the conformance corpus at tree level, and
//! the `!reset` / `!override` tags and corners the corpus does not cover.

use berth_compose::merge::{apply_resets, enforce_unicity, merge};
use berth_compose::yaml::{self, MergeTag};
use berth_compose::{ErrorKind, Path, Value};
use std::path::PathBuf;

/// Whether two trees hold the same data: mappings compared without regard to key order,
/// sequences in order, scalars with their type.
fn same_data(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Map(a), Value::Map(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| same_data(v, w)))
        }
        (Value::Seq(a), Value::Seq(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(v, w)| same_data(v, w))
        }
        _ => a == b,
    }
}

/// One YAML document, with its tags.
fn doc(text: &str) -> yaml::Document {
    let mut docs = yaml::parse(text, "test.yaml").expect("test YAML parses");
    assert_eq!(docs.len(), 1, "one document expected");
    docs.remove(0)
}

/// Merges `over` into `base` and de-duplicates, as the loader does for a second file.
fn merged(base: &str, over: &str) -> berth_compose::Result<Value> {
    let over = doc(over);
    let mut tree = merge(doc(base).value, over.value, &over.tags)?;
    enforce_unicity(&mut tree)?;
    Ok(tree)
}

fn assert_merges_to(base: &str, over: &str, expected: &str) {
    let got = merged(base, over).expect("merge succeeds");
    let want = doc(expected).value;
    assert!(
        same_data(&got, &want),
        "got:\n{}\nwant:\n{}",
        yaml::to_string(&got),
        yaml::to_string(&want)
    );
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/merge")
}

#[test]
fn corpus_merge_cases() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus merge directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 45,
        "expected the 45 merge cases, found {}",
        dirs.len()
    );

    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let read = |file: &str| {
            std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{name}/{file}: {e}"))
        };
        let case = doc(&read("case.yaml")).value;
        let apply_unicity = case.get("apply_unicity") != Some(&Value::Bool(false));
        let base = doc(&read("base.yaml"));
        let over = doc(&read("override.yaml"));
        let expected = doc(&read("expected.yaml")).value;

        let result = merge(base.value, over.value, &over.tags).and_then(|mut tree| {
            if apply_unicity {
                enforce_unicity(&mut tree)?;
            }
            Ok(tree)
        });
        match result {
            Ok(got) if same_data(&got, &expected) => {}
            Ok(got) => failures.push(format!(
                "{name}: got\n{}\nwant\n{}",
                yaml::to_string(&got),
                yaml::to_string(&expected)
            )),
            Err(e) => failures.push(format!("{name}: error {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}

// ---- `!reset` and `!override` ----

#[test]
fn reset_removes_an_attribute_of_the_base() {
    assert_merges_to(
        "services:\n  web:\n    image: nginx\n    ports: ['80:80', '443:443']\n",
        "services:\n  web:\n    ports: !reset []\n",
        "services:\n  web:\n    image: nginx\n",
    );
}

#[test]
fn reset_with_a_null_value_works_the_same() {
    assert_merges_to(
        "services:\n  web:\n    image: nginx\n    environment: {A: '1'}\n",
        "services:\n  web:\n    environment: !reset\n",
        "services:\n  web:\n    image: nginx\n",
    );
}

#[test]
fn reset_removes_a_whole_service() {
    assert_merges_to(
        "services:\n  web:\n    image: nginx\n  db:\n    image: postgres\n",
        "services:\n  db: !reset {}\n",
        "services:\n  web:\n    image: nginx\n",
    );
}

#[test]
fn reset_of_a_top_level_section() {
    assert_merges_to(
        "services:\n  web:\n    image: nginx\nnetworks:\n  front: {}\n",
        "networks: !reset {}\n",
        "services:\n  web:\n    image: nginx\n",
    );
}

#[test]
fn reset_of_something_the_base_lacks_is_harmless() {
    assert_merges_to(
        "services:\n  web:\n    image: nginx\n",
        "services:\n  web:\n    dns: !reset []\n  other: !reset\n",
        "services:\n  web:\n    image: nginx\n",
    );
}

#[test]
fn reset_of_a_sequence_entry_only_drops_it_from_the_override() {
    // compose-go cannot address a base entry by position: the base list is untouched and
    // the override's other entries are appended as usual.
    assert_merges_to(
        "services:\n  web:\n    image: nginx\n    security_opt: [a, b]\n",
        "services:\n  web:\n    security_opt: [c, !reset d, e]\n",
        "services:\n  web:\n    image: nginx\n    security_opt: [a, b, c, e]\n",
    );
}

#[test]
fn override_replaces_instead_of_merging() {
    assert_merges_to(
        "services:\n  web:\n    image: nginx\n    ports: ['80:80']\n    environment: {A: '1', B: '2'}\n",
        "services:\n  web:\n    ports: !override ['8080:80']\n    environment: !override {C: '3'}\n",
        "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n    environment: {C: '3'}\n",
    );
}

#[test]
fn override_of_command_and_of_a_whole_service() {
    assert_merges_to(
        "services:\n  web:\n    image: nginx\n    command: [a, b]\n  db:\n    image: postgres\n    ports: ['5432']\n",
        "services:\n  web:\n    command: !override [c]\n  db: !override\n    image: mariadb\n",
        "services:\n  web:\n    image: nginx\n    command: [c]\n  db:\n    image: mariadb\n",
    );
}

#[test]
fn a_tag_inside_an_overridden_node_has_no_effect_of_its_own() {
    // compose-go does not look into a tagged node: the inner `!reset` neither removes
    // anything nor is dropped; its value is taken as written.
    let over = doc("services:\n  web: !override\n    image: x\n    dns: !reset [1.1.1.1]\n");
    let base = doc("services:\n  web:\n    image: nginx\n    cap_add: [ALL]\n").value;
    let got = merge(base, over.value, &over.tags).unwrap();
    let want = doc("services:\n  web:\n    image: x\n    dns: [1.1.1.1]\n").value;
    assert!(same_data(&got, &want), "{}", yaml::to_string(&got));
}

#[test]
fn first_file_drops_reset_nodes_and_keeps_override_nodes() {
    let file = doc(
        "services:\n  web:\n    image: nginx\n    ports: !reset ['80:80']\n    command: !override [a]\n    dns: [x, !reset y, z]\n",
    );
    assert_eq!(file.tags.len(), 3);
    let mut tree = file.value;
    apply_resets(&mut tree, &file.tags);
    let want =
        doc("services:\n  web:\n    image: nginx\n    command: [a]\n    dns: [x, z]\n").value;
    assert!(same_data(&tree, &want), "{}", yaml::to_string(&tree));
}

#[test]
fn tags_are_given_by_path() {
    // The API takes tags from anywhere, not only from the YAML reader.
    let base = doc("services:\n  web:\n    image: nginx\n    volumes: ['a:/a']\n").value;
    let over = doc("services:\n  web:\n    volumes: ['b:/b']\n").value;
    let tags = [(Path::parse("services.web.volumes"), MergeTag::Override)];
    let got = merge(base, over, &tags).unwrap();
    let want = doc("services:\n  web:\n    image: nginx\n    volumes: ['b:/b']\n").value;
    assert!(same_data(&got, &want), "{}", yaml::to_string(&got));
}

// ---- rules the corpus does not cover ----

#[test]
fn extensions_merge_deeply() {
    assert_merges_to(
        "x-common: {a: 1, b: {c: 2}}\nservices:\n  web:\n    image: nginx\n    x-meta: {k: v}\n",
        "x-common: {b: {d: 3}}\nservices:\n  web:\n    x-meta: {l: w}\n",
        "x-common: {a: 1, b: {c: 2, d: 3}}\nservices:\n  web:\n    image: nginx\n    x-meta: {k: v, l: w}\n",
    );
}

#[test]
fn a_null_override_keeps_the_base() {
    assert_merges_to(
        "services:\n  web:\n    image: nginx\n    networks: [front]\n",
        "services:\n  web:\n    image:\n    networks:\n",
        "services:\n  web:\n    image: nginx\n    networks: {front: null}\n",
    );
}

#[test]
fn command_entrypoint_and_healthcheck_test_are_replaced() {
    assert_merges_to(
        "services:\n  web:\n    command: [a, b]\n    entrypoint: [sh, -c]\n    healthcheck: {test: [CMD, a], interval: 5s}\n",
        "services:\n  web:\n    command: c\n    entrypoint: [bash]\n    healthcheck: {test: [CMD, b]}\n",
        "services:\n  web:\n    command: c\n    entrypoint: [bash]\n    healthcheck: {test: [CMD, b], interval: 5s}\n",
    );
}

#[test]
fn other_sequences_are_appended() {
    assert_merges_to(
        "services:\n  web:\n    security_opt: [a, b]\n",
        "services:\n  web:\n    security_opt: [b, c]\n",
        "services:\n  web:\n    security_opt: [a, b, b, c]\n",
    );
}

#[test]
fn logging_with_another_driver_replaces_the_block() {
    assert_merges_to(
        "services:\n  web:\n    logging: {driver: syslog, options: {syslog-address: 'tcp://x'}}\n",
        "services:\n  web:\n    logging: {driver: json-file, options: {max-size: 1m}}\n",
        "services:\n  web:\n    logging: {driver: json-file, options: {max-size: 1m}}\n",
    );
    assert_merges_to(
        "services:\n  web:\n    logging: {driver: syslog, options: {a: '1'}}\n",
        "services:\n  web:\n    logging: {options: {b: '2'}}\n",
        "services:\n  web:\n    logging: {driver: syslog, options: {a: '1', b: '2'}}\n",
    );
}

#[test]
fn ulimit_entries_are_replaced_whole() {
    assert_merges_to(
        "services:\n  web:\n    ulimits:\n      nofile: {soft: 20000, hard: 40000}\n      nproc: 65535\n      core: 0\n",
        "services:\n  web:\n    ulimits:\n      nofile: {hard: 30000}\n      nproc: {soft: 1, hard: 2}\n",
        "services:\n  web:\n    ulimits:\n      nofile: {hard: 30000}\n      nproc: {soft: 1, hard: 2}\n      core: 0\n",
    );
}

#[test]
fn depends_on_lists_become_mappings_with_the_default_condition() {
    assert_merges_to(
        "services:\n  web:\n    depends_on: [db, cache]\n",
        "services:\n  web:\n    depends_on:\n      db: {condition: service_healthy}\n      queue: {condition: service_started}\n",
        "services:\n  web:\n    depends_on:\n      db: {condition: service_healthy, required: true}\n      cache: {condition: service_started, required: true}\n      queue: {condition: service_started}\n",
    );
}

#[test]
fn build_as_a_string_is_its_context() {
    assert_merges_to(
        "services:\n  web:\n    build: ./app\n",
        "services:\n  web:\n    build: {dockerfile: Dockerfile.dev, args: {A: '1'}}\n",
        "services:\n  web:\n    build: {context: ./app, dockerfile: Dockerfile.dev, args: {A: '1'}}\n",
    );
    assert_merges_to(
        "services:\n  web:\n    build: {context: ., args: [A=1]}\n",
        "services:\n  web:\n    build: ./other\n",
        "services:\n  web:\n    build: {context: ./other, args: [A=1]}\n",
    );
}

#[test]
fn mapping_values_are_printed_as_go_does() {
    assert_merges_to(
        "services:\n  web:\n    labels: {a: true}\n",
        "services:\n  web:\n    labels: {b: 1.5, c: 1000000.0, d: -3}\n",
        "services:\n  web:\n    labels: [a=true, b=1.5, c=1e+06, d=-3]\n",
    );
}

#[test]
fn ipam_pools_follow_compose_go_even_where_it_drops_a_base_pool() {
    // compose-go only keeps base pools that an override pool merged into.
    assert_merges_to(
        "networks:\n  n:\n    ipam:\n      config:\n        - subnet: 10.0.0.0/24\n",
        "networks:\n  n:\n    ipam:\n      config:\n        - subnet: 10.1.0.0/24\n",
        "networks:\n  n:\n    ipam:\n      config:\n        - subnet: 10.1.0.0/24\n",
    );
}

#[test]
fn ports_and_expose_are_deduplicated_by_identity() {
    assert_merges_to(
        "services:\n  web:\n    ports: ['80:80', {target: 443, published: '8443'}]\n    expose: [3000]\n",
        "services:\n  web:\n    ports: ['80:80', {target: 443, published: '8443', protocol: tcp, mode: host}]\n    expose: ['3000', '4000']\n",
        "services:\n  web:\n    ports: ['80:80', {target: 443, published: '8443', protocol: tcp, mode: host}]\n    expose: ['3000', '4000']\n",
    );
}

#[test]
fn configs_secrets_and_devices_are_deduplicated_by_target() {
    assert_merges_to(
        "services:\n  web:\n    configs: [app]\n    secrets: [{source: a, target: /s/a}]\n    devices: ['/dev/a:/dev/x']\n",
        "services:\n  web:\n    configs: [{source: other, target: /app}]\n    secrets: [{source: b, target: /s/a}]\n    devices: [{source: /dev/b, target: /dev/x}]\n",
        "services:\n  web:\n    configs: [{source: other, target: /app}]\n    secrets: [{source: b, target: /s/a}]\n    devices: [{source: /dev/b, target: /dev/x}]\n",
    );
}

// ---- errors ----

fn merge_error(base: &str, over: &str) -> berth_compose::Error {
    merged(base, over).expect_err("the merge must fail")
}

#[test]
fn incompatible_shapes_cannot_merge() {
    let e = merge_error(
        "services:\n  web:\n    deploy: {replicas: 2}\n",
        "services:\n  web:\n    deploy: [x]\n",
    );
    assert_eq!(e.kind, ErrorKind::Schema);
    assert_eq!(e.message, "cannot override services.web.deploy");
    let e = merge_error(
        "services:\n  web:\n    logging: {driver: x}\n",
        "services:\n  web:\n    logging: x\n",
    );
    assert!(
        e.message
            .contains("cannot merge logging: expected a mapping, got string"),
        "{e}"
    );
    let e = merge_error(
        "services:\n  web:\n    networks: [a]\n",
        "services:\n  web:\n    networks: [{}]\n",
    );
    assert!(
        e.message
            .contains("cannot use map[string]interface {} as a mapping key"),
        "{e}"
    );
}

#[test]
fn unreadable_identities_are_errors() {
    let e = merge_error(
        "services:\n  web:\n    volumes: [{type: volume, source: a}]\n",
        "services:\n  web:\n    volumes: ['b:/b']\n",
    );
    assert_eq!(
        e.message,
        "service volume services.web.volumes[0] is missing a mount target"
    );
    let e = merge_error(
        "services:\n  web:\n    cap_add: [1]\n",
        "services:\n  web:\n    cap_add: [X]\n",
    );
    assert_eq!(e.message, "services.web.cap_add[0]: unexpected type int");
    let e = merge_error(
        "services:\n  web:\n    ports: [{published: 80}]\n",
        "services:\n  web: {}\n",
    );
    assert_eq!(
        e.message,
        "service ports services.web.ports[0] is missing a target port"
    );
    let e = merge_error(
        "services:\n  web:\n    volumes: ['data::b']\n",
        "services:\n  web: {}\n",
    );
    assert_eq!(e.kind, ErrorKind::Invalid);
}

// ---- robustness ----

/// A small deterministic generator of arbitrary trees whose keys are those the rules look
/// at, so that every rule meets every shape.
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }

    fn key(&mut self) -> String {
        const KEYS: &[&str] = &[
            "services",
            "web",
            "networks",
            "volumes",
            "labels",
            "environment",
            "build",
            "args",
            "logging",
            "driver",
            "ulimits",
            "nofile",
            "ipam",
            "config",
            "subnet",
            "ports",
            "depends_on",
            "models",
            "extra_hosts",
            "secrets",
            "configs",
            "devices",
            "target",
            "expose",
            "env_file",
            "path",
            "published",
            "command",
            "aliases",
            "tmpfs",
            "x-a",
        ];
        KEYS.get(self.next(KEYS.len() as u64) as usize)
            .copied()
            .unwrap_or("k")
            .to_string()
    }

    fn value(&mut self, depth: u32) -> Value {
        let kind = if depth == 0 {
            self.next(6)
        } else {
            self.next(9)
        };
        match kind {
            0 => Value::Null,
            1 => Value::Bool(self.next(2) == 1),
            2 => Value::Int(self.next(100_000) as i64 - 50),
            3 => Value::Float(self.next(1000) as f64 / 7.0),
            4 | 5 => {
                const TEXTS: &[&str] = &[
                    "a",
                    "b=1",
                    "/x",
                    "c:/y",
                    "data::z",
                    "80:80",
                    "10.0.0.0/8",
                    "",
                ];
                Value::from(
                    *TEXTS
                        .get(self.next(TEXTS.len() as u64) as usize)
                        .unwrap_or(&"a"),
                )
            }
            6 => Value::Seq((0..self.next(4)).map(|_| self.value(depth - 1)).collect()),
            _ => Value::Map(
                (0..self.next(4))
                    .map(|_| (self.key(), self.value(depth - 1)))
                    .collect(),
            ),
        }
    }

    /// A compose-like tree: `services.<name>` and `networks.<name>` mappings of random content.
    fn tree(&mut self) -> Value {
        let mut root = berth_compose::Map::new();
        for section in ["services", "networks", "volumes"] {
            let mut entries = berth_compose::Map::new();
            for name in ["web", "db"] {
                let mut body = berth_compose::Map::new();
                for _ in 0..self.next(6) {
                    body.insert(self.key(), self.value(3));
                }
                entries.insert(name.to_string(), Value::Map(body));
            }
            root.insert(section.to_string(), Value::Map(entries));
        }
        Value::Map(root)
    }
}

/// Every path of a tree, for random tags.
fn paths(v: &Value, at: Path, out: &mut Vec<Path>) {
    match v {
        Value::Map(m) => m.iter().for_each(|(k, v)| paths(v, at.key(k), out)),
        Value::Seq(s) => s
            .iter()
            .enumerate()
            .for_each(|(i, v)| paths(v, at.index(i), out)),
        _ => {}
    }
    out.push(at);
}

#[test]
fn arbitrary_trees_merge_or_fail_without_panicking() {
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    // (merged, rejected): both must occur, or the generator misses the interesting shapes.
    let mut outcomes = (0, 0);
    for _ in 0..3000 {
        let base = g.tree();
        let over = g.tree();
        let mut all = Vec::new();
        paths(&over, Path::root(), &mut all);
        let mut tags: Vec<(Path, MergeTag)> = Vec::new();
        for _ in 0..g.next(3) {
            let tag = if g.next(2) == 0 {
                MergeTag::Reset
            } else {
                MergeTag::Override
            };
            if let Some(path) = all.get(g.next(all.len() as u64) as usize) {
                tags.push((path.clone(), tag));
            }
        }
        let mut first = over.clone();
        apply_resets(&mut first, &tags);
        match merge(base, over, &tags) {
            Ok(mut tree) => match enforce_unicity(&mut tree) {
                Ok(()) => outcomes.0 += 1,
                Err(_) => outcomes.1 += 1,
            },
            Err(_) => outcomes.1 += 1,
        }
        let _ = enforce_unicity(&mut first);
    }
    assert!(outcomes.0 > 100 && outcomes.1 > 100, "{outcomes:?}");
}
