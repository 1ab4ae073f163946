//! `berth scale`: set services' numbers of replicas, as `docker compose scale`.

use super::GlobalOptions;
use super::lifecycle::Session;
use super::up::parse_scale;
use crate::engine::reconcile::{Recreate, UpOptions, plan_up};
use clap::Args;
use std::process::ExitCode;

/// Flags of `berth scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// SERVICE=REPLICAS pairs
    #[arg(required = true, value_name = "SERVICE=REPLICAS")]
    pub scale: Vec<String>,
}

/// Runs `berth scale`.
pub fn run(global: &GlobalOptions, args: &ScaleArgs) -> anyhow::Result<ExitCode> {
    let scale = parse_scale(&args.scale)?;
    let services: Vec<String> = scale.keys().cloned().collect();
    let session = Session::open_for(global, true, &services)?;
    let opts = UpOptions {
        services,
        no_deps: args.no_deps,
        recreate: Recreate::Never,
        scale,
        compatibility: global.compatibility,
        all_resources: global.all_resources,
        ..UpOptions::default()
    };
    let observed = session.observe()?;
    let plan = plan_up(session.desired()?, &observed, &opts)?;
    if global.dry_run {
        print!("{plan}");
        return Ok(ExitCode::SUCCESS);
    }
    super::up::record_project(&session)?;
    session.execute(global, &plan, false)?;
    Ok(ExitCode::SUCCESS)
}
