//! Scalar and small-collection conversions shared by every attribute family.
//!
//! compose-go decodes the merged tree into typed structs (with mapstructure hooks) and prints
//! those structs back. These helpers reproduce the value each hook produces, so that the tree
//! already holds what `docker compose config` prints: numbers as strings where the Go field is
//! a string, `KEY=VALUE` lists as mappings, durations in Go notation, sizes as byte counts.

use crate::units;
use crate::value::{Map, Path, Value};

/// A conversion failure at a place in the tree; turned into an [`crate::Error`] by the caller.
#[derive(Debug)]
pub(crate) struct Fail {
    /// Where the offending value sits.
    pub path: Path,
    /// What is wrong with it.
    pub message: String,
}

/// The result type of the conversion helpers.
pub(crate) type Res<T = ()> = std::result::Result<T, Fail>;

/// A failure at `path`.
pub(crate) fn fail<T>(path: &Path, message: impl Into<String>) -> Res<T> {
    Err(Fail {
        path: path.clone(),
        message: message.into(),
    })
}

/// Formats a float the way Go's `fmt.Sprint` does (`%v`, i.e. `%g` with the shortest digits):
/// `1.5`, `1e+06`, `1e-05`.
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, e.g. `1.5e6`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if f < 0.0 { "-" } else { "" };
    // strconv's shortest `%g` switches to exponent form below 1e-4 and from 1e6 upwards.
    let dp = exp + 1;
    let eprec = 6;
    if exp < -4 || exp >= eprec {
        let mut m = String::new();
        m.push_str(&digits[..1]);
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    if dp <= 0 {
        let zeros = "0".repeat((-dp) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let dp = dp as usize;
    if digits.len() <= dp {
        let zeros = "0".repeat(dp - digits.len());
        format!("{sign}{digits}{zeros}")
    } else {
        format!("{sign}{}.{}", &digits[..dp], &digits[dp..])
    }
}

/// A scalar as Go's `fmt.Sprint` prints it; `None` for null and collections.
pub(crate) fn go_sprint(v: &Value) -> Option<String> {
    match v {
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(go_float(*f)),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Turns a scalar into a string scalar (`103` -> `"103"`); null and strings stay as they are.
pub(crate) fn to_string_scalar(v: &mut Value, p: &Path) -> Res {
    match v {
        Value::Null | Value::String(_) => Ok(()),
        Value::Seq(_) | Value::Map(_) => fail(p, format!("expected a string, got a {}", v.kind())),
        other => {
            let s = go_sprint(other).unwrap_or_default();
            *other = Value::String(s);
            Ok(())
        }
    }
}

/// Casts to an integer the way compose-go's decoder does (`"42"` -> `42`).
pub(crate) fn to_int(v: &mut Value, p: &Path) -> Res {
    match v {
        Value::Null | Value::Int(_) => Ok(()),
        Value::String(s) => match s.parse::<i64>() {
            Ok(i) => {
                *v = Value::Int(i);
                Ok(())
            }
            Err(_) => fail(p, format!("invalid integer {s:?}")),
        },
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => {
            *v = Value::Int(*f as i64);
            Ok(())
        }
        other => fail(p, format!("expected an integer, got a {}", other.kind())),
    }
}

/// Casts to a number the way compose-go's decoder does (`"0.5"` -> `0.5`). The Go fields are
/// `float32`, printed with the shortest digits of a `float32` (`0.1234567891` -> `0.12345679`);
/// integral values become integers, as Go prints a `float32` of `2` as `2`.
pub(crate) fn to_float(v: &mut Value, p: &Path) -> Res {
    let f = match v {
        Value::Null => return Ok(()),
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => f,
            _ => return fail(p, format!("invalid number {s:?}")),
        },
        other => return fail(p, format!("expected a number, got a {}", other.kind())),
    };
    // Rust prints an f32 with its shortest round-tripping digits, as Go's FormatFloat(.., 32).
    let single = (f as f32).to_string().parse::<f64>().unwrap_or(f);
    *v = float_value(single);
    Ok(())
}

/// A float as a tree value: an integer when it has no fractional part.
pub(crate) fn float_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        Value::Int(f as i64)
    } else {
        Value::Float(f)
    }
}

/// Casts to a boolean the way compose-go's decoder does (`"true"`, `"yes"`, `"on"`, ...).
pub(crate) fn to_bool(v: &mut Value, p: &Path) -> Res {
    match v {
        Value::Null | Value::Bool(_) => Ok(()),
        Value::String(s) => {
            let b = match s.to_ascii_lowercase().as_str() {
                "true" | "y" | "yes" | "on" => true,
                "false" | "n" | "no" | "off" => false,
                _ => return fail(p, format!("invalid boolean: {s}")),
            };
            *v = Value::Bool(b);
            Ok(())
        }
        other => fail(p, format!("expected a boolean, got a {}", other.kind())),
    }
}

/// Parses a duration as compose-go does (Go notation plus the `d` and `w` units of
/// str2duration) and stores it in Go's printed form (`60s` -> `1m0s`).
pub(crate) fn to_duration(v: &mut Value, p: &Path) -> Res {
    let text = match v {
        Value::Null => return Ok(()),
        Value::String(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => go_float(*f),
        other => return fail(p, format!("expected a duration, got a {}", other.kind())),
    };
    let d = parse_duration(&text).map_err(|message| Fail {
        path: p.clone(),
        message,
    })?;
    *v = Value::String(units::format_duration(d));
    Ok(())
}

/// Go durations plus days (`d`) and weeks (`w`), which compose-go accepts through
/// str2duration; they are rewritten as hours before the common parser reads them.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    if !text.contains(['d', 'w']) {
        return units::parse_duration(text);
    }
    let mut rewritten = String::new();
    let mut number = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'd' | 'w' => {
                let n: f64 = number
                    .parse()
                    .map_err(|_| format!("invalid duration {text:?}"))?;
                let hours = if c == 'd' { n * 24.0 } else { n * 168.0 };
                rewritten.push_str(&format!("{hours}h"));
                number.clear();
            }
            other => {
                rewritten.push_str(&number);
                number.clear();
                rewritten.push(other);
            }
        }
    }
    rewritten.push_str(&number);
    units::parse_duration(&rewritten).map_err(|_| format!("invalid duration {text:?}"))
}

