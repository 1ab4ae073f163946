//! `berth version`: berth's version, as `docker compose version` prints Compose's.

use clap::{Args, ValueEnum};
use std::process::ExitCode;

/// `--format` of `berth version`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum VersionFormat {
    /// `berth version 0.1.0`.
    #[default]
    Pretty,
    /// `{"version":"0.1.0"}`.
    Json,
}

/// Flags of `berth version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format the output. Values: [pretty | json]
    #[arg(short, long, value_enum, default_value_t = VersionFormat::Pretty)]
    pub format: VersionFormat,
    /// Shows only berth's version number
    #[arg(long)]
    pub short: bool,
}

/// berth's version number.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The text `berth version` prints for these flags (with its newline).
pub fn render(args: &VersionArgs) -> String {
    if args.short {
        return format!("{VERSION}\n");
    }
    match args.format {
        VersionFormat::Pretty => format!("berth version {VERSION}\n"),
        VersionFormat::Json => format!("{}\n", serde_json::json!({ "version": VERSION })),
    }
}

/// Runs `berth version`.
pub fn run(args: &VersionArgs) -> anyhow::Result<ExitCode> {
    print!("{}", render(args));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms() {
        let mut a = VersionArgs {
            format: VersionFormat::Pretty,
            short: false,
        };
        assert_eq!(render(&a), format!("berth version {VERSION}\n"));
        a.format = VersionFormat::Json;
        assert_eq!(render(&a), format!("{{\"version\":\"{VERSION}\"}}\n"));
        a.short = true;
        assert_eq!(render(&a), format!("{VERSION}\n"));
    }
}
