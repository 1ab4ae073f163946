//! The canonical long form of a merged compose tree: what `docker compose config` prints.
//!
//! compose-go gets there in two steps: its `transform` package rewrites short syntaxes into
//! long ones on the tree (ports, volumes, depends_on, ...), then decoding into typed structs
//! converts values (`KEY=VALUE` lists to mappings, sizes to byte counts, durations to Go
//! notation, numbers to strings where the field is a string) and printing writes the structs
//! back. [`canonicalize`] does both on the tree, so the result is what Compose prints, up to
//! the omission of zero values that its printer performs (`privileged: false` and the like
//! stay in the tree; [`omit_printer_defaults`] removes them for output).
//!
//! Path resolution is separate: [`crate::paths::resolve_paths`].

mod build;
mod convert;
mod deploy;
mod ports;
mod print_form;
mod references;
mod service;
mod shellwords;

pub use shellwords::split as split_shell_words;
mod top_level;
mod volumes;

use crate::error::{Error, Result, Warning};
use crate::value::{Path, Value};
use crate::yaml::Positions;
use convert::Fail;

pub use print_form::omit_printer_defaults;

/// Parses a short-syntax port (`"127.0.0.1:8000-8001:80-81/udp"`) into its long-form
/// entries, one per container port, as compose-go does.
pub fn parse_port(spec: &str) -> Result<Vec<Value>> {
    ports::parse_port_spec(spec)
        .map(|entries| entries.into_iter().map(Value::Map).collect())
        .map_err(Error::schema)
}

/// Parses a short-syntax volume (`"./data:/data:ro,z"`) into its long form, as compose-go
/// does (before path resolution).
pub fn parse_volume(spec: &str) -> Result<Value> {
    volumes::parse_volume(spec)
        .map(Value::Map)
        .map_err(Error::schema)
}

/// Rewrites every short syntax of a merged tree into its canonical long form, in place.
/// Returns the warnings (deprecated `external.name`); a value that cannot be converted is an
/// [`crate::ErrorKind::Schema`] error naming its place (`services.web.ports[0]: ...`).
pub fn canonicalize(tree: &mut Value) -> Result<Vec<Warning>> {
    canonicalize_at(tree, None)
}

/// [`canonicalize`], with errors and warnings placed at `file:line:col` from `positions`.
pub fn canonicalize_with_positions(
    tree: &mut Value,
    positions: &Positions,
) -> Result<Vec<Warning>> {
    canonicalize_at(tree, Some(positions))
}

fn canonicalize_at(tree: &mut Value, positions: Option<&Positions>) -> Result<Vec<Warning>> {
    let mut warnings = Vec::new();
    let result = walk(tree, &mut warnings);
    let locate = |p: &Path| positions.and_then(|pos| pos.find(p));
    if let Err(Fail { path, message }) = result {
        return Err(Error::schema(format!("{path}: {message}")).at(locate(&path)));
    }
    Ok(warnings
        .into_iter()
        .map(|(path, message)| Warning {
            message,
            location: locate(&path),
        })
        .collect())
}

fn walk(tree: &mut Value, warnings: &mut Vec<(Path, String)>) -> convert::Res {
    let Some(root) = tree.as_map_mut() else {
        return Ok(());
    };
    let root_path = Path::root();
    if let Some(Value::Map(services)) = root.get_mut("services") {
        let sp = root_path.key("services");
        for (name, svc) in services.iter_mut() {
            service::service(svc, &sp.key(name))?;
        }
    }
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Map(resources)) = root.get_mut(kind) {
            let kp = root_path.key(kind);
            for (name, r) in resources.iter_mut() {
                if name.starts_with("x-") {
                    continue;
                }
                top_level::resource(kind, r, &kp.key(name), warnings)?;
            }
        }
    }
    if let Some(include) = root.get_mut("include") {
        convert::each_item(include, &root_path.key("include"), top_level::include)?;
    }
    Ok(())
}
