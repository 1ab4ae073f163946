//! The few Go `fmt` renderings that compose-go's merge rules expose in their results and
//! keys: a mapping becomes `KEY=%v` strings, and identity keys of ports are built with `%s`
//! and `%d`. Matching Go's text keeps merged values and identities exactly as compose-go's.

use crate::value::Value;

/// A Go formatting verb.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Verb {
    /// `%v`: the natural form.
    V,
    /// `%s`: strings as they are, anything else as a `%!s(type=value)` complaint.
    S,
    /// `%d`: integers, anything else as a `%!d(type=value)` complaint.
    D,
}

impl Verb {
    fn letter(self) -> char {
        match self {
            Verb::V => 'v',
            Verb::S => 's',
            Verb::D => 'd',
        }
    }
}

/// `fmt.Sprintf("%<verb>", v)` for a value decoded from YAML into Go's `any`.
pub(super) fn format(v: &Value, verb: Verb) -> String {
    let bad = |value: String| format!("%!{}({}={value})", verb.letter(), go_type(v));
    match v {
        Value::Null if verb == Verb::V => "<nil>".to_string(),
        Value::Null => format!("%!{}(<nil>)", verb.letter()),
        Value::String(s) if verb == Verb::D => bad(s.clone()),
        Value::String(s) => s.clone(),
        Value::Int(i) if verb == Verb::S => bad(i.to_string()),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if verb == Verb::V => go_float(*f),
        Value::Float(f) => bad(go_float(*f)),
        Value::Bool(b) if verb == Verb::V => b.to_string(),
        Value::Bool(b) => bad(b.to_string()),
        // Go applies the verb to each element, and prints maps with sorted keys.
        Value::Seq(items) => {
            let items: Vec<String> = items.iter().map(|i| format(i, verb)).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Map(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let entries: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    let value = map.get(k).map(|v| format(v, verb)).unwrap_or_default();
                    format!("{}:{value}", format(&Value::String(k.clone()), verb))
                })
                .collect();
            format!("map[{}]", entries.join(" "))
        }
    }
}

/// Go's `%T` of a value decoded from YAML into `any`, for error messages.
pub(super) fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::Seq(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
    }
}

/// Go's `%v` of a float64: the shortest text that reads back to the same number, in
/// exponent form when the decimal exponent is below -4 or at least 6 (`1e+06`).
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` also prints the shortest round-tripping digits: `1.234567e6`.
    let sci = format!("{f:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return sci;
    };
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go_percent_v() {
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1_000_000.0), "1e+06");
        assert_eq!(go_float(1_234_567.0), "1.234567e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-2.5e-300), "-2.5e-300");
        assert_eq!(go_float(f64::INFINITY), "+Inf");
    }

    #[test]
    fn verbs_complain_like_go() {
        assert_eq!(format(&Value::Int(8080), Verb::S), "%!s(int=8080)");
        assert_eq!(format(&Value::Null, Verb::S), "%!s(<nil>)");
        assert_eq!(format(&Value::from("80"), Verb::D), "%!d(string=80)");
        assert_eq!(format(&Value::Int(80), Verb::D), "80");
        assert_eq!(format(&Value::Null, Verb::V), "<nil>");
    }

    #[test]
    fn containers_print_like_go() {
        let mut map = crate::value::Map::new();
        map.insert("b".into(), Value::Int(2));
        map.insert(
            "a".into(),
            Value::Seq(vec![Value::from("x"), Value::Bool(true)]),
        );
        assert_eq!(format(&Value::Map(map), Verb::V), "map[a:[x true] b:2]");
    }
}
