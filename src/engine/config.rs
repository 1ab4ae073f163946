//! The engine's part of berth's configuration file (`/etc/berth/config.toml`, or the file
//! `BERTH_CONFIG` names; the registry settings in it are the runtime's):
//!
//! ```toml
//! # Where networks without an ipam subnet take theirs from, as Docker's daemon.json.
//! default-address-pools = [
//!   { base = "10.123.0.0/16", size = 24 },
//!   { base = "fd00:123::/48", size = 64 },
//! ]
//! ```

use anyhow::Context;
use berth_network::ipam::AddressPool;
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct EngineFile {
    #[serde(default)]
    default_address_pools: Vec<PoolEntry>,
}

#[derive(Deserialize)]
struct PoolEntry {
    base: String,
    size: u8,
}

/// The settings the engine reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineConfig {
    /// `default-address-pools`, IPv4 ones; Docker's defaults when empty.
    pub pools_v4: Vec<AddressPool>,
    /// `default-address-pools`, IPv6 ones; Docker's defaults when empty.
    pub pools_v6: Vec<AddressPool>,
}

impl EngineConfig {
    /// Reads berth's configuration file (no file: no settings).
    pub fn load() -> anyhow::Result<EngineConfig> {
        match berth_runtime::image::registry::config::config_file() {
            Some(path) => EngineConfig::from_file(&path),
            None => Ok(EngineConfig::default()),
        }
    }

    /// Reads one file.
    pub fn from_file(path: &Path) -> anyhow::Result<EngineConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read berth configuration {}", path.display()))?;
        EngineConfig::from_toml(&text)
            .with_context(|| format!("berth configuration {}", path.display()))
    }

    /// Parses the text of a configuration file.
    pub fn from_toml(text: &str) -> anyhow::Result<EngineConfig> {
        let file: EngineFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut config = EngineConfig::default();
        for entry in file.default_address_pools {
            let pool = AddressPool {
                base: entry.base.parse().map_err(|e| {
                    anyhow::anyhow!("default-address-pools: base {:?}: {e}", entry.base)
                })?,
                size: entry.size,
            };
            pool.validate()
                .map_err(|e| anyhow::anyhow!("default-address-pools: {e}"))?;
            if pool.base.is_ipv4() {
                config.pools_v4.push(pool);
            } else {
                config.pools_v6.push(pool);
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_pools_are_read_by_family_and_checked() {
        let c = EngineConfig::from_toml(
            r#"
registry-mirrors = ["http://127.0.0.1:5000"]
default-address-pools = [
  { base = "10.123.0.0/16", size = 24 },
  { base = "fd00:123::/48", size = 64 },
]
"#,
        )
        .unwrap();
        assert_eq!(c.pools_v4.len(), 1);
        assert_eq!(c.pools_v4[0].size, 24);
        assert_eq!(c.pools_v6.len(), 1);
        assert!(EngineConfig::from_toml("").unwrap().pools_v4.is_empty());
        let err = EngineConfig::from_toml(
            r#"default-address-pools = [{ base = "10.0.0.0/24", size = 16 }]"#,
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("shorter than the base"),
            "{err:#}"
        );
        assert!(
            EngineConfig::from_toml(r#"default-address-pools = [{ base = "nope", size = 16 }]"#)
                .is_err()
        );
    }
}
