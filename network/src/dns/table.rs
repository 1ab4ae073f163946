//! The name table behind berth's DNS server: which names each container answers to on each
//! network, and the rules for who may see what. Pure data, no sockets; the server asks it.
//!
//! A query is answered for the container that sent it (found by network and source address):
//! names are looked up on every network that container is on, the network the query arrived on
//! first, and the answers are that target's addresses on the shared network, so they are always
//! reachable. Containers on other networks, and the host, get a refusal.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A container's presence on one network, as DNS sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// The container's unique name; the first name PTR answers give.
    pub container: String,
    /// Further names answering with this container's address: service name, hostname,
    /// network aliases. A name shared by several containers (a scaled service) answers with
    /// all of them.
    pub names: Vec<String>,
    /// Link aliases (`links: [db:database]`): names visible to this container only, each
    /// resolving like the target name.
    pub links: Vec<(String, String)>,
    /// Address on the network.
    pub ipv4: Option<std::net::Ipv4Addr>,
    /// IPv6 address on the network.
    pub ipv6: Option<std::net::Ipv6Addr>,
    /// The container's own upstream resolvers (the service's `dns:`), used instead of the
    /// server's for names this container asks about and berth does not know.
    pub upstreams: Vec<std::net::SocketAddr>,
}

impl Endpoint {
    fn answers_to(&self, name: &str) -> bool {
        self.container.eq_ignore_ascii_case(name)
            || self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    fn has_address(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.ipv4 == Some(a),
            IpAddr::V6(a) => self.ipv6 == Some(a),
        }
    }

    fn address(&self, family: Family) -> Option<IpAddr> {
        match family {
            Family::V4 => self.ipv4.map(IpAddr::V4),
            Family::V6 => self.ipv6.map(IpAddr::V6),
        }
    }
}

/// The address family a query asks for (A or AAAA).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// A records.
    V4,
    /// AAAA records.
    V6,
}

/// What the table says about a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The name is ours; these are its addresses (rotated on every query).
    Addresses(Vec<IpAddr>),
    /// The name is ours but has no address of the asked family (NOERROR, empty answer).
    NoData,
    /// The PTR name for an address.
    Name(String),
    /// Not a berth name: forward it upstream (or NXDOMAIN when forwarding is off).
    NotOurs,
    /// The asker is not a container on this network.
    Refused,
}

/// All endpoints of all networks a DNS server answers for.
#[derive(Debug, Default)]
pub struct NameTable {
    networks: BTreeMap<String, BTreeMap<String, Endpoint>>,
    rotation: AtomicUsize,
}

impl NameTable {
    /// An empty table.
    pub fn new() -> NameTable {
        NameTable::default()
    }

    /// Adds (or replaces, by container) an endpoint on `network`.
    pub fn add(&mut self, network: &str, endpoint: Endpoint) {
        self.networks
            .entry(network.to_string())
            .or_default()
            .insert(endpoint.container.clone(), endpoint);
    }

    /// Removes the container's endpoint from `network`. Returns whether it was there.
    pub fn remove(&mut self, network: &str, container: &str) -> bool {
        let Some(endpoints) = self.networks.get_mut(network) else {
            return false;
        };
        let removed = endpoints.remove(container).is_some();
        if endpoints.is_empty() {
            self.networks.remove(network);
        }
        removed
    }

    /// Removes the container from every network.
    pub fn remove_container(&mut self, container: &str) {
        for endpoints in self.networks.values_mut() {
            endpoints.remove(container);
        }
        self.networks.retain(|_, e| !e.is_empty());
    }

    /// Forgets a network and everything on it.
    pub fn remove_network(&mut self, network: &str) {
        self.networks.remove(network);
    }

    /// The endpoints of a network, by container.
    pub fn endpoints(&self, network: &str) -> impl Iterator<Item = &Endpoint> {
        self.networks
            .get(network)
            .into_iter()
            .flat_map(|e| e.values())
    }

