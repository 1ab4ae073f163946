//! `berth down`: stop and remove a project's containers and networks, as `docker compose
//! down`; named volumes and images stay unless asked for.

use super::GlobalOptions;
use super::lifecycle::Session;
use crate::engine::desired::DesiredProject;
use crate::engine::plan::Operation;
use crate::engine::reconcile::{DownOptions, plan_down};
use clap::{Args, ValueEnum};
use std::process::ExitCode;
use std::time::Duration;

/// `--rmi`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum RemoveImages {
    /// Every image the services use.
    All,
    /// Only images without a custom tag (built ones).
    Local,
}

/// Flags of `berth down`, as in `docker compose down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Remove images used by services ("local"|"all")
    #[arg(long, value_enum, value_name = "TYPE")]
    pub rmi: Option<RemoveImages>,
    /// Specify a shutdown timeout in seconds
    #[arg(short, long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Remove named volumes declared in the "volumes" section of the Compose file and
    /// anonymous volumes attached to containers
    #[arg(short, long)]
    pub volumes: bool,
    /// Services to stop and remove (all when none)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Runs `berth down`.
pub fn run(global: &GlobalOptions, args: &DownArgs) -> anyhow::Result<ExitCode> {
    let mut session = Session::open(global, false)?;
    session.configure(|c| {
        c.stop_timeout = args.timeout.map(Duration::from_secs);
        c.remove_volumes = args.volumes;
        c.keep_going = true;
    });
    let observed = session.observe()?;
    // Without the compose file, the containers' labels tell the order.
    let from_state;
    let desired = match &session.ctx.project.desired {
        Some(d) => Some(d),
        None => {
            from_state = DesiredProject::from_observed(session.name(), &observed);
            Some(&from_state)
        }
    };
    let mut plan = plan_down(
        session.name(),
        desired,
        &observed,
        &DownOptions {
            volumes: args.volumes,
            remove_orphans: args.remove_orphans,
        },
    );
    if let Some(rmi) = args.rmi
        && let Some(desired) = &session.ctx.project.desired
    {
        let mut images: Vec<String> = desired
            .services
            .iter()
            .filter(|s| rmi == RemoveImages::All || s.build)
            .map(|s| s.image.clone())
            .collect();
        images.sort();
        images.dedup();
        let after: Vec<usize> = (0..plan.steps().len()).collect();
        for image in images {
            if observed.image(&image).is_some() || image_known(&session, &image) {
                plan.add(Operation::RemoveImage { image }, after.clone());
            }
        }
    }
    if global.dry_run {
        print!("{plan}");
        return Ok(ExitCode::SUCCESS);
    }
    let result = session.execute(global, &plan, false);
    let _ = session.ctx.shutdown_supervisor_if_idle();
    result?;
    if !args.volumes {
        let kept: Vec<&str> = observed
            .volumes
            .iter()
            .filter(|v| v.project() == Some(session.name()))
            .map(|v| v.name.as_str())
            .collect();
        if !kept.is_empty() {
            eprintln!(
                "Kept volume{} {} (`down -v` removes {})",
                if kept.len() == 1 { "" } else { "s" },
                kept.join(", "),
                if kept.len() == 1 { "it" } else { "them" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn image_known(session: &Session, image: &str) -> bool {
    session.ctx.machine.images.resolve(image).is_ok()
}
