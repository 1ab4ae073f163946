//! `berth images`: the images a project's services use, as `docker compose images` lists them
//! (without containers yet: one row per image in the store).

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::Context;
use berth_runtime::image::StoreError;
use clap::Args;
use serde_json::json;

use super::image::list::{ListFormat, image_id};
use super::pull::open_store;
use super::{GlobalOptions, load_options, output};
use crate::engine::images::service_images;
use crate::engine::unsupported;

/// Flags of `berth images`, as in `docker compose images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Format the output: table or json
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
    /// Only display IDs
    #[arg(short, long)]
    quiet: bool,
    /// Services (all when none)
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
}

/// Runs `berth images`.
pub fn run(global: &GlobalOptions, args: &ImagesArgs) -> anyhow::Result<ExitCode> {
    let opts = load_options(global)?;
    let loaded = berth_compose::load(&opts)?;
    output::warnings(&loaded.warnings);
    output::warnings(&unsupported::warnings(&loaded.tree));
    let store = open_store(global)?;
    let mut seen = BTreeSet::new();
    let mut rows = Vec::new();
    for svc in service_images(&loaded, &args.services)? {
        let name = svc
            .image
            .clone()
            .unwrap_or_else(|| format!("{}-{}", loaded.name, svc.service));
        let details = match store.inspect(&name) {
            Ok(details) => details,
            // An image not pulled or built yet has nothing to show.
            Err(StoreError::NoSuchImage(_)) => continue,
            Err(e) => return Err(e).context("cannot read the image store"),
        };
        // The name as the service writes it, split at the tag (not a registry port).
        let (repository, tag) = match name.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') && !repo.contains('@') => {
                (repo.to_owned(), tag.to_owned())
            }
            _ => (name.clone(), "latest".to_owned()),
        };
        if seen.insert((repository.clone(), tag.clone(), details.id.clone())) {
            rows.push((repository, tag, details));
        }
    }
    let text = if args.quiet {
        let ids: BTreeSet<String> = rows.iter().map(|(_, _, d)| d.id.clone()).collect();
        ids.into_iter().map(|id| format!("{id}\n")).collect()
    } else if args.format == ListFormat::Json {
        let list: Vec<_> = rows
            .iter()
            .map(|(repository, tag, d)| {
                json!({
                    "ID": d.id,
                    "Repository": repository,
                    "Tag": tag,
                    "Platform": format!("{}/{}", d.os, d.architecture),
                    "Size": d.size,
                    "Created": d.created,
                })
            })
            .collect();
        let mut text = serde_json::to_string_pretty(&list).context("cannot render JSON")?;
        text.push('\n');
        text
    } else {
        let mut table = vec![
            ["REPOSITORY", "TAG", "IMAGE ID", "SIZE"]
                .map(str::to_owned)
                .to_vec(),
        ];
        for (repository, tag, d) in &rows {
            table.push(vec![
                repository.clone(),
                tag.clone(),
                image_id(&d.id, false),
                output::human_size(d.size),
            ]);
        }
        output::columns(&table)
    };
    output::emit(&text, None)?;
    Ok(ExitCode::SUCCESS)
}
