//! One operation of a plan, carried out: what the machine is told to do and what progress
//! says about it, in Docker Compose's words.

use super::hooks::Hook;
use super::{Progress, network, teardown, volume};
use crate::engine::desired::DesiredProject;
use crate::engine::machine::Machine;
use crate::engine::plan::Operation;
use crate::engine::readiness::{self, Condition};
use anyhow::{Context as _, bail};
use berth_compose::LoadedProject;
use berth_compose::model::DependencyCondition;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The project a plan is for: its name always, its model when the compose file was loaded
/// (`down` and `ps` can work from the state alone).
#[derive(Debug)]
pub struct ProjectDefinition {
    /// The project name.
    pub name: String,
    /// The loaded project.
    pub loaded: Option<LoadedProject>,
    /// What the reconciler saw of it.
    pub desired: Option<DesiredProject>,
}

impl ProjectDefinition {
    /// The loaded project, for operations that need the compose file.
    pub fn loaded(&self) -> anyhow::Result<&LoadedProject> {
        self.loaded
            .as_ref()
            .context("no configuration file provided: not found")
    }
}

/// Everything the operations of one plan share.
#[derive(Debug)]
pub struct Context {
    /// The machine's stores.
    pub machine: Machine,
    /// The project.
    pub project: ProjectDefinition,
    /// `-t`: seconds to wait for a container to stop before killing it (its own
    /// `stop_grace_period` when `None`).
    pub stop_timeout: Option<Duration>,
    /// Remove anonymous volumes with their containers (`down -v`, `rm -v`).
    pub remove_volumes: bool,
    /// `up -V`: recreated containers get new anonymous volumes.
    pub renew_anonymous_volumes: bool,
    /// Run every step even when some fail (teardown).
    pub keep_going: bool,
    /// Print the output of `pre_start` hook containers as it comes (attached `up`).
    pub hook_output: bool,
    /// Warnings gathered on the way, printed by the command.
    pub warnings: Mutex<Vec<String>>,
    /// Host ports given to containers by this command, so that concurrent creations never
    /// pick the same one.
    pub(super) claimed_ports: Mutex<std::collections::BTreeSet<(String, u16)>>,
}

impl Context {
    /// A context for the project on the machine.
    pub fn new(machine: Machine, project: ProjectDefinition) -> Context {
        Context {
            machine,
            project,
            stop_timeout: None,
            remove_volumes: false,
            renew_anonymous_volumes: false,
            keep_going: false,
            hook_output: false,
            warnings: Mutex::new(Vec::new()),
            claimed_ports: Mutex::new(Default::default()),
        }
    }

    /// Adds a warning for the command to print.
    pub fn warn(&self, text: String) {
        self.warnings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(text);
    }

    /// A connection to the project's supervisor, started when none runs.
    pub fn supervisor(&self) -> anyhow::Result<crate::supervisor::SupervisorClient> {
        crate::supervisor::SupervisorClient::ensure_with(
            &self.machine.state,
            &self.project.name,
            &self.machine.exe,
        )
        .with_context(|| {
            format!(
                "cannot reach the supervisor of project {}",
                self.project.name
            )
        })
    }

    /// Starts the recorded container `id` (remounting what a reboot took away first), then
    /// runs its `post_start` hooks.
    pub async fn start_container(&self, id: &str) -> anyhow::Result<()> {
        super::create::revive(self, id).await?;
        super::supervise::start(self, id).await?;
        let record = self.machine.state.container(id)?;
        tokio::task::block_in_place(|| super::hooks::run_hooks(self, &record, Hook::PostStart))
    }

    /// Stops container `id`: its `pre_stop` hooks first (a failing one is reported once
    /// the container has stopped anyway), then the stop signal and the grace period.
    pub async fn stop_container(&self, id: &str, timeout: Option<Duration>) -> anyhow::Result<()> {
        let record = self.machine.state.container(id)?;
        let hooks =
            tokio::task::block_in_place(|| super::hooks::run_hooks(self, &record, Hook::PreStop));
        super::supervise::stop(self, id, timeout).await?;
        hooks
    }

    /// Removes the stopped container `id` (its anonymous volumes too with
    /// `remove_volumes`).
    pub async fn remove_container(&self, id: &str) -> anyhow::Result<()> {
        super::teardown::remove_container(self, id, self.remove_volumes).await
    }

    /// Ends the project's supervisor when the project has no container left.
    pub fn shutdown_supervisor_if_idle(&self) -> anyhow::Result<()> {
        super::supervise::shutdown_if_idle(self)
    }

