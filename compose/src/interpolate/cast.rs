//! After substitution, strings at paths where the schema wants a number or a boolean become
//! one, as compose-go's loader does (its `interpolateTypeCastMapping`): `replicas: ${N}`
//! must validate as an integer.

use crate::value::{Path, Seg, Value};

/// The type a path is cast to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cast {
    Int,
    Float,
    /// A float that must fit in 32 bits (`cpus`).
    Float32,
    Bool,
    /// A file mode: decimal text becomes an integer; text with a leading zero stays text,
    /// read later as octal. berth's YAML reader keeps `0440` a string where compose-go's
    /// reads it as the octal integer, so this keeps the meaning the file's author wrote.
    FileMode,
}

/// Path patterns and their casts: `*` matches any one step, `[]` any sequence index.
const CASTS: &[(&str, Cast)] = &[
    ("services.*.configs.[].mode", Cast::FileMode),
    ("services.*.cpu_count", Cast::Int),
    ("services.*.cpu_percent", Cast::Float),
    ("services.*.cpu_period", Cast::Int),
    ("services.*.cpu_quota", Cast::Int),
    ("services.*.cpu_rt_period", Cast::Int),
    ("services.*.cpu_rt_runtime", Cast::Int),
    ("services.*.cpus", Cast::Float32),
    ("services.*.cpu_shares", Cast::Int),
    ("services.*.init", Cast::Bool),
    ("services.*.deploy.replicas", Cast::Int),
    ("services.*.deploy.update_config.parallelism", Cast::Int),
    (
        "services.*.deploy.update_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.rollback_config.parallelism", Cast::Int),
    (
        "services.*.deploy.rollback_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.restart_policy.max_attempts", Cast::Int),
    (
        "services.*.deploy.placement.max_replicas_per_node",
        Cast::Int,
    ),
    ("services.*.healthcheck.retries", Cast::Int),
    ("services.*.healthcheck.disable", Cast::Bool),
    ("services.*.oom_kill_disable", Cast::Bool),
    ("services.*.oom_score_adj", Cast::Int),
    ("services.*.pids_limit", Cast::Int),
    ("services.*.ports.[].target", Cast::Int),
    ("services.*.privileged", Cast::Bool),
    ("services.*.read_only", Cast::Bool),
    ("services.*.scale", Cast::Int),
    ("services.*.secrets.[].mode", Cast::FileMode),
    ("services.*.stdin_open", Cast::Bool),
    ("services.*.tty", Cast::Bool),
    ("services.*.ulimits.*", Cast::Int),
    ("services.*.ulimits.*.hard", Cast::Int),
    ("services.*.ulimits.*.soft", Cast::Int),
    ("services.*.volumes.[].read_only", Cast::Bool),
    ("services.*.volumes.[].volume.nocopy", Cast::Bool),
    ("networks.*.external", Cast::Bool),
    ("networks.*.internal", Cast::Bool),
    ("networks.*.attachable", Cast::Bool),
    ("networks.*.enable_ipv6", Cast::Bool),
    ("volumes.*.external", Cast::Bool),
    ("secrets.*.external", Cast::Bool),
    ("configs.*.external", Cast::Bool),
];

fn matches(pattern: &str, path: &Path) -> bool {
    let parts: Vec<&str> = pattern.split('.').collect();
    parts.len() == path.0.len()
        && parts.iter().zip(&path.0).all(|(part, seg)| match seg {
            _ if *part == "*" => true,
            Seg::Index(_) => *part == "[]",
            Seg::Key(k) => part == k,
        })
}

/// The outcome of casting one string.
pub(crate) enum Casted {
    /// The path wants no cast, or the text does not parse: the string stays (the schema
    /// validator reports a wrong type with the path).
    Unchanged,
    /// The typed value.
    Value(Value),
    /// A YAML 1.1 boolean word, accepted with a warning (the text of the warning).
    Deprecated(Value, String),
}

