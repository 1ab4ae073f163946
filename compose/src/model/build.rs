//! `build`: how a service's image is built.

use super::common::{
    ByteSize, Extensions, OptionalStringMap, StringMap, UlimitConfig, string_or_list,
};
use super::references::ServiceSecretConfig;
use indexmap::IndexMap;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The `build` section of a service, in long syntax.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildConfig {
    /// The build context: a directory (absolute after path resolution) or a URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The Dockerfile, relative to the context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// A Dockerfile given inline instead of a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile_inline: Option<String>,
    /// Extra privileged entitlements for the builder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
    /// Build arguments; `None` takes the value from the environment.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub args: OptionalStringMap,
    /// Provenance attestation setting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<String>,
    /// SBOM attestation setting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom: Option<String>,
    /// SSH agent sockets or keys exposed to the build.
    #[serde(
        default,
        deserialize_with = "ssh_keys",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ssh: Vec<SshKey>,
    /// Labels of the built image.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: StringMap,
    /// Cache sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_from: Vec<String>,
    /// Cache destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_to: Vec<String>,
    /// Build without cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_cache: Option<bool>,
    /// Stages to build without cache.
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub no_cache_filter: Vec<String>,
    /// Named additional contexts (name -> path or URL).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub additional_contexts: StringMap,
    /// Always pull base images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull: Option<bool>,
    /// Extra `/etc/hosts` entries for the build, as `host=address`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// Isolation technology of the build container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    /// Network mode of the build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Stage of a multi-stage Dockerfile to build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Secrets exposed to the build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ServiceSecretConfig>,
    /// Size of `/dev/shm` in the build container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ByteSize>,
    /// Extra tags of the built image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Ulimits of the build container.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub ulimits: IndexMap<String, UlimitConfig>,
    /// Target platforms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Run the build privileged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// One `build.ssh` entry: `default`, or `id=path[,path...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKey {
    /// The key's id (`default` for the agent).
    pub id: String,
    /// The socket or key files, when given.
    pub path: Option<String>,
}

impl SshKey {
    fn parse(entry: &str) -> SshKey {
        match entry.split_once('=') {
            Some((id, path)) => SshKey {
                id: id.to_string(),
                path: Some(path.to_string()),
            },
            None => SshKey {
                id: entry.to_string(),
                path: None,
            },
        }
    }
}

impl Serialize for SshKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.path {
            Some(path) => serializer.serialize_str(&format!("{}={path}", self.id)),
            None => serializer.serialize_str(&self.id),
        }
    }
}

impl<'de> Deserialize<'de> for SshKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SshKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ssh entry such as default or id=path")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SshKey, E> {
                Ok(SshKey::parse(s))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Reads `build.ssh` from a list of entries or from the mapping form (`{id: path}`).
fn ssh_keys<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SshKey>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<SshKey>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of ssh entries or a mapping of id to path")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Vec<SshKey>, E> {
            Ok(vec![SshKey::parse(s)])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<SshKey>, A::Error> {
            let mut out = Vec::new();
            while let Some(key) = seq.next_element::<SshKey>()? {
                out.push(key);
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<SshKey>, A::Error> {
            let mut out = Vec::new();
            while let Some((id, path)) = map.next_entry::<String, Option<String>>()? {
                out.push(SshKey { id, path });
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}
