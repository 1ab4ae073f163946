//! Attached `up`: the project's logs on the terminal until its containers exit.

use super::GlobalOptions;
use super::lifecycle::Session;
use super::up::UpArgs;
use std::process::ExitCode;

/// Follows the attached containers' logs until they have all exited.
pub fn follow(_global: &GlobalOptions, _session: &Session, _args: &UpArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("attached up is being written: use up -d")
}