    /// The warnings gathered so far.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Reports `doing`, runs `work`, then reports `done` or `Error`.
async fn step<T>(
    progress: &dyn Progress,
    owner: &str,
    doing: &str,
    done: &str,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    progress.status(owner, doing, false);
    match work.await {
        Ok(v) => {
            progress.status(owner, done, true);
            Ok(v)
        }
        Err(e) => {
            progress.status(owner, "Error", true);
            Err(e)
        }
    }
}

/// The id of the container named `name`.
fn container_id(ctx: &Context, name: &str) -> anyhow::Result<String> {
    ctx.machine
        .state
        .name_holder(name)?
        .with_context(|| format!("no such container: {name}"))
}

fn new_container(service: &str, number: u32, name: &str) -> super::NewContainer {
    super::NewContainer {
        service: service.to_string(),
        number,
        name: name.to_string(),
        oneoff: None,
        anonymous: Vec::new(),
        image: None,
    }
}

/// Carries out `op`.
pub async fn run(
    op: &Operation,
    ctx: &Arc<Context>,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    match op {
        Operation::CreateNetwork { name } => {
            step(
                progress,
                &format!("Network {name}"),
                "Creating",
                "Created",
                network::create(ctx, name),
            )
            .await
        }
        Operation::CreateVolume { name } => {
            let owner = format!("Volume {name}");
            let warning = step(progress, &owner, "Creating", "Created", async {
                volume::create(ctx, name)
            })
            .await?;
            if let Some(w) = warning {
                ctx.warn(w);
            }
            Ok(())
        }
        Operation::PullImage { image, services } => {
            super::pull::pull_image(ctx, image, services, progress).await
        }
        Operation::BuildImage { image, service } => {
            progress.status(&format!("Service {service}"), "Error", true);
            bail!(
                "service {service:?} must be built (image {image}), and berth cannot build images yet: build it with another tool and load it with `berth image load`"
            )
        }
        Operation::CreateContainer {
            service,
            number,
            name,
        } => step(
            progress,
            &format!("Container {name}"),
            "Creating",
            "Created",
            super::create::create_container(ctx.clone(), new_container(service, *number, name)),
        )
        .await
        .map(|_| ()),
        Operation::RecreateContainer {
            service,
            number,
            name,
            old_id,
        } => step(
            progress,
            &format!("Container {name}"),
            "Recreate",
            "Recreated",
            async {
                ctx.stop_container(old_id, ctx.stop_timeout).await?;
                let old = ctx.machine.state.container(old_id)?;
                // The new container takes over the old one's anonymous volumes, unless `-V`
                // asks for fresh ones (then the old ones go with the old container).
                let anonymous: Vec<(std::path::PathBuf, String)> = if ctx.renew_anonymous_volumes {
                    Vec::new()
                } else {
                    let names = teardown::anonymous_volumes(ctx, &old);
                    old.mounts
                        .iter()
                        .filter(|m| names.contains(&m.source))
                        .map(|m| (std::path::PathBuf::from(&m.target), m.source.clone()))
                        .collect()
                };
                teardown::remove_container(ctx, old_id, ctx.renew_anonymous_volumes).await?;
                let mut new = new_container(service, *number, name);
                new.anonymous = anonymous;
                super::create::create_container(ctx.clone(), new).await
            },
        )
        .await
        .map(|_| ()),
        Operation::RunPreStartHooks {
            service,
            containers,
        } => super::prestart::run(ctx, service, containers, progress).await,
        Operation::StartContainer { name, .. } => {
            step(
                progress,
                &format!("Container {name}"),
                "Starting",
                "Started",
                async {
                    let id = container_id(ctx, name)?;
                    ctx.start_container(&id).await
                },
            )
            .await
        }
        Operation::WaitService { service, condition } => {
            wait_service(ctx, service, *condition, progress).await
        }
        Operation::StopContainer { name, id, .. } => {
            step(
                progress,
                &format!("Container {name}"),
                "Stopping",
                "Stopped",
                ctx.stop_container(id, ctx.stop_timeout),
            )
            .await
        }
        Operation::RemoveContainer { name, id, .. } => {
            step(
                progress,
                &format!("Container {name}"),
                "Removing",
                "Removed",
                teardown::remove_container(ctx, id, ctx.remove_volumes),
            )
            .await
        }
        Operation::RemoveNetwork { name } => {
            step(
                progress,
                &format!("Network {name}"),
                "Removing",
                "Removed",
                network::remove(ctx, name),
            )
            .await
        }
        Operation::RemoveVolume { name } => {
            step(
                progress,
                &format!("Volume {name}"),
                "Removing",
                "Removed",
                async { volume::remove(ctx, name, &teardown::volumes_in_use(ctx)) },
            )
            .await
        }
        Operation::RemoveImage { image } => {
            step(
                progress,
                &format!("Image {image}"),
                "Removing",
                "Removed",
                async {
                    let in_use = ctx
                        .machine
                        .state
                        .containers()?
                        .records
                        .into_iter()
                        .map(|r| r.image.id)
                        .collect();
                    ctx.machine
                        .images
                        .remove(image, false, &in_use)
                        .map(|_| ())
                        .with_context(|| format!("cannot remove image {image}"))
                },
            )
            .await
        }
    }
}

/// Waits until the containers of `service` meet `condition` (Compose's `waitDependencies`).
async fn wait_service(
    ctx: &Context,
    service: &str,
    condition: DependencyCondition,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let condition = match condition {
        // Ordering alone: the start of the dependency was enough.
        DependencyCondition::ServiceStarted => return Ok(()),
        DependencyCondition::ServiceHealthy => Condition::Healthy,
        DependencyCondition::ServiceCompletedSuccessfully => Condition::Completed,
    };
    readiness::wait(ctx, &[(service.to_string(), condition)], progress, None).await
}
