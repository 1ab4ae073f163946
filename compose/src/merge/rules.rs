//! The merge rules: compose-go's `mergeSpecials` table and its default deep merge.
//!
//! A rule is chosen by the path of the node (with `*` matching any one key); nodes without
//! a rule merge generically: mappings key by key, sequences appended, scalars replaced, and
//! a null override keeps the base.

use super::gofmt::{self, Verb};
use crate::error::{Error, Result};
use crate::value::{Map, Path, Seg, Value};

/// How a node is merged when both files have it.
#[derive(Clone, Copy)]
enum Rule {
    /// Both sides as `KEY=VALUE` lists (a mapping, a list or one string), concatenated.
    ToSequence,
    /// Like [`Rule::ToSequence`], without the override entries that the base already has.
    ExtraHosts,
    /// The override replaces the base.
    Replace,
    /// A string is short for `{context: <string>}`; then mappings merge.
    Build,
    /// Lists of service names become mappings with the default condition; then merge.
    DependsOn,
    /// Lists of names become mappings with null values; then merge.
    NamesToMapping,
    /// Options merge only when the driver is the same (or not given on one side).
    Logging,
    /// An entry of `ulimits` is replaced as a whole.
    Ulimit,
    /// IPAM pools are matched by subnet.
    IpamConfig,
}

/// compose-go's rules, by path pattern. (Its `services.*.volumes.*.volume.labels` rule is
/// left out: merging never descends into sequences, so no path can reach it.)
const RULES: &[(&str, Rule)] = &[
    ("networks.*.ipam.config", Rule::IpamConfig),
    ("networks.*.labels", Rule::ToSequence),
    ("volumes.*.labels", Rule::ToSequence),
    ("services.*.annotations", Rule::ToSequence),
    ("services.*.build", Rule::Build),
    ("services.*.build.args", Rule::ToSequence),
    ("services.*.build.additional_contexts", Rule::ToSequence),
    ("services.*.build.extra_hosts", Rule::ExtraHosts),
    ("services.*.build.labels", Rule::ToSequence),
    ("services.*.command", Rule::Replace),
    ("services.*.depends_on", Rule::DependsOn),
    ("services.*.deploy.labels", Rule::ToSequence),
    ("services.*.dns", Rule::ToSequence),
    ("services.*.dns_opt", Rule::ToSequence),
    ("services.*.dns_search", Rule::ToSequence),
    ("services.*.entrypoint", Rule::Replace),
    ("services.*.env_file", Rule::ToSequence),
    ("services.*.label_file", Rule::ToSequence),
    ("services.*.environment", Rule::ToSequence),
    ("services.*.extra_hosts", Rule::ExtraHosts),
    ("services.*.healthcheck.test", Rule::Replace),
    ("services.*.labels", Rule::ToSequence),
    ("services.*.logging", Rule::Logging),
    ("services.*.models", Rule::NamesToMapping),
    ("services.*.networks", Rule::NamesToMapping),
    ("services.*.sysctls", Rule::ToSequence),
    ("services.*.tmpfs", Rule::ToSequence),
    ("services.*.ulimits.*", Rule::Ulimit),
];

/// Whether `path` matches a dotted `pattern` in which `*` stands for any one step.
pub(super) fn matches(path: &Path, pattern: &str) -> bool {
    let steps = pattern.split('.');
    steps.clone().count() == path.0.len()
        && steps.zip(&path.0).all(|(step, seg)| match seg {
            _ if step == "*" => true,
            Seg::Key(k) => k == step,
            Seg::Index(_) => false,
        })
}

fn rule_for(path: &Path) -> Option<Rule> {
    RULES
        .iter()
        .find(|(pattern, _)| matches(path, pattern))
        .map(|(_, rule)| *rule)
}

/// Merges two whole compose trees.
pub(super) fn merge_root(base: Value, over: Value) -> Result<Value> {
    match (base, over) {
        (Value::Map(base), Value::Map(over)) => {
            Ok(Value::Map(merge_maps(base, over, &Path::root())?))
        }
        (base, Value::Null) => Ok(base),
        (Value::Null, over) => Ok(over),
        (base, over) => Err(Error::schema(format!(
            "cannot merge a top-level {} with a top-level {}: the top-level object must be a mapping",
            base.kind(),
            over.kind()
        ))),
    }
}

