//! Small value types shared by every family of the model: durations, byte sizes, file
//! modes, ulimits, `x-` extensions, and the serde helpers for Compose's lenient shapes.

use crate::units;
use crate::value::Value;
use indexmap::IndexMap;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::{Deref, DerefMut};

/// A string-to-string mapping (labels, driver options, sysctls, ...).
pub type StringMap = IndexMap<String, String>;

/// A mapping whose values may be absent (`environment`, build `args`): `None` is a bare
/// `KEY` that takes its value from elsewhere (the environment).
pub type OptionalStringMap = IndexMap<String, Option<String>>;

/// A duration, read and printed in Go notation (`1m30s`, `500ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// The standard-library duration.
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration(d)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&units::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 10s or 1m30s")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
                units::parse_duration(s).map(Duration).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A number of bytes. Read from an integer or a size such as `512m` (binary units), and
/// printed as a decimal string, the way `docker compose config` prints sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub i64);

impl ByteSize {
    /// The number of bytes (negative only where Docker allows it, `memswap_limit: -1`).
    pub fn bytes(self) -> i64 {
        self.0
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte size such as 1024 or 512m")
            }
            fn visit_i64<E: de::Error>(self, i: i64) -> Result<ByteSize, E> {
                Ok(ByteSize(i))
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<ByteSize, E> {
                i64::try_from(u)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("size {u} is too large")))
            }
            fn visit_f64<E: de::Error>(self, f: f64) -> Result<ByteSize, E> {
                if f.fract() == 0.0 && f.abs() < 9.0e18 {
                    Ok(ByteSize(f as i64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(f), &self))
                }
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ByteSize, E> {
                // A plain (possibly negative) integer is taken as is, as printed by us.
                if let Ok(i) = s.trim().parse::<i64>() {
                    return Ok(ByteSize(i));
                }
                units::parse_bytes(s).map(ByteSize).map_err(E::custom)
            }
        }
        // `any`: the value may be an integer or a string, and only the visitor knows.
        deserializer.deserialize_any(V)
    }
}

/// A file permission mode, read from a number or an octal string, printed as an octal
/// string with a leading zero (`"0440"`), as compose-go prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileMode(pub u32);

impl Serialize for FileMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("0{:o}", self.0))
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FileMode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a file mode (a number, or an octal string such as \"0440\")")
            }
            fn visit_i64<E: de::Error>(self, i: i64) -> Result<FileMode, E> {
                u32::try_from(i)
                    .map(FileMode)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(i), &self))
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<FileMode, E> {
                u32::try_from(u)
                    .map(FileMode)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(u), &self))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<FileMode, E> {
                u32::from_str_radix(s.trim(), 8)
                    .map(FileMode)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The `x-` keys of an object, kept as they were written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extensions(pub IndexMap<String, Value>);

impl Extensions {
    /// Whether there are none (so that nothing is printed).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Deref for Extensions {
    type Target = IndexMap<String, Value>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Extensions {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Serialize for Extensions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(&self.0)
    }
}

impl<'de> Deserialize<'de> for Extensions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Extensions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("x- extension keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Extensions, A::Error> {
                let mut out = IndexMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    // Every other key of the object is a typed field: an unknown one here
                    // would otherwise be lost silently.
                    if !key.starts_with("x-") {
                        return Err(de::Error::custom(format!(
                            "additional property {key} is not allowed"
                        )));
                    }
                    let value: Value = map.next_value()?;
                    out.insert(key, value);
                }
                Ok(Extensions(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// Prints a float field as an integer when it has no fractional part, as Go's YAML printer
/// does (`cpus: 2`), so that such values read back as the integers they were.
pub(crate) fn float<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
            serializer.serialize_i64(*f as i64)
        }
        Some(f) => serializer.serialize_f64(*f),
        None => serializer.serialize_none(),
    }
}

/// Reads a list of strings that may also be written as one scalar (`dns: 8.8.8.8`).
pub(crate) fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Vec<String>, E> {
            Ok(vec![s.to_string()])
        }
        fn visit_bool<E: de::Error>(self, b: bool) -> Result<Vec<String>, E> {
            Ok(vec![b.to_string()])
        }
        fn visit_i64<E: de::Error>(self, i: i64) -> Result<Vec<String>, E> {
            Ok(vec![i.to_string()])
        }
        fn visit_u64<E: de::Error>(self, u: u64) -> Result<Vec<String>, E> {
            Ok(vec![u.to_string()])
        }
        fn visit_f64<E: de::Error>(self, f: f64) -> Result<Vec<String>, E> {
            Ok(vec![crate::value::format_float(f)])
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                out.push(item);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// Reads `external`: a boolean, or the legacy `external: {name: ...}` form, which means
/// `true` (its name has been moved to `name` by the canonical stage).
pub(crate) fn external<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean")
        }
        fn visit_bool<E: de::Error>(self, b: bool) -> Result<Option<bool>, E> {
            Ok(Some(b))
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<bool>, E> {
            match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "on" => Ok(Some(true)),
                "false" | "no" | "n" | "off" => Ok(Some(false)),
                _ => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<bool>, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<bool>, A::Error> {
            while map.next_entry::<String, Value>()?.is_some() {}
            Ok(Some(true))
        }
    }
    d.deserialize_any(V)
}

/// One `ulimits` entry: a single value for both limits, or separate soft and hard limits.
#[derive(Debug, Clone, PartialEq)]
pub enum UlimitConfig {
    /// `nproc: 65535`: soft and hard limit alike.
    Single(i64),
    /// `nofile: {soft: 20000, hard: 40000}`.
    Range {
        /// The limit enforced.
        soft: i64,
        /// The ceiling the soft limit may be raised to.
        hard: i64,
        /// `x-` keys of the entry.
        extensions: Extensions,
    },
}

impl UlimitConfig {
    /// The soft limit.
    pub fn soft(&self) -> i64 {
        match self {
            UlimitConfig::Single(v) => *v,
            UlimitConfig::Range { soft, .. } => *soft,
        }
    }

    /// The hard limit.
    pub fn hard(&self) -> i64 {
        match self {
            UlimitConfig::Single(v) => *v,
            UlimitConfig::Range { hard, .. } => *hard,
        }
    }
}

/// The mapping form of a ulimit, read field by field so that errors keep their path.
#[derive(Deserialize)]
struct UlimitRange {
    soft: i64,
    hard: i64,
    #[serde(flatten)]
    extensions: Extensions,
}

impl Serialize for UlimitConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            UlimitConfig::Single(v) => serializer.serialize_i64(*v),
            UlimitConfig::Range {
                soft,
                hard,
                extensions,
            } => {
                let mut map = serializer.serialize_map(Some(2 + extensions.len()))?;
                map.serialize_entry("soft", soft)?;
                map.serialize_entry("hard", hard)?;
                for (k, v) in extensions.iter() {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for UlimitConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UlimitConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a mapping with soft and hard")
            }
            fn visit_i64<E: de::Error>(self, i: i64) -> Result<UlimitConfig, E> {
                Ok(UlimitConfig::Single(i))
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<UlimitConfig, E> {
                i64::try_from(u)
                    .map(UlimitConfig::Single)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(u), &self))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<UlimitConfig, E> {
                s.trim()
                    .parse()
                    .map(UlimitConfig::Single)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(s), &self))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<UlimitConfig, A::Error> {
                let r = UlimitRange::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(UlimitConfig::Range {
                    soft: r.soft,
                    hard: r.hard,
                    extensions: r.extensions,
                })
            }
        }
        deserializer.deserialize_any(V)
    }
}
