//! What a loaded project asks for, reduced to what reconciling needs: per service its hash,
//! replicas, image and references, in dependency order.

use anyhow::Context;
use berth_compose::graph::DependencyGraph;
use berth_compose::model::DependencyCondition;
use berth_compose::{LoadedProject, Value, hash};

/// How a service's image is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull every time.
    Always,
    /// Pull when the image is not in the store (the default).
    Missing,
    /// Never pull; a missing image is an error.
    Never,
    /// Build every time (services with `build`).
    Build,
}

impl PullPolicy {
    /// Reads `pull_policy` (and the `--pull` flag), with Compose's spellings. Scheduled
    /// policies (`daily`, `weekly`, `every_<duration>`) count as `missing` here: whether the
    /// interval has passed is decided against the image's pull time by the image store.
    pub fn parse(text: &str) -> anyhow::Result<PullPolicy> {
        Ok(match text {
            "always" => PullPolicy::Always,
            "missing" | "if_not_present" => PullPolicy::Missing,
            "never" => PullPolicy::Never,
            "build" => PullPolicy::Build,
            t if t == "daily" || t == "weekly" || t.starts_with("every_") => PullPolicy::Missing,
            other => anyhow::bail!(
                "invalid pull policy {other:?}: expected always, missing, never, build, daily, weekly or every_<duration>"
            ),
        })
    }
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The service depended on.
    pub service: String,
    /// What it must reach first.
    pub condition: DependencyCondition,
    /// Restart (recreate) the dependent when the dependency is recreated.
    pub restart: bool,
    /// Whether a missing dependency is an error.
    pub required: bool,
}

/// One service as the reconciler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredService {
    /// Its name.
    pub name: String,
    /// Its config hash (label `com.docker.compose.config-hash`).
    pub hash: String,
    /// How many containers it should have.
    pub replicas: usize,
    /// The image it runs (for a build-only service, `<project>-<service>`).
    pub image: String,
    /// Whether it has a `build` section.
    pub build: bool,
    /// Its pull policy.
    pub pull_policy: PullPolicy,
    /// `container_name`, when set.
    pub container_name: Option<String>,
    /// Its dependencies.
    pub depends_on: Vec<Dependency>,
    /// Keys of the networks it joins.
    pub networks: Vec<String>,
    /// Keys of the named volumes it mounts.
    pub volumes: Vec<String>,
    /// Services whose containers' volumes it mounts (`volumes_from: [service]`).
    pub volumes_from: Vec<String>,
    /// The image of each of its `pre_start` hooks, in order.
    pub pre_start: Vec<String>,
}

/// A network or volume of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredResource {
    /// Its key in the compose file.
    pub key: String,
    /// Its actual name.
    pub name: String,
    /// Whether it must already exist (and is never created or removed).
    pub external: bool,
}

/// The project as the reconciler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredProject {
    /// The project name.
    pub name: String,
    /// Enabled services, dependencies first.
    pub services: Vec<DesiredService>,
    /// Names of services that profiles disable (their containers are not orphans).
    pub disabled_services: Vec<String>,
    /// Networks.
    pub networks: Vec<DesiredResource>,
    /// Named volumes.
    pub volumes: Vec<DesiredResource>,
}

impl DesiredProject {
    /// Reduces a loaded project.
    pub fn from_loaded(loaded: &LoadedProject) -> anyhow::Result<DesiredProject> {
        let graph = DependencyGraph::new(&loaded.tree)?;
        let mut services = Vec::new();
        for name in graph.start_order() {
            let (Some(svc), Some(tree)) = (
                loaded.project.service(&name),
                loaded.tree.get("services").and_then(|s| s.get(&name)),
            ) else {
                continue;
            };
            let image = svc
                .image()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}-{name}", loaded.name));
            let build = svc.build.is_some();
            let pull_policy = match svc.pull_policy.as_deref() {
                Some(p) => PullPolicy::parse(p).with_context(|| format!("service {name:?}"))?,
                None if build && svc.image().is_none() => PullPolicy::Build,
                None => PullPolicy::Missing,
            };
            let depends_on = svc
                .depends_on
                .iter()
                .map(|(dep, d)| Dependency {
                    service: dep.clone(),
                    condition: d.condition,
                    restart: d.restart.unwrap_or(false),
                    required: d.required,
                })
                .collect();
            services.push(DesiredService {
                name: name.clone(),
                hash: hash::service_hash(tree),
                replicas: svc.replicas(),
                build,
                pull_policy,
                container_name: svc.container_name.clone(),
                depends_on,
                networks: service_networks(svc),
                volumes: named_volumes(tree),
                volumes_from: svc
                    .volumes_from
                    .iter()
                    .filter(|v| !v.starts_with("container:"))
                    .map(|v| {
                        let v = v.strip_prefix("service:").unwrap_or(v);
                        v.split(':').next().unwrap_or(v).to_string()
                    })
                    .collect(),
                pre_start: svc
                    .pre_start
                    .iter()
                    .map(|h| h.image.clone().unwrap_or_else(|| image.clone()))
                    .collect(),
                image,
            });
        }
        let mut networks = resources(&loaded.tree, "networks");
        // `network_mode: bridge` puts a service on the project's default network, which the
        // file then need not declare.
        if services
            .iter()
            .any(|s| s.networks.iter().any(|n| n == "default"))
            && !networks.iter().any(|n| n.key == "default")
        {
            networks.push(DesiredResource {
                key: "default".into(),
                name: format!("{}_default", loaded.name),
                external: false,
            });
        }
        Ok(DesiredProject {
            name: loaded.name.clone(),
            services,
            disabled_services: loaded.disabled_services.keys().cloned().collect(),
            networks,
            volumes: resources(&loaded.tree, "volumes"),
        })
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&DesiredService> {
        self.services.iter().find(|s| s.name == name)
    }

