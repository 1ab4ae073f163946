//! `berth restart`: stop then start a project's containers, keeping them.

use super::lifecycle::Session;
use super::{GlobalOptions, stop};
use clap::Args;
use std::process::ExitCode;

/// Flags of `berth restart`.
#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short, long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Don't restart dependent services
    #[arg(long)]
    pub no_deps: bool,
    /// Services to restart (all when none)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Runs `berth restart`.
pub fn run(global: &GlobalOptions, args: &RestartArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open_for(global, false, &args.services)?;
    let records = session.containers(&args.services, false)?;
    stop::stop_all(global, &session, &records, args.timeout)?;
    session.start(global, &records)?;
    Ok(ExitCode::SUCCESS)
}
