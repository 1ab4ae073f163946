//! compose-go's `EnforceUnicity`: after a merge, sequences whose entries have an identity
//! keep one entry per identity, at the place of its first definition and with the value of
//! its last one.

use super::gofmt::{self, Verb};
use super::rules::matches;
use crate::error::{Error, Result};
use crate::value::{Path, Value};
use std::collections::HashMap;

/// How the identity of an entry is read.
#[derive(Clone, Copy)]
enum Identity {
    /// `KEY=VALUE` (or a bare `KEY`): the key.
    KeyValue,
    /// A service volume: its target path.
    VolumeTarget,
    /// A device: its container-side path.
    DeviceTarget,
    /// An exposed port, as written.
    Expose,
    /// A secret or config: its target, by default under the given directory.
    MountTarget(&'static str),
    /// A published port: host address, published port, target port and protocol.
    Port,
    /// An env file: its path.
    EnvFile,
}

/// compose-go's table, by path pattern of the sequence.
const UNIQUE: &[(&str, Identity)] = &[
    ("networks.*.labels", Identity::KeyValue),
    ("networks.*.ipam.options", Identity::KeyValue),
    ("services.*.annotations", Identity::KeyValue),
    ("services.*.build.args", Identity::KeyValue),
    ("services.*.build.additional_contexts", Identity::KeyValue),
    // compose-go lists `platform`, not the schema's `platforms`; kept as it is.
    ("services.*.build.platform", Identity::KeyValue),
    ("services.*.build.tags", Identity::KeyValue),
    ("services.*.build.labels", Identity::KeyValue),
    ("services.*.cap_add", Identity::KeyValue),
    ("services.*.cap_drop", Identity::KeyValue),
    ("services.*.configs", Identity::MountTarget("")),
    ("services.*.deploy.labels", Identity::KeyValue),
    ("services.*.devices", Identity::DeviceTarget),
    ("services.*.dns", Identity::KeyValue),
    ("services.*.dns_opt", Identity::KeyValue),
    ("services.*.dns_search", Identity::KeyValue),
    ("services.*.environment", Identity::KeyValue),
    ("services.*.env_file", Identity::EnvFile),
    ("services.*.expose", Identity::Expose),
    ("services.*.labels", Identity::KeyValue),
    ("services.*.links", Identity::KeyValue),
    ("services.*.networks.*.aliases", Identity::KeyValue),
    ("services.*.networks.*.link_local_ips", Identity::KeyValue),
    ("services.*.ports", Identity::Port),
    ("services.*.profiles", Identity::KeyValue),
    ("services.*.secrets", Identity::MountTarget("/run/secrets")),
    ("services.*.sysctls", Identity::KeyValue),
    ("services.*.tmpfs", Identity::KeyValue),
    ("services.*.volumes", Identity::VolumeTarget),
];

/// De-duplicates every matching sequence of the tree. Only mappings are walked into, as in
/// compose-go: sequences inside sequences are left alone.
pub(super) fn enforce(tree: &mut Value) -> Result<()> {
    walk(tree, &mut Path::root())
}

fn walk(node: &mut Value, path: &mut Path) -> Result<()> {
    match node {
        Value::Map(map) => {
            for (key, value) in map.iter_mut() {
                path.0.push(crate::value::Seg::Key(key.clone()));
                let result = walk(value, path);
                path.0.pop();
                result?;
            }
            Ok(())
        }
        Value::Seq(items) => {
            let Some(identity) = UNIQUE
                .iter()
                .find(|(pattern, _)| matches(path, pattern))
                .map(|(_, identity)| *identity)
            else {
                return Ok(());
            };
            let mut unique: Vec<Value> = Vec::with_capacity(items.len());
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (i, entry) in std::mem::take(items).into_iter().enumerate() {
                let key = identity_of(identity, &entry, &path.index(i))?;
                match seen.get(&key).and_then(|&j| unique.get_mut(j)) {
                    Some(slot) => *slot = entry,
                    None => {
                        seen.insert(key, unique.len());
                        unique.push(entry);
                    }
                }
            }
            *items = unique;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The identity of one entry, as compose-go's indexers compute it. Entries of a kind an
/// indexer does not expect (numbers, null) share the empty identity, as in compose-go.
fn identity_of(identity: Identity, entry: &Value, path: &Path) -> Result<String> {
    match identity {
        Identity::KeyValue => match entry {
            Value::String(s) => Ok(s.split_once('=').map_or(s.as_str(), |(k, _)| k).to_string()),
            other => Err(Error::schema(format!(
                "{path}: unexpected type {}",
                gofmt::go_type(other)
            ))),
        },
        Identity::VolumeTarget => match entry {
            Value::Map(map) => match map.get("target") {
                Some(Value::String(target)) => Ok(target.clone()),
                _ => Err(Error::schema(format!(
                    "service volume {path} is missing a mount target"
                ))),
            },
            Value::String(spec) => volume_target(spec),
            _ => Ok(String::new()),
        },
        Identity::DeviceTarget => match entry {
            Value::Map(map) => match map.get("target") {
                Some(Value::String(target)) => Ok(target.clone()),
                _ => Err(Error::schema(format!(
                    "service device {path} is missing a mount target"
                ))),
            },
            Value::String(spec) => {
                let mut parts = spec.split(':');
                let first = parts.next().unwrap_or_default();
                Ok(parts.next().unwrap_or(first).to_string())
            }
            _ => Ok(String::new()),
        },
        Identity::Expose => match entry {
            Value::String(s) => Ok(s.clone()),
            Value::Int(i) => Ok(i.to_string()),
            other => Err(Error::schema(format!(
                "{path}: unsupported expose value {}",
                gofmt::format(other, Verb::S)
            ))),
        },
        Identity::MountTarget(dir) => match entry {
            Value::String(source) => Ok(format!("{dir}/{source}")),
            Value::Map(map) => match map.get("target") {
                Some(Value::String(target)) => Ok(target.clone()),
                Some(other) => Err(Error::schema(format!(
                    "{path}: unsupported target value {}",
                    gofmt::format(other, Verb::S)
                ))),
                None => {
                    let source = map.get("source").unwrap_or(&Value::Null);
                    Ok(format!("{dir}/{}", gofmt::format(source, Verb::S)))
                }
            },
            // compose-go's message, which it shares with `expose`.
            other => Err(Error::schema(format!(
                "{path}: unsupported expose value {}",
                gofmt::format(other, Verb::S)
            ))),
        },
        Identity::Port => match entry {
            Value::Int(i) => Ok(i.to_string()),
            Value::String(s) => Ok(s.clone()),
            Value::Map(map) => {
                let Some(target) = map.get("target") else {
                    return Err(Error::schema(format!(
                        "service ports {path} is missing a target port"
                    )));
                };
                let or = |key: &str, default: &str| {
                    map.get(key)
                        .map_or_else(|| default.to_string(), |v| gofmt::format(v, Verb::S))
                };
                let published = map.get("published").unwrap_or(&Value::Null);
                Ok(format!(
                    "{}:{}:{}/{}",
                    or("host_ip", "0.0.0.0"),
                    gofmt::format(published, Verb::S),
                    gofmt::format(target, Verb::D),
                    or("protocol", "tcp"),
                ))
            }
            _ => Ok(String::new()),
        },
        Identity::EnvFile => match entry {
            Value::String(s) => Ok(s.clone()),
            Value::Map(map) => match map.get("path") {
                Some(Value::String(p)) => Ok(p.clone()),
                Some(other) => Err(Error::schema(format!(
                    "{path}: unsupported env_file path {}",
                    gofmt::format(other, Verb::S)
                ))),
                None => Err(Error::schema(format!(
                    "environment path attribute {path} is missing"
                ))),
            },
            _ => Ok(String::new()),
        },
    }
}

/// The container path of a short-syntax volume (`[SOURCE:]TARGET[:OPTIONS]`), read the way
/// compose-go's `format.ParseVolume` reads it: a one-letter section before `:` is a Windows
/// drive, a single section is the target of an anonymous volume.
fn volume_target(spec: &str) -> Result<String> {
    let invalid = |why: &str| Error::invalid(format!("invalid spec: {spec}: {why}"));
    match spec.len() {
        0 => return Err(Error::invalid("invalid empty volume spec")),
        1 | 2 => return Ok(spec.to_string()),
        _ => {}
    }
    let mut source: Option<String> = None;
    let mut target: Option<String> = None;
    let mut buffer = String::new();
    // Go walks the spec followed by a NUL rune, which ends the last section.
    for c in spec.chars().chain(std::iter::once('\0')) {
        let mut section = buffer.chars();
        let drive_letter =
            matches!((section.next(), section.next()), (Some(l), None) if l.is_alphabetic());
        if c == ':' && drive_letter {
            buffer.push(c);
        } else if c == ':' || c == '\0' {
            if buffer.is_empty() {
                return Err(invalid("empty section between colons"));
            }
            let section = std::mem::take(&mut buffer);
            if source.is_none() && c == '\0' {
                target = Some(section);
            } else if source.is_none() {
                source = Some(section);
            } else if target.is_none() {
                target = Some(section);
            } else if c == ':' {
                return Err(invalid("too many colons"));
            }
            // A third section is options, which do not change the target.
        } else {
            buffer.push(c);
        }
    }
    Ok(target.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_targets_are_read_like_compose_go() {
        assert_eq!(volume_target("/data").unwrap(), "/data");
        assert_eq!(volume_target("data:/data").unwrap(), "/data");
        assert_eq!(volume_target("./a:/a:ro").unwrap(), "/a");
        assert_eq!(volume_target("C:\\x:/win").unwrap(), "/win");
        assert_eq!(volume_target("ab").unwrap(), "ab");
        assert!(volume_target("").is_err());
        // A one-letter first section is a drive letter, as on Windows.
        assert_eq!(volume_target("a:/b").unwrap(), "a:/b");
        assert!(volume_target("data::/x").is_err());
        let e = volume_target("vol:/b:ro:z").unwrap_err();
        assert_eq!(e.message, "invalid spec: vol:/b:ro:z: too many colons");
    }
}
