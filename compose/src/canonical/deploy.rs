//! `deploy` (replicas, update/rollback policies, resources, restart policy, placement),
//! device requests (`deploy.resources.reservations.devices`, `gpus`) and `blkio_config`.

use super::convert::{
    Res, Unset, each_item, expect_map, fail, to_bytes, to_duration, to_float, to_int, to_mapping,
    to_string_list, with_key,
};
use crate::value::{Map, Path, Value};

/// The `deploy` section of a service.
pub(crate) fn deploy(v: &mut Value, p: &Path) -> Res {
    if v.is_null() {
        return Ok(());
    }
    let d = expect_map(v, p)?;
    with_key(d, p, "replicas", to_int)?;
    with_key(d, p, "labels", |l, lp| to_mapping(l, lp, Unset::Empty))?;
    for key in ["update_config", "rollback_config"] {
        with_key(d, p, key, update_config)?;
    }
    with_key(d, p, "resources", |r, rp| {
        if r.is_null() {
            return Ok(());
        }
        let r = expect_map(r, rp)?;
        with_key(r, rp, "limits", resource)?;
        with_key(r, rp, "reservations", resource)
    })?;
    with_key(d, p, "restart_policy", |r, rp| {
        if r.is_null() {
            return Ok(());
        }
        let r = expect_map(r, rp)?;
        with_key(r, rp, "delay", to_duration)?;
        with_key(r, rp, "window", to_duration)?;
        with_key(r, rp, "max_attempts", to_int)
    })?;
    with_key(d, p, "placement", |pl, pp| {
        if pl.is_null() {
            return Ok(());
        }
        let pl = expect_map(pl, pp)?;
        with_key(pl, pp, "constraints", |c, cp| to_string_list(c, cp, false))?;
        with_key(pl, pp, "max_replicas_per_node", to_int)
    })
}

fn update_config(v: &mut Value, p: &Path) -> Res {
    if v.is_null() {
        return Ok(());
    }
    let u = expect_map(v, p)?;
    with_key(u, p, "parallelism", to_int)?;
    with_key(u, p, "delay", to_duration)?;
    with_key(u, p, "monitor", to_duration)?;
    with_key(u, p, "max_failure_ratio", to_float)
}

/// `limits` / `reservations`: `cpus` a number, `memory` a byte count, device requests.
fn resource(v: &mut Value, p: &Path) -> Res {
    if v.is_null() {
        return Ok(());
    }
    let r = expect_map(v, p)?;
    with_key(r, p, "cpus", to_float)?;
    with_key(r, p, "memory", to_bytes)?;
    with_key(r, p, "pids", to_int)?;
    with_key(r, p, "devices", |d, dp| each_item(d, dp, device_request))?;
    with_key(r, p, "generic_resources", |g, gp| {
        each_item(g, gp, |res, rp| {
            let res = expect_map(res, rp)?;
            with_key(res, rp, "discrete_resource_spec", |spec, sp| {
                let spec = expect_map(spec, sp)?;
                with_key(spec, sp, "value", to_int)
            })
        })
    })
}

/// A device request: `count` and `device_ids` exclude each other; with neither, every device
/// is requested (`count: all`, printed by compose-go as -1).
pub(crate) fn device_request(v: &mut Value, p: &Path) -> Res {
    let m = match v {
        Value::Map(m) => m,
        other => {
            return fail(
                p,
                format!("invalid type {} for device request", other.kind()),
            );
        }
    };
    let has_count = m.contains_key("count");
    if has_count && m.contains_key("device_ids") {
        return fail(p, "\"count\" and \"device_ids\" attributes are exclusive");
    }
    if !has_count && !m.contains_key("device_ids") {
        m.insert("count".into(), Value::Int(-1));
    }
    with_key(m, p, "count", device_count)?;
    with_key(m, p, "capabilities", |c, cp| to_string_list(c, cp, false))?;
    with_key(m, p, "device_ids", |c, cp| to_string_list(c, cp, false))?;
    with_key(m, p, "options", |o, op| to_mapping(o, op, Unset::Empty))
}

fn device_count(v: &mut Value, p: &Path) -> Res {
    match v {
        Value::Int(_) => Ok(()),
        Value::String(s) if s.eq_ignore_ascii_case("all") => {
            *v = Value::Int(-1);
            Ok(())
        }
        Value::String(s) => match s.parse::<i64>() {
            Ok(n) => {
                *v = Value::Int(n);
                Ok(())
            }
            Err(_) => fail(
                p,
                format!("invalid value {s:?}, the only value allowed is 'all' or a number"),
            ),
        },
        other => fail(p, format!("invalid type {} for device count", other.kind())),
    }
}

/// `gpus`: `all` requests every GPU; a list holds device requests.
pub(crate) fn gpus(v: &mut Value, p: &Path) -> Res {
    match v {
        Value::String(_) => {
            let mut m = Map::new();
            m.insert("count".into(), Value::Int(-1));
            *v = Value::Seq(vec![Value::Map(m)]);
            Ok(())
        }
        Value::Seq(_) => each_item(v, p, device_request),
        Value::Null => Ok(()),
        other => fail(p, format!("invalid type {} for gpus", other.kind())),
    }
}

/// `blkio_config`: weights are integers, throttle rates byte counts.
pub(crate) fn blkio(v: &mut Value, p: &Path) -> Res {
    if v.is_null() {
        return Ok(());
    }
    let b = expect_map(v, p)?;
    with_key(b, p, "weight", to_int)?;
    with_key(b, p, "weight_device", |w, wp| {
        each_item(w, wp, |d, dp| {
            let d = expect_map(d, dp)?;
            with_key(d, dp, "weight", to_int)
        })
    })?;
    for key in [
        "device_read_bps",
        "device_read_iops",
        "device_write_bps",
        "device_write_iops",
    ] {
        with_key(b, p, key, |t, tp| {
            each_item(t, tp, |d, dp| {
                let d = expect_map(d, dp)?;
                with_key(d, dp, "rate", to_bytes)
            })
        })?;
    }
    Ok(())
}
