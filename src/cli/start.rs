//! `berth start`: start a project's existing containers, dependencies first.

use super::GlobalOptions;
use super::lifecycle::{Session, runtime};
use crate::engine::state::RecordedState;
use clap::Args;
use std::process::ExitCode;

/// Flags of `berth start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Services to start (all when none)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Runs `berth start`.
pub fn run(global: &GlobalOptions, args: &StartArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open_for(global, false, &args.services)?;
    let records: Vec<_> = session
        .containers(&args.services, false)?
        .into_iter()
        .filter(|r| {
            !matches!(
                r.status.state,
                RecordedState::Running | RecordedState::Paused
            )
        })
        .collect();
    let rt = runtime()?;
    session.each(global, &records, "Starting", "Started", |r| {
        rt.block_on(session.ctx.start_container(&r.id))
    })?;
    Ok(ExitCode::SUCCESS)
}
