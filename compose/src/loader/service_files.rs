//! `env_file:` and `label_file:` of services, read into `environment` and `labels`.
//!
//! Values from the files come first, in the order the files are listed; the service's own
//! `environment` / `labels` win over them, as in Docker Compose. Variables declared without a
//! value take theirs from the project environment.

use crate::dotenv;
use crate::error::{Error, ErrorKind, Result};
use crate::value::{Map, Value};
use std::path::Path;

/// Reads every service's env and label files into its tree (canonical form, absolute paths).
pub fn resolve(tree: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    let Some(services) = tree.as_map_mut().and_then(|m| m.get_mut("services")) else {
        return Ok(());
    };
    let Some(services) = services.as_map_mut() else {
        return Ok(());
    };
    for (name, service) in services.iter_mut() {
        let Some(svc) = service.as_map_mut() else {
            continue;
        };
        if let Some(files) = svc.get("env_file").cloned() {
            let from_files = read_env_files(name, &files, lookup)?;
            merge_under(svc, "environment", from_files);
        }
        // `KEY:` without a value takes the variable from the project environment, as
        // Docker Compose resolves a service's environment.
        if let Some(environment) = svc.get_mut("environment") {
            crate::normalize::resolve_from_env(environment, lookup, true);
        }
        if let Some(files) = svc.get("label_file").cloned() {
            let from_files = read_label_files(name, &files)?;
            merge_under(svc, "labels", from_files);
        }
    }
    Ok(())
}

/// Puts `from_files` under the service's own `key` map (the service's entries win).
fn merge_under(svc: &mut Map, key: &str, from_files: Map) {
    if from_files.is_empty() {
        return;
    }
    let own = match svc.get(key) {
        Some(Value::Map(m)) => m.clone(),
        _ => Map::new(),
    };
    let mut merged = from_files;
    for (k, v) in own {
        merged.insert(k, v);
    }
    svc.insert(key.to_string(), Value::Map(merged));
}

fn read_env_files(
    service: &str,
    files: &Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Map> {
    let mut out = Map::new();
    let entries: Vec<Value> = match files {
        Value::Seq(s) => s.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    };
    for entry in entries {
        let (path, required, raw) = match &entry {
            Value::String(p) => (p.clone(), true, false),
            Value::Map(m) => (
                m.get("path")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                !matches!(m.get("required"), Some(Value::Bool(false))),
                m.get("format").and_then(Value::as_str) == Some("raw"),
            ),
            _ => continue,
        };
        let Some(text) = read_optional(service, &path, required, "env")? else {
            continue;
        };
        let parsed = if raw {
            dotenv::parse_raw(&text, lookup)
        } else {
            let local = out.clone();
            let chained = move |k: &str| {
                lookup(k).or_else(|| local.get(k).and_then(Value::as_str).map(str::to_string))
            };
            dotenv::parse(&text, &chained)
        }
        .map_err(|e| {
            Error::new(
                ErrorKind::Invalid,
                format!("failed to read env file {path} of service {service}: {e}"),
            )
        })?;
        for (k, v) in parsed {
            out.insert(k, Value::String(v));
        }
    }
    Ok(out)
}

fn read_label_files(service: &str, files: &Value) -> Result<Map> {
    let mut out = Map::new();
    let paths: Vec<String> = match files {
        Value::Seq(s) => s
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    };
    for path in paths {
        let Some(text) = read_optional(service, &path, true, "label")? else {
            continue;
        };
        let parsed = dotenv::parse(&text, &|_| None).map_err(|e| {
            Error::new(
                ErrorKind::Invalid,
                format!("failed to read label file {path} of service {service}: {e}"),
            )
        })?;
        for (k, v) in parsed {
            out.insert(k, Value::String(v));
        }
    }
    Ok(out)
}

fn read_optional(service: &str, path: &str, required: bool, what: &str) -> Result<Option<String>> {
    match std::fs::read_to_string(Path::new(path)) {
        Ok(t) => Ok(Some(t)),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::new(
            ErrorKind::Io,
            format!("{what} file {path} not found (service {service}): {e}"),
        )),
    }
}
