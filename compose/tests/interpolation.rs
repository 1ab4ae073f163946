//! Interpolation against the conformance corpus (`tests/corpus/interpolation/cases.yaml`) and
//! whole-tree behaviour the corpus does not cover (keys, casts, warnings, places).

use berth_compose::interpolate::{TemplateError, extract_variables, interpolate, substitute};
use berth_compose::yaml::{self, Positions};
use berth_compose::{ErrorKind, Map, Path, Seg, Value};
use std::collections::HashMap;

fn corpus(rel: &str) -> String {
    let path = format!("{}/../tests/corpus/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn text<'a>(item: &'a Value, key: &str) -> Option<&'a str> {
    item.get(key).and_then(Value::as_str)
}

fn env_of(item: &Value) -> HashMap<String, String> {
    item.get("env")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.scalar_to_string().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// A tree holding `leaf` at `path` (mappings for keys, one-element sequences for indexes).
fn tree_at(path: &Path, leaf: Value) -> Value {
    path.0.iter().rev().fold(leaf, |inner, seg| match seg {
        Seg::Key(k) => {
            let mut m = Map::new();
            m.insert(k.clone(), inner);
            Value::Map(m)
        }
        Seg::Index(_) => Value::Seq(vec![inner]),
    })
}

fn value_at<'a>(tree: &'a Value, path: &Path) -> Option<&'a Value> {
    path.0.iter().try_fold(tree, |v, seg| match seg {
        Seg::Key(k) => v.get(k),
        Seg::Index(i) => v.as_seq().and_then(|s| s.get(*i)),
    })
}

fn is_unset_warning(message: &str) -> bool {
    message.ends_with("variable is not set. Defaulting to a blank string.")
}

#[test]
fn corpus_cases() {
    let docs = yaml::parse(&corpus("interpolation/cases.yaml"), "cases.yaml").unwrap();
    let items = docs[0].value.as_seq().expect("a list of cases");
    assert!(items.len() >= 70, "only {} cases", items.len());
    let mut checked = 0;
    for item in items {
        let id = text(item, "id").expect("id");
        let template = text(item, "template").expect("template");
        let env = env_of(item);
        let lookup = |name: &str| env.get(name).cloned();
        let result = substitute(template, &lookup);
        let warnings = item.get("warnings").and_then(|w| match w {
            Value::Int(n) => usize::try_from(*n).ok(),
            _ => None,
        });
        match (text(item, "expected"), text(item, "expect_error")) {
            (Some(expected), None) => {
                let got = result.unwrap_or_else(|e| panic!("{id}: unexpected error {e}"));
                assert_eq!(got.value, expected, "{id}");
                if let Some(n) = warnings {
                    assert_eq!(got.unset.len(), n, "{id}: unset variables {:?}", got.unset);
                }
            }
            (None, Some(expected_error)) => {
                let err = result.expect_err(id);
                assert!(
                    err.to_string().contains(expected_error),
                    "{id}: {err} does not contain {expected_error}"
                );
                match text(item, "error_kind") {
                    Some("invalid-template") => {
                        assert!(matches!(err, TemplateError::Invalid { .. }), "{id}")
                    }
                    Some("missing-required") => {
                        assert!(matches!(err, TemplateError::MissingRequired { .. }), "{id}")
                    }
                    other => panic!("{id}: unknown error_kind {other:?}"),
                }
            }
            _ => panic!("{id}: needs exactly one of expected / expect_error"),
        }
        if let Some(path) = text(item, "path") {
            model_level(item, id, template, path, &lookup, warnings);
        }
        checked += 1;
    }
    assert_eq!(checked, items.len());
}

/// The same case through [`interpolate`], with the string placed at the case's path.
fn model_level(
    item: &Value,
    id: &str,
    template: &str,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: Option<usize>,
) {
    let path = Path::parse(path);
    let mut tree = tree_at(&path, Value::from(template));
    let result = interpolate(&mut tree, lookup, &Positions::default());
    if let Some(expected) = text(item, "expected") {
        let got = result.unwrap_or_else(|e| panic!("{id}: unexpected error {e}"));
        assert_eq!(value_at(&tree, &path), Some(&Value::from(expected)), "{id}");
        if let Some(n) = warnings {
            let unset = got.iter().filter(|w| is_unset_warning(&w.message)).count();
            assert_eq!(unset, n, "{id}");
        }
    } else {
        let err = result.expect_err(id);
        assert_eq!(err.kind, ErrorKind::Interpolation, "{id}");
        if let Some(full) = text(item, "error_full") {
            assert_eq!(err.message, full, "{id}");
        }
    }
}

const COMPOSE: &str = r#"services:
  web:
    image: "nginx:${TAG:-latest}"
    scale: ${SCALE}
    privileged: "${PRIV}"
    tty: yes
    read_only: "maybe"
    environment:
      ${KEY}: $$literal
      OTHER: ${MISSING}
    ports:
      - target: "${PORT}"
        published: "${PORT}"
    ulimits:
      nofile:
        soft: "${N}"
        hard: 20
    cpus: "${CPUS}"
    command: ["echo", "${MISSING}", "$UNSET2"]
