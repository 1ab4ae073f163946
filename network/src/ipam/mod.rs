//! IP address management: which subnet each berth network has and which address each container
//! holds on it. One JSON file per network under a state directory the caller chooses, written
//! atomically under an exclusive lock, so that addresses survive container and berth restarts
//! and concurrent berth processes never hand out the same subnet or address twice.

mod alloc;
mod plan;
mod pool;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use alloc::AllocError;
pub use plan::{plan_lease, plan_network};
pub use pool::{AddressPool, PoolError, default_pools_v4, default_pools_v6, pick_subnet};

use crate::state;
use crate::subnet::Subnet;

/// One `ipam.config` entry of a network definition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpamConfig {
    /// The subnet; taken from the address pools when absent.
    pub subnet: Option<Subnet>,
    /// The part of the subnet that container addresses are taken from.
    pub ip_range: Option<Subnet>,
    /// The bridge's address; the first host address of the subnet when absent.
    pub gateway: Option<IpAddr>,
    /// Addresses never given to containers (`aux_addresses`), by name.
    pub aux_addresses: BTreeMap<String, IpAddr>,
}

/// What the caller wants a network to be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkRequest {
    /// The network's name (`project_key`).
    pub name: String,
    /// The Linux bridge that carries it.
    pub bridge: String,
    /// Internal networks have no outside access.
    pub internal: bool,
    /// Whether containers also get IPv6 addresses.
    pub enable_ipv6: bool,
    /// `ipam.config` entries.
    pub ipam: Vec<IpamConfig>,
    /// Free-form labels kept with the network (the engine's bookkeeping).
    pub labels: BTreeMap<String, String>,
}

/// One subnet of a network, as allocated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetRecord {
    /// The subnet.
    pub subnet: Subnet,
    /// The bridge's address in it, which containers use as their gateway.
    pub gateway: IpAddr,
    /// Where container addresses are taken from (the whole subnet when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Subnet>,
    /// Reserved addresses.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, IpAddr>,
}

/// The addresses one container holds on one network (one per subnet family).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The addresses, IPv4 first.
    pub addresses: Vec<IpAddr>,
}

impl Lease {
    /// The IPv4 address, if any.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.addresses.iter().find_map(|a| match a {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })
    }

    /// The IPv6 address, if any.
    pub fn ipv6(&self) -> Option<Ipv6Addr> {
        self.addresses.iter().find_map(|a| match a {
            IpAddr::V6(a) => Some(*a),
            IpAddr::V4(_) => None,
        })
    }
}

/// Fixed addresses a container asks for (`ipv4_address`, `ipv6_address`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseRequest {
    /// The IPv4 address wanted.
    pub ipv4: Option<Ipv4Addr>,
    /// The IPv6 address wanted.
    pub ipv6: Option<Ipv6Addr>,
}

/// A network as IPAM knows it: the persisted state file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// The network's name.
    pub name: String,
    /// The bridge carrying it.
    pub bridge: String,
    /// No outside access.
    #[serde(default)]
    pub internal: bool,
    /// Containers get IPv6 addresses too.
    #[serde(default)]
    pub enable_ipv6: bool,
    /// Its subnets, IPv4 first.
    pub subnets: Vec<SubnetRecord>,
    /// The leases, by container.
    #[serde(default)]
    pub leases: BTreeMap<String, Lease>,
    /// The caller's labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl NetworkRecord {
    /// The subnet record containing `addr`.
    pub fn subnet_of(&self, addr: IpAddr) -> Option<&SubnetRecord> {
        self.subnets.iter().find(|s| s.subnet.contains(addr))
    }

    /// The first IPv4 gateway (the address of the network's DNS server).
    pub fn gateway_v4(&self) -> Option<Ipv4Addr> {
        self.subnets.iter().find_map(|s| match s.gateway {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        })
    }

    /// The first IPv6 gateway.
    pub fn gateway_v6(&self) -> Option<Ipv6Addr> {
        self.subnets.iter().find_map(|s| match s.gateway {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        })
    }
}

/// What went wrong in IPAM, and where.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    /// Reading or writing the state failed.
    #[error("IPAM state {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A state file is not what berth writes.
    #[error("IPAM state {path} is corrupt: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// A network name that cannot be a file name.
    #[error(
        "invalid network name {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit"
    )]
    InvalidName(String),
    /// No such network.
    #[error("network {0} does not exist")]
    UnknownNetwork(String),
    /// An `ipam.config` entry that cannot be honoured.
    #[error("network {network}: {reason}")]
    Config {
        /// The network.
        network: String,
        /// What is wrong.
        reason: String,
    },
    /// A requested subnet overlaps another berth network.
    #[error("network {network}: subnet {subnet} overlaps subnet {other_subnet} of network {other}")]
    Overlap {
        /// The network being created.
        network: String,
        /// Its subnet.
        subnet: Subnet,
        /// The other network.
        other: String,
        /// The other network's subnet.
        other_subnet: Subnet,
    },
    /// Every pool is used up.
    #[error(
        "network {network}: no free {family} subnet left in the address pools (all overlap host routes or other networks)"
    )]
    PoolsExhausted {
        /// The network.
        network: String,
        /// `IPv4` or `IPv6`.
        family: &'static str,
    },
    /// An invalid pool was configured.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// An address could not be leased.
    #[error("network {network}, container {container}: {source}")]
    Address {
        /// The network.
        network: String,
        /// The container.
        container: String,
        /// The cause.
        source: AllocError,
    },
}

/// The IPAM store: networks and leases under one state directory.
#[derive(Clone, Debug)]
pub struct Ipam {
    dir: PathBuf,
    pools_v4: Vec<AddressPool>,
    pools_v6: Vec<AddressPool>,
}