    /// Resolves `name` (A or AAAA) for a query from `source` arriving on `network`.
    pub fn resolve(&self, network: &str, source: IpAddr, name: &str, family: Family) -> Answer {
        let Some(asker) = self.asker(network, source) else {
            return Answer::Refused;
        };
        let name = name.trim_end_matches('.');
        let mut scope = self.networks_of(&asker.container, network);
        // `name.network` restricts the lookup to that network, as Docker's resolver does.
        let mut name = name;
        if let Some((head, net)) = name.split_once('.')
            && let Some(pos) = scope.iter().position(|n| n.eq_ignore_ascii_case(net))
        {
            scope = vec![scope[pos]];
            name = head;
        }
        // Link aliases belong to the asking container only.
        let target = asker
            .links
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
            .map(|(_, t)| t.as_str());
        let name = target.unwrap_or(name);

        let mut seen: Vec<&str> = Vec::new();
        let mut addresses = Vec::new();
        for net in scope {
            for endpoint in self.networks[net].values() {
                if endpoint.answers_to(name) && !seen.contains(&endpoint.container.as_str()) {
                    seen.push(&endpoint.container);
                    addresses.extend(endpoint.address(family));
                }
            }
        }
        if seen.is_empty() {
            return Answer::NotOurs;
        }
        if addresses.is_empty() {
            return Answer::NoData;
        }
        let turn = self.rotation.fetch_add(1, Ordering::Relaxed) % addresses.len();
        addresses.rotate_left(turn);
        Answer::Addresses(addresses)
    }

    /// The PTR answer for `addr`: `container.network` for a container the asker shares a
    /// network with.
    pub fn reverse(&self, network: &str, source: IpAddr, addr: IpAddr) -> Answer {
        let Some(asker) = self.asker(network, source) else {
            return Answer::Refused;
        };
        for net in self.networks_of(&asker.container, network) {
            if let Some(endpoint) = self.networks[net].values().find(|e| e.has_address(addr)) {
                return Answer::Name(format!("{}.{net}", endpoint.container));
            }
        }
        Answer::NotOurs
    }

    /// The endpoint on `network` whose address is `source`.
    pub fn asker(&self, network: &str, source: IpAddr) -> Option<&Endpoint> {
        let source = canonical(source);
        self.networks
            .get(network)?
            .values()
            .find(|e| e.has_address(source))
    }

    /// Networks the container is on: `first` first, then the others by name.
    fn networks_of<'a>(&'a self, container: &str, first: &'a str) -> Vec<&'a str> {
        let mut out = vec![first];
        out.extend(
            self.networks
                .iter()
                .filter(|(n, e)| n.as_str() != first && e.contains_key(container))
                .map(|(n, _)| n.as_str()),
        );
        out
    }
}

