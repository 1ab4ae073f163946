//! Checks a tree against a schema [`Node`] and describes the first violation the way
//! compose-go does (its messages come from santhosh-tekuri/jsonschema, reworded by
//! compose-go's `schema` package).

use super::node::{Node, Types, ValuePattern};
use super::suggest::did_you_mean;
use crate::value::{Path, Seg, Value};

/// What is wrong at a place.
#[derive(Debug, Clone)]
pub enum Violation {
    /// The value has none of the allowed types.
    Type(Types),
    /// The string is not one of the allowed values.
    Enum(&'static [&'static str]),
    /// The string does not contain a match of the pattern.
    Pattern(ValuePattern, String),
    /// The number is below the minimum.
    Minimum(i64),
    /// The number is above the maximum.
    Maximum(i64),
    /// Required keys are missing.
    Required(Vec<&'static str>),
    /// Keys the schema does not know, in document order, with the schema of the mapping
    /// (for suggestions).
    Additional(Vec<String>, &'static Node),
    /// Two elements of a sequence that must be distinct are equal.
    Duplicate(usize, usize),
    /// More than one alternative of a `oneOf` matched.
    Ambiguous(usize, usize),
}

/// A violation and where it is.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The value that violates the schema (for unknown keys: their mapping).
    pub path: Path,
    /// What is wrong.
    pub violation: Violation,
}

impl Failure {
    /// How deep the failure is; among failing alternatives the deepest explains best what
    /// went wrong (an unknown key counts as one level below its mapping, as in compose-go).
    fn specificity(&self) -> usize {
        let extra = matches!(self.violation, Violation::Additional(..)) as usize;
        self.path.0.len() + extra
    }

    /// The node to point at: the first unknown key, or the offending value.
    pub fn location_path(&self) -> Path {
        match &self.violation {
            Violation::Additional(keys, _) => match keys.first() {
                Some(k) => self.path.key(k),
                None => self.path.clone(),
            },
            _ => self.path.clone(),
        }
    }

    /// Whether the failure is about a key (unknown property) rather than a value.
    pub fn is_about_key(&self) -> bool {
        matches!(self.violation, Violation::Additional(..))
    }

