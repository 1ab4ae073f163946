//! `berth exec`: run a command in a service's running container, passing its exit code
//! through, as `docker compose exec`.

use super::GlobalOptions;
use super::lifecycle::Session;
use crate::engine::exec::ExecRequest;
use crate::engine::state::{ContainerRecord, RecordedState};
use anyhow::Context as _;
use berth_runtime::container::Stdio;
use clap::Args;
use std::process::ExitCode;

/// Flags of `berth exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run the command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Disable pseudo-TTY allocation
    #[arg(short = 'T', long = "no-tty")]
    pub no_tty: bool,
    /// Run the command as this user
    #[arg(short, long)]
    pub user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Index of the container if the service has multiple replicas
    #[arg(long)]
    pub index: Option<u32>,
    /// Give extended privileges to the process
    #[arg(long)]
    pub privileged: bool,
    /// The service
    pub service: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

/// The container `exec` runs in: replica `index` when given; else replica 1, or the
/// service's running one-off container when it has no replica.
pub fn target(
    session: &Session,
    service: &str,
    index: Option<u32>,
) -> anyhow::Result<ContainerRecord> {
    let records = session.containers(&[service.to_string()], true)?;
    let running = |r: &&ContainerRecord| r.status.state == RecordedState::Running;
    let replica = |n: u32| {
        records
            .iter()
            .filter(running)
            .find(|r| !r.observed().is_oneoff() && r.observed().number() == n)
    };
    if let Some(n) = index {
        return replica(n)
            .cloned()
            .with_context(|| format!("service {service:?} is not running container #{n}"));
    }
    replica(1)
        .or_else(|| {
            records
                .iter()
                .filter(running)
                .find(|r| !r.observed().is_oneoff())
        })
        .or_else(|| {
            records
                .iter()
                .filter(running)
                .find(|r| r.observed().is_oneoff())
        })
        .cloned()
        .with_context(|| format!("service {service:?} is not running"))
}

/// Runs `berth exec`.
pub fn run(global: &GlobalOptions, args: &ExecArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open_for(global, false, std::slice::from_ref(&args.service))?;
    let record = target(&session, &args.service, args.index)?;
    let mut env = Vec::new();
    for e in &args.env {
        if e.contains('=') {
            env.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            // `-e KEY` takes the value from berth's own environment, as Compose does.
            env.push(format!("{e}={v}"));
        }
    }
    let request = ExecRequest {
        command: args.command.clone(),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        env,
        privileged: args.privileged,
    };
    let stdio = if args.detach {
        Stdio::Null
    } else {
        Stdio::Inherit
    };
    let exec = crate::engine::exec::exec(&session.ctx.machine.state, &record, &request, stdio)?;
    if args.detach {
        return Ok(ExitCode::SUCCESS);
    }
    let code = exec.wait().code();
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
