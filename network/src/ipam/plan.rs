//! The IPAM decisions, pure: which subnets a new network gets and which addresses a container
//! gets, given the recorded networks and the host's routes.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use super::alloc::{self, AllocError};
use super::pool::{AddressPool, pick_subnet};
use super::{IpamError, Lease, LeaseRequest, NetworkRecord, NetworkRequest, SubnetRecord};
use crate::subnet::Subnet;

/// Decides a new network's subnets (pure: the caller supplies the other networks and routes).
pub fn plan_network(
    request: &NetworkRequest,
    others: &[NetworkRecord],
    host_routes: &[Subnet],
    pools_v4: &[AddressPool],
    pools_v6: &[AddressPool],
) -> Result<NetworkRecord, IpamError> {
    let network = request.name.clone();
    let config = |reason: String| IpamError::Config {
        network: network.clone(),
        reason,
    };
    if let Some(other) = others
        .iter()
        .find(|o| o.bridge == request.bridge && o.name != request.name)
    {
        return Err(config(format!(
            "bridge {} is already used by network {}",
            request.bridge, other.name
        )));
    }
    let mut subnets: Vec<SubnetRecord> = Vec::new();
    for entry in &request.ipam {
        let Some(subnet) = entry.subnet else {
            if entry.gateway.is_some()
                || entry.ip_range.is_some()
                || !entry.aux_addresses.is_empty()
            {
                return Err(config(
                    "an ipam config entry with gateway, ip_range or aux_addresses needs a subnet"
                        .into(),
                ));
            }
            continue;
        };
        if !subnet.is_ipv4() && !request.enable_ipv6 {
            return Err(config(format!(
                "IPv6 subnet {subnet} given but enable_ipv6 is not set"
            )));
        }
        if subnet.host_bits() < 2 {
            return Err(config(format!(
                "subnet {subnet} is too small for a gateway and a container"
            )));
        }
        for other in others {
            if let Some(o) = other.subnets.iter().find(|o| o.subnet.overlaps(&subnet)) {
                return Err(IpamError::Overlap {
                    network: network.clone(),
                    subnet,
                    other: other.name.clone(),
                    other_subnet: o.subnet,
                });
            }
        }
        if let Some(o) = subnets.iter().find(|o| o.subnet.overlaps(&subnet)) {
            return Err(config(format!("subnets {} and {subnet} overlap", o.subnet)));
        }
        if let Some(route) = host_routes
            .iter()
            .find(|r| r.prefix() > 0 && r.overlaps(&subnet))
        {
            tracing::warn!(network = %network, %subnet, %route, "subnet overlaps a host route");
        }
        if let Some(range) = entry.ip_range
            && !subnet.contains_subnet(&range)
        {
            return Err(config(format!(
                "ip_range {range} is not inside subnet {subnet}"
            )));
        }
        let gateway = match entry.gateway {
            Some(g) if subnet.is_usable_host(g) => g,
            Some(g) => {
                return Err(config(format!(
                    "gateway {g} is not a usable address of subnet {subnet}"
                )));
            }
            // host_bits >= 2, so the first host address exists.
            None => subnet.nth(1).unwrap_or(subnet.addr()),
        };
        for (name, addr) in &entry.aux_addresses {
            if !subnet.contains(*addr) {
                return Err(config(format!(
                    "aux address {name}={addr} is not inside subnet {subnet}"
                )));
            }
        }
        subnets.push(SubnetRecord {
            subnet,
            gateway,
            ip_range: entry.ip_range,
            aux_addresses: entry.aux_addresses.clone(),
        });
    }
    let mut taken: Vec<Subnet> = host_routes
        .iter()
        .copied()
        .filter(|r| r.prefix() > 0)
        .collect();
    taken.extend(
        others
            .iter()
            .flat_map(|o| o.subnets.iter().map(|s| s.subnet)),
    );
    taken.extend(subnets.iter().map(|s| s.subnet));
    let families: &[(bool, &[AddressPool], &'static str)] =
        &[(true, pools_v4, "IPv4"), (false, pools_v6, "IPv6")];
    for &(v4, pools, family) in families {
        if (!v4 && !request.enable_ipv6) || subnets.iter().any(|s| s.subnet.is_ipv4() == v4) {
            continue;
        }
        let subnet = pick_subnet(pools, &taken).ok_or_else(|| IpamError::PoolsExhausted {
            network: network.clone(),
            family,
        })?;
        taken.push(subnet);
        let gateway = subnet.nth(1).unwrap_or(subnet.addr());
        subnets.push(SubnetRecord {
            subnet,
            gateway,
            ip_range: None,
            aux_addresses: BTreeMap::new(),
        });
    }
    // IPv4 first: the order interfaces get addresses and resolv.conf lists servers.
    subnets.sort_by_key(|s| !s.subnet.is_ipv4());
    Ok(NetworkRecord {
        name: request.name.clone(),
        bridge: request.bridge.clone(),
        internal: request.internal,
        enable_ipv6: request.enable_ipv6,
        subnets,
        leases: BTreeMap::new(),
        labels: request.labels.clone(),
    })
}

/// Decides the container's lease on `record` (pure).
pub fn plan_lease(
    record: &NetworkRecord,
    container: &str,
    request: &LeaseRequest,
) -> Result<Lease, AllocError> {
    let existing = record.leases.get(container);
    let mut addresses = Vec::new();
    let wanted = [
        (true, request.ipv4.map(IpAddr::V4)),
        (false, request.ipv6.map(IpAddr::V6)),
    ];
    for (v4, fixed) in wanted {
        let family: Vec<&SubnetRecord> = record
            .subnets
            .iter()
            .filter(|s| s.subnet.is_ipv4() == v4)
            .collect();
        if family.is_empty() {
            if let Some(addr) = fixed {
                return Err(AllocError::OutsideSubnet {
                    addr,
                    subnet: format!(
                        "(network {} has no {} subnet)",
                        record.name,
                        if v4 { "IPv4" } else { "IPv6" }
                    ),
                });
            }
            continue;
        }
        let holder = |addr: IpAddr| {
            record
                .leases
                .iter()
                .find(|(c, l)| c.as_str() != container && l.addresses.contains(&addr))
                .map(|(c, _)| c.as_str())
        };
        if let Some(addr) = fixed {
            let subnet = family
                .iter()
                .find(|s| s.subnet.contains(addr))
                .unwrap_or(&family[0]);
            alloc::check_fixed(subnet, addr, holder(addr))?;
            addresses.push(addr);
            continue;
        }
        let kept = existing.and_then(|l| {
            l.addresses.iter().copied().find(|a| {
                family
                    .iter()
                    .any(|s| s.subnet.is_usable_host(*a) && alloc::reserved_reason(s, *a).is_none())
                    && holder(*a).is_none()
            })
        });
        if let Some(addr) = kept {
            addresses.push(addr);
            continue;
        }
        let used: HashSet<IpAddr> = record
            .leases
            .iter()
            .filter(|(c, _)| c.as_str() != container)
            .flat_map(|(_, l)| l.addresses.iter().copied())
            .collect();
        let mut last_error = None;
        let mut found = None;
        for subnet in &family {
            match alloc::first_free(subnet, &used) {
                Ok(addr) => {
                    found = Some(addr);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        match (found, last_error) {
            (Some(addr), _) => addresses.push(addr),
            (None, Some(e)) => return Err(e),
            (None, None) => {}
        }
    }
    Ok(Lease { addresses })
}
