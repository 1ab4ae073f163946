//! `berth image ...`: Docker's image commands on berth's image store.

pub mod archive;
pub mod list;
pub mod remove;

use std::process::ExitCode;

use anyhow::Context;
use berth_runtime::image::Reference;
use berth_runtime::image::pull::{PullOptions, pull};
use berth_runtime::image::registry::Platform;
use clap::{Args, Subcommand};

use super::GlobalOptions;
use super::output;
use super::progress::{Reporter, Wording};
use super::pull::{open_store, pull_options, runtime};

/// `berth image`.
#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(list::LsArgs),
    /// Display detailed information on one or more images
    Inspect(list::InspectArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove", visible_alias = "rmi")]
    Rm(remove::RmArgs),
    /// Remove unused images
    Prune(remove::PruneArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(archive::ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(archive::LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(archive::SaveArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
}

/// Runs `berth image ...`.
pub fn run(global: &GlobalOptions, args: &ImageArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        ImageCommand::Ls(a) => list::ls(global, a),
        ImageCommand::Inspect(a) => list::inspect(global, a),
        ImageCommand::Rm(a) => remove::rm(global, a),
        ImageCommand::Prune(a) => remove::prune(global, a),
        ImageCommand::Import(a) => archive::import(global, a),
        ImageCommand::Load(a) => archive::load(global, a),
        ImageCommand::Save(a) => archive::save(global, a),
        ImageCommand::Pull(a) => pull_image(global, a),
        ImageCommand::Tag(a) => tag(global, a),
    }
}

/// Flags of `berth image pull`, as in `docker image pull`.
#[derive(Debug, Args)]
struct PullArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    platform: Option<Platform>,
    /// The image
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    name: String,
}

/// Runs `berth image pull`, printing what `docker pull` prints.
fn pull_image(global: &GlobalOptions, args: &PullArgs) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse(&args.name)?;
    let store = open_store(global)?;
    let options = PullOptions {
        platform: args.platform.clone(),
        ..pull_options()?
    };
    let reporter = Reporter::new(global, args.quiet, Wording::Docker);
    let mut head = String::new();
    if !args.quiet {
        let explicit = args.name.contains('@')
            || args
                .name
                .rsplit_once(':')
                .is_some_and(|(_, tag)| !tag.contains('/'));
        if !explicit {
            head.push_str("Using default tag: latest\n");
        }
        let what = reference
            .tag()
            .map_or_else(|| args.name.clone(), str::to_owned);
        head.push_str(&format!("{what}: Pulling from {}\n", reference.path()));
        output::emit(&head, None)?;
    }
    let progress = |event: &_| reporter.event("", event);
    let outcome = runtime()?.block_on(pull(&store, &reference, &options, &progress));
    reporter.finish();
    let pulled = outcome?;
    let mut text = String::new();
    if !args.quiet {
        text.push_str(&format!("Digest: {}\n", pulled.digest));
        let status = if pulled.downloaded {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        text.push_str(&format!("Status: {status} {}\n", reference.familiar()));
    }
    text.push_str(&format!("{reference}\n"));
    output::emit(&text, None)?;
    Ok(ExitCode::SUCCESS)
}

/// Flags of `berth image tag`.
#[derive(Debug, Args)]
struct TagArgs {
    /// The image (name or ID)
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    source: String,
    /// The new name
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    target: String,
}

/// Runs `berth image tag`: silent on success, as Docker.
fn tag(global: &GlobalOptions, args: &TagArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    store
        .tag(&args.source, &args.target)
        .with_context(|| format!("cannot tag {} as {}", args.source, args.target))?;
    Ok(ExitCode::SUCCESS)
}
