//! The labels of a container: the image's labels (Docker's containers inherit them), then
//! the service's own `labels`, then Docker Compose's `com.docker.compose.*` labels, which win
//! (Compose sets them last).

use super::ContainerInput;
use crate::engine::labels as names;
use berth_compose::hash;
use berth_compose::model::DependencyCondition;
use std::collections::BTreeMap;

/// The environment files the project was loaded with, comma separated.
pub const ENVIRONMENT_FILE: &str = "com.docker.compose.project.environment_file";

/// The `depends_on` label: `name:condition:restart` per dependency, comma separated, sorted
/// by name (Compose's format).
pub fn depends_on(svc: &berth_compose::model::ServiceConfig) -> String {
    let mut deps: Vec<String> = svc
        .depends_on
        .iter()
        .map(|(name, d)| {
            let condition = match d.condition {
                DependencyCondition::ServiceStarted => "service_started",
                DependencyCondition::ServiceHealthy => "service_healthy",
                DependencyCondition::ServiceCompletedSuccessfully => {
                    "service_completed_successfully"
                }
            };
            format!("{name}:{condition}:{}", d.restart.unwrap_or(false))
        })
        .collect();
    deps.sort();
    deps.join(",")
}

/// Every label of the container.
pub fn labels(input: &ContainerInput) -> anyhow::Result<BTreeMap<String, String>> {
    let svc = input.config()?;
    let project = input.project;
    let mut out: BTreeMap<String, String> = input.defaults().labels.clone().unwrap_or_default();
    out.extend(svc.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let tree = project
        .tree
        .get("services")
        .and_then(|s| s.get(input.service))
        .ok_or_else(|| anyhow::anyhow!("no such service: {}", input.service))?;
    let mut set = |k: &str, v: String| {
        out.insert(k.to_string(), v);
    };
    set(names::PROJECT, project.name.clone());
    set(names::SERVICE, input.service.to_string());
    set(names::CONTAINER_NUMBER, input.number.to_string());
    set(
        names::ONEOFF,
        if input.oneoff { "True" } else { "False" }.to_string(),
    );
    set(names::CONFIG_HASH, hash::service_hash(tree));
    set(names::IMAGE, input.image_id.to_string());
    set(
        names::WORKING_DIR,
        project.working_dir.to_string_lossy().into_owned(),
    );
    set(names::CONFIG_FILES, project.config_files.join(","));
    if !input.env_files.is_empty() {
        let files: Vec<String> = input
            .env_files
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        set(ENVIRONMENT_FILE, files.join(","));
    }
    set(names::DEPENDS_ON, depends_on(svc));
    set(names::VERSION, env!("CARGO_PKG_VERSION").to_string());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::testing::{Fixture, project};

    #[test]
    fn composes_labels_win_over_the_services() {
        let p = project(
            r#"
services:
  db: {image: postgres}
  cache: {image: redis}
  s:
    image: x
    labels: {com.docker.compose.project: fake, app.tier: web}
    depends_on:
      db: {condition: service_healthy, restart: true}
      cache: {condition: service_started}
"#,
        );
        let mut f = Fixture::new(p);
        if let Some(c) = f.image.config.as_mut() {
            c.labels = Some(
                [
                    ("app.tier", "image"),
                    ("org.opencontainers.image.title", "x"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            );
        }
        let mut input = f.input("s");
        input.number = 2;
        let env = [std::path::PathBuf::from("/srv/proj/.env")];
        input.env_files = &env;
        let l = labels(&input).unwrap();
        assert_eq!(l[names::PROJECT], "proj");
        assert_eq!(l["app.tier"], "web");
        assert_eq!(l["org.opencontainers.image.title"], "x");
        assert_eq!(l[names::SERVICE], "s");
        assert_eq!(l[names::CONTAINER_NUMBER], "2");
        assert_eq!(l[names::ONEOFF], "False");
        assert_eq!(l[names::IMAGE], "sha256:abc");
        assert_eq!(l[names::WORKING_DIR], "/srv/proj");
        assert_eq!(l[ENVIRONMENT_FILE], "/srv/proj/.env");
        assert_eq!(
            l[names::DEPENDS_ON],
            "cache:service_started:false,db:service_healthy:true"
        );
        assert_eq!(l[names::CONFIG_HASH].len(), 64);
        assert!(l.contains_key(names::VERSION));
        let desired = crate::engine::desired::DesiredProject::from_loaded(input.project).unwrap();
        assert_eq!(l[names::CONFIG_HASH], desired.service("s").unwrap().hash);
    }
}
