//! `services.<name>`: everything a service says about its containers.

use super::build::BuildConfig;
use super::common::{
    ByteSize, Duration, Extensions, OptionalStringMap, StringMap, UlimitConfig, float,
    string_or_list,
};
use super::lifecycle::{DevelopConfig, HealthCheckConfig, PreStartHook, ServiceHook};
use super::mounts::{DeviceMapping, ServiceVolumeConfig};
use super::networking::{ServiceNetworkConfig, ServicePortConfig};
use super::references::{
    CredentialSpecConfig, EnvFile, ExtendsConfig, LoggingConfig, ServiceConfigObjConfig,
    ServiceDependency, ServiceModelConfig, ServiceProviderConfig, ServiceSecretConfig, env_files,
};
use super::resources::{BlkioConfig, DeployConfig, DeviceRequest, gpus};
use crate::error::{Error, Result};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// One service, in canonical long syntax. Keys appear in compose-go's order when printed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceConfig {
    /// Profiles that enable the service (none: always enabled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// OCI annotations of the containers.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub annotations: StringMap,
    /// Whether `up` attaches to the service's logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attach: Option<bool>,
    /// How to build the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildConfig>,
    /// Development (watch) settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub develop: Option<DevelopConfig>,
    /// Block IO limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<BlkioConfig>,
    /// Capabilities added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Capabilities dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// Parent cgroup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// Cgroup namespace: `host` or `private`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// Usable CPUs (Windows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_count: Option<i64>,
    /// Usable CPU percentage (Windows).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "float")]
    pub cpu_percent: Option<f64>,
    /// CFS period, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<i64>,
    /// CFS quota, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    /// Real-time period, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_rt_period: Option<i64>,
    /// Real-time runtime, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs, as a fraction of cores.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "float")]
    pub cpus: Option<f64>,
    /// CPUs the containers may run on (`0-3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    /// Relative CPU weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    /// Overrides the image's command; `Some([])` clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Project configs mounted in the containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<ServiceConfigObjConfig>,
    /// Fixed container name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Windows credential spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_spec: Option<CredentialSpecConfig>,
    /// Services started before this one, and what to wait for.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub depends_on: IndexMap<String, ServiceDependency>,
    /// Deployment settings (replicas, resources, restart policy, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployConfig>,
    /// Device cgroup rules (`c 1:3 mr`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    /// Host devices mapped into the containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceMapping>,
    /// DNS servers.
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dns: Vec<String>,
    /// Resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    /// DNS search domains.
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dns_search: Vec<String>,
    /// Domain name of the containers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// Overrides the image's entrypoint; `Some([])` clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// External provider managing the service instead of containers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<ServiceProviderConfig>,
    /// Environment; `None` is a variable without a value.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub environment: OptionalStringMap,
    /// Env files the environment was read from.
    #[serde(
        default,
        rename = "env_file",
        deserialize_with = "env_files",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env_files: Vec<EnvFile>,
    /// Ports exposed to other containers (`3000`, `8000-8010/udp`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    /// The service this one extends (resolved by the loader).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<ExtendsConfig>,
    /// Links to containers outside the project (`name[:alias]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    /// Extra `/etc/hosts` entries, as `host=address`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// Supplementary groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// GPU requests.
    #[serde(
        default,
        deserialize_with = "gpus",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub gpus: Vec<DeviceRequest>,
    /// Host name of the containers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthCheckConfig>,
    /// Image to run (or to tag the build with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Run an init process as PID 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// IPC namespace mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    /// Isolation technology.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    /// Container labels.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: StringMap,
    /// Label files the labels were read from.
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub label_file: Vec<String>,
    /// Links to other services (`service[:alias]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// Log driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<LoggingConfig>,
    /// Memory limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<ByteSize>,
    /// Memory soft limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_reservation: Option<ByteSize>,
    /// Memory plus swap limit (`-1`: unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memswap_limit: Option<ByteSize>,
    /// Swappiness, 0 to 100. A size type as in compose-go, so that it prints the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_swappiness: Option<ByteSize>,
    /// MAC address of the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// Project models the service uses.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub models: IndexMap<String, Option<ServiceModelConfig>>,
    /// Network mode (`host`, `none`, `service:x`, `container:x`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// Networks joined; `None` joins with default settings.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub networks: IndexMap<String, Option<ServiceNetworkConfig>>,
    /// Do not OOM-kill the containers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_kill_disable: Option<bool>,
    /// OOM score adjustment (-1000 to 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    /// PID namespace mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// Maximum processes (`-1`: unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    /// Target platform (`linux/amd64`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Published ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePortConfig>,
    /// Run privileged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// When to pull the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<String>,
    /// Refresh interval of the `refresh` pull policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_refresh_after: Option<String>,
    /// Read-only root filesystem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Restart policy (`no`, `always`, `on-failure[:N]`, `unless-stopped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// OCI runtime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Number of containers (see [`ServiceConfig::replicas`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<i64>,
    /// Project secrets mounted in the containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ServiceSecretConfig>,
    /// Security options (`label=...`, `seccomp=...`, `no-new-privileges`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// Size of `/dev/shm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ByteSize>,
    /// Keep stdin open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin_open: Option<bool>,
    /// Wait before killing on stop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    /// Signal sent on stop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Storage driver options.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub storage_opt: StringMap,
    /// Kernel parameters.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub sysctls: StringMap,
    /// tmpfs mounts (`/run`, `/tmp:size=64m`).
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tmpfs: Vec<String>,
    /// Allocate a terminal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// Resource limits of the processes.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub ulimits: IndexMap<String, UlimitConfig>,
    /// Mount the Docker API socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_api_socket: Option<bool>,
    /// User of the processes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// User namespace mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns_mode: Option<String>,
    /// UTS namespace mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    /// Mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ServiceVolumeConfig>,
    /// Services or containers whose volumes are mounted too (`name[:ro]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    /// Working directory of the processes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Commands run after a container starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<ServiceHook>,
    /// Commands run before a container stops.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<ServiceHook>,
    /// Containers run to completion before the service's containers start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_start: Vec<PreStartHook>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// The restart policy of a service's containers, as the engine applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Never restart.
    No,
    /// Always restart, also after a daemon (supervisor) restart.
    Always,
    /// Restart after a non-zero exit, at most `max_retries` times when given.
    OnFailure {
        /// Attempts before giving up (`None`: unlimited).
        max_retries: Option<u64>,
    },
    /// Always restart, unless the container was stopped by the user.
    UnlessStopped,
}

