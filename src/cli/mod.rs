//! Command-line parsing and dispatch: one file per command. The CLI parses and prints; the
//! engine decides.

pub mod config;
pub mod image;
pub mod images;
pub mod output;
pub mod progress;
pub mod pull;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// A daemonless, Compose-compatible multi-container orchestrator.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every project command takes, with Docker Compose's names.
#[derive(Debug, Args, Clone)]
pub struct GlobalOptions {
    /// Compose configuration files (`-` reads standard input)
    #[arg(
        short = 'f',
        long = "file",
        id = "global_file",
        global = true,
        value_name = "FILE"
    )]
    pub files: Vec<String>,
    /// Project name
    #[arg(short = 'p', long = "project-name", global = true, value_name = "NAME")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first compose file)
    #[arg(long, global = true, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Profiles to enable
    #[arg(
        long = "profile",
        id = "global_profile",
        global = true,
        value_name = "PROFILE"
    )]
    pub profiles: Vec<String>,
    /// Alternate environment files
    #[arg(
        long = "env-file",
        id = "global_env_file",
        global = true,
        value_name = "FILE"
    )]
    pub env_files: Vec<PathBuf>,
    /// Control when to print ANSI control characters
    #[arg(long, global = true, value_enum, default_value_t = Ansi::Auto)]
    pub ansi: Ansi,
    /// Set type of progress output
    #[arg(long, global = true, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// Execute command in dry run mode
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Show more output
    #[arg(long, global = true)]
    pub verbose: bool,
    /// Root directory of berth's state (images, containers, volumes)
    #[arg(
        long,
        global = true,
        env = "BERTH_ROOT",
        value_name = "DIR",
        default_value = "/var/lib/berth"
    )]
    pub root: PathBuf,
}

/// `--ansi`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Ansi {
    Never,
    Always,
    Auto,
}

/// `--progress`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Progress {
    Auto,
    Tty,
    Plain,
    Json,
    Quiet,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse, resolve and render the compose file in canonical format
    Config(config::ConfigArgs),
    /// Pull service images
    Pull(pull::PullArgs),
    /// List images used by the created containers
    Images(images::ImagesArgs),
    /// Manage images
    Image(image::ImageArgs),
}

/// Parses the command line, runs the command and turns its outcome into an exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse_from(image_force_flags(std::env::args_os().collect()));
    init_tracing(cli.global.verbose);
    let result = match &cli.command {
        Command::Config(args) => config::run(&cli.global, args),
        Command::Pull(args) => pull::run(&cli.global, args),
        Command::Images(args) => images::run(&cli.global, args),
        Command::Image(args) => image::run(&cli.global, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            output::error(&e);
            ExitCode::FAILURE
        }
    }
}

/// Global options that take a value (their value is never a flag of the subcommand).
const GLOBAL_VALUE_OPTIONS: &[&str] = &[
    "-f",
    "--file",
    "-p",
    "--project-name",
    "--project-directory",
    "--profile",
    "--env-file",
    "--ansi",
    "--progress",
    "--root",
];

/// Docker's `image rm -f` and `image prune -f` mean `--force`, but `-f` is also the global
/// compose-file flag, which clap propagates to every subcommand. After `image rm|prune`, `-f`
/// (alone or in a cluster like `-af`) is rewritten to `--force` before parsing.
fn image_force_flags(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let text: Vec<Option<&str>> = args.iter().map(|a| a.to_str()).collect();
    // Find `image` as the command (skipping global options and their values), then its
    // subcommand.
    let mut i = 1;
    let mut subcommand_at = None;
    while i < text.len() {
        match text[i] {
            Some(t) if GLOBAL_VALUE_OPTIONS.contains(&t) => i += 2,
            Some(t) if t.starts_with('-') => i += 1,
            Some("image") => {
                if matches!(
                    text.get(i + 1).copied().flatten(),
                    Some("rm" | "remove" | "rmi" | "prune")
                ) {
                    subcommand_at = Some(i + 1);
                }
                break;
            }
            _ => break,
        }
    }
    let Some(start) = subcommand_at else {
        return args;
    };
    let mut out: Vec<std::ffi::OsString> = args[..=start].to_vec();
    let mut rest = args[start + 1..].iter();
    while let Some(arg) = rest.next() {
        match arg.to_str() {
            Some("--") => {
                out.push(arg.clone());
                out.extend(rest.by_ref().cloned());
            }
            Some(t) if GLOBAL_VALUE_OPTIONS.contains(&t) && t != "-f" => {
                out.push(arg.clone());
                out.extend(rest.next().cloned());
            }
            Some(t)
                if t.starts_with('-')
                    && !t.starts_with("--")
                    && t.len() > 1
                    && t[1..].bytes().all(|b| b.is_ascii_alphabetic())
                    && t.contains('f') =>
            {
                let others: String = t[1..].chars().filter(|c| *c != 'f').collect();
                if !others.is_empty() {
                    out.push(format!("-{others}").into());
                }
                out.push("--force".into());
            }
            _ => out.push(arg.clone()),
        }
    }
    out
}

fn init_tracing(verbose: bool) {
    let default = if verbose { "debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The process environment, the one input berth takes from the process besides arguments.
pub fn process_environment() -> berth_compose::loader::Environment {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Load options from the global flags, for a command run in the current directory.
pub fn load_options(global: &GlobalOptions) -> anyhow::Result<berth_compose::LoadOptions> {
    use berth_compose::loader::ConfigSource;
    let cwd = std::env::current_dir().context("cannot determine the current directory")?;
    let mut opts = berth_compose::LoadOptions::new(cwd, process_environment());
    for f in &global.files {
        if f == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("cannot read the compose file from standard input")?;
            opts.files.push(ConfigSource::stdin(text));
        } else {
            opts.files.push(ConfigSource::file(PathBuf::from(f)));
        }
    }
    opts.project_name = global.project_name.clone();
    opts.project_directory = global.project_directory.clone();
    opts.profiles = global.profiles.clone();
    opts.env_files = global.env_files.clone();
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn image_force_short_flag() {
        let rewrite = |args: &[&str]| -> Vec<String> {
            image_force_flags(args.iter().map(Into::into).collect())
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect()
        };
        assert_eq!(
            rewrite(&["berth", "--root", "r", "image", "prune", "-af"]),
            ["berth", "--root", "r", "image", "prune", "-a", "--force"]
        );
        assert_eq!(
            rewrite(&["berth", "image", "rm", "-f", "x", "--", "-f"]),
            ["berth", "image", "rm", "--force", "x", "--", "-f"]
        );
        assert_eq!(
            rewrite(&["berth", "-f", "c.yaml", "pull", "-q"]),
            ["berth", "-f", "c.yaml", "pull", "-q"]
        );
        let cli = Cli::try_parse_from(rewrite(&["berth", "image", "rm", "-f", "x"])).unwrap();
        assert!(cli.global.files.is_empty());
    }

    #[test]
    fn global_flags_work_before_and_after_the_command() {
        let cli = Cli::try_parse_from([
            "berth",
            "-f",
            "a.yaml",
            "-f",
            "b.yaml",
            "--profile",
            "x",
            "config",
            "--profiles",
        ])
        .unwrap();
        assert_eq!(cli.global.files, ["a.yaml", "b.yaml"]);
        assert_eq!(cli.global.profiles, ["x"]);
        let cli =
            Cli::try_parse_from(["berth", "config", "-f", "c.yaml", "--profile", "y"]).unwrap();
        assert_eq!(cli.global.files, ["c.yaml"]);
        assert_eq!(cli.global.profiles, ["y"]);
    }
}
