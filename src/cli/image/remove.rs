//! `berth image rm` and `berth image prune`, with Docker's output.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::Context;
use berth_runtime::image::store::PruneOptions;
use clap::Args;

use crate::cli::GlobalOptions;
use crate::cli::output::{self, human_size};
use crate::cli::pull::open_store;

/// Flags of `berth image rm`, as in `docker image rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents (berth keeps no parents; accepted for compatibility)
    #[arg(long)]
    no_prune: bool,
    /// Images (names or IDs)
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

/// Runs `berth image rm`: every name is tried; each failure is one line, and the exit code
/// is 1 if any failed.
pub fn rm(global: &GlobalOptions, args: &RmArgs) -> anyhow::Result<ExitCode> {
    let _ = args.no_prune;
    let store = open_store(global)?;
    // No containers exist yet that could use an image.
    let in_use = BTreeSet::new();
    let mut failed = false;
    for name in &args.images {
        match store.remove(name, args.force, &in_use) {
            Ok(report) => {
                let mut text = String::new();
                for untagged in &report.untagged {
                    text.push_str(&format!("Untagged: {untagged}\n"));
                }
                for deleted in &report.deleted {
                    text.push_str(&format!("Deleted: {deleted}\n"));
                }
                output::emit(&text, None)?;
            }
            Err(error) => {
                output::error(&anyhow::Error::new(error));
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

/// Flags of `berth image prune`, as in `docker image prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

/// Runs `berth image prune`.
pub fn prune(global: &GlobalOptions, args: &PruneArgs) -> anyhow::Result<ExitCode> {
    if !args.force {
        let warning = if args.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        if !output::confirm(warning)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let store = open_store(global)?;
    let report = store
        .prune(&PruneOptions {
            all: args.all,
            in_use: BTreeSet::new(),
        })
        .context("cannot prune images")?;
    let mut text = String::new();
    if !report.untagged.is_empty() || !report.deleted.is_empty() {
        text.push_str("Deleted Images:\n");
        for untagged in &report.untagged {
            text.push_str(&format!("untagged: {untagged}\n"));
        }
        for deleted in &report.deleted {
            text.push_str(&format!("deleted: {deleted}\n"));
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(report.gc.reclaimed_bytes)
    ));
    output::emit(&text, None)?;
    Ok(ExitCode::SUCCESS)
}
