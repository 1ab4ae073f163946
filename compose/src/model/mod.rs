//! The typed model of a Compose project: what the engine consumes.
//!
//! It is read from the canonical tree (long syntax, as `docker compose config` prints it)
//! after every tree stage has run, and printed back to the same tree by [`Project::to_tree`].
//! Every key of the Compose Specification has a typed field; `x-` extensions of every
//! object are kept in an `extensions` field, so a project survives the round trip.
//! Reading tolerates the scalar spellings compose-go accepts after interpolation (`"3"`
//! for a number, `"true"` for a boolean); an unknown key or a value of the wrong type is an
//! error that names its path.

mod build;
mod common;
mod de;
mod lifecycle;
mod mounts;
mod networking;
mod objects;
mod printed;
mod references;
mod resources;
mod service;

pub use build::{BuildConfig, SshKey};
pub use common::{
    ByteSize, Duration, Extensions, FileMode, OptionalStringMap, StringMap, UlimitConfig,
};
pub use lifecycle::{
    DevelopConfig, HealthCheckConfig, PreStartHook, ServiceHook, WatchAction, WatchTrigger,
};
pub use mounts::{
    DeviceMapping, MountType, ServiceVolumeBind, ServiceVolumeConfig, ServiceVolumeImage,
    ServiceVolumeTmpfs, ServiceVolumeVolume,
};
pub use networking::{ServiceNetworkConfig, ServicePortConfig};
pub use objects::{
    ConfigObjConfig, FileObjectConfig, IncludeConfig, IpamConfig, IpamPool, ModelConfig,
    NetworkConfig, SecretConfig, VolumeConfig,
};
pub use references::{
    CredentialSpecConfig, DependencyCondition, EnvFile, ExtendsConfig, LoggingConfig,
    ProviderOption, ServiceConfigObjConfig, ServiceDependency, ServiceFileReference,
    ServiceModelConfig, ServiceProviderConfig, ServiceSecretConfig,
};
pub use resources::{
    BlkioConfig, DeployConfig, DeviceCount, DeviceRequest, DiscreteResourceSpec, GenericResource,
    Placement, PlacementPreference, Resource, Resources, RestartPolicy, ThrottleDevice,
    UpdateConfig, WeightDevice,
};
pub use service::{Restart, ServiceConfig};

use crate::error::{Error, Result};
use crate::value::{Map, Path, Value};
use crate::yaml::Positions;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// A loaded project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// The project name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The obsolete `version` key, kept only so that nothing read is lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `include` entries (normally resolved and removed by the loader).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<IncludeConfig>,
    /// The services, by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub services: IndexMap<String, ServiceConfig>,
    /// The networks, by key.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub networks: IndexMap<String, NetworkConfig>,
    /// The volumes, by key.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub volumes: IndexMap<String, VolumeConfig>,
    /// The secrets, by key.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub secrets: IndexMap<String, SecretConfig>,
    /// The configs, by key.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub configs: IndexMap<String, ConfigObjConfig>,
    /// The models, by key.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub models: IndexMap<String, ModelConfig>,
    /// Top-level `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

impl Project {
    /// Reads the project from its canonical tree. A key of the wrong type or an unknown
    /// key is a schema error whose message starts with the key's path.
    pub fn from_tree(tree: &Value) -> Result<Project> {
        de::from_value(tree, Path::root()).map_err(|e| Error::schema(e.to_string()))
    }

    /// Like [`Project::from_tree`], and places an error at the file position of the
    /// offending key (or of its nearest known ancestor).
    pub fn from_tree_at(tree: &Value, positions: &Positions) -> Result<Project> {
        de::from_value(tree, Path::root()).map_err(|e| {
            let location = e.path.as_ref().and_then(|p| positions.find(p));
            Error::schema(e.to_string()).at(location)
        })
    }

    /// The canonical tree of the project (the inverse of [`Project::from_tree`]).
    pub fn to_tree(&self) -> Value {
        // Serializing the model into a JSON value cannot fail: every map key is a string
        // and every type serializes itself infallibly.
        match serde_json::to_value(self) {
            Ok(json) => json_to_value(json),
            Err(_) => Value::Null,
        }
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.get(name)
    }
}

/// Converts a tree into a JSON value. Non-finite floats, which JSON cannot hold, become
/// `null`.
pub fn value_to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Seq(items) => serde_json::Value::Array(items.iter().map(value_to_json).collect()),
        Value::Map(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), value_to_json(v)))
                .collect(),
        ),
    }
}

/// Converts a JSON value into a tree: integers that fit in 64 bits stay integers.
pub fn json_to_value(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(items) => {
            Value::Seq(items.into_iter().map(json_to_value).collect())
        }
        serde_json::Value::Object(map) => Value::Map(
            map.into_iter()
                .map(|(k, v)| (k, json_to_value(v)))
                .collect::<Map>(),
        ),
    }
}
