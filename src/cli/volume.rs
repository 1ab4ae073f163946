//! `berth volume ls|create|inspect|rm|prune`: Docker's volume commands on berth's volume store
//! (`<root>/volumes`), with Docker's columns, field names and messages.
//!
//! A volume is in use while a container made from a spec that mounts its `_data` exists (the
//! `config.json` of each container under `<root>/containers`), running or not, as in Docker.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use berth_volumes::VolumeError;
use berth_volumes::store::{Volume, VolumeSpec, VolumeStore, random_name};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::GlobalOptions;
use super::output;

/// `berth volume`.
#[derive(Debug, Args)]
pub struct VolumeArgs {
    #[command(subcommand)]
    command: VolumeCommand,
}

#[derive(Debug, Subcommand)]
enum VolumeCommand {
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Create a volume
    Create(CreateArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

/// `--format` of `volume ls`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ListFormat {
    /// A table for people.
    Table,
    /// One JSON object per line, with Docker's field names.
    Json,
}

/// Flags of `berth volume ls`, as in `docker volume ls`.
#[derive(Debug, Args)]
struct LsArgs {
    /// Provide filter values (e.g. "dangling=true", "label=KEY[=VALUE]", "name=TEXT",
    /// "driver=local")
    #[arg(short, long = "filter", value_name = "FILTER")]
    filters: Vec<String>,
    /// Format output: table or json
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
}

/// Flags of `berth volume create`, as in `docker volume create`.
#[derive(Debug, Args)]
struct CreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    opts: Vec<String>,
    /// The volume's name (a random one when absent)
    name: Option<String>,
}

/// Flags of `berth volume inspect`.
#[derive(Debug, Args)]
struct InspectArgs {
    /// The volumes
    #[arg(required = true, value_name = "VOLUME")]
    names: Vec<String>,
}

/// Flags of `berth volume rm`.
#[derive(Debug, Args)]
struct RmArgs {
    /// Do not report volumes that do not exist
    #[arg(short, long)]
    force: bool,
    /// The volumes
    #[arg(required = true, value_name = "VOLUME")]
    names: Vec<String>,
}

/// Flags of `berth volume prune`.
#[derive(Debug, Args)]
struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "label=KEY[=VALUE]")
    #[arg(long = "filter", value_name = "FILTER")]
    filters: Vec<String>,
}

/// Runs `berth volume ...`.
pub fn run(global: &GlobalOptions, args: &VolumeArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        VolumeCommand::Ls(a) => ls(global, a),
        VolumeCommand::Create(a) => create(global, a),
        VolumeCommand::Inspect(a) => inspect(global, a),
        VolumeCommand::Rm(a) => rm(global, a),
        VolumeCommand::Prune(a) => prune(global, a),
    }
}

/// The volume store of the state root.
fn open_store(global: &GlobalOptions) -> anyhow::Result<VolumeStore> {
    let root = global.root.join("volumes");
    VolumeStore::open(&root)
        .with_context(|| format!("cannot open the volume store {}", root.display()))
}

/// The volumes that containers of this state root mount.
fn volumes_in_use(global: &GlobalOptions, store: &VolumeStore) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(global.root.join("containers")) else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(data) = std::fs::read(entry.path().join("config.json")) else {
            continue;
        };
        let Ok(spec) = serde_json::from_slice::<Value>(&data) else {
            continue;
        };
        let mounts = spec["mounts"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for m in mounts {
            if let Some(name) = m["source"]
                .as_str()
                .and_then(|s| store.volume_of_path(Path::new(s)))
            {
                out.insert(name);
            }
        }
    }
    out
}

/// A `--filter` of volume listings.
enum Filter {
    Dangling(bool),
    Label(String, Option<String>),
    Name(String),
    Driver(String),
}

impl Filter {
    fn parse(text: &str) -> anyhow::Result<Filter> {
        let (key, value) = text
            .split_once('=')
            .with_context(|| format!("bad format of filter (expected name=value): {text}"))?;
        Ok(match key {
            "dangling" => match value {
                "true" | "1" => Filter::Dangling(true),
                "false" | "0" => Filter::Dangling(false),
                _ => anyhow::bail!("invalid filter 'dangling={value}'"),
            },
            "label" => match value.split_once('=') {
                Some((k, v)) => Filter::Label(k.to_owned(), Some(v.to_owned())),
                None => Filter::Label(value.to_owned(), None),
            },
            "name" => Filter::Name(value.to_owned()),
            "driver" => Filter::Driver(value.to_owned()),
            _ => anyhow::bail!("invalid filter '{key}'"),
        })
    }

    fn matches(&self, v: &Volume, in_use: &BTreeSet<String>) -> bool {
        match self {
            Filter::Dangling(d) => in_use.contains(&v.name) != *d,
            Filter::Label(k, want) => v
                .labels
                .get(k)
                .is_some_and(|have| want.as_ref().is_none_or(|w| w == have)),
            Filter::Name(n) => v.name.contains(n.as_str()),
            Filter::Driver(d) => &v.driver == d,
        }
    }
}

fn parse_filters(texts: &[String]) -> anyhow::Result<Vec<Filter>> {
    texts.iter().map(|t| Filter::parse(t)).collect()
}

