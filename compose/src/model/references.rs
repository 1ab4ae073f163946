//! What a service refers to outside itself: other services (`depends_on`, `extends`),
//! project secrets, configs and models, env files, its logging driver and its provider.

use super::common::{Extensions, FileMode, StringMap};
use indexmap::IndexMap;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// What a dependency must reach before the dependent service starts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DependencyCondition {
    /// The dependency's containers have started.
    #[default]
    ServiceStarted,
    /// The dependency's health check passes.
    ServiceHealthy,
    /// The dependency ran to completion with exit code 0.
    ServiceCompletedSuccessfully,
}

/// One entry of `depends_on`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceDependency {
    /// What to wait for.
    #[serde(default)]
    pub condition: DependencyCondition,
    /// Restart the dependent service when this dependency is updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<bool>,
    /// Whether the dependency must exist and start (a missing optional one is skipped).
    #[serde(default = "yes")]
    pub required: bool,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

fn yes() -> bool {
    true
}

/// A service's reference to a project secret or config, and how it is mounted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceFileReference {
    /// The name of the secret or config in the project.
    pub source: String,
    /// Where it appears in the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Owner uid of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Owner gid of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// Permission bits of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<FileMode>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// A service's (or a build's) reference to a project secret.
pub type ServiceSecretConfig = ServiceFileReference;

/// A service's reference to a project config.
pub type ServiceConfigObjConfig = ServiceFileReference;

/// One entry of `env_file`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvFile {
    /// The file (absolute after path resolution).
    pub path: String,
    /// Whether a missing file is an error (it is unless `false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// An alternative format (`raw`); Compose's dotenv rules otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

impl EnvFile {
    /// Whether a missing file is an error.
    pub fn is_required(&self) -> bool {
        self.required != Some(false)
    }
}

/// Reads `env_file`: a path, or a list of paths and `{path, required, format}` entries.
pub(crate) fn env_files<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EnvFile>, D::Error> {
    struct Entry(EnvFile);
    impl<'de> Deserialize<'de> for Entry {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Entry;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a path or a mapping with path")
                }
                fn visit_str<E: de::Error>(self, s: &str) -> Result<Entry, E> {
                    Ok(Entry(EnvFile {
                        path: s.to_string(),
                        required: None,
                        format: None,
                    }))
                }
                fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
                    EnvFile::deserialize(de::value::MapAccessDeserializer::new(map)).map(Entry)
                }
            }
            d.deserialize_any(V)
        }
    }
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<EnvFile>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a path or a list of env files")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Vec<EnvFile>, E> {
            Ok(vec![EnvFile {
                path: s.to_string(),
                required: None,
                format: None,
            }])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<EnvFile>, A::Error> {
            let mut out = Vec::new();
            while let Some(Entry(file)) = seq.next_element::<Entry>()? {
                out.push(file);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// `logging`: the log driver of the containers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoggingConfig {
    /// Driver name (`json-file`, `syslog`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub options: StringMap,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// `extends`: the service this one is based on (resolved before the model is built, kept
/// for completeness).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendsConfig {
    /// The base service.
    pub service: String,
    /// The file that defines it, when not this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// `credential_spec` (Windows managed service accounts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CredentialSpecConfig {
    /// Name of a project config holding the spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// A file holding the spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// A registry value holding the spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// `provider`: a service managed by an external component instead of a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceProviderConfig {
    /// The provider.
    #[serde(rename = "type")]
    pub kind: String,
    /// Provider options; each may have several values.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub options: IndexMap<String, ProviderOption>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// The values of one provider option (a scalar is a one-value list).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderOption(pub Vec<String>);

impl Serialize for ProviderOption {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [single] => serializer.serialize_str(single),
            many => serializer.collect_seq(many),
        }
    }
}

impl<'de> Deserialize<'de> for ProviderOption {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::common::string_or_list(d).map(ProviderOption)
    }
}

/// A service's use of a project model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceModelConfig {
    /// Variable that receives the model's endpoint URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_var: Option<String>,
    /// Variable that receives the model's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_var: Option<String>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}
