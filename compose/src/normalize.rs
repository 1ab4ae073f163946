//! The normalization stage: implicit defaults made explicit on the merged tree.
//!
//! This follows compose-go's `loader/normalize.go`, which also works on a plain tree: the
//! implicit `default` network, resource names, build defaults, values of bare environment
//! entries and build args taken from the environment, and the `depends_on` entries that
//! `links`, `volumes_from` and `service:` namespace references imply. Docker Compose prints
//! the result with `docker compose config`, so every filled-in value is visible there.

use crate::error::{Error, Result};
use crate::value::{Map, Value};

/// The keys of a service whose `service:<name>` value shares a namespace of another service,
/// and so makes the service depend on it.
const NAMESPACE_KEYS: [&str; 5] = ["network_mode", "ipc", "pid", "uts", "cgroup"];

/// The top-level sections whose entries get a `name`.
const NAMED_RESOURCES: [&str; 4] = ["networks", "volumes", "configs", "secrets"];

/// Normalizes a merged project tree in place, the way compose-go's `Normalize` does.
///
/// `env` looks up variables of the project environment: bare `environment` entries and null
/// build args take their values from it. The project name is the tree's `name`.
/// Short forms of `depends_on` (a list) and service `networks` (a list) are accepted and come
/// out in long form.
pub fn normalize(tree: &mut Value, env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    let Some(project) = tree.as_map_mut() else {
        return Err(Error::schema(format!(
            "Top-level object must be a mapping, not a {}",
            tree.kind()
        )));
    };
    attach_default_network(project);
    if let Some(services) = project.get_mut("services").and_then(Value::as_map_mut) {
        for service in services.values_mut() {
            if let Some(service) = service.as_map_mut() {
                normalize_service(service, env);
            }
        }
    }
    name_resources(project);
    Ok(())
}

/// Attaches services without networks to `default`, and declares `default` when some service
/// uses it. Services with a `network_mode` or a `provider` have no networks of their own.
fn attach_default_network(project: &mut Map) {
    let mut uses_default = false;
    if let Some(services) = project.get_mut("services").and_then(Value::as_map_mut) {
        for service in services.values_mut() {
            let Some(service) = service.as_map_mut() else {
                continue;
            };
            if service.contains_key("provider") || service.contains_key("network_mode") {
                continue;
            }
            let networks = service
                .get_mut("networks")
                .map(std::mem::take)
                .map(networks_to_map)
                .unwrap_or_default();
            let networks = if networks.is_empty() {
                Map::from([("default".to_string(), Value::Null)])
            } else {
                networks
            };
            uses_default |= networks.contains_key("default");
            service.insert("networks".to_string(), Value::Map(networks));
        }
    }
    if !uses_default {
        return;
    }
    // A `networks:` section left empty reads as null; it declares nothing yet.
    let networks = project.entry("networks".to_string()).or_insert(Value::Null);
    if networks.is_null() {
        *networks = Value::Map(Map::new());
    }
    // Anything but a mapping is a schema error reported by validation; leave it as it is.
    if let Value::Map(networks) = networks {
        networks.entry("default".to_string()).or_insert(Value::Null);
    }
}

/// A service's `networks` as a mapping: the list form becomes names with null values.
fn networks_to_map(networks: Value) -> Map {
    match networks {
        Value::Map(m) => m,
        Value::Seq(items) => items
            .into_iter()
            .filter_map(|item| item.scalar_to_string())
            .map(|name| (name, Value::Null))
            .collect(),
        _ => Map::new(),
    }
}

/// Normalizes one service.
fn normalize_service(service: &mut Map, env: &dyn Fn(&str) -> Option<String>) {
    if service.get("pull_policy").and_then(Value::as_str) == Some("if_not_present") {
        service.insert("pull_policy".to_string(), "missing".into());
    }
    if let Some(build) = service.get_mut("build") {
        normalize_build(build, env);
    }
    if let Some(environment) = service.get_mut("environment") {
        resolve_from_env(environment, env, true);
    }
    add_implicit_dependencies(service);
    clean_volume_targets(service);
    inherit_image_in_pre_start(service);
}

/// Build defaults: context `.`, dockerfile `Dockerfile` (unless inline), null args resolved.
fn normalize_build(build: &mut Value, env: &dyn Fn(&str) -> Option<String>) {
    // The short syntax `build: ./dir` names the context; an empty `build:` builds `.`.
    match build {
        Value::String(context) => {
            let context = std::mem::take(context);
            *build = Value::Map(Map::from([("context".to_string(), context.into())]));
        }
        Value::Null => *build = Value::Map(Map::new()),
        _ => {}
    }
    let Some(build) = build.as_map_mut() else {
        return;
    };
    if is_unset(build.get("context")) {
        build.insert("context".to_string(), ".".into());
    }
    if is_unset(build.get("dockerfile")) && is_unset(build.get("dockerfile_inline")) {
        build.insert("dockerfile".to_string(), "Dockerfile".into());
    }
    if let Some(args) = build.get_mut("args") {
        resolve_from_env(args, env, false);
    }
}

/// Whether a key is absent or null.
fn is_unset(value: Option<&Value>) -> bool {
    value.is_none_or(Value::is_null)
}

