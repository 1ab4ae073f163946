//! `berth logs`: the output of the project's containers, read from their log files, as
//! `docker compose logs` prints it (`web-1  | line`, both streams on stdout).

use super::{Ansi, GlobalOptions, project, summary};
use crate::engine::labels;
use crate::engine::logs::Stream;
use crate::engine::logs::read::{Follower, LogLine, LogQuery, POLL_INTERVAL};
use crate::engine::logs::time::{format_time, parse_time_arg};
use crate::engine::state::{ContainerRecord, StateRoot};
use anyhow::{Context, bail};
use clap::Args;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::SystemTime;

/// Flags of `berth logs`, as in `docker compose logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// index of the container if service has multiple replicas
    #[arg(long, default_value_t = 0)]
    index: u32,
    /// Produce monochrome output
    #[arg(long)]
    no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    no_log_prefix: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42
    /// minutes)
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all", value_name = "N")]
    tail: String,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42
    /// minutes)
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Services to show
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
}

/// How often, in polls, `--follow` looks for containers that came or went.
const RESCAN_EVERY: u32 = 10;

/// Compose's colors for prefixes, in the order it hands them out: cyan, yellow, green,
/// magenta, blue, then the same intense.
const COLORS: [&str; 10] = [
    "36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1",
];

/// Runs `berth logs`.
pub fn run(global: &GlobalOptions, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let now = SystemTime::now();
    let time_arg = |flag: &str, value: &Option<String>| -> anyhow::Result<Option<SystemTime>> {
        value
            .as_deref()
            .map(|v| parse_time_arg(v, now).with_context(|| format!("invalid value for {flag:?}")))
            .transpose()
    };
    let query = LogQuery {
        // As Docker: "all", a negative or an unreadable count all mean everything.
        tail: args
            .tail
            .parse::<i64>()
            .ok()
            .and_then(|n| usize::try_from(n).ok()),
        since: time_arg("since", &args.since)?,
        until: time_arg("until", &args.until)?,
    };
    let target = project::target(global)?;
    if let Some(loaded) = &target.loaded {
        for s in &args.services {
            if !loaded.project.services.contains_key(s) {
                bail!("no such service: {s}");
            }
        }
    }
    let state = project::open_state(global)?;
    let select = |state: &StateRoot| -> anyhow::Result<Vec<ContainerRecord>> {
        let mut found: Vec<ContainerRecord> = state
            .containers_of(&target.name)?
            .records
            .into_iter()
            .filter(|c| !summary::is_oneoff(c))
            .filter(|c| {
                args.services.is_empty() || args.services.iter().any(|s| s == summary::service(c))
            })
            .filter(|c| args.index == 0 || number(c) == Some(args.index))
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    };
    let containers = select(&state)?;
    let color = !args.no_color && use_color(global.ansi);
    let mut printer = LogPrinter::new(color, !args.no_log_prefix, args.timestamps);
    for c in &containers {
        printer.register(c);
    }
    let mut followers: BTreeMap<String, (String, Follower)> = containers
        .iter()
        .map(|c| {
            let paths = state.container_paths(&c.id);
            (
                c.id.clone(),
                (c.name.clone(), Follower::new(paths, query.clone())),
            )
        })
        .collect();
    let mut batch = Vec::new();
    for (name, follower) in followers.values_mut() {
        let mut lines = follower.poll().context("cannot read the container logs")?;
        if !args.follow {
            lines.extend(follower.finish());
        }
        batch.extend(lines.into_iter().map(|l| (name.clone(), l)));
    }
    if !printer.print(batch)? || !args.follow {
        return Ok(ExitCode::SUCCESS);
    }

    let mut polls = 0u32;
    loop {
        std::thread::sleep(POLL_INTERVAL);
        polls += 1;
        let mut batch = Vec::new();
        for (name, follower) in followers.values_mut() {
            let lines = follower.poll().context("cannot read the container logs")?;
            batch.extend(lines.into_iter().map(|l| (name.clone(), l)));
        }
        if !printer.print(batch)? {
            return Ok(ExitCode::SUCCESS);
        }
        if query.until.is_some_and(|u| SystemTime::now() > u) {
            return Ok(ExitCode::SUCCESS);
        }
        if polls.is_multiple_of(RESCAN_EVERY) {
            let now_there = select(&state)?;
            if now_there.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            // Containers that came (a scale, a recreate) are shown from their start.
            for c in &now_there {
                if !followers.contains_key(&c.id) {
                    printer.register(c);
                    let from_start = LogQuery {
                        tail: None,
                        ..query.clone()
                    };
                    let paths = state.container_paths(&c.id);
                    followers.insert(
                        c.id.clone(),
                        (c.name.clone(), Follower::new(paths, from_start)),
                    );
                }
            }
            followers.retain(|id, _| now_there.iter().any(|c| &c.id == id));
        }
    }
}

