//! `.env` parsing against the conformance corpus (`tests/corpus/dotenv/`).

use berth_compose::Value;
use berth_compose::dotenv::{DotenvError, parse};
use berth_compose::yaml;
use indexmap::IndexMap;
use std::cell::RefCell;
use std::collections::HashMap;

fn corpus_dir() -> String {
    format!("{}/../tests/corpus/dotenv", env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn text<'a>(item: &'a Value, key: &str) -> Option<&'a str> {
    item.get(key).and_then(Value::as_str)
}

fn string_map(item: &Value, key: &str) -> IndexMap<String, String> {
    item.get(key)
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.scalar_to_string().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

fn string_list(item: &Value, key: &str) -> Vec<String> {
    item.get(key)
        .and_then(Value::as_seq)
        .map(|s| s.iter().filter_map(Value::scalar_to_string).collect())
        .unwrap_or_default()
}

/// Parses with `lookup_env` as the only environment, recording every name looked up.
fn parse_with(
    input: &str,
    env: &IndexMap<String, String>,
    looked_up: &RefCell<Vec<String>>,
) -> Result<IndexMap<String, String>, DotenvError> {
    let lookup = |name: &str| {
        looked_up.borrow_mut().push(name.to_string());
        env.get(name).cloned()
    };
    parse(input, &lookup)
}

/// Checks `match` / `expected` / `absent` of a case against a result.
fn check_result(id: &str, item: &Value, got: &IndexMap<String, String>) {
    let expected = string_map(item, "expected");
    match text(item, "match") {
        Some("exact") => {
            let got_sorted: HashMap<_, _> = got.iter().collect();
            let expected_sorted: HashMap<_, _> = expected.iter().collect();
            assert_eq!(got_sorted, expected_sorted, "{id}");
        }
        Some("subset") => {
            for (k, v) in &expected {
                assert_eq!(got.get(k), Some(v), "{id}: key {k:?} in {got:?}");
            }
        }
        other => panic!("{id}: unknown match {other:?}"),
    }
    for key in string_list(item, "absent") {
        assert!(!got.contains_key(&key), "{id}: {key} should be absent");
    }
}

#[test]
fn fixture_checks() {
    let dir = corpus_dir();
    let docs = yaml::parse(&read(&format!("{dir}/expected.yaml")), "expected.yaml").unwrap();
    let fixtures = docs[0].value.as_map().expect("a mapping of fixtures");
    let mut checks = 0;
    for (fixture, list) in fixtures {
        let input = read(&format!("{dir}/fixtures/{fixture}"));
        for (n, item) in list.as_seq().expect("a list of checks").iter().enumerate() {
            let id = format!("{fixture}#{}", n + 1);
            let looked_up = RefCell::new(Vec::new());
            let result = match text(item, "api") {
                Some("parse") | Some("read") => {
                    let env = string_map(item, "lookup_env");
                    let parsed = parse_with(&input, &env, &looked_up);
                    if text(item, "api") == Some("read") {
                        // godotenv's Read helper drops keys that begin with a digit.
                        parsed.map(|mut m| {
                            m.retain(|k, _| {
                                !k.trim_start().starts_with(|c: char| c.is_ascii_digit())
                            });
                            m
                        })
                    } else {
                        parsed
                    }
                }
                Some("load") => {
                    // Parse with nothing to look up, then apply without overriding what the
                    // environment already holds.
                    let mut env = string_map(item, "preset_env");
                    parse_with(&input, &IndexMap::new(), &looked_up).map(|parsed| {
                        for (k, v) in parsed {
                            env.entry(k).or_insert(v);
                        }
                        env
                    })
                }
                other => panic!("{id}: unknown api {other:?}"),
            };
            match text(item, "expect_error") {
                Some(expected) => {
                    let err = result.expect_err(&id);
                    assert_eq!(err.to_string(), expected, "{id}");
                }
                None => {
                    let got = result.unwrap_or_else(|e| panic!("{id}: {e}"));
                    check_result(&id, item, &got);
                }
            }
            for name in string_list(item, "lookup_called_for") {
                assert!(
                    looked_up.borrow().contains(&name),
                    "{id}: {name} not looked up"
                );
            }
            checks += 1;
        }
    }
    assert!(checks >= 19, "only {checks} checks");
}

#[test]
fn inline_cases() {
    let dir = corpus_dir();
    let docs = yaml::parse(&read(&format!("{dir}/inline.yaml")), "inline.yaml").unwrap();
    let items = docs[0].value.as_seq().expect("a list of cases");
    assert!(items.len() >= 75, "only {} cases", items.len());
    for item in items {
        let id = text(item, "id").expect("id");
        let env = string_map(item, "lookup_env");
        let looked_up = RefCell::new(Vec::new());
        let result = match (text(item, "input"), item.get("files")) {
            (Some(input), None) => parse_with(input, &env, &looked_up),
            (None, Some(files)) => {
                // Several files read in order, each with the environment as its lookup, later
                // files overriding earlier keys (godotenv's ReadWithLookup, which the
                // expectations were taken from).
                let mut merged = IndexMap::new();
                let mut result = Ok(());
                for file in files.as_seq().expect("files is a list") {
                    match parse_with(file.as_str().expect("file text"), &env, &looked_up) {
                        Ok(parsed) => merged.extend(parsed),
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                result.map(|()| merged)
            }
            _ => panic!("{id}: needs input or files"),
        };
        match text(item, "expect_error") {
            Some(expected) => {
                let err = result.expect_err(id).to_string();
                match text(item, "error_match") {
                    Some("exact") => assert_eq!(err, expected, "{id}"),
                    Some("contains") => assert!(err.contains(expected), "{id}: {err}"),
                    Some("any") => {}
                    other => panic!("{id}: unknown error_match {other:?}"),
                }
            }
            None => {
                let got = result.unwrap_or_else(|e| panic!("{id}: {e}"));
                check_result(id, item, &got);
            }
        }
    }
}

#[test]
fn interpolation_corpus_dotenv_items() {
    // The `dotenv-*` items of the interpolation corpus, as `.env` lines: the value after
    // `RESULT=` expands with the same engine, and errors carry the line.
    let path = format!(
        "{}/../tests/corpus/interpolation/cases.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let docs = yaml::parse(&read(&path), "cases.yaml").unwrap();
    let mut seen = 0;
    for item in docs[0].value.as_seq().expect("cases") {
        let id = text(item, "id").unwrap_or_default();
        if !id.starts_with("dotenv-") {
            continue;
        }
        let template = text(item, "template").expect("template");
        let env = string_map(item, "env");
        let looked_up = RefCell::new(Vec::new());
        let result = parse_with(template, &env, &looked_up);
        match (text(item, "expected"), text(item, "expect_error")) {
            (Some(expected), _) => {
                let (key, value) = expected.split_once('=').expect("KEY=value");
                let got = result.unwrap_or_else(|e| panic!("{id}: {e}"));
                assert_eq!(got.get(key).map(String::as_str), Some(value), "{id}");
            }
            (None, Some(expected)) => {
                let err = result.expect_err(id);
                assert_eq!(err.to_string(), format!("line 1: {expected}"), "{id}");
            }
            _ => panic!("{id}: no expectation"),
        }
        seen += 1;
    }
    assert!(seen >= 8);
}
