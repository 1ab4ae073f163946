//! Top-level `networks`, `volumes`, `secrets`, `configs` and `include`.

use super::convert::{
    Res, Unset, each_item, expect_map, fail, to_bool, to_mapping, to_options, to_string_list,
    with_key,
};
use crate::value::{Map, Path, Value};

/// One resource of `networks`, `volumes`, `secrets` or `configs`: an empty declaration is an
/// empty mapping, and the legacy `external: {name: x}` becomes `name: x` + `external: true`.
pub(crate) fn resource(
    kind: &str,
    v: &mut Value,
    p: &Path,
    warnings: &mut Vec<(Path, String)>,
) -> Res {
    if v.is_null() {
        *v = Value::Map(Map::new());
        return Ok(());
    }
    let r = expect_map(v, p)?;
    if let Some(Value::Map(external)) = r.get("external") {
        let external_name = external.get("name").cloned();
        r.insert("external".into(), Value::Bool(true));
        if let Some(ext_name) = external_name {
            warnings.push((
                p.key("external"),
                format!("{p}: external.name is deprecated. Please set name and external: true"),
            ));
            match r.get("name") {
                Some(name) if *name != ext_name => {
                    return fail(p, "name and external.name conflict; only use name");
                }
                Some(_) => {}
                None => {
                    r.insert("name".into(), ext_name);
                }
            }
        }
    }
    with_key(r, p, "external", to_bool)?;
    with_key(r, p, "labels", |l, lp| to_mapping(l, lp, Unset::Empty))?;
    with_key(r, p, "driver_opts", to_options)?;
    if kind == "networks" {
        for key in ["internal", "attachable", "enable_ipv4", "enable_ipv6"] {
            with_key(r, p, key, to_bool)?;
        }
        with_key(r, p, "ipam", ipam)?;
    }
    Ok(())
}

fn ipam(v: &mut Value, p: &Path) -> Res {
    if v.is_null() {
        return Ok(());
    }
    let i = expect_map(v, p)?;
    with_key(i, p, "options", to_options)?;
    with_key(i, p, "config", |c, cp| {
        each_item(c, cp, |pool, pp| {
            let pool = expect_map(pool, pp)?;
            with_key(pool, pp, "aux_addresses", |a, ap| {
                to_mapping(a, ap, Unset::Empty)
            })
        })
    })
}

/// An `include` entry: a bare path becomes `{path: [path]}`; `path` and `env_file` are lists.
pub(crate) fn include(v: &mut Value, p: &Path) -> Res {
    if let Value::String(path) = v {
        let mut m = Map::new();
        m.insert(
            "path".into(),
            Value::Seq(vec![Value::String(std::mem::take(path))]),
        );
        *v = Value::Map(m);
        return Ok(());
    }
    let m = match v {
        Value::Map(m) => m,
        other => return fail(p, format!("invalid type {} for include", other.kind())),
    };
    with_key(m, p, "path", |l, lp| to_string_list(l, lp, false))?;
    with_key(m, p, "env_file", |l, lp| to_string_list(l, lp, false))
}
