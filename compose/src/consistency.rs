//! The consistency check of a loaded project, as compose-go's `checkConsistency`: every
//! reference resolves (networks, volumes, secrets, configs, models, services), mounts do not
//! collide, counts are sane, and services do not depend on each other in a cycle.
//!
//! It works on the merged, canonical, normalized tree: `depends_on`, `networks` and service
//! `models` are mappings, `volumes` are `{type, source, target, ...}` mappings, `secrets` and
//! `configs` are `{source, ...}` mappings, `tmpfs` is a list of `path[:options]` strings.

use crate::error::{Error, ErrorKind, Result};
use crate::units::parse_bytes;
use crate::value::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The suffix compose-go's `errdefs.ErrInvalid` adds to most of these messages.
const INVALID: &str = "invalid compose project";

fn fail(message: String) -> Error {
    Error::new(ErrorKind::Consistency, message)
}

fn invalid(message: String) -> Error {
    fail(format!("{message}: {INVALID}"))
}

/// The keys of a top-level section (`networks`, `volumes`, ...).
fn section<'a>(tree: &'a Value, key: &str) -> Option<&'a Map> {
    tree.get(key).and_then(Value::as_map)
}

fn defined(tree: &Value, key: &str, name: &str) -> bool {
    section(tree, key).is_some_and(|m| m.contains_key(name))
}

/// A non-empty string attribute.
fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Names used by a list or mapping (a service's `networks`, `models`, `depends_on`).
fn names(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Map(m)) => m.keys().cloned().collect(),
        Some(Value::Seq(items)) => items.iter().filter_map(Value::scalar_to_string).collect(),
        _ => Vec::new(),
    }
}

/// The `source` of secret/config references, in long or short form.
fn sources(v: Option<&Value>) -> Vec<String> {
    let Some(items) = v.and_then(Value::as_seq) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::String(s) => Some(s.clone()),
            other => other.get("source").and_then(Value::scalar_to_string),
        })
        .collect()
}

/// An integer that may still be written as a string.
fn integer(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Int(i) => Some(*i),
        Value::Float(f) if f.fract() == 0.0 => Some(*f as i64),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A number that may still be written as a string (`cpus: "0.5"`).
fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A byte size: a number of bytes or a string with a unit.
fn bytes(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Int(i) => Some(*i),
        Value::Float(f) => Some(*f as i64),
        Value::String(s) => parse_bytes(s).ok(),
        _ => None,
    }
}

/// Checks the project; the first inconsistency found, in compose-go's order and words.
pub fn check(tree: &Value) -> Result<()> {
    let services = section(tree, "services");
    for (name, service) in services.into_iter().flatten() {
        check_service(tree, name, service)?;
    }
    for (name, secret) in section(tree, "secrets").into_iter().flatten() {
        let external = secret
            .as_map()
            .is_some_and(crate::schema::semantic::is_external);
        if !external && text(secret, "file").is_none() && text(secret, "environment").is_none() {
            return Err(invalid(format!(
                "secret {name:?} must declare either `file` or `environment`"
            )));
        }
    }
    check_cycles(services)
}

