//! `berth port`: the host address a container port is published on, as `docker compose
//! port` prints it.

use super::{GlobalOptions, output, project, summary};
use crate::engine::labels;
use anyhow::{Context, bail};
use clap::Args;
use std::process::ExitCode;

/// Flags of `berth port`, as in `docker compose port`.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    protocol: String,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 0)]
    index: u32,
    /// The service
    #[arg(value_name = "SERVICE")]
    service: String,
    /// The container port
    #[arg(value_name = "PRIVATE_PORT")]
    private_port: String,
}

/// Runs `berth port`.
pub fn run(global: &GlobalOptions, args: &PortArgs) -> anyhow::Result<ExitCode> {
    let port: u16 = args
        .private_port
        .parse()
        .with_context(|| format!("invalid port {:?}", args.private_port))?;
    let target = project::target(global)?;
    if let Some(loaded) = &target.loaded
        && !loaded.project.services.contains_key(&args.service)
    {
        bail!("no such service: {}", args.service);
    }
    let state = project::open_state(global)?;
    let mut containers: Vec<_> = state
        .containers_of(&target.name)?
        .records
        .into_iter()
        .filter(|c| summary::service(c) == args.service)
        .collect();
    let number = |c: &crate::engine::state::ContainerRecord| {
        c.labels
            .get(labels::CONTAINER_NUMBER)
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    };
    containers.sort_by_key(|c| (summary::is_oneoff(c), number(c)));
    let container = if args.index > 0 {
        containers
            .iter()
            .find(|c| number(c) == args.index)
            .with_context(|| {
                format!(
                    "service {:?} is not running container #{}",
                    args.service, args.index
                )
            })?
    } else {
        containers
            .first()
            .with_context(|| format!("service {:?} is not running", args.service))?
    };
    let publisher = summary::publishers(&container.ports)
        .into_iter()
        .find(|p| p.target_port == port && p.protocol == args.protocol)
        .with_context(|| {
            format!(
                "no port {port}/{} for container {}: not found",
                args.protocol, container.name
            )
        })?;
    output::emit(
        &format!("{}:{}\n", publisher.url, publisher.published_port),
        None,
    )?;
    Ok(ExitCode::SUCCESS)
}
