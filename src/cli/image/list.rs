//! `berth image ls` and `berth image inspect`, with Docker's columns and field names.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::Context;
use berth_runtime::image::Reference;
use berth_runtime::image::store::{ImageDetails, ImageSummary};
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::cli::GlobalOptions;
use crate::cli::output::{self, docker_time, human_duration, human_size, parse_rfc3339};
use crate::cli::pull::open_store;

/// `--format` of listings.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum ListFormat {
    /// A table for people.
    #[default]
    Table,
    /// One JSON object per line, with Docker's field names.
    Json,
}

/// Flags of `berth image ls`, as in `docker image ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Show all images (berth keeps no intermediate images, so this changes nothing)
    #[arg(short, long)]
    all: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Format output: table or json
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Only images of this repository (and tag)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    filter: Option<String>,
}

/// One row of a listing: an image under one of its names.
pub struct Row<'a> {
    /// The image.
    pub image: &'a ImageSummary,
    /// The repository (short form) or `<none>`.
    pub repository: String,
    /// The tag or `<none>`.
    pub tag: String,
    /// The digest of the repository, or `<none>`.
    pub digest: String,
}

/// The rows Docker shows for an image: one per name; `<none>` when it has none.
pub fn rows(image: &ImageSummary) -> Vec<Row<'_>> {
    let digest_of = |repository: &str| {
        image
            .repo_digests
            .iter()
            .find_map(|d| {
                d.rsplit_once('@')
                    .filter(|(name, _)| *name == repository)
                    .map(|(_, digest)| digest.to_owned())
            })
            .unwrap_or_else(|| "<none>".to_owned())
    };
    let mut out: Vec<Row> = image
        .repo_tags
        .iter()
        .map(|tag| {
            let (repository, tag) = split_tag(tag);
            Row {
                image,
                digest: digest_of(&repository),
                repository,
                tag,
            }
        })
        .collect();
    if out.is_empty() {
        // A dangling image still shows the repository it was pulled from, as in Docker.
        let repository = image
            .repo_digests
            .first()
            .and_then(|d| d.rsplit_once('@'))
            .map_or_else(|| "<none>".to_owned(), |(name, _)| name.to_owned());
        out.push(Row {
            image,
            digest: digest_of(&repository),
            repository,
            tag: "<none>".to_owned(),
        });
    }
    out
}

/// Splits a short `name:tag` at the tag's colon (not a port's).
fn split_tag(text: &str) -> (String, String) {
    match text.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_owned(), tag.to_owned()),
        _ => (text.to_owned(), "<none>".to_owned()),
    }
}

/// The short (12 hex digit) or full image ID.
pub fn image_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_owned()
    } else {
        id.strip_prefix("sha256:")
            .unwrap_or(id)
            .chars()
            .take(12)
            .collect()
    }
}

/// Seconds since the epoch now.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `N days ago`, or `N/A` when the image records no valid creation time.
fn created_since(image: &ImageSummary, now: i64) -> String {
    match image.created.as_deref().and_then(parse_rfc3339) {
        Some(t) => format!(
            "{} ago",
            human_duration(u64::try_from(now - t).unwrap_or(0))
        ),
        None => "N/A".to_owned(),
    }
}

/// Whether `row` matches a `REPOSITORY[:TAG]` argument.
fn matches(row: &Row, filter: &str) -> bool {
    let (name, tag) = match filter.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (filter, None),
    };
    // Compare canonical names, so that `busybox` matches `docker.io/library/busybox`.
    let canonical = |n: &str| {
        Reference::parse(n)
            .map(|r| r.name())
            .unwrap_or_else(|_| n.to_owned())
    };
    canonical(&row.repository) == canonical(name) && tag.is_none_or(|t| t == row.tag)
}