fn check_service(tree: &Value, name: &str, service: &Value) -> Result<()> {
    let build = service.get("build").filter(|b| !b.is_null());
    if build.is_none() && text(service, "image").is_none() {
        return Err(invalid(format!(
            "service {name:?} has neither an image nor a build context specified"
        )));
    }
    if let Some(build) = build {
        check_build(name, service, build)?;
    }
    let networks = names(service.get("networks"));
    if text(service, "network_mode").is_some() && !networks.is_empty() {
        return Err(invalid(format!(
            "service {name} declares mutually exclusive `network_mode` and `networks`"
        )));
    }
    for network in &networks {
        if !defined(tree, "networks", network) {
            return Err(invalid(format!(
                "service {name:?} refers to undefined network {network}"
            )));
        }
    }
    let test = service.get("healthcheck").and_then(|h| h.get("test"));
    if let Some(first) = test.and_then(Value::as_seq).and_then(|t| t.first()) {
        if !matches!(first.as_str(), Some("CMD" | "CMD-SHELL" | "NONE")) {
            return Err(fail(
                "healthcheck.test must start either by \"CMD\", \"CMD-SHELL\" or \"NONE\"".into(),
            ));
        }
    }
    check_dependencies(tree, name, service)?;
    if let Some(target) = text(service, "network_mode").and_then(|m| m.strip_prefix("service:")) {
        if !defined(tree, "services", target) {
            return Err(fail(format!(
                "service {target:?} not found for network_mode 'service:{target}'"
            )));
        }
    }
    check_mounts(tree, name, service)?;
    check_references(tree, name, service)?;
    check_counts(name, service)?;
    let watch = service
        .get("develop")
        .and_then(|d| d.get("watch"))
        .and_then(Value::as_seq);
    for rule in watch.into_iter().flatten() {
        if text(rule, "action") != Some("rebuild") && text(rule, "target").is_none() {
            return Err(invalid(format!(
                "services.{name}.develop.watch: target is required for non-rebuild actions"
            )));
        }
    }
    Ok(())
}

fn check_build(name: &str, service: &Value, build: &Value) -> Result<()> {
    if text(build, "dockerfile_inline").is_some() && text(build, "dockerfile").is_some() {
        return Err(invalid(format!(
            "service {name:?} declares mutualy exclusive dockerfile and dockerfile_inline"
        )));
    }
    let platforms = names(build.get("platforms"));
    if let Some(platform) = text(service, "platform") {
        if !platforms.is_empty() && !platforms.iter().any(|p| p == platform) {
            return Err(invalid(format!(
                "service.build.platforms MUST include service.platform {platform:?}"
            )));
        }
    }
    Ok(())
}

fn check_dependencies(tree: &Value, name: &str, service: &Value) -> Result<()> {
    let depends_on = service.get("depends_on");
    for dependency in names(depends_on) {
        if defined(tree, "services", &dependency) {
            continue;
        }
        // An optional dependency may point at a service its profile disabled; the tree no
        // longer holds those, so an optional dependency is never an error here.
        let required = depends_on
            .and_then(|d| d.get(&dependency))
            .and_then(|d| d.get("required"));
        if required == Some(&Value::Bool(false)) {
            continue;
        }
        return Err(invalid(format!(
            "service {name:?} depends on undefined service {dependency:?}"
        )));
    }
    Ok(())
}

/// Named volumes must be declared, and no two mounts may share a target.
fn check_mounts(tree: &Value, name: &str, service: &Value) -> Result<()> {
    let volumes = service.get("volumes").and_then(Value::as_seq);
    for volume in volumes.into_iter().flatten() {
        if text(volume, "type") != Some("volume") {
            continue;
        }
        if let Some(source) = text(volume, "source") {
            if !defined(tree, "volumes", source) {
                return Err(invalid(format!(
                    "service {name:?} refers to undefined volume {source}"
                )));
            }
        }
    }
    let mut mounted: HashMap<String, String> = HashMap::new();
    let tmpfs: Vec<String> = match service.get("tmpfs") {
        Some(Value::String(s)) => vec![s.clone()],
        other => names(other),
    };
    let tmpfs_targets = tmpfs
        .iter()
        .map(|t| t.split(':').next().unwrap_or("").to_string());
    let volume_targets = volumes
        .into_iter()
        .flatten()
        .map(|v| text(v, "target").unwrap_or("").to_string());
    let all = tmpfs_targets
        .enumerate()
        .map(|(i, t)| (format!("services.{name}.tmpfs[{i}]"), t))
        .chain(
            volume_targets
                .enumerate()
                .map(|(i, t)| (format!("services.{name}.volumes[{i}]"), t)),
        );
    for (place, target) in all {
        if target.is_empty() {
            continue;
        }
        if let Some(first) = mounted.get(&target) {
            return Err(fail(format!(
                "{place}: target {target} already mounted as {first}"
            )));
        }
        mounted.insert(target, place);
    }
    Ok(())
}

