//! `build`: a bare path becomes `{context: path}`; the context defaults to `.`; the list
//! forms of args, labels, additional contexts, ssh keys and extra hosts become their long forms.

use super::convert::{
    Res, Unset, each_item, fail, go_sprint, to_bool, to_bytes, to_mapping, to_string_list,
    to_string_scalar, with_key,
};
use super::references::{extra_hosts, file_reference, ulimits};
use crate::value::{Map, Path, Value};

/// Rewrites a service's `build` section.
pub(crate) fn build(v: &mut Value, p: &Path) -> Res {
    let b = match v {
        Value::Null => return Ok(()),
        Value::String(context) => {
            let mut m = Map::new();
            m.insert("context".into(), Value::String(std::mem::take(context)));
            *v = Value::Map(m);
            return Ok(());
        }
        Value::Map(m) => m,
        other => return fail(p, format!("invalid type {} for build", other.kind())),
    };
    if !b.contains_key("context") {
        b.insert("context".into(), ".".into());
    }
    with_key(b, p, "args", |a, ap| to_mapping(a, ap, Unset::Null))?;
    with_key(b, p, "labels", |l, lp| to_mapping(l, lp, Unset::Empty))?;
    with_key(b, p, "additional_contexts", additional_contexts)?;
    with_key(b, p, "ssh", ssh)?;
    with_key(b, p, "extra_hosts", extra_hosts)?;
    with_key(b, p, "secrets", |s, sp| {
        each_item(s, sp, |r, rp| file_reference(r, rp, false))
    })?;
    with_key(b, p, "shm_size", to_bytes)?;
    with_key(b, p, "ulimits", ulimits)?;
    for key in [
        "cache_from",
        "cache_to",
        "no_cache_filter",
        "tags",
        "platforms",
    ] {
        with_key(b, p, key, |l, lp| to_string_list(l, lp, false))?;
    }
    for key in ["no_cache", "pull", "privileged"] {
        with_key(b, p, key, to_bool)?;
    }
    for key in ["provenance", "sbom"] {
        with_key(b, p, key, to_string_scalar)?;
    }
    Ok(())
}

/// `additional_contexts`: in list form every entry must be `name=location`.
fn additional_contexts(v: &mut Value, p: &Path) -> Res {
    if let Value::Seq(items) = v {
        for (i, item) in items.iter().enumerate() {
            let text = go_sprint(item).unwrap_or_default();
            if !text.contains('=') {
                return fail(
                    &p.index(i),
                    format!("invalid value {text}, expected key=value"),
                );
            }
        }
    }
    to_mapping(v, p, Unset::Empty)
}

/// `ssh`: `default` or `id=path` entries, or a mapping of id to path. Kept as a list of
/// `default` / `id=path` strings (compose-go prints `id: path`, which it cannot read back;
/// the `=` form is the one every reader accepts).
fn ssh(v: &mut Value, p: &Path) -> Res {
    let mut out = Vec::new();
    match v {
        Value::Null => return Ok(()),
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let Value::String(s) = item else {
                    return fail(&p.index(i), format!("invalid ssh key type {}", item.kind()));
                };
                match s.split_once('=') {
                    Some((id, "")) => out.push(id.to_string()),
                    Some(_) => out.push(s.clone()),
                    None if s == "default" => out.push(s.clone()),
                    None => return fail(&p.index(i), format!("invalid ssh key {s:?}")),
                }
            }
        }
        Value::Map(m) => {
            for (id, path) in m.iter() {
                match go_sprint(path) {
                    Some(path) if !path.is_empty() => out.push(format!("{id}={path}")),
                    _ => out.push(id.clone()),
                }
            }
        }
        other => return fail(p, format!("invalid type {} for ssh", other.kind())),
    }
    *v = Value::Seq(out.into_iter().map(Value::String).collect());
    Ok(())
}
