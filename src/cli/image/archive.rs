//! `berth image import`, `load` and `save`: images as files, with Docker's flags and output.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use berth_runtime::image::Reference;
use berth_runtime::image::archive::{self, ArchiveFormat, ImportOptions};
use berth_runtime::image::registry::Platform;
use berth_runtime::image::store::oci::{ContainerConfig, Empty};
use clap::Args;

use crate::cli::GlobalOptions;
use crate::cli::output;
use crate::cli::pull::open_store;

/// Flags of `berth image import`, as in `docker image import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
    /// STOPSIGNAL, USER, VOLUME, WORKDIR)
    #[arg(short, long, value_name = "INSTRUCTION")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Set platform (os/arch[/variant])
    #[arg(long)]
    platform: Option<Platform>,
    /// The root filesystem tarball (`-` reads standard input)
    #[arg(value_name = "FILE|-")]
    file: String,
    /// The name to give the image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

/// Opens `path`, or standard input for `-`.
fn input(path: &str) -> anyhow::Result<Box<dyn Read>> {
    if path == "-" {
        Ok(Box::new(std::io::stdin().lock()))
    } else {
        let file = File::open(path).with_context(|| format!("cannot open {path}"))?;
        Ok(Box::new(BufReader::new(file)))
    }
}

/// Splits `KEY=VALUE` words (or one `KEY VALUE`) of ENV and LABEL.
fn pairs(rest: &str, instruction: &str) -> anyhow::Result<Vec<(String, String)>> {
    if !rest.contains('=') {
        return match rest.split_once(char::is_whitespace) {
            Some((key, value)) => Ok(vec![(key.to_owned(), value.trim().to_owned())]),
            None => bail!("{instruction} needs KEY=VALUE"),
        };
    }
    rest.split_whitespace()
        .map(|word| {
            word.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
                .with_context(|| format!("{instruction}: {word:?} is not KEY=VALUE"))
        })
        .collect()
}

/// A command in exec form (`["a", "b"]`) or shell form (`/bin/sh -c ...`).
fn command(rest: &str) -> anyhow::Result<Vec<String>> {
    if rest.starts_with('[') {
        serde_json::from_str(rest).with_context(|| format!("invalid JSON array {rest:?}"))
    } else {
        Ok(vec!["/bin/sh".to_owned(), "-c".to_owned(), rest.to_owned()])
    }
}

/// Applies `--change` instructions to the container defaults.
fn apply_changes(changes: &[String]) -> anyhow::Result<ContainerConfig> {
    let mut config = ContainerConfig::default();
    for change in changes {
        let change = change.trim();
        let (word, rest) = change
            .split_once(char::is_whitespace)
            .map_or((change, ""), |(w, r)| (w, r.trim()));
        let context = || format!("invalid --change {change:?}");
        match word.to_ascii_uppercase().as_str() {
            "CMD" => config.cmd = Some(command(rest).with_context(context)?),
            "ENTRYPOINT" => config.entrypoint = Some(command(rest).with_context(context)?),
            "ENV" => {
                let env = config.env.get_or_insert_with(Vec::new);
                for (key, value) in pairs(rest, "ENV").with_context(context)? {
                    env.retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key.as_str()));
                    env.push(format!("{key}={value}"));
                }
            }
            "LABEL" => {
                let labels = config.labels.get_or_insert_with(BTreeMap::new);
                labels.extend(pairs(rest, "LABEL").with_context(context)?);
            }
            "EXPOSE" => {
                let ports = config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for port in rest.split_whitespace() {
                    let port = if port.contains('/') {
                        port.to_owned()
                    } else {
                        format!("{port}/tcp")
                    };
                    ports.insert(port, Empty {});
                }
            }
            "VOLUME" => {
                let paths: Vec<String> = if rest.starts_with('[') {
                    serde_json::from_str(rest).with_context(context)?
                } else {
                    rest.split_whitespace().map(str::to_owned).collect()
                };
                let volumes = config.volumes.get_or_insert_with(BTreeMap::new);
                for path in paths {
                    volumes.insert(path, Empty {});
                }
            }
            "USER" if !rest.is_empty() => config.user = Some(rest.to_owned()),
            "WORKDIR" if !rest.is_empty() => config.working_dir = Some(rest.to_owned()),
            "STOPSIGNAL" if !rest.is_empty() => config.stop_signal = Some(rest.to_owned()),
            _ => bail!(
                "{}: expected CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR with a value",
                context()
            ),
        }
    }
    Ok(config)
}

