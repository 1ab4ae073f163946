//! The executor: runs a [`Plan`] on the machine, every step as soon as the steps it waits for
//! are done, and reports progress as it goes. The first failure stops new steps from
//! starting; steps already running finish, and the error is returned.

mod attach;
mod create;
mod hooks;
mod network;
mod ops;
mod prestart;
mod pull;
mod supervise;
mod teardown;
mod volume;

pub use create::{NewContainer, create_container, new_id};
pub use ops::{Context, ProjectDefinition};
pub use supervise::settle;

use super::plan::{Plan, StepId};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::task::JoinSet;

/// Receives progress: `owner` is what changes (`Container p-web-1`, `Network p_default`),
/// `status` its new state in Docker Compose's words (`Creating`, `Created`, `Started`...),
/// `done` whether that state is final for this command.
pub trait Progress: Send + Sync {
    /// One change.
    fn status(&self, owner: &str, status: &str, done: bool);
}

/// Runs `plan`. Returns the first error, after the steps already running have finished.
/// With `ctx.keep_going` (teardown: `down`), a failed step does not stop the others: every
/// step runs, and the errors are reported together, so that nothing is left behind that
/// could have been removed.
pub async fn execute(
    plan: &Plan,
    ctx: Arc<Context>,
    progress: Arc<dyn Progress>,
) -> anyhow::Result<()> {
    let keep_going = ctx.keep_going;
    let mut errors: Vec<anyhow::Error> = Vec::new();
    let steps = plan.steps();
    let mut done: BTreeSet<StepId> = BTreeSet::new();
    let mut started: BTreeSet<StepId> = BTreeSet::new();
    let mut running: JoinSet<(StepId, anyhow::Result<()>)> = JoinSet::new();
    let mut failure: Option<anyhow::Error> = None;
    loop {
        if failure.is_none() {
            for (id, step) in steps.iter().enumerate() {
                if started.contains(&id) || !step.after.iter().all(|a| done.contains(a)) {
                    continue;
                }
                started.insert(id);
                let op = step.op.clone();
                let ctx = ctx.clone();
                let progress = progress.clone();
                running.spawn(async move { (id, ops::run(&op, &ctx, progress.as_ref()).await) });
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        match joined {
            Ok((id, Ok(()))) => {
                done.insert(id);
            }
            Ok((id, Err(e))) if keep_going => {
                done.insert(id);
                errors.push(e);
            }
            Ok((_, Err(e))) => {
                failure.get_or_insert(e);
            }
            Err(e) => {
                failure.get_or_insert(anyhow::anyhow!("a step of the plan panicked: {e}"));
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        n => {
            let all: Vec<String> = errors.iter().map(|e| format!("{e:#}")).collect();
            Err(anyhow::anyhow!("{n} steps failed: {}", all.join("; ")))
        }
    }
}
