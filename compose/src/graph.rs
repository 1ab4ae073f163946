//! The dependency graph of a project's services, from `depends_on`.
//!
//! Built on the normalized tree, where `links`, `volumes_from` and `service:` references have
//! already become `depends_on` entries. It checks what compose-go's service graph checks
//! (required dependencies exist, no cycles, with the same messages) and answers the
//! questions the engine asks: in which order to start and stop, and what a service pulls in.

use crate::error::{Error, ErrorKind, Result};
use crate::value::Value;
use indexmap::IndexMap;
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// How a service depends on another (one long-form `depends_on` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// `service_started`, `service_healthy` or `service_completed_successfully`.
    pub condition: String,
    /// Whether the dependent restarts when the dependency is restarted by Compose.
    pub restart: bool,
    /// Whether the dependency must exist and be enabled.
    pub required: bool,
}

impl Dependency {
    /// Reads a long-form entry; missing fields take Compose's defaults.
    fn from_value(config: &Value) -> Self {
        Dependency {
            condition: config
                .get("condition")
                .and_then(Value::scalar_to_string)
                .unwrap_or_else(|| "service_started".to_string()),
            restart: flag(config.get("restart"), false),
            required: flag(config.get("required"), true),
        }
    }
}

/// A boolean field that interpolation may have left as a string.
fn flag(value: Option<&Value>, default: bool) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => default,
    }
}

/// Services as nodes, an edge from each service to each service it depends on.
#[derive(Debug, Clone)]
pub struct DependencyGraph {
    graph: DiGraph<String, Dependency>,
    nodes: IndexMap<String, NodeIndex>,
}

impl DependencyGraph {
    /// Builds the graph of the services of a normalized project tree.
    ///
    /// Fails when a required dependency names a service that does not exist
    /// (`service "bar" depends on undefined service "zot"`) and when dependencies form a cycle
    /// (`dependency cycle detected: a -> b -> a`). Optional dependencies on missing services
    /// are left out of the graph.
    pub fn new(tree: &Value) -> Result<Self> {
        let mut graph = DiGraph::new();
        let mut nodes = IndexMap::new();
        let services = tree.get("services").and_then(Value::as_map);
        for name in services.into_iter().flat_map(|s| s.keys()) {
            nodes.insert(name.clone(), graph.add_node(name.clone()));
        }
        for (name, service) in services.into_iter().flat_map(|s| s.iter()) {
            let Some(&from) = nodes.get(name) else {
                continue;
            };
            for (dependency, config) in declared_dependencies(service) {
                match nodes.get(&dependency) {
                    Some(&to) => {
                        graph.update_edge(from, to, config);
                    }
                    None if config.required => {
                        return Err(Error::new(
                            ErrorKind::Consistency,
                            format!("service {name:?} depends on undefined service {dependency:?}"),
                        ));
                    }
                    None => {}
                }
            }
        }
        let built = DependencyGraph { graph, nodes };
        built.check_cycles()?;
        Ok(built)
    }

