//! The text of a container's `/etc/hosts` and `/etc/resolv.conf`, and reading the host's
//! resolv.conf (the DNS server's upstreams and the search list containers inherit).

use std::fmt::Write as _;
use std::net::IpAddr;

/// The value `extra_hosts` uses for "the host, as seen from the container".
pub const HOST_GATEWAY: &str = "host-gateway";

/// The name Docker Desktop users expect to reach the host by.
pub const HOST_INTERNAL: &str = "host.docker.internal";

/// What goes into a container's `/etc/hosts`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostsSpec {
    /// The container's hostname.
    pub hostname: String,
    /// Its domain name (`domainname:`), giving the line `ip host.domain host`.
    pub domainname: Option<String>,
    /// Further names for the container's own addresses (its container name, aliases).
    pub extra_names: Vec<String>,
    /// The container's addresses, first network first. Empty for `network_mode: none`.
    pub addresses: Vec<IpAddr>,
    /// `extra_hosts` entries as (names, address) where address is an IP or `host-gateway`;
    /// `names` may hold several names separated by spaces.
    pub extra_hosts: Vec<(String, String)>,
    /// The host's address as seen from the container (the first network's gateway), used for
    /// `host-gateway`.
    pub host_gateway: Option<IpAddr>,
    /// Also map `host.docker.internal` to `host_gateway` (unless extra_hosts sets it).
    pub add_host_internal: bool,
}

/// A hosts or resolv.conf entry that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostsError {
    /// `extra_hosts` entry with an address that is neither an IP nor `host-gateway`.
    #[error("extra_hosts entry {name}:{value}: {value:?} is not an IP address or \"host-gateway\"")]
    BadAddress {
        /// The entry's names.
        name: String,
        /// The value given.
        value: String,
    },
    /// `host-gateway` used where the host's address is unknown (no network).
    #[error(
        "extra_hosts entry {name}:host-gateway: the container has no network through which it could reach the host"
    )]
    NoHostGateway {
        /// The entry's names.
        name: String,
    },
    /// A name with whitespace or control characters.
    #[error("invalid host name {0:?} in hosts entries")]
    BadName(String),
}

fn check_name(name: &str) -> Result<(), HostsError> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
    {
        return Err(HostsError::BadName(name.to_string()));
    }
    Ok(())
}

/// The content of `/etc/hosts`: loopback entries, `extra_hosts`, then the container's own
/// addresses with its names (Docker's order).
pub fn hosts_file(spec: &HostsSpec) -> Result<String, HostsError> {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    let mut has_internal = false;
    for (names, value) in &spec.extra_hosts {
        let names: Vec<&str> = names.split_whitespace().collect();
        let joined = names.join(" ");
        if names.is_empty() {
            return Err(HostsError::BadName(joined));
        }
        for name in &names {
            check_name(name)?;
        }
        has_internal |= names.iter().any(|n| n.eq_ignore_ascii_case(HOST_INTERNAL));
        let addr: IpAddr = if value == HOST_GATEWAY {
            spec.host_gateway.ok_or_else(|| HostsError::NoHostGateway {
                name: joined.clone(),
            })?
        } else {
            // Compose allows IPv6 addresses in brackets (`myhost:[::1]`).
            let bare = value
                .strip_prefix('[')
                .and_then(|v| v.strip_suffix(']'))
                .unwrap_or(value);
            bare.parse().map_err(|_| HostsError::BadAddress {
                name: joined.clone(),
                value: value.clone(),
            })?
        };
        let _ = writeln!(out, "{addr}\t{joined}");
    }
    if spec.add_host_internal
        && !has_internal
        && let Some(gateway) = spec.host_gateway
    {
        let _ = writeln!(out, "{gateway}\t{HOST_INTERNAL}");
    }
    let mut names: Vec<String> = Vec::new();
    if !spec.hostname.is_empty() {
        check_name(&spec.hostname)?;
        if let Some(domain) = spec.domainname.as_deref().filter(|d| !d.is_empty()) {
            check_name(domain)?;
            names.push(format!("{}.{domain}", spec.hostname));
        }
        names.push(spec.hostname.clone());
    }
    for name in &spec.extra_names {
        check_name(name)?;
        if !names.iter().any(|n| n == name) {
            names.push(name.clone());
        }
    }
    if !names.is_empty() {
        for addr in &spec.addresses {
            let _ = writeln!(out, "{addr}\t{}", names.join(" "));
        }
    }
    Ok(out)
}

/// The parts of a resolv.conf berth reads and writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines, in order.
    pub nameservers: Vec<IpAddr>,
    /// The `search` list (the last `search`/`domain` line wins, as in glibc).
    pub search: Vec<String>,
    /// `options` entries (`ndots:2`, `edns0`, ...).
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Reads resolv.conf text; unknown lines and malformed addresses are skipped, as the C
    /// resolver does.
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // A scoped address (`fe80::1%eth0`) names a host interface; skip it.
                    if let Some(addr) = words.next().and_then(|w| w.parse().ok()) {
                        conf.nameservers.push(addr);
                    }
                }
                Some("search") | Some("domain") => {
                    conf.search = words.map(str::to_string).collect()
                }
                Some("options") => conf.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        conf
    }

    /// The nameservers as upstreams for berth's DNS server (port 53). Loopback stubs such as
    /// systemd-resolved's 127.0.0.53 are kept: containers could not reach them, but the DNS
    /// server runs on the host, where they answer.
    pub fn upstreams(&self) -> Vec<std::net::SocketAddr> {
        self.nameservers
            .iter()
            .map(|ip| std::net::SocketAddr::new(*ip, 53))
            .collect()
    }

    /// The resolv.conf text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for ns in &self.nameservers {
            let _ = writeln!(out, "nameserver {ns}");
        }
        if !self.search.is_empty() {
            let _ = writeln!(out, "search {}", self.search.join(" "));
        }
        if !self.options.is_empty() {
            let _ = writeln!(out, "options {}", self.options.join(" "));
        }
        out
    }
}

