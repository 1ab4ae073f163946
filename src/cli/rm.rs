//! `berth rm`: remove a project's stopped containers.

use super::lifecycle::{Session, runtime};
use super::{GlobalOptions, output, stop};
use clap::Args;
use std::process::ExitCode;

/// Flags of `berth rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short, long)]
    pub force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short, long)]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short, long)]
    pub volumes: bool,
    /// Services to remove (all when none)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Runs `berth rm`.
pub fn run(global: &GlobalOptions, args: &RmArgs) -> anyhow::Result<ExitCode> {
    let mut session = Session::open_for(global, false, &args.services)?;
    session.configure(|c| c.remove_volumes = args.volumes);
    let records = session.containers(&args.services, true)?;
    if args.stop {
        stop::stop_all(global, &session, &records, None)?;
    }
    let records: Vec<_> = session
        .containers(&args.services, true)?
        .into_iter()
        .filter(|r| !r.status.state.is_active())
        .collect();
    if records.is_empty() {
        eprintln!("No stopped containers");
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
    let going = format!("Going to remove {}", names.join(", "));
    if args.force {
        eprintln!("{going}");
    } else if !output::confirm(&going)? {
        return Ok(ExitCode::SUCCESS);
    }
    let rt = runtime()?;
    session.each(global, &records, "Removing", "Removed", |r| {
        rt.block_on(session.ctx.remove_container(&r.id))
    })?;
    let _ = session.ctx.shutdown_supervisor_if_idle();
    Ok(ExitCode::SUCCESS)
}
