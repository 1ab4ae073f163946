//! The executor's side of the project's supervisor: it runs the containers, so starting and
//! stopping go through it (started on first need). Calls block on a unix socket, so they run
//! on tokio's blocking pool.

use super::ops::Context;
use crate::engine::state::ContainerRecord;
use crate::engine::state::StateRoot;
use crate::supervisor::SupervisorClient;
use anyhow::Context as _;
use std::path::Path;
use std::time::Duration;

/// A connection to the project's supervisor, starting it when none runs.
fn ensure(ctx: &Context) -> anyhow::Result<SupervisorClient> {
    SupervisorClient::ensure_with(&ctx.machine.state, &ctx.project.name, &ctx.machine.exe)
        .with_context(|| {
            format!(
                "cannot reach the supervisor of project {}",
                ctx.project.name
            )
        })
}

fn blocking<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    tokio::task::block_in_place(f)
}

/// Starts container `id`.
pub async fn start(ctx: &Context, id: &str) -> anyhow::Result<()> {
    blocking(|| ensure(ctx)?.start(id))
}

/// Stops container `id` (a container that is not running is left as it is).
pub async fn stop(ctx: &Context, id: &str, timeout: Option<Duration>) -> anyhow::Result<()> {
    let record = ctx.machine.state.container(id)?;
    if !record.status.state.is_active() {
        return Ok(());
    }
    blocking(|| {
        ensure(ctx)?
            .stop(id, timeout.map(|t| t.as_secs()))
            .map(|_| ())
    })
}

/// Tells the supervisor that `record`'s container is going away (when one runs).
pub async fn forget(ctx: &Context, record: &ContainerRecord) -> anyhow::Result<()> {
    blocking(
        || match SupervisorClient::connect(&ctx.machine.state, &ctx.project.name)? {
            Some(mut client) => client.forget(&record.id),
            None => Ok(()),
        },
    )
}

/// Makes the records of `project` true before a command decides from them: when they say
/// containers run but no supervisor answers (it was killed, or the machine rebooted), a
/// supervisor is started that takes over the live ones and records the dead ones exited,
/// without restarting them: the command starts what it should, in dependency order.
pub fn settle(state: &StateRoot, project: &str, exe: &Path) -> anyhow::Result<()> {
    if SupervisorClient::connect(state, project)?.is_some() {
        return Ok(());
    }
    let claims_running = state
        .containers_of(project)?
        .records
        .iter()
        .any(|r| r.status.state.is_active());
    if claims_running {
        SupervisorClient::ensure_deferring(state, project, exe)
            .with_context(|| format!("cannot reach the supervisor of project {project}"))?;
    }
    Ok(())
}

/// Ends the supervisor once the project has no container left.
pub fn shutdown_if_idle(ctx: &Context) -> anyhow::Result<()> {
    let left = ctx.machine.state.containers_of(&ctx.project.name)?.records;
    if !left.is_empty() {
        return Ok(());
    }
    if let Some(client) = SupervisorClient::connect(&ctx.machine.state, &ctx.project.name)? {
        client.shutdown(false)?;
    }
    Ok(())
}
