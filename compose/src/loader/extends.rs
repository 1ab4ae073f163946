//! `extends`: a service built on another one, from the same file or another file.

use super::{FileContext, Loader};
use crate::error::{Error, ErrorKind, Result};
use crate::merge;
use crate::value::{Map, Value};
use std::path::PathBuf;

/// Replaces every service that `extends` another by the merge of the two, in place.
pub(super) fn apply(loader: &mut Loader, tree: &mut Value, ctx: &FileContext) -> Result<()> {
    let names: Vec<String> = match tree.get("services").and_then(Value::as_map) {
        Some(s) => s.keys().cloned().collect(),
        None => return Ok(()),
    };
    let services = tree.get("services").cloned().unwrap_or_default();
    for name in names {
        let resolved = resolve(loader, &services, &name, ctx, &mut Vec::new())?;
        if let Some(s) = tree
            .as_map_mut()
            .and_then(|m| m.get_mut("services"))
            .and_then(Value::as_map_mut)
        {
            s.insert(name, resolved);
        }
    }
    Ok(())
}

/// The service `name` of `services` with its `extends` chain merged in.
fn resolve(
    loader: &mut Loader,
    services: &Value,
    name: &str,
    ctx: &FileContext,
    chain: &mut Vec<(PathBuf, String)>,
) -> Result<Value> {
    let Some(service) = services.get(name).cloned() else {
        return Err(Error::invalid(format!(
            "cannot extend service {name:?} in {}: service not found",
            ctx.display_name
        )));
    };
    let Some(extends) = service.get("extends").cloned() else {
        return Ok(service);
    };
    let (base_name, file) = match &extends {
        Value::String(s) => (s.clone(), None),
        Value::Map(m) => {
            let Some(svc) = m.get("service").and_then(Value::as_str) else {
                return Err(Error::new(
                    ErrorKind::Schema,
                    format!("extends.{name}.service is required"),
                ));
            };
            (
                svc.to_string(),
                m.get("file").and_then(Value::as_str).map(str::to_string),
            )
        }
        _ => {
            return Err(Error::new(
                ErrorKind::Schema,
                format!("services.{name}.extends must be a string or a mapping"),
            ));
        }
    };
    let key = (ctx.path.clone().unwrap_or_default(), name.to_string());
    if chain.contains(&key) {
        let mut names: Vec<String> = chain.iter().map(|(_, n)| n.clone()).collect();
        names.push(name.to_string());
        return Err(Error::invalid(format!(
            "extends cycle detected: {}",
            names.join(" -> ")
        )));
    }
    chain.push(key);
    let base = match file {
        None => resolve(loader, services, &base_name, ctx, chain)?,
        Some(file) => {
            let (other_tree, other_ctx) = loader.load_extends_file(&file, ctx)?;
            let other_services = other_tree.get("services").cloned().unwrap_or_default();
            let base = resolve(loader, &other_services, &base_name, &other_ctx, chain)?;
            loader.rebase_service(base, &other_ctx)?
        }
    };
    chain.pop();
    let mut child = service;
    if let Some(m) = child.as_map_mut() {
        m.shift_remove("extends");
    }
    let wrap = |v: Value| {
        let mut services = Map::new();
        services.insert(name.to_string(), v);
        let mut top = Map::new();
        top.insert("services".into(), Value::Map(services));
        Value::Map(top)
    };
    let mut merged = merge::merge(wrap(base), wrap(child), &[])?;
    merge::enforce_unicity(&mut merged)?;
    Ok(merged
        .get("services")
        .and_then(|s| s.get(name))
        .cloned()
        .unwrap_or_default())
}