/// Whether `--ansi` lets prefixes be colored: `auto` when stdout is a terminal.
pub fn use_color(ansi: Ansi) -> bool {
    match ansi {
        Ansi::Never => false,
        Ansi::Always => true,
        Ansi::Auto => std::io::stdout().is_terminal(),
    }
}

fn number(c: &ContainerRecord) -> Option<u32> {
    c.labels.get(labels::CONTAINER_NUMBER)?.parse().ok()
}

/// The name Compose shows for a container: without the project when it has the default
/// name (`web-1`), else its own name (`container_name:`).
pub fn display_name(c: &ContainerRecord) -> String {
    let project = c.project().unwrap_or("");
    let default = format!(
        "{project}-{}-{}",
        summary::service(c),
        c.labels
            .get(labels::CONTAINER_NUMBER)
            .map(String::as_str)
            .unwrap_or("")
    );
    if c.name == default && !project.is_empty() {
        c.name[project.len() + 1..].to_owned()
    } else {
        c.name.clone()
    }
}

/// Prints container lines as Compose's log consumer does: `web-1  | text`, the prefix padded
/// to the longest name shown and colored per container on a terminal. `logs` prints both
/// streams on stdout, as Compose's does; attached `up` keeps stderr lines on stderr
/// ([`LogPrinter::stderr_apart`]).
pub struct LogPrinter {
    color: bool,
    prefix: bool,
    timestamps: bool,
    stderr_apart: bool,
    /// Display name and color, by container name.
    names: BTreeMap<String, (String, &'static str)>,
    width: usize,
}

impl LogPrinter {
    /// A printer: `color` for the prefixes, `prefix` off for `--no-log-prefix`,
    /// `timestamps` for `-t`.
    pub fn new(color: bool, prefix: bool, timestamps: bool) -> LogPrinter {
        LogPrinter {
            color,
            prefix,
            timestamps,
            stderr_apart: false,
            names: BTreeMap::new(),
            width: 0,
        }
    }

    /// Prints stderr lines on stderr (Compose's attached `up`) rather than on stdout.
    pub fn stderr_apart(mut self) -> LogPrinter {
        self.stderr_apart = true;
        self
    }

    /// Makes a container known: its prefix, its color, and the width of every prefix.
    pub fn register(&mut self, c: &ContainerRecord) {
        let shown = display_name(c);
        self.width = self.width.max(shown.chars().count() + 1);
        let color = COLORS[self.names.len() % COLORS.len()];
        self.names.insert(c.name.clone(), (shown, color));
    }

    /// Prints a note about container `name` on stdout, as Compose does: its shown name (in
    /// its color, without the bar), then `text` (`web-1 exited with code 0`).
    pub fn note(&self, name: &str, text: &str) {
        let (shown, color) = self
            .names
            .get(name)
            .map(|(s, c)| (s.as_str(), *c))
            .unwrap_or((name, ""));
        let shown = if self.color && !color.is_empty() {
            format!("\x1b[{color}m{shown}\x1b[0m")
        } else {
            shown.to_string()
        };
        let _ = writeln!(std::io::stdout().lock(), "{shown} {text}");
    }

    /// Prints a batch of (container name, line) in time order; false when the reader went
    /// away (closed pipe).
    pub fn print(&self, mut batch: Vec<(String, LogLine)>) -> anyhow::Result<bool> {
        batch.sort_by_key(|(_, l)| l.time);
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        for (name, line) in batch {
            let mut text = String::new();
            if self.prefix {
                let (shown, color) = self
                    .names
                    .get(&name)
                    .map(|(s, c)| (s.as_str(), *c))
                    .unwrap_or((name.as_str(), ""));
                let prefix = format!("{shown:<width$} | ", width = self.width);
                if self.color && !color.is_empty() {
                    text.push_str(&format!("\x1b[{color}m{prefix}\x1b[0m"));
                } else {
                    text.push_str(&prefix);
                }
            }
            if self.timestamps {
                text.push_str(&format_time(line.time));
                text.push(' ');
            }
            text.push_str(&line.text);
            text.push('\n');
            let written = match line.stream {
                Stream::Stderr if self.stderr_apart => err.write_all(text.as_bytes()),
                _ => out.write_all(text.as_bytes()),
            };
            match written {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(false),
                Err(e) => return Err(e).context("cannot write the logs"),
            }
        }
        let flushed = out.flush().and_then(|_| err.flush());
        match flushed {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            other => other.map(|_| true).context("cannot write the logs"),
        }
    }
}
