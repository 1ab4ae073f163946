//! `berth up`: create and start a project's containers, as `docker compose up`.

use super::GlobalOptions;
use super::lifecycle::{Session, runtime};
use super::progress::{Reporter, Wording};
use crate::engine::desired::{DesiredProject, PullPolicy};
use crate::engine::readiness::{self, Condition};
use crate::engine::reconcile::{Recreate, UpOptions, plan_up};
use crate::engine::state::ProjectRecord;
use anyhow::{Context as _, bail};
use berth_compose::model::DependencyCondition;
use clap::Args;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Flags of `berth up`, as in `docker compose up`.
#[derive(Debug, Args, Default)]
pub struct UpArgs {
    /// Detached mode: run containers in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long)]
    pub no_build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long, value_name = "POLICY")]
    pub pull: Option<String>,
    /// Pull without printing progress information
    #[arg(long)]
    pub quiet_pull: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Recreate anonymous volumes instead of retrieving data from the previous containers
    #[arg(short = 'V', long)]
    pub renew_anon_volumes: bool,
    /// If containers already exist, don't recreate them
    #[arg(long, conflicts_with = "force_recreate")]
    pub no_recreate: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long)]
    pub force_recreate: bool,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Don't start the services after creating them
    #[arg(long)]
    pub no_start: bool,
    /// Scale SERVICE to NUM instances (overrides `scale` in the compose file)
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Stops all containers if any container was stopped
    #[arg(long)]
    pub abort_on_container_exit: bool,
    /// Stops all containers if any container exited with failure
    #[arg(long)]
    pub abort_on_container_failure: bool,
    /// Return the exit code of the selected service container
    #[arg(long, value_name = "SERVICE")]
    pub exit_code_from: Option<String>,
    /// Use this timeout in seconds for container shutdown
    #[arg(short, long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Show timestamps
    #[arg(long)]
    pub timestamps: bool,
    /// Restrict attaching to the specified services
    #[arg(long, value_name = "SERVICE")]
    pub attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services
    #[arg(long, value_name = "SERVICE")]
    pub no_attach: Vec<String>,
    /// Attach to dependent containers
    #[arg(long)]
    pub attach_dependencies: bool,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Don't prefix log lines with the container name
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Wait for services to be running|healthy. Implies detached mode
    #[arg(long)]
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy
    #[arg(long, value_name = "SECONDS")]
    pub wait_timeout: Option<u64>,
    /// Enable interactive shortcuts when running attached (berth has none; accepted for
    /// compatibility)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub menu: Option<bool>,
    /// Assume "yes" as answer to all prompts and run non-interactively
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Services to start (all when none)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Parses `--scale web=3`.
pub fn parse_scale(entries: &[String]) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut out = BTreeMap::new();
    for e in entries {
        let (svc, n) = e
            .split_once('=')
            .with_context(|| format!("invalid --scale {e:?}: expected SERVICE=NUM"))?;
        let n: usize = n
            .parse()
            .with_context(|| format!("invalid --scale {e:?}: {n:?} is not a number"))?;
        out.insert(svc.to_string(), n);
    }
    Ok(out)
}

/// The reconciler's options from the flags.
pub fn up_options(global: &GlobalOptions, args: &UpArgs) -> anyhow::Result<UpOptions> {
    if args.build && args.no_build {
        bail!("--build and --no-build are incompatible");
    }
    Ok(UpOptions {
        services: args.services.clone(),
        no_deps: args.no_deps,
        recreate: if args.force_recreate {
            Recreate::Force
        } else if args.no_recreate {
            Recreate::Never
        } else {
            Recreate::Diverged
        },
        no_start: args.no_start,
        pull: args.pull.as_deref().map(PullPolicy::parse).transpose()?,
        remove_orphans: args.remove_orphans,
        scale: parse_scale(&args.scale)?,
        run_service: None,
        compatibility: global.compatibility,
        all_resources: global.all_resources,
    })
}

