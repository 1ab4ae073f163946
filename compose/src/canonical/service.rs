//! One service: every attribute to its canonical form, dispatched by name.

use super::build::build;
use super::convert::{
    Res, Unset, each_item, each_value, expect_map, fail, go_sprint, to_bool, to_bytes, to_duration,
    to_float, to_int, to_mapping, to_options, to_string_list, to_string_scalar, with_key,
};
use super::deploy::{blkio, deploy, gpus};
use super::ports::canonicalize_ports;
use super::references::{
    depends_on, device, env_file, extra_hosts, file_reference, service_networks, ulimits,
};
use super::shellwords;
use super::volumes::canonicalize_volumes;
use crate::value::{Map, Path, Value};

/// Rewrites every attribute of one service in place.
pub(crate) fn service(v: &mut Value, p: &Path) -> Res {
    let s = match v {
        Value::Map(m) => m,
        // compose-go leaves a non-mapping service to the schema check.
        _ => return Ok(()),
    };
    for (key, value) in s.iter_mut() {
        attribute(key, value, &p.key(key))?;
    }
    if let Some(Value::Map(env)) = s.get("environment") {
        // compose-go refuses a variable name ending in a space (`- DEBUG = true`).
        if let Some(k) = env.keys().find(|k| k.ends_with(' ')) {
            let name = p.0.last().map(|s| match s {
                crate::value::Seg::Key(k) => k.clone(),
                crate::value::Seg::Index(i) => i.to_string(),
            });
            return fail(
                &p.key("environment"),
                format!(
                    "'services[{}].environment' environment variable {k} is declared with a trailing space",
                    name.unwrap_or_default()
                ),
            );
        }
    }
    Ok(())
}

fn attribute(key: &str, v: &mut Value, p: &Path) -> Res {
    match key {
        "build" => build(v, p),
        "ports" => canonicalize_ports(v, p),
        "volumes" => canonicalize_volumes(v, p),
        "environment" => to_mapping(v, p, Unset::Null),
        "labels" | "annotations" | "sysctls" => to_mapping(v, p, Unset::Empty),
        "storage_opt" | "log_opt" => to_options(v, p),
        "logging" => logging(v, p),
        "depends_on" => depends_on(v, p),
        "networks" => service_networks(v, p),
        "extra_hosts" => extra_hosts(v, p),
        "env_file" => env_file(v, p),
        "label_file" | "dns_search" | "tmpfs" | "profiles" => to_string_list(v, p, false),
        "dns" => {
            to_string_list(v, p, false).or_else(|e| match v {
                // compose-go drops null and empty entries of `dns` (its OmitEmpty pass)
                // before reading the list.
                Value::Seq(_) => Ok(()),
                _ => Err(e),
            })?;
            if let Value::Seq(items) = v {
                items.retain(|i| !i.is_null() && i.as_str() != Some(""));
            }
            to_string_list(v, p, false)
        }
        "expose" | "group_add" => to_string_list(v, p, true),
        "secrets" => each_item(v, p, |r, rp| file_reference(r, rp, true)),
        "configs" => each_item(v, p, |r, rp| file_reference(r, rp, false)),
        "devices" => each_item(v, p, device),
        "ulimits" => ulimits(v, p),
        "command" | "entrypoint" => shell_command(v, p),
        "healthcheck" => healthcheck(v, p),
        "deploy" => deploy(v, p),
        "gpus" => gpus(v, p),
        "blkio_config" => blkio(v, p),
        "extends" => extends(v, p),
        "develop" => develop(v, p),
        "post_start" | "pre_stop" => each_item(v, p, hook),
        "pre_start" => each_item(v, p, pre_start_hook),
        "models" => models(v, p),
        "provider" => provider(v, p),
        "stop_grace_period" => to_duration(v, p),
        "cpus" | "cpu_percent" => to_float(v, p),
        "cpu_count" | "cpu_period" | "cpu_quota" | "cpu_rt_period" | "cpu_rt_runtime"
        | "cpu_shares" | "oom_score_adj" | "pids_limit" | "scale" => to_int(v, p),
        "mem_limit" | "mem_reservation" | "memswap_limit" | "mem_swappiness" | "shm_size" => {
            to_bytes(v, p)
        }
        "attach" | "init" | "oom_kill_disable" | "privileged" | "read_only" | "stdin_open"
        | "tty" | "use_api_socket" => to_bool(v, p),
        "cap_add"
        | "cap_drop"
        | "dns_opt"
        | "security_opt"
        | "links"
        | "external_links"
        | "volumes_from"
        | "device_cgroup_rules" => to_string_list(v, p, false),
        "cgroup" | "cgroup_parent" | "container_name" | "domainname" | "hostname" | "image"
        | "ipc" | "isolation" | "mac_address" | "network_mode" | "pid" | "platform"
        | "pull_policy" | "restart" | "runtime" | "stop_signal" | "user" | "userns_mode"
        | "uts" | "working_dir" | "cpuset" => to_string_scalar(v, p),
        // Extensions (`x-*`) and attributes without a short form stay as written.
        _ => Ok(()),
    }
}

