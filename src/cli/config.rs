//! `berth config`: the project as berth understands it, in canonical form.

use super::{GlobalOptions, load_options, output};
use crate::engine::project_view::{self, PrintForm};
use crate::engine::unsupported;
use anyhow::Context;
use berth_compose::{interpolate, yaml};
use clap::{Args, ValueEnum};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `berth config`, as in `docker compose config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Format the output
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    format: Format,
    /// Print the service names, one per line
    #[arg(long)]
    services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    volumes: bool,
    /// Print the network names, one per line
    #[arg(long)]
    networks: bool,
    /// Print the profile names, one per line
    #[arg(long)]
    profiles: bool,
    /// Print the image names, one per line
    #[arg(long)]
    images: bool,
    /// Print the service config hash, one per line ("*" for all services)
    #[arg(long, value_name = "SERVICES")]
    hash: Option<String>,
    /// Only validate the configuration, don't print anything
    #[arg(short, long)]
    quiet: bool,
    /// Don't interpolate environment variables
    #[arg(long)]
    no_interpolate: bool,
    /// Don't normalize the compose model
    #[arg(long)]
    no_normalize: bool,
    /// Don't resolve file paths
    #[arg(long)]
    no_path_resolution: bool,
    /// Don't check model consistency
    #[arg(long)]
    no_consistency: bool,
    /// Don't resolve service env files
    #[arg(long)]
    no_env_resolution: bool,
    /// Print the model variables and their default values
    #[arg(long)]
    variables: bool,
    /// Print the environment used for interpolation
    #[arg(long)]
    environment: bool,
    /// Save to a file instead of printing to stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Services to print (with their dependencies)
    #[arg(value_name = "SERVICE")]
    service_names: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Yaml,
    Json,
}

/// Runs `berth config`.
pub fn run(global: &GlobalOptions, args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let mut opts = load_options(global)?;
    opts.services = args.service_names.clone();
    opts.interpolate = !args.no_interpolate;
    opts.normalize = !args.no_normalize;
    opts.resolve_paths = !args.no_path_resolution;
    opts.consistency = !args.no_consistency;
    opts.resolve_service_files = !args.no_env_resolution;
    let out = args.output.as_deref();

    if args.variables {
        return variables(&opts, out);
    }
    let loaded = berth_compose::load(&opts)?;
    output::warnings(&loaded.warnings);
    output::warnings(&unsupported::warnings(&loaded.tree));
    let view = project_view::select(&loaded, &args.service_names)?;

    let mut text = String::new();
    if args.environment {
        let mut vars: Vec<_> = loaded.environment.iter().collect();
        vars.sort();
        for (k, v) in vars {
            let _ = writeln!(text, "{k}={v}");
        }
    } else if args.services {
        for name in view.service_names() {
            let _ = writeln!(text, "{name}");
        }
    } else if args.volumes {
        for name in view.section_keys("volumes") {
            let _ = writeln!(text, "{name}");
        }
    } else if args.networks {
        for name in view.section_keys("networks") {
            let _ = writeln!(text, "{name}");
        }
    } else if args.profiles {
        for name in project_view::all_profiles(&loaded) {
            let _ = writeln!(text, "{name}");
        }
    } else if args.images {
        for image in view.images(&loaded.name) {
            let _ = writeln!(text, "{image}");
        }
    } else if let Some(which) = &args.hash {
        for (name, hash) in view.hashes(which)? {
            let _ = writeln!(text, "{name} {hash}");
        }
    } else if args.quiet {
        return Ok(ExitCode::SUCCESS);
    } else {
        let mut tree = view.tree.clone();
        berth_compose::canonical::omit_printer_defaults(&mut tree);
        let form = if opts.interpolate {
            PrintForm::Model
        } else {
            PrintForm::Raw
        };
        let tree = project_view::printable(&tree, form);
        text = match args.format {
            Format::Yaml => yaml::to_string(&tree),
            Format::Json => {
                let mut s =
                    serde_json::to_string_pretty(&berth_compose::model::value_to_json(&tree))
                        .context("cannot render the project as JSON")?;
                s.push('\n');
                s
            }
        };
    }
    output::emit(&text, out)?;
    Ok(ExitCode::SUCCESS)
}

/// `--variables`: the variables the files use, read from the files before interpolation.
fn variables(
    opts: &berth_compose::LoadOptions,
    out: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let mut warnings = Vec::new();
    let sources = berth_compose::loader::config_sources(opts, &mut warnings)?;
    output::warnings(&warnings);
    let mut all = indexmap::IndexMap::new();
    for source in sources {
        let text = source.read()?;
        for doc in yaml::parse(&text, &source.name)? {
            all.extend(interpolate::extract_variables(&doc.value));
        }
    }
    let mut rows: Vec<Vec<String>> = vec![vec![
        "NAME".into(),
        "REQUIRED".into(),
        "DEFAULT VALUE".into(),
        "ALTERNATE VALUE".into(),
    ]];
    let mut names: Vec<_> = all.keys().cloned().collect();
    names.sort();
    for name in names {
        let Some(v) = all.get(&name) else { continue };
        rows.push(vec![
            name.clone(),
            v.required.to_string(),
            v.default.clone().unwrap_or_default(),
            v.alternate.clone().unwrap_or_default(),
        ]);
    }
    output::emit(&output::columns(&rows), out)?;
    Ok(ExitCode::SUCCESS)
}
