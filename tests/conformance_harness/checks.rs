//! The state checks of the corpus README ("State checks"), evaluated against an observation
//! (and the one before it), or through berth commands and berth's state directory where `ps`
//! does not show enough.

use serde_json::Value as Json;

use super::observe::{Container, Observation};
use super::run::Ctx;
use super::scenario::text;

/// The outcome of one check: `Err` says why it does not hold.
pub type Verdict = Result<(), String>;

fn field(arg: &Json, key: &str) -> Result<String, String> {
    arg.get(key)
        .and_then(text)
        .ok_or_else(|| format!("missing {key:?}"))
}

fn index(arg: &Json) -> u64 {
    arg.get("index").and_then(Json::as_u64).unwrap_or(1)
}

/// A service name, or a list of them (`not_recreated: svc` or `[a, b]`).
fn services(arg: &Json) -> Vec<String> {
    match arg {
        Json::Array(items) => items.iter().filter_map(text).collect(),
        other => text(other).into_iter().collect(),
    }
}

fn nonempty<'a>(list: Vec<&'a Container>, service: &str) -> Result<Vec<&'a Container>, String> {
    if list.is_empty() {
        Err(format!("service {service} has no container"))
    } else {
        Ok(list)
    }
}

fn replica<'a>(obs: &'a Observation, service: &str, number: u64) -> Result<&'a Container, String> {
    obs.replicas(service)
        .into_iter()
        .find(|c| c.number() == Some(number))
        .ok_or_else(|| format!("service {service} has no replica {number}"))
}

fn ids(list: &[&Container]) -> Vec<String> {
    let mut ids: Vec<String> = list.iter().map(|c| c.id.clone()).collect();
    ids.sort();
    ids
}

