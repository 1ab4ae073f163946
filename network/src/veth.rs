//! Attaching a container's network namespace to a bridge with a veth pair: the host end is a
//! port of the bridge, the other end becomes `eth0` (`eth1`, ... or `interface_name`) inside
//! the namespace with the container's MAC, addresses and, for its first network, the default
//! route.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use rtnetlink::{Handle, LinkUnspec, LinkVeth};
use sha2::{Digest, Sha256};

use crate::bridge::hex;
use crate::netlink::{self, NetlinkError, request};
use crate::netns::Netns;

/// How a container is attached to one network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The network's bridge.
    pub bridge: String,
    /// The host end's name (see [`veth_name`]).
    pub host_ifname: String,
    /// The interface name inside the container.
    pub ifname: String,
    /// The container's MAC address (`mac_address`); derived from its IPv4 address when `None`.
    pub mac: Option<[u8; 6]>,
    /// Addresses with prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
    /// Default routes to add (the first network's gateways; none for internal networks).
    pub default_gateways: Vec<IpAddr>,
    /// MTU of both ends.
    pub mtu: Option<u32>,
}

/// The host end's name for `container` on `network`: `vb` and 13 hex digits of a hash, so a
/// crashed attach can be found and cleaned up again.
pub fn veth_name(container: &str, network: &str) -> String {
    let digest = Sha256::digest(format!("{container}\0{network}").as_bytes());
    format!("vb{}", &hex(&digest)[..13])
}

/// The temporary host-side name of the container end, before it moves into the namespace.
fn peer_name(host_ifname: &str) -> String {
    format!("vp{}", host_ifname.get(2..).unwrap_or(host_ifname))
}

/// The interface name of the container's `index`-th network (0-based): `eth0`, `eth1`, ...
pub fn interface_name(index: usize) -> String {
    format!("eth{index}")
}

/// Docker's MAC for an IPv4 address: `02:42` followed by the four address bytes; stable, so a
/// re-attached container keeps its MAC along with its address.
pub fn mac_from_ipv4(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Brings the loopback interface of `netns` up (every container needs it, with or without
/// networks: `network_mode: none` has only this).
pub async fn loopback_up(netns: &Netns) -> Result<(), NetlinkError> {
    let handle = netlink::connect_in(netns)?;
    let lo = netlink::link_index(&handle, "lo").await?;
    netlink::set_up(&handle, lo, "loopback").await
}

/// Attaches the namespace to the bridge. On failure nothing is left behind.
pub async fn attach(host: &Handle, netns: &Netns, spec: &Attachment) -> Result<(), NetlinkError> {
    for name in [&spec.host_ifname, &spec.ifname] {
        if !netlink::valid_ifname(name) {
            return Err(NetlinkError::BadName(name.clone()));
        }
    }
    let peer = peer_name(&spec.host_ifname);
    // Leftovers of an attach interrupted by a crash.
    netlink::delete_link(host, &spec.host_ifname).await?;
    netlink::delete_link(host, &peer).await?;
    let bridge = netlink::link_index(host, &spec.bridge).await?;

    let mut veth = LinkVeth::new(&spec.host_ifname, &peer);
    if let Some(mtu) = spec.mtu {
        veth = veth.mtu(mtu);
    }
    host.link()
        .add(veth.build())
        .execute()
        .await
        .map_err(request(format!("creating veth pair {}", spec.host_ifname)))?;
    let result = configure(host, netns, spec, &peer, bridge).await;
    if result.is_err() {
        // Deleting one end deletes the pair, wherever the other end is.
        let _ = netlink::delete_link(host, &spec.host_ifname).await;
    }
    result
}

async fn configure(
    host: &Handle,
    netns: &Netns,
    spec: &Attachment,
    peer: &str,
    bridge: u32,
) -> Result<(), NetlinkError> {
    let peer_index = netlink::link_index(host, peer).await?;
    host.link()
        .change(
            LinkUnspec::new_with_index(peer_index)
                .setns_by_fd(netns.as_raw_fd())
                .build(),
        )
        .execute()
        .await
        .map_err(request(format!(
            "moving {peer} into {}",
            netns.path().display()
        )))?;
    let host_index = netlink::link_index(host, &spec.host_ifname).await?;
    host.link()
        .change(
            LinkUnspec::new_with_index(host_index)
                .controller(bridge)
                .up()
                .build(),
        )
        .execute()
        .await
        .map_err(request(format!(
            "adding {} to bridge {}",
            spec.host_ifname, spec.bridge
        )))?;

    let inner = netlink::connect_in(netns)?;
    let lo = netlink::link_index(&inner, "lo").await?;
    netlink::set_up(&inner, lo, "loopback").await?;
    if netlink::link_by_name(&inner, &spec.ifname).await?.is_some() {
        return Err(NetlinkError::Io {
            action: format!("naming the container's interface {}", spec.ifname),
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        });
    }
    let index = netlink::link_index(&inner, peer).await?;
    let ipv4 = spec.addresses.iter().find_map(|(a, _)| match a {
        IpAddr::V4(a) => Some(*a),
        IpAddr::V6(_) => None,
    });
    let mut change = LinkUnspec::new_with_index(index).name(spec.ifname.clone());
    if let Some(mac) = spec.mac.or_else(|| ipv4.map(mac_from_ipv4)) {
        change = change.address(mac.to_vec());
    }
    if let Some(mtu) = spec.mtu {
        change = change.mtu(mtu);
    }
    inner
        .link()
        .change(change.build())
        .execute()
        .await
        .map_err(request(format!("configuring {}", spec.ifname)))?;
    for (addr, prefix) in &spec.addresses {
        netlink::add_address(&inner, index, *addr, *prefix, &spec.ifname).await?;
    }
    netlink::set_up(&inner, index, &spec.ifname).await?;
    for gateway in &spec.default_gateways {
        netlink::add_default_route(&inner, *gateway).await?;
    }
    Ok(())
}

/// Removes the container's veth pair. Returns whether it existed.
pub async fn detach(host: &Handle, host_ifname: &str) -> Result<bool, NetlinkError> {
    netlink::delete_link(host, host_ifname).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_macs() {
        let a = veth_name("p-web-1", "p_default");
        assert_eq!(a.len(), 15);
        assert!(netlink::valid_ifname(&a) && netlink::valid_ifname(&peer_name(&a)));
        assert_ne!(a, veth_name("p-web-1", "p_other"));
        assert_eq!(peer_name(&a)[2..], a[2..]);
        assert_eq!(interface_name(1), "eth1");
        assert_eq!(
            mac_from_ipv4(Ipv4Addr::new(172, 18, 0, 2)),
            [0x02, 0x42, 172, 18, 0, 2]
        );
        assert_eq!(
            parse_mac("02:42:AC:12:00:02"),
            Some([2, 0x42, 0xac, 0x12, 0, 2])
        );
        for bad in [
            "02:42:ac:12:00",
            "02:42:ac:12:00:02:03",
            "zz:42:ac:12:00:02",
            "2:42:ac:12:00:02",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }
}
