//! The records the state root keeps: what berth needs to know about a container or a project
//! without its compose file. Serialized as JSON; unknown fields are ignored when reading, so
//! a newer berth's records stay readable.

use super::health::{HealthCheck, HealthState};
use crate::engine::labels;
use crate::engine::observed::{ContainerState, ObservedContainer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// The image a container was created from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The reference as the service names it (`nginx:1.27`).
    pub reference: String,
    /// The image id (config digest, `sha256:...`).
    pub id: String,
}

/// A container's attachment to a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The network's actual name (`project_default`).
    pub network: String,
    /// DNS names the container answers to on it (service name, container name, aliases).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Its IPv4 address there, once allocated.
    #[serde(default)]
    pub ipv4: Option<IpAddr>,
    /// Its IPv6 address there, once allocated.
    #[serde(default)]
    pub ipv6: Option<IpAddr>,
    /// Its MAC address there.
    #[serde(default)]
    pub mac: Option<String>,
    /// Link aliases (`links: [db:database]`) as (alias, target name): names only this
    /// container resolves, each like its target.
    #[serde(default)]
    pub links: Vec<(String, String)>,
    /// Its interface in the container (`eth0`, or `interface_name`).
    #[serde(default)]
    pub interface: Option<String>,
}

impl Endpoint {
    /// Its IPv4 address, when it has one.
    pub fn ipv4_addr(&self) -> Option<std::net::Ipv4Addr> {
        match self.ipv4 {
            Some(IpAddr::V4(a)) => Some(a),
            _ => None,
        }
    }

    /// Its IPv6 address, when it has one.
    pub fn ipv6_addr(&self) -> Option<std::net::Ipv6Addr> {
        match self.ipv6 {
            Some(IpAddr::V6(a)) => Some(a),
            _ => None,
        }
    }
}

/// What kind of mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A named or anonymous volume.
    Volume,
    /// A host path.
    Bind,
    /// A tmpfs.
    Tmpfs,
}

/// A mount of the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRecord {
    /// Its kind.
    pub kind: MountKind,
    /// The volume name or host path (empty for tmpfs).
    pub source: String,
    /// The path in the container.
    pub target: String,
    /// Mounted read-only.
    #[serde(default)]
    pub read_only: bool,
}

/// A container's last known state, as recorded (Docker's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RecordedState {
    /// Created, never started.
    #[default]
    Created,
    /// Its process runs.
    Running,
    /// Frozen.
    Paused,
    /// Waiting to be restarted by its restart policy.
    Restarting,
    /// Its process ended (see [`ContainerStatus::exit_code`]).
    Exited,
    /// Half removed or broken.
    Dead,
}

impl RecordedState {
    /// Whether the container has (or is about to have again) a process: running, paused,
    /// or waiting out its restart back-off.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            RecordedState::Running | RecordedState::Paused | RecordedState::Restarting
        )
    }
}

/// The part of a container's record that changes while it lives: written on every
/// transition, on the fast path (see [`super::atomic::Durability::Fast`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ContainerStatus {
    /// The last known state.
    pub state: RecordedState,
    /// The exit code of the last run (meaningful once it exited).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Whether the last run was killed by the OOM killer.
    #[serde(default)]
    pub oom_killed: bool,
    /// How many times its restart policy restarted it.
    #[serde(default)]
    pub restart_count: u32,
    /// When its process last started.
    #[serde(default)]
    pub started_at: Option<SystemTime>,
    /// When its process last ended.
    #[serde(default)]
    pub finished_at: Option<SystemTime>,
    /// Its health, when it has a health check and was started since it got one.
    #[serde(default)]
    pub health: Option<HealthState>,
    /// Whether its last run was ended by its user (`stop`, `kill`): an `unless-stopped`
    /// container stopped so is not brought back by `resume`.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// The kernel's boot id when its process last started: a process recorded as running
    /// under another boot is gone (the machine rebooted since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`), read once.
pub fn current_boot_id() -> Option<&'static str> {
    static BOOT_ID: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    BOOT_ID
        .get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .as_deref()
}

impl ContainerStatus {
    /// The state after its process started at `at` (a restart when it ran before).
    pub fn started(&self, at: SystemTime) -> ContainerStatus {
        let restart = self.started_at.is_some();
        ContainerStatus {
            state: RecordedState::Running,
            exit_code: None,
            oom_killed: false,
            restart_count: self.restart_count + u32::from(restart),
            started_at: Some(at),
            finished_at: self.finished_at,
            // Every run starts over as `starting` (the probes' log is kept).
            health: self.health.as_ref().map(HealthState::restarted),
            stopped_by_user: false,
            boot_id: current_boot_id().map(str::to_string),
        }
    }