/// A byte size (`50M`, `1gb`, `10000`) as the decimal byte count in a string, as compose-go
/// prints its `UnitBytes`.
pub(crate) fn to_bytes(v: &mut Value, p: &Path) -> Res {
    let n = match v {
        Value::Null => return Ok(()),
        Value::Int(i) => *i,
        Value::String(s) => units::parse_bytes(s).map_err(|m| Fail {
            path: p.clone(),
            message: m,
        })?,
        other => return fail(p, format!("expected a size, got a {}", other.kind())),
    };
    *v = Value::String(n.to_string());
    Ok(())
}

/// A file mode (`0440` read as octal text, or an integer) printed as compose-go prints a
/// `FileMode`: an octal string with a leading zero.
pub(crate) fn to_file_mode(v: &mut Value, p: &Path) -> Res {
    let mode = match v {
        Value::Null => return Ok(()),
        Value::Int(i) => *i,
        Value::String(s) => match i64::from_str_radix(s, 8) {
            Ok(m) => m,
            Err(_) => {
                return fail(
                    p,
                    format!("strconv.ParseInt: parsing {s:?}: invalid syntax"),
                );
            }
        },
        other => {
            return fail(
                p,
                format!("unexpected value type {} for mode", other.kind()),
            );
        }
    };
    let text = if mode < 0 {
        format!("0-{:o}", mode.unsigned_abs())
    } else {
        format!("0{mode:o}")
    };
    *v = Value::String(text);
    Ok(())
}

/// How a `KEY[=VALUE]` entry without `=` (or a null value) is kept.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unset {
    /// As null: the variable is declared without a value (environment, build args).
    Null,
    /// As the empty string (labels, annotations, sysctls, options).
    Empty,
}

/// A list of `KEY=VALUE` strings or a mapping, as a mapping of strings.
pub(crate) fn to_mapping(v: &mut Value, p: &Path, unset: Unset) -> Res {
    let missing = || match unset {
        Unset::Null => Value::Null,
        Unset::Empty => Value::String(String::new()),
    };
    match v {
        Value::Null => Ok(()),
        Value::Seq(items) => {
            let mut map = Map::new();
            for (i, item) in items.iter().enumerate() {
                let Some(text) = go_sprint(item) else {
                    return fail(
                        &p.index(i),
                        format!("expected a KEY=VALUE string, got a {}", item.kind()),
                    );
                };
                match text.split_once('=') {
                    Some((k, val)) => map.insert(k.to_string(), Value::String(val.to_string())),
                    None => map.insert(text, missing()),
                };
            }
            *v = Value::Map(map);
            Ok(())
        }
        Value::Map(map) => {
            for (k, val) in map.iter_mut() {
                match val {
                    Value::Null => *val = missing(),
                    Value::Seq(_) | Value::Map(_) => {
                        return fail(
                            &p.key(k),
                            "must be a boolean, null, number or string".to_string(),
                        );
                    }
                    other => *other = Value::String(go_sprint(other).unwrap_or_default()),
                }
            }
            Ok(())
        }
        other => fail(
            p,
            format!("unexpected value type {} for mapping", other.kind()),
        ),
    }
}

