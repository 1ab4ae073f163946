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
    /// Format the output (yaml by default; with --variables, a table by default)
    #[arg(long, value_enum)]
    format: Option<Format>,
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
        if !args.service_names.is_empty() {
            output::warn("service filtering is not applied when --variables is set");
        }
        return variables(&opts, args.format, out);
    }
    if args.no_interpolate && !args.service_names.is_empty() {
        // As in Compose: without interpolation the model cannot be narrowed reliably.
        output::warn("service filtering is not applied when --no-interpolate is set");
        opts.services.clear();
    }
    // What is printed: the interpolated, canonical project, or with --no-interpolate the raw
    // model (short syntax kept, since it may hold `${...}`).
    let (view, name, environment, profiles) = if args.no_interpolate {
        let raw = berth_compose::load_raw_model(&opts)?;
        output::warnings(&raw.warnings);
        let profiles = berth_compose::profiles::all_profiles(&raw.tree);
        let view = project_view::ProjectView { tree: raw.tree };
        (view, raw.name, raw.environment, profiles)
    } else {
        let loaded = berth_compose::load(&opts)?;
        output::warnings(&loaded.warnings);
        output::warnings(&unsupported::warnings(&loaded.tree));
        let view = project_view::select(&loaded, &opts.services)?;
        let profiles = project_view::all_profiles(&loaded);
        (view, loaded.name, loaded.environment, profiles)
    };

    let mut text = String::new();
    if args.environment {
        let mut vars: Vec<_> = environment.iter().collect();
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
        for name in profiles {
            let _ = writeln!(text, "{name}");
        }
    } else if args.images {
        for image in view.images(&name) {
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
        let form = if args.no_interpolate {
            PrintForm::Raw
        } else {
            berth_compose::canonical::omit_printer_defaults(&mut tree);
            PrintForm::Model
        };
        let tree = project_view::printable(&tree, form)?;
        text = match args.format.unwrap_or(Format::Yaml) {
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
    format: Option<Format>,
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
    all.sort_keys();
    let text = match format {
        None => {
            let mut rows: Vec<Vec<String>> = vec![vec![
                "NAME".into(),
                "REQUIRED".into(),
                "DEFAULT VALUE".into(),
                "ALTERNATE VALUE".into(),
            ]];
            for v in all.values() {
                rows.push(vec![
                    v.name.clone(),
                    v.required.to_string(),
                    v.default.clone().unwrap_or_default(),
                    v.alternate.clone().unwrap_or_default(),
                ]);
            }
            output::columns(&rows)
        }
        Some(Format::Json) => variables_json(&all)?,
        Some(Format::Yaml) => variables_yaml(&all),
    };
    output::emit(&text, out)?;
    Ok(ExitCode::SUCCESS)
}

/// `--variables --format json`, in Compose's shape: an object by name, indented by four.
fn variables_json(
    all: &indexmap::IndexMap<String, interpolate::Variable>,
) -> anyhow::Result<String> {
    use serde::Serialize;
    let mut object = serde_json::Map::new();
    for v in all.values() {
        object.insert(
            v.name.clone(),
            serde_json::json!({
                "Name": v.name,
                "DefaultValue": v.default.clone().unwrap_or_default(),
                "PresenceValue": v.alternate.clone().unwrap_or_default(),
                "Required": v.required,
            }),
        );
    }
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    serde_json::Value::Object(object)
        .serialize(&mut ser)
        .context("cannot render the variables as JSON")?;
    let mut text = String::from_utf8(buf).context("cannot render the variables as JSON")?;
    text.push('\n');
    Ok(text)
}

/// `--variables --format yaml`, in Compose's shape (Go's YAML encoder: lower-case field
/// names, four-space indentation).
fn variables_yaml(all: &indexmap::IndexMap<String, interpolate::Variable>) -> String {
    let mut text = String::new();
    for v in all.values() {
        let _ = writeln!(text, "{}:", yaml::quote_str(&v.name));
        let _ = writeln!(text, "    name: {}", yaml::quote_str(&v.name));
        let default = v.default.clone().unwrap_or_default();
        let presence = v.alternate.clone().unwrap_or_default();
        let _ = writeln!(text, "    defaultvalue: {}", quote_always(&default));
        let _ = writeln!(text, "    presencevalue: {}", quote_always(&presence));
        let _ = writeln!(text, "    required: {}", v.required);
    }
    text
}

/// A string as Go's YAML encoder prints a string that could read as another type: quoted
/// when plain text would not read back as this string.
fn quote_always(s: &str) -> String {
    let plain = yaml::quote_str(s);
    if plain.starts_with('"') || (plain == s && s.parse::<f64>().is_err()) {
        plain
    } else {
        format!("\"{s}\"")
    }
}
