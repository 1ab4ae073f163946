//! `berth create`: create a project's containers without starting them, as `docker compose
//! create` (the plan of `up --no-start`).

use super::GlobalOptions;
use super::lifecycle::Session;
use super::up::{UpArgs, record_project, up_options};
use crate::engine::reconcile::plan_up;
use clap::Args;
use std::process::ExitCode;

/// Flags of `berth create`, as in `docker compose create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long)]
    pub no_build: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long)]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long, conflicts_with = "force_recreate")]
    pub no_recreate: bool,
    /// Pull image before running ("always"|"missing"|"never"|"build")
    #[arg(long, value_name = "POLICY")]
    pub pull: Option<String>,
    /// Pull without printing progress information
    #[arg(long)]
    pub quiet_pull: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances (overrides `scale` in the compose file)
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Assume "yes" as answer to all prompts and run non-interactively
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Services to create (all when none)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

impl CreateArgs {
    /// The `up` flags this amounts to: `up --no-start` with the same choices.
    pub fn as_up(&self) -> UpArgs {
        UpArgs {
            build: self.build,
            no_build: self.no_build,
            force_recreate: self.force_recreate,
            no_recreate: self.no_recreate,
            pull: self.pull.clone(),
            quiet_pull: self.quiet_pull,
            remove_orphans: self.remove_orphans,
            scale: self.scale.clone(),
            yes: self.yes,
            services: self.services.clone(),
            no_start: true,
            detach: true,
            ..UpArgs::default()
        }
    }
}

/// Runs `berth create`.
pub fn run(global: &GlobalOptions, args: &CreateArgs) -> anyhow::Result<ExitCode> {
    let up = args.as_up();
    let opts = up_options(global, &up)?;
    let session = Session::open_for(global, true, &args.services)?;
    let desired = session.desired()?;
    let observed = session.observe()?;
    let plan = plan_up(desired, &observed, &opts)?;
    if global.dry_run {
        print!("{plan}");
        return Ok(ExitCode::SUCCESS);
    }
    record_project(&session)?;
    session.execute(global, &plan, false)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::reconcile::Recreate;

    #[test]
    fn create_is_up_without_start() {
        let args = CreateArgs {
            build: false,
            no_build: false,
            force_recreate: true,
            no_recreate: false,
            pull: Some("never".into()),
            quiet_pull: false,
            remove_orphans: true,
            scale: vec!["web=2".into()],
            yes: false,
            services: vec!["web".into()],
        };
        let global = <crate::cli::Cli as clap::Parser>::try_parse_from(["berth", "version"])
            .unwrap()
            .global;
        let opts = up_options(&global, &args.as_up()).unwrap();
        assert!(opts.no_start);
        assert_eq!(opts.recreate, Recreate::Force);
        assert!(opts.remove_orphans);
        assert_eq!(opts.scale.get("web"), Some(&2));
        assert_eq!(opts.services, ["web"]);
    }
}
