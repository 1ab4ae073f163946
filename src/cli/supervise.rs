//! `berth supervise PROJECT` (hidden): runs the project's supervisor. Started, detached, by
//! the commands that need one; never by people.

use super::GlobalOptions;
use crate::engine::state::{StateRoot, run_dir_from_env};
use crate::supervisor::adopt::TakeOver;
use anyhow::Context;
use clap::Args;
use std::process::ExitCode;

/// Arguments of `supervise`.
#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The project to supervise
    pub project: String,
    /// Record the containers found dead as exited, without restarting them: the command
    /// that starts this supervisor starts them itself
    #[arg(long)]
    pub defer_lost: bool,
}

/// Runs the supervisor until it is shut down. Its diagnostics go to stderr, which the
/// starting command points at the supervisor's log file.
pub fn run(global: &GlobalOptions, args: &SuperviseArgs) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
    let state =
        StateRoot::open(&global.root, run_dir_from_env()).context("cannot open the state root")?;
    let take_over = if args.defer_lost {
        TakeOver::Defer
    } else {
        TakeOver::Restart
    };
    crate::supervisor::run(state, &args.project, take_over)?;
    Ok(ExitCode::SUCCESS)
}