/// Build secrets, configs, secrets and models must be declared at the top level.
fn check_references(tree: &Value, name: &str, service: &Value) -> Result<()> {
    let build_secrets = sources(service.get("build").and_then(|b| b.get("secrets")));
    for secret in build_secrets {
        if !defined(tree, "secrets", &secret) {
            return Err(invalid(format!(
                "service {name:?} refers to undefined build secret {secret}"
            )));
        }
    }
    for config in sources(service.get("configs")) {
        if !defined(tree, "configs", &config) {
            return Err(invalid(format!(
                "service {name:?} refers to undefined config {config}"
            )));
        }
    }
    for secret in sources(service.get("secrets")) {
        if !defined(tree, "secrets", &secret) {
            return Err(invalid(format!(
                "service {name:?} refers to undefined secret {secret}"
            )));
        }
    }
    for model in names(service.get("models")) {
        if !defined(tree, "models", &model) {
            return Err(invalid(format!(
                "service {name:?} refers to undefined model {model}"
            )));
        }
    }
    Ok(())
}

/// Scale and replicas, and the resources that can be set in two places.
fn check_counts(name: &str, service: &Value) -> Result<()> {
    let deploy = service.get("deploy").filter(|d| !d.is_null());
    let scale = integer(service.get("scale"));
    let replicas = integer(deploy.and_then(|d| d.get("replicas")));
    for (attribute, count) in [("scale", scale), ("deploy.replicas", replicas)] {
        if count.is_some_and(|c| c < 0) {
            return Err(fail(format!(
                "services.{name}.{attribute}: must be greater than or equal to 0"
            )));
        }
    }
    if let (Some(scale), Some(replicas)) = (scale, replicas) {
        if scale != replicas {
            return Err(invalid(format!(
                "services.{name}: can't set distinct values on 'scale' and 'deploy.replicas'"
            )));
        }
    }
    let resources = deploy.and_then(|d| d.get("resources"));
    let limits = resources.and_then(|r| r.get("limits"));
    let reservations = resources.and_then(|r| r.get("reservations"));
    let pairs = [
        (
            "cpus",
            "deploy.resources.limits.cpus",
            differ(
                number(service.get("cpus")),
                number(limits.and_then(|l| l.get("cpus"))),
            ),
        ),
        (
            "mem_limit",
            "deploy.resources.limits.memory",
            differ(
                bytes(service.get("mem_limit")),
                bytes(limits.and_then(|l| l.get("memory"))),
            ),
        ),
        (
            "mem_reservation",
            "deploy.resources.reservations.memory",
            differ(
                bytes(service.get("mem_reservation")),
                bytes(reservations.and_then(|r| r.get("memory"))),
            ),
        ),
        (
            "pids_limit",
            "deploy.resources.limits.pids",
            differ(
                integer(service.get("pids_limit")),
                integer(limits.and_then(|l| l.get("pids"))),
            ),
        ),
    ];
    for (short, long, distinct) in pairs {
        if distinct {
            return Err(invalid(format!(
                "services.{name}: can't set distinct values on '{short}' and '{long}'"
            )));
        }
    }
    let effective = scale.or(replicas).unwrap_or(1);
    if effective > 1 && text(service, "container_name").is_some() {
        let attribute = if scale.is_some() {
            "scale"
        } else {
            "deploy.replicas"
        };
        return Err(invalid(format!(
            "services.{name}: can't set container_name and {attribute} as container name must be unique"
        )));
    }
    Ok(())
}

/// Whether two settings of the same thing are both present and disagree.
fn differ<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a != b)
}

