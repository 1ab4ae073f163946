//! `berth run`: a one-off container of a service, its dependencies started first, as
//! `docker compose run`.

use super::GlobalOptions;
use super::lifecycle::{Session, runtime};
use super::logs::LogPrinter;
use super::up::parse_scale;
use crate::engine::desired::PullPolicy;
use crate::engine::execute::{NewContainer, new_id};
use crate::engine::logs::read::{Follower, LogQuery};
use crate::engine::oneoff::{OneOffOptions, oneoff_project};
use crate::engine::reconcile::{UpOptions, plan_up};
use crate::engine::state::RecordedState;
use anyhow::{Context as _, bail};
use clap::Args;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Flags of `berth run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Override the entrypoint of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Add or override a label
    #[arg(short, long = "label", value_name = "KEY=VAL")]
    pub labels: Vec<String>,
    /// Run as specified username or uid
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(short = 'P', long)]
    pub service_ports: bool,
    /// Bind mount a volume
    #[arg(short, long = "volume")]
    pub volumes: Vec<String>,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long, default_value_t = true)]
    pub interactive: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long, value_name = "POLICY")]
    pub pull: Option<String>,
    /// Pull without printing progress information
    #[arg(short, long)]
    pub quiet_pull: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Use the service's network aliases in the network(s) the container connects to
    #[arg(long)]
    pub use_aliases: bool,
    /// Build image before starting container
    #[arg(long)]
    pub build: bool,
    /// The service
    pub service: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Runs `berth run`.
pub fn run(global: &GlobalOptions, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open_for(global, true, std::slice::from_ref(&args.service))?;
    let desired = session.desired()?;
    if desired.service(&args.service).is_none() {
        bail!("no such service: {}", args.service);
    }
    let opts = UpOptions {
        services: vec![args.service.clone()],
        no_deps: args.no_deps,
        pull: args.pull.as_deref().map(PullPolicy::parse).transpose()?,
        remove_orphans: args.remove_orphans,
        scale: parse_scale(&[])?,
        run_service: Some(args.service.clone()),
        compatibility: global.compatibility,
        all_resources: global.all_resources,
        ..UpOptions::default()
    };
    let observed = session.observe()?;
    let plan = plan_up(desired, &observed, &opts)?;
    if global.dry_run {
        print!("{plan}");
        return Ok(ExitCode::SUCCESS);
    }
    super::up::record_project(&session)?;
    session.execute(global, &plan, false)?;

    let loaded = session.ctx.project.loaded()?;
    let overrides = OneOffOptions {
        command: args.command.clone(),
        entrypoint: args.entrypoint.clone(),
        env: args.env.clone(),
        labels: args.labels.clone(),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        publish: args.publish.clone(),
        service_ports: args.service_ports,
        volumes: args.volumes.clone(),
        tty: false,
        // Attached, the container's stdin would be ours; berth does not relay it yet.
        interactive: args.interactive && args.detach,
    };
    let project = oneoff_project(loaded, &args.service, &overrides, &|k| {
        std::env::var(k).ok()
    })?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => format!(
            "{}-{}-run-{}",
            session.name(),
            args.service,
            &new_id()?[..12]
        ),
    };
    let rt = runtime()?;
    let ctx = session.ctx.clone();
    let id = rt.block_on(crate::engine::execute::create_container(
        ctx.clone(),
        NewContainer {
            service: args.service.clone(),
            number: 1,
            name: name.clone(),
            oneoff: Some(Arc::new(project)),
            anonymous: Vec::new(),
            image: None,
        },
    ))?;
    rt.block_on(ctx.start_container(&id))?;
    if args.detach {
        println!("{name}");
        return Ok(ExitCode::SUCCESS);
    }
    let code = follow_oneoff(&session, &id, &name)?;
    if args.rm {
        rt.block_on(ctx.remove_container(&id))
            .with_context(|| format!("cannot remove {name}"))?;
    }
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// Shows the one-off's output (no prefix) until it exits; returns its exit code.
fn follow_oneoff(session: &Session, id: &str, name: &str) -> anyhow::Result<i32> {
    let printer = LogPrinter::new(false, false, false).stderr_apart();
    let state = &session.ctx.machine.state;
    let mut follower = Follower::new(state.container_paths(id), LogQuery::default());
    loop {
        printer.print(
            follower
                .poll()?
                .into_iter()
                .map(|l| (name.to_string(), l))
                .collect(),
        )?;
        let record = state.container(id)?;
        if matches!(
            record.status.state,
            RecordedState::Exited | RecordedState::Dead
        ) {
            let rest = follower.poll()?.into_iter().chain(follower.finish());
            printer.print(rest.map(|l| (name.to_string(), l)).collect())?;
            return Ok(record.status.exit_code.unwrap_or(255));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
