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
                && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same_data(v, w)))
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
    assert!(dirs.len() >= 45, "expected the 45 merge cases, found {}", dirs.len());

    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
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
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), dirs.len(), failures.join("\n"));
}
