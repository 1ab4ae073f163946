//! Canonical long form and path resolution, checked against compose-go's printed output for
//! the corpus' full example, and family by family on tricky inputs.

use berth_compose::canonical::{canonicalize, parse_port, parse_volume};
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
    let mut differences = Vec::new();
    diff("", &tree, &expected, &mut differences);
    assert!(
        differences.is_empty(),
        "differences:\n{}",
        differences.join("\n")
    );
    assert_eq!(tree, expected);
    // The two `external: {name: ...}` networks/volumes/configs/secrets are deprecated forms.
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    assert!(warnings[0].message.contains("external.name is deprecated"));
}