    /// `names` and, unless `no_deps`, every service they depend on, transitively (optional
    /// dependencies the project lacks are skipped); `no such service: x` for an unknown name.
    pub fn with_dependencies(
        &self,
        names: &[String],
        no_deps: bool,
    ) -> anyhow::Result<std::collections::BTreeSet<String>> {
        let mut out = std::collections::BTreeSet::new();
        let mut todo: Vec<String> = names.to_vec();
        while let Some(name) = todo.pop() {
            let Some(svc) = self.service(&name) else {
                anyhow::bail!("no such service: {name}");
            };
            if out.insert(name.clone()) && !no_deps {
                todo.extend(
                    svc.depends_on
                        .iter()
                        .filter(|d| self.service(&d.service).is_some())
                        .map(|d| d.service.clone()),
                );
            }
        }
        Ok(out)
    }
}

/// Keys of the networks a service joins, in order: `network_mode: bridge` (Docker's default
/// bridge, where services reach each other by links) is the project's default network here.
pub fn service_networks(svc: &berth_compose::model::ServiceConfig) -> Vec<String> {
    let listed: Vec<String> = svc
        .networks_ordered()
        .into_iter()
        .map(str::to_string)
        .collect();
    if listed.is_empty() && svc.network_mode.as_deref() == Some("bridge") {
        return vec!["default".to_string()];
    }
    listed
}

/// Keys of the named volumes a service mounts (`type: volume` with a source).
fn named_volumes(service: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for v in service
        .get("volumes")
        .and_then(Value::as_seq)
        .into_iter()
        .flatten()
    {
        if v.get("type").and_then(Value::as_str) == Some("volume")
            && let Some(source) = v.get("source").and_then(Value::as_str)
            && !out.iter().any(|s| s == source)
        {
            out.push(source.to_string());
        }
    }
    out
}

fn resources(tree: &Value, section: &str) -> Vec<DesiredResource> {
    let mut out = Vec::new();
    for (key, def) in tree
        .get(section)
        .and_then(Value::as_map)
        .into_iter()
        .flatten()
    {
        let external = def.get("external") == Some(&Value::Bool(true));
        let name = def
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| key.clone());
        out.push(DesiredResource {
            key: key.clone(),
            name,
            external,
        });
    }
    out
}

impl DesiredProject {
    /// What the recorded containers of `project` say of it when its compose file is not at
    /// hand: its services (from their labels) in dependency order, from Compose's
    /// `com.docker.compose.depends_on` labels. Enough to stop and remove in the right order.
    pub fn from_observed(project: &str, observed: &super::observed::Observed) -> DesiredProject {
        let mut deps: std::collections::BTreeMap<String, Vec<Dependency>> = Default::default();
        for c in observed
            .containers
            .iter()
            .filter(|c| c.project() == Some(project) && !c.is_oneoff())
        {
            let Some(service) = c.service() else { continue };
            let entry = deps.entry(service.to_string()).or_default();
            let label = c
                .labels
                .get(super::labels::DEPENDS_ON)
                .map(String::as_str)
                .unwrap_or("");
            for item in label.split(',').filter(|s| !s.is_empty()) {
                let mut parts = item.split(':');
                let (Some(name), condition, restart) = (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                if entry.iter().any(|d| d.service == name) {
                    continue;
                }
                entry.push(Dependency {
                    service: name.to_string(),
                    condition: match condition {
                        Some("service_healthy") => DependencyCondition::ServiceHealthy,
                        Some("service_completed_successfully") => {
                            DependencyCondition::ServiceCompletedSuccessfully
                        }
                        _ => DependencyCondition::ServiceStarted,
                    },
                    restart: restart == Some("true"),
                    required: true,
                });
            }
        }
        // Dependencies first; a cycle (impossible from a valid file) keeps name order.
        let mut order: Vec<String> = Vec::new();
        let mut pending: Vec<String> = deps.keys().cloned().collect();
        while !pending.is_empty() {
            let ready: Vec<String> = pending
                .iter()
                .filter(|s| {
                    deps[*s]
                        .iter()
                        .all(|d| order.contains(&d.service) || !deps.contains_key(&d.service))
                })
                .cloned()
                .collect();
            let next = if ready.is_empty() {
                vec![pending[0].clone()]
            } else {
                ready
            };
            pending.retain(|s| !next.contains(s));
            order.extend(next);
        }
        DesiredProject {
            name: project.to_string(),
            services: order
                .into_iter()
                .map(|name| DesiredService {
                    depends_on: deps.remove(&name).unwrap_or_default(),
                    name,
                    hash: String::new(),
                    replicas: 0,
                    image: String::new(),
                    build: false,
                    pull_policy: PullPolicy::Missing,
                    container_name: None,
                    networks: Vec::new(),
                    volumes: Vec::new(),
                    volumes_from: Vec::new(),
                    pre_start: Vec::new(),
                })
                .collect(),
            disabled_services: Vec::new(),
            networks: Vec::new(),
            volumes: Vec::new(),
        }
    }
}
