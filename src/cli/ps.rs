//! `berth ps`: the containers of the project, from berth's state, as `docker compose ps`
//! lists them.

use super::project::{self, ProjectTarget};
use super::template::{self, Format};
use super::{GlobalOptions, output, summary};
use crate::engine::state::ContainerRecord;
use anyhow::bail;
use clap::{ArgAction, Args};
use std::process::ExitCode;
use std::time::SystemTime;

/// Flags of `berth ps`, as in `docker compose ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all stopped containers (including those created by the run command)
    #[arg(short, long)]
    all: bool,
    /// Only display IDs
    #[arg(short, long)]
    quiet: bool,
    /// Display services
    #[arg(long)]
    services: bool,
    /// Filter services by status. Values: [paused | restarting | removing | running | dead |
    /// created | exited]
    #[arg(long, value_name = "STATUS")]
    status: Vec<String>,
    /// Filter services by a property (supported filters: status)
    #[arg(long, value_name = "KEY=VALUE")]
    filter: Option<String>,
    /// Format output: table, json, or a Go template ({{.Name}}, {{json .}})
    #[arg(long, default_value = "table")]
    format: String,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Include orphaned services (not declared by project)
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    orphans: bool,
    /// Services to list
    #[arg(value_name = "SERVICE")]
    service_names: Vec<String>,
}

/// Compose's default `ps` table.
pub const TABLE: &str = "{{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t\
                         {{.Status}}\t{{.Ports}}";

/// The header of each field of a container row, as Docker Compose names them.
pub const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("Names", "NAMES"),
    ("Project", "PROJECT"),
    ("Service", "SERVICE"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Networks", "NETWORKS"),
];

/// Runs `berth ps`.
pub fn run(global: &GlobalOptions, args: &PsArgs) -> anyhow::Result<ExitCode> {
    let mut statuses = args.status.clone();
    if let Some(filter) = &args.filter {
        let Some((key, value)) = filter.split_once('=') else {
            bail!("arguments to --filter should be in form KEY=VAL");
        };
        match key {
            "status" => statuses.push(value.to_owned()),
            "source" => bail!("not implemented"),
            _ => bail!("unknown filter {key}"),
        }
    }
    let target = project::target(global)?;
    let services = selected_services(&target, &args.service_names, args.orphans)?;
    let state = project::open_state(global)?;
    let mut containers = state.containers_of(&target.name)?.records;
    as_of_this_boot(&mut containers);
    let all = args.all || !statuses.is_empty();
    let mut shown: Vec<ContainerRecord> = containers
        .into_iter()
        .filter(|c| all || (is_running(c) && !summary::is_oneoff(c)))
        .filter(|c| services.is_empty() || services.iter().any(|s| s == summary::service(c)))
        .filter(|c| {
            statuses.is_empty()
                || statuses
                    .iter()
                    .any(|s| s == summary::state_word(c.status.state))
        })
        .collect();
    shown.sort_by(|a, b| a.name.cmp(&b.name));

    let mut text = String::new();
    if args.quiet {
        for c in &shown {
            text.push_str(&c.id);
            text.push('\n');
        }
    } else if args.services {
        let mut names: Vec<&str> = Vec::new();
        for c in &shown {
            if !names.contains(&summary::service(c)) {
                names.push(summary::service(c));
            }
        }
        text = names.join("\n");
        text.push('\n');
    } else {
        let now = SystemTime::now();
        let rows: Vec<_> = shown
            .iter()
            .map(|c| summary::json(c, now, !args.no_trunc))
            .collect();
        text = template::write_rows(&Format::parse(&args.format), TABLE, HEADERS, &rows)?;
    }
    output::emit(&text, None)?;
    Ok(ExitCode::SUCCESS)
}

/// Whether a container shows without `--all`: Docker lists running ones, paused and
/// restarting included.
pub fn is_running(c: &ContainerRecord) -> bool {
    c.status.state.is_active()
}

/// The services to list: those named (which must exist when the compose file is known), or
/// without orphans those of the compose file; empty means all.
pub fn selected_services(
    target: &ProjectTarget,
    named: &[String],
    orphans: bool,
) -> anyhow::Result<Vec<String>> {
    let Some(loaded) = &target.loaded else {
        return Ok(named.to_vec());
    };
    let known: Vec<String> = loaded.project.services.keys().cloned().collect();
    if !named.is_empty() {
        for s in named {
            if !known.contains(s) {
                bail!("no such service: {s}");
            }
        }
        return Ok(named.to_vec());
    }
    Ok(if orphans { Vec::new() } else { known })
}

/// Records as this boot sees them: after a reboot, before any command settled them, the
/// containers they say run are shown exited (255), which is what they are.
pub fn as_of_this_boot(records: &mut [ContainerRecord]) {
    let boot = crate::engine::state::current_boot_id();
    for r in records {
        r.status = r.status.as_of_boot(boot);
    }
}