/// `command` / `entrypoint`: a string is split into words as a shell would (without
/// expansions); a list is kept, its items as strings.
fn shell_command(v: &mut Value, p: &Path) -> Res {
    match v {
        Value::String(line) => match shellwords::split(line) {
            Some(words) => {
                *v = Value::Seq(words.into_iter().map(Value::String).collect());
                Ok(())
            }
            None => fail(p, "invalid command line string"),
        },
        Value::Seq(_) => to_string_list(v, p, true),
        Value::Null => Ok(()),
        other => fail(p, format!("invalid type {} for command", other.kind())),
    }
}

/// `healthcheck`: a string test runs through the shell (`[CMD-SHELL, test]`); durations in
/// Go notation.
fn healthcheck(v: &mut Value, p: &Path) -> Res {
    if v.is_null() {
        return Ok(());
    }
    let h = expect_map(v, p)?;
    with_key(h, p, "test", |t, tp| match t {
        Value::String(s) => {
            *t = Value::Seq(vec!["CMD-SHELL".into(), Value::String(std::mem::take(s))]);
            Ok(())
        }
        _ => to_string_list(t, tp, true),
    })?;
    for key in ["interval", "timeout", "start_period", "start_interval"] {
        with_key(h, p, key, to_duration)?;
    }
    with_key(h, p, "retries", to_int)?;
    with_key(h, p, "disable", to_bool)
}

fn logging(v: &mut Value, p: &Path) -> Res {
    if v.is_null() {
        return Ok(());
    }
    let l = expect_map(v, p)?;
    with_key(l, p, "options", to_options)
}

/// `extends: name` is `extends: {service: name}`.
fn extends(v: &mut Value, p: &Path) -> Res {
    match v {
        Value::String(name) => {
            let mut m = Map::new();
            m.insert("service".into(), Value::String(std::mem::take(name)));
            *v = Value::Map(m);
            Ok(())
        }
        Value::Map(_) | Value::Null => Ok(()),
        other => fail(p, format!("invalid type {} for extends", other.kind())),
    }
}

/// `develop.watch`: a rule watching several paths becomes one rule per path.
fn develop(v: &mut Value, p: &Path) -> Res {
    if v.is_null() {
        return Ok(());
    }
    let d = expect_map(v, p)?;
    with_key(d, p, "watch", |w, wp| {
        let Value::Seq(rules) = w else {
            return Ok(());
        };
        let mut out = Vec::with_capacity(rules.len());
        for (i, rule) in std::mem::take(rules).into_iter().enumerate() {
            let rp = wp.index(i);
            let Value::Map(mut r) = rule else {
                out.push(rule);
                continue;
            };
            with_key(&mut r, &rp, "ignore", |l, lp| to_string_list(l, lp, false))?;
            with_key(&mut r, &rp, "include", |l, lp| to_string_list(l, lp, false))?;
            with_key(&mut r, &rp, "initial_sync", to_bool)?;
            with_key(&mut r, &rp, "exec", hook)?;
            match r.get("path") {
                Some(Value::Seq(paths)) => {
                    for path in paths.clone() {
                        let mut one = r.clone();
                        one.insert("path".into(), path);
                        out.push(Value::Map(one));
                    }
                }
                _ => out.push(Value::Map(r)),
            }
        }
        *rules = out;
        Ok(())
    })
}

/// A lifecycle hook (`post_start`, `pre_stop`, `develop.watch[].exec`).
fn hook(v: &mut Value, p: &Path) -> Res {
    if v.is_null() {
        return Ok(());
    }
    let h = expect_map(v, p)?;
    with_key(h, p, "command", shell_command)?;
    with_key(h, p, "environment", |e, ep| to_mapping(e, ep, Unset::Null))?;
    with_key(h, p, "privileged", to_bool)
}

/// A `pre_start` hook: a lifecycle hook with an entrypoint and a `per_replica` switch too.
fn pre_start_hook(v: &mut Value, p: &Path) -> Res {
    hook(v, p)?;
    let Value::Map(h) = v else {
        return Ok(());
    };
    with_key(h, p, "entrypoint", shell_command)?;
    with_key(h, p, "per_replica", to_bool)
}

/// Service `models`: a list of names becomes a mapping to null.
fn models(v: &mut Value, p: &Path) -> Res {
    if let Value::Seq(items) = v {
        let mut map = Map::new();
        for (i, item) in items.iter().enumerate() {
            let Some(name) = go_sprint(item) else {
                return fail(
                    &p.index(i),
                    format!("invalid type {} for model", item.kind()),
                );
            };
            map.insert(name, Value::Null);
        }
        *v = Value::Map(map);
    }
    Ok(())
}

/// `provider.options`: every option is a list of strings (options may repeat).
fn provider(v: &mut Value, p: &Path) -> Res {
    if v.is_null() {
        return Ok(());
    }
    let pr = expect_map(v, p)?;
    with_key(pr, p, "options", |o, op| {
        each_value(o, op, |opt, optp| match opt {
            Value::Seq(_) => to_string_list(opt, optp, true),
            Value::Map(_) => fail(optp, "expected a scalar or a sequence"),
            Value::Null => {
                *opt = Value::Seq(vec![Value::String(String::new())]);
                Ok(())
            }
            other => {
                let s = go_sprint(other).unwrap_or_default();
                *other = Value::Seq(vec![Value::String(s)]);
                Ok(())
            }
        })
    })
}