    /// The state after its process ended at `at` with `code`.
    pub fn exited(&self, code: i32, oom_killed: bool, at: SystemTime) -> ContainerStatus {
        ContainerStatus {
            state: RecordedState::Exited,
            exit_code: Some(code),
            oom_killed,
            finished_at: Some(at),
            ..self.clone()
        }
    }

    /// The status as far as this boot goes: a process recorded as running (or paused, or
    /// waiting to restart) under another boot ended with the machine, with an unknown code,
    /// which is what `ps` shows after a reboot before anything settled the records.
    pub fn as_of_boot(&self, boot: Option<&str>) -> ContainerStatus {
        let active = self.state.is_active();
        match (&self.boot_id, boot) {
            (Some(then), Some(now)) if active && then != now => ContainerStatus {
                state: RecordedState::Exited,
                exit_code: Some(255),
                ..self.clone()
            },
            _ => self.clone(),
        }
    }

    /// The state as the reconciler sees it.
    pub fn observed(&self) -> ContainerState {
        match self.state {
            RecordedState::Created => ContainerState::Created,
            RecordedState::Running => ContainerState::Running,
            RecordedState::Paused => ContainerState::Paused,
            RecordedState::Restarting => ContainerState::Restarting,
            // An exit without a recorded code (a crash between the two writes) reads as
            // Docker's "exited (255)", which is what it shows for a lost process.
            RecordedState::Exited => ContainerState::Exited(self.exit_code.unwrap_or(255)),
            RecordedState::Dead => ContainerState::Dead,
        }
    }
}

/// Everything berth remembers of one container (`containers/<id>/config.json`, with the
/// status overlaid from `containers/<id>/state.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// Its id (lowercase hex).
    pub id: String,
    /// Its name, unique on the machine.
    pub name: String,
    /// Its labels (Compose's `com.docker.compose.*` and the service's own).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The image it was created from.
    pub image: ImageRecord,
    /// When it was created.
    pub created: SystemTime,
    /// The OCI bundle's runtime spec (`config.json` of the bundle) the runtime starts it
    /// from; the engine writes it beside the rootfs.
    #[serde(default)]
    pub spec_path: Option<PathBuf>,
    /// Its restart policy, in Compose's spelling (`no`, `always`, `on-failure:3`, ...).
    #[serde(default)]
    pub restart_policy: Option<String>,
    /// `deploy.restart_policy.delay`: a fixed wait before each restart instead of the
    /// back-off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_delay: Option<Duration>,
    /// `deploy.restart_policy.window`: a run at least this long does not count against the
    /// policy's most attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_window: Option<Duration>,
    /// The signal that stops it (`SIGTERM` unless `stop_signal` says otherwise).
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// Seconds between the stop signal and SIGKILL.
    #[serde(default)]
    pub stop_grace_period: Option<u64>,
    /// Its network attachments.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Its mounts.
    #[serde(default)]
    pub mounts: Vec<MountRecord>,
    /// Where its root filesystem is mounted (the overlay of its image's layers); the
    /// supervisor hands it to the runtime.
    #[serde(default)]
    pub rootfs: Option<PathBuf>,
    /// Run berth's small init as pid 1 (`init: true`).
    #[serde(default)]
    pub init: bool,
    /// Give it a stdin that stays open (`stdin_open`, `run -i`).
    #[serde(default)]
    pub stdin_open: bool,
    /// The process it runs (entrypoint then command), as `ps` shows it.
    #[serde(default)]
    pub command: Vec<String>,
    /// Its network namespace file; `None` with `network_mode: host`.
    #[serde(default)]
    pub netns: Option<PathBuf>,
    /// Published ports, with the host ports actually chosen.
    #[serde(default)]
    pub ports: Vec<PortRecord>,
    /// Log file rotation (`logging.options` max-size and max-file).
    #[serde(default)]
    pub log: LogOptions,
    /// Its health check (`None`: none, or disabled).
    #[serde(default)]
    pub healthcheck: Option<HealthCheck>,
    /// The images its `type: image` mounts show, by id: the n-th is mounted at
    /// [`super::ContainerPaths::image_mount`]`(n)` (counting from 1), again after a reboot.
    #[serde(default)]
    pub image_mounts: Vec<String>,
    /// Its last known state.
    #[serde(default)]
    pub status: ContainerStatus,
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRecord {
    /// The host address (`None`: every address).
    #[serde(default)]
    pub host_ip: Option<IpAddr>,
    /// The host port.
    pub host_port: u16,
    /// The container port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// How a container's log file is rotated, Docker's json-file options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogOptions {
    /// Rotate when the file would grow past this many bytes (`max-size`); never when `None`.
    #[serde(default)]
    pub max_size: Option<u64>,
    /// How many files to keep, the current one included (`max-file`, at least 1).
    #[serde(default = "one")]
    pub max_files: u32,
}

