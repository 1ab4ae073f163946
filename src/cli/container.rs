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
    }
}

fn list(global: &GlobalOptions, args: &LsArgs) -> anyhow::Result<ExitCode> {
    let state = project::open_state(global)?;
    let mut containers = state.containers()?.records;
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
