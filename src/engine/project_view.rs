//! The part of a loaded project a command works on, and the forms `config` prints it in.

use anyhow::bail;
use berth_compose::graph::DependencyGraph;
use berth_compose::model::Project;
use berth_compose::{LoadedProject, Map, Value, hash, profiles};
use std::collections::BTreeSet;

/// A project narrowed to some services (and what they depend on).
#[derive(Debug, Clone)]
pub struct ProjectView {
    /// The project's canonical tree with only the selected services.
    pub tree: Value,
}

/// Selects `names` and their dependencies; no names selects every enabled service.
pub fn select(loaded: &LoadedProject, names: &[String]) -> anyhow::Result<ProjectView> {
    let mut tree = loaded.tree.clone();
    if names.is_empty() {
        return Ok(ProjectView { tree });
    }
    let services = tree
        .get("services")
        .and_then(Value::as_map)
        .cloned()
        .unwrap_or_default();
    for n in names {
        if !services.contains_key(n) {
            bail!("no such service: {n}");
        }
    }
    let graph = DependencyGraph::new(&tree)?;
    let keep: BTreeSet<String> = graph.with_dependencies(names)?.into_iter().collect();
    if let Some(Value::Map(s)) = tree.as_map_mut().and_then(|m| m.get_mut("services")) {
        s.retain(|k, _| keep.contains(k));
    }
    Ok(ProjectView { tree })
}

impl ProjectView {
    fn services(&self) -> Map {
        self.tree
            .get("services")
            .and_then(Value::as_map)
            .cloned()
            .unwrap_or_default()
    }

    /// Service names, sorted.
    pub fn service_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.services().keys().cloned().collect();
        v.sort();
        v
    }

    /// The keys of a top-level section (`volumes`, `networks`), sorted.
    pub fn section_keys(&self, section: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .tree
            .get(section)
            .and_then(Value::as_map)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The image of each service; a service that only builds gets `<project>-<service>`,
    /// the name Docker Compose gives the image it builds.
    pub fn images(&self, project: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (name, svc) in self.services() {
            match svc.get("image").and_then(Value::as_str) {
                Some(i) => out.push(i.to_string()),
                None => out.push(format!("{project}-{name}")),
            }
        }
        out.sort();
        out
    }

    /// Config hashes of `which` (`*` or a comma-separated list of services).
    pub fn hashes(&self, which: &str) -> anyhow::Result<Vec<(String, String)>> {
        let services = self.services();
        let names: Vec<String> = if which.trim() == "*" {
            self.service_names()
        } else {
            which
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut out = Vec::new();
        for n in names {
            let Some(svc) = services.get(&n) else {
                bail!("no such service: {n}");
            };
            out.push((n, hash::service_hash(svc)));
        }
        Ok(out)
    }
}

/// Every profile the project mentions, enabled or not, sorted and unique.
pub fn all_profiles(loaded: &LoadedProject) -> Vec<String> {
    let mut services = loaded
        .tree
        .get("services")
        .and_then(Value::as_map)
        .cloned()
        .unwrap_or_default();
    services.extend(loaded.disabled_services.clone());
    let mut all = Map::new();
    all.insert("services".into(), Value::Map(services));
    profiles::all_profiles(&Value::Map(all))
}

/// How `config` lays out the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintForm {
    /// The interpolated model: top-level sections in Compose's order, a literal `$` as `$$`
    /// so that the output loads back to the same project.
    Model,
    /// `--no-interpolate`: Compose prints the raw tree, every mapping (the top level
    /// included) sorted by key, and `${...}` as written.
    Raw,
}

/// The tree as `config` prints it. The model form comes from the typed model, so fields
/// keep compose-go's order and maps print sorted.
pub fn printable(tree: &Value, form: PrintForm) -> anyhow::Result<Value> {
    Ok(match form {
        PrintForm::Model => escaped(&Project::from_tree(tree)?.to_printed_tree()),
        PrintForm::Raw => tree.with_sorted_keys(),
    })
}

fn escaped(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace('$', "$$")),
        Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), escaped(v))).collect()),
        Value::Seq(s) => Value::Seq(s.iter().map(escaped).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_orders_sections_and_keys() {
        let doc = berth_compose::yaml::parse(
            "volumes: {b: {}, a: {}}\nservices:\n  web: {image: x, command: [b, a]}\nname: p\nx-z: 1\n",
            "t",
        )
        .unwrap();
        let p = printable(&doc[0].value, PrintForm::Model).unwrap();
        let keys: Vec<_> = p.as_map().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["name", "services", "volumes", "x-z"]);
        let vols: Vec<_> = p
            .get("volumes")
            .unwrap()
            .as_map()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(vols, ["a", "b"]);
        // Sequences keep their order.
        assert_eq!(
            p.get("services")
                .unwrap()
                .get("web")
                .unwrap()
                .get("command"),
            Some(&Value::Seq(vec!["b".into(), "a".into()]))
        );
    }

    #[test]
    fn raw_form_sorts_the_top_level_too() {
        let doc = berth_compose::yaml::parse("services: {}\nname: p\nnetworks: {}\n", "t").unwrap();
        let p = printable(&doc[0].value, PrintForm::Raw).unwrap();
        let keys: Vec<_> = p.as_map().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["name", "networks", "services"]);
    }

    #[test]
    fn dollars_are_escaped_for_reloading() {
        let doc =
            berth_compose::yaml::parse("services: {web: {command: [echo, $HOME]}}\n", "t").unwrap();
        let p = printable(&doc[0].value, PrintForm::Model).unwrap();
        let cmd = p
            .get("services")
            .unwrap()
            .get("web")
            .unwrap()
            .get("command")
            .unwrap();
        assert_eq!(cmd, &Value::Seq(vec!["echo".into(), "$$HOME".into()]));
    }
}