/// Gives entries without a value (`KEY` in a list, `KEY: null` in a mapping) the value of the
/// variable in `env`. When `env` lacks it, the entry stays bare if `keep_unset` (environment:
/// the container then simply lacks it) and is dropped otherwise (build args).
pub(crate) fn resolve_from_env(
    entries: &mut Value,
    env: &dyn Fn(&str) -> Option<String>,
    keep_unset: bool,
) {
    match entries {
        Value::Seq(items) => {
            let resolved = std::mem::take(items)
                .into_iter()
                .filter_map(|item| match item {
                    Value::String(entry) if entry.contains('=') => Some(Value::String(entry)),
                    Value::String(name) => match env(&name) {
                        Some(value) => Some(Value::String(format!("{name}={value}"))),
                        None => keep_unset.then_some(Value::String(name)),
                    },
                    // compose-go drops list entries that are not strings; the schema only
                    // allows strings there, so this only matters with validation off.
                    _ => None,
                })
                .collect();
            *items = resolved;
        }
        Value::Map(map) => {
            let resolved = std::mem::take(map)
                .into_iter()
                .filter_map(|(name, value)| {
                    if !value.is_null() {
                        return Some((name, value));
                    }
                    match env(&name) {
                        Some(found) => Some((name, Value::String(found))),
                        None => keep_unset.then_some((name, Value::Null)),
                    }
                })
                .collect();
            *map = resolved;
        }
        _ => {}
    }
}

/// Adds the `depends_on` entries implied by `links`, `service:` namespace references and
/// `volumes_from`, without touching dependencies declared explicitly.
fn add_implicit_dependencies(service: &mut Map) {
    let mut implied: Vec<(String, bool)> = Vec::new();
    if let Some(links) = service.get("links").and_then(Value::as_seq) {
        for link in links.iter().filter_map(Value::as_str) {
            // `service:alias`; compose-go only splits when there is exactly one colon.
            let target = match link.split_once(':') {
                Some((name, alias)) if !alias.contains(':') => name,
                _ => link,
            };
            implied.push((target.to_string(), true));
        }
    }
    for key in NAMESPACE_KEYS {
        let reference = service.get(key).and_then(Value::as_str);
        if let Some(name) = reference.and_then(|r| r.strip_prefix("service:")) {
            implied.push((name.to_string(), true));
        }
    }
    if let Some(sources) = service.get("volumes_from").and_then(Value::as_seq) {
        for source in sources.iter().filter_map(Value::as_str) {
            if source.starts_with("container:") {
                continue;
            }
            // `service[:ro|:rw]`
            let name = source.split(':').next().unwrap_or(source);
            implied.push((name.to_string(), false));
        }
    }

    // Converted in place, so that the entry keeps its position in the service.
    let declared = service.get_mut("depends_on").map(std::mem::take);
    let had_depends_on = declared.is_some();
    let mut depends_on = declared.map(depends_on_to_map).unwrap_or_default();
    for (name, restart) in implied {
        depends_on.entry(name).or_insert_with(|| {
            Value::Map(Map::from([
                ("condition".to_string(), "service_started".into()),
                ("restart".to_string(), restart.into()),
                ("required".to_string(), true.into()),
            ]))
        });
    }
    if had_depends_on || !depends_on.is_empty() {
        service.insert("depends_on".to_string(), Value::Map(depends_on));
    }
}

/// `depends_on` in long form: the list form means "started, required" for each name.
fn depends_on_to_map(declared: Value) -> Map {
    match declared {
        Value::Map(m) => m,
        Value::Seq(items) => items
            .into_iter()
            .filter_map(|item| item.scalar_to_string())
            .map(|name| {
                let dependency = Map::from([
                    ("condition".to_string(), "service_started".into()),
                    ("required".to_string(), true.into()),
                ]);
                (name, Value::Map(dependency))
            })
            .collect(),
        _ => Map::new(),
    }
}

/// Cleans the container paths of long-form volumes (`/data/` -> `/data`), as compose-go does
/// so that mounts of the same path compare equal.
fn clean_volume_targets(service: &mut Map) {
    let Some(volumes) = service.get_mut("volumes").and_then(|v| match v {
        Value::Seq(items) => Some(items),
        _ => None,
    }) else {
        return;
    };
    for volume in volumes.iter_mut().filter_map(Value::as_map_mut) {
        if let Some(Value::String(target)) = volume.get_mut("target") {
            *target = crate::paths::clean(target);
        }
    }
}

/// `pre_start` hooks run a container of the service's image unless they name their own.
fn inherit_image_in_pre_start(service: &mut Map) {
    let Some(image) = service.get("image").filter(|i| !i.is_null()).cloned() else {
        return;
    };
    let Some(Value::Seq(hooks)) = service.get_mut("pre_start") else {
        return;
    };
    for hook in hooks.iter_mut().filter_map(Value::as_map_mut) {
        if is_unset(hook.get("image")) {
            hook.insert("image".to_string(), image.clone());
        }
    }
}

/// Gives every network, volume, config and secret without a `name` its name: the key for an
/// external resource, `<project>_<key>` otherwise.
fn name_resources(project: &mut Map) {
    let project_name = project
        .get("name")
        .and_then(Value::scalar_to_string)
        .unwrap_or_default();
    for section in NAMED_RESOURCES {
        let Some(resources) = project.get_mut(section).and_then(Value::as_map_mut) else {
            continue;
        };
        for (key, resource) in resources.iter_mut() {
            if resource.is_null() {
                *resource = Value::Map(Map::new());
            }
            let Some(resource) = resource.as_map_mut() else {
                continue;
            };
            if !is_unset(resource.get("name")) {
                continue;
            }
            let name = match resource.get("external") {
                // The deprecated `external: {name: x}` names the resource.
                Some(Value::Map(external)) => external
                    .get("name")
                    .and_then(Value::scalar_to_string)
                    .unwrap_or_else(|| format!("{project_name}_{key}")),
                Some(external) if is_true(external) => key.clone(),
                _ => format!("{project_name}_{key}"),
            };
            resource.insert("name".to_string(), name.into());
        }
    }
}

/// Whether a value reads as true the way Go's `strconv.ParseBool` reads it.
fn is_true(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Int(i) => *i == 1,
        Value::String(s) => matches!(s.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"),
        _ => false,
    }
}
