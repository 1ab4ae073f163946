//! A plan: operations and what each must wait for, a DAG the executor runs as concurrently
//! as its edges allow. Its text form is deterministic; `up --dry-run` prints it and tests
//! compare it with golden files.

use berth_compose::model::DependencyCondition;
use std::fmt;

/// One thing to do to the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Create a bridge network.
    CreateNetwork { name: String },
    /// Create a named volume.
    CreateVolume { name: String },
    /// Pull an image for the services that use it.
    PullImage {
        image: String,
        services: Vec<String>,
    },
    /// Build a service's image.
    BuildImage { image: String, service: String },
    /// Create a new container.
    CreateContainer {
        service: String,
        number: u32,
        name: String,
    },
    /// Replace a container whose configuration changed, keeping its name and number.
    RecreateContainer {
        service: String,
        number: u32,
        name: String,
        old_id: String,
    },
    /// Run a service's `pre_start` hooks, in order, each in a container of its own that
    /// shares the volumes of `containers[0]` (a `per_replica` hook: of each of `containers`),
    /// before those containers start (the service has none running).
    RunPreStartHooks {
        service: String,
        containers: Vec<String>,
    },
    /// Start a created or stopped container.
    StartContainer { service: String, name: String },
    /// Wait until a service's containers meet a `depends_on` condition.
    WaitService {
        service: String,
        condition: DependencyCondition,
    },
    /// Stop a container (stop signal, grace period, then SIGKILL).
    StopContainer {
        service: String,
        name: String,
        id: String,
    },
    /// Remove a stopped container.
    RemoveContainer {
        service: String,
        name: String,
        id: String,
    },
    /// Remove a network the project created.
    RemoveNetwork { name: String },
    /// Remove a volume the project created.
    RemoveVolume { name: String },
    /// Remove an image.
    RemoveImage { image: String },
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::CreateNetwork { name } => write!(f, "create network {name}"),
            Operation::CreateVolume { name } => write!(f, "create volume {name}"),
            Operation::PullImage { image, services } => {
                write!(f, "pull image {image} for {}", services.join(", "))
            }
            Operation::BuildImage { image, service } => {
                write!(f, "build image {image} for {service}")
            }
            Operation::CreateContainer { name, .. } => write!(f, "create container {name}"),
            Operation::RecreateContainer { name, old_id, .. } => {
                write!(f, "recreate container {name} (replaces {})", short(old_id))
            }
            Operation::RunPreStartHooks {
                service,
                containers,
            } => write!(
                f,
                "run pre_start hooks of {service} for {}",
                containers.join(", ")
            ),
            Operation::StartContainer { name, .. } => write!(f, "start container {name}"),
            Operation::WaitService { service, condition } => {
                let what = match condition {
                    DependencyCondition::ServiceStarted => "started",
                    DependencyCondition::ServiceHealthy => "healthy",
                    DependencyCondition::ServiceCompletedSuccessfully => "completed successfully",
                };
                write!(f, "wait for {service} to be {what}")
            }
            Operation::StopContainer { name, .. } => write!(f, "stop container {name}"),
            Operation::RemoveContainer { name, .. } => write!(f, "remove container {name}"),
            Operation::RemoveNetwork { name } => write!(f, "remove network {name}"),
            Operation::RemoveVolume { name } => write!(f, "remove volume {name}"),
            Operation::RemoveImage { image } => write!(f, "remove image {image}"),
        }
    }
}

/// The index of a step in its plan.
pub type StepId = usize;

/// An operation and the steps it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What to do.
    pub op: Operation,
    /// Steps that must be done first (all earlier in the plan).
    pub after: Vec<StepId>,
}

/// A DAG of steps, in an order where every step comes after those it waits for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    steps: Vec<Step>,
    /// Things to tell the user that do not stop the plan (orphan containers, ...).
    pub warnings: Vec<String>,
}

impl Plan {
    /// Adds a step after `after` (which must already be in the plan) and returns its id.
    pub fn add(&mut self, op: Operation, after: impl IntoIterator<Item = StepId>) -> StepId {
        let id = self.steps.len();
        let mut after: Vec<StepId> = after.into_iter().filter(|a| *a < id).collect();
        after.sort_unstable();
        after.dedup();
        self.steps.push(Step { op, after });
        id
    }

    /// The steps, each after the ones it waits for.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The step with this id.
    pub fn step(&self, id: StepId) -> Option<&Step> {
        self.steps.get(id)
    }
}

impl fmt::Display for Plan {
    /// One line per step, `#N operation` then `after #A #B` when it waits for others.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            writeln!(f, "nothing to do")?;
        }
        for (i, step) in self.steps.iter().enumerate() {
            write!(f, "#{} {}", i + 1, step.op)?;
            if !step.after.is_empty() {
                let after: Vec<String> = step.after.iter().map(|a| format!("#{}", a + 1)).collect();
                write!(f, " after {}", after.join(" "))?;
            }
            writeln!(f)?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_only_wait_for_earlier_steps_and_print_in_order() {
        let mut plan = Plan::default();
        let net = plan.add(
            Operation::CreateNetwork {
                name: "p_default".into(),
            },
            [],
        );
        let create = plan.add(
            Operation::CreateContainer {
                service: "web".into(),
                number: 1,
                name: "p-web-1".into(),
            },
            [net, net, 99],
        );
        plan.add(
            Operation::StartContainer {
                service: "web".into(),
                name: "p-web-1".into(),
            },
            [create],
        );
        assert_eq!(
            plan.to_string(),
            "#1 create network p_default\n#2 create container p-web-1 after #1\n#3 start container p-web-1 after #2\n"
        );
    }
}