/// compose-go's `mergeYaml`: merges the override's node into the base's node at `path`.
fn merge_value(base: Value, over: Value, path: &Path) -> Result<Value> {
    if let Some(rule) = rule_for(path) {
        return apply_rule(rule, base, over, path);
    }
    if over.is_null() {
        return Ok(base);
    }
    match base {
        Value::Map(base) => match over {
            Value::Map(over) => Ok(Value::Map(merge_maps(base, over, path)?)),
            _ => Err(cannot_override(path)),
        },
        Value::Seq(mut base) => match over {
            Value::Seq(over) => {
                base.extend(over);
                Ok(Value::Seq(base))
            }
            _ => Err(cannot_override(path)),
        },
        _ => Ok(over),
    }
}

fn cannot_override(path: &Path) -> Error {
    Error::schema(format!("cannot override {path}"))
}

/// Merges mappings key by key: keys of the base keep their place, new keys follow in the
/// override's order.
fn merge_maps(mut base: Map, over: Map, path: &Path) -> Result<Map> {
    for (key, value) in over {
        match base.get_mut(&key) {
            Some(slot) => {
                let merged = merge_value(std::mem::take(slot), value, &path.key(&key))?;
                *slot = merged;
            }
            None => {
                base.insert(key, value);
            }
        }
    }
    Ok(base)
}

fn apply_rule(rule: Rule, base: Value, over: Value, path: &Path) -> Result<Value> {
    match rule {
        Rule::ToSequence => {
            let mut merged = to_sequence(base);
            merged.extend(to_sequence(over));
            Ok(Value::Seq(merged))
        }
        Rule::ExtraHosts => {
            let mut merged = to_sequence(base);
            let added: Vec<Value> = to_sequence(over)
                .into_iter()
                .filter(|entry| !merged.contains(entry))
                .collect();
            merged.extend(added);
            Ok(Value::Seq(merged))
        }
        Rule::Replace => Ok(over),
        Rule::Build => {
            let base = build_mapping(base).unwrap_or_default();
            match build_mapping(over) {
                Some(over) => Ok(Value::Map(merge_maps(base, over, path)?)),
                None => Ok(Value::Map(base)),
            }
        }
        Rule::DependsOn => {
            let mut default = Map::new();
            default.insert("condition".into(), "service_started".into());
            default.insert("required".into(), Value::Bool(true));
            let base = names_to_mapping(base, &Value::Map(default.clone()), path)?;
            let over = names_to_mapping(over, &Value::Map(default), path)?;
            Ok(Value::Map(merge_maps(base, over, path)?))
        }
        Rule::NamesToMapping => {
            let base = names_to_mapping(base, &Value::Null, path)?;
            let over = names_to_mapping(over, &Value::Null, path)?;
            Ok(Value::Map(merge_maps(base, over, path)?))
        }
        Rule::Logging => merge_logging(base, over, path),
        // compose-go v2.13 meant to merge two long-syntax entries, but reads both sides from
        // the override: the override's entry always wins as a whole.
        Rule::Ulimit => Ok(over),
        Rule::IpamConfig => merge_ipam_config(base, over, path),
    }
}

/// compose-go's `convertIntoSequence`: a mapping becomes sorted `KEY=VALUE` strings (a null
/// value gives the bare key, a list value one entry per item), a string a one-item list.
/// Anything else (null, numbers) contributes nothing.
fn to_sequence(v: Value) -> Vec<Value> {
    match v {
        Value::Map(map) => {
            let mut entries = Vec::new();
            for (key, value) in map {
                match value {
                    Value::Null => entries.push(key),
                    Value::Seq(items) => entries.extend(
                        items
                            .iter()
                            .map(|item| format!("{key}={}", gofmt::format(item, Verb::V))),
                    ),
                    other => entries.push(format!("{key}={}", gofmt::format(&other, Verb::V))),
                }
            }
            entries.sort();
            entries.into_iter().map(Value::String).collect()
        }
        Value::Seq(items) => items,
        Value::String(s) => vec![Value::String(s)],
        _ => Vec::new(),
    }
}

/// `build` as a mapping: a string is the build context.
fn build_mapping(v: Value) -> Option<Map> {
    match v {
        Value::String(context) => {
            let mut map = Map::new();
            map.insert("context".into(), Value::String(context));
            Some(map)
        }
        Value::Map(map) => Some(map),
        _ => None,
    }
}