/// The resolv.conf of a container: berth's DNS servers (the gateways of its networks, first
/// network first) when it is on berth networks; otherwise (`network_mode: none`, `host`) the
/// service's `dns` servers or the host's. On berth networks the service's `dns` servers become
/// that container's upstreams in berth's DNS server ([`crate::dns::Endpoint::upstreams`]), as
/// with Docker's embedded DNS, so service names keep resolving. `dns_search`/`dns_opt` replace
/// the host's search list and options.
pub fn container_resolv_conf(
    host: &ResolvConf,
    berth_servers: &[IpAddr],
    dns: &[IpAddr],
    dns_search: Option<&[String]>,
    dns_opt: Option<&[String]>,
) -> ResolvConf {
    let mut nameservers: Vec<IpAddr> = if !berth_servers.is_empty() {
        berth_servers.to_vec()
    } else if !dns.is_empty() {
        dns.to_vec()
    } else {
        host.nameservers.clone()
    };
    nameservers.dedup();
    ResolvConf {
        nameservers,
        search: dns_search.map_or_else(|| host.search.clone(), <[String]>::to_vec),
        options: dns_opt.map_or_else(|| host.options.clone(), <[String]>::to_vec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn hosts_with_own_names_and_extra_hosts() {
        let spec = HostsSpec {
            hostname: "web".into(),
            domainname: Some("example.org".into()),
            extra_names: vec!["p-web-1".into(), "web".into()],
            addresses: vec![ip("10.0.0.2"), ip("10.1.0.2")],
            extra_hosts: vec![
                ("somehost".into(), "162.242.195.82".into()),
                ("h6".into(), "[::1]".into()),
                ("host.docker.internal gw".into(), HOST_GATEWAY.into()),
            ],
            host_gateway: Some(ip("10.0.0.1")),
            add_host_internal: true,
        };
        let text = hosts_file(&spec).unwrap();
        assert!(
            text.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        );
        let tail: Vec<&str> = text.lines().skip(6).collect();
        assert_eq!(
            tail,
            [
                "162.242.195.82\tsomehost",
                "::1\th6",
                "10.0.0.1\thost.docker.internal gw",
                "10.0.0.2\tweb.example.org web p-web-1",
                "10.1.0.2\tweb.example.org web p-web-1",
            ]
        );
    }

    #[test]
    fn host_internal_is_added_once_and_errors_are_clear() {
        let mut spec = HostsSpec {
            hostname: "c".into(),
            host_gateway: Some(ip("172.18.0.1")),
            add_host_internal: true,
            ..Default::default()
        };
        assert!(
            hosts_file(&spec)
                .unwrap()
                .contains("172.18.0.1\thost.docker.internal\n")
        );
        spec.extra_hosts = vec![("x".into(), "nope".into())];
        assert_eq!(
            hosts_file(&spec).unwrap_err().to_string(),
            "extra_hosts entry x:nope: \"nope\" is not an IP address or \"host-gateway\""
        );
        spec.extra_hosts = vec![("x".into(), HOST_GATEWAY.into())];
        spec.host_gateway = None;
        assert!(matches!(
            hosts_file(&spec),
            Err(HostsError::NoHostGateway { .. })
        ));
        spec.extra_hosts = vec![];
        spec.hostname = "bad name".into();
        assert!(matches!(hosts_file(&spec), Err(HostsError::BadName(_))));
        // network_mode none: no own line.
        let none = HostsSpec {
            hostname: "c".into(),
            ..Default::default()
        };
        assert_eq!(hosts_file(&none).unwrap().lines().count(), 6);
    }

    #[test]
    fn resolv_conf_round_trip_and_container_view() {
        let host = ResolvConf::parse(
            "# generated\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nnameserver 10.0.0.53 # x\n\
             domain old.example\nsearch corp.example lab.example\noptions edns0 trust-ad\noptions ndots:2\n",
        );
        assert_eq!(host.nameservers, vec![ip("127.0.0.53"), ip("10.0.0.53")]);
        assert_eq!(host.search, vec!["corp.example", "lab.example"]);
        assert_eq!(host.options, vec!["edns0", "trust-ad", "ndots:2"]);
        assert_eq!(ResolvConf::parse(&host.render()), host);
        let upstreams: Vec<String> = host.upstreams().iter().map(|a| a.to_string()).collect();
        assert_eq!(
            upstreams,
            ["127.0.0.53:53", "10.0.0.53:53"],
            "the loopback stub stays an upstream"
        );

        let c = container_resolv_conf(
            &host,
            &[ip("172.18.0.1"), ip("172.19.0.1")],
            &[],
            None,
            None,
        );
        assert_eq!(
            c.render(),
            "nameserver 172.18.0.1\nnameserver 172.19.0.1\nsearch corp.example lab.example\noptions edns0 trust-ad ndots:2\n"
        );
        let own = container_resolv_conf(
            &host,
            &[ip("172.18.0.1")],
            &[ip("9.9.9.9")],
            Some(&["x.example".into()]),
            Some(&[]),
        );
        // On a berth network the service's dns servers are upstreams, not nameservers.
        assert_eq!(own.render(), "nameserver 172.18.0.1\nsearch x.example\n");
        let none = container_resolv_conf(&host, &[], &[ip("9.9.9.9")], None, None);
        assert_eq!(none.nameservers, vec![ip("9.9.9.9")]);
        let plain = container_resolv_conf(&host, &[], &[], None, None);
        assert_eq!(plain, host);
    }
}
