//! What runs around a container's life: `healthcheck`, `pre_start`/`post_start`/`pre_stop`
//! hooks and `develop.watch`.

use super::common::{Duration, Extensions, OptionalStringMap, string_or_list};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The `healthcheck` of a service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckConfig {
    /// The probe: `[NONE]`, `[CMD, args...]` or `[CMD-SHELL, command]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// How long one probe may run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Time between probes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Consecutive failures that make the container unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    /// Grace period after start during which failures do not count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    /// Time between probes during the start period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
    /// Disables any health check (including the image's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable: Option<bool>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

impl HealthCheckConfig {
    /// Whether the check is switched off: `disable: true` or a `NONE` test.
    pub fn is_disabled(&self) -> bool {
        self.disable == Some(true)
            || self
                .test
                .as_ref()
                .and_then(|t| t.first())
                .is_some_and(|first| first == "NONE")
    }
}

/// A command run in the container at a lifecycle event (`post_start`, `pre_stop`, or a
/// `sync+exec` watch rule).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceHook {
    /// The command, in exec form.
    #[serde(default)]
    pub command: Vec<String>,
    /// User to run it as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Run it privileged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Extra environment.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub environment: OptionalStringMap,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// A `pre_start` hook: a short-lived container that runs to completion before the service's
/// containers start, with the service's volumes and networks (Compose's `PreStartHook`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PreStartHook {
    /// The command, in exec form.
    #[serde(default)]
    pub command: Vec<String>,
    /// The entrypoint, in exec form (the service's when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// The image to run (the normalizer fills in the service's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Run it once per new replica instead of once per service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_replica: Option<bool>,
    /// User to run it as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Run it privileged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Environment, over the service's.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub environment: OptionalStringMap,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// The `develop` section of a service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DevelopConfig {
    /// File watch rules for `watch` mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<WatchTrigger>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// What a watch rule does when a file changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchAction {
    /// Rebuild the image and recreate the container.
    #[serde(rename = "rebuild")]
    Rebuild,
    /// Copy the changed files into the container.
    #[serde(rename = "sync")]
    Sync,
    /// Restart the container.
    #[serde(rename = "restart")]
    Restart,
    /// Copy the files, then restart the container.
    #[serde(rename = "sync+restart")]
    SyncRestart,
    /// Copy the files, then run `exec` in the container.
    #[serde(rename = "sync+exec")]
    SyncExec,
}

/// One `develop.watch` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchTrigger {
    /// The watched path on the host.
    pub path: String,
    /// What to do on change.
    pub action: WatchAction,
    /// Where synced files go in the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The command of a `sync+exec` rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec: Option<ServiceHook>,
    /// Patterns excluded from watching.
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ignore: Vec<String>,
    /// Patterns included in watching.
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub include: Vec<String>,
    /// Sync everything once when watching starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_sync: Option<bool>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}