impl Ipam {
    /// Opens (creating it when needed) the store in `dir`, taking subnets for networks without
    /// an explicit one from `pools_v4` / `pools_v6` (see [`default_pools_v4`]).
    pub fn open(
        dir: impl Into<PathBuf>,
        pools_v4: Vec<AddressPool>,
        pools_v6: Vec<AddressPool>,
    ) -> Result<Ipam, IpamError> {
        let dir = dir.into();
        for pool in pools_v4.iter().chain(&pools_v6) {
            pool.validate()?;
        }
        if let Some(p) = pools_v4.iter().find(|p| !p.base.is_ipv4()) {
            return Err(PoolError {
                base: p.base,
                size: p.size,
                reason: "not an IPv4 pool",
            }
            .into());
        }
        if let Some(p) = pools_v6.iter().find(|p| p.base.is_ipv4()) {
            return Err(PoolError {
                base: p.base,
                size: p.size,
                reason: "not an IPv6 pool",
            }
            .into());
        }
        fs::create_dir_all(&dir).map_err(|source| IpamError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Ipam {
            dir,
            pools_v4,
            pools_v6,
        })
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Allocates the network's subnets and records it; a network that already exists is
    /// returned as recorded. `host_routes` are the host's routed subnets (see
    /// [`crate::routes::host_subnets`]); pool subnets avoid them and every other berth network.
    pub fn create_network(
        &self,
        request: &NetworkRequest,
        host_routes: &[Subnet],
    ) -> Result<NetworkRecord, IpamError> {
        self.check_name(&request.name)?;
        let _lock = self.lock()?;
        if let Some(existing) = self.read(&request.name)? {
            return Ok(existing);
        }
        let others = self.networks()?;
        let record = plan_network(
            request,
            &others,
            host_routes,
            &self.pools_v4,
            &self.pools_v6,
        )?;
        self.write(&record)?;
        Ok(record)
    }

    /// The network, if recorded.
    pub fn network(&self, name: &str) -> Result<Option<NetworkRecord>, IpamError> {
        self.check_name(name)?;
        self.read(name)
    }

    /// Every recorded network, by name.
    pub fn networks(&self) -> Result<Vec<NetworkRecord>, IpamError> {
        let io = |source| IpamError::Io {
            path: self.dir.clone(),
            source,
        };
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io)? {
            let name = entry
                .map_err(io)?
                .file_name()
                .to_string_lossy()
                .into_owned();
            if let Some(stem) = name.strip_suffix(".json").filter(|s| state::valid_name(s)) {
                names.push(stem.to_string());
            }
        }
        names.sort();
        let mut out = Vec::new();
        for name in names {
            // A file removed between listing and reading is a network being removed.
            if let Some(record) = self.read(&name)? {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Forgets the network and all its leases. Returns whether it existed.
    pub fn remove_network(&self, name: &str) -> Result<bool, IpamError> {
        self.check_name(name)?;
        let _lock = self.lock()?;
        let path = state::json_path(&self.dir, name);
        state::remove_durable(&path).map_err(|source| IpamError::Io { path, source })
    }

    /// The addresses of `container` on `network`: its existing lease when it has one (so a
    /// re-attached or restarted container keeps its addresses), else new ones; fixed
    /// addresses in `request` are honoured or refused with the reason.
    pub fn lease(
        &self,
        network: &str,
        container: &str,
        request: &LeaseRequest,
    ) -> Result<Lease, IpamError> {
        self.check_name(network)?;
        let _lock = self.lock()?;
        let mut record = self
            .read(network)?
            .ok_or_else(|| IpamError::UnknownNetwork(network.to_string()))?;
        let lease =
            plan_lease(&record, container, request).map_err(|source| IpamError::Address {
                network: network.to_string(),
                container: container.to_string(),
                source,
            })?;
        if record.leases.get(container) != Some(&lease) {
            record.leases.insert(container.to_string(), lease.clone());
            self.write(&record)?;
        }
        Ok(lease)
    }

    /// Gives up the container's addresses on the network. Returns whether it held any.
    pub fn release(&self, network: &str, container: &str) -> Result<bool, IpamError> {
        self.check_name(network)?;
        let _lock = self.lock()?;
        let Some(mut record) = self.read(network)? else {
            return Ok(false);
        };
        if record.leases.remove(container).is_none() {
            return Ok(false);
        }
        self.write(&record)?;
        Ok(true)
    }

    fn check_name(&self, name: &str) -> Result<(), IpamError> {
        if state::valid_name(name) {
            Ok(())
        } else {
            Err(IpamError::InvalidName(name.to_string()))
        }
    }

    fn lock(&self) -> Result<state::LockGuard, IpamError> {
        let path = self.dir.join(".lock");
        state::lock_exclusive(&path).map_err(|source| IpamError::Io { path, source })
    }

    fn read(&self, name: &str) -> Result<Option<NetworkRecord>, IpamError> {
        let path = state::json_path(&self.dir, name);
        let data = match fs::read(&path) {
            Ok(data) => data,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(IpamError::Io { path, source }),
        };
        serde_json::from_slice(&data)
            .map(Some)
            .map_err(|source| IpamError::Corrupt { path, source })
    }

    fn write(&self, record: &NetworkRecord) -> Result<(), IpamError> {
        let path = state::json_path(&self.dir, &record.name);
        let data = serde_json::to_vec_pretty(record).map_err(|source| IpamError::Corrupt {
            path: path.clone(),
            source,
        })?;
        state::write_atomic(&path, &data).map_err(|source| IpamError::Io { path, source })
    }
}

#[cfg(test)]
mod tests;
