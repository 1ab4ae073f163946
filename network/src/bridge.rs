//! The Linux bridge that carries one berth network: created with its gateway addresses, a
//! fixed MAC address, and `route_localnet` so that ports published on 127.0.0.1 can be
//! DNATed to it.

use std::net::IpAddr;

use rtnetlink::{Handle, LinkBridge};
use sha2::{Digest, Sha256};

use crate::netlink::{self, NetlinkError, request};

/// What the bridge of a network looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeSpec {
    /// Interface name (see [`bridge_name`]).
    pub name: String,
    /// Gateway addresses with their subnet prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
    /// MTU (`com.docker.network.driver.mtu`), the kernel's default when `None`.
    pub mtu: Option<u32>,
}

/// The bridge name for a network: `br-` and 12 hex digits of a hash of the network name
/// (Docker's form; stable, so berth finds the bridge again after a restart or a crash).
pub fn bridge_name(network: &str) -> String {
    format!("br-{}", &hex(&Sha256::digest(network.as_bytes()))[..12])
}

/// A locally administered unicast MAC derived from `seed`. A bridge without a fixed address
/// takes the lowest address of its ports, so it would change as containers come and go and
/// leave stale entries in the containers' ARP caches.
pub fn derived_mac(seed: &str) -> [u8; 6] {
    let digest = Sha256::digest(seed.as_bytes());
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&digest[..6]);
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates the bridge if it does not exist, adds missing gateway addresses, brings it up, and
/// sets what forwarding to containers needs (IP forwarding on the host, route_localnet on
/// the bridge). Returns the bridge's interface index.
pub async fn ensure_bridge(handle: &Handle, spec: &BridgeSpec) -> Result<u32, NetlinkError> {
    if !netlink::valid_ifname(&spec.name) {
        return Err(NetlinkError::BadName(spec.name.clone()));
    }
    let index = match netlink::link_by_name(handle, &spec.name).await? {
        Some(link) => link.header.index,
        None => {
            let mut builder = LinkBridge::new(&spec.name).address(derived_mac(&spec.name).to_vec());
            if let Some(mtu) = spec.mtu {
                builder = builder.mtu(mtu);
            }
            match handle.link().add(builder.build()).execute().await {
                Ok(()) => {}
                // Created concurrently by another berth process: use it.
                Err(rtnetlink::Error::NetlinkError(msg))
                    if msg.code.map(|c| -c.get()) == Some(nix::errno::Errno::EEXIST as i32) => {}
                Err(e) => return Err(request(format!("creating bridge {}", spec.name))(e)),
            }
            netlink::link_index(handle, &spec.name).await?
        }
    };
    let present = netlink::addresses(handle, index).await?;
    for (addr, prefix) in &spec.addresses {
        if !present.iter().any(|(a, _)| a == addr) {
            netlink::add_address(
                handle,
                index,
                *addr,
                *prefix,
                &format!("bridge {}", spec.name),
            )
            .await?;
        }
    }
    // route_localnet lets DNATed packets from 127.0.0.1 leave through the bridge (they are
    // masqueraded to the gateway address on the way).
    netlink::write_ifsysctl("ipv4", &spec.name, "route_localnet", "1")?;
    if spec.addresses.iter().any(|(a, _)| a.is_ipv6()) {
        netlink::write_ifsysctl("ipv6", &spec.name, "disable_ipv6", "0")?;
        netlink::write_sysctl("net.ipv6.conf.all.forwarding", "1")?;
    }
    netlink::write_sysctl("net.ipv4.ip_forward", "1")?;
    netlink::set_up(handle, index, &format!("bridge {}", spec.name)).await?;
    Ok(index)
}

/// Deletes the bridge (its veth ports go with their containers). Returns whether it existed.
pub async fn delete_bridge(handle: &Handle, name: &str) -> Result<bool, NetlinkError> {
    netlink::delete_link(handle, name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_valid() {
        let a = bridge_name("proj_default");
        assert_eq!(a, bridge_name("proj_default"));
        assert_ne!(a, bridge_name("proj_back"));
        assert_eq!(a.len(), 15);
        assert!(netlink::valid_ifname(&a));
        let mac = derived_mac(&a);
        assert_eq!(mac[0] & 0x03, 0x02, "locally administered unicast");
    }
}
