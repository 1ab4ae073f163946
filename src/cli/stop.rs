//! `berth stop`: stop a project's running containers without removing them, dependents
//! first.

use super::GlobalOptions;
use super::lifecycle::Session;
use clap::Args;
use std::process::ExitCode;

/// Flags of `berth stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short, long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Services to stop (all when none)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Stops `records` in reverse start order.
pub fn stop_all(
    global: &GlobalOptions,
    session: &Session,
    records: &[crate::engine::state::ContainerRecord],
    timeout: Option<u64>,
) -> anyhow::Result<()> {
    let running: Vec<_> = records
        .iter()
        .rev()
        .filter(|r| r.status.state.is_active())
        .cloned()
        .collect();
    if running.is_empty() {
        return Ok(());
    }
    let rt = super::lifecycle::runtime()?;
    let timeout = timeout.map(std::time::Duration::from_secs);
    session.each(global, &running, "Stopping", "Stopped", |r| {
        rt.block_on(session.ctx.stop_container(&r.id, timeout))
    })
}

/// Runs `berth stop`.
pub fn run(global: &GlobalOptions, args: &StopArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open_for(global, false, &args.services)?;
    // One-off containers of `run` are left alone, as Compose leaves them.
    let records = session.containers(&args.services, false)?;
    stop_all(global, &session, &records, args.timeout)?;
    Ok(ExitCode::SUCCESS)
}