/// A mapping whose values are all turned into strings (null -> `""`), for `driver_opts`,
/// `logging.options`, `storage_opt` and the like, which have no list form.
pub(crate) fn to_options(v: &mut Value, p: &Path) -> Res {
    match v {
        Value::Null => Ok(()),
        Value::Map(_) => to_mapping(v, p, Unset::Empty),
        other => fail(p, format!("invalid type {} for options", other.kind())),
    }
}

/// A string or a list of strings, as a list. Numbers in the list are turned into strings
/// when `numbers` is set (`expose`, `group_add`), refused otherwise.
pub(crate) fn to_string_list(v: &mut Value, p: &Path, numbers: bool) -> Res {
    match v {
        Value::Null => Ok(()),
        Value::String(s) => {
            *v = Value::Seq(vec![Value::String(std::mem::take(s))]);
            Ok(())
        }
        Value::Int(_) | Value::Float(_) if numbers => {
            let s = go_sprint(v).unwrap_or_default();
            *v = Value::Seq(vec![Value::String(s)]);
            Ok(())
        }
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                match item {
                    Value::String(_) => {}
                    Value::Int(_) | Value::Float(_) | Value::Bool(_) if numbers => {
                        *item = Value::String(go_sprint(item).unwrap_or_default());
                    }
                    other => {
                        return fail(
                            &p.index(i),
                            format!("invalid type {} for string list", other.kind()),
                        );
                    }
                }
            }
            Ok(())
        }
        other => fail(p, format!("invalid type {} for string list", other.kind())),
    }
}

/// Applies `f` to the value under `key` of a mapping, when present.
pub(crate) fn with_key(
    map: &mut Map,
    p: &Path,
    key: &str,
    f: impl FnOnce(&mut Value, &Path) -> Res,
) -> Res {
    match map.get_mut(key) {
        Some(v) => f(v, &p.key(key)),
        None => Ok(()),
    }
}

/// Applies `f` to every element of a sequence (nothing for null; an error for other kinds).
pub(crate) fn each_item(
    v: &mut Value,
    p: &Path,
    mut f: impl FnMut(&mut Value, &Path) -> Res,
) -> Res {
    match v {
        Value::Null => Ok(()),
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                f(item, &p.index(i))?;
            }
            Ok(())
        }
        other => fail(p, format!("expected a sequence, got a {}", other.kind())),
    }
}

/// Applies `f` to every value of a mapping (nothing for null; an error for other kinds).
pub(crate) fn each_value(
    v: &mut Value,
    p: &Path,
    mut f: impl FnMut(&mut Value, &Path) -> Res,
) -> Res {
    match v {
        Value::Null => Ok(()),
        Value::Map(map) => {
            for (k, item) in map.iter_mut() {
                f(item, &p.key(k))?;
            }
            Ok(())
        }
        other => fail(p, format!("expected a mapping, got a {}", other.kind())),
    }
}

/// The mapping inside `v`, or an error naming what was found instead.
pub(crate) fn expect_map<'a>(v: &'a mut Value, p: &Path) -> Res<&'a mut Map> {
    match v {
        Value::Map(m) => Ok(m),
        other => fail(p, format!("expected a mapping, got a {}", other.kind())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go_sprint() {
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(0.3), "0.3");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1e-5), "1e-05");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(-2.5), "-2.5");
        assert_eq!(go_float(1e21), "1e+21");
    }

    #[test]
    fn float32_fields_keep_float32_digits() {
        let p = Path::root();
        let mut v = Value::from("0.1234567891");
        to_float(&mut v, &p).unwrap();
        assert_eq!(v, Value::Float(0.12345679));
        let mut v = Value::Float(0.001);
        to_float(&mut v, &p).unwrap();
        assert_eq!(v, Value::Float(0.001));
        let mut v = Value::from("2");
        to_float(&mut v, &p).unwrap();
        assert_eq!(v, Value::Int(2));
    }
}
