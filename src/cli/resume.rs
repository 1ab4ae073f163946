//! `berth resume [--all]`: bring a project's `always` and `unless-stopped` services back
//! after a reboot (or after its supervisor and containers were killed), dependencies first,
//! each after its `depends_on` condition holds. `--all`: every project whose autostart is
//! enabled, which is what an init system without systemd runs at boot.

use super::GlobalOptions;
use super::lifecycle::Session;
use super::{output, project::target};
use crate::engine::machine::Machine;
use crate::engine::resume;
use clap::Args;
use std::process::ExitCode;

/// Flags of `berth resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Every project whose autostart is enabled (`berth autostart enable`)
    #[arg(long)]
    pub all: bool,
}

/// Runs `berth resume`.
pub fn run(global: &GlobalOptions, args: &ResumeArgs) -> anyhow::Result<ExitCode> {
    if !args.all {
        resume_project(global, &target(global)?.name)?;
        return Ok(ExitCode::SUCCESS);
    }
    let machine = Machine::open(&global.root)?;
    let listing = machine.state.projects()?;
    drop(machine);
    let mut failed = 0;
    for project in listing.records.iter().filter(|p| p.autostart) {
        if let Err(e) = resume_project(global, &project.name) {
            output::error(&e.context(format!("cannot resume project {}", project.name)));
            failed += 1;
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Resumes one project from its records.
fn resume_project(global: &GlobalOptions, name: &str) -> anyhow::Result<()> {
    let session = Session::open_recorded(global, name)?;
    // Settle first: after a reboot the records still say "running".
    session.observe()?;
    let records = session.records()?;
    let services = resume::resumed_services(&records);
    if services.is_empty() {
        return Ok(());
    }
    let services = session.with_dependencies(&services)?;
    let records = session.containers(&services, false)?;
    session.start(global, &records)
}