/// Casts `text`, the substituted string at `path`, when the path wants a number or boolean.
pub(crate) fn cast(path: &Path, text: &str) -> Casted {
    let Some(&(_, kind)) = CASTS.iter().find(|(pattern, _)| matches(pattern, path)) else {
        return Casted::Unchanged;
    };
    match kind {
        Cast::Int => parse_go_int(text).map_or(Casted::Unchanged, |i| Casted::Value(Value::Int(i))),
        Cast::FileMode if text.len() > 1 && text.starts_with('0') => Casted::Unchanged,
        Cast::FileMode => {
            parse_go_int(text).map_or(Casted::Unchanged, |i| Casted::Value(Value::Int(i)))
        }
        Cast::Float => {
            parse_go_float(text).map_or(Casted::Unchanged, |f| Casted::Value(Value::Float(f)))
        }
        Cast::Float32 => match parse_go_float(text) {
            // Go's ParseFloat(s, 32) refuses values outside the float32 range. Deliberate
            // difference: the value keeps full precision, as float32 rounding would turn
            // `0.1` into 0.10000000149 in the printed model.
            Some(f) if !f.is_finite() || f.abs() <= f64::from(f32::MAX) => {
                Casted::Value(Value::Float(f))
            }
            _ => Casted::Unchanged,
        },
        Cast::Bool => match text.to_ascii_lowercase().as_str() {
            "true" => Casted::Value(Value::Bool(true)),
            "false" => Casted::Value(Value::Bool(false)),
            "y" | "yes" | "on" => Casted::Deprecated(Value::Bool(true), yaml11_warning(text, true)),
            "n" | "no" | "off" => {
                Casted::Deprecated(Value::Bool(false), yaml11_warning(text, false))
            }
            _ => Casted::Unchanged,
        },
    }
}

fn yaml11_warning(text: &str, value: bool) -> String {
    format!(
        "{} for boolean is not supported by YAML 1.2, please use `{value}`",
        super::template::go_quote(text)
    )
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign and decimal digits, nothing else.
fn parse_go_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal text, `inf`/`infinity`/`nan` included.
fn parse_go_float(text: &str) -> Option<f64> {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let word = body.to_ascii_lowercase();
    if matches!(word.as_str(), "inf" | "infinity" | "nan") {
        return text.to_ascii_lowercase().parse().ok();
    }
    // Rust accepts the same decimal forms (`1`, `1.5`, `.5`, `5.`, `1e3`), but also words
    // such as `infinity` in other spellings, which are handled above.
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(p: &str, text: &str) -> Option<Value> {
        match cast(&Path::parse(p), text) {
            Casted::Unchanged => None,
            Casted::Value(v) | Casted::Deprecated(v, _) => Some(v),
        }
    }

    #[test]
    fn casts_by_path() {
        assert_eq!(at("services.web.scale", "3"), Some(Value::Int(3)));
        assert_eq!(at("services.web.scale", "+3"), Some(Value::Int(3)));
        assert_eq!(at("services.web.scale", "3.0"), None);
        assert_eq!(
            at("services.web.ports[0].target", "80"),
            Some(Value::Int(80))
        );
        assert_eq!(at("services.web.ports.x.target", "80"), None);
        assert_eq!(
            at("services.web.ulimits.nofile", "10"),
            Some(Value::Int(10))
        );
        assert_eq!(
            at("services.web.ulimits.nofile.soft", "10"),
            Some(Value::Int(10))
        );
        assert_eq!(at("services.web.cpus", "0.5"), Some(Value::Float(0.5)));
        assert_eq!(at("services.web.cpus", "1e40"), None);
        assert_eq!(
            at("services.web.privileged", "TRUE"),
            Some(Value::Bool(true))
        );
        assert_eq!(
            at("services.web.privileged", "off"),
            Some(Value::Bool(false))
        );
        assert_eq!(at("services.web.privileged", "maybe"), None);
        assert_eq!(
            at("networks.n.enable_ipv6", "false"),
            Some(Value::Bool(false))
        );
        assert_eq!(at("services.web.image", "1"), None);
    }

    #[test]
    fn yaml11_words_warn() {
        match cast(&Path::parse("services.a.tty"), "yes") {
            Casted::Deprecated(Value::Bool(true), w) => assert_eq!(
                w,
                "\"yes\" for boolean is not supported by YAML 1.2, please use `true`"
            ),
            _ => panic!("expected a deprecated boolean"),
        }
    }
}
