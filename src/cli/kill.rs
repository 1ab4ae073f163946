//! `berth kill`: send a signal to a project's running containers.

use super::GlobalOptions;
use super::lifecycle::Session;
use crate::engine::state::RecordedState;
use clap::Args;
use std::process::ExitCode;

/// Flags of `berth kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// SIGNAL to send to the container
    #[arg(short, long, default_value = "SIGKILL")]
    pub signal: String,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Services to kill (all when none)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Runs `berth kill`.
pub fn run(global: &GlobalOptions, args: &KillArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open_for(global, false, &args.services)?;
    let running: Vec<_> = session
        .containers(&args.services, false)?
        .into_iter()
        .filter(|r| {
            matches!(
                r.status.state,
                RecordedState::Running | RecordedState::Paused
            )
        })
        .collect();
    if running.is_empty() {
        anyhow::bail!("no container to kill");
    }
    let mut client = session.ctx.supervisor()?;
    session.each(global, &running, "Killing", "Killed", |r| {
        client.kill(&r.id, &args.signal)
    })?;
    Ok(ExitCode::SUCCESS)
}