/// A list of names (or one name) as a mapping from each name to `default`; null is empty.
fn names_to_mapping(v: Value, default: &Value, path: &Path) -> Result<Map> {
    match v {
        Value::Null => Ok(Map::new()),
        Value::Map(map) => Ok(map),
        Value::String(name) => Ok(Map::from_iter([(name, default.clone())])),
        Value::Seq(items) => {
            let mut map = Map::new();
            for item in items {
                match item {
                    Value::String(name) => {
                        map.insert(name, default.clone());
                    }
                    other => {
                        return Err(Error::schema(format!(
                            "{path}: cannot use {} as a mapping key",
                            gofmt::go_type(&other)
                        )));
                    }
                }
            }
            Ok(map)
        }
        other => Err(Error::schema(format!(
            "{path}: cannot convert {} into a mapping",
            gofmt::go_type(&other)
        ))),
    }
}

fn merge_logging(base: Value, over: Value, path: &Path) -> Result<Value> {
    let not_mapping = |v: &Value| {
        Error::schema(format!(
            "{path}: cannot merge logging: expected a mapping, got {}",
            gofmt::go_type(v)
        ))
    };
    let Value::Map(base) = base else {
        return Err(not_mapping(&base));
    };
    let Value::Map(over) = over else {
        return Err(not_mapping(&over));
    };
    let same_driver = match (base.get("driver"), over.get("driver")) {
        (Some(b), Some(o)) => b == o,
        _ => true,
    };
    if same_driver {
        Ok(Value::Map(merge_maps(base, over, path)?))
    } else {
        Ok(Value::Map(over))
    }
}

/// Which pool of `merge_ipam_config`'s result an entry is: compose-go keeps references to
/// the base's pools and mutates them while it goes, so the result depends on that sharing.
#[derive(Clone, Copy)]
enum Pool {
    Base(usize),
    Over(usize),
}

/// compose-go's `mergeIPAMConfig`: every base pool is compared with every override pool. An
/// override pool with another subnet is added once; one with the same subnet (or with a
/// subnet already in the result) is merged into the base pool, which then takes the place of
/// the result's pool with its subnet. A base pool that no override pool touches is dropped.
fn merge_ipam_config(base: Value, over: Value, path: &Path) -> Result<Value> {
    let unexpected =
        |v: &Value| Error::schema(format!("{path}: unexpected type {}", gofmt::go_type(v)));
    let Value::Seq(base) = base else {
        return Err(unexpected(&base));
    };
    let Value::Seq(over) = over else {
        return Err(unexpected(&over));
    };
    let mut bases = base
        .into_iter()
        .map(|v| names_to_mapping(v, &Value::Null, path))
        .collect::<Result<Vec<Map>>>()?;
    let overs = over
        .into_iter()
        .map(|v| names_to_mapping(v, &Value::Null, path))
        .collect::<Result<Vec<Map>>>()?;

    let subnet = |m: &Map| m.get("subnet").cloned().unwrap_or(Value::Null);
    let mut result: Vec<Pool> = Vec::new();
    for b in 0..bases.len() {
        for (o, over_pool) in overs.iter().enumerate() {
            let over_subnet = subnet(over_pool);
            let pool_subnet = |pool: &Pool, bases: &[Map]| match *pool {
                Pool::Base(i) => bases.get(i).map(subnet).unwrap_or(Value::Null),
                Pool::Over(i) => overs.get(i).map(subnet).unwrap_or(Value::Null),
            };
            let base_subnet = bases.get(b).map(subnet).unwrap_or(Value::Null);
            if over_subnet != base_subnet
                && !result.iter().any(|p| pool_subnet(p, &bases) == over_subnet)
            {
                result.push(Pool::Over(o));
                continue;
            }
            let Some(slot) = bases.get_mut(b) else {
                continue;
            };
            *slot = merge_maps(std::mem::take(slot), over_pool.clone(), path)?;
            let merged_subnet = subnet(slot);
            match result
                .iter()
                .position(|p| pool_subnet(p, &bases) == merged_subnet)
            {
                Some(i) => {
                    if let Some(entry) = result.get_mut(i) {
                        *entry = Pool::Base(b);
                    }
                }
                None => result.push(Pool::Base(b)),
            }
        }
    }
    Ok(Value::Seq(
        result
            .into_iter()
            .filter_map(|pool| match pool {
                Pool::Base(i) => bases.get(i).cloned(),
                Pool::Over(i) => overs.get(i).cloned(),
            })
            .map(Value::Map)
            .collect(),
    ))
}