/// Runs `berth image import`: prints the new image's ID.
pub fn import(global: &GlobalOptions, args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let reference = args
        .reference
        .as_deref()
        .map(Reference::parse)
        .transpose()?;
    let options = ImportOptions {
        reference,
        config: apply_changes(&args.change)?,
        message: args.message.clone(),
        platform: args.platform.clone(),
    };
    let store = open_store(global)?;
    let reader = input(&args.file)?;
    let id = archive::import(&store, reader, &options)
        .with_context(|| format!("cannot import {}", args.file))?;
    output::emit(&format!("{id}\n"), None)?;
    Ok(ExitCode::SUCCESS)
}

/// Flags of `berth image load`, as in `docker image load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file (or an OCI layout directory), instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `berth image load`: `Loaded image: name:tag` per name, or the ID of unnamed images.
pub fn load(global: &GlobalOptions, args: &LoadArgs) -> anyhow::Result<ExitCode> {
    let _ = args.quiet;
    let store = open_store(global)?;
    let loaded = match &args.input {
        Some(path) if path.is_dir() => archive::load_oci_layout(&store, path)
            .with_context(|| format!("cannot load {}", path.display()))?,
        Some(path) => {
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            archive::load(&store, BufReader::new(file))
                .with_context(|| format!("cannot load {}", path.display()))?
        }
        None => {
            if std::io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            archive::load(&store, std::io::stdin().lock())
                .context("cannot load the archive from standard input")?
        }
    };
    let mut text = String::new();
    for image in &loaded {
        if image.tags.is_empty() {
            text.push_str(&format!("Loaded image ID: {}\n", image.id));
        }
        for tag in &image.tags {
            text.push_str(&format!("Loaded image: {tag}\n"));
        }
    }
    output::emit(&text, None)?;
    Ok(ExitCode::SUCCESS)
}

/// Flags of `berth image save`, as in `docker image save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Images (names or IDs)
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

/// Runs `berth image save`. A file is written under a temporary name and renamed when
/// complete, so that a failed save leaves no partial archive.
pub fn save(global: &GlobalOptions, args: &SaveArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let images: Vec<&str> = args.images.iter().map(String::as_str).collect();
    match &args.output {
        Some(path) => {
            let name = path
                .file_name()
                .with_context(|| format!("{} is not a file name", path.display()))?;
            let mut temp_name = std::ffi::OsString::from(".");
            temp_name.push(name);
            temp_name.push(format!(".berth-{}", std::process::id()));
            let temp = path.with_file_name(temp_name);
            let file =
                File::create(&temp).with_context(|| format!("cannot create {}", temp.display()))?;
            let result =
                archive::save(&store, &images, ArchiveFormat::Docker, BufWriter::new(file))
                    .context("cannot save images")
                    .and_then(|()| {
                        std::fs::rename(&temp, path)
                            .with_context(|| format!("cannot write {}", path.display()))
                    });
            if result.is_err() {
                let _ = std::fs::remove_file(&temp);
            }
            result?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            archive::save(
                &store,
                &images,
                ArchiveFormat::Docker,
                BufWriter::new(std::io::stdout().lock()),
            )
            .context("cannot save images")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_like_docker_import() {
        let config = apply_changes(&[
            r#"CMD ["/bin/sh", "-c", "echo hi"]"#.to_owned(),
            "ENTRYPOINT /bin/run".to_owned(),
            "ENV A=1 B=2".to_owned(),
            "ENV A 3".to_owned(),
            "EXPOSE 80 53/udp".to_owned(),
            "WORKDIR /srv".to_owned(),
            "LABEL x=y".to_owned(),
        ])
        .unwrap();
        assert_eq!(
            config.cmd.unwrap(),
            ["/bin/sh", "-c", "echo hi"].map(String::from)
        );
        assert_eq!(
            config.entrypoint.unwrap(),
            ["/bin/sh", "-c", "/bin/run"].map(String::from)
        );
        assert_eq!(config.env.unwrap(), ["B=2", "A=3"].map(String::from));
        let ports: Vec<String> = config.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp"].map(String::from));
        assert_eq!(config.working_dir.as_deref(), Some("/srv"));
        assert!(apply_changes(&["RUN make".to_owned()]).is_err());
        assert!(apply_changes(&["USER".to_owned()]).is_err());
    }
}
