//! `deploy`, resources, device requests (`gpus`) and `blkio_config`.

use super::common::{ByteSize, Duration, Extensions, StringMap, float};
use indexmap::IndexMap;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The `deploy` section of a service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeployConfig {
    /// `replicated` (the default) or `global`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Number of containers (see [`super::ServiceConfig::replicas`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    /// Labels of the service (not of its containers).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: StringMap,
    /// How updates roll out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    /// How failed updates roll back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    /// Resource limits and reservations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Restart policy (used when the service has no `restart`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Placement on cluster nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// `vip` or `dnsrr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_mode: Option<String>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// `deploy.update_config` and `deploy.rollback_config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateConfig {
    /// Containers updated at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u64>,
    /// Wait between groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// `continue`, `pause` or `rollback`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_action: Option<String>,
    /// How long each task is watched for failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<Duration>,
    /// Failure rate tolerated.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "float")]
    pub max_failure_ratio: Option<f64>,
    /// `stop-first` or `start-first`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// `deploy.resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Upper bounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resource>,
    /// Guaranteed amounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Resource>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// One side of `deploy.resources` (limits or reservations).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// CPUs, as a fraction of cores.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "float")]
    pub cpus: Option<f64>,
    /// Memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// Maximum number of processes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
    /// Device reservations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRequest>,
    /// User-defined resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<GenericResource>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// A request for devices (`deploy.resources.reservations.devices`, `gpus`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceRequest {
    /// Capabilities the devices must have (`gpu`, `compute`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Device driver (`nvidia`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// How many devices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<DeviceCount>,
    /// Specific device ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<String>,
    /// Driver options.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub options: StringMap,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// How many devices a request wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceCount {
    /// Every matching device (`all`; compose-go prints it as `-1`).
    All,
    /// This many.
    Count(u64),
}

impl Serialize for DeviceCount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            DeviceCount::All => serializer.serialize_i64(-1),
            DeviceCount::Count(n) => serializer.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for DeviceCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DeviceCount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("'all' or a number")
            }
            fn visit_i64<E: de::Error>(self, i: i64) -> Result<DeviceCount, E> {
                match i {
                    -1 => Ok(DeviceCount::All),
                    n if n >= 0 => Ok(DeviceCount::Count(n as u64)),
                    _ => Err(E::invalid_value(de::Unexpected::Signed(i), &self)),
                }
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<DeviceCount, E> {
                Ok(DeviceCount::Count(u))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<DeviceCount, E> {
                if s.eq_ignore_ascii_case("all") {
                    return Ok(DeviceCount::All);
                }
                match s.trim().parse::<i64>() {
                    Ok(i) => self.visit_i64(i),
                    Err(_) => Err(E::custom(format!(
                        "invalid value {s:?}, the only value allowed is 'all' or a number"
                    ))),
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Reads `gpus`: `all`, or a list of device requests.
pub(crate) fn gpus<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DeviceRequest>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<DeviceRequest>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("'all' or a list of device requests")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Vec<DeviceRequest>, E> {
            if s.eq_ignore_ascii_case("all") {
                Ok(vec![DeviceRequest {
                    count: Some(DeviceCount::All),
                    ..DeviceRequest::default()
                }])
            } else {
                Err(E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<DeviceRequest>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<DeviceRequest>()? {
                out.push(item);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// One user-defined resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenericResource {
    /// A countable resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discrete_resource_spec: Option<DiscreteResourceSpec>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// A countable user-defined resource (`kind: ssd, value: 2`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiscreteResourceSpec {
    /// What is counted.
    #[serde(default)]
    pub kind: String,
    /// How many.
    #[serde(default)]
    pub value: i64,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// `deploy.restart_policy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// `none`, `on-failure` or `any`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Wait between attempts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// Attempts before giving up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u64>,
    /// Window in which a restart counts as successful.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// `deploy.placement`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// Node constraints (`node.role==manager`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// Spread preferences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PlacementPreference>,
    /// Replicas allowed per node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_replicas_per_node: Option<u64>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// One placement preference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlacementPreference {
    /// Node label to spread tasks over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread: Option<String>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// `blkio_config`: block IO weights and throttles.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioConfig {
    /// Relative weight (10 to 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// Per-device weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<WeightDevice>,
    /// Read rate limits, bytes per second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<ThrottleDevice>,
    /// Read rate limits, operations per second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<ThrottleDevice>,
    /// Write rate limits, bytes per second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<ThrottleDevice>,
    /// Write rate limits, operations per second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<ThrottleDevice>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// A device and its blkio weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightDevice {
    /// The device (`/dev/sda`).
    pub path: String,
    /// Its relative weight.
    pub weight: u16,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// A device and a rate limit on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThrottleDevice {
    /// The device (`/dev/sda`).
    pub path: String,
    /// The rate. compose-go reads it as a byte size for iops limits too (`1000`, `1k`).
    pub rate: ByteSize,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}
