//! `berth pull`: pulls the images of a project's services, concurrently, as `docker compose
//! pull` does.

use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use berth_runtime::image::pull::{PullError, PullFailure, PullOptions, PullPolicy, pull};
use berth_runtime::image::registry::{RegistryConfig, RegistryError};
use berth_runtime::image::{Reference, Store};
use clap::Args;
use futures_util::future::join_all;

use super::progress::{Reporter, Wording};
use super::{GlobalOptions, load_options, output};
use crate::engine::images::{PullItem, PullStep, plan_pull, service_images};
use crate::engine::{project_view, unsupported};

/// Flags of `berth pull`, as in `docker compose pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Pull without printing progress information
    #[arg(short, long)]
    quiet: bool,
    /// Pull what it can and ignores images with pull failures
    #[arg(long)]
    ignore_pull_failures: bool,
    /// Ignore images that can be built
    #[arg(long)]
    ignore_buildable: bool,
    /// Also pull services declared as dependencies
    #[arg(long)]
    include_deps: bool,
    /// Apply pull policy ("missing"|"always"|"never"|"daily"|"weekly"|"every_<duration>")
    #[arg(long, value_name = "POLICY")]
    policy: Option<PullPolicy>,
    /// Services to pull (all when none)
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
}

/// The image store under the state root.
pub fn open_store(global: &GlobalOptions) -> anyhow::Result<Store> {
    let dir = global.root.join("images");
    Store::open(&dir).with_context(|| format!("cannot open the image store {}", dir.display()))
}

/// Pull settings from berth's configuration file.
pub fn pull_options() -> anyhow::Result<PullOptions> {
    Ok(PullOptions {
        registry_config: RegistryConfig::load()?,
        ..PullOptions::default()
    })
}