networks:
  front:
    external: "true"
"#;

#[test]
fn whole_file() {
    let mut docs = yaml::parse(COMPOSE, "compose.yaml").unwrap();
    let doc = docs.remove(0);
    let mut tree = doc.value;
    let env: HashMap<&str, &str> = [
        ("SCALE", "3"),
        ("PRIV", "false"),
        ("PORT", "8080"),
        ("N", "1024"),
        ("CPUS", "0.5"),
        ("KEY", "x"),
    ]
    .into_iter()
    .collect();
    let lookup = |name: &str| env.get(name).map(|v| (*v).to_string());
    let warnings = interpolate(&mut tree, &lookup, &doc.positions).unwrap();

    let at = |p: &str| value_at(&tree, &Path::parse(p)).cloned();
    assert_eq!(at("services.web.image"), Some("nginx:latest".into()));
    assert_eq!(at("services.web.scale"), Some(Value::Int(3)));
    assert_eq!(at("services.web.privileged"), Some(Value::Bool(false)));
    assert_eq!(at("services.web.tty"), Some(Value::Bool(true)));
    // Not a boolean: left for the schema validator to report. Deliberate difference:
    // compose-go fails here ("failed to cast to expected type: invalid boolean: maybe");
    // berth lets validation report it with the file position and the schema's wording.
    assert_eq!(at("services.web.read_only"), Some("maybe".into()));
    // Keys are never substituted; `$$` is an escaped dollar.
    assert_eq!(at("services.web.environment.x"), None);
    let environment = at("services.web.environment").unwrap();
    assert_eq!(environment.get("${KEY}"), Some(&Value::from("$literal")));
    assert_eq!(at("services.web.ports[0].target"), Some(Value::Int(8080)));
    // compose-go v2 no longer casts `published` (it may be a range).
    assert_eq!(at("services.web.ports[0].published"), Some("8080".into()));
    assert_eq!(
        at("services.web.ulimits.nofile.soft"),
        Some(Value::Int(1024))
    );
    assert_eq!(at("services.web.ulimits.nofile.hard"), Some(Value::Int(20)));
    assert_eq!(at("services.web.cpus"), Some(Value::Float(0.5)));
    assert_eq!(at("services.web.command[1]"), Some("".into()));
    assert_eq!(at("networks.front.external"), Some(Value::Bool(true)));

    let messages: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        messages,
        [
            "compose.yaml:10:14: The \"MISSING\" variable is not set. Defaulting to a blank string.",
            "compose.yaml:19:37: The \"UNSET2\" variable is not set. Defaulting to a blank string.",
            "compose.yaml:6:10: \"yes\" for boolean is not supported by YAML 1.2, please use `true`",
        ]
        .map(String::from)
    );
}

#[test]
fn errors_carry_path_and_place() {
    let text = "services:\n  web:\n    image: ok\n    command: [\"a\", \"${X:?is required}\"]\n";
    let mut docs = yaml::parse(text, "c.yaml").unwrap();
    let doc = docs.remove(0);
    let mut tree = doc.value;
    let err = interpolate(&mut tree, &|_| None, &doc.positions).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Interpolation);
    // Deliberate difference: compose-go names a sequence element `services.web.command.[]`;
    // berth gives its index, like every other berth message.
    assert_eq!(
        err.message,
        "error while interpolating services.web.command[1]: required variable X is missing a value: is required"
    );
    assert_eq!(err.location.map(|l| (l.line, l.column)), Some((4, 20)));

    let mut tree = yaml::parse("x:\n  y: 'a ${ b'\n", "d.yaml")
        .unwrap()
        .remove(0)
        .value;
    let err = interpolate(&mut tree, &|_| None, &Positions::default()).unwrap_err();
    assert_eq!(
        err.message,
        "invalid interpolation format for x.y.\nYou may need to escape any $ with another $.\na ${ b"
    );
}

#[test]
fn variables_of_a_file() {
    let tree = yaml::parse(COMPOSE, "compose.yaml")
        .unwrap()
        .remove(0)
        .value;
    let vars = extract_variables(&tree);
    let names: Vec<&str> = vars.keys().map(String::as_str).collect();
    // `${KEY}` is a key, and `$$literal` an escape: neither is a reference.
    assert_eq!(
        names,
        [
            "TAG", "SCALE", "PRIV", "MISSING", "PORT", "N", "CPUS", "UNSET2"
        ]
    );
    assert_eq!(vars["TAG"].default.as_deref(), Some("latest"));
    assert!(!vars["PORT"].required);
}

