//! Reconcile: a pure function from the desired project and the observed state to a plan,
//! converging the way Docker Compose does. A second `up` with nothing changed plans nothing.

use super::desired::{DesiredProject, DesiredService, PullPolicy};
use super::observed::{ContainerState, Observed, ObservedContainer};
use super::plan::{Operation, Plan, StepId};
use anyhow::bail;
use berth_compose::model::DependencyCondition;
use std::collections::{BTreeMap, BTreeSet};

/// When existing containers are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recreate {
    /// When their configuration changed (the default).
    #[default]
    Diverged,
    /// Always (`--force-recreate`).
    Force,
    /// Never (`--no-recreate`).
    Never,
}

/// The flags of `up` that shape the plan.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Services named on the command line (none: all).
    pub services: Vec<String>,
    /// `--no-deps`: leave the named services' dependencies alone.
    pub no_deps: bool,
    /// Recreation policy.
    pub recreate: Recreate,
    /// `--no-start`: create without starting.
    pub no_start: bool,
    /// `--pull`: overrides every service's pull policy.
    pub pull: Option<PullPolicy>,
    /// `--remove-orphans`.
    pub remove_orphans: bool,
    /// `--scale service=N`.
    pub scale: BTreeMap<String, usize>,
    /// `run`: the one-off's service, whose networks, volumes, image and dependencies are
    /// made ready while its own containers are left alone.
    pub run_service: Option<String>,
    /// `--compatibility`: Compose v1's container names (`project_service_1`).
    pub compatibility: bool,
    /// `--all-resources`: every network and volume of the file, used or not.
    pub all_resources: bool,
}

/// The flags of `down` that shape the plan.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// `-v`: remove named and anonymous volumes too.
    pub volumes: bool,
    /// `--remove-orphans` (without a compose file every project container goes anyway).
    pub remove_orphans: bool,
}

/// The container name of replica `number` of `service`: `project-service-N`, or
/// `project_service_N` in compatibility mode (Compose v1's names).
pub fn container_name(
    project: &str,
    service: &DesiredService,
    number: u32,
    compatibility: bool,
) -> String {
    let sep = if compatibility { '_' } else { '-' };
    match &service.container_name {
        Some(n) => n.clone(),
        None => format!("{project}{sep}{}{sep}{number}", service.name),
    }
}

/// The services `up` acts on: the named ones and, unless `no_deps`, what they depend on.
fn selected(desired: &DesiredProject, opts: &UpOptions) -> anyhow::Result<BTreeSet<String>> {
    if opts.services.is_empty() {
        return Ok(desired.services.iter().map(|s| s.name.clone()).collect());
    }
    desired.with_dependencies(&opts.services, opts.no_deps)
}

