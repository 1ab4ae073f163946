//! Starting existing containers (`start`, the second half of `restart`, `resume`): a pure
//! function from the project and the containers to start to a plan that starts them
//! dependencies first and holds each service until what it depends on meets its
//! `depends_on` condition, as `up` does for the containers it starts.

use super::desired::DesiredProject;
use super::observed::Observed;
use super::plan::{Operation, Plan, StepId};
use berth_compose::model::DependencyCondition;
use std::collections::{BTreeMap, BTreeSet};

/// Plans the start of the project's containers named in `names` (service containers; others
/// are ignored). A dependency is waited for only when it will run: when this plan starts one
/// of its containers or one runs already; a dependency that stays stopped is not waited for
/// (nothing would ever satisfy the wait), as Docker does not wait for it either.
pub fn plan_start(desired: &DesiredProject, observed: &Observed, names: &BTreeSet<String>) -> Plan {
    let mut plan = Plan::default();
    // Per service: the start steps of its containers.
    let mut started: BTreeMap<&str, Vec<StepId>> = BTreeMap::new();
    let mut waits: BTreeMap<(&str, DependencyCondition), StepId> = BTreeMap::new();
    for svc in &desired.services {
        let containers: Vec<_> = observed
            .service_containers(&desired.name, &svc.name)
            .into_iter()
            .filter(|c| names.contains(&c.name))
            .collect();
        if containers.is_empty() {
            continue;
        }
        let mut after = Vec::new();
        for dep in &svc.depends_on {
            let dep_steps = started
                .get(dep.service.as_str())
                .cloned()
                .unwrap_or_default();
            let runs = observed
                .service_containers(&desired.name, &dep.service)
                .iter()
                .any(|c| c.state.is_up());
            if dep_steps.is_empty() && !runs {
                continue;
            }
            match dep.condition {
                DependencyCondition::ServiceStarted => after.extend(dep_steps),
                condition => {
                    let id = *waits
                        .entry((dep.service.as_str(), condition))
                        .or_insert_with(|| {
                            plan.add(
                                Operation::WaitService {
                                    service: dep.service.clone(),
                                    condition,
                                },
                                dep_steps,
                            )
                        });
                    after.push(id);
                }
            }
        }
        let steps = containers
            .into_iter()
            .map(|c| {
                plan.add(
                    Operation::StartContainer {
                        service: svc.name.clone(),
                        name: c.name.clone(),
                    },
                    after.iter().copied(),
                )
            })
            .collect();
        started.insert(&svc.name, steps);
    }
    // Containers of services the project view leaves out (a profile not enabled now): they
    // exist, so they start, with no dependency known to order them.
    let planned: BTreeSet<&str> = plan
        .steps()
        .iter()
        .filter_map(|s| match &s.op {
            Operation::StartContainer { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let rest: Vec<(String, String)> = observed
        .containers
        .iter()
        .filter(|c| names.contains(&c.name) && !planned.contains(c.name.as_str()))
        .filter(|c| !c.is_oneoff() && c.project() == Some(desired.name.as_str()))
        .map(|c| (c.service().unwrap_or_default().to_string(), c.name.clone()))
        .collect();
    for (service, name) in rest {
        plan.add(Operation::StartContainer { service, name }, []);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::desired::{Dependency, DesiredService, PullPolicy};
    use crate::engine::labels;
    use crate::engine::observed::{ContainerState, ObservedContainer};

    fn service(name: &str, deps: &[(&str, DependencyCondition)]) -> DesiredService {
        DesiredService {
            name: name.into(),
            hash: String::new(),
            replicas: 1,
            image: "busybox".into(),
            build: false,
            pull_policy: PullPolicy::Missing,
            container_name: None,
            depends_on: deps
                .iter()
                .map(|(s, c)| Dependency {
                    service: s.to_string(),
                    condition: *c,
                    restart: false,
                    required: true,
                })
                .collect(),
            networks: Vec::new(),
            volumes: Vec::new(),
            volumes_from: Vec::new(),
            pre_start: Vec::new(),
        }
    }

    fn container(service: &str, number: u32, state: ContainerState) -> ObservedContainer {
        ObservedContainer {
            id: format!("{service}{number}"),
            name: format!("p-{service}-{number}"),
            labels: [
                (labels::PROJECT, "p"),
                (labels::SERVICE, service),
                (labels::CONTAINER_NUMBER, &number.to_string()),
                (labels::ONEOFF, "False"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            state,
            volumes: Vec::new(),
        }
    }

    fn project() -> DesiredProject {
        use DependencyCondition::*;
        DesiredProject {
            name: "p".into(),
            services: vec![
                service("db", &[]),
                service("init", &[("db", ServiceHealthy)]),
                service("cache", &[]),
                service(
                    "web",
                    &[
                        ("db", ServiceHealthy),
                        ("init", ServiceCompletedSuccessfully),
                        ("cache", ServiceStarted),
                    ],
                ),
            ],
            disabled_services: Vec::new(),
            networks: Vec::new(),
            volumes: Vec::new(),
        }
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dependencies_start_first_and_gate_their_dependents() {
        let exited = ContainerState::Exited(255);
        let observed = Observed {
            containers: vec![
                container("web", 2, exited.clone()),
                container("web", 1, exited.clone()),
                container("db", 1, exited.clone()),
                container("init", 1, ContainerState::Exited(0)),
                container("cache", 1, exited),
            ],
            ..Default::default()
        };
        let plan = plan_start(
            &project(),
            &observed,
            &names(&["p-db-1", "p-init-1", "p-cache-1", "p-web-1", "p-web-2"]),
        );
        assert_eq!(
            plan.to_string(),
            "\
#1 start container p-db-1
#2 wait for db to be healthy after #1
#3 start container p-init-1 after #2
#4 start container p-cache-1
#5 wait for init to be completed successfully after #3
#6 start container p-web-1 after #2 #4 #5
#7 start container p-web-2 after #2 #4 #5
"
        );
    }

    #[test]
    fn containers_of_services_outside_the_view_start_too() {
        let observed = Observed {
            containers: vec![
                container("db", 1, ContainerState::Exited(0)),
                container("extra", 1, ContainerState::Exited(0)),
            ],
            ..Default::default()
        };
        let plan = plan_start(&project(), &observed, &names(&["p-extra-1", "p-db-1"]));
        assert_eq!(
            plan.to_string(),
            "#1 start container p-db-1\n#2 start container p-extra-1\n"
        );
    }

    #[test]
    fn a_running_dependency_is_waited_for_and_a_stopped_one_is_not() {
        let observed = Observed {
            containers: vec![
                container("db", 1, ContainerState::Running),
                container("init", 1, ContainerState::Exited(0)),
                container("cache", 1, ContainerState::Exited(0)),
                container("web", 1, ContainerState::Exited(137)),
            ],
            ..Default::default()
        };
        let plan = plan_start(&project(), &observed, &names(&["p-web-1"]));
        assert_eq!(
            plan.to_string(),
            "\
#1 wait for db to be healthy
#2 start container p-web-1 after #1
"
        );
    }
}