/// compose-go's whole-model vectors (`interpolation_test.go`), including the ones the
/// corpus holds back: the string sits at `myservice.environment.TESTVAR`.
#[test]
fn model_vectors() {
    let unset_env: &[(&str, Result<&str, &str>)] = &[
        ("{{{ ${FOO:-foo_} }}}", Ok("{{{ foo_ }}}")),
        (
            "{{{ ${FOO:-foo:?bar:?value} }}}",
            Ok("{{{ foo:?bar:?value }}}"),
        ),
        ("${FOO-baz} }}}", Ok("baz }}}")),
        ("${FOO:-${BAR:-x}_test_${BAR:-y}}", Ok("x_test_y")),
        ("{{{ ${FOO:?foo-bar-value} }}}", Err("foo-bar-value")),
        ("${FOO:?baz} }}}", Err("baz")),
        ("${FOO:?foo} ${BAR:?bar}", Err("foo")),
    ];
    let path = Path::parse("myservice.environment.TESTVAR");
    for (template, expected) in unset_env {
        let mut tree = tree_at(&path, Value::from(*template));
        let result = interpolate(&mut tree, &|_| None, &Positions::default());
        match expected {
            Ok(value) => {
                result.unwrap_or_else(|e| panic!("{template}: {e}"));
                assert_eq!(
                    value_at(&tree, &path),
                    Some(&Value::from(*value)),
                    "{template}"
                );
            }
            Err(reason) => assert_eq!(
                result.expect_err(template).message,
                format!(
                    "error while interpolating myservice.environment.TESTVAR: required variable FOO is missing a value: {reason}"
                )
            ),
        }
    }

    let set = |name: &str| match name {
        "USER" => Some("jenny".to_string()),
        "FOO" => Some("bar".to_string()),
        _ => None,
    };
    for (template, expected) in [
        (
            "{{{ ${FOO:-foo} ${BAR:-DEFAULT_VALUE} }}}",
            "{{{ bar DEFAULT_VALUE }}}",
        ),
        ("${FOO-baz} }}}", "bar }}}"),
        ("{{{ ${FOO:-foo-bar-value} }}}", "{{{ bar }}}"),
    ] {
        let mut tree = tree_at(&path, Value::from(template));
        interpolate(&mut tree, &set, &Positions::default()).unwrap();
        assert_eq!(
            value_at(&tree, &path),
            Some(&Value::from(expected)),
            "{template}"
        );
    }

    let mut tree = tree_at(&Path::parse("servicea.image"), Value::from("${"));
    let err = interpolate(&mut tree, &set, &Positions::default()).unwrap_err();
    assert_eq!(
        err.message,
        "invalid interpolation format for servicea.image.\nYou may need to escape any $ with another $.\n${"
    );
}

/// compose-go's string vectors (`template_test.go`) beyond the corpus.
#[test]
fn template_vectors() {
    let env = |name: &str| match name {
        "FOO" => Some("first".to_string()),
        "BAR" => Some(String::new()),
        _ => None,
    };
    for (template, expected) in [
        ("$}", "$}"),
        ("This ${FOO} var", "This first var"),
        ("ok ${missing-def}", "ok def"),
        ("ok ${BAR:-def}", "ok def"),
        ("ok ${FOO:-def}", "ok first"),
        ("ok ${UNSET_VAR:+presence_value}", "ok "),
        ("ok ${BAR:+presence_value}", "ok "),
        ("+ok ${UNSET:-${BAR-defaultValue}}", "+ok "),
        (":-ok ${BAR-defaultValue}", ":-ok "),
        (":+ok ${BAR:-defaultValue}", ":+ok defaultValue"),
        ("ok ${UNSET_VAR-$FOO}", "ok first"),
        ("ok ${BAR:-$FOO}", "ok first"),
        ("ok ${BAR+$FOO}", "ok first"),
        ("ok ${FOO:?err}", "ok first"),
        (
            "${BAR:-default_value_for_empty_var}",
            "default_value_for_empty_var",
        ),
        ("ok ${missing:-{\"json\":1}}", "ok {\"json\":1}"),
    ] {
        let got = substitute(template, &env).unwrap_or_else(|e| panic!("{template}: {e}"));
        assert_eq!(got.value, expected, "{template}");
    }
    for (template, message) in [
        ("${", "Invalid template: \"${\""),
        ("${ foo}", "Invalid template: \"${ foo}\""),
        (
            "not ok ${UNSET_VAR:?Mandatory Variable Unset}",
            "required variable UNSET_VAR is missing a value: Mandatory Variable Unset",
        ),
        (
            "not ok ${UNSET_VAR?Mandatory Variable ${FOO}}",
            "required variable UNSET_VAR is missing a value: Mandatory Variable first",
        ),
        (
            "${UNSET_VAR?bar-baz}",
            "required variable UNSET_VAR is missing a value: bar-baz",
        ),
    ] {
        let err = substitute(template, &env).expect_err(template);
        assert_eq!(err.to_string(), message, "{template}");
    }
}
