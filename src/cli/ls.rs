//! `berth ls`: the projects berth has containers for, as `docker compose ls` lists them.

use super::template::tabwrite;
use super::{GlobalOptions, output, project, ps, summary};
use crate::engine::labels;
use crate::engine::state::ContainerRecord;
use anyhow::bail;
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Flags of `berth ls`, as in `docker compose ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short, long)]
    all: bool,
    /// Format the output
    #[arg(long, value_enum, default_value_t = LsFormat::Table)]
    format: LsFormat,
    /// Only display project names
    #[arg(short, long)]
    quiet: bool,
    /// Filter output based on conditions provided (name=TEXT)
    #[arg(long, value_name = "FILTER")]
    filter: Vec<String>,
}

/// `--format` of `ls`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LsFormat {
    /// A table.
    Table,
    /// A JSON array.
    Json,
}

/// One project as `ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stack {
    /// The project name.
    #[serde(rename = "Name")]
    pub name: String,
    /// `running(2)`, `exited(1), running(1)`: containers by state.
    #[serde(rename = "Status")]
    pub status: String,
    /// The compose files, comma separated.
    #[serde(rename = "ConfigFiles")]
    pub config_files: String,
}

/// The projects of `containers`, by name: with `all`, every container counts, else only
/// running ones (a project without any is not listed), as Compose lists them.
pub fn stacks(containers: &[ContainerRecord], all: bool) -> Vec<Stack> {
    let mut by_project: BTreeMap<&str, (BTreeMap<&str, usize>, String)> = BTreeMap::new();
    for c in containers {
        let Some(project) = c.project() else { continue };
        if !all && !ps::is_running(c) {
            continue;
        }
        let entry = by_project.entry(project).or_default();
        *entry
            .0
            .entry(summary::state_word(c.status.state))
            .or_default() += 1;
        if entry.1.is_empty()
            && let Some(files) = c.labels.get(labels::CONFIG_FILES)
        {
            entry.1 = files.clone();
        }
    }
    by_project
        .into_iter()
        .map(|(name, (states, config_files))| Stack {
            name: name.to_owned(),
            status: states
                .iter()
                .map(|(s, n)| format!("{s}({n})"))
                .collect::<Vec<_>>()
                .join(", "),
            config_files,
        })
        .collect()
}

/// Runs `berth ls`.
pub fn run(global: &GlobalOptions, args: &LsArgs) -> anyhow::Result<ExitCode> {
    let mut names = Vec::new();
    for f in &args.filter {
        match f.split_once('=') {
            Some(("name", v)) => names.push(v.to_owned()),
            Some((k, _)) => bail!("invalid filter '{k}'"),
            None => bail!("bad format of filter (expected name=value)"),
        }
    }
    let state = project::open_state(global)?;
    let mut records = state.containers()?.records;
    super::ps::as_of_this_boot(&mut records);
    let mut stacks = stacks(&records, args.all);
    // Projects known only from their records get their files from there.
    for s in &mut stacks {
        if s.config_files.is_empty()
            && let Ok(Some(record)) = state.project(&s.name)
        {
            s.config_files = record
                .config_files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(",");
        }
    }
    // Docker matches the name filter as a pattern inside the name; berth as text.
    stacks.retain(|s| names.is_empty() || names.iter().any(|n| s.name.contains(n.as_str())));
    let text = if args.quiet {
        stacks.iter().map(|s| format!("{}\n", s.name)).collect()
    } else {
        match args.format {
            LsFormat::Json => format!("{}\n", serde_json::to_string(&stacks)?),
            LsFormat::Table => {
                let mut lines = vec!["NAME\tSTATUS\tCONFIG FILES".to_owned()];
                lines.extend(
                    stacks
                        .iter()
                        .map(|s| format!("{}\t{}\t{}", s.name, s.status, s.config_files)),
                );
                tabwrite(&lines, 20)
            }
        }
    };
    output::emit(&text, None)?;
    Ok(ExitCode::SUCCESS)
}
