//! The images of a project: which image each service runs, and what `berth pull` does about
//! each one, decided with the runtime's pull-policy rules against what the store holds.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use berth_compose::LoadedProject;
use berth_runtime::image::pull::{LocalImage, PullAction, PullPolicy, decide};
use berth_runtime::image::{Reference, Store, StoreError};

/// One service's image, as the compose file names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceImage {
    /// The service.
    pub service: String,
    /// Its `image`, when set.
    pub image: Option<String>,
    /// Whether it has a `build` section.
    pub buildable: bool,
    /// Its `pull_policy`, when set.
    pub pull_policy: Option<PullPolicy>,
}

/// The services `names` (all enabled ones when empty) with their images, sorted by name.
pub fn service_images(
    loaded: &LoadedProject,
    names: &[String],
) -> anyhow::Result<Vec<ServiceImage>> {
    for name in names {
        if loaded.project.service(name).is_none() {
            anyhow::bail!("no such service: {name}");
        }
    }
    let mut out = Vec::new();
    for (name, svc) in &loaded.project.services {
        if !names.is_empty() && !names.contains(name) {
            continue;
        }
        let pull_policy = svc
            .pull_policy
            .as_deref()
            .map(str::parse::<PullPolicy>)
            .transpose()
            .with_context(|| format!("service {name:?}"))?;
        out.push(ServiceImage {
            service: name.clone(),
            image: svc.image().map(str::to_owned),
            buildable: svc.build.is_some(),
            pull_policy,
        });
    }
    out.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(out)
}

/// What `berth pull` does for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullStep {
    /// Pull the image (`reference` is the parsed name).
    Pull {
        /// What to pull.
        reference: Reference,
    },
    /// Nothing to pull; the text says why, in Docker Compose's words.
    Skip(String),
}

/// One service's step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullItem {
    /// The service.
    pub service: String,
    /// Its image as written (empty for build-only services).
    pub image: String,
    /// Whether the service can be built instead (a failed pull is then only a warning).
    pub buildable: bool,
    /// What to do.
    pub step: PullStep,
}

/// Decides, per service, what `docker compose pull` would do: build-only services and the
/// policies `never` and `build` are skipped; `missing` and the scheduled policies pull only
/// when the local image is absent or stale; with no policy, the image is pulled. `policy`
/// (`--policy`) overrides every service's own. An image shared by several services is pulled
/// once.
pub fn plan_pull(
    services: &[ServiceImage],
    policy: Option<PullPolicy>,
    store: &Store,
    now: SystemTime,
) -> anyhow::Result<Vec<PullItem>> {
    let mut pulling: BTreeMap<String, String> = BTreeMap::new();
    let mut items = Vec::new();
    for svc in services {
        let Some(image) = &svc.image else {
            items.push(PullItem {
                service: svc.service.clone(),
                image: String::new(),
                buildable: svc.buildable,
                step: PullStep::Skip("Skipped - No image to be pulled".to_owned()),
            });
            continue;
        };
        let reference = Reference::parse(image)
            .with_context(|| format!("service {:?}: invalid image {image:?}", svc.service))?;
        // `docker compose pull` pulls when the service sets no policy.
        let policy = policy.or(svc.pull_policy).unwrap_or(PullPolicy::Always);
        let step = match policy {
            PullPolicy::Never | PullPolicy::Build => PullStep::Skip("Skipped".to_owned()),
            _ => {
                let local = local_image(store, &reference)?;
                // `pull` refreshes a `latest` tag even under `missing`, as Compose does: only
                // a pinned tag that is present counts as up to date.
                let latest = reference.digest().is_none() && reference.tag() == Some("latest");
                let decision = if policy == PullPolicy::Missing && latest {
                    PullAction::Pull
                } else {
                    decide(policy, local, false, now)
                };
                match decision {
                    PullAction::Pull => match pulling.get(&reference.to_string()) {
                        Some(other) => PullStep::Skip(format!(
                            "Skipped - Image is already being pulled by {other}"
                        )),
                        None => {
                            pulling.insert(reference.to_string(), svc.service.clone());
                            PullStep::Pull { reference }
                        }
                    },
                    PullAction::UseLocal => {
                        PullStep::Skip("Skipped - Image is already present locally".to_owned())
                    }
                    PullAction::Build | PullAction::Fail(_) => PullStep::Skip("Skipped".to_owned()),
                }
            }
        };
        items.push(PullItem {
            service: svc.service.clone(),
            image: image.clone(),
            buildable: svc.buildable,
            step,
        });
    }
    Ok(items)
}

/// When the store's copy of `reference` was last refreshed, if it has one.
fn local_image(store: &Store, reference: &Reference) -> anyhow::Result<Option<LocalImage>> {
    match store.resolve(&reference.to_string()) {
        Ok(record) => {
            let secs = record.last_pulled.unwrap_or(record.added);
            Ok(Some(LocalImage {
                refreshed: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            }))
        }
        Err(StoreError::NoSuchImage(_)) => Ok(None),
        Err(e) => Err(e).context("cannot read the image store"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, image: Option<&str>, policy: Option<PullPolicy>) -> ServiceImage {
        ServiceImage {
            service: name.to_owned(),
            image: image.map(str::to_owned),
            buildable: image.is_none(),
            pull_policy: policy,
        }
    }

    #[test]
    fn pull_plan_follows_compose() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("images")).unwrap();
        let services = [
            svc("a", Some("busybox"), None),
            svc("b", Some("busybox:latest"), None),
            svc("c", None, None),
            svc("d", Some("alpine"), Some(PullPolicy::Never)),
            svc("e", Some("alpine"), Some(PullPolicy::Missing)),
        ];
        let items = plan_pull(&services, None, &store, SystemTime::now()).unwrap();
        let steps: Vec<_> = items.iter().map(|i| i.step.clone()).collect();
        assert!(matches!(steps[0], PullStep::Pull { .. }));
        assert_eq!(
            steps[1],
            PullStep::Skip("Skipped - Image is already being pulled by a".to_owned())
        );
        assert_eq!(
            steps[2],
            PullStep::Skip("Skipped - No image to be pulled".to_owned())
        );
        assert_eq!(steps[3], PullStep::Skip("Skipped".to_owned()));
        assert!(matches!(steps[4], PullStep::Pull { .. }));

        let items = plan_pull(
            &services,
            Some(PullPolicy::Never),
            &store,
            SystemTime::now(),
        )
        .unwrap();
        assert!(items.iter().all(|i| matches!(i.step, PullStep::Skip(_))));
    }
}
