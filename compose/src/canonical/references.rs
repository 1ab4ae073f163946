//! Attributes that refer to other things by name or path: `secrets`/`configs` references,
//! `depends_on`, service `networks`, `extra_hosts`, `env_file`, `devices` and `ulimits`.

use super::convert::{
    Res, each_item, each_value, expect_map, fail, go_sprint, to_bool, to_file_mode, to_int,
    to_string_list, to_string_scalar, with_key,
};
use crate::value::{Map, Path, Value};

/// A `secrets`/`configs` entry of a service or build: a bare name becomes `{source: name}`;
/// `uid`/`gid` are strings and `mode` an octal string. Service secrets default their
/// `target` to `/run/secrets/<source>`.
pub(crate) fn file_reference(v: &mut Value, p: &Path, default_secret_target: bool) -> Res {
    if let Value::String(name) = v {
        let mut m = Map::new();
        m.insert("source".into(), Value::String(std::mem::take(name)));
        *v = Value::Map(m);
    }
    let m = match v {
        Value::Map(m) => m,
        other => return fail(p, format!("unsupported type {}", other.kind())),
    };
    with_key(m, p, "uid", to_string_scalar)?;
    with_key(m, p, "gid", to_string_scalar)?;
    with_key(m, p, "mode", to_file_mode)?;
    if default_secret_target && !m.contains_key("target") {
        let source = m.get("source").and_then(go_sprint).unwrap_or_default();
        m.insert(
            "target".into(),
            Value::String(format!("/run/secrets/{source}")),
        );
    }
    Ok(())
}

/// `depends_on`: a list of names becomes a mapping; every entry gets `condition:
/// service_started` and `required: true` unless it says otherwise.
pub(crate) fn depends_on(v: &mut Value, p: &Path) -> Res {
    let defaults = || {
        let mut d = Map::new();
        d.insert("condition".into(), "service_started".into());
        d.insert("required".into(), Value::Bool(true));
        d
    };
    match v {
        Value::Null => Ok(()),
        Value::Seq(items) => {
            let mut map = Map::new();
            for (i, item) in items.iter().enumerate() {
                let Value::String(name) = item else {
                    return fail(
                        &p.index(i),
                        format!("invalid type {} for depends_on entry", item.kind()),
                    );
                };
                map.insert(name.clone(), Value::Map(defaults()));
            }
            *v = Value::Map(map);
            Ok(())
        }
        Value::Map(map) => {
            for (name, dep) in map.iter_mut() {
                let dp = p.key(name);
                let Value::Map(d) = dep else {
                    return fail(&dp, format!("unsupported value {}", dep.kind()));
                };
                if !d.contains_key("condition") {
                    d.insert("condition".into(), "service_started".into());
                }
                if !d.contains_key("required") {
                    d.insert("required".into(), Value::Bool(true));
                }
                with_key(d, &dp, "required", to_bool)?;
                with_key(d, &dp, "restart", to_bool)?;
            }
            Ok(())
        }
        other => fail(p, format!("invalid type {} for depend_on", other.kind())),
    }
}

/// Service `networks`: a list of names becomes a mapping to null; entries get typed values.
pub(crate) fn service_networks(v: &mut Value, p: &Path) -> Res {
    if let Value::Seq(items) = v {
        let mut map = Map::new();
        for (i, item) in items.iter().enumerate() {
            let Value::String(name) = item else {
                return fail(
                    &p.index(i),
                    format!("invalid type {} for network", item.kind()),
                );
            };
            map.insert(name.clone(), Value::Null);
        }
        *v = Value::Map(map);
        return Ok(());
    }
    each_value(v, p, |net, np| {
        let Value::Map(n) = net else {
            return if net.is_null() {
                Ok(())
            } else {
                fail(
                    np,
                    format!("invalid type {} for service network", net.kind()),
                )
            };
        };
        with_key(n, np, "aliases", |a, ap| to_string_list(a, ap, false))?;
        with_key(n, np, "link_local_ips", |a, ap| {
            to_string_list(a, ap, false)
        })?;
        with_key(n, np, "driver_opts", super::convert::to_options)?;
        with_key(n, np, "priority", to_int)?;
        with_key(n, np, "gw_priority", to_int)
    })
}

