//! Canonical long form and path resolution, checked against compose-go's printed output for
//! the corpus' full example, and family by family on tricky inputs.

use berth_compose::canonical::{
    canonicalize, canonicalize_with_positions, parse_port, parse_volume,
};
use berth_compose::paths::{clean, resolve_paths};
use berth_compose::{ErrorKind, Value, yaml};
use std::path::{Path, PathBuf};

const HOME: &str = "/home/tester";

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/full-example");
    PathBuf::from(clean(&dir.to_string_lossy()))
}

fn parse(text: &str) -> Value {
    yaml::parse(text, "test.yaml")
        .expect("test YAML parses")
        .remove(0)
        .value
}

/// Canonicalizes and resolves paths of a compose text, with `/work` as working directory.
fn load(text: &str) -> Value {
    let mut tree = parse(text);
    canonicalize(&mut tree).expect("canonicalize");
    resolve_paths(&mut tree, Path::new("/work"), Some(Path::new(HOME))).expect("resolve");
    tree
}

fn canonical_error(text: &str) -> berth_compose::Error {
    let mut tree = parse(text);
    canonicalize(&mut tree).expect_err("canonicalize should fail")
}

/// Lists where two trees differ (mapping key order ignored), for a readable failure.
fn diff(path: &str, got: &Value, want: &Value, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Map(g), Value::Map(w)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => diff(&format!("{path}.{k}"), gv, wv, out),
                    None => out.push(format!("{path}.{k}: missing, want {wv:?}")),
                }
            }
            for k in g.keys().filter(|k| !w.contains_key(*k)) {
                out.push(format!("{path}.{k}: unexpected {:?}", g[k]));
            }
        }
        (Value::Seq(g), Value::Seq(w)) if g.len() == w.len() => {
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                diff(&format!("{path}[{i}]"), gv, wv, out);
            }
        }
        _ if got == want => {}
        _ => out.push(format!("{path}: got {got:?}, want {want:?}")),
    }
}

/// The keys left out of the comparison: their expected values come from stages that run
/// before this one (env_file and label_file merging, and `environment` resolution from the
/// loader's variables), not from canonicalization.
const LEFT_OUT: [&str; 2] = ["environment", "labels"];

#[test]
fn full_example_matches_compose_go() {
    let dir = corpus_dir();
    let workdir = dir.to_string_lossy().into_owned();
    let input = std::fs::read_to_string(dir.join("full-example.yml")).unwrap();
    // The one interpolation in the file: the loader sets COMPOSE_PROJECT_NAME from `name:`.
    let input = input.replace("${COMPOSE_PROJECT_NAME}", "full_example_project_name");
    let mut tree = parse(&input);
    let warnings = canonicalize(&mut tree).unwrap();
    resolve_paths(&mut tree, &dir, Some(Path::new(HOME))).unwrap();

    let expected = std::fs::read_to_string(dir.join("expected.yaml"))
        .unwrap()
        .replace("{{WORKDIR}}", &workdir)
        .replace("{{HOME}}", HOME);
    let mut expected = parse(&expected);

    // What of the left-out keys comes from the file itself must already be right.
    let labels = at(&tree, "services.foo.labels").as_map().unwrap();
    let want_labels = at(&expected, "services.foo.labels").as_map().unwrap();
    for key in [
        "com.example.description",
        "com.example.number",
        "com.example.empty-label",
    ] {
        assert_eq!(labels.get(key), want_labels.get(key), "label {key}");
    }
    assert_eq!(labels.len(), 3);
    assert_eq!(
        at(&tree, "services.foo.environment"),
        &y("{BAZ: baz_from_service_def, QUX: null}"),
        "QUX is filled from the loader's variables by a later stage"
    );

    for t in [&mut tree, &mut expected] {
        let foo = t
            .as_map_mut()
            .and_then(|m| m.get_mut("services"))
            .and_then(Value::as_map_mut)
            .and_then(|s| s.get_mut("foo"))
            .and_then(Value::as_map_mut)
            .unwrap();
        for key in LEFT_OUT {
            foo.shift_remove(key);
        }
    }
    // The canonical form is a fixed point: the loader canonicalizes file by file and merges
    // canonical trees with raw ones, so a second pass must change nothing.
    let mut again = tree.clone();
    canonicalize(&mut again).unwrap();
    resolve_paths(&mut again, &dir, Some(Path::new(HOME))).unwrap();
    assert_eq!(again, tree, "canonicalize is not idempotent");

    let mut differences = Vec::new();
    diff("", &tree, &expected, &mut differences);
    assert!(
        differences.is_empty(),
        "differences:\n{}",
        differences.join("\n")
    );
    assert_eq!(tree, expected);
    // Nothing in the expected output is a value the printer would omit.
    let mut printed = tree.clone();
    berth_compose::canonical::omit_printer_defaults(&mut printed);
    assert_eq!(printed, expected);
    // The two `external: {name: ...}` networks/volumes/configs/secrets are deprecated forms.
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    assert!(warnings[0].message.contains("external.name is deprecated"));
}

