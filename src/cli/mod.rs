//! Command-line parsing and dispatch: one file per command. The CLI parses and prints; the
//! engine decides.

pub mod attach;
pub mod autostart;
pub mod config;
pub mod container;
pub mod cp;
pub mod create;
pub mod down;
pub mod events;
pub mod exec;
pub mod image;
pub mod images;
pub mod inspect;
pub mod kill;
pub mod lifecycle;
pub mod logs;
pub mod ls;
pub mod output;
pub mod pause;
pub mod port;
pub mod progress;
pub mod project;
pub mod ps;
pub mod pull;
pub mod restart;
pub mod resume;
pub mod rm;
pub mod run;
pub mod scale;
pub mod start;
pub mod stats;
pub mod stop;
pub mod summary;
pub mod supervise;
pub mod template;
pub mod top;
pub mod up;
pub mod version;
pub mod volume;
pub mod wait;

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
    #[arg(short = 'f', long = "file", id = "global_file", value_name = "FILE")]
    pub files: Vec<String>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first compose file)
    #[arg(long, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Profiles to enable
    #[arg(long = "profile", id = "global_profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,
    /// Alternate environment files
    #[arg(long = "env-file", id = "global_env_file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Control when to print ANSI control characters
    #[arg(long, value_enum, default_value_t = Ansi::Auto)]
    pub ansi: Ansi,
    /// Set type of progress output
    #[arg(long, value_enum, env = "COMPOSE_PROGRESS", default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// Execute command in dry run mode
    #[arg(long)]
    pub dry_run: bool,
    /// Show more output
    #[arg(long)]
    pub verbose: bool,
    /// Run compose in backward compatibility mode (Compose v1's container names)
    #[arg(long)]
    pub compatibility: bool,
    /// Include all resources, even those not used by services
    #[arg(long)]
    pub all_resources: bool,
    /// Root directory of berth's state (images, containers, volumes)
    #[arg(
        long,
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
    /// List containers
    Ps(ps::PsArgs),
    /// View output from containers
    Logs(logs::LogsArgs),
    /// Print the public port for a port binding
    Port(port::PortArgs),
    /// List running compose projects
    Ls(ls::LsArgs),
    /// List images used by the created containers
    Images(images::ImagesArgs),
    /// Manage containers
    Container(container::ContainerArgs),
    /// Display detailed information on containers (as docker inspect)
    Inspect(inspect::InspectArgs),
    /// Manage images
    Image(image::ImageArgs),
    /// Manage volumes
    Volume(volume::VolumeArgs),
    /// Create and start containers
    Up(up::UpArgs),
    /// Stop and remove containers, networks
    Down(down::DownArgs),
    /// Start services
    Start(start::StartArgs),
    /// Stop services
    Stop(stop::StopArgs),
    /// Restart service containers
    Restart(restart::RestartArgs),
    /// Force stop service containers
    Kill(kill::KillArgs),
    /// Removes stopped service containers
    Rm(rm::RmArgs),
    /// Pause services
    Pause(pause::PauseArgs),
    /// Unpause services
    Unpause(pause::PauseArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Run a one-off command on a service
    Run(run::RunArgs),
    /// Scale services
    Scale(scale::ScaleArgs),
    /// Creates containers for a service
    Create(create::CreateArgs),
    /// Receive real time events from containers
    Events(events::EventsArgs),
    /// Block until containers of all (or specified) services stop
    Wait(wait::WaitArgs),
    /// Display the running processes
    Top(top::TopArgs),
    /// Copy files/folders between a service container and the local filesystem
    Cp(cp::CpArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Show the berth version information
    Version(version::VersionArgs),
    /// Bring a project back at boot, or not (systemd unit)
    Autostart(autostart::AutostartArgs),
    /// Start the always/unless-stopped services of a project (--all: of every autostart project) after a reboot
    Resume(resume::ResumeArgs),
    /// Run a project's supervisor (started by berth itself)
    #[command(hide = true)]
    Supervise(supervise::SuperviseArgs),
}

/// Parses the command line, runs the command and turns its outcome into an exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Supervise(_)) {
        init_tracing(cli.global.verbose);
    }
    let result = match &cli.command {
        Command::Config(args) => config::run(&cli.global, args),
        Command::Pull(args) => pull::run(&cli.global, args),
        Command::Ps(args) => ps::run(&cli.global, args),
        Command::Logs(args) => logs::run(&cli.global, args),
        Command::Port(args) => port::run(&cli.global, args),
        Command::Ls(args) => ls::run(&cli.global, args),
        Command::Container(args) => container::run(&cli.global, args),
        Command::Inspect(args) => inspect::run(&cli.global, args),
        Command::Images(args) => images::run(&cli.global, args),
        Command::Image(args) => image::run(&cli.global, args),
        Command::Volume(args) => volume::run(&cli.global, args),
        Command::Up(args) => up::run(&cli.global, args),
        Command::Down(args) => down::run(&cli.global, args),
        Command::Start(args) => start::run(&cli.global, args),
        Command::Stop(args) => stop::run(&cli.global, args),
        Command::Restart(args) => restart::run(&cli.global, args),
        Command::Kill(args) => kill::run(&cli.global, args),
        Command::Rm(args) => rm::run(&cli.global, args),
        Command::Pause(args) => pause::run(&cli.global, args, true),
        Command::Unpause(args) => pause::run(&cli.global, args, false),
        Command::Exec(args) => exec::run(&cli.global, args),
        Command::Run(args) => run::run(&cli.global, args),
        Command::Scale(args) => scale::run(&cli.global, args),
        Command::Create(args) => create::run(&cli.global, args),
        Command::Events(args) => events::run(&cli.global, args),
        Command::Wait(args) => wait::run(&cli.global, args),
        Command::Top(args) => top::run(&cli.global, args),
        Command::Cp(args) => cp::run(&cli.global, args),
        Command::Stats(args) => stats::run(&cli.global, args),
        Command::Version(args) => version::run(args),
        Command::Autostart(args) => autostart::run(&cli.global, args),
        Command::Resume(args) => resume::run(&cli.global, args),
        Command::Supervise(args) => supervise::run(&cli.global, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            output::error(&e);
            ExitCode::FAILURE
        }
    }
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
    fn project_flags_come_before_the_command_as_in_docker_compose() {
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
        // After the command, `-f` belongs to the command: Docker's `image rm -f` is --force.
        assert!(Cli::try_parse_from(["berth", "config", "-f", "c.yaml"]).is_err());
        assert!(Cli::try_parse_from(["berth", "image", "rm", "-f", "x"]).is_ok());
        assert!(Cli::try_parse_from(["berth", "image", "prune", "-af"]).is_ok());
    }
}
