//! How a service is reached: published `ports` and its attachments to project networks.

use super::common::{Extensions, StringMap};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// One entry of `ports`, in long syntax (a short-syntax range is one entry per port).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServicePortConfig {
    /// A human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `ingress` (load balanced) or `host`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Host address to bind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// Port in the container.
    pub target: u16,
    /// Host port or range (`8080`, `8080-8090`); absent for an ephemeral port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// `tcp` (the default) or `udp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Application protocol (`http`, ...), informative.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

impl ServicePortConfig {
    /// The protocol, `tcp` when unset.
    pub fn protocol(&self) -> &str {
        self.protocol.as_deref().unwrap_or("tcp")
    }

    /// The published host ports: `None` when unpublished or ephemeral, a range otherwise
    /// (`8080` is `8080..=8080`). An unparsable value is `None` too; the consistency check
    /// rejects it before the engine sees it.
    pub fn published_range(&self) -> Option<(u16, u16)> {
        let text = self.published.as_deref()?.trim();
        if text.is_empty() {
            return None;
        }
        match text.split_once('-') {
            Some((start, end)) => Some((start.trim().parse().ok()?, end.trim().parse().ok()?)),
            None => {
                let port = text.parse().ok()?;
                Some((port, port))
            }
        }
    }
}

/// A service's attachment to one network (`services.*.networks.<name>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceNetworkConfig {
    /// Extra DNS names of the service on this network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Driver options of the endpoint.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub driver_opts: StringMap,
    /// Which network provides the default gateway (highest wins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gw_priority: Option<i64>,
    /// Name of the interface in the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    /// Static IPv4 address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    /// Static IPv6 address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    /// Link-local addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
    /// MAC address on this network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// Order of connection (highest first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// `x-` keys.
    #[serde(flatten, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}