/// `depends_on` must not loop. Services and their dependencies are visited in name order,
/// as compose-go does, so that the reported cycle is always the same.
fn check_cycles(services: Option<&Map>) -> Result<()> {
    let Some(services) = services else {
        return Ok(());
    };
    let graph: BTreeMap<&str, BTreeSet<String>> = services
        .iter()
        .map(|(name, service)| {
            let deps = names(service.get("depends_on"))
                .into_iter()
                .filter(|d| services.contains_key(d))
                .collect();
            (name.as_str(), deps)
        })
        .collect();
    // Services from which every path has been explored without meeting a cycle.
    let mut settled: BTreeSet<String> = BTreeSet::new();
    for start in graph.keys() {
        let mut path = vec![start.to_string()];
        search_cycle(&graph, &mut path, &mut settled)?;
    }
    Ok(())
}

fn search_cycle(
    graph: &BTreeMap<&str, BTreeSet<String>>,
    path: &mut Vec<String>,
    settled: &mut BTreeSet<String>,
) -> Result<()> {
    let Some(current) = path.last().cloned() else {
        return Ok(());
    };
    if settled.contains(&current) {
        return Ok(());
    }
    for next in graph.get(current.as_str()).into_iter().flatten() {
        if let Some(i) = path.iter().position(|p| p == next) {
            let cycle = path.get(i..).unwrap_or_default().join(" -> ");
            return Err(fail(format!(
                "dependency cycle detected: {cycle} -> {next}"
            )));
        }
        path.push(next.clone());
        search_cycle(graph, path, settled)?;
        path.pop();
    }
    settled.insert(current);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn message(text: &str) -> String {
        let doc = yaml::parse(text, "c.yaml").expect("parses").remove(0);
        check(&doc.value).expect_err("inconsistent").message
    }

    #[test]
    fn undefined_references() {
        assert_eq!(
            message("services:\n  a:\n    image: x\n    networks: {front: null}\n"),
            "service \"a\" refers to undefined network front: invalid compose project"
        );
        assert_eq!(
            message(
                "services:\n  a:\n    image: x\n    depends_on: {b: {condition: service_started}}\n"
            ),
            "service \"a\" depends on undefined service \"b\": invalid compose project"
        );
        assert_eq!(
            message("services:\n  a:\n    image: x\n    configs: [{source: c}]\n"),
            "service \"a\" refers to undefined config c: invalid compose project"
        );
        assert_eq!(
            message("services:\n  a:\n    image: x\n    network_mode: \"service:b\"\n"),
            "service \"b\" not found for network_mode 'service:b'"
        );
    }

    #[test]
    fn optional_dependencies_may_be_missing() {
        let doc = yaml::parse(
            "services:\n  a:\n    image: x\n    depends_on: {b: {condition: service_started, required: false}}\n",
            "c.yaml",
        )
        .expect("parses")
        .remove(0);
        assert_eq!(check(&doc.value), Ok(()));
    }

    #[test]
    fn counts_and_cycles() {
        assert_eq!(
            message("services:\n  a:\n    image: x\n    scale: 2\n    deploy: {replicas: 3}\n"),
            "services.a: can't set distinct values on 'scale' and 'deploy.replicas': invalid compose project"
        );
        assert_eq!(
            message("services:\n  a:\n    image: x\n    scale: 2\n    container_name: c\n"),
            "services.a: can't set container_name and scale as container name must be unique: invalid compose project"
        );
        assert_eq!(
            message(
                "services:\n  b:\n    image: x\n    depends_on: {a: {}}\n  a:\n    image: x\n    depends_on: {b: {}}\n"
            ),
            "dependency cycle detected: a -> b -> a"
        );
        assert_eq!(
            message("services:\n  a:\n    image: x\n    healthcheck: {test: [curl]}\n"),
            "healthcheck.test must start either by \"CMD\", \"CMD-SHELL\" or \"NONE\""
        );
        assert_eq!(
            message("services:\n  a:\n    image: x\nsecrets:\n  s: {labels: {a: b}}\n"),
            "secret \"s\" must declare either `file` or `environment`: invalid compose project"
        );
    }
}
