//! berth's registry settings, read from its configuration file: `/etc/berth/config.toml`, or
//! the file named by `BERTH_CONFIG`. The keys are Docker's `daemon.json` keys:
//!
//! ```toml
//! # Tried first, in order, for Docker Hub images; Docker Hub itself is the last resort.
//! registry-mirrors = ["https://mirror.example.com", "http://10.0.0.5:5000"]
//! # Registries spoken to over plain HTTP: host[:port], or a CIDR range of addresses.
//! insecure-registries = ["registry.lan:5000", "10.0.0.0/8"]
//! # berth's own key: Docker Hub images (`alpine`, `docker.io/library/alpine`) are served by
//! # this registry and by nothing else: no mirror, no fallback to Docker Hub.
//! default-registry = "http://127.0.0.1:5000"
//! ```
//!
//! `default-registry` is for closed networks and tests: with it, no request and no name lookup
//! for Docker Hub ever happens, and an image missing there is a pull failure.
//!
//! Other keys belong to other parts of berth and are ignored here. Registries on loopback
//! addresses (`localhost`, 127.0.0.0/8, `::1`) may always use plain HTTP, as in Docker.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::image::reference::DEFAULT_DOMAIN;

/// The configuration file used when `BERTH_CONFIG` is not set.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/berth/config.toml";
/// The environment variable naming another configuration file.
pub const CONFIG_ENV: &str = "BERTH_CONFIG";

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read berth configuration {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has values of the wrong type.
    #[error("invalid berth configuration {}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (with line and column).
        reason: String,
    },
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct FileContents {
    #[serde(default)]
    registry_mirrors: Vec<String>,
    #[serde(default)]
    insecure_registries: Vec<String>,
    #[serde(default)]
    default_registry: Option<String>,
}

/// A registry mirror: a host and whether it speaks plain HTTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    /// `host[:port]`.
    pub host: String,
    /// `http://` rather than `https://`.
    pub plain_http: bool,
}

/// Registry mirrors and insecure registries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Mirrors of Docker Hub, tried in order before it.
    pub mirrors: Vec<Mirror>,
    /// Registries reached over plain HTTP: `host[:port]` entries.
    pub insecure_hosts: Vec<String>,
    /// Registries reached over plain HTTP: address ranges.
    pub insecure_ranges: Vec<(IpAddr, u8)>,
    /// The registry that serves Docker Hub's images instead of Docker Hub, exclusively.
    pub default_registry: Option<Mirror>,
}

/// berth's configuration file: the one `BERTH_CONFIG` names (which must exist), else
/// `/etc/berth/config.toml` when it exists, else none. Other parts of berth read their own
/// keys from the same file.
pub fn config_file() -> Option<PathBuf> {
    match std::env::var_os(CONFIG_ENV) {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => Some(PathBuf::from(DEFAULT_CONFIG_PATH)).filter(|p| p.exists()),
    }
}

impl RegistryConfig {
    /// Reads the configuration file named by `BERTH_CONFIG`, or `/etc/berth/config.toml`.
    /// A missing default file means no settings; a missing file named explicitly is an error.
    pub fn load() -> Result<RegistryConfig, ConfigError> {
        match config_file() {
            Some(path) => RegistryConfig::from_file(&path),
            None => Ok(RegistryConfig::default()),
        }
    }

    /// Reads one configuration file.
    pub fn from_file(path: &Path) -> Result<RegistryConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        RegistryConfig::from_toml(&text).map_err(|reason| ConfigError::Invalid {
            path: path.to_owned(),
            reason,
        })
    }

    /// Parses the text of a configuration file.
    pub fn from_toml(text: &str) -> Result<RegistryConfig, String> {
        let contents: FileContents =
            toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))?;
        let mut config = RegistryConfig::default();
        for url in &contents.registry_mirrors {
            config.mirrors.push(parse_mirror("registry-mirrors", url)?);
        }
        if let Some(url) = &contents.default_registry {
            config.default_registry = Some(parse_mirror("default-registry", url)?);
        }
        for entry in &contents.insecure_registries {
            match parse_cidr(entry) {
                Some(range) => config.insecure_ranges.push(range),
                None if entry.contains('/') => {
                    return Err(format!(
                        "insecure-registries: invalid entry {entry:?} (host[:port] or CIDR)"
                    ));
                }
                None => config
                    .insecure_hosts
                    .push(entry.trim_end_matches('/').to_owned()),
            }
        }
        Ok(config)
    }

    /// Whether `domain` (`host[:port]`) is spoken to over plain HTTP: configured as insecure,
    /// or on a loopback address.
    pub fn is_plain_http(&self, domain: &str) -> bool {
        let host = host_of(domain);
        if host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let address = host.parse::<IpAddr>().ok();
        if address.is_some_and(|a| a.is_loopback()) {
            return true;
        }
        if self
            .insecure_hosts
            .iter()
            .any(|entry| entry.eq_ignore_ascii_case(domain) || entry.eq_ignore_ascii_case(host))
        {
            return true;
        }
        address.is_some_and(|a| {
            self.insecure_ranges
                .iter()
                .any(|&(network, prefix)| in_range(a, network, prefix))
        })
    }

    /// The mirrors to try before `domain`: the configured ones for Docker Hub, none otherwise.
    /// With a default registry there are none: it replaces Docker Hub and its mirrors.
    pub fn mirrors_for(&self, domain: &str) -> &[Mirror] {
        if domain == DEFAULT_DOMAIN && self.default_registry.is_none() {
            &self.mirrors
        } else {
            &[]
        }
    }

    /// The registry that serves `domain`'s images in its place, exclusively: the default
    /// registry for Docker Hub, when one is configured.
    pub fn replacement_for(&self, domain: &str) -> Option<&Mirror> {
        if domain == DEFAULT_DOMAIN {
            self.default_registry.as_ref()
        } else {
            None
        }
    }
}

