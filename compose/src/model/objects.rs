//! The project's top-level objects that services use: networks, volumes, secrets,
//! configs, models, and `include` entries.

use super::common::{Extensions, StringMap, external, string_or_list};
use indexmap::IndexMap;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// A project network (`networks.<key>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// The actual network name (`project_key` by default; set by normalization).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Driver (`bridge` by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub driver_opts: StringMap,
    /// Address management.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam: Option<IpamConfig>,
    /// The network exists already and is not managed by the project.
    #[serde(
        default,
        deserialize_with = "external",
        skip_serializing_if = "Option::is_none"
    )]
    pub external: Option<bool>,
    /// No route to the outside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal: Option<bool>,
    /// Standalone containers may attach.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachable: Option<bool>,
    /// Labels.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: StringMap,
    /// IPv4 on or off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    /// IPv6 on or off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

impl NetworkConfig {
    /// Whether the network is external.
    pub fn is_external(&self) -> bool {
        self.external == Some(true)
    }
}

/// `ipam` of a network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamConfig {
    /// IPAM driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Address pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
    /// Driver options.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub options: StringMap,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// One address pool of a network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamPool {
    /// Subnet in CIDR notation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// Gateway address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Range containers get addresses from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
    /// Addresses reserved for other uses (name -> address).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub aux_addresses: StringMap,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// A project volume (`volumes.<key>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VolumeConfig {
    /// The actual volume name (`project_key` by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Volume driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub driver_opts: StringMap,
    /// The volume exists already and is not managed by the project.
    #[serde(
        default,
        deserialize_with = "external",
        skip_serializing_if = "Option::is_none"
    )]
    pub external: Option<bool>,
    /// Labels.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: StringMap,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

impl VolumeConfig {
    /// Whether the volume is external.
    pub fn is_external(&self) -> bool {
        self.external == Some(true)
    }
}

/// A project secret or config (`secrets.<key>`, `configs.<key>`): a file, an environment
/// variable, inline content, or an external object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileObjectConfig {
    /// The actual name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Host file with the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Environment variable with the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Inline content (configs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The object exists already and is not managed by the project.
    #[serde(
        default,
        deserialize_with = "external",
        skip_serializing_if = "Option::is_none"
    )]
    pub external: Option<bool>,
    /// Labels.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: StringMap,
    /// Driver (secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options (secrets).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub driver_opts: StringMap,
    /// Templating driver of the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_driver: Option<String>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

impl FileObjectConfig {
    /// Whether the object is external.
    pub fn is_external(&self) -> bool {
        self.external == Some(true)
    }
}

/// A project secret.
pub type SecretConfig = FileObjectConfig;

/// A project config.
pub type ConfigObjConfig = FileObjectConfig;

/// A project model (`models.<key>`): a language model run for the services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// The actual name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The model to run (an OCI reference).
    pub model: String,
    /// Context window size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_size: Option<i64>,
    /// Raw flags for the inference engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_flags: Vec<String>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// One `include` entry: other compose files loaded as part of the project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncludeConfig {
    /// The files (several are merged like `-f a -f b`).
    pub path: Vec<String>,
    /// Directory relative paths of the included files resolve against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_directory: Option<String>,
    /// Env files for the interpolation of the included files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_file: Vec<String>,
}

/// The mapping form of `include`, read field by field so that errors keep their path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncludeFields {
    #[serde(default, deserialize_with = "string_or_list")]
    path: Vec<String>,
    project_directory: Option<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    env_file: Vec<String>,
}

impl<'de> Deserialize<'de> for IncludeConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IncludeConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path or a mapping with path")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<IncludeConfig, E> {
                Ok(IncludeConfig {
                    path: vec![s.to_string()],
                    project_directory: None,
                    env_file: Vec::new(),
                })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<IncludeConfig, A::Error> {
                let f = IncludeFields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(IncludeConfig {
                    path: f.path,
                    project_directory: f.project_directory,
                    env_file: f.env_file,
                })
            }
        }
        d.deserialize_any(V)
    }
}