/// Plans `up`.
pub fn plan_up(
    desired: &DesiredProject,
    observed: &Observed,
    opts: &UpOptions,
) -> anyhow::Result<Plan> {
    let chosen = selected(desired, opts)?;
    let services: Vec<&DesiredService> = desired
        .services
        .iter()
        .filter(|s| chosen.contains(&s.name))
        .collect();
    check_container_names(desired, observed, &services, opts)?;
    check_volumes_from(desired, observed, &services, &chosen)?;
    let mut plan = Plan::default();

    let mut network_steps: BTreeMap<&str, StepId> = BTreeMap::new();
    for net in &desired.networks {
        if !opts.all_resources && !services.iter().any(|s| s.networks.contains(&net.key)) {
            continue;
        }
        if observed.network(&net.name).is_some() {
            continue;
        }
        if net.external {
            bail!(
                "network {} declared as external, but could not be found",
                net.name
            );
        }
        let id = plan.add(
            Operation::CreateNetwork {
                name: net.name.clone(),
            },
            [],
        );
        network_steps.insert(&net.key, id);
    }
    let mut volume_steps: BTreeMap<&str, StepId> = BTreeMap::new();
    for vol in &desired.volumes {
        if !opts.all_resources && !services.iter().any(|s| s.volumes.contains(&vol.key)) {
            continue;
        }
        if observed.volume(&vol.name).is_some() {
            continue;
        }
        if vol.external {
            bail!("external volume \"{}\" not found", vol.name);
        }
        let id = plan.add(
            Operation::CreateVolume {
                name: vol.name.clone(),
            },
            [],
        );
        volume_steps.insert(&vol.key, id);
    }
    let image_steps = plan_images(&mut plan, &services, observed, opts)?;

    // Per service: the steps after which its containers are up, and whether it was recreated.
    let mut ready: BTreeMap<&str, Vec<StepId>> = BTreeMap::new();
    let mut waits: BTreeMap<(String, DependencyCondition), StepId> = BTreeMap::new();
    let mut recreated: BTreeSet<&str> = BTreeSet::new();
    for svc in &services {
        let mut prereq = Prerequisites::default();
        prereq.steps.extend(
            svc.networks
                .iter()
                .filter_map(|n| network_steps.get(n.as_str())),
        );
        prereq.steps.extend(
            svc.volumes
                .iter()
                .filter_map(|v| volume_steps.get(v.as_str())),
        );
        prereq
            .steps
            .extend(image_steps.get(&svc.name).into_iter().flatten());
        let mut cascade = false;
        for dep in &svc.depends_on {
            if desired.service(&dep.service).is_none() {
                // An optional dependency that is not part of the project.
                continue;
            }
            if opts.no_deps && !chosen.contains(&dep.service) {
                // `--no-deps`: dependencies are left as they are, and not waited for.
                continue;
            }
            let dep_ready = ready.get(dep.service.as_str()).cloned().unwrap_or_default();
            match dep.condition {
                DependencyCondition::ServiceStarted => prereq.steps.extend(dep_ready),
                condition => prereq
                    .waits
                    .push((dep.service.clone(), condition, dep_ready)),
            }
            if dep.restart && recreated.contains(dep.service.as_str()) {
                cascade = true;
            }
        }
        if opts.run_service.as_deref() == Some(svc.name.as_str()) {
            prereq.resolve(&mut plan, &mut waits);
            continue;
        }
        let mut before = |plan: &mut Plan| prereq.resolve(plan, &mut waits);
        let (steps, was_recreated) = plan_service(
            &mut plan,
            desired,
            svc,
            observed,
            opts,
            &mut before,
            cascade,
        );
        if was_recreated {
            recreated.insert(&svc.name);
        }
        ready.insert(&svc.name, steps);
    }

    plan_orphans(&mut plan, desired, observed, opts);
    Ok(plan)
}

/// What a service's new or started containers wait for. Waits for dependency conditions
/// enter the plan only when the service has something to start, and once per dependency and
/// condition. A new container is created without waiting for them (only its start waits),
/// as Compose creates every container before it starts any: a dependent whose dependency
/// never gets healthy stays created.
#[derive(Default)]
struct Prerequisites {
    steps: Vec<StepId>,
    waits: Vec<(String, DependencyCondition, Vec<StepId>)>,
}

impl Prerequisites {
    fn resolve(
        &self,
        plan: &mut Plan,
        added: &mut BTreeMap<(String, DependencyCondition), StepId>,
    ) -> Prior {
        let mut out = Prior {
            steps: self.steps.clone(),
            waits: Vec::new(),
        };
        for (service, condition, after) in &self.waits {
            let id = *added
                .entry((service.clone(), *condition))
                .or_insert_with(|| {
                    plan.add(
                        Operation::WaitService {
                            service: service.clone(),
                            condition: *condition,
                        },
                        after.iter().copied(),
                    )
                });
            out.waits.push(id);
        }
        out
    }
}

/// The steps a service's containers come after: `steps` for their creation, `steps` and
/// `waits` for their start.
struct Prior {
    steps: Vec<StepId>,
    waits: Vec<StepId>,
}

impl Prior {
    fn all(self) -> Vec<StepId> {
        let mut v = self.steps;
        v.extend(self.waits);
        v
    }
}

