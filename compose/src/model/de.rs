//! A serde `Deserializer` over [`Value`] trees that knows where it is.
//!
//! `serde_json::from_value` reports a type error without saying where it happened; in a
//! compose file that is useless. This deserializer carries the [`Path`] of every node, so an
//! error names the key (`services.web.deploy.replicas: ...`). It also accepts the scalar
//! spellings compose-go accepts after interpolation: `"3"` where a number is expected,
//! `"yes"`/`"off"` where a boolean is, and numbers or booleans where a string is.

use crate::value::{Path, Value};
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A deserialization failure and the path of the node it concerns.
#[derive(Debug)]
pub struct DeError {
    /// The innermost node that reported the failure (set on the way out).
    pub path: Option<Path>,
    /// What went wrong, in serde's words.
    pub message: String,
}

impl DeError {
    /// Places the error at `path` unless a deeper node already did.
    fn at(mut self, path: &Path) -> Self {
        if self.path.is_none() {
            self.path = Some(path.clone());
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) if !p.is_root() => write!(f, "{p}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            path: None,
            message: msg.to_string(),
        }
    }
}

/// Deserializes `T` from the node `value`, which sits at `path` in its tree.
pub fn from_value<'de, T: Deserialize<'de>>(value: &'de Value, path: Path) -> Result<T, DeError> {
    T::deserialize(ValueDeserializer { value, path })
}

/// The deserializer of one node.
pub struct ValueDeserializer<'de> {
    value: &'de Value,
    path: Path,
}

/// Reads a boolean the way compose-go's interpolation casts one.
fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" => Some(true),
        "false" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

impl<'de> ValueDeserializer<'de> {
    /// Integers: numbers, integral floats and numeric strings.
    fn integer<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match self.value {
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => visitor.visit_i64(*f as i64),
            Value::String(s) => match (s.trim().parse::<i64>(), s.trim().parse::<u64>()) {
                (Ok(i), _) => visitor.visit_i64(i),
                (_, Ok(u)) => visitor.visit_u64(u),
                _ => return self.deserialize_any(visitor),
            },
            _ => return self.deserialize_any(visitor),
        };
        result.map_err(|e: DeError| e.at(&self.path))
    }

    /// Floats: numbers and numeric strings.
    fn float<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match self.value {
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Int(i) => visitor.visit_f64(*i as f64),
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(f) => visitor.visit_f64(f),
                Err(_) => return self.deserialize_any(visitor),
            },
            _ => return self.deserialize_any(visitor),
        };
        result.map_err(|e: DeError| e.at(&self.path))
    }

    /// Strings: any scalar, null as the empty string (as Go's decoders do).
    fn string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match self.value {
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Null => visitor.visit_borrowed_str(""),
            scalar @ (Value::Bool(_) | Value::Int(_) | Value::Float(_)) => {
                visitor.visit_string(scalar.scalar_to_string().unwrap_or_default())
            }
            _ => return self.deserialize_any(visitor),
        };
        result.map_err(|e: DeError| e.at(&self.path))
    }

    /// Mappings and structs; null counts as an empty mapping (`some-network:`).
    fn mapping<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null => visitor
                .visit_map(Entries {
                    iter: std::iter::empty(),
                    pending: None,
                    path: &self.path,
                })
                .map_err(|e: DeError| e.at(&self.path)),
            _ => self.deserialize_any(visitor),
        }
    }
}

impl<'de> Deserializer<'de> for ValueDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Seq(items) => visitor.visit_seq(Items {
                iter: items.iter().enumerate(),
                path: &self.path,
            }),
            Value::Map(map) => visitor.visit_map(Entries {
                iter: map.iter(),
                pending: None,
                path: &self.path,
            }),
        };
        result.map_err(|e: DeError| e.at(&self.path))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match self.value {
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::String(s) => match parse_bool(s) {
                Some(b) => visitor.visit_bool(b),
                None => return self.deserialize_any(visitor),
            },
            _ => return self.deserialize_any(visitor),
        };
        result.map_err(|e: DeError| e.at(&self.path))
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.integer(visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.integer(visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.integer(visitor)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.integer(visitor)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.integer(visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.integer(visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.integer(visitor)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.integer(visitor)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.float(visitor)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.float(visitor)
    }
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.string(visitor)
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.value.is_null() {
            return visitor.visit_none().map_err(|e: DeError| e.at(&self.path));
        }
        let path = self.path.clone();
        visitor.visit_some(self).map_err(|e: DeError| e.at(&path))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let path = self.path.clone();
        visitor
            .visit_newtype_struct(self)
            .map_err(|e: DeError| e.at(&path))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.mapping(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.mapping(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.value {
            // Compose enums are plain strings (`condition: service_healthy`).
            Value::String(s) => visitor
                .visit_enum(s.as_str().into_deserializer())
                .map_err(|e: DeError| e.at(&self.path)),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        char bytes byte_buf unit unit_struct seq tuple tuple_struct identifier
    }
}

/// The items of a sequence, each deserialized at its index.
struct Items<'de, 'p, I: Iterator<Item = (usize, &'de Value)>> {
    iter: I,
    path: &'p Path,
}

impl<'de, I: Iterator<Item = (usize, &'de Value)>> SeqAccess<'de> for Items<'de, '_, I> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.iter.next() {
            Some((i, value)) => seed
                .deserialize(ValueDeserializer {
                    value,
                    path: self.path.index(i),
                })
                .map(Some),
            None => Ok(None),
        }
    }
}

/// The entries of a mapping, each value deserialized at its key.
struct Entries<'de, 'p, I: Iterator<Item = (&'de String, &'de Value)>> {
    iter: I,
    pending: Option<(&'de String, &'de Value)>,
    path: &'p Path,
}

impl<'de, I: Iterator<Item = (&'de String, &'de Value)>> MapAccess<'de> for Entries<'de, '_, I> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.iter.next() {
            Some((key, value)) => {
                self.pending = Some((key, value));
                seed.deserialize(BorrowedStrDeserializer::new(key))
                    .map(Some)
                    .map_err(|e: DeError| e.at(&self.path.key(key)))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, DeError> {
        match self.pending.take() {
            Some((key, value)) => seed.deserialize(ValueDeserializer {
                value,
                path: self.path.key(key),
            }),
            None => Err(de::Error::custom("a mapping value was read before its key")),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(s),
            Value::Seq(items) => serializer.collect_seq(items),
            Value::Map(map) => serializer.collect_map(map),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AnyValue)
    }
}

/// Builds a [`Value`] from whatever the deserializer holds (used for `x-` extensions).
struct AnyValue;

impl<'de> Visitor<'de> for AnyValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(AnyValue)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(i64::try_from(u).map_or(Value::Float(u as f64), Value::Int))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = crate::value::Map::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            out.insert(k, v);
        }
        Ok(Value::Map(out))
    }
}
