//! A berth-network environment for end-to-end tests: its own state and run directories, its
//! own nftables table and address pool, namespaces as containers, and a teardown that runs even
//! when the test fails.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use berth_network::dns::{DnsConfig, DnsServer, Endpoint};
use berth_network::ipam::{AddressPool, IpamConfig, LeaseRequest, NetworkRecord, NetworkRequest};
use berth_network::netns::Netns;
use berth_network::testkit::{self, DnsReply, UpstreamDns};
use berth_network::{EndpointInfo, EndpointRequest, Networks, Options};
use hickory_proto::rr::RecordType;

pub const T: Duration = Duration::from_secs(3);

pub struct Env {
    pub dir: tempfile::TempDir,
    pub networks: Networks,
    pub dns: DnsServer,
    pub upstream: UpstreamDns,
    created: Vec<String>,
    containers: Vec<String>,
}

/// The name the loopback upstream resolves, and to what.
pub const FORWARDED_NAME: &str = "outside.example.test";
pub const FORWARDED_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);

impl Env {
    /// `pool` is a /16 of this test's own (10.x.0.0/16) from which /24s are taken.
    pub fn new(pool: &str) -> Env {
        testkit::egress_guard();
        let dir = tempfile::tempdir().unwrap();
        let mut options = Options::new(dir.path().join("state"), dir.path().join("run"));
        options.pools_v4 = vec![AddressPool {
            base: pool.parse().unwrap(),
            size: 24,
        }];
        options.pools_v6 = vec![AddressPool {
            base: "fd6b:6572:7468:ff00::/56".parse().unwrap(),
            size: 64,
        }];
        options.firewall_table = testkit::unique("berth_t");
        let networks = Networks::open(options).unwrap();
        let upstream = UpstreamDns::start(
            "127.0.0.1:0".parse().unwrap(),
            HashMap::from([(FORWARDED_NAME.to_string(), FORWARDED_ADDR)]),
        )
        .unwrap();
        let dns = DnsServer::new(DnsConfig {
            upstreams: vec![upstream.addr],
            ..Default::default()
        });
        Env {
            dir,
            networks,
            dns,
            upstream,
            created: Vec::new(),
            containers: Vec::new(),
        }
    }

    /// Creates a network and serves DNS on its gateways.
    pub async fn network(
        &mut self,
        name: &str,
        internal: bool,
        ipv6: bool,
        ipam: Vec<IpamConfig>,
    ) -> NetworkRecord {
        let request = NetworkRequest {
            name: name.into(),
            internal,
            enable_ipv6: ipv6,
            ipam,
            ..Default::default()
        };
        self.created.push(name.to_string());
        let record = self.networks.create(&request, None).await.unwrap();
        let gateways: Vec<IpAddr> = record.subnets.iter().map(|s| s.gateway).collect();
        self.dns
            .start_network(name, &gateways, !internal)
            .await
            .unwrap();
        record
    }

    /// A "container": a namespace attached to `networks` (in order: eth0, eth1, ...), with DNS
    /// records for its container name, its service and the aliases.
    pub async fn container(
        &mut self,
        name: &str,
        service: &str,
        networks: &[(&str, &[&str])],
    ) -> (Netns, Vec<EndpointInfo>) {
        self.containers.push(name.to_string());
        let netns = self.networks.create_netns(name).await.unwrap();
        let mut infos = Vec::new();
        for (i, (network, aliases)) in networks.iter().enumerate() {
            let request = EndpointRequest {
                container: name.into(),
                ifname: format!("eth{i}"),
                addresses: LeaseRequest::default(),
                default_route: i == 0,
                ..Default::default()
            };
            let info = self
                .networks
                .connect(&netns, network, &request)
                .await
                .unwrap();
            self.register(network, name, service, aliases, &info);
            infos.push(info);
        }
        (netns, infos)
    }

    pub fn register(
        &self,
        network: &str,
        name: &str,
        service: &str,
        aliases: &[&str],
        info: &EndpointInfo,
    ) {
        let mut names = vec![service.to_string()];
        names.extend(aliases.iter().map(|a| a.to_string()));
        let find = |v4: bool| {
            info.addresses
                .iter()
                .map(|(a, _)| *a)
                .find(|a| a.is_ipv4() == v4)
        };
        self.dns.add_endpoint(
            network,
            Endpoint {
                container: name.into(),
                names,
                links: Vec::new(),
                ipv4: find(true).and_then(|a| match a {
                    IpAddr::V4(a) => Some(a),
                    IpAddr::V6(_) => None,
                }),
                ipv6: find(false).and_then(|a| match a {
                    IpAddr::V6(a) => Some(a),
                    IpAddr::V4(_) => None,
                }),
                upstreams: Vec::new(),
            },
        );
    }

    /// Removes a container the way the engine does: DNS records, interfaces, leases, namespace.
    pub async fn remove_container(&mut self, name: &str, networks: &[&str]) {
        self.dns.remove_container(name);
        for network in networks {
            self.networks.disconnect(network, name, true).await.unwrap();
        }
        assert!(self.networks.remove_netns(name).unwrap());
        self.containers.retain(|c| c != name);
    }

    pub fn netns_file(&self, name: &str) -> PathBuf {
        self.networks.netns_path(name)
    }
}

/// Asks the DNS server at `server` from inside `netns`.
pub fn query(
    netns: &Netns,
    server: IpAddr,
    name: &str,
    qtype: RecordType,
) -> std::io::Result<DnsReply> {
    tokio::task::block_in_place(|| {
        testkit::dns_query(Some(netns), SocketAddr::new(server, 53), name, qtype, T)
    })
}

pub fn v4(info: &EndpointInfo) -> IpAddr {
    info.addresses
        .iter()
        .map(|(a, _)| *a)
        .find(IpAddr::is_ipv4)
        .unwrap()
}

impl Drop for Env {
    fn drop(&mut self) {
        // Teardown is async; a test's runtime may be gone or busy, so use a private one.
        let networks = self.networks.clone();
        let created = std::mem::take(&mut self.created);
        let containers = std::mem::take(&mut self.containers);
        let dns = std::mem::replace(&mut self.dns, DnsServer::new(DnsConfig::default()));
        let result = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                dns.stop_all().await;
                for c in &containers {
                    for n in &created {
                        let _ = networks.disconnect(n, c, true).await;
                    }
                    let _ = networks.remove_netns(c);
                }
                for n in &created {
                    let _ = networks.remove(n).await;
                }
                let _ = networks.firewall().delete_table();
                let _ = networks.release_run_dir();
            });
        })
        .join();
        if let Err(e) = result {
            eprintln!("teardown panicked: {e:?}");
        }
    }
}
