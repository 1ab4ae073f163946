//! `berth exec`: run a command in a service's running container, passing its exit code
//! through, as `docker compose exec`.

use super::GlobalOptions;
use super::lifecycle::Session;
use crate::engine::state::{ContainerRecord, RecordedState};
use anyhow::{Context as _, bail};
use berth_runtime::container::{Runtime, Stdio};
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
    let runtime = Runtime::new(session.ctx.machine.state.runtime_dir())?;
    let container = runtime
        .load(&record.id)
        .with_context(|| format!("container {} is not running", record.name))?;
    let mut process = container
        .spec()
        .process()
        .clone()
        .context("the container has no process")?;
    process.set_args(Some(args.command.clone()));
    process.set_terminal(Some(false));
    let mut env = process.env().clone().unwrap_or_default();
    for e in &args.env {
        let key = e.split('=').next().unwrap_or(e);
        let value = if e.contains('=') {
            e.clone()
        } else {
            // `-e KEY` takes the value from berth's own environment, as Compose does.
            match std::env::var(key) {
                Ok(v) => format!("{key}={v}"),
                Err(_) => continue,
            }
        };
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(value);
    }
    process.set_env(Some(env));
    if let Some(w) = &args.workdir {
        process.set_cwd(w.into());
    }
    if let Some(u) = &args.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let (Ok(uid), Ok(gid)) = (uid.parse::<u32>(), gid.map(str::parse::<u32>).transpose())
        else {
            bail!("exec --user {u:?}: give a numeric uid[:gid]");
        };
        let mut user = process.user().clone();
        user.set_uid(uid);
        user.set_gid(gid.unwrap_or(uid));
        process.set_user(user);
    }
    if args.privileged {
        bail!("exec --privileged is not supported yet");
    }
    let stdio = if args.detach {
        Stdio::Null
    } else {
        Stdio::Inherit
    };
    let exec = container
        .exec(&process, stdio)
        .with_context(|| format!("cannot exec in {}", record.name))?;
    if args.detach {
        return Ok(ExitCode::SUCCESS);
    }
    let code = exec.wait().code();
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
