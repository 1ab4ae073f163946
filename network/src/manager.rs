//! The operations the engine performs on networks, composed from IPAM, bridges, veth pairs,
//! namespaces and the firewall: create and remove a network, create and remove a container's
//! namespace, connect and disconnect it. DNS is separate ([`crate::dns::DnsServer`]): it is
//! served by the project's supervisor, which feeds it the endpoints this module returns.
//!
//! Teardown never stops at the first error: it does everything it can and reports every
//! failure (as netavark does), so that one missing piece never keeps the others alive.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::bridge::{self, BridgeSpec};
use crate::dns::DnsError;
use crate::firewall::{Firewall, FirewallError, FirewallNetwork};
use crate::ipam::{AddressPool, Ipam, IpamError, LeaseRequest, NetworkRecord, NetworkRequest};
use crate::netlink::{self, NetlinkError};
use crate::netns::{self, Netns, NetnsError};
use crate::ports::PortError;
use crate::routes;
use crate::veth::{self, Attachment};

/// Any failure of berth-network, saying what and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// IPAM.
    #[error(transparent)]
    Ipam(#[from] IpamError),
    /// Links, addresses, routes.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// Namespaces.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// nftables.
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    /// The DNS server.
    #[error(transparent)]
    Dns(#[from] DnsError),
    /// Host ports.
    #[error(transparent)]
    Port(#[from] PortError),
    /// A container name that cannot name a namespace file.
    #[error(
        "invalid container name {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit"
    )]
    InvalidName(String),
    /// An operation on a network berth does not know.
    #[error("network {0} does not exist")]
    UnknownNetwork(String),
}

/// Every failure of a teardown that went on after the first.
#[derive(Debug, Default)]
pub struct TeardownError {
    /// What failed, in order.
    pub errors: Vec<Error>,
}

