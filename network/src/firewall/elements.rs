//! What berth puts into its nftables sets and maps: the elements for a network (its bridge,
//! its subnets for NAT) and for a published port, and the commands adding or deleting them.

use std::collections::HashSet;
use std::net::IpAddr;

use nftables::expr::{self, Expression, NamedExpression};
use nftables::schema::{Element, NfListObject, NfObject};
use nftables::types::NfFamily;

use super::rules::{add, concat, delete, string};
use crate::subnet::Subnet;

/// A network as the firewall sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirewallNetwork {
    /// Its bridge.
    pub bridge: String,
    /// Its subnets.
    pub subnets: Vec<Subnet>,
    /// No outside access: no NAT, no forwarding in or out.
    pub internal: bool,
}

/// Transport protocol of a published port.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One published port: `host_ip:host_port/protocol` forwarded to `container_ip:container_port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortMapping {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The host address it is published on; `None` (or an unspecified address) for all.
    pub host_ip: Option<IpAddr>,
    /// The host port.
    pub host_port: u16,
    /// The container's address (its family decides the map).
    pub container_ip: IpAddr,
    /// The container port.
    pub container_port: u16,
}

impl PortMapping {
    fn specific_host_ip(&self) -> Option<IpAddr> {
        self.host_ip.filter(|ip| !ip.is_unspecified())
    }

    /// The stem of the maps this mapping is an element of (`tcp4`, `udp6_ip`, ...); the
    /// maps are `<stem>_addr` and `<stem>_port`.
    pub fn map_name(&self) -> String {
        let family = if self.container_ip.is_ipv4() {
            "4"
        } else {
            "6"
        };
        let scope = if self.specific_host_ip().is_some() {
            "_ip"
        } else {
            ""
        };
        format!("{}{family}{scope}", self.protocol)
    }

    /// Checks that host and container address families agree.
    pub fn check(&self) -> Result<(), String> {
        match self.host_ip {
            Some(h) if h.is_ipv4() != self.container_ip.is_ipv4() => Err(format!(
                "host address {h} and container address {} are of different IP families",
                self.container_ip
            )),
            _ if self.host_port == 0 || self.container_port == 0 => {
                Err("port 0 cannot be published".into())
            }
            _ => Ok(()),
        }
    }

    fn key(&self) -> Expression<'static> {
        match self.specific_host_ip() {
            Some(ip) => concat(vec![
                string(ip.to_string()),
                Expression::Number(u32::from(self.host_port)),
            ]),
            None => Expression::Number(u32::from(self.host_port)),
        }
    }
}

/// A set or map element berth adds for a network or a port: (set or map name, element).
pub type SetElement = (String, Expression<'static>);

/// The elements that put a network under the rules.
pub fn network_elements(network: &FirewallNetwork) -> Vec<SetElement> {
    let bridge = || string(network.bridge.clone());
    let mut out = vec![
        ("bridges".to_string(), bridge()),
        ("same_bridge".to_string(), concat(vec![bridge(), bridge()])),
    ];
    if network.internal {
        out.push(("internal".to_string(), bridge()));
    } else {
        for subnet in &network.subnets {
            let set = if subnet.is_ipv4() { "nat_v4" } else { "nat_v6" };
            let prefix = expr::Prefix {
                addr: Box::new(string(subnet.addr().to_string())),
                len: u32::from(subnet.prefix()),
            };
            out.push((
                set.to_string(),
                Expression::Named(NamedExpression::Prefix(prefix)),
            ));
        }
    }
    out
}

/// The map elements publishing a port (container address, container port).
pub fn port_elements(mapping: &PortMapping) -> Vec<SetElement> {
    let stem = mapping.map_name();
    vec![
        (
            format!("{stem}_addr"),
            Expression::List(vec![
                mapping.key(),
                string(mapping.container_ip.to_string()),
            ]),
        ),
        (
            format!("{stem}_port"),
            Expression::List(vec![
                mapping.key(),
                Expression::Number(u32::from(mapping.container_port)),
            ]),
        ),
    ]
}

/// The element as it is named when deleting (maps are keyed by the key alone).
pub fn deletion_key(element: &SetElement) -> SetElement {
    match &element.1 {
        Expression::List(pair) if pair.len() == 2 => (element.0.clone(), pair[0].clone()),
        other => (element.0.clone(), other.clone()),
    }
}

/// Commands adding (or deleting) elements, grouped by set.
pub fn element_commands(
    table: &str,
    elements: &[SetElement],
    adding: bool,
) -> Vec<NfObject<'static>> {
    let mut out = Vec::new();
    let mut names: Vec<&String> = elements.iter().map(|(n, _)| n).collect();
    names.dedup();
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            continue;
        }
        let elem: Vec<Expression<'static>> = elements
            .iter()
            .filter(|(n, _)| n == name)
            .map(|e| {
                if adding {
                    e.1.clone()
                } else {
                    deletion_key(e).1
                }
            })
            .collect();
        let object = NfListObject::Element(Element {
            family: NfFamily::INet,
            table: table.to_string().into(),
            name: name.clone().into(),
            elem: elem.into(),
        });
        out.push(if adding { add(object) } else { delete(object) });
    }
    out
}