/// A service that mounts the volumes of another service needs a container of it: one that
/// exists, or one this plan creates.
fn check_volumes_from(
    desired: &DesiredProject,
    observed: &Observed,
    services: &[&DesiredService],
    chosen: &BTreeSet<String>,
) -> anyhow::Result<()> {
    for svc in services {
        for donor in &svc.volumes_from {
            let exists = !observed.service_containers(&desired.name, donor).is_empty();
            if !exists && !chosen.contains(donor) {
                bail!("cannot share volume with service {donor}: container missing");
            }
        }
    }
    Ok(())
}

/// Pulls and builds, one step per image.
fn plan_images(
    plan: &mut Plan,
    services: &[&DesiredService],
    observed: &Observed,
    opts: &UpOptions,
) -> anyhow::Result<BTreeMap<String, Vec<StepId>>> {
    let mut pulls: Vec<(String, Vec<String>)> = Vec::new();
    let mut builds: Vec<(String, String)> = Vec::new();
    for svc in services {
        let present = image_present(observed, &svc.image);
        let policy = opts.pull.unwrap_or(svc.pull_policy);
        let build = svc.build && (policy == PullPolicy::Build || !present);
        let pull = !build
            && match policy {
                PullPolicy::Always => true,
                PullPolicy::Missing | PullPolicy::Build => !present,
                PullPolicy::Never => {
                    if !present {
                        bail!(
                            "service {:?}: image {} is not present and pull_policy is never",
                            svc.name,
                            svc.image
                        );
                    }
                    false
                }
            };
        let mut add_pull = |image: &str| match pulls.iter_mut().find(|(i, _)| i == image) {
            Some((_, users)) => {
                if !users.contains(&svc.name) {
                    users.push(svc.name.clone());
                }
            }
            None => pulls.push((image.to_string(), vec![svc.name.clone()])),
        };
        if build {
            builds.push((svc.image.clone(), svc.name.clone()));
        } else if pull {
            add_pull(&svc.image);
        }
        // The images of its `pre_start` hooks, under the service's policy (never built:
        // a hook without an image of its own runs the service's).
        for hook_image in svc.pre_start.iter().filter(|i| **i != svc.image) {
            let present = image_present(observed, hook_image);
            match policy {
                PullPolicy::Always => add_pull(hook_image),
                PullPolicy::Never if !present => bail!(
                    "service {:?}: image {hook_image} of a pre_start hook is not present and pull_policy is never",
                    svc.name
                ),
                _ if !present => add_pull(hook_image),
                _ => {}
            }
        }
    }
    let mut steps: BTreeMap<String, Vec<StepId>> = BTreeMap::new();
    for (image, users) in pulls {
        let id = plan.add(
            Operation::PullImage {
                image,
                services: users.clone(),
            },
            [],
        );
        for u in users {
            steps.entry(u).or_default().push(id);
        }
    }
    for (image, service) in builds {
        let id = plan.add(
            Operation::BuildImage {
                image,
                service: service.clone(),
            },
            [],
        );
        steps.entry(service).or_default().push(id);
    }
    Ok(steps)
}