/// The value at a dotted path (`services.web.ports[0]`).
fn at<'a>(tree: &'a Value, path: &str) -> &'a Value {
    let mut v = tree;
    for seg in berth_compose::Path::parse(path).0 {
        v = match seg {
            berth_compose::Seg::Key(k) => v.get(&k),
            berth_compose::Seg::Index(i) => v.as_seq().and_then(|s| s.get(i)),
        }
        .unwrap_or_else(|| panic!("no value at {path} in {tree:?}"));
    }
    v
}

/// A YAML snippet as a tree, for expected values.
fn y(text: &str) -> Value {
    parse(text)
}

fn service(body: &str) -> Value {
    let text = format!("services:\n  web:\n{}", indent(body, 4));
    load(&text)
}

fn indent(text: &str, n: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(n)))
        .collect()
}

// ---------------------------------------------------------------- ports

#[test]
fn ports_short_syntax_expands_per_port() {
    let t = service(
        "ports:\n  - 3000\n  - \"[::1]:8080:80\"\n  - \"[2001:db8::1]:9090:90\"\n  - \"127.0.0.1::81/UDP\"\n  - 8000-8010:82\n",
    );
    let want = y("
- {mode: ingress, target: 3000, protocol: tcp}
- {mode: ingress, host_ip: '::1', target: 80, published: '8080', protocol: tcp}
- {mode: ingress, host_ip: '2001:db8::1', target: 90, published: '9090', protocol: tcp}
- {mode: ingress, host_ip: 127.0.0.1, target: 81, protocol: udp}
- {mode: ingress, target: 82, published: 8000-8010, protocol: tcp}
");
    assert_eq!(at(&t, "services.web.ports"), &want);
}

#[test]
fn port_ranges_pair_up_and_sort_as_text() {
    let ports = parse_port("9000-9001:8000-8001/udp").unwrap();
    assert_eq!(
        Value::Seq(ports),
        y("
- {mode: ingress, target: 8000, published: '9000', protocol: udp}
- {mode: ingress, target: 8001, published: '9001', protocol: udp}
")
    );
    // compose-go sorts the expanded ports by their `port/proto` text.
    let targets: Vec<Value> = parse_port("998-1001")
        .unwrap()
        .iter()
        .map(|p| p.get("target").cloned().unwrap())
        .collect();
    assert_eq!(
        targets,
        [1000, 1001, 998, 999].map(Value::Int).to_vec(),
        "text order, as compose-go"
    );
}

#[test]
fn long_form_ports_get_types_and_defaults() {
    let t = service("ports:\n  - target: \"80\"\n    published: 8080\n    mode: host\n");
    assert_eq!(
        at(&t, "services.web.ports[0]"),
        &y("{target: 80, published: '8080', mode: host, protocol: tcp}")
    );
}

#[test]
fn invalid_ports_are_refused_in_compose_go_words() {
    for (spec, message) in [
        ("abc", "Invalid containerPort: abc"),
        ("x:80", "Invalid hostPort: x"),
        ("65536", "Invalid containerPort: 65536"),
        ("80/xyz", "Invalid proto: xyz"),
        ("127.0.1:8080:80", "Invalid ip address: 127.0.1"),
        // IPv6 needs brackets: without them the address has too many colons.
        (
            "::1:8080:80",
            "Invalid ip address ::1: address ::1:: too many colons in address",
        ),
        (
            "[::1:80:80",
            "Invalid ip address [::1: address [::1:: missing ']' in address",
        ),
        (
            "8000-8001:80-82",
            "Invalid ranges specified for container and host Ports: 80-82 and 8000-8001",
        ),
        ("80-70", "Invalid containerPort: 80-70"),
        ("8080:", "No port specified: 8080:<empty>"),
    ] {
        let err = parse_port(spec).unwrap_err();
        assert_eq!(err.message, message, "{spec}");
        assert_eq!(err.kind, ErrorKind::Schema);
    }
    let err = canonical_error("services:\n  web:\n    ports:\n      - 80\n      - \"80:http\"\n");
    assert_eq!(err.kind, ErrorKind::Schema);
    assert_eq!(
        err.message,
        "services.web.ports[1]: Invalid containerPort: http"
    );
}

// ---------------------------------------------------------------- volumes

#[test]
fn short_volumes_become_long_form() {
    let t = service(
        "volumes:\n  - ./data:/data:ro,z\n  - cache:/cache:nocopy\n  - /anon/\n  - ~/x:/x\n  - 'C:\\data:/win'\n  - /host:/ctr/:rw,rshared\n  - named:/n:Z\n",
    );
    let want = y(r"
- {type: bind, source: /work/data, target: /data, read_only: true, bind: {selinux: z}}
- {type: volume, source: cache, target: /cache, volume: {nocopy: true}}
- {type: volume, target: /anon, volume: {}}
- {type: bind, source: /home/tester/x, target: /x, bind: {}}
- {type: bind, source: 'C:\data', target: /win, bind: {}}
- {type: bind, source: /host, target: /ctr, bind: {propagation: rshared}}
- {type: volume, source: named, target: /n, bind: {selinux: Z, create_host_path: false}, volume: {}}
");
    assert_eq!(at(&t, "services.web.volumes"), &want);
}

#[test]
fn volume_spec_errors() {
    let err = parse_volume("data:/b:ro:extra").unwrap_err();
    assert_eq!(
        err.message,
        "invalid spec: data:/b:ro:extra: too many colons"
    );
    // A single letter before a colon reads as a Windows drive, as in compose-go.
    assert_eq!(
        parse_volume("d:/b:/c").unwrap(),
        y("{type: bind, source: 'd:/b', target: /c, bind: {}}")
    );
    let err = parse_volume(":/b").unwrap_err();
    assert_eq!(
        err.message,
        "invalid spec: :/b: empty section between colons"
    );
    assert_eq!(
        parse_volume("").unwrap_err().message,
        "invalid empty volume spec"
    );
    // One- and two-character specs are container paths of anonymous volumes.
    assert_eq!(parse_volume("/a").unwrap(), y("{type: volume, target: /a}"));
    assert_eq!(parse_volume(".").unwrap(), y("{type: volume, target: .}"));
    // Windows paths: a drive letter's colon does not separate fields.
    assert_eq!(
        parse_volume(r"C:\source\foo:D:\target:ro,rprivate").unwrap(),
        y(
            r"{type: bind, source: 'C:\source\foo', target: 'D:\target', read_only: true, bind: {propagation: rprivate}}"
        )
    );
    assert_eq!(
        parse_volume(r"C:\path").unwrap(),
        y(r"{type: volume, target: 'C:\path', volume: {}}")
    );
    assert_eq!(
        parse_volume(r"\\.\pipe\docker_engine:\\.\pipe\inside").unwrap(),
        y(r"{type: bind, source: '\\.\pipe\docker_engine', target: '\\.\pipe\inside', bind: {}}")
    );
    // Unknown options are ignored, as compose-go does.
    assert_eq!(
        parse_volume("name:/target:bogus").unwrap(),
        y("{type: volume, source: name, target: /target, volume: {}}")
    );
}

#[test]
fn long_volumes_keep_their_form_with_typed_values() {
    let t = service(
        "volumes:\n  - type: tmpfs\n    target: /t\n    tmpfs: {size: 1g, mode: \"1777\"}\n  - type: bind\n    source: ./src\n    target: /s\n    bind: {create_host_path: true}\n  - type: bind\n    source: /abs\n    target: /a\n    read_only: \"true\"\n    bind: {create_host_path: false}\n",
    );
    assert_eq!(
        at(&t, "services.web.volumes"),
        &y("
- {type: tmpfs, target: /t, tmpfs: {size: '1073741824', mode: 1777}}
- {type: bind, source: /work/src, target: /s, bind: {}}
- {type: bind, source: /abs, target: /a, read_only: true, bind: {create_host_path: false}}
")
    );
    let mut tree = y("services:\n  web:\n    volumes:\n      - type: bind\n        target: /x\n");
    canonicalize(&mut tree).unwrap();
    let err = resolve_paths(&mut tree, Path::new("/work"), None).unwrap_err();
    assert!(
        err.message
            .contains("invalid mount config for type \"bind\": field Source must not be empty"),
        "{err}"
    );
}

// ---------------------------------------------------------------- key/value lists

#[test]
fn key_value_lists_become_mappings() {
    let t = service(
        "environment: [A=1, B, C=, D=x=y]\nlabels: [a=b, c]\nannotations: [k=v]\nsysctls: {net.core.somaxconn: 1024}\nstorage_opt: {size: 20G, n: 1}\n",
    );
    assert_eq!(
        at(&t, "services.web.environment"),
        &y("{A: '1', B: null, C: '', D: x=y}")
    );
    assert_eq!(at(&t, "services.web.labels"), &y("{a: b, c: ''}"));
    assert_eq!(at(&t, "services.web.annotations"), &y("{k: v}"));
    assert_eq!(
        at(&t, "services.web.storage_opt"),
        &y("{size: 20G, n: '1'}")
    );
    let sysctls = at(&t, "services.web.sysctls").as_map().unwrap();
    assert_eq!(sysctls["net.core.somaxconn"], Value::from("1024"));
}

#[test]
fn mapping_values_print_like_go() {
    let t = service("environment:\n  A: 1\n  B: true\n  C:\n  D: 1.5\n  E: 1000000.0\n");
    assert_eq!(
        at(&t, "services.web.environment"),
        &y("{A: '1', B: 'true', C: null, D: '1.5', E: '1e+06'}")
    );
}

#[test]
fn environment_names_with_a_trailing_space_are_refused() {
    let err = canonical_error("services:\n  test:\n    environment:\n      - DEBUG = true\n");
    assert!(
        err.message.contains(
            "'services[test].environment' environment variable DEBUG  is declared with a trailing space"
        ),
        "{err}"
    );
}

#[test]
fn extra_hosts_print_sorted_with_equals() {
    let t =
        service("extra_hosts:\n  - \"b:1.2.3.4\"\n  - a=::1\n  - \"c:[::2]\"\n  - \"b:5.6.7.8\"\n");
    assert_eq!(
        at(&t, "services.web.extra_hosts"),
        &y("[a=::1, b=1.2.3.4, b=5.6.7.8, c=::2]")
    );
    let t = service("extra_hosts:\n  x: [1.1.1.1, 2.2.2.2]\n  y: 3.3.3.3\n");
    assert_eq!(
        at(&t, "services.web.extra_hosts"),
        &y("[x=1.1.1.1, x=2.2.2.2, y=3.3.3.3]")
    );
    let err = canonical_error("services:\n  web:\n    extra_hosts: [nohost]\n");
    assert_eq!(
        err.message,
        "services.web.extra_hosts[0]: invalid additional host, missing IP: nohost"
    );
}

// ---------------------------------------------------------------- references

#[test]
fn depends_on_networks_secrets_configs() {
    let t = service(
        "depends_on:\n  db: {condition: service_healthy}\n  cache: {required: \"false\", restart: true}\nnetworks: [front, back]\nsecrets: [s1, {source: s2, uid: 103, mode: 288}]\nconfigs: [c1, {source: c2, mode: \"0440\"}]\n",
    );
    assert_eq!(
        at(&t, "services.web.depends_on"),
        &y("
db: {condition: service_healthy, required: true}
cache: {condition: service_started, required: false, restart: true}
")
    );
    assert_eq!(
        at(&t, "services.web.networks"),
        &y("{front: null, back: null}")
    );
    assert_eq!(
        at(&t, "services.web.secrets"),
        &y("
- {source: s1, target: /run/secrets/s1}
- {source: s2, uid: '103', mode: '0440', target: /run/secrets/s2}
")
    );
    assert_eq!(
        at(&t, "services.web.configs"),
        &y("[{source: c1}, {source: c2, mode: '0440'}]")
    );
    let t = service("depends_on: [db, redis]\n");
    assert_eq!(
        at(&t, "services.web.depends_on"),
        &y("
db: {condition: service_started, required: true}
redis: {condition: service_started, required: true}
")
    );
}

#[test]
fn devices_ulimits_and_string_lists() {
    let t = service(
        "devices: [/dev/a, \"/dev/b:/dev/c:r\"]\nulimits:\n  nproc: 65535\n  nofile: {soft: \"10\", hard: 20}\ndns: 8.8.8.8\ndns_search: example.com\ntmpfs: /run\nexpose: [\"3000\", 8000]\nlabel_file: ./a.label\n",
    );
    assert_eq!(
        at(&t, "services.web.devices"),
        &y("
- {source: /dev/a, target: /dev/a, permissions: rwm}
- {source: /dev/b, target: /dev/c, permissions: r}
")
    );
    assert_eq!(
        at(&t, "services.web.ulimits"),
        &y("{nproc: 65535, nofile: {soft: 10, hard: 20}}")
    );
    assert_eq!(at(&t, "services.web.dns"), &y("[8.8.8.8]"));
    let t2 = service("dns: [\"\", null, 1.1.1.1]\n");
    assert_eq!(at(&t2, "services.web.dns"), &y("[1.1.1.1]"));
    assert_eq!(at(&t, "services.web.dns_search"), &y("[example.com]"));
    assert_eq!(at(&t, "services.web.tmpfs"), &y("[/run]"));
    assert_eq!(at(&t, "services.web.expose"), &y("['3000', '8000']"));
    assert_eq!(at(&t, "services.web.label_file"), &y("[/work/a.label]"));
    let err = canonical_error("services:\n  web:\n    devices: [\"a:b:c:d\"]\n");
    assert_eq!(
        err.message,
        "services.web.devices[0]: confusing device mapping, please use long syntax: a:b:c:d"
    );
}

#[test]
fn env_files_take_the_long_form() {
    let t = service("env_file: .env\n");
    assert_eq!(at(&t, "services.web.env_file"), &y("[{path: /work/.env}]"));
    let t = service(
        "env_file:\n  - ./a.env\n  - {path: ~/b.env, required: \"false\"}\n  - {path: c.env, required: true, format: raw}\n",
    );
    assert_eq!(
        at(&t, "services.web.env_file"),
        &y("
- {path: /work/a.env}
- {path: /home/tester/b.env, required: false}
- {path: /work/c.env, format: raw}
")
    );
}

// ---------------------------------------------------------------- commands, health, units

#[test]
fn commands_split_like_compose_go() {
    let t = service("command: sh -c 'echo \"a b\"'\nentrypoint: /entry.sh --flag=\"x y\"\n");
    assert_eq!(
        at(&t, "services.web.command"),
        &y("[sh, -c, 'echo \"a b\"']")
    );
    assert_eq!(
        at(&t, "services.web.entrypoint"),
        &y("[/entry.sh, --flag=x y]")
    );
    let t = service("command: \"\"\n");
    assert_eq!(at(&t, "services.web.command"), &Value::Seq(vec![]));
    let err = canonical_error("services:\n  web:\n    command: \"echo 'oops\"\n");
    assert_eq!(
        err.message,
        "services.web.command: invalid command line string"
    );
}

#[test]
fn healthcheck_durations_sizes_and_numbers() {
    let t = service(
        "healthcheck:\n  test: curl -f http://localhost\n  interval: 90s\n  timeout: 1d\n  retries: \"3\"\nstop_grace_period: 1h30m\nmem_limit: 512m\nshm_size: 1024\ncpus: \"0.5\"\ncpu_shares: \"512\"\nprivileged: \"true\"\n",
    );
    assert_eq!(
        at(&t, "services.web.healthcheck"),
        &y(
            "{test: [CMD-SHELL, curl -f http://localhost], interval: 1m30s, timeout: 24h0m0s, retries: 3}"
        )
    );
    assert_eq!(
        at(&t, "services.web.stop_grace_period"),
        &Value::from("1h30m0s")
    );
    assert_eq!(at(&t, "services.web.mem_limit"), &Value::from("536870912"));
    assert_eq!(at(&t, "services.web.shm_size"), &Value::from("1024"));
    assert_eq!(at(&t, "services.web.cpus"), &Value::Float(0.5));
    assert_eq!(at(&t, "services.web.cpu_shares"), &Value::Int(512));
    assert_eq!(at(&t, "services.web.privileged"), &Value::Bool(true));
    let err = canonical_error("services:\n  web:\n    mem_limit: lots\n");
    assert_eq!(err.kind, ErrorKind::Schema);
    assert!(
        err.message
            .starts_with("services.web.mem_limit: invalid size"),
        "{err}"
    );
    let err = canonical_error("services:\n  web:\n    stop_grace_period: soon\n");
    assert!(
        err.message
            .starts_with("services.web.stop_grace_period: invalid duration"),
        "{err}"
    );
}

// ---------------------------------------------------------------- build, deploy, gpus

#[test]
fn build_short_and_long_forms() {
    let t = service("build: ./app\n");
    assert_eq!(at(&t, "services.web.build"), &y("{context: /work/app}"));
    let t = service(
        "build:\n  args: [A=1, B]\n  labels: [l=v]\n  additional_contexts: [base=docker-image://alpine, src=../src]\n  ssh: [default, key=/k]\n  tags: t:1\n  shm_size: 2g\n",
    );
    assert_eq!(
        at(&t, "services.web.build"),
        &y("
context: /work
args: {A: '1', B: null}
labels: {l: v}
additional_contexts: {base: 'docker-image://alpine', src: /src}
ssh: [default, key=/k]
tags: ['t:1']
shm_size: '2147483648'
")
    );
    for context in [
        "https://github.com/x/y.git",
        "git@github.com:x/y.git",
        "github.com/x/y",
    ] {
        let t = service(&format!("build: {context}\n"));
        assert_eq!(at(&t, "services.web.build.context"), &Value::from(context));
    }
    let err =
        canonical_error("services:\n  web:\n    build:\n      additional_contexts: [nokey]\n");
    assert_eq!(
        err.message,
        "services.web.build.additional_contexts[0]: invalid value nokey, expected key=value"
    );
    let err = canonical_error("services:\n  web:\n    build:\n      ssh: [mykey]\n");
    assert_eq!(
        err.message,
        "services.web.build.ssh[0]: invalid ssh key \"mykey\""
    );
}

#[test]
fn deploy_resources_and_device_requests() {
    let t = service(
        "deploy:\n  labels: [a=b]\n  update_config: {monitor: 60s, max_failure_ratio: \"0.3\"}\n  restart_policy: {window: 120s}\n  resources:\n    limits: {cpus: \"2\", memory: 50M}\n    reservations:\n      devices:\n        - capabilities: [gpu]\n        - {capabilities: [gpu], count: \"2\"}\ngpus: all\n",
    );
    assert_eq!(
        at(&t, "services.web.deploy"),
        &y("
labels: {a: b}
update_config: {monitor: 1m0s, max_failure_ratio: 0.3}
restart_policy: {window: 2m0s}
resources:
  limits: {cpus: 2, memory: '52428800'}
  reservations:
    devices:
      - {capabilities: [gpu], count: -1}
      - {capabilities: [gpu], count: 2}
")
    );
    assert_eq!(at(&t, "services.web.gpus"), &y("[{count: -1}]"));
    let err = canonical_error(
        "services:\n  web:\n    deploy:\n      resources:\n        reservations:\n          devices:\n            - {count: 2, device_ids: [a]}\n",
    );
    assert!(
        err.message
            .ends_with("\"count\" and \"device_ids\" attributes are exclusive"),
        "{err}"
    );
    let err = canonical_error(
        "services:\n  web:\n    deploy:\n      resources:\n        reservations:\n          devices:\n            - {count: some_string}\n",
    );
    assert!(
        err.message.ends_with(
            "invalid value \"some_string\", the only value allowed is 'all' or a number"
        ),
        "{err}"
    );
}

// ---------------------------------------------------------------- top level, paths

#[test]
fn top_level_resources() {
    let t = load(
        "networks:\n  a:\n  b: {external: {name: real}}\nvolumes:\n  v: {driver_opts: {size: 1}}\n  bound: {driver: local, driver_opts: {o: bind, type: none, device: ./data}}\nsecrets:\n  s: {file: ~/secret}\nconfigs:\n  c: {file: 'C:\\conf'}\ninclude:\n  - ../other/compose.yaml\n  - {path: [a.yaml], env_file: ./x.env, project_directory: ..}\n",
    );
    assert_eq!(at(&t, "networks.a"), &y("{}"));
    assert_eq!(at(&t, "networks.b"), &y("{name: real, external: true}"));
    assert_eq!(at(&t, "volumes.v"), &y("{driver_opts: {size: '1'}}"));
    assert_eq!(
        at(&t, "volumes.bound.driver_opts.device"),
        &Value::from("/work/data")
    );
    assert_eq!(
        at(&t, "secrets.s.file"),
        &Value::from("/home/tester/secret")
    );
    assert_eq!(at(&t, "configs.c.file"), &Value::from("C:\\conf"));
    assert_eq!(
        at(&t, "include"),
        &y("
- {path: [/other/compose.yaml]}
- {path: [/work/a.yaml], env_file: [/work/x.env], project_directory: /}
")
    );
    for kind in ["networks", "volumes", "secrets"] {
        let err = canonical_error(&format!(
            "{kind}:\n  foo:\n    name: user_specified_name\n    external:\n      name: external_name\n"
        ));
        assert_eq!(
            err.message,
            format!("{kind}.foo: name and external.name conflict; only use name")
        );
    }
}

#[test]
fn paths_without_home_and_remote_extends() {
    let mut tree = y(
        "services:\n  web:\n    extends: {file: ../base.yaml, service: b}\n    volumes: [\"~/x:/x\"]\n  other:\n    extends: {file: 'oci://registry/thing', service: b}\n",
    );
    canonicalize(&mut tree).unwrap();
    resolve_paths(&mut tree, Path::new("/work/app"), None).unwrap();
    assert_eq!(
        at(&tree, "services.web.extends.file"),
        &Value::from("/work/base.yaml")
    );
    // Without a home directory `~` cannot expand; compose-go then joins it like any name.
    assert_eq!(
        at(&tree, "services.web.volumes[0].source"),
        &Value::from("/work/app/~/x")
    );
    assert_eq!(
        at(&tree, "services.other.extends.file"),
        &Value::from("oci://registry/thing")
    );
}

#[test]
fn develop_watch_paths_split_and_resolve() {
    let t = service("develop:\n  watch:\n    - {path: [./a, ./b], action: sync, target: /app}\n");
    assert_eq!(
        at(&t, "services.web.develop.watch"),
        &y("
- {path: /work/a, action: sync, target: /app}
- {path: /work/b, action: sync, target: /app}
")
    );
}

#[test]
fn errors_and_warnings_carry_file_positions() {
    let text = "services:\n  web:\n    ports:\n      - 80\n      - \"80:http\"\n";
    let mut doc = yaml::parse(text, "compose.yaml").unwrap().remove(0);
    let err = canonicalize_with_positions(&mut doc.value, &doc.positions).unwrap_err();
    let loc = err.location.clone().expect("located");
    assert_eq!((loc.line, loc.column), (5, 9));
    assert!(
        err.to_string()
            .starts_with("compose.yaml:5:9: services.web.ports[1]: Invalid containerPort"),
        "{err}"
    );

    let text = "networks:\n  n:\n    external:\n      name: real\n";
    let mut doc = yaml::parse(text, "c.yaml").unwrap().remove(0);
    let warnings = canonicalize_with_positions(&mut doc.value, &doc.positions).unwrap();
    assert_eq!(warnings.len(), 1);
    // The value of `external` starts on line 4.
    assert_eq!(warnings[0].location.as_ref().map(|l| l.line), Some(4));
    assert_eq!(
        warnings[0].message,
        "networks.n: external.name is deprecated. Please set name and external: true"
    );
}

/// Every awesome-compose stack that needs no interpolation canonicalizes, and every short
/// port and volume of it ends up in long form.
#[test]
fn awesome_compose_stacks_canonicalize() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/awesome-compose");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let Some(file) = ["compose.yaml", "compose.yml"]
            .iter()
            .map(|f| dir.join(f))
            .find(|f| f.exists())
        else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        if text.contains('$') {
            continue; // needs interpolation, which runs before this stage
        }
        let mut tree = parse(&text);
        canonicalize(&mut tree).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        resolve_paths(&mut tree, &dir, Some(Path::new(HOME))).unwrap();
        for svc in tree
            .get("services")
            .and_then(Value::as_map)
            .unwrap()
            .values()
        {
            for key in ["ports", "volumes"] {
                if let Some(items) = svc.get(key).and_then(Value::as_seq) {
                    assert!(
                        items.iter().all(|i| i.as_map().is_some()),
                        "{}: {key} not in long form: {items:?}",
                        file.display()
                    );
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} stacks checked");
}

/// Every node of the full example replaced by a value of each other kind: canonicalization
/// and path resolution may refuse the result, but never panic.
#[test]
fn malformed_values_give_errors_not_panics() {
    fn paths(v: &Value, here: berth_compose::Path, out: &mut Vec<berth_compose::Path>) {
        match v {
            Value::Map(m) => {
                for (k, c) in m {
                    paths(c, here.key(k), out);
                }
            }
            Value::Seq(s) => {
                for (i, c) in s.iter().enumerate() {
                    paths(c, here.index(i), out);
                }
            }
            _ => {}
        }
        out.push(here);
    }
    fn slot<'a>(v: &'a mut Value, p: &berth_compose::Path) -> Option<&'a mut Value> {
        let mut v = v;
        for seg in &p.0 {
            v = match (seg, v) {
                (berth_compose::Seg::Key(k), Value::Map(m)) => m.get_mut(k)?,
                (berth_compose::Seg::Index(i), Value::Seq(s)) => s.get_mut(*i)?,
                _ => return None,
            };
        }
        Some(v)
    }
    let text = std::fs::read_to_string(corpus_dir().join("full-example.yml")).unwrap();
    let base = parse(&text);
    let mut all = Vec::new();
    paths(&base, berth_compose::Path::root(), &mut all);
    let replacements = [
        Value::Null,
        Value::Int(-1),
        Value::Float(0.5),
        Value::Bool(true),
        Value::from("::[x]:"),
        Value::from(""),
        Value::Seq(vec![Value::Null, Value::Int(7)]),
        Value::Map(Default::default()),
    ];
    let mut refused = 0;
    for p in &all {
        for r in &replacements {
            let mut tree = base.clone();
            if let Some(v) = slot(&mut tree, p) {
                *v = r.clone();
            }
            match canonicalize(&mut tree) {
                Ok(_) => {
                    let _ = resolve_paths(&mut tree, Path::new("/w"), Some(Path::new(HOME)));
                }
                Err(e) => {
                    assert_eq!(e.kind, ErrorKind::Schema, "{e}");
                    refused += 1;
                }
            }
        }
    }
    assert!(refused > 100, "only {refused} refusals");
}

/// compose-go's split cases: whether the spec has a source (host path or volume name).
#[test]
fn volume_split_cases_of_compose_go() {
    let cases: &[(&str, bool)] = &[
        (r"C:\foo:d:", true),
        (r":C:\foo:d:", false),
        ("/foo:/bar:ro", true),
        (r"C:\foo\:/foo", true),
        (r"d:\", false),
        ("d:", false),
        (r"d:\path", false),
        (r"d:\path with space", false),
        (r"d:\pathandmode:rw", true),
        (r"c:\:d:\", true),
        (r"c:\windows\:d:", true),
        (r"c:\windows:d:\s p a c e", true),
        (r"c:\windows:d:\s p a c e:RW", true),
        (r"c:\program files:d:\s p a c e i n h o s t d i r", true),
        ("0123456789name:d:", true),
        ("MiXeDcAsEnAmE:d:", true),
        ("name:D:", true),
        ("name:D::rW", true),
        ("c:/:d:/forward/slashes/are/good/too", true),
        (r"c:\Windows", false),
        (r"c:\Program Files (x86)", false),
        ("", false),
        (".", false),
        (r"..\", false),
        (r"c:\:..\", true),
        (r"c:\:d:\:xyzzy", true),
        ("/tmp/x/y:/foo/x/y", true),
    ];
    for (spec, has_source) in cases {
        let source = parse_volume(spec)
            .ok()
            .and_then(|v| v.get("source").cloned());
        assert_eq!(source.is_some(), *has_source, "{spec}: {source:?}");
    }
}

#[test]
fn printer_defaults_are_left_out_for_output() {
    let mut t = service(
        "image: x\nprivileged: false\nhostname: \"\"\ncap_add: []\nuser: \"0\"\ninit: false\ncommand: []\nshm_size: 0\nports: [{target: 80, published: \"\"}]\ndepends_on: {db: {condition: service_started, restart: false}}\nvolumes: [{type: tmpfs, target: /t, tmpfs: {size: 0}}]\n",
    );
    berth_compose::canonical::omit_printer_defaults(&mut t);
    assert_eq!(
        at(&t, "services.web"),
        &y("
image: x
user: '0'
init: false
command: []
ports: [{target: 80, mode: ingress, protocol: tcp}]
depends_on: {db: {condition: service_started, required: true}}
volumes: [{type: tmpfs, target: /t, tmpfs: {}}]
")
    );
}
