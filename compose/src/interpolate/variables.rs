//! The variables a compose tree refers to, for `berth config --variables` (compose-go's
//! `template.ExtractVariables`).

use super::scan::{Expr, Expressions, first_brace_close};
use crate::value::Value;
use indexmap::IndexMap;

/// A variable referenced by `${...}` somewhere in a tree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// The default of a `-` / `:-` reference, if any reference has one.
    pub default: Option<String>,
    /// Whether a `?` / `:?` reference requires it.
    pub required: bool,
    /// The alternative of a `+` / `:+` reference, if any reference has one.
    pub alternate: Option<String>,
}

/// Every variable referenced by the string values of `tree` (keys are never substituted),
/// in order of first reference. References nested in defaults and alternatives count too.
pub fn extract_variables(tree: &Value) -> IndexMap<String, Variable> {
    let mut found = IndexMap::new();
    collect(tree, &mut found);
    found
}

fn collect(value: &Value, found: &mut IndexMap<String, Variable>) {
    match value {
        Value::String(s) => {
            for v in from_text(s, 0) {
                add(found, v);
            }
        }
        Value::Seq(items) => items.iter().for_each(|v| collect(v, found)),
        Value::Map(map) => map.values().for_each(|v| collect(v, found)),
        _ => {}
    }
}

/// Adds a reference, merging it with earlier ones the way compose-go does: required if any
/// reference requires it, and the latest non-empty default and alternative.
fn add(found: &mut IndexMap<String, Variable>, new: Variable) {
    if new.name.is_empty() {
        // compose-go reports a nameless entry for a malformed `${`; it names nothing.
        return;
    }
    match found.get_mut(&new.name) {
        Some(existing) => {
            existing.required |= new.required;
            if new.default.is_some() {
                existing.default = new.default;
            }
            if new.alternate.is_some() {
                existing.alternate = new.alternate;
            }
        }
        None => {
            found.insert(new.name.clone(), new);
        }
    }
}

/// How deeply defaults may nest references that are still listed (substitution refuses
/// deeper nesting anyway).
const MAX_NESTING: usize = 100;

/// The references of one string, in order.
fn from_text(text: &str, depth: usize) -> Vec<Variable> {
    let mut out = Vec::new();
    if depth >= MAX_NESTING {
        return out;
    }
    // As in substitution, a braced match is cut at its first balanced brace and the rest is
    // read on its own: scanned here in place, within `segments` (innermost last).
    let mut walk = Expressions::new(text);
    while let Some((at, found)) = walk.next_match() {
        let matched = text.get(at..found.end).unwrap_or_default();
        let body = match found.expr {
            Expr::Escaped => continue,
            Expr::Named { name } => text.get(name).unwrap_or_default(),
            Expr::Braced { .. } | Expr::Mapping | Expr::Invalid => match first_brace_close(matched)
            {
                Some(close) if close > 0 => {
                    walk.resume(at + close + 1..found.end);
                    matched.get(2..close).unwrap_or_default()
                }
                _ => match found.expr {
                    Expr::Braced { name, op } => {
                        let end = op.map_or(name.end, |(_, inner)| inner.end);
                        text.get(name.start..end).unwrap_or_default()
                    }
                    _ => "",
                },
            },
        };
        out.extend(from_body(body, depth));
    }
    out
}

/// A reference from the text between `${` and `}` (or a bare name), plus the references
/// inside its default or alternative.
fn from_body(body: &str, depth: usize) -> Vec<Variable> {
    let split = body
        .bytes()
        .position(|b| !(b == b'_' || b.is_ascii_alphanumeric()));
    let mut var = Variable {
        name: body.to_string(),
        ..Variable::default()
    };
    if let Some(i) = split.filter(|&i| i > 0) {
        var.name = body.get(..i).unwrap_or_default().to_string();
        let rest = body.get(i..).unwrap_or_default();
        let text = |n: usize| rest.get(n..).unwrap_or_default().to_string();
        if rest.starts_with(":?") || rest.starts_with('?') {
            var.required = true;
        } else if rest.starts_with(":-") {
            var.default = Some(text(2));
        } else if rest.starts_with('-') {
            var.default = Some(text(1));
        } else if rest.starts_with(":+") {
            var.alternate = Some(text(2));
        } else if rest.starts_with('+') {
            var.alternate = Some(text(1));
        }
    }
    // An empty default or alternative is no default, as in compose-go.
    var.default = var.default.filter(|d| !d.is_empty());
    var.alternate = var.alternate.filter(|a| !a.is_empty());
    let mut out = Vec::new();
    let nested: Vec<Variable> = [&var.default, &var.alternate]
        .into_iter()
        .flatten()
        .flat_map(|t| from_text(t, depth + 1))
        .collect();
    out.push(var);
    out.extend(nested);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Map;

    fn var(name: &str, default: Option<&str>, required: bool, alternate: Option<&str>) -> Variable {
        Variable {
            name: name.into(),
            default: default.map(Into::into),
            required,
            alternate: alternate.map(Into::into),
        }
    }

    fn tree(pairs: &[(&str, Value)]) -> Value {
        let mut m = Map::new();
        for (k, v) in pairs {
            m.insert((*k).to_string(), v.clone());
        }
        Value::Map(m)
    }

    #[test]
    fn compose_go_cases() {
        let t = tree(&[
            ("foo", "${bar:-foo}".into()),
            (
                "bar",
                tree(&[
                    ("foo", "${fruit:-banana}".into()),
                    ("bar", "vegetable".into()),
                ]),
            ),
            (
                "baz",
                Value::Seq(vec![
                    "foo".into(),
                    "$docker:${project:-cli}".into(),
                    "$toto".into(),
                ]),
            ),
        ]);
        let got = extract_variables(&t);
        assert_eq!(got["bar"], var("bar", Some("foo"), false, None));
        assert_eq!(got["fruit"], var("fruit", Some("banana"), false, None));
        assert_eq!(got["docker"], var("docker", None, false, None));
        assert_eq!(got["project"], var("project", Some("cli"), false, None));
        assert_eq!(got["toto"], var("toto", None, false, None));
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn operators() {
        for (text, expected) in [
            ("${bar?:foo}", var("bar", None, true, None)),
            ("${bar?foo}", var("bar", None, true, None)),
            ("${bar:?foo}", var("bar", None, true, None)),
            ("${bar-foo}", var("bar", Some("foo"), false, None)),
            ("${bar:+foo}", var("bar", None, false, Some("foo"))),
            ("${bar+foo}", var("bar", None, false, Some("foo"))),
            ("$$bar ${bar}", var("bar", None, false, None)),
        ] {
            let got = extract_variables(&Value::from(text));
            assert_eq!(got.len(), 1, "{text}");
            assert_eq!(got["bar"], expected, "{text}");
        }
    }

    #[test]
    fn long_and_deep_texts() {
        let long = "${X:-a}".repeat(50_000) + "}";
        assert_eq!(extract_variables(&Value::from(long)).len(), 1);
        let deep = "${X:-".repeat(10_000) + &"}".repeat(10_000);
        assert_eq!(extract_variables(&Value::from(deep)).len(), 1);
    }

    #[test]
    fn nested_and_merged() {
        let t = Value::Seq(vec!["${A:-${B:-x}} ${C}".into(), "${A:?} ${B}".into()]);
        let got = extract_variables(&t);
        assert_eq!(got.keys().collect::<Vec<_>>(), ["A", "B", "C"]);
        assert_eq!(got["A"], var("A", Some("${B:-x}"), true, None));
        assert_eq!(got["B"], var("B", Some("x"), false, None));
    }
}
