//! `include`: other compose projects imported into this one, each with its own directory
//! and environment.

use super::environment::{self, Environment};
use super::files::{ConfigSource, absolutize};
use super::{FileContext, Loader};
use crate::error::{Error, ErrorKind, Result};
use crate::merge;
use crate::value::{Map, Value};
use std::path::{Path, PathBuf};

/// One `include` entry in long form.
struct IncludeEntry {
    paths: Vec<PathBuf>,
    project_directory: PathBuf,
    env_files: Vec<PathBuf>,
    env_files_given: bool,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Seq(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn entries(include: &Value, base_dir: &Path) -> Result<Vec<IncludeEntry>> {
    let Some(items) = include.as_seq() else {
        return Err(Error::new(ErrorKind::Schema, "include must be a list"));
    };
    let mut out = Vec::new();
    for item in items {
        let (paths, dir, env_files) = match item {
            Value::String(s) => (vec![s.clone()], None, Vec::new()),
            Value::Map(m) => (
                strings(m.get("path")),
                m.get("project_directory")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                strings(m.get("env_file")),
            ),
            _ => {
                return Err(Error::new(
                    ErrorKind::Schema,
                    "include entries must be a path or a mapping",
                ));
            }
        };
        let paths: Vec<PathBuf> = paths
            .iter()
            .map(|p| absolutize(base_dir, Path::new(p)))
            .collect();
        let Some(first) = paths.first() else {
            return Err(Error::new(ErrorKind::Schema, "include entry has no path"));
        };
        let project_directory = match dir {
            Some(d) => absolutize(base_dir, Path::new(&d)),
            None => first.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let env_files_given = !env_files.is_empty();
        let env_files = if env_files_given {
            env_files
                .iter()
                .map(|p| absolutize(base_dir, Path::new(p)))
                .collect()
        } else {
            vec![project_directory.join(".env")]
        };
        out.push(IncludeEntry {
            paths,
            project_directory,
            env_files,
            env_files_given,
        });
    }
    Ok(out)
}

/// Loads every project `tree` includes and adds its resources to `tree`; a resource defined
/// differently on both sides is an error.
pub(super) fn apply(loader: &mut Loader, tree: &mut Value, ctx: &FileContext) -> Result<()> {
    let Some(include) = tree.as_map_mut().and_then(|m| m.shift_remove("include")) else {
        return Ok(());
    };
    for entry in entries(&include, &ctx.base_dir)? {
        for p in &entry.paths {
            if loader.include_chain.contains(p) {
                let chain: Vec<String> = loader
                    .include_chain
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect();
                return Err(Error::invalid(format!(
                    "include cycle detected:\n{}\n include {}",
                    chain.join("\n"),
                    p.display()
                )));
            }
        }
        let file_env = environment::read_env_files(
            &entry
                .env_files
                .iter()
                .map(PathBuf::as_path)
                .collect::<Vec<_>>(),
            &loader.env,
            entry.env_files_given,
        )?;
        // The including project's variables win over the included project's env files.
        let env: Environment = environment::layered(file_env, &loader.env);
        let saved_env = std::mem::replace(&mut loader.env, env);
        let result = load_included(loader, &entry);
        let include_env = std::mem::replace(&mut loader.env, saved_env);
        let imported = result?;
        for (var, value) in file_variables(&imported, &include_env) {
            loader.env.entry(var).or_insert(value);
        }
        import(tree, imported, &entry.paths)?;
    }
    Ok(())
}

fn load_included(loader: &mut Loader, entry: &IncludeEntry) -> Result<Value> {
    let mut merged: Option<Value> = None;
    for path in &entry.paths {
        let source = ConfigSource::file(path.clone());
        let ctx = FileContext {
            display_name: source.name.clone(),
            path: Some(path.clone()),
            base_dir: entry.project_directory.clone(),
        };
        loader.include_chain.push(path.clone());
        let loaded = loader.load_file(&source, &ctx);
        loader.include_chain.pop();
        let (tree, tags) = loaded?;
        merged = Some(match merged {
            None => tree,
            Some(base) => merge::merge(base, tree, &tags)?,
        });
    }
    let mut tree = merged.unwrap_or_else(|| Value::Map(Map::new()));
    loader.finish_subtree(&mut tree, &entry.project_directory)?;
    Ok(tree)
}

/// The variables that the secrets and configs of an included file read (`environment: X`),
/// with their values in the include's environment (its `env_file`), which the including
/// project would otherwise not have when the containers are made.
fn file_variables(tree: &Value, env: &Environment) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for section in ["secrets", "configs"] {
        for (_, def) in tree
            .get(section)
            .and_then(Value::as_map)
            .into_iter()
            .flatten()
        {
            if let Some(var) = def.get("environment").and_then(Value::as_str)
                && let Some(value) = env.get(var)
            {
                out.push((var.to_string(), value.clone()));
            }
        }
    }
    out
}

const IMPORTED: [&str; 6] = [
    "services", "networks", "volumes", "configs", "secrets", "models",
];

fn import(tree: &mut Value, imported: Value, paths: &[PathBuf]) -> Result<()> {
    let Some(top) = tree.as_map_mut() else {
        return Ok(());
    };
    let shown = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    for section in IMPORTED {
        let Some(Value::Map(incoming)) = imported.get(section) else {
            continue;
        };
        let target = top
            .entry(section.to_string())
            .or_insert_with(|| Value::Map(Map::new()));
        if target.is_null() {
            *target = Value::Map(Map::new());
        }
        let Some(target) = target.as_map_mut() else {
            continue;
        };
        for (k, v) in incoming {
            match target.get(k) {
                Some(existing) if existing != v => {
                    return Err(Error::invalid(format!(
                        "imported compose file {shown} defines conflicting {} {k}",
                        section.trim_end_matches('s')
                    )));
                }
                Some(_) => {}
                None => {
                    target.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Ok(())
}
