//! Checks the JSON schema cannot express, done by compose-go right after it (its
//! `transform` and `validation` packages): conflicting `external` settings, device requests,
//! exclusive file sources, blank watch paths, invalid host IPs, environment keys with
//! trailing spaces.

use super::walk::dotted;
use crate::error::{Error, Warning};
use crate::value::{Map, Path, Value};
use crate::yaml::Positions;

/// The resource sections whose entries may be `external`.
const RESOURCE_KINDS: [&str; 4] = ["networks", "volumes", "secrets", "configs"];

fn error_at(positions: &Positions, path: &Path, message: String) -> Error {
    Error::schema(message).at(positions.find(path))
}

fn entries<'a>(tree: &'a Value, key: &str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    tree.get(key).and_then(Value::as_map).into_iter().flatten()
}

/// Go's `strconv.ParseBool` for the values it accepts as true.
fn parses_as_true(s: &str) -> bool {
    matches!(s, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

/// Whether a resource is declared `external` (a flag, a string flag, or the `{name}` form).
pub fn is_external(resource: &Map) -> bool {
    match resource.get("external") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => parses_as_true(s),
        Some(Value::Map(_)) => true,
        _ => false,
    }
}

/// Checks of one file, before it is merged with others (compose-go's canonical transform).
pub fn check_file(tree: &Value, positions: &Positions) -> Result<Vec<Warning>, Error> {
    let mut warnings = Vec::new();
    for kind in RESOURCE_KINDS {
        for (name, resource) in entries(tree, kind) {
            let Some(resource) = resource.as_map() else {
                continue;
            };
            let path = Path::root().key(kind).key(name);
            let Some(external_name) = resource.get("external").and_then(|e| e.get("name")) else {
                continue;
            };
            if resource.get("name").is_some_and(|n| n != external_name) {
                return Err(error_at(
                    positions,
                    &path.key("external").key("name"),
                    format!("{kind}.{name}: name and external.name conflict; only use name"),
                ));
            }
            warnings.push(Warning {
                message: format!(
                    "{kind}.{name}: external.name is deprecated. Please set name and external: true"
                ),
                location: positions.find(&path.key("external").key("name")),
            });
        }
    }
    for (name, service) in entries(tree, "services") {
        let path = Path::root().key("services").key(name);
        check_environment_keys(service, &path, positions)?;
        let reservations = Path::root()
            .key("deploy")
            .key("resources")
            .key("reservations")
            .key("devices");
        for (rel, requests) in [
            (reservations, device_requests(service)),
            (Path::root().key("gpus"), service.get("gpus")),
        ] {
            let Some(list) = requests.and_then(Value::as_seq) else {
                continue;
            };
            for (i, request) in list.iter().enumerate() {
                let mut p = path.clone();
                p.0.extend(rel.0.iter().cloned());
                check_device_request(request, &p.index(i), positions)?;
            }
        }
    }
    // Merging only adds to what a file says, so these merged-tree checks cannot reject a
    // file that the merged project would accept; running them here reports the error
    // against the file that has it.
    check_external_volumes(tree, positions)?;
    check_service_values(tree, positions)?;
    Ok(warnings)
}

fn device_requests(service: &Value) -> Option<&Value> {
    service
        .get("deploy")?
        .get("resources")?
        .get("reservations")?
        .get("devices")
}

/// A device request may count devices or list them, not both; a count is a number or `all`.
fn check_device_request(request: &Value, path: &Path, positions: &Positions) -> Result<(), Error> {
    let Some(map) = request.as_map() else {
        return Ok(());
    };
    if map.contains_key("count") && map.contains_key("device_ids") {
        return Err(error_at(
            positions,
            path,
            format!(
                "{}: \"count\" and \"device_ids\" attributes are exclusive",
                dotted(path)
            ),
        ));
    }
    if let Some(Value::String(count)) = map.get("count") {
        if !count.eq_ignore_ascii_case("all") && count.parse::<i64>().is_err() {
            return Err(error_at(
                positions,
                &path.key("count"),
                format!(
                    "{}: invalid value \"{count}\", the only value allowed is 'all' or a number",
                    dotted(&path.key("count"))
                ),
            ));
        }
    }
    Ok(())
}

/// `KEY =value` in the list form of `environment` declares a variable named `KEY `.
fn check_environment_keys(
    service: &Value,
    path: &Path,
    positions: &Positions,
) -> Result<(), Error> {
    let Some(list) = service.get("environment").and_then(Value::as_seq) else {
        return Ok(());
    };
    for (i, entry) in list.iter().enumerate() {
        let Some(text) = entry.as_str() else { continue };
        let key = text.split_once('=').map_or(text, |(k, _)| k);
        if key.trim_end() != key {
            return Err(error_at(
                positions,
                &path.key("environment").index(i),
                format!("environment variable {key} is declared with a trailing space"),
            ));
        }
    }
    Ok(())
}

/// Checks of the merged project tree (compose-go's `validation` package, which runs once all
/// files are merged, so that an override may complete a resource of an earlier file).
pub fn check_merged(tree: &Value, positions: &Positions) -> Result<(), Error> {
    check_external_volumes(tree, positions)?;
    check_file_sources(tree, positions)?;
    check_service_values(tree, positions)
}

/// An external volume exists already: it can have a name, nothing that would create it.
fn check_external_volumes(tree: &Value, positions: &Positions) -> Result<(), Error> {
    for (name, volume) in entries(tree, "volumes") {
        let Some(volume) = volume.as_map() else {
            continue;
        };
        if !is_external(volume) {
            continue;
        }
        let path = Path::root().key("volumes").key(name);
        for key in volume.keys() {
            if !matches!(key.as_str(), "name" | "external") && !key.starts_with("x-") {
                return Err(error_at(
                    positions,
                    &path.key(key),
                    format!(
                        "volumes.{name}: conflicting parameters \"external\" and \"{key}\" specified"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A config takes its content from exactly one of `file`, `environment`, `content` (a
/// secret: `file`, `environment`), unless a driver or an external one provides it. Only
/// checked on the merged tree: an override may add labels to a secret of another file.
fn check_file_sources(tree: &Value, positions: &Positions) -> Result<(), Error> {
    for (kind, sources) in [
        ("configs", &["file", "environment", "content"][..]),
        ("secrets", &["file", "environment"][..]),
    ] {
        for (name, resource) in entries(tree, kind) {
            let Some(resource) = resource.as_map() else {
                continue;
            };
            let path = Path::root().key(kind).key(name);
            let count = sources
                .iter()
                .filter(|k| resource.contains_key(**k))
                .count();
            let list = sources.join("|");
            if count > 1 {
                return Err(error_at(
                    positions,
                    &path,
                    format!("{kind}.{name}: {list} attributes are mutually exclusive"),
                ));
            }
            if count == 0 && !resource.contains_key("driver") && !resource.contains_key("external")
            {
                return Err(error_at(
                    positions,
                    &path,
                    format!("{kind}.{name}: one of {list} must be set"),
                ));
            }
        }
    }
    Ok(())
}

/// Published ports' `host_ip` must be an address; watch rules need a path.
fn check_service_values(tree: &Value, positions: &Positions) -> Result<(), Error> {
    for (name, service) in entries(tree, "services") {
        let path = Path::root().key("services").key(name);
        if let Some(ports) = service.get("ports").and_then(Value::as_seq) {
            for (i, port) in ports.iter().enumerate() {
                let Some(ip) = port.get("host_ip").and_then(Value::as_str) else {
                    continue;
                };
                if ip.parse::<std::net::IpAddr>().is_err() {
                    let p = path.key("ports").index(i);
                    return Err(error_at(
                        positions,
                        &p.key("host_ip"),
                        format!("{}: invalid ip address: {ip}", dotted(&p)),
                    ));
                }
            }
        }
        let watch = service
            .get("develop")
            .and_then(|d| d.get("watch"))
            .and_then(Value::as_seq);
        for (i, rule) in watch.into_iter().flatten().enumerate() {
            if rule.get("path").and_then(Value::as_str) == Some("") {
                let p = path.key("develop").key("watch").index(i).key("path");
                return Err(error_at(
                    positions,
                    &p,
                    format!("{}: value can't be blank", dotted(&p)),
                ));
            }
        }
    }
    Ok(())
}