impl ServiceConfig {
    /// The image reference, when set.
    pub fn image(&self) -> Option<&str> {
        self.image.as_deref()
    }

    /// How many containers the service runs: `scale`, else `deploy.replicas`, else 1
    /// (the consistency check makes sure the two agree when both are set).
    pub fn replicas(&self) -> usize {
        let n = self
            .scale
            .or_else(|| self.deploy.as_ref().and_then(|d| d.replicas))
            .unwrap_or(1);
        usize::try_from(n).unwrap_or(0)
    }

    /// The restart policy. As in Docker Compose, `deploy.restart_policy` wins over
    /// `restart` when both are set; neither means [`Restart::No`].
    pub fn restart_policy(&self) -> Result<Restart> {
        if let Some(policy) = self.deploy.as_ref().and_then(|d| d.restart_policy.as_ref()) {
            let condition = policy.condition.as_deref().unwrap_or("");
            return restart_condition(condition, policy.max_attempts).ok_or_else(|| {
                Error::invalid(format!("invalid restart policy condition {condition:?}"))
            });
        }
        let Some(text) = self.restart.as_deref() else {
            return Ok(Restart::No);
        };
        let invalid = || Error::invalid(format!("invalid restart policy {text:?}"));
        let (name, retries) = match text.split_once(':') {
            Some((name, count)) => {
                let count: u64 = count.trim().parse().map_err(|_| invalid())?;
                (name, Some(count))
            }
            None => (text, None),
        };
        match restart_condition(name, retries) {
            // A retry count only makes sense for on-failure (Docker refuses it otherwise).
            Some(policy @ Restart::OnFailure { .. }) => Ok(policy),
            Some(policy) if retries.is_none() => Ok(policy),
            _ => Err(invalid()),
        }
    }

    /// The networks the service joins, highest `priority` first, then by name (the order
    /// in which Docker Compose connects them).
    pub fn networks_ordered(&self) -> Vec<&str> {
        let mut names: Vec<(&str, i64)> = self
            .networks
            .iter()
            .map(|(name, cfg)| {
                (
                    name.as_str(),
                    cfg.as_ref().and_then(|c| c.priority).unwrap_or(0),
                )
            })
            .collect();
        names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        names.into_iter().map(|(name, _)| name).collect()
    }

    /// The `extra_hosts` entries as (host, address) pairs; entries are `host=address`
    /// in canonical form, `host:address` is accepted as written by older files.
    pub fn extra_hosts(&self) -> Vec<(&str, &str)> {
        self.extra_hosts
            .iter()
            .filter_map(|entry| entry.split_once('=').or_else(|| entry.split_once(':')))
            .collect()
    }
}

/// Maps a restart condition of `restart` or `deploy.restart_policy` to a policy.
fn restart_condition(condition: &str, retries: Option<u64>) -> Option<Restart> {
    match condition {
        // An absent deploy condition leaves Docker's default, which is no restart.
        "" | "no" | "none" => Some(Restart::No),
        "always" | "any" => Some(Restart::Always),
        "unless-stopped" => Some(Restart::UnlessStopped),
        "on-failure" => Some(Restart::OnFailure {
            max_retries: retries.filter(|n| *n > 0),
        }),
        _ => None,
    }
}
