//! `berth pause` and `berth unpause`: freeze and thaw a project's running containers.

use super::GlobalOptions;
use super::lifecycle::Session;
use crate::engine::state::RecordedState;
use clap::Args;
use std::process::ExitCode;

/// Flags of `berth pause` / `berth unpause`.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Services (all when none)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Runs `berth pause` (`pause` true) or `berth unpause`.
pub fn run(global: &GlobalOptions, args: &PauseArgs, pause: bool) -> anyhow::Result<ExitCode> {
    let session = Session::open_for(global, false, &args.services)?;
    let records = session.containers(&args.services, false)?;
    let mut client = session.ctx.supervisor()?;
    let (doing, done) = if pause {
        ("Pausing", "Paused")
    } else {
        ("Unpausing", "Unpaused")
    };
    session.each(global, &records, doing, done, |r| {
        match (pause, r.status.state) {
            (true, RecordedState::Paused) => {
                anyhow::bail!("container {} is already paused", r.name)
            }
            (false, RecordedState::Running) => {
                anyhow::bail!("container {} is not paused", r.name)
            }
            (_, RecordedState::Running | RecordedState::Paused) => {}
            _ => anyhow::bail!("container {} is not running", r.name),
        }
        if pause {
            client.pause(&r.id)
        } else {
            client.unpause(&r.id)
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