/// Runs `berth image ls`.
pub fn ls(global: &GlobalOptions, args: &LsArgs) -> anyhow::Result<ExitCode> {
    let _ = args.all;
    let store = open_store(global)?;
    let images = store.list().context("cannot list images")?;
    let rows: Vec<Row> = images
        .iter()
        .flat_map(rows)
        .filter(|row| args.filter.as_deref().is_none_or(|f| matches(row, f)))
        .collect();
    let now = now();
    let mut text = String::new();
    if args.quiet {
        let mut seen = BTreeSet::new();
        for row in &rows {
            if seen.insert(&row.image.id) {
                text.push_str(&image_id(&row.image.id, args.no_trunc));
                text.push('\n');
            }
        }
    } else if args.format == ListFormat::Json {
        for row in &rows {
            let created = row.image.created.as_deref().and_then(parse_rfc3339);
            let size = human_size(row.image.size);
            let value = json!({
                "Containers": "N/A",
                "CreatedAt": created.map(docker_time).unwrap_or_default(),
                "CreatedSince": created_since(row.image, now),
                "Digest": row.digest,
                "ID": image_id(&row.image.id, args.no_trunc),
                "Repository": row.repository,
                "SharedSize": "N/A",
                "Size": size,
                "Tag": row.tag,
                "UniqueSize": "N/A",
                "VirtualSize": size,
            });
            text.push_str(&value.to_string());
            text.push('\n');
        }
    } else {
        let mut header = vec!["REPOSITORY".to_owned(), "TAG".to_owned()];
        if args.digests {
            header.push("DIGEST".to_owned());
        }
        header.extend(["IMAGE ID", "CREATED", "SIZE"].map(str::to_owned));
        let mut table = vec![header];
        for row in &rows {
            let mut cells = vec![row.repository.clone(), row.tag.clone()];
            if args.digests {
                cells.push(row.digest.clone());
            }
            cells.push(image_id(&row.image.id, args.no_trunc));
            cells.push(created_since(row.image, now));
            cells.push(human_size(row.image.size));
            table.push(cells);
        }
        text = output::columns(&table);
    }
    output::emit(&text, None)?;
    Ok(ExitCode::SUCCESS)
}

/// Flags of `berth image inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Images (names or IDs)
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

/// Docker's `image inspect` object for an image.
pub fn inspect_json(details: &ImageDetails) -> serde_json::Value {
    let mut value = json!({
        "Id": details.id,
        "RepoTags": details.repo_tags,
        "RepoDigests": details.repo_digests,
        "Parent": "",
        "Comment": details.history.last().and_then(|h| h.comment.clone()).unwrap_or_default(),
        "Created": details.created.clone().unwrap_or_default(),
        "Author": details.author.clone().unwrap_or_default(),
        "Config": details.config,
        "Architecture": details.architecture,
        "Os": details.os,
        "Size": details.size,
        "RootFS": {
            "Type": "layers",
            "Layers": details.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
        },
        "Metadata": {
            "LastTagTime": details
                .last_pulled
                .and_then(|t| i64::try_from(t).ok())
                .map(docker_time)
                .unwrap_or_default(),
        },
    });
    if let (Some(variant), Some(map)) = (&details.variant, value.as_object_mut()) {
        map.insert("Variant".to_owned(), json!(variant));
    }
    value
}

/// Runs `berth image inspect`: a JSON array; names not found are errors after the array,
/// as in Docker.
pub fn inspect(global: &GlobalOptions, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.images {
        match store.inspect(name) {
            Ok(details) => found.push(inspect_json(&details)),
            Err(error) => errors.push(anyhow::Error::new(error)),
        }
    }
    let mut text = serde_json::to_string_pretty(&found).context("cannot render JSON")?;
    text.push('\n');
    output::emit(&text, None)?;
    for error in &errors {
        output::error(error);
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(tags: &[&str], digests: &[&str]) -> ImageSummary {
        ImageSummary {
            id: format!("sha256:{}", "ab".repeat(32)),
            repo_tags: tags.iter().map(|t| t.to_string()).collect(),
            repo_digests: digests.iter().map(|t| t.to_string()).collect(),
            created: None,
            size: 0,
        }
    }

    #[test]
    fn rows_per_name() {
        let image = summary(
            &["busybox:latest", "127.0.0.1:5000/app:v1"],
            &["busybox@sha256:00"],
        );
        let rows = rows(&image);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].repository.as_str(), rows[0].tag.as_str()),
            ("busybox", "latest")
        );
        assert_eq!(rows[0].digest, "sha256:00");
        assert_eq!(
            (rows[1].repository.as_str(), rows[1].tag.as_str()),
            ("127.0.0.1:5000/app", "v1")
        );
        let dangling = summary(&[], &["busybox@sha256:00"]);
        let rows = super::rows(&dangling);
        assert_eq!(
            (rows[0].repository.as_str(), rows[0].tag.as_str()),
            ("busybox", "<none>")
        );
        assert!(matches(&rows[0], "docker.io/library/busybox"));
        assert_eq!(image_id(&dangling.id, false), "abababababab");
    }
}