fn one() -> u32 {
    1
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            max_size: None,
            max_files: 1,
        }
    }
}

impl ContainerRecord {
    /// A record of a container just made: created now, with nothing else known yet.
    pub fn new(id: impl Into<String>, name: impl Into<String>, image: ImageRecord) -> Self {
        ContainerRecord {
            id: id.into(),
            name: name.into(),
            labels: BTreeMap::new(),
            image,
            created: SystemTime::now(),
            spec_path: None,
            restart_policy: None,
            restart_delay: None,
            restart_window: None,
            stop_signal: None,
            stop_grace_period: None,
            endpoints: Vec::new(),
            mounts: Vec::new(),
            rootfs: None,
            init: false,
            stdin_open: false,
            command: Vec::new(),
            netns: None,
            ports: Vec::new(),
            log: LogOptions::default(),
            healthcheck: None,
            image_mounts: Vec::new(),
            status: ContainerStatus::default(),
        }
    }

    /// The project it belongs to (its `com.docker.compose.project` label).
    pub fn project(&self) -> Option<&str> {
        self.labels.get(labels::PROJECT).map(String::as_str)
    }

    /// The container as the reconciler sees it.
    pub fn observed(&self) -> ObservedContainer {
        ObservedContainer {
            id: self.id.clone(),
            name: self.name.clone(),
            labels: self.labels.clone(),
            state: self.status.observed(),
            volumes: self
                .mounts
                .iter()
                .filter(|m| m.kind == MountKind::Volume)
                .map(|m| m.source.clone())
                .collect(),
        }
    }
}

/// What berth remembers of a project (`projects/<name>/project.json`), so that `down`, `ps`
/// and `ls` work without its compose file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRecord {
    /// The project name.
    pub name: String,
    /// The project directory.
    pub working_dir: PathBuf,
    /// The compose files it was loaded from.
    #[serde(default)]
    pub config_files: Vec<PathBuf>,
    /// The environment files (`.env`, `--env-file`) it was loaded with.
    #[serde(default)]
    pub env_files: Vec<PathBuf>,
    /// Names of the networks berth created for it.
    #[serde(default)]
    pub networks: Vec<String>,
    /// Names of the volumes berth created for it.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// When it was first brought up.
    pub created: SystemTime,
    /// Whether it comes back at boot (`berth autostart enable`; `berth resume --all`).
    #[serde(default)]
    pub autostart: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn transitions_count_restarts_and_keep_exit_details() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let created = ContainerStatus::default();
        assert_eq!(created.observed(), ContainerState::Created);
        let running = created.started(t0);
        assert_eq!(running.restart_count, 0);
        assert_eq!(running.observed(), ContainerState::Running);
        let exited = running.exited(137, true, t0 + Duration::from_secs(5));
        assert_eq!(exited.observed(), ContainerState::Exited(137));
        assert!(exited.oom_killed);
        let again = exited.started(t0 + Duration::from_secs(6));
        assert_eq!(again.restart_count, 1);
        assert!(!again.oom_killed);
        assert_eq!(again.exit_code, None);
        assert_eq!(again.finished_at, exited.finished_at);
    }

    #[test]
    fn a_process_of_another_boot_reads_as_exited() {
        let running = ContainerStatus {
            state: RecordedState::Running,
            boot_id: Some("boot-a".into()),
            ..Default::default()
        };
        assert_eq!(running.as_of_boot(Some("boot-a")), running);
        let after = running.as_of_boot(Some("boot-b"));
        assert_eq!(after.observed(), ContainerState::Exited(255));
        // Records without a boot id (older ones) are taken as they are.
        let old = ContainerStatus {
            state: RecordedState::Running,
            ..Default::default()
        };
        assert_eq!(old.as_of_boot(Some("boot-b")), old);
        // A start records this boot.
        assert_eq!(
            ContainerStatus::default()
                .started(SystemTime::now())
                .boot_id
                .as_deref(),
            current_boot_id()
        );
    }

    #[test]
    fn exited_without_code_reads_as_lost() {
        let s = ContainerStatus {
            state: RecordedState::Exited,
            ..Default::default()
        };
        assert_eq!(s.observed(), ContainerState::Exited(255));
    }

    #[test]
    fn records_ignore_unknown_fields_and_default_missing_ones() {
        let json = r#"{"id":"ab","name":"p-web-1","image":{"reference":"x","id":"sha256:1"},
            "created":{"secs_since_epoch":1,"nanos_since_epoch":0},"future_field":true}"#;
        let r: ContainerRecord = serde_json::from_str(json).unwrap();
        assert_eq!(r.status, ContainerStatus::default());
        assert!(r.endpoints.is_empty() && r.labels.is_empty());
    }
}