/// Whether the store has `image`, as written or with the implied `:latest`.
fn image_present(observed: &Observed, image: &str) -> bool {
    if observed.image(image).is_some() {
        return true;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    !last.contains(':')
        && !image.contains('@')
        && observed.image(&format!("{image}:latest")).is_some()
}

/// The containers of one service; returns the steps after which they are up and whether
/// any was recreated.
fn plan_service(
    plan: &mut Plan,
    desired: &DesiredProject,
    svc: &DesiredService,
    observed: &Observed,
    opts: &UpOptions,
    before: &mut dyn FnMut(&mut Plan) -> Prior,
    dependency_recreated: bool,
) -> (Vec<StepId>, bool) {
    let project = desired.name.as_str();
    let expected = opts.scale.get(&svc.name).copied().unwrap_or(svc.replicas);
    let existing = observed.service_containers(project, &svc.name);
    // The volumes it should mount, by name: a service whose `volumes:` entry now names
    // another volume (an external one switched, say) keeps its config hash.
    let wanted: Vec<&str> = svc
        .volumes
        .iter()
        .filter_map(|key| desired.volumes.iter().find(|v| &v.key == key))
        .map(|v| v.name.as_str())
        .collect();
    let must_recreate = |c: &ObservedContainer| match opts.recreate {
        Recreate::Force => true,
        Recreate::Never => false,
        Recreate::Diverged => {
            dependency_recreated
                || c.config_hash() != Some(svc.hash.as_str())
                || wanted.iter().any(|w| !c.volumes.iter().any(|v| v == w))
        }
    };

    // Scaling down removes outdated containers first, then the highest numbers.
    let mut ranked: Vec<&ObservedContainer> = existing.clone();
    ranked.sort_by_key(|c| (!must_recreate(c), std::cmp::Reverse(c.number())));
    let excess = existing.len().saturating_sub(expected);
    let (removed, kept) = ranked.split_at(excess);
    for c in removed {
        let mut after = Vec::new();
        if c.state.is_up() {
            after.push(plan.add(
                Operation::StopContainer {
                    service: svc.name.clone(),
                    name: c.name.clone(),
                    id: c.id.clone(),
                },
                [],
            ));
        }
        plan.add(
            Operation::RemoveContainer {
                service: svc.name.clone(),
                name: c.name.clone(),
                id: c.id.clone(),
            },
            after,
        );
    }

    let mut kept: Vec<&ObservedContainer> = kept.to_vec();
    kept.sort_by_key(|c| c.number());
    let mut up_steps = Vec::new();
    let mut recreated = false;
    // With `pre_start` hooks, and none of its containers left running, the service's
    // containers start only once the hooks have run (Compose runs them when it starts a
    // service none of whose replicas runs).
    let stays_up = kept.iter().any(|c| !must_recreate(c) && c.state.is_up());
    let mut hooked = Hooked {
        pending: (!svc.pre_start.is_empty() && !opts.no_start && !stays_up).then(Vec::new),
    };
    for c in &kept {
        let number = c.number();
        if must_recreate(c) {
            recreated = true;
            let after = before(plan).all();
            let name = container_name(project, svc, number, opts.compatibility);
            let id = plan.add(
                Operation::RecreateContainer {
                    service: svc.name.clone(),
                    number,
                    name: name.clone(),
                    old_id: c.id.clone(),
                },
                after,
            );
            if opts.no_start {
                up_steps.push(id);
            } else {
                up_steps.extend(hooked.start(plan, svc, (number, name), vec![id]));
            }
        } else if !c.state.is_up() && !opts.no_start {
            let after = before(plan).all();
            up_steps.extend(hooked.start(plan, svc, (number, c.name.clone()), after));
        }
    }

    // Scaling up reuses the lowest free numbers, so numbers stay stable across scale changes.
    let used: BTreeSet<u32> = kept.iter().map(|c| c.number()).collect();
    let mut number = 0u32;
    for _ in kept.len()..expected {
        number += 1;
        while used.contains(&number) {
            number += 1;
        }
        let name = container_name(project, svc, number, opts.compatibility);
        let Prior { steps, waits } = before(plan);
        let id = plan.add(
            Operation::CreateContainer {
                service: svc.name.clone(),
                number,
                name: name.clone(),
            },
            steps,
        );
        if opts.no_start {
            up_steps.push(id);
        } else {
            let after = std::iter::once(id).chain(waits).collect();
            up_steps.extend(hooked.start(plan, svc, (number, name), after));
        }
    }
    up_steps.extend(hooked.finish(plan, svc));
    (up_steps, recreated)
}

/// The containers of a service with `pre_start` hooks that a plan starts, whose starts wait
/// for the hooks.
struct Hooked {
    /// The containers to start; `None` when no hooks run, so that containers start as soon
    /// as they can.
    pending: Option<Vec<PendingStart>>,
}

/// A start held back for the hooks.
struct PendingStart {
    number: u32,
    name: String,
    /// The steps the start waits for (the creation, dependencies).
    after: Vec<StepId>,
}

impl Hooked {
    /// Starts container `(number, name)` after `after` now, or notes it for after the hooks;
    /// returns the start step when it was added.
    fn start(
        &mut self,
        plan: &mut Plan,
        svc: &DesiredService,
        container: (u32, String),
        after: Vec<StepId>,
    ) -> Option<StepId> {
        match &mut self.pending {
            Some(pending) => {
                pending.push(PendingStart {
                    number: container.0,
                    name: container.1,
                    after,
                });
                None
            }
            None => Some(plan.add(
                Operation::StartContainer {
                    service: svc.name.clone(),
                    name: container.1,
                },
                after,
            )),
        }
    }

    /// The hooks step after everything the noted starts wait for, then the noted starts after
    /// it; returns the start steps. The hooks get the containers lowest number first: a hook
    /// that runs once shares the volumes of the first, as in Compose.
    fn finish(self, plan: &mut Plan, svc: &DesiredService) -> Vec<StepId> {
        let Some(mut pending) = self.pending.filter(|p| !p.is_empty()) else {
            return Vec::new();
        };
        pending.sort_by_key(|p| p.number);
        let after: Vec<StepId> = pending
            .iter()
            .flat_map(|p| p.after.iter().copied())
            .collect();
        let hooks = plan.add(
            Operation::RunPreStartHooks {
                service: svc.name.clone(),
                containers: pending.iter().map(|p| p.name.clone()).collect(),
            },
            after,
        );
        pending
            .into_iter()
            .map(|p| {
                plan.add(
                    Operation::StartContainer {
                        service: svc.name.clone(),
                        name: p.name,
                    },
                    [hooks],
                )
            })
            .collect()
    }
}

/// Two containers may not share a name: within the plan, or with a container of another
/// project or service.
fn check_container_names(
    desired: &DesiredProject,
    observed: &Observed,
    services: &[&DesiredService],
    opts: &UpOptions,
) -> anyhow::Result<()> {
    let mut taken: BTreeMap<String, &str> = BTreeMap::new();
    for svc in services {
        let replicas = opts.scale.get(&svc.name).copied().unwrap_or(svc.replicas);
        if svc.container_name.is_some() && replicas > 1 {
            bail!(
                "service {:?}: container_name {:?} is set, so it cannot have {replicas} replicas: container names must be unique",
                svc.name,
                svc.container_name.as_deref().unwrap_or_default()
            );
        }
        let Some(name) = &svc.container_name else {
            continue;
        };
        if let Some(other) = taken.insert(name.clone(), &svc.name) {
            bail!(
                "container name {name:?} is already in use by service {other:?}: services {other:?} and {:?} set the same container_name",
                svc.name
            );
        }
        if let Some(c) = observed.containers.iter().find(|c| &c.name == name)
            && (c.project() != Some(desired.name.as_str())
                || c.service() != Some(svc.name.as_str()))
        {
            bail!(
                "container name {name:?} is already in use by container {}; remove or rename that container to reuse the name",
                short(&c.id)
            );
        }
    }
    Ok(())
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Containers of services the project no longer has.
fn plan_orphans(plan: &mut Plan, desired: &DesiredProject, observed: &Observed, opts: &UpOptions) {
    let known: BTreeSet<&str> = desired
        .services
        .iter()
        .map(|s| s.name.as_str())
        .chain(desired.disabled_services.iter().map(String::as_str))
        .collect();
    // As in Compose: containers of services the file no longer has, and one-off containers
    // that have finished.
    let orphans: Vec<&ObservedContainer> = observed
        .containers
        .iter()
        .filter(|c| c.project() == Some(desired.name.as_str()))
        .filter(|c| {
            if c.is_oneoff() {
                matches!(c.state, ContainerState::Exited(_) | ContainerState::Dead)
            } else {
                c.service().is_none_or(|s| !known.contains(s))
            }
        })
        .collect();
    if orphans.is_empty() {
        return;
    }
    if opts.remove_orphans {
        for c in orphans {
            stop_and_remove(plan, c, []);
        }
    } else {
        let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
        plan.warnings.push(format!(
            "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(" ")
        ));
    }
}

/// A stop (when up) and a remove of `c`; returns the remove step.
fn stop_and_remove(
    plan: &mut Plan,
    c: &ObservedContainer,
    after: impl IntoIterator<Item = StepId>,
) -> StepId {
    let service = c.service().unwrap_or_default().to_string();
    let mut before: Vec<StepId> = after.into_iter().collect();
    if c.state.is_up() {
        before.push(plan.add(
            Operation::StopContainer {
                service: service.clone(),
                name: c.name.clone(),
                id: c.id.clone(),
            },
            before.clone(),
        ));
    }
    plan.add(
        Operation::RemoveContainer {
            service,
            name: c.name.clone(),
            id: c.id.clone(),
        },
        before,
    )
}

/// Plans `down`: every container of the project (dependents before their dependencies when
/// the project is known), then its networks, then with `-v` its volumes. External networks
/// and volumes are never removed. Works from the observed state alone when `desired` is
/// `None` (no compose file).
pub fn plan_down(
    project: &str,
    desired: Option<&DesiredProject>,
    observed: &Observed,
    opts: &DownOptions,
) -> Plan {
    let mut plan = Plan::default();
    let containers: Vec<&ObservedContainer> = observed
        .containers
        .iter()
        .filter(|c| c.project() == Some(project))
        .collect();
    // Services in stop order: reverse of start order; unknown services (orphans) first.
    let order: Vec<&str> = desired
        .map(|d| d.services.iter().rev().map(|s| s.name.as_str()).collect())
        .unwrap_or_default();
    let rank = |c: &ObservedContainer| {
        c.service()
            .and_then(|s| order.iter().position(|o| *o == s))
            .map_or(0, |p| p + 1)
    };
    let known = |c: &ObservedContainer| desired.is_none() || rank(c) > 0;
    let mut sorted: Vec<&ObservedContainer> = containers
        .into_iter()
        .filter(|c| known(c) || opts.remove_orphans || c.is_oneoff())
        .collect();
    sorted.sort_by_key(|c| (rank(c), c.name.clone()));

    // A service's containers stop only after every container of its dependents is removed.
    let mut removed_by_service: BTreeMap<String, Vec<StepId>> = BTreeMap::new();
    let mut all_removed = Vec::new();
    for c in sorted {
        let svc = c.service().unwrap_or_default();
        let dependents: Vec<StepId> = desired
            .map(|d| {
                d.services
                    .iter()
                    .filter(|s| s.depends_on.iter().any(|dep| dep.service == svc))
                    .flat_map(|s| removed_by_service.get(&s.name).cloned().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        let id = stop_and_remove(&mut plan, c, dependents);
        removed_by_service
            .entry(svc.to_string())
            .or_default()
            .push(id);
        all_removed.push(id);
    }

    for net in &observed.networks {
        if net.project() == Some(project) && !is_external(desired, &net.name, true) {
            plan.add(
                Operation::RemoveNetwork {
                    name: net.name.clone(),
                },
                all_removed.clone(),
            );
        }
    }
    if opts.volumes {
        for vol in &observed.volumes {
            if vol.project() == Some(project) && !is_external(desired, &vol.name, false) {
                plan.add(
                    Operation::RemoveVolume {
                        name: vol.name.clone(),
                    },
                    all_removed.clone(),
                );
            }
        }
    }
    plan
}

fn is_external(desired: Option<&DesiredProject>, name: &str, network: bool) -> bool {
    desired.is_some_and(|d| {
        let list = if network { &d.networks } else { &d.volumes };
        list.iter().any(|r| r.name == name && r.external)
    })
}