fn describe(list: &[&Container]) -> String {
    let parts: Vec<String> = list
        .iter()
        .map(|c| format!("{} ({})", c.name, c.state))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Evaluates check `kind` with `arg` (placeholders already substituted).
pub fn evaluate(
    ctx: &Ctx,
    kind: &str,
    arg: &Json,
    now: &Observation,
    before: Option<&Observation>,
) -> Verdict {
    let need_before = || before.ok_or_else(|| "no earlier observation to compare with".to_owned());
    match kind {
        "service_state" => {
            let service = field(arg, "service")?;
            let state = field(arg, "state")?;
            if state == "absent" {
                let all = now.all_of(&service);
                return if all.is_empty() {
                    Ok(())
                } else {
                    Err(format!("service {service} still has {}", describe(&all)))
                };
            }
            let list = nonempty(now.replicas(&service), &service)?;
            if list.iter().all(|c| c.state == state) {
                Ok(())
            } else {
                Err(format!(
                    "service {service} is not {state}: {}",
                    describe(&list)
                ))
            }
        }
        "exit_code" => {
            let service = field(arg, "service")?;
            let code = arg
                .get("code")
                .and_then(Json::as_i64)
                .ok_or("missing code")?;
            let list = nonempty(now.replicas(&service), &service)?;
            match list.iter().find(|c| c.exit_code != Some(code)) {
                None => Ok(()),
                Some(c) => Err(format!(
                    "{} exit code {:?}, want {code}",
                    c.name, c.exit_code
                )),
            }
        }
        "service_scale" => {
            let service = field(arg, "service")?;
            let want = arg
                .get("replicas")
                .and_then(Json::as_u64)
                .ok_or("missing replicas")?;
            let list = now.replicas(&service);
            if list.len() as u64 == want {
                Ok(())
            } else {
                Err(format!(
                    "service {service} has {} containers, want {want}: {}",
                    list.len(),
                    describe(&list)
                ))
            }
        }
        "replica_numbers" => {
            let service = field(arg, "service")?;
            let mut want: Vec<u64> = arg
                .get("numbers")
                .and_then(Json::as_array)
                .ok_or("missing numbers")?
                .iter()
                .filter_map(Json::as_u64)
                .collect();
            want.sort_unstable();
            let list = nonempty(now.replicas(&service), &service)?;
            let mut have: Vec<u64> = list.iter().filter_map(|c| c.number()).collect();
            have.sort_unstable();
            if have == want {
                Ok(())
            } else {
                Err(format!(
                    "service {service} has replicas {have:?}, want {want:?}"
                ))
            }
        }
        "health" => {
            let service = field(arg, "service")?;
            let status = field(arg, "status")?;
            let list = nonempty(now.replicas(&service), &service)?;
            match list.iter().find(|c| c.health != status) {
                None => Ok(()),
                Some(c) => Err(format!(
                    "{} health is {:?}, want {status}",
                    c.name, c.health
                )),
            }
        }
        "not_recreated" | "recreated" => {
            let before = need_before()?;
            for service in services(arg) {
                let old = before.replicas(&service);
                if old.is_empty() {
                    return Err(format!(
                        "service {service} had no container before the step"
                    ));
                }
                let new = nonempty(now.replicas(&service), &service)?;
                let (old_ids, new_ids) = (ids(&old), ids(&new));
                if kind == "not_recreated" && old_ids != new_ids {
                    return Err(format!(
                        "service {service} was recreated: {old_ids:?} -> {new_ids:?}"
                    ));
                }
                if kind == "recreated" && new_ids.iter().any(|id| old_ids.contains(id)) {
                    return Err(format!(
                        "service {service} kept a container: {old_ids:?} -> {new_ids:?}"
                    ));
                }
            }
            Ok(())
        }
        "label" => {
            let service = field(arg, "service")?;
            let (key, value) = (field(arg, "key")?, field(arg, "value")?);
            let list = nonempty(now.replicas(&service), &service)?;
            match list.iter().find(|c| c.labels.get(&key) != Some(&value)) {
                None => Ok(()),
                Some(c) => Err(format!(
                    "{} label {key} is {:?}, want {value:?}",
                    c.name,
                    c.labels.get(&key)
                )),
            }
        }
        "label_unchanged" => {
            let service = field(arg, "service")?;
            let key = field(arg, "key")?;
            let first = |obs: &Observation| {
                let mut list = obs.replicas(&service);
                list.sort_by(|a, b| a.name.cmp(&b.name));
                list.first().map(|c| c.labels.get(&key).cloned())
            };
            let old = first(need_before()?)
                .ok_or(format!("service {service} had no container before"))?;
            let new = first(now).ok_or(format!("service {service} has no container"))?;
            if old == new {
                Ok(())
            } else {
                Err(format!("label {key} changed: {old:?} -> {new:?}"))
            }
        }
        "one_off_state" => {
            let service = field(arg, "service")?;
            let state = field(arg, "state")?;
            let list = now.one_offs(&service);
            if list.is_empty() {
                return Err(format!("service {service} has no one-off container"));
            }
            if list.iter().all(|c| c.state == state) {
                Ok(())
            } else {
                Err(format!(
                    "one-offs of {service} are not {state}: {}",
                    describe(&list)
                ))
            }
        }
        "one_offs_untouched" => {
            let service = services(arg).into_iter().next().ok_or("missing service")?;
            let old = need_before()?.one_offs(&service);
            if old.is_empty() {
                return Err(format!("service {service} had no one-off container before"));
            }
            let new = now.one_offs(&service);
            let pairs = |list: &[&Container]| -> Vec<(String, String)> {
                list.iter()
                    .map(|c| (c.id.clone(), c.state.clone()))
                    .collect()
            };
            if pairs(&old) == pairs(&new) {
                Ok(())
            } else {
                Err(format!(
                    "one-offs of {service} changed: {} -> {}",
                    describe(&old),
                    describe(&new)
                ))
            }
        }
        "one_offs_removed" => {
            let service = services(arg).into_iter().next().ok_or("missing service")?;
            if need_before()?.one_offs(&service).is_empty() {
                return Err(format!("service {service} had no one-off container before"));
            }
            let new = now.one_offs(&service);
            if new.is_empty() {
                Ok(())
            } else {
                Err(format!("one-offs of {service} remain: {}", describe(&new)))
            }
        }
        "file_in_container" | "no_file_in_container" => {
            let service = field(arg, "service")?;
            let path = field(arg, "path")?;
            let out = ctx.exec(&service, index(arg), &["cat", &path]);
            if kind == "no_file_in_container" {
                return if out.status == Some(0) {
                    Err(format!("{path} exists in {service}"))
                } else {
                    Ok(())
                };
            }
            if out.status != Some(0) {
                return Err(format!("cat {path} in {service} failed: {}", out.summary()));
            }
            let contains = field(arg, "contains")?;
            if out.stdout.contains(&contains) {
                Ok(())
            } else {
                Err(format!(
                    "{path} in {service} lacks {contains:?}: {:?}",
                    out.stdout
                ))
            }
        }
        "host_file_contains" => {
            let path = ctx.dir.join(field(arg, "path")?);
            let contains = field(arg, "contains")?;
            let content =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if content.contains(&contains) {
                Ok(())
            } else {
                Err(format!("{} lacks {contains:?}", path.display()))
            }
        }
        "volume_file" => {
            let volume = format!("{}_{}", ctx.project, field(arg, "volume")?);
            let path = field(arg, "path")?;
            let file = ctx.volume_data(&volume)?.join(path.trim_start_matches('/'));
            let content =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            if let Some(want) = arg.get("contains").and_then(text)
                && !content.contains(&want)
            {
                return Err(format!(
                    "{path} in volume {volume} lacks {want:?}: {content:?}"
                ));
            }
            if let Some(unwanted) = arg.get("not_contains").and_then(text)
                && content.contains(&unwanted)
            {
                return Err(format!("{path} in volume {volume} contains {unwanted:?}"));
            }
            if let Some(lines) = arg.get("line_count").and_then(Json::as_u64) {
                let have = content.matches('\n').count() as u64;
                if have != lines {
                    return Err(format!(
                        "{path} in volume {volume} has {have} lines, want {lines}"
                    ));
                }
            }
            Ok(())
        }
        "volume_exists" => {
            let volume = format!("{}_{}", ctx.project, field(arg, "name")?);
            ctx.volume_inspect(&volume).map(|_| ())
        }
        "volume_label" => {
            let volume = format!("{}_{}", ctx.project, field(arg, "volume")?);
            let (key, value) = (field(arg, "key")?, field(arg, "value")?);
            let inspect = ctx.volume_inspect(&volume)?;
            let have = inspect
                .get("Labels")
                .and_then(|l| l.get(&key))
                .and_then(text);
            if have.as_deref() == Some(value.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "volume {volume} label {key} is {have:?}, want {value:?}"
                ))
            }
        }
        "network_exists" => {
            let network = format!("{}_{}", ctx.project, field(arg, "name")?);
            ctx.network_exists(&network)
        }
        "mounted_volume" => {
            let service = field(arg, "service")?;
            let volume = field(arg, "volume")?;
            let mut list = nonempty(now.replicas(&service), &service)?;
            list.sort_by(|a, b| a.name.cmp(&b.name));
            let first = list[0];
            if first.mounts.iter().any(|m| m == &volume) {
                Ok(())
            } else {
                Err(format!(
                    "{} mounts {:?}, not {volume}",
                    first.name, first.mounts
                ))
            }
        }
        "ip_address" => {
            let service = field(arg, "service")?;
            let want = field(arg, "address")?;
            replica(now, &service, 1)?;
            let out = ctx.exec(&service, 1, &["hostname", "-i"]);
            if out.status == Some(0) && out.stdout.split_whitespace().any(|a| a == want) {
                Ok(())
            } else {
                Err(format!(
                    "{service} address is not {want}: {}",
                    out.summary()
                ))
            }
        }
        "mac_address" => {
            let service = field(arg, "service")?;
            let want = field(arg, "address")?.to_lowercase();
            replica(now, &service, 1)?;
            let script = "cat /sys/class/net/*/address";
            let out = ctx.exec(&service, 1, &["sh", "-c", script]);
            if out.status == Some(0)
                && out
                    .stdout
                    .to_lowercase()
                    .split_whitespace()
                    .any(|a| a == want)
            {
                Ok(())
            } else {
                Err(format!(
                    "{service} has no interface with MAC {want}: {}",
                    out.summary()
                ))
            }
        }
        "ipc_mode" => {
            let service = field(arg, "service")?;
            replica(now, &service, 1)?;
            let ns = |service: &str| {
                let out = ctx.exec(service, 1, &["readlink", "/proc/1/ns/ipc"]);
                if out.status == Some(0) {
                    Ok(out.stdout.trim().to_owned())
                } else {
                    Err(format!(
                        "reading the ipc namespace of {service}: {}",
                        out.summary()
                    ))
                }
            };
            let mine = ns(&service)?;
            if let Some(other) = arg.get("joins_service").and_then(text) {
                let theirs = ns(&other)?;
                return if mine == theirs {
                    Ok(())
                } else {
                    Err(format!(
                        "{service} ipc {mine} differs from {other}'s {theirs}"
                    ))
                };
            }
            if arg.get("joins_container").is_some() {
                return Err(
                    "joins_container: needs external containers (not available in berth yet)"
                        .to_owned(),
                );
            }
            // shareable: a namespace of its own, not the host's.
            let host = std::fs::read_link("/proc/self/ns/ipc")
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            if mine != host {
                Ok(())
            } else {
                Err(format!("{service} shares the host's ipc namespace"))
            }
        }
        "container_name" => {
            let service = field(arg, "service")?;
            let want = field(arg, "name")?;
            let container = replica(now, &service, index(arg))?;
            if container.name == want {
                Ok(())
            } else {
                Err(format!("replica is named {}, want {want}", container.name))
            }
        }
        "port_published" | "port_not_published" => {
            let published = arg
                .get("published")
                .and_then(|v| text(v)?.parse::<u64>().ok())
                .ok_or("missing published")?;
            let target = arg
                .get("target")
                .and_then(|v| text(v)?.parse::<u64>().ok())
                .ok_or("missing target")?;
            let protocol = arg
                .get("protocol")
                .and_then(text)
                .unwrap_or_else(|| "tcp".to_owned());
            let found = now.containers.iter().any(|c| {
                c.publishers.iter().any(|p| {
                    p.published == published && p.target == target && p.protocol == protocol
                })
            });
            match (kind, found) {
                ("port_published", true) | ("port_not_published", false) => Ok(()),
                ("port_published", false) => Err(format!(
                    "no container publishes {published}:{target}/{protocol}"
                )),
                _ => Err(format!(
                    "a container publishes {published}:{target}/{protocol}"
                )),
            }
        }
        "image_exists" => {
            let reference = text(arg).ok_or("missing image reference")?;
            ctx.image_id(&reference).map(|_| ())
        }
        "image_tags" => {
            let image = field(arg, "image")?;
            let id = ctx.image_id(&image)?;
            let includes = arg
                .get("includes")
                .and_then(Json::as_array)
                .ok_or("missing includes")?;
            for other in includes.iter().filter_map(text) {
                let other_id = ctx.image_id(&other)?;
                if other_id != id {
                    return Err(format!("{other} is image {other_id}, not {image}'s {id}"));
                }
            }
            Ok(())
        }
        other => Err(format!("unknown check {other:?}")),
    }
}