/// Runs `berth up`.
pub fn run(global: &GlobalOptions, args: &UpArgs) -> anyhow::Result<ExitCode> {
    let opts = up_options(global, args)?;
    let mut session = Session::open_for(global, true, &args.services)?;
    session.configure(|c| {
        c.stop_timeout = args.timeout.map(Duration::from_secs);
        c.renew_anonymous_volumes = args.renew_anon_volumes;
        // Attached, Compose shows what `pre_start` hooks print.
        c.hook_output = !args.detach && !args.wait && !args.no_start;
    });
    let desired = session.desired()?;
    if let Some(svc) = &args.exit_code_from
        && desired.service(svc).is_none()
    {
        bail!("no such service: {svc}");
    }
    let mut opts = opts;
    // COMPOSE_REMOVE_ORPHANS, from the shell or the project's .env, as Compose reads it.
    if let Some(loaded) = &session.ctx.project.loaded
        && loaded
            .environment
            .get("COMPOSE_REMOVE_ORPHANS")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true"))
    {
        opts.remove_orphans = true;
    }
    let observed = session.observe()?;
    let plan = plan_up(desired, &observed, &opts)?;
    if global.dry_run {
        print!("{plan}");
        return Ok(ExitCode::SUCCESS);
    }
    record_project(&session)?;
    session.execute(global, &plan, args.quiet_pull)?;
    if args.wait && !args.no_start {
        wait_ready(global, &session, args)?;
    }
    if args.detach || args.wait || args.no_start {
        return Ok(ExitCode::SUCCESS);
    }
    super::attach::follow(global, &session, args)
}

/// The services `up --wait` waits for, with what each must reach: those named (all when
/// none) and, unless `--no-deps`, their dependencies; a service that another one of them
/// needs to complete successfully must do so, any other must run (and be healthy when it has
/// a health check), as Compose's `up --wait`.
pub fn wait_targets(
    desired: &DesiredProject,
    named: &[String],
    no_deps: bool,
) -> Vec<(String, Condition)> {
    let mut chosen: Vec<String> = if named.is_empty() {
        desired.services.iter().map(|s| s.name.clone()).collect()
    } else {
        named.to_vec()
    };
    if !no_deps {
        let mut i = 0;
        while i < chosen.len() {
            if let Some(svc) = desired.service(&chosen[i]) {
                for d in &svc.depends_on {
                    if desired.service(&d.service).is_some() && !chosen.contains(&d.service) {
                        chosen.push(d.service.clone());
                    }
                }
            }
            i += 1;
        }
    }
    // In start order.
    desired
        .services
        .iter()
        .filter(|s| chosen.contains(&s.name))
        .map(|s| {
            let completes = desired.services.iter().any(|other| {
                chosen.contains(&other.name)
                    && other.depends_on.iter().any(|d| {
                        d.service == s.name
                            && d.condition == DependencyCondition::ServiceCompletedSuccessfully
                    })
            });
            let condition = if completes {
                Condition::Completed
            } else {
                Condition::RunningOrHealthy
            };
            (s.name.clone(), condition)
        })
        .collect()
}

/// `--wait`: waits until the project's services are ready (see [`wait_targets`]), at most
/// `--wait-timeout` seconds.
fn wait_ready(global: &GlobalOptions, session: &Session, args: &UpArgs) -> anyhow::Result<()> {
    let targets = wait_targets(session.desired()?, &args.services, args.no_deps);
    let timeout = args
        .wait_timeout
        .filter(|t| *t > 0)
        .map(Duration::from_secs);
    let reporter = Arc::new(Reporter::new(global, false, Wording::Compose));
    let result = runtime()?.block_on(readiness::wait(
        &session.ctx,
        &targets,
        reporter.as_ref(),
        timeout,
    ));
    reporter.finish();
    result
}

/// Writes the project's record, so that `down`, `ps` and `ls` work without its file.
pub fn record_project(session: &Session) -> anyhow::Result<()> {
    let loaded = session.ctx.project.loaded()?;
    let state = &session.ctx.machine.state;
    let previous = state.project(&loaded.name)?;
    let created = previous
        .as_ref()
        .map(|p| p.created)
        .unwrap_or_else(SystemTime::now);
    let record = ProjectRecord {
        name: loaded.name.clone(),
        working_dir: loaded.working_dir.clone(),
        config_files: loaded.config_files.iter().map(Into::into).collect(),
        env_files: Vec::new(),
        networks: Vec::new(),
        volumes: Vec::new(),
        created,
        autostart: previous.is_some_and(|p| p.autostart),
    };
    state.save_project(&record)?;
    Ok(())
}
