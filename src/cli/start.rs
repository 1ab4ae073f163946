//! `berth start`: start a project's existing containers, dependencies first.

use super::GlobalOptions;
use super::lifecycle::Session;
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
    // As in Compose, a named service's dependencies start too.
    let services = session.with_dependencies(&args.services)?;
    let records = session.containers(&services, false)?;
    session.start(global, &records)?;
    Ok(ExitCode::SUCCESS)
}