impl fmt::Display for TeardownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} teardown step(s) failed", self.errors.len())?;
        for e in &self.errors {
            write!(f, "; {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TeardownError {}

impl TeardownError {
    fn push(&mut self, error: impl Into<Error>) {
        self.errors.push(error.into());
    }

    fn into_result(self) -> Result<(), TeardownError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

/// The machine's directory for lock files (FHS), where the firewall table's lock lives.
const MACHINE_LOCKS: &str = "/run/lock";

/// Where berth-network keeps its state and what it uses.
#[derive(Clone, Debug)]
pub struct Options {
    /// IPAM state (`<root>/networks`).
    pub state_dir: PathBuf,
    /// Run state: namespace files and locks (`<run>/network`).
    pub run_dir: PathBuf,
    /// IPv4 default address pools.
    pub pools_v4: Vec<AddressPool>,
    /// IPv6 default address pools.
    pub pools_v6: Vec<AddressPool>,
    /// The nftables table (`berth`).
    pub firewall_table: String,
}

impl Options {
    /// Docker's default pools, the `berth` table, state under the given directories.
    pub fn new(state_dir: impl Into<PathBuf>, run_dir: impl Into<PathBuf>) -> Options {
        Options {
            state_dir: state_dir.into(),
            run_dir: run_dir.into(),
            pools_v4: crate::ipam::default_pools_v4(),
            pools_v6: crate::ipam::default_pools_v6(),
            firewall_table: crate::firewall::DEFAULT_TABLE.to_string(),
        }
    }
}

/// A container's wish for one network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointRequest {
    /// The container's unique name (lease key, veth name seed).
    pub container: String,
    /// Interface name inside (`eth0`, `eth1` by network order, or `interface_name`).
    pub ifname: String,
    /// Fixed addresses.
    pub addresses: LeaseRequest,
    /// `mac_address`.
    pub mac: Option<[u8; 6]>,
    /// Whether this network gives the container its default route (its first network).
    pub default_route: bool,
    /// MTU.
    pub mtu: Option<u32>,
}

/// A container's presence on a network, as set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointInfo {
    /// The network.
    pub network: String,
    /// Interface inside the container.
    pub ifname: String,
    /// Host end of the veth pair.
    pub host_ifname: String,
    /// Addresses with prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
    /// Gateways of the network (the host, and the DNS server's addresses).
    pub gateways: Vec<IpAddr>,
    /// Whether the default route goes through this network.
    pub default_route: bool,
}

/// berth's networks on this host.
#[derive(Clone, Debug)]
pub struct Networks {
    ipam: Ipam,
    firewall: Firewall,
    run_dir: PathBuf,
}

impl Networks {
    /// Opens the state (creating directories as needed).
    pub fn open(options: Options) -> Result<Networks, Error> {
        let ipam = Ipam::open(&options.state_dir, options.pools_v4, options.pools_v6)?;
        // The table is machine-wide, so its lock must be too: berth commands with different
        // run directories (tests, several roots) share one table.
        let lock = match Path::new(MACHINE_LOCKS) {
            dir if dir.is_dir() => dir.join(format!("berth-nft-{}.lock", options.firewall_table)),
            _ => options.run_dir.join("firewall.lock"),
        };
        let firewall = Firewall::new(options.firewall_table, lock);
        Ok(Networks {
            ipam,
            firewall,
            run_dir: options.run_dir,
        })
    }

    /// The IPAM store.
    pub fn ipam(&self) -> &Ipam {
        &self.ipam
    }

    /// The firewall.
    pub fn firewall(&self) -> &Firewall {
        &self.firewall
    }

    /// A recorded network.
    pub fn get(&self, name: &str) -> Result<NetworkRecord, Error> {
        self.ipam
            .network(name)?
            .ok_or_else(|| Error::UnknownNetwork(name.to_string()))
    }

    /// Creates the network (subnets, bridge, firewall), or completes one that exists (after a
    /// crash or a reboot, which loses bridges and rules but not IPAM state). A bridge name
    /// left empty in the request is derived from the network name.
    pub async fn create(
        &self,
        request: &NetworkRequest,
        mtu: Option<u32>,
    ) -> Result<NetworkRecord, Error> {
        let mut request = request.clone();
        if request.bridge.is_empty() {
            request.bridge = bridge::bridge_name(&request.name);
        }
        let existed = self.ipam.network(&request.name)?.is_some();
        let host = netlink::connect()?;
        let host_routes = routes::host_subnets(&host).await?;
        // The network's own bridge routes are not in the way of its own subnets.
        let record = self.ipam.create_network(&request, &host_routes)?;
        let result = self.plumb(&host, &record, mtu).await;
        if let Err(e) = result {
            if !existed {
                let _ = self.remove(&record.name).await;
            }
            return Err(e);
        }
        Ok(record)
    }

    async fn plumb(
        &self,
        host: &rtnetlink::Handle,
        record: &NetworkRecord,
        mtu: Option<u32>,
    ) -> Result<(), Error> {
        let spec = BridgeSpec {
            name: record.bridge.clone(),
            addresses: record
                .subnets
                .iter()
                .map(|s| (s.gateway, s.subnet.prefix()))
                .collect(),
            mtu,
        };
        bridge::ensure_bridge(host, &spec).await?;
        self.firewall.add_network(&firewall_network(record))?;
        Ok(())
    }

    /// Removes the network: firewall entries, the veth pairs of containers still on it, the
    /// bridge, and its IPAM state with every lease. Never call it for external networks.
    pub async fn remove(&self, name: &str) -> Result<(), TeardownError> {
        let mut failures = TeardownError::default();
        let record = match self.ipam.network(name) {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(()),
            Err(e) => {
                failures.push(e);
                return failures.into_result();
            }
        };
        for e in self.firewall.remove_network(&firewall_network(&record)) {
            failures.push(e);
        }
        match netlink::connect() {
            Ok(host) => {
                for container in record.leases.keys() {
                    if let Err(e) = veth::detach(&host, &veth::veth_name(container, name)).await {
                        failures.push(e);
                    }
                }
                if let Err(e) = bridge::delete_bridge(&host, &record.bridge).await {
                    failures.push(e);
                }
            }
            Err(e) => failures.push(e),
        }
        if let Err(e) = self.ipam.remove_network(name) {
            failures.push(e);
        }
        failures.into_result()
    }

    /// Where the container's namespace file is.
    pub fn netns_path(&self, container: &str) -> PathBuf {
        self.run_dir.join("netns").join(container)
    }

    /// Creates the container's namespace (pinned for as long as the container exists) with
    /// loopback up; it is all a `network_mode: none` container gets.
    pub async fn create_netns(&self, container: &str) -> Result<Netns, Error> {
        if !crate::state::valid_name(container) {
            return Err(Error::InvalidName(container.to_string()));
        }
        let netns = Netns::create(&self.netns_path(container))?;
        veth::loopback_up(&netns).await?;
        Ok(netns)
    }

    /// Opens the namespace of an existing container (`network_mode: container:<name>` or
    /// `service:<name>` join it).
    pub fn join_netns(&self, container: &str) -> Result<Netns, Error> {
        Ok(Netns::open(&self.netns_path(container))?)
    }

    /// Removes the container's namespace (its interfaces go with it; leases stay until
    /// [`Networks::disconnect`] with `release`).
    pub fn remove_netns(&self, container: &str) -> Result<bool, Error> {
        Ok(Netns::remove(&self.netns_path(container))?)
    }

    /// Connects the namespace to the network: lease (the existing one if the container had
    /// one), veth pair, addresses, and the default route when asked (never through an
    /// internal network, which has no way out).
    pub async fn connect(
        &self,
        netns: &Netns,
        network: &str,
        request: &EndpointRequest,
    ) -> Result<EndpointInfo, Error> {
        let record = self.get(network)?;
        let had_lease = record.leases.contains_key(&request.container);
        let lease = self
            .ipam
            .lease(network, &request.container, &request.addresses)?;
        let addresses: Vec<(IpAddr, u8)> = lease
            .addresses
            .iter()
            .filter_map(|a| record.subnet_of(*a).map(|s| (*a, s.subnet.prefix())))
            .collect();
        let gateways: Vec<IpAddr> = record
            .subnets
            .iter()
            .filter(|s| addresses.iter().any(|(a, _)| s.subnet.contains(*a)))
            .map(|s| s.gateway)
            .collect();
        let default_route = request.default_route && !record.internal;
        let attachment = Attachment {
            bridge: record.bridge.clone(),
            host_ifname: veth::veth_name(&request.container, network),
            ifname: request.ifname.clone(),
            mac: request.mac,
            addresses: addresses.clone(),
            default_gateways: if default_route {
                gateways.clone()
            } else {
                Vec::new()
            },
            mtu: request.mtu,
        };
        let host = netlink::connect()?;
        if let Err(e) = veth::attach(&host, netns, &attachment).await {
            if !had_lease {
                let _ = self.ipam.release(network, &request.container);
            }
            return Err(e.into());
        }
        Ok(EndpointInfo {
            network: network.to_string(),
            ifname: request.ifname.clone(),
            host_ifname: attachment.host_ifname,
            addresses,
            gateways,
            default_route,
        })
    }

    /// Disconnects the container from the network; with `release` its addresses are given up
    /// too (the container is being removed), otherwise they stay reserved for it.
    pub async fn disconnect(
        &self,
        network: &str,
        container: &str,
        release: bool,
    ) -> Result<(), TeardownError> {
        let mut failures = TeardownError::default();
        match netlink::connect() {
            Ok(host) => {
                if let Err(e) = veth::detach(&host, &veth::veth_name(container, network)).await {
                    failures.push(e);
                }
            }
            Err(e) => failures.push(e),
        }
        if release && let Err(e) = self.ipam.release(network, container) {
            failures.push(e);
        }
        failures.into_result()
    }

    /// Releases `run_dir`'s namespace directory mount (for run directories that are deleted,
    /// as in tests).
    pub fn release_run_dir(&self) -> Result<(), Error> {
        Ok(netns::release_dir(&self.run_dir.join("netns"))?)
    }

    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }
}

/// The firewall's view of a network.
pub fn firewall_network(record: &NetworkRecord) -> FirewallNetwork {
    FirewallNetwork {
        bridge: record.bridge.clone(),
        subnets: record.subnets.iter().map(|s| s.subnet).collect(),
        internal: record.internal,
    }
}
