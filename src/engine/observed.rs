//! What exists on the machine for a project, as the state root records it. The reconciler
//! compares this with the desired project; it never looks at the machine itself.

use super::labels;
use std::collections::BTreeMap;

/// The state of a container's process, with Docker's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, never started.
    Created,
    /// Its process runs.
    Running,
    /// Frozen.
    Paused,
    /// Waiting to be restarted by its restart policy.
    Restarting,
    /// Its process ended with this exit code.
    Exited(i32),
    /// Half removed or broken.
    Dead,
}

impl ContainerState {
    /// Whether the container counts as up (running, paused or about to restart).
    pub fn is_up(&self) -> bool {
        matches!(
            self,
            ContainerState::Running | ContainerState::Paused | ContainerState::Restarting
        )
    }
}

/// A container found in the state root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    /// Its id.
    pub id: String,
    /// Its name (`project-service-N`, or `container_name`).
    pub name: String,
    /// Its labels (the `com.docker.compose.*` ones tell project, service, number, hash).
    pub labels: BTreeMap<String, String>,
    /// Its state.
    pub state: ContainerState,
    /// The names of the volumes it mounts.
    pub volumes: Vec<String>,
}

impl ObservedContainer {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// The project it belongs to.
    pub fn project(&self) -> Option<&str> {
        self.label(labels::PROJECT)
    }

    /// The service it runs.
    pub fn service(&self) -> Option<&str> {
        self.label(labels::SERVICE)
    }

    /// Its replica number (0 when the label is missing or malformed).
    pub fn number(&self) -> u32 {
        self.label(labels::CONTAINER_NUMBER)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Whether it is a one-off container of `run`.
    pub fn is_oneoff(&self) -> bool {
        self.label(labels::ONEOFF)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The config hash it was created with.
    pub fn config_hash(&self) -> Option<&str> {
        self.label(labels::CONFIG_HASH)
    }

    /// The image digest it was created from.
    pub fn image_digest(&self) -> Option<&str> {
        self.label(labels::IMAGE)
    }
}

/// A network or volume found in the state root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedResource {
    /// Its actual name (`project_key`, or the `name:` given).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

impl ObservedResource {
    /// The project it belongs to, when berth created it for one.
    pub fn project(&self) -> Option<&str> {
        self.labels.get(labels::PROJECT).map(String::as_str)
    }
}

/// An image in the local store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedImage {
    /// A name it is known by (`nginx:1.27`, fully qualified or not).
    pub reference: String,
    /// Its id (the config digest).
    pub id: String,
}

/// Everything observed that a plan may touch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Containers of the project (and, for name conflicts, any others).
    pub containers: Vec<ObservedContainer>,
    /// Networks on the machine.
    pub networks: Vec<ObservedResource>,
    /// Volumes on the machine.
    pub volumes: Vec<ObservedResource>,
    /// Images in the local store.
    pub images: Vec<ObservedImage>,
}

impl Observed {
    /// The project's containers of `service`, one-offs excluded, by replica number.
    pub fn service_containers(&self, project: &str, service: &str) -> Vec<&ObservedContainer> {
        let mut found: Vec<&ObservedContainer> = self
            .containers
            .iter()
            .filter(|c| c.project() == Some(project) && c.service() == Some(service))
            .filter(|c| !c.is_oneoff())
            .collect();
        found.sort_by_key(|c| (c.number(), c.name.clone()));
        found
    }

    /// The image known by `reference`, if present.
    pub fn image(&self, reference: &str) -> Option<&ObservedImage> {
        self.images.iter().find(|i| i.reference == reference)
    }

    /// The network named `name`, if present.
    pub fn network(&self, name: &str) -> Option<&ObservedResource> {
        self.networks.iter().find(|n| n.name == name)
    }

    /// The volume named `name`, if present.
    pub fn volume(&self, name: &str) -> Option<&ObservedResource> {
        self.volumes.iter().find(|v| v.name == name)
    }
}