/// The host part of `host[:port]` or `[v6]:port`.
fn host_of(domain: &str) -> &str {
    if let Some(rest) = domain.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match domain.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => domain,
    }
}

fn parse_mirror(key: &str, url: &str) -> Result<Mirror, String> {
    let (plain_http, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (true, rest)
    } else {
        return Err(format!(
            "{key}: {url:?} must start with https:// or http://"
        ));
    };
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(format!(
            "{key}: {url:?} must be a scheme and a host[:port], without a path"
        ));
    }
    Ok(Mirror {
        host: host.to_owned(),
        plain_http,
    })
}

fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (address, prefix) = text.split_once('/')?;
    let address: IpAddr = address.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((address, prefix))
}

fn in_range(address: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_daemon_json_keys() {
        let config = RegistryConfig::from_toml(
            r#"
            registry-mirrors = ["https://mirror.example.com/", "http://10.1.2.3:5000"]
            insecure-registries = ["registry.lan:5000", "10.0.0.0/8", "fd00::/8"]
            [other-section]
            key = 1
            "#,
        )
        .unwrap();
        assert_eq!(
            config.mirrors,
            vec![
                Mirror {
                    host: "mirror.example.com".into(),
                    plain_http: false
                },
                Mirror {
                    host: "10.1.2.3:5000".into(),
                    plain_http: true
                },
            ]
        );
        assert!(config.is_plain_http("registry.lan:5000"));
        assert!(!config.is_plain_http("registry.lan:5001"));
        assert!(config.is_plain_http("10.9.8.7:5000"));
        assert!(!config.is_plain_http("11.0.0.1"));
        assert!(config.is_plain_http("[fd00::1]:5000"));
        assert_eq!(config.mirrors_for("docker.io").len(), 2);
        assert!(config.mirrors_for("ghcr.io").is_empty());
    }

    #[test]
    fn loopback_is_plain_http_without_configuration() {
        let config = RegistryConfig::default();
        for domain in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.3.4.5",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(config.is_plain_http(domain), "{domain}");
        }
        for domain in ["docker.io", "128.0.0.1:5000", "localhost.example.com"] {
            assert!(!config.is_plain_http(domain), "{domain}");
        }
    }

    #[test]
    fn default_registry_replaces_docker_hub_and_its_mirrors() {
        let config = RegistryConfig::from_toml(
            r#"
            registry-mirrors = ["https://mirror.example.com"]
            default-registry = "http://127.0.0.1:5000/"
            "#,
        )
        .unwrap();
        let local = Mirror {
            host: "127.0.0.1:5000".into(),
            plain_http: true,
        };
        assert_eq!(config.default_registry, Some(local.clone()));
        assert_eq!(config.replacement_for("docker.io"), Some(&local));
        assert!(config.mirrors_for("docker.io").is_empty());
        assert_eq!(config.replacement_for("ghcr.io"), None);
        assert_eq!(config.replacement_for("127.0.0.1:5000"), None);
        assert!(
            RegistryConfig::default()
                .replacement_for("docker.io")
                .is_none()
        );
    }

    #[test]
    fn refuses_bad_default_registry() {
        let error =
            RegistryConfig::from_toml(r#"default-registry = "127.0.0.1:5000""#).unwrap_err();
        assert!(error.starts_with("default-registry:"), "{error}");
        assert!(RegistryConfig::from_toml(r#"default-registry = "http://h/v2""#).is_err());
        assert!(RegistryConfig::from_toml("default-registry = 5000").is_err());
    }

    #[test]
    fn refuses_bad_entries() {
        assert!(RegistryConfig::from_toml(r#"registry-mirrors = ["mirror.example.com"]"#).is_err());
        assert!(RegistryConfig::from_toml(r#"registry-mirrors = ["https://m/v2"]"#).is_err());
        assert!(RegistryConfig::from_toml(r#"insecure-registries = ["10.0.0.0/99"]"#).is_err());
        let error = RegistryConfig::from_toml("registry-mirrors = 3").unwrap_err();
        assert!(error.contains("registry-mirrors"), "{error}");
    }
}