    /// The message, in compose-go's wording: `<dotted.path> <what is wrong>`.
    pub fn message(&self) -> String {
        let body = match &self.violation {
            Violation::Type(t) => format!("must be a {}", human_types(*t)),
            Violation::Enum(values) => match values {
                [one] => format!("value must be {}", quote(one)),
                _ => format!(
                    "value must be one of {}",
                    values
                        .iter()
                        .map(|v| quote(v))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            Violation::Pattern(p, text) => {
                format!(
                    "{} does not match pattern {}",
                    quote(text),
                    quote(p.source())
                )
            }
            Violation::Minimum(n) => format!("must be greater than or equal to {n}"),
            Violation::Maximum(n) => format!("must be less than or equal to {n}"),
            Violation::Required(keys) => {
                let noun = if keys.len() == 1 {
                    "property"
                } else {
                    "properties"
                };
                let list: Vec<String> = keys.iter().map(|k| quote(k)).collect();
                format!("missing {noun} {}", list.join(", "))
            }
            Violation::Additional(keys, node) => additional_message(keys, node),
            Violation::Duplicate(i, j) => format!("items at {i} and {j} are equal"),
            Violation::Ambiguous(i, j) => {
                format!("valid against subschemas at indexes {i} and {j}")
            }
        };
        let path = dotted(&self.path);
        if path.is_empty() {
            body
        } else {
            format!("{path} {body}")
        }
    }
}

/// `additional properties 'a', 'b' not allowed`, plus what was probably meant.
fn additional_message(keys: &[String], node: &Node) -> String {
    let names: Vec<String> = keys.iter().map(|k| quote(k)).collect();
    let mut msg = format!("additional properties {} not allowed", names.join(", "));
    let known: Vec<&str> = node.properties.iter().map(|(name, _)| *name).collect();
    let hints: Vec<(&String, &str)> = keys
        .iter()
        .filter_map(|k| did_you_mean(k, &known).map(|s| (k, s)))
        .collect();
    match hints.as_slice() {
        [] => {}
        [(_, s)] if keys.len() == 1 => msg.push_str(&format!(" (did you mean {}?)", quote(s))),
        _ => {
            let parts: Vec<String> = hints
                .iter()
                .map(|(k, s)| format!("{} for {}", quote(s), quote(k)))
                .collect();
            msg.push_str(&format!(" (did you mean {}?)", parts.join(", ")));
        }
    }
    msg
}

/// A path as compose-go prints schema locations: keys and indexes joined by dots.
pub fn dotted(path: &Path) -> String {
    path.0
        .iter()
        .map(|s| match s {
            Seg::Key(k) => k.clone(),
            Seg::Index(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Type names as compose-go shows them: `object` is a mapping, several are sorted and
/// joined (`boolean, null, number or string`).
pub fn human_types(t: Types) -> String {
    let mut names: Vec<&str> = t
        .names()
        .into_iter()
        .map(|n| if n == "object" { "mapping" } else { n })
        .collect();
    names.sort_unstable();
    match names.split_last() {
        None => "value".to_string(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Quotes like the JSON Schema library does: single quotes, Go escapes inside.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The JSON type of a value, as a one-member set (floats without a fraction are also
/// integers, as in JSON Schema).
fn matches_types(allowed: Types, value: &Value) -> bool {
    let t = match value {
        Value::Null => Types::NULL,
        Value::Bool(_) => Types::BOOLEAN,
        Value::Int(_) => {
            return allowed.contains(Types::INTEGER) || allowed.contains(Types::NUMBER);
        }
        Value::Float(f) => {
            let whole = f.is_finite() && f.fract() == 0.0;
            return allowed.contains(Types::NUMBER) || (whole && allowed.contains(Types::INTEGER));
        }
        Value::String(_) => Types::STRING,
        Value::Seq(_) => Types::ARRAY,
        Value::Map(_) => Types::OBJECT,
    };
    allowed.contains(t)
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// Checks `value` (found at `path`) against `node`; the first violation in document order.
pub fn check(node: &'static Node, value: &Value, path: &Path) -> Result<(), Failure> {
    let fail = |violation| {
        Err(Failure {
            path: path.clone(),
            violation,
        })
    };
    if !node.types.is_any() && !matches_types(node.types, value) {
        return fail(Violation::Type(node.types));
    }
    if let Value::String(s) = value {
        if !node.enumeration.is_empty() && !node.enumeration.contains(&s.as_str()) {
            return fail(Violation::Enum(node.enumeration));
        }
        if let Some(p) = node.pattern {
            if !p.matches(s) {
                return fail(Violation::Pattern(p, s.clone()));
            }
        }
    } else if !node.enumeration.is_empty() {
        return fail(Violation::Enum(node.enumeration));
    }
    if let Some(n) = as_number(value) {
        if let Some(min) = node.minimum {
            if n < min as f64 {
                return fail(Violation::Minimum(min));
            }
        }
        if let Some(max) = node.maximum {
            if n > max as f64 {
                return fail(Violation::Maximum(max));
            }
        }
    }
    match value {
        Value::Map(map) => check_mapping(node, map, path)?,
        Value::Seq(items) => check_sequence(node, items, path)?,
        _ => {}
    }
    if !node.one_of.is_empty() {
        check_one_of(node.one_of, value, path)?;
    }
    if !node.any_of.is_empty() {
        let mut failures = Vec::new();
        for alt in node.any_of {
            match check(alt, value, path) {
                Ok(()) => return Ok(()),
                Err(f) => failures.push(f),
            }
        }
        return Err(most_specific(failures, path));
    }
    Ok(())
}

fn check_mapping(node: &'static Node, map: &crate::value::Map, path: &Path) -> Result<(), Failure> {
    let is_known = |key: &str| {
        node.properties.iter().any(|(name, _)| *name == key)
            || node.pattern_properties.iter().any(|(p, _)| p.matches(key))
    };
    for (key, child) in map {
        if !is_known(key) {
            if node.additional_properties {
                continue;
            }
            let unknown: Vec<String> = map.keys().filter(|k| !is_known(k)).cloned().collect();
            return Err(Failure {
                path: path.clone(),
                violation: Violation::Additional(unknown, node),
            });
        }
        let child_path = path.key(key);
        if let Some((_, schema)) = node.properties.iter().find(|(name, _)| name == key) {
            check(schema, child, &child_path)?;
        }
        for (pattern, schema) in node.pattern_properties {
            if pattern.matches(key) {
                check(schema, child, &child_path)?;
            }
        }
    }
    let missing: Vec<&'static str> = node
        .required
        .iter()
        .copied()
        .filter(|k| !map.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(Failure {
            path: path.clone(),
            violation: Violation::Required(missing),
        });
    }
    Ok(())
}

fn check_sequence(node: &'static Node, items: &[Value], path: &Path) -> Result<(), Failure> {
    if let Some(item_schema) = node.items {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &path.index(i))?;
        }
    }
    if node.unique_items {
        for (j, b) in items.iter().enumerate() {
            if let Some(i) = items.iter().take(j).position(|a| a == b) {
                return Err(Failure {
                    path: path.clone(),
                    violation: Violation::Duplicate(i, j),
                });
            }
        }
    }
    Ok(())
}

fn check_one_of(alternatives: &[&'static Node], value: &Value, path: &Path) -> Result<(), Failure> {
    let mut failures = Vec::new();
    let mut matched = Vec::new();
    for (i, alt) in alternatives.iter().enumerate() {
        match check(alt, value, path) {
            Ok(()) => matched.push(i),
            Err(f) => failures.push(f),
        }
    }
    match matched.as_slice() {
        [_] => Ok(()),
        [] => Err(most_specific(failures, path)),
        [i, j, ..] => Err(Failure {
            path: path.clone(),
            violation: Violation::Ambiguous(*i, *j),
        }),
    }
}

/// The failure that explains best why no alternative matched: the deepest, the first
/// among equals (compose-go's `getMostSpecificError`). One refinement: at equal depth, an
/// alternative of the right type that fails a bound or an enum beats one of the wrong type
/// (`cpu_percent: 101` is "less than or equal to 100", not "must be a string").
fn most_specific(failures: Vec<Failure>, path: &Path) -> Failure {
    let rank = |f: &Failure| {
        let is_type = matches!(f.violation, Violation::Type(_));
        (f.specificity(), !is_type)
    };
    let mut best: Option<Failure> = None;
    for f in failures {
        if best.as_ref().is_none_or(|b| rank(&f) > rank(b)) {
            best = Some(f);
        }
    }
    best.unwrap_or_else(|| Failure {
        path: path.clone(),
        violation: Violation::Type(Types::ANY),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_read_like_compose_go() {
        assert_eq!(human_types(Types::OBJECT), "mapping");
        assert_eq!(human_types(Types::ARRAY), "array");
        assert_eq!(human_types(Types::INTEGER), "integer");
        assert_eq!(
            human_types(Types::OBJECT.or(Types::NULL)),
            "mapping or null"
        );
        assert_eq!(
            human_types(
                Types::STRING
                    .or(Types::NUMBER)
                    .or(Types::BOOLEAN)
                    .or(Types::NULL)
            ),
            "boolean, null, number or string"
        );
    }

    #[test]
    fn paths_and_quotes() {
        let p = Path::root()
            .key("services")
            .key("web")
            .key("ports")
            .index(0);
        assert_eq!(dotted(&p), "services.web.ports.0");
        assert_eq!(dotted(&Path::root()), "");
        assert_eq!(quote("a'b\n"), "'a\\'b\\n'");
    }

    #[test]
    fn whole_floats_count_as_integers() {
        static INT: Node = super::super::node::of(Types::INTEGER);
        assert!(check(&INT, &Value::Float(2.0), &Path::root()).is_ok());
        let failure =
            check(&INT, &Value::Float(0.5), &Path::root().key("size")).expect_err("not an integer");
        assert_eq!(failure.message(), "size must be a integer");
    }
}