/// `extra_hosts` as compose-go prints them: a sorted list of `host=address`, whether written
/// as `host:address` / `host=address` strings or as a mapping (whose values may be lists).
pub(crate) fn extra_hosts(v: &mut Value, p: &Path) -> Res {
    let mut pairs: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |host: String, ips: Vec<String>| match pairs.iter_mut().find(|(h, _)| *h == host)
    {
        Some((_, existing)) => existing.extend(ips),
        None => pairs.push((host, ips)),
    };
    match v {
        Value::Null => return Ok(()),
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let Some(entry) = go_sprint(item) else {
                    return fail(
                        &p.index(i),
                        format!("invalid type {} for extra_hosts entry", item.kind()),
                    );
                };
                let split = entry.split_once('=').or_else(|| entry.split_once(':'));
                let Some((host, ips)) = split else {
                    return fail(
                        &p.index(i),
                        format!("invalid additional host, missing IP: {entry}"),
                    );
                };
                add(
                    host.to_string(),
                    ips.split(',').map(str::to_string).collect(),
                );
            }
        }
        Value::Map(map) => {
            for (host, ips) in map.iter() {
                let list = match ips {
                    Value::Null => vec![String::new()],
                    Value::Seq(items) => items.iter().filter_map(go_sprint).collect(),
                    other => vec![go_sprint(other).unwrap_or_default()],
                };
                add(host.clone(), list);
            }
        }
        other => {
            return fail(
                p,
                format!("unexpected value type {} for extra_hosts", other.kind()),
            );
        }
    }
    let mut out = Vec::new();
    for (host, ips) in pairs {
        if host.is_empty() || host.contains([':', '=']) {
            return fail(p, format!("bad host name '{host}'"));
        }
        for ip in ips {
            // `[::1]` is written with brackets to keep the colons apart; the address is `::1`.
            let ip = match ip.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                Some(inner) if ip.len() > 2 => inner.to_string(),
                _ => ip,
            };
            out.push(format!("{host}={ip}"));
        }
    }
    out.sort();
    *v = Value::Seq(out.into_iter().map(Value::String).collect());
    Ok(())
}

/// `env_file`: a path or list of paths and `{path, required, format}` entries, as a list of
/// entries. `required: true` is the default and compose-go prints it by leaving it out.
pub(crate) fn env_file(v: &mut Value, p: &Path) -> Res {
    if let Value::String(path) = v {
        *v = Value::Seq(vec![Value::String(std::mem::take(path))]);
    }
    each_item(v, p, |item, ip| {
        if let Value::String(path) = item {
            let mut m = Map::new();
            m.insert("path".into(), Value::String(std::mem::take(path)));
            *item = Value::Map(m);
            return Ok(());
        }
        let m = expect_map(item, ip)?;
        with_key(m, ip, "required", to_bool)?;
        if m.get("required") == Some(&Value::Bool(true)) {
            m.shift_remove("required");
        }
        Ok(())
    })
}

/// `devices`: `host[:container[:permissions]]` becomes `{source, target, permissions}`.
pub(crate) fn device(v: &mut Value, p: &Path) -> Res {
    let spec = match v {
        Value::Map(_) => return Ok(()),
        Value::String(s) => s.clone(),
        other => {
            return fail(
                p,
                format!("invalid type {} for device mapping", other.kind()),
            );
        }
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, permissions) = match parts.as_slice() {
        [s] => (*s, *s, "rwm"),
        [s, t] => (*s, *t, "rwm"),
        [s, t, perm] => (*s, *t, *perm),
        _ => {
            return fail(
                p,
                format!("confusing device mapping, please use long syntax: {spec}"),
            );
        }
    };
    let target = if target.is_empty() { source } else { target };
    let mut m = Map::new();
    m.insert("source".into(), source.into());
    m.insert("target".into(), target.into());
    m.insert("permissions".into(), permissions.into());
    *v = Value::Map(m);
    Ok(())
}

/// `ulimits`: a number stays a number (a single limit); a mapping has integer `soft` and
/// `hard`, both printed (a missing one as 0), as compose-go prints them.
pub(crate) fn ulimits(v: &mut Value, p: &Path) -> Res {
    each_value(v, p, |limit, lp| match limit {
        Value::Int(_) => Ok(()),
        Value::Map(m) => {
            with_key(m, lp, "soft", to_int)?;
            with_key(m, lp, "hard", to_int)?;
            for key in ["soft", "hard"] {
                if !m.contains_key(key) {
                    m.insert(key.into(), Value::Int(0));
                }
            }
            Ok(())
        }
        other => fail(lp, format!("invalid type {} for ulimits", other.kind())),
    })
}
