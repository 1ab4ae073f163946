//! Lifecycle hooks: `post_start` commands run in a container right after it started,
//! `pre_stop` commands right before it is stopped, as Docker Compose runs them.

use super::ops::Context;
use crate::engine::exec::{ExecRequest, exec};
use crate::engine::observed::ContainerState;
use crate::engine::state::ContainerRecord;
use berth_compose::model::ServiceHook;
use berth_runtime::container::Stdio;

/// Which hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// After start.
    PostStart,
    /// Before stop.
    PreStop,
}

/// The hooks the service of `record` declares (none without the compose file).
fn hooks(ctx: &Context, record: &ContainerRecord, which: Hook) -> Vec<ServiceHook> {
    let Some(loaded) = &ctx.project.loaded else {
        return Vec::new();
    };
    let observed = record.observed();
    let Some(svc) = observed.service().and_then(|s| loaded.project.service(s)) else {
        return Vec::new();
    };
    match which {
        Hook::PostStart => svc.post_start.clone(),
        Hook::PreStop => svc.pre_stop.clone(),
    }
}

/// Runs the `which` hooks of `record`'s container, in order; the first that fails ends it
/// with Compose's message (`web hook exited with status 1`).
pub fn run_hooks(ctx: &Context, record: &ContainerRecord, which: Hook) -> anyhow::Result<()> {
    let hooks = hooks(ctx, record, which);
    if hooks.is_empty() || record.observed().state != ContainerState::Running {
        return Ok(());
    }
    let service = record.observed().service().unwrap_or_default().to_string();
    for hook in hooks {
        let request = ExecRequest {
            command: hook.command.clone(),
            user: hook.user.clone(),
            workdir: hook.working_dir.clone(),
            env: hook
                .environment
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                .collect(),
            privileged: hook.privileged.unwrap_or(false),
        };
        let process = exec(&ctx.machine.state, record, &request, Stdio::Null)?;
        let code = process.wait().code();
        if code != 0 {
            anyhow::bail!("{service} hook exited with status {code}");
        }
    }
    Ok(())
}