/// Docker's label text in listings: `k=v,k2=v2`.
fn label_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn ls(global: &GlobalOptions, args: &LsArgs) -> anyhow::Result<ExitCode> {
    let filters = parse_filters(&args.filters)?;
    let store = open_store(global)?;
    let in_use = volumes_in_use(global, &store);
    let volumes: Vec<Volume> = store
        .list()
        .context("cannot list volumes")?
        .into_iter()
        .filter(|v| filters.iter().all(|f| f.matches(v, &in_use)))
        .collect();
    let mut text = String::new();
    if args.quiet {
        for v in &volumes {
            text.push_str(&v.name);
            text.push('\n');
        }
    } else if args.format == ListFormat::Json {
        for v in &volumes {
            let row = json!({
                "Availability": "N/A",
                "Driver": v.driver,
                "Group": "N/A",
                "Labels": label_text(&v.labels),
                "Links": "N/A",
                "Mountpoint": v.mountpoint,
                "Name": v.name,
                "Scope": "local",
                "Size": "N/A",
                "Status": "N/A",
            });
            text.push_str(&row.to_string());
            text.push('\n');
        }
    } else {
        // Docker's tabwriter: columns at least 10 wide, 3 spaces of padding.
        let width = volumes
            .iter()
            .map(|v| v.driver.len())
            .chain(["DRIVER".len()])
            .max()
            .unwrap_or(0);
        let width = (width + 3).max(10);
        text.push_str(&format!("{:width$}VOLUME NAME\n", "DRIVER"));
        for v in &volumes {
            text.push_str(&format!("{:width$}{}\n", v.driver, v.name));
        }
    }
    output::emit(&text, None)?;
    Ok(ExitCode::SUCCESS)
}

/// `KEY=VALUE` pairs of `--label` and `--opt` (a label without `=` has an empty value).
fn pairs(
    texts: &[String],
    what: &str,
    value_required: bool,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for t in texts {
        let (k, v) = match t.split_once('=') {
            Some((k, v)) => (k, v),
            None if !value_required => (t.as_str(), ""),
            None => anyhow::bail!("invalid {what} {t:?}: expected KEY=VALUE"),
        };
        if k.is_empty() {
            anyhow::bail!("invalid {what} {t:?}: the key is empty");
        }
        out.insert(k.to_owned(), v.to_owned());
    }
    Ok(out)
}

fn create(global: &GlobalOptions, args: &CreateArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => random_name()?,
    };
    let spec = VolumeSpec {
        name,
        driver: args.driver.clone(),
        options: pairs(&args.opts, "option", true)?,
        labels: pairs(&args.labels, "label", false)?,
    };
    let volume = store.create(&spec)?;
    output::emit(&format!("{}\n", volume.name), None)?;
    Ok(ExitCode::SUCCESS)
}

/// A volume as `docker volume inspect` shows it.
fn inspect_json(v: &Volume) -> Value {
    let map_or_null = |m: &BTreeMap<String, String>| {
        if m.is_empty() { Value::Null } else { json!(m) }
    };
    json!({
        "CreatedAt": v.created_rfc3339(),
        "Driver": v.driver,
        "Labels": map_or_null(&v.labels),
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": map_or_null(&v.options),
        "Scope": "local",
    })
}

fn inspect(global: &GlobalOptions, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.names {
        match store.inspect(name) {
            Ok(v) => found.push(inspect_json(&v)),
            Err(e) => {
                output::error(&anyhow::Error::new(e));
                failed = true;
            }
        }
    }
    output::emit(&format!("{}\n", pretty(&Value::Array(found))), None)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// JSON indented by four spaces, as Docker prints `inspect`.
fn pretty(value: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if serde::Serialize::serialize(value, &mut ser).is_err() {
        return value.to_string();
    }
    String::from_utf8(buf).unwrap_or_else(|_| value.to_string())
}

fn rm(global: &GlobalOptions, args: &RmArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let in_use = volumes_in_use(global, &store);
    let mut failed = false;
    for name in &args.names {
        match store.remove(name, &in_use) {
            Ok(()) => output::emit(&format!("{name}\n"), None)?,
            Err(VolumeError::NotFound(_)) if args.force => {}
            Err(e) => {
                output::error(&anyhow::Error::new(e));
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

fn prune(global: &GlobalOptions, args: &PruneArgs) -> anyhow::Result<ExitCode> {
    let filters = parse_filters(&args.filters)?;
    if !args.force {
        let warning = if args.all {
            "WARNING! This will remove all local volumes not used by at least one container."
        } else {
            "WARNING! This will remove anonymous local volumes not used by at least one container."
        };
        if !output::confirm(warning)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let store = open_store(global)?;
    let mut in_use = volumes_in_use(global, &store);
    // Volumes the filters exclude are kept as if in use.
    for v in store.list().context("cannot list volumes")? {
        if !filters.iter().all(|f| f.matches(&v, &in_use)) {
            in_use.insert(v.name);
        }
    }
    let mut sizes = BTreeMap::new();
    for v in store.list().context("cannot list volumes")? {
        sizes.insert(v.name.clone(), dir_size(&v.mountpoint));
    }
    let removed = store
        .prune(&in_use, args.all)
        .context("cannot prune volumes")?;
    let mut text = String::new();
    if !removed.is_empty() {
        text.push_str("Deleted Volumes:\n");
        for name in &removed {
            text.push_str(name);
            text.push('\n');
        }
        text.push('\n');
    }
    let reclaimed: u64 = removed.iter().filter_map(|n| sizes.get(n)).sum();
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        output::human_size(reclaimed)
    ));
    output::emit(&text, None)?;
    Ok(ExitCode::SUCCESS)
}

/// Bytes of the regular files under `dir`, not following symlinks nor crossing mounts.
fn dir_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(top) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.dev() != top.dev() {
                continue;
            }
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                total += m.len();
            }
        }
    }
    total
}