/// A tokio runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs `berth pull`.
pub fn run(global: &GlobalOptions, args: &PullArgs) -> anyhow::Result<ExitCode> {
    let opts = load_options(global)?;
    let loaded = berth_compose::load(&opts)?;
    output::warnings(&loaded.warnings);
    output::warnings(&unsupported::warnings(&loaded.tree));
    let names = if args.include_deps && !args.services.is_empty() {
        project_view::select(&loaded, &args.services)?.service_names()
    } else {
        args.services.clone()
    };
    let services = service_images(&loaded, &names)?;
    let store = open_store(global)?;
    let options = pull_options()?;
    let mut items = plan_pull(&services, args.policy, &store, SystemTime::now())?;
    if args.ignore_buildable {
        for item in &mut items {
            if item.buildable && matches!(item.step, PullStep::Pull { .. }) {
                item.step = PullStep::Skip("Skipped - Image can be built".to_owned());
            }
        }
    }
    let reporter = Reporter::new(global, args.quiet, Wording::Compose);
    for item in &items {
        if let PullStep::Skip(why) = &item.step
            && let Some(text) = skip_text(why)
        {
            reporter.status(&owner(item), &text, true);
        }
    }
    let pulls = items.iter().filter_map(|item| match &item.step {
        PullStep::Pull { reference } => {
            Some(pull_one(&store, &options, &reporter, item, reference))
        }
        PullStep::Skip(_) => None,
    });
    let outcomes = runtime()?.block_on(join_all(pulls));
    reporter.finish();

    // As Compose: every failure fails the command unless --ignore-pull-failures; services
    // that can be built are named in a hint to build them instead.
    let mut failed = false;
    let mut must_build = Vec::new();
    let pulled = items
        .iter()
        .filter(|item| matches!(item.step, PullStep::Pull { .. }));
    for (item, outcome) in pulled.zip(outcomes) {
        if let Err(error) = outcome {
            if item.buildable {
                must_build.push(item.service.clone());
            }
            if args.ignore_pull_failures {
                output::warn(&format!("{error:#}"));
            } else {
                output::error(&error);
                failed = true;
            }
        }
    }
    if !must_build.is_empty() {
        output::warn(&format!(
            "WARNING: Some service image(s) must be built from source by running:\n    berth build {}",
            must_build.join(" ")
        ));
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What Compose's progress lines name: `Image <image as written>`, or the service when it
/// has no image.
fn owner(item: &PullItem) -> String {
    if item.image.is_empty() {
        item.service.clone()
    } else {
        format!("Image {}", item.image)
    }
}

/// A skip's status as Compose prints it (`Skipped Image is already present locally`), or
/// nothing: Compose is silent about an image another service is already pulling.
fn skip_text(why: &str) -> Option<String> {
    match why.strip_prefix("Skipped - ") {
        Some(details) if details.starts_with("Image is already being pulled") => None,
        Some(details) => Some(format!("Skipped {details}")),
        None => Some(why.to_owned()),
    }
}

/// A failed pull in Docker's words where Docker has them: an unknown repository (or one that
/// wants credentials) is `pull access denied for <name>, ...`.
pub fn pull_error(error: PullError, reference: &Reference) -> anyhow::Error {
    let denied = matches!(
        &error.cause,
        PullFailure::Registry(
            RegistryError::RepositoryNotFound { .. } | RegistryError::AuthenticationRequired { .. }
        )
    );
    if denied {
        anyhow::anyhow!(
            "pull access denied for {}, repository does not exist or may require authorization: {}",
            reference.familiar_name(),
            error.cause
        )
    } else {
        error.into()
    }
}

async fn pull_one(
    store: &Store,
    options: &PullOptions,
    reporter: &Reporter,
    item: &PullItem,
    reference: &Reference,
) -> anyhow::Result<()> {
    let owner = owner(item);
    reporter.status(&owner, "Pulling", false);
    let progress = |event: &_| reporter.event(&owner, event);
    match pull(store, reference, options, &progress).await {
        Ok(_) => {
            reporter.status(&owner, "Pulled", true);
            Ok(())
        }
        Err(error) => {
            // A service that can be built only warns, as in Compose.
            let status = if item.buildable { "Warning" } else { "Error" };
            reporter.status(&owner, status, true);
            Err(pull_error(error, reference))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(service: &str, image: &str) -> PullItem {
        PullItem {
            service: service.to_owned(),
            image: image.to_owned(),
            buildable: false,
            step: PullStep::Skip("Skipped".to_owned()),
        }
    }

    #[test]
    fn lines_name_the_image_as_compose_does() {
        assert_eq!(owner(&item("web", "alpine:3.14")), "Image alpine:3.14");
        assert_eq!(owner(&item("builder", "")), "builder");
        assert_eq!(
            skip_text("Skipped - Image is already present locally").as_deref(),
            Some("Skipped Image is already present locally")
        );
        assert_eq!(
            skip_text("Skipped - No image to be pulled").as_deref(),
            Some("Skipped No image to be pulled")
        );
        assert_eq!(skip_text("Skipped").as_deref(), Some("Skipped"));
        assert_eq!(
            skip_text("Skipped - Image is already being pulled by web"),
            None
        );
    }

    #[test]
    fn unknown_repositories_are_pull_access_denied() {
        let reference = Reference::parse("does_not_exists").unwrap();
        let denied = pull_error(
            PullError {
                image: reference.familiar(),
                cause: PullFailure::Registry(RegistryError::RepositoryNotFound {
                    registry: "127.0.0.1:5000".to_owned(),
                    repository: reference.name(),
                }),
            },
            &reference,
        );
        let text = format!("{denied:#}");
        assert!(
            text.starts_with(
                "pull access denied for does_not_exists, repository does not exist or may require authorization: "
            ),
            "{text}"
        );
        let missing_tag = pull_error(
            PullError {
                image: reference.familiar(),
                cause: PullFailure::Registry(RegistryError::ManifestNotFound {
                    repository: reference.name(),
                    what: "tag \"latest\"".to_owned(),
                }),
            },
            &reference,
        );
        assert!(format!("{missing_tag:#}").starts_with("cannot pull does_not_exists:latest: "));
    }
}
