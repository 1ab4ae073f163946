//! `berth container ...`: every container berth recorded, whatever its project, with
//! Docker's commands and columns.

use super::template::{self, Format};
use super::{GlobalOptions, output, project, ps, summary};
use clap::{Args, Subcommand};
use std::process::ExitCode;
use std::time::SystemTime;

/// `berth container`.
#[derive(Debug, Args)]
pub struct ContainerArgs {
    #[command(subcommand)]
    command: ContainerCommand,
}

#[derive(Debug, Subcommand)]
enum ContainerCommand {
    /// List containers
    #[command(visible_alias = "ps", alias = "list")]
    Ls(LsArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Display detailed information on one or more containers
    Inspect(super::inspect::InspectArgs),
}

/// Flags of `berth container rm`, as in `docker container rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    /// The containers, by name or id
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// Flags of `berth container ls`, as in `docker container ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Format output: table, json, or a Go template ({{.Names}}, {{json .}})
    #[arg(long, default_value = "table")]
    format: String,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
}

/// Docker's default `ps` table.
const TABLE: &str =
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// The fields of Compose's rows that `docker ps` does not have.
const NOT_DOCKER: [&str; 7] = [
    "Name",
    "Project",
    "Service",
    "Publishers",
    "ExitCode",
    "Health",
    "Engine",
];

/// Runs `berth container ...`.
pub fn run(global: &GlobalOptions, args: &ContainerArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        ContainerCommand::Ls(ls) => list(global, ls),
        ContainerCommand::Rm(rm) => remove(global, rm),
        ContainerCommand::Inspect(args) => super::inspect::run(global, args),
    }
}

/// Removes containers behind their projects' backs, as `docker rm`: a running one only with
/// `--force`, which kills it first.
fn remove(global: &GlobalOptions, args: &RmArgs) -> anyhow::Result<ExitCode> {
    use crate::engine::execute::{Context, ProjectDefinition};
    use crate::engine::machine::Machine;
    let machine = Machine::open(&global.root)?;
    let rt = super::lifecycle::runtime()?;
    let mut failed = false;
    for name in &args.containers {
        let result = (|| -> anyhow::Result<()> {
            let id = match machine.state.name_holder(name)? {
                Some(id) => id,
                None if machine.state.container(name).is_ok() => name.clone(),
                None => anyhow::bail!("No such container: {name}"),
            };
            let record = machine.state.container(&id)?;
            let project = record.project().unwrap_or_default().to_string();
            let _lock = machine.state.lock_project(&project)?;
            let mut ctx = Context::new(
                machine.clone(),
                ProjectDefinition {
                    name: project,
                    loaded: None,
                    desired: None,
                },
            );
            ctx.remove_volumes = args.volumes;
            let active = record.status.state.is_active();
            if active {
                if !args.force {
                    anyhow::bail!(
                        "cannot remove container {name}: container is running: stop the container before removing or force remove"
                    );
                }
                let mut client = ctx.supervisor()?;
                // A user kill: the supervisor does not restart it.
                client.kill(&id, "SIGKILL")?;
                client.wait(&id)?;
            }
            rt.block_on(ctx.remove_container(&id))?;
            let _ = ctx.shutdown_supervisor_if_idle();
            Ok(())
        })();
        match result {
            Ok(()) => println!("{name}"),
            Err(e) => {
                output::error(&e);
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn list(global: &GlobalOptions, args: &LsArgs) -> anyhow::Result<ExitCode> {
    let state = project::open_state(global)?;
    let mut containers = state.containers()?.records;
    super::ps::as_of_this_boot(&mut containers);
    containers.retain(|c| args.all || ps::is_running(c));
    // Docker lists the newest first.
    containers.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
    let text = if args.quiet {
        containers
            .iter()
            .map(|c| {
                let id = if args.no_trunc {
                    c.id.as_str()
                } else {
                    summary::short_id(&c.id)
                };
                format!("{id}\n")
            })
            .collect()
    } else {
        let now = SystemTime::now();
        let rows: Vec<_> = containers
            .iter()
            .map(|c| {
                let mut row = summary::json(c, now, !args.no_trunc);
                if let Some(object) = row.as_object_mut() {
                    for key in NOT_DOCKER {
                        object.remove(key);
                    }
                }
                row
            })
            .collect();
        template::write_rows(&Format::parse(&args.format), TABLE, ps::HEADERS, &rows)?
    };
    output::emit(&text, None)?;
    Ok(ExitCode::SUCCESS)
}