    /// Every service, in the order of the file.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(String::as_str)
    }

    /// Services in an order where each comes after all it depends on; among services whose
    /// dependencies are all placed, the first by name goes first.
    pub fn start_order(&self) -> Vec<String> {
        self.order_of(self.nodes.keys())
    }

    /// The reverse of [`start_order`](Self::start_order): dependents stop before their
    /// dependencies.
    pub fn stop_order(&self) -> Vec<String> {
        let mut order = self.start_order();
        order.reverse();
        order
    }

    /// The services `service` depends on directly, sorted by name.
    pub fn dependencies(&self, service: &str) -> Vec<String> {
        self.neighbours(service, Direction::Outgoing)
    }

    /// The services that depend directly on `service`, sorted by name.
    pub fn dependents(&self, service: &str) -> Vec<String> {
        self.neighbours(service, Direction::Incoming)
    }

    /// How `service` depends on `dependency`, when it does.
    pub fn dependency(&self, service: &str, dependency: &str) -> Option<&Dependency> {
        let from = *self.nodes.get(service)?;
        let to = *self.nodes.get(dependency)?;
        let edge = self.graph.find_edge(from, to)?;
        self.graph.edge_weight(edge)
    }

    /// Everything `service` depends on, directly or not, sorted by name.
    pub fn all_dependencies(&self, service: &str) -> Vec<String> {
        self.reachable_from(service, Direction::Outgoing)
    }

    /// Everything that depends on `service`, directly or not, sorted by name.
    pub fn all_dependents(&self, service: &str) -> Vec<String> {
        self.reachable_from(service, Direction::Incoming)
    }

    /// The given services and everything they depend on, in start order.
    pub fn with_dependencies(&self, services: &[String]) -> Result<Vec<String>> {
        self.closure(services, Direction::Outgoing)
    }

    /// The given services and everything that depends on them, in start order.
    pub fn with_dependents(&self, services: &[String]) -> Result<Vec<String>> {
        self.closure(services, Direction::Incoming)
    }

    fn closure(&self, services: &[String], direction: Direction) -> Result<Vec<String>> {
        if let Some(unknown) = services.iter().find(|s| !self.nodes.contains_key(*s)) {
            return Err(Error::new(
                ErrorKind::Consistency,
                format!("no such service: {unknown}"),
            ));
        }
        let roots: Vec<&str> = services.iter().map(String::as_str).collect();
        let members = self.reachable(&roots, direction);
        Ok(self.order_of(members.iter()))
    }

    fn neighbours(&self, service: &str, direction: Direction) -> Vec<String> {
        let Some(&node) = self.nodes.get(service) else {
            return Vec::new();
        };
        let names: BTreeSet<String> = self
            .graph
            .neighbors_directed(node, direction)
            .map(|n| self.graph[n].clone())
            .collect();
        names.into_iter().collect()
    }

    /// The services reachable from `roots` along `direction`, the roots included, sorted by
    /// name.
    fn reachable(&self, roots: &[&str], direction: Direction) -> BTreeSet<String> {
        let mut seen: HashSet<NodeIndex> = HashSet::new();
        let mut stack: Vec<NodeIndex> = roots
            .iter()
            .filter_map(|name| self.nodes.get(*name).copied())
            .collect();
        let mut found = BTreeSet::new();
        while let Some(node) = stack.pop() {
            if seen.insert(node) {
                found.insert(self.graph[node].clone());
                stack.extend(self.graph.neighbors_directed(node, direction));
            }
        }
        found
    }

    /// What `service` reaches along `direction`, without itself (a built graph has no
    /// cycles, so it never reaches itself).
    fn reachable_from(&self, service: &str, direction: Direction) -> Vec<String> {
        let mut found = self.reachable(&[service], direction);
        found.remove(service);
        found.into_iter().collect()
    }

    /// Topological order of `members` (Kahn's algorithm over the subgraph they form), the
    /// smallest name first among those ready.
    fn order_of<'a>(&self, members: impl Iterator<Item = &'a String>) -> Vec<String> {
        let members: BTreeMap<&str, NodeIndex> = members
            .filter_map(|name| Some((name.as_str(), *self.nodes.get(name)?)))
            .collect();
        let in_set: HashSet<NodeIndex> = members.values().copied().collect();
        // Number of dependencies of each member not yet placed.
        let mut waiting: BTreeMap<NodeIndex, usize> = members
            .values()
            .map(|&node| {
                let count = self
                    .graph
                    .neighbors_directed(node, Direction::Outgoing)
                    .filter(|d| in_set.contains(d))
                    .count();
                (node, count)
            })
            .collect();
        let mut ready: BTreeSet<(&str, NodeIndex)> = waiting
            .iter()
            .filter(|(_, count)| **count == 0)
            .map(|(&node, _)| (self.graph[node].as_str(), node))
            .collect();
        let mut order = Vec::with_capacity(members.len());
        while let Some((name, node)) = ready.pop_first() {
            order.push(name.to_string());
            for dependent in self.graph.neighbors_directed(node, Direction::Incoming) {
                if let Some(count) = waiting.get_mut(&dependent) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        ready.insert((self.graph[dependent].as_str(), dependent));
                    }
                }
            }
        }
        order
    }

    /// compose-go's cycle search: from each service by name, depth first through dependencies
    /// by name; the first path that comes back to one of its own services is reported from
    /// that service on, so the message is the same on every run.
    fn check_cycles(&self) -> Result<()> {
        let mut sorted: Vec<(&str, NodeIndex)> = self
            .nodes
            .iter()
            .map(|(name, &node)| (name.as_str(), node))
            .collect();
        sorted.sort();
        // Services whose dependencies were all searched without finding a cycle: searching
        // them again cannot find one, so skipping them only saves time.
        let mut cleared: HashSet<NodeIndex> = HashSet::new();
        for (_, node) in sorted {
            self.search_cycle(node, &mut cleared)?;
        }
        Ok(())
    }

    /// Depth first from `start`, with an explicit stack so that a long chain of services
    /// cannot exhaust the thread's stack.
    fn search_cycle(&self, start: NodeIndex, cleared: &mut HashSet<NodeIndex>) -> Result<()> {
        if cleared.contains(&start) {
            return Ok(());
        }
        let mut path = vec![start];
        let mut on_path: HashSet<NodeIndex> = HashSet::from([start]);
        // For each service on the path: its dependencies by name, and the next to search.
        let mut pending = vec![(self.sorted_dependencies(start), 0usize)];
        while let Some((children, next)) = pending.last_mut() {
            let Some(&(name, child)) = children.get(*next) else {
                pending.pop();
                if let Some(done) = path.pop() {
                    on_path.remove(&done);
                    cleared.insert(done);
                }
                continue;
            };
            *next += 1;
            if let Some(ring_start) = on_path
                .contains(&child)
                .then(|| path.iter().position(|n| *n == child))
                .flatten()
            {
                let ring: Vec<&str> = path
                    .get(ring_start..)
                    .unwrap_or_default()
                    .iter()
                    .map(|n| self.graph[*n].as_str())
                    .chain(std::iter::once(name))
                    .collect();
                return Err(Error::new(
                    ErrorKind::Consistency,
                    format!("dependency cycle detected: {}", ring.join(" -> ")),
                ));
            }
            if cleared.contains(&child) {
                continue;
            }
            path.push(child);
            on_path.insert(child);
            pending.push((self.sorted_dependencies(child), 0));
        }
        Ok(())
    }

    /// The direct dependencies of a node with their names, sorted by name.
    fn sorted_dependencies(&self, node: NodeIndex) -> Vec<(&str, NodeIndex)> {
        let mut children: Vec<(&str, NodeIndex)> = self
            .graph
            .neighbors_directed(node, Direction::Outgoing)
            .map(|n| (self.graph[n].as_str(), n))
            .collect();
        children.sort();
        children.dedup();
        children
    }
}

