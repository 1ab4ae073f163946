//! The project's DNS: one server answering on the gateway addresses of every network the
//! project's containers are attached to, with the names of the containers that run.
//! Forwards other names upstream (`BERTH_DNS_UPSTREAMS`, else the host's resolv.conf),
//! except on internal networks.

use crate::engine::state::{ContainerRecord, StateRoot};
use berth_network::dns::{DnsConfig, DnsServer, Endpoint};
use berth_network::hosts::ResolvConf;
use berth_network::{Networks, Options};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// Upstream resolvers: `BERTH_DNS_UPSTREAMS` (comma-separated `ip[:port]`) when set, else
/// the host's /etc/resolv.conf.
pub fn upstreams() -> Vec<SocketAddr> {
    if let Ok(text) = std::env::var("BERTH_DNS_UPSTREAMS") {
        return parse_upstreams(&text);
    }
    std::fs::read_to_string("/etc/resolv.conf")
        .map(|t| ResolvConf::parse(&t).upstreams())
        .unwrap_or_default()
}

fn parse_upstreams(text: &str) -> Vec<SocketAddr> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|s| {
            let parsed = s
                .parse::<SocketAddr>()
                .ok()
                .or_else(|| s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)));
            if parsed.is_none() {
                tracing::warn!("BERTH_DNS_UPSTREAMS: ignoring {s:?}, not an ip[:port]");
            }
            parsed
        })
        .collect()
}

/// The project's DNS server and the networks it serves.
pub struct ProjectDns {
    server: DnsServer,
    state: StateRoot,
    /// Served networks and the addresses they are served on.
    served: tokio::sync::Mutex<BTreeMap<String, Vec<IpAddr>>>,
}

impl ProjectDns {
    /// A server with no network yet.
    pub fn new(state: StateRoot) -> ProjectDns {
        let config = DnsConfig {
            upstreams: upstreams(),
            ..DnsConfig::default()
        };
        ProjectDns {
            server: DnsServer::new(config),
            state,
            served: Default::default(),
        }
    }

    /// Serves every network the records name (and keeps serving the others: their records
    /// may come back). A network that cannot be served is logged, not fatal: names are a
    /// convenience, the containers run without them.
    pub async fn serve_networks(&self, records: &[ContainerRecord]) {
        let wanted: std::collections::BTreeSet<&str> = records
            .iter()
            .flat_map(|r| r.endpoints.iter().map(|e| e.network.as_str()))
            .collect();
        if wanted.is_empty() {
            return;
        }
        let networks = match Networks::open(Options::new(
            self.state.networks_dir(),
            self.state.network_run_dir(),
        )) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("DNS: cannot open the networks' state: {e}");
                return;
            }
        };
        let mut served = self.served.lock().await;
        for name in wanted {
            let record = match networks.get(name) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("DNS: network {name}: {e}");
                    continue;
                }
            };
            let addresses: Vec<IpAddr> = record.subnets.iter().map(|s| s.gateway).collect();
            if served.get(name) == Some(&addresses) || addresses.is_empty() {
                continue;
            }
            match self
                .server
                .start_network(name, &addresses, !record.internal)
                .await
            {
                Ok(bound) => {
                    tracing::info!("DNS: serving network {name} on {bound:?}");
                    served.insert(name.to_string(), addresses);
                }
                Err(e) => tracing::warn!("{e}"),
            }
        }
    }

    /// Adds a running container's names on each of its networks.
    pub fn add(&self, record: &ContainerRecord) {
        for e in &record.endpoints {
            let endpoint = Endpoint {
                container: record.name.clone(),
                names: e
                    .aliases
                    .iter()
                    .filter(|a| **a != record.name)
                    .cloned()
                    .collect(),
                ipv4: e.ipv4_addr(),
                ipv6: e.ipv6_addr(),
                links: e.links.clone(),
                ..Endpoint::default()
            };
            self.server.add_endpoint(&e.network, endpoint);
        }
    }

    /// Removes a container's names everywhere.
    pub fn remove(&self, name: &str) {
        self.server.remove_container(name);
    }

    /// Stops every listener.
    pub async fn stop(&self) {
        self.server.stop_all().await;
        self.served.lock().await.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_take_ports_or_default_to_53() {
        assert_eq!(
            parse_upstreams("10.0.0.1, 127.0.0.1:5353,[::1]:54,::2,bad"),
            vec![
                "10.0.0.1:53".parse().unwrap(),
                "127.0.0.1:5353".parse().unwrap(),
                "[::1]:54".parse().unwrap(),
                "[::2]:53".parse().unwrap(),
            ]
        );
    }
}
