//! Which project a project command acts on, decided in one place for every command.
//!
//! As in Docker Compose: the compose file found (or given with `-f`) defines the project,
//! named by `-p` when given; without any compose file, `-p NAME` (or `COMPOSE_PROJECT_NAME`)
//! alone names a project known from berth's state, so that `ps`, `logs` and `down` work from
//! any directory.

use super::{GlobalOptions, load_options, output};
use crate::engine::state::{self, StateRoot};
use anyhow::Context;

/// The message Docker Compose gives when there is neither a compose file nor a project name.
pub const NO_CONFIGURATION: &str = "no configuration file provided: not found";

/// The project a command acts on.
#[derive(Debug, Clone)]
pub struct ProjectTarget {
    /// The project name.
    pub name: String,
    /// The compose project, when a compose file was found or given; `None` when the project
    /// is only named (`-p NAME` without a compose file) and known from the state alone.
    pub loaded: Option<berth_compose::LoadedProject>,
}

impl ProjectTarget {
    /// The services of the compose file (enabled ones), by name; empty without a compose
    /// file.
    pub fn service_names(&self) -> Vec<String> {
        self.loaded
            .as_ref()
            .map(|l| l.project.services.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Decides which project the command acts on (see the module docs). Loader warnings are
/// printed here, once.
pub fn target(global: &GlobalOptions) -> anyhow::Result<ProjectTarget> {
    target_services(global, &[])
}

/// [`target`] for a command that names services: as in Docker Compose, a named service
/// activates its own profiles.
pub fn target_services(
    global: &GlobalOptions,
    services: &[String],
) -> anyhow::Result<ProjectTarget> {
    let mut opts = load_options(global)?;
    opts.services = services.to_vec();
    if opts.files.is_empty() {
        // Look for the files first: their absence is not an error when a name is given.
        let mut warnings = Vec::new();
        match berth_compose::loader::config_sources(&opts, &mut warnings) {
            Ok(_) => {}
            Err(e) if e.message == NO_CONFIGURATION => {
                return match name_without_file(global)? {
                    Some(name) => Ok(ProjectTarget { name, loaded: None }),
                    None => Err(anyhow::anyhow!(NO_CONFIGURATION)),
                };
            }
            Err(e) => return Err(e.into()),
        }
    }
    let loaded = berth_compose::load(&opts)?;
    output::warnings(&loaded.warnings);
    Ok(ProjectTarget {
        name: loaded.name.clone(),
        loaded: Some(loaded),
    })
}

/// `-p`, else a non-empty `COMPOSE_PROJECT_NAME`, validated as Compose validates names.
fn name_without_file(global: &GlobalOptions) -> anyhow::Result<Option<String>> {
    let name = global
        .project_name
        .clone()
        .or_else(|| std::env::var("COMPOSE_PROJECT_NAME").ok())
        .filter(|n| !n.is_empty());
    if let Some(n) = &name {
        berth_compose::loader::validate_project_name(n)?;
    }
    Ok(name)
}

/// Opens the state root the global options name (`--root`, `BERTH_RUN`).
pub fn open_state(global: &GlobalOptions) -> anyhow::Result<StateRoot> {
    StateRoot::open(&global.root, state::run_dir_from_env())
        .with_context(|| format!("cannot open berth's state at {}", global.root.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn global(args: &[&str]) -> GlobalOptions {
        let mut all = vec!["berth"];
        all.extend_from_slice(args);
        all.push("config");
        super::super::Cli::try_parse_from(all).unwrap().global
    }

    #[test]
    fn a_given_file_defines_the_project_and_p_renames_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stack.yaml");
        std::fs::write(
            &file,
            "name: fromfile\nservices:\n  web:\n    image: nginx\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let t = target(&global(&["-f", f])).unwrap();
        assert_eq!(t.name, "fromfile");
        assert_eq!(t.service_names(), ["web"]);
        let t = target(&global(&["-f", f, "-p", "other"])).unwrap();
        assert_eq!(t.name, "other");
        assert!(t.loaded.is_some());
    }

    #[test]
    fn a_missing_given_file_is_an_error_even_with_a_name() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.yaml");
        let e = target(&global(&["-f", missing.to_str().unwrap(), "-p", "x"])).unwrap_err();
        assert!(format!("{e:#}").contains("nope.yaml"), "{e:#}");
    }

    #[test]
    fn without_a_file_a_name_alone_targets_the_state() {
        // --project-directory points the search at an empty directory, whatever the
        // current directory holds.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let t = target(&global(&["--project-directory", d, "-p", "alone"])).unwrap();
        assert_eq!(t.name, "alone");
        assert!(t.loaded.is_none());
        assert!(t.service_names().is_empty());
        let e = target(&global(&["--project-directory", d, "-p", "Bad!"])).unwrap_err();
        assert!(format!("{e:#}").contains("invalid project name"), "{e:#}");
    }
}