/// The `depends_on` entries of a service, long form or short (list) form.
fn declared_dependencies(service: &Value) -> Vec<(String, Dependency)> {
    match service.get("depends_on") {
        Some(Value::Map(entries)) => entries
            .iter()
            .map(|(name, config)| (name.clone(), Dependency::from_value(config)))
            .collect(),
        Some(Value::Seq(names)) => names
            .iter()
            .filter_map(Value::scalar_to_string)
            .map(|name| (name, Dependency::from_value(&Value::Null)))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn graph(text: &str) -> Result<DependencyGraph> {
        let tree = yaml::parse(text, "compose.yaml")
            .expect("test YAML parses")
            .remove(0)
            .value;
        DependencyGraph::new(&tree)
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// A web stack: proxy -> web -> (api, static); api -> (db, cache); worker -> (db, cache).
    const STACK: &str = "
services:
  proxy:
    depends_on: {web: {condition: service_started, required: true}}
  web:
    depends_on:
      static: {condition: service_started, required: true}
      api: {condition: service_healthy, required: true, restart: true}
  api:
    depends_on: [db, cache]
  worker:
    depends_on: [cache, db]
  static: {}
  db: {}
  cache: {}
";

    #[test]
    fn start_order_puts_dependencies_first_and_breaks_ties_by_name() {
        let g = graph(STACK).unwrap();
        assert_eq!(
            g.start_order(),
            ["cache", "db", "api", "static", "web", "proxy", "worker"]
        );
        assert_eq!(
            g.stop_order(),
            ["worker", "proxy", "web", "static", "api", "db", "cache"]
        );
    }

    #[test]
    fn start_order_of_independent_services_is_by_name() {
        let g = graph("services: {zeta: {}, alpha: {}, mid: {}}").unwrap();
        assert_eq!(g.start_order(), ["alpha", "mid", "zeta"]);
    }

    #[test]
    fn start_order_of_a_chain_follows_the_chain() {
        let g = graph(
            "
services:
  a: {depends_on: [b]}
  b: {depends_on: [c]}
  c: {depends_on: [d]}
  d: {}
",
        )
        .unwrap();
        assert_eq!(g.start_order(), ["d", "c", "b", "a"]);
    }

    #[test]
    fn direct_and_transitive_neighbours() {
        let g = graph(STACK).unwrap();
        assert_eq!(g.dependencies("web"), ["api", "static"]);
        assert_eq!(g.dependents("db"), ["api", "worker"]);
        assert_eq!(
            g.all_dependencies("proxy"),
            ["api", "cache", "db", "static", "web"]
        );
        assert_eq!(g.all_dependents("cache"), ["api", "proxy", "web", "worker"]);
        assert!(g.dependencies("db").is_empty());
        assert!(g.dependencies("nope").is_empty());
    }

    #[test]
    fn closures_come_in_start_order() {
        let g = graph(STACK).unwrap();
        assert_eq!(
            g.with_dependencies(&strings(&["web"])).unwrap(),
            ["cache", "db", "api", "static", "web"]
        );
        assert_eq!(
            g.with_dependencies(&strings(&["worker", "static"]))
                .unwrap(),
            ["cache", "db", "static", "worker"]
        );
        assert_eq!(
            g.with_dependents(&strings(&["api"])).unwrap(),
            ["api", "web", "proxy"]
        );
        let err = g.with_dependencies(&strings(&["ghost"])).unwrap_err();
        assert_eq!(err.message, "no such service: ghost");
    }

    #[test]
    fn dependency_details_are_kept() {
        let g = graph(STACK).unwrap();
        let api = g.dependency("web", "api").unwrap();
        assert_eq!(api.condition, "service_healthy");
        assert!(api.restart && api.required);
        let db = g.dependency("api", "db").unwrap();
        assert_eq!(db.condition, "service_started");
        assert!(!db.restart && db.required);
        assert!(g.dependency("db", "api").is_none());
    }

    #[test]
    fn a_cycle_is_reported_like_compose_go() {
        // tests/corpus/loader-errors/depends-on-cycle
        let err = graph(
            "
services:
  service1: {image: service1, depends_on: [service2]}
  service2: {image: service2, depends_on: [service3]}
  service3: {image: service3, depends_on: [service1]}
",
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "dependency cycle detected: service1 -> service2 -> service3 -> service1"
        );
    }

    #[test]
    fn a_cycle_is_reported_from_where_the_search_meets_it() {
        // The search starts at `a` (first by name) and meets the ring b -> c -> b.
        let err = graph(
            "
services:
  c: {depends_on: [b]}
  b: {depends_on: [c]}
  a: {depends_on: [b]}
",
        )
        .unwrap_err();
        assert_eq!(err.message, "dependency cycle detected: b -> c -> b");
    }

    #[test]
    fn a_self_dependency_is_a_cycle() {
        let err = graph("services: {a: {depends_on: [a]}}").unwrap_err();
        assert_eq!(err.message, "dependency cycle detected: a -> a");
    }

    #[test]
    fn an_undefined_required_dependency_is_an_error() {
        let err = graph("services: {bar: {depends_on: [zot]}}").unwrap_err();
        assert_eq!(
            err.message,
            "service \"bar\" depends on undefined service \"zot\""
        );
        let err = graph("services: {bar: {depends_on: {zot: {condition: service_started}}}}")
            .unwrap_err();
        assert!(err.message.contains("undefined service \"zot\""));
    }

    #[test]
    fn an_undefined_optional_dependency_is_left_out() {
        let g = graph("services: {bar: {depends_on: {zot: {required: false}}}}").unwrap();
        assert!(g.dependencies("bar").is_empty());
        assert_eq!(g.start_order(), ["bar"]);
    }

    #[test]
    fn a_project_without_services_has_an_empty_order() {
        let g = graph("name: empty").unwrap();
        assert!(g.start_order().is_empty());
    }

    #[test]
    fn a_long_chain_does_not_exhaust_the_stack() {
        let mut text = String::from("services:\n");
        for i in 0..10_000 {
            text.push_str(&format!("  s{i}: {{depends_on: [s{}]}}\n", i + 1));
        }
        text.push_str("  s10000: {depends_on: [s0]}\n");
        let err = graph(&text).unwrap_err();
        assert!(
            err.message
                .starts_with("dependency cycle detected: s0 -> s1 -> ")
        );
        assert!(err.message.ends_with("-> s10000 -> s0"));
    }

    #[test]
    fn a_wide_diamond_does_not_take_exponential_time() {
        // 30 layers of two services, each depending on both of the next layer: 2^30 paths.
        let mut text = String::from("services:\n");
        for layer in 0..30 {
            for side in ["l", "r"] {
                text.push_str(&format!("  {side}{layer}:\n"));
                if layer < 29 {
                    let next = layer + 1;
                    text.push_str(&format!("    depends_on: [l{next}, r{next}]\n"));
                }
            }
        }
        let g = graph(&text).unwrap();
        assert_eq!(g.start_order().first().map(String::as_str), Some("l29"));
        assert_eq!(g.start_order().len(), 60);
    }
}