/// Maps an IPv4-mapped IPv6 source (`::ffff:10.0.0.2`, seen on dual-stack sockets) to IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(container: &str, names: &[&str], v4: &str) -> Endpoint {
        Endpoint {
            container: container.into(),
            names: names.iter().map(|n| n.to_string()).collect(),
            ipv4: Some(v4.parse().unwrap()),
            ..Default::default()
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn addrs(answer: Answer) -> Vec<IpAddr> {
        match answer {
            Answer::Addresses(mut a) => {
                a.sort();
                a
            }
            other => panic!("expected addresses, got {other:?}"),
        }
    }

    fn table() -> NameTable {
        let mut t = NameTable::new();
        t.add("p_default", ep("p-web-1", &["web", "www"], "10.0.0.2"));
        t.add("p_default", ep("p-web-2", &["web"], "10.0.0.3"));
        t.add("p_default", ep("p-db-1", &["db", "dbhost"], "10.0.0.4"));
        t.add("q_default", ep("q-api-1", &["api"], "10.1.0.2"));
        t
    }

    #[test]
    fn names_of_the_network_resolve_for_its_containers() {
        let t = table();
        let from = ip("10.0.0.4");
        assert_eq!(
            addrs(t.resolve("p_default", from, "web", Family::V4)),
            vec![ip("10.0.0.2"), ip("10.0.0.3")]
        );
        assert_eq!(
            addrs(t.resolve("p_default", from, "p-web-2.", Family::V4)),
            vec![ip("10.0.0.3")]
        );
        assert_eq!(
            addrs(t.resolve("p_default", from, "WWW", Family::V4)),
            vec![ip("10.0.0.2")]
        );
        assert_eq!(
            addrs(t.resolve("p_default", from, "web.p_default", Family::V4)).len(),
            2
        );
        assert_eq!(
            t.resolve("p_default", from, "web", Family::V6),
            Answer::NoData
        );
        assert_eq!(
            t.resolve("p_default", from, "api", Family::V4),
            Answer::NotOurs
        );
        assert_eq!(
            t.resolve("p_default", from, "example.com", Family::V4),
            Answer::NotOurs
        );
    }

    #[test]
    fn strangers_are_refused() {
        let t = table();
        assert_eq!(
            t.resolve("p_default", ip("10.1.0.2"), "web", Family::V4),
            Answer::Refused
        );
        assert_eq!(
            t.resolve("p_default", ip("10.0.0.99"), "web", Family::V4),
            Answer::Refused
        );
        assert_eq!(
            t.resolve("nope", ip("10.0.0.2"), "web", Family::V4),
            Answer::Refused
        );
        assert_eq!(
            t.reverse("p_default", ip("10.1.0.2"), ip("10.0.0.2")),
            Answer::Refused
        );
        // Dual-stack sockets report IPv4 senders as mapped addresses.
        assert!(matches!(
            t.resolve("p_default", ip("::ffff:10.0.0.2"), "db", Family::V4),
            Answer::Addresses(_)
        ));
    }

    #[test]
    fn round_robin_rotates_replicas() {
        let t = table();
        let firsts: Vec<IpAddr> = (0..4)
            .map(
                |_| match t.resolve("p_default", ip("10.0.0.4"), "web", Family::V4) {
                    Answer::Addresses(a) => a[0],
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert!(
            firsts.contains(&ip("10.0.0.2")) && firsts.contains(&ip("10.0.0.3")),
            "{firsts:?}"
        );
    }

    #[test]
    fn multi_network_containers_see_both_and_get_reachable_addresses() {
        let mut t = table();
        // The gateway container is on both networks, with a different address on each.
        t.add("p_default", ep("gw", &["gw"], "10.0.0.9"));
        t.add("q_default", ep("gw", &["gw"], "10.1.0.9"));
        assert_eq!(
            addrs(t.resolve("p_default", ip("10.0.0.9"), "api", Family::V4)),
            vec![ip("10.1.0.2")]
        );
        assert_eq!(
            addrs(t.resolve("q_default", ip("10.1.0.9"), "db", Family::V4)),
            vec![ip("10.0.0.4")]
        );
        // Each side sees gw at the address on the network they share.
        assert_eq!(
            addrs(t.resolve("q_default", ip("10.1.0.2"), "gw", Family::V4)),
            vec![ip("10.1.0.9")]
        );
        assert_eq!(
            addrs(t.resolve("p_default", ip("10.0.0.2"), "gw", Family::V4)),
            vec![ip("10.0.0.9")]
        );
        // But the api container still cannot see p's containers.
        assert_eq!(
            t.resolve("q_default", ip("10.1.0.2"), "db", Family::V4),
            Answer::NotOurs
        );
        // gw's own query on p for itself answers with its p address first.
        assert_eq!(
            addrs(t.resolve("p_default", ip("10.0.0.9"), "gw", Family::V4)),
            vec![ip("10.0.0.9")]
        );
    }

    #[test]
    fn links_are_private_to_the_linking_container() {
        let mut t = table();
        let mut web = ep("p-web-1", &["web"], "10.0.0.2");
        web.links = vec![("database".into(), "db".into())];
        t.add("p_default", web);
        assert_eq!(
            addrs(t.resolve("p_default", ip("10.0.0.2"), "database", Family::V4)),
            vec![ip("10.0.0.4")]
        );
        assert_eq!(
            t.resolve("p_default", ip("10.0.0.3"), "database", Family::V4),
            Answer::NotOurs
        );
    }

    #[test]
    fn reverse_lookups() {
        let t = table();
        assert_eq!(
            t.reverse("p_default", ip("10.0.0.2"), ip("10.0.0.4")),
            Answer::Name("p-db-1.p_default".into())
        );
        assert_eq!(
            t.reverse("p_default", ip("10.0.0.2"), ip("10.1.0.2")),
            Answer::NotOurs
        );
    }

    #[test]
    fn updates_take_effect() {
        let mut t = table();
        assert!(t.remove("p_default", "p-web-2"));
        assert!(!t.remove("p_default", "p-web-2"));
        assert_eq!(
            addrs(t.resolve("p_default", ip("10.0.0.4"), "web", Family::V4)),
            vec![ip("10.0.0.2")]
        );
        t.add("p_default", ep("p-web-3", &["web"], "10.0.0.5"));
        assert_eq!(
            addrs(t.resolve("p_default", ip("10.0.0.4"), "web", Family::V4)).len(),
            2
        );
        t.remove_container("p-db-1");
        assert_eq!(
            t.resolve("p_default", ip("10.0.0.4"), "web", Family::V4),
            Answer::Refused
        );
        t.remove_network("q_default");
        assert_eq!(t.endpoints("q_default").count(), 0);
        let mut v6 = ep("six", &[], "10.0.0.6");
        v6.ipv6 = Some("fd00::6".parse().unwrap());
        t.add("p_default", v6);
        assert_eq!(
            addrs(t.resolve("p_default", ip("fd00::6"), "six", Family::V6)),
            vec![ip("fd00::6")]
        );
    }
}
