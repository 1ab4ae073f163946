//! Host ports for published container ports: checking a port is free, reserving it while it is
//! published (a bound, non-listening socket, so no other program can take it and the kernel
//! reports a conflict exactly as for any other bind), picking random free ports, and the
//! "port taken" error that says which port and, when berth knows it, which project and service
//! hold it. Parsing of `ports:` entries is the compose crate's job.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrStorage, sockopt};

use crate::firewall::Protocol;
use crate::proxy::TcpProxy;

/// Who holds a port, as far as berth knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The compose project.
    pub project: String,
    /// The service.
    pub service: String,
}

/// A host port that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Something already listens on (or holds) the port.
    #[error("port {port}/{protocol} on {} is already in use {}", show_ip(*host_ip), holder(owner))]
    Taken {
        /// TCP or UDP.
        protocol: Protocol,
        /// The host address (unspecified for all addresses).
        host_ip: IpAddr,
        /// The port.
        port: u16,
        /// The berth project and service holding it, when known.
        owner: Option<Owner>,
    },
    /// No port of the range is free.
    #[error("no free {protocol} port on {} in {}-{}", show_ip(*host_ip), range.start(), range.end())]
    Exhausted {
        /// TCP or UDP.
        protocol: Protocol,
        /// The host address.
        host_ip: IpAddr,
        /// The range searched.
        range: RangeInclusive<u16>,
    },
    /// The address is not one of this host's.
    #[error("cannot publish on {}: {source}", show_ip(*host_ip))]
    Address {
        /// The host address.
        host_ip: IpAddr,
        /// The cause.
        source: io::Error,
    },
    /// Host and container port ranges of different lengths.
    #[error("port ranges {host}:{container} have different lengths")]
    RangeMismatch {
        /// The host range as written.
        host: String,
        /// The container range as written.
        container: String,
    },
}

fn show_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    }
}

fn holder(owner: &Option<Owner>) -> String {
    match owner {
        Some(o) => format!("by project {:?} service {:?}", o.project, o.service),
        None => "by another program".to_string(),
    }
}

/// Sockets holding published ports; dropping it frees them.
#[derive(Debug)]
pub struct PortReservation {
    /// The port held.
    pub port: u16,
    protocol: Protocol,
    sockets: Vec<OwnedFd>,
    /// Serves the IPv6 socket when the kernel cannot forward what reaches it.
    proxy: Option<TcpProxy>,
}

impl PortReservation {
    fn new(protocol: Protocol, port: u16, sockets: Vec<OwnedFd>) -> PortReservation {
        PortReservation {
            port,
            protocol,
            sockets,
            proxy: None,
        }
    }

    /// Forwards the TCP connections that reach the port over IPv6 to `target`, through
    /// [`TcpProxy`] on the reservation's own IPv6 socket: for a container without an IPv6
    /// address, and for `[::1]` always (the kernel forwards neither). A UDP port, or one held
    /// on IPv4 only, has nothing to forward.
    pub fn proxy_ipv6(
        &mut self,
        target: SocketAddr,
        runtime: tokio::runtime::Handle,
    ) -> io::Result<()> {
        if self.protocol != Protocol::Tcp || self.proxy.is_some() {
            return Ok(());
        }
        let Some(i) = self.sockets.iter().position(is_ipv6) else {
            return Ok(());
        };
        let socket = self.sockets.remove(i);
        self.proxy = Some(TcpProxy::start(socket, target, runtime)?);
        Ok(())
    }
}

fn is_ipv6(fd: &OwnedFd) -> bool {
    socket::getsockname::<SockaddrStorage>(fd.as_raw_fd())
        .is_ok_and(|a| a.as_sockaddr_in6().is_some())
}

impl fmt::Display for PortReservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port {}", self.port)
    }
}

/// Looks up the berth owner of a host port (the caller's bookkeeping of published ports).
pub type OwnerLookup<'a> = &'a dyn Fn(Protocol, u16) -> Option<Owner>;

fn bind(protocol: Protocol, addr: SocketAddr) -> Result<OwnedFd, Errno> {
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let kind = match protocol {
        Protocol::Tcp => SockType::Stream,
        Protocol::Udp => SockType::Datagram,
    };
    let fd = socket::socket(family, kind, SockFlag::SOCK_CLOEXEC, None)?;
    if addr.is_ipv6() {
        // The IPv4 half is reserved by its own socket.
        socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
        if protocol == Protocol::Tcp {
            // This one listens when proxied, and the proxy's side of connections that it
            // closed first lingers in TIME_WAIT, which would keep a restarting container
            // from taking its port back. A listening socket still keeps everyone else off
            // the port; the non-listening IPv4 halves go without, so no one shares theirs.
            socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
        }
    }
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    Ok(fd)
}

/// The addresses a reservation binds: the given one (`0.0.0.0` is every IPv4 address, as in
/// `0.0.0.0:8080:80`), or both wildcards when no address is given.
fn bind_addresses(host_ip: Option<IpAddr>) -> Vec<IpAddr> {
    match host_ip {
        Some(ip) => vec![ip],
        None => vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ],
    }
}

/// Takes `port` on `host_ip` (all addresses when `None`) for as long as the reservation lives.
/// A port held by anyone else is [`PortError::Taken`], naming the owner `owner_of` reports.
pub fn reserve(
    protocol: Protocol,
    host_ip: Option<IpAddr>,
    port: u16,
    owner_of: OwnerLookup<'_>,
) -> Result<PortReservation, PortError> {
    let shown = host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let mut sockets = Vec::new();
    for ip in bind_addresses(host_ip) {
        match bind(protocol, SocketAddr::new(ip, port)) {
            Ok(fd) => sockets.push(fd),
            Err(Errno::EADDRINUSE) | Err(Errno::EACCES) if port != 0 => {
                return Err(PortError::Taken {
                    protocol,
                    host_ip: shown,
                    port,
                    owner: owner_of(protocol, port),
                });
            }
            // A host without IPv6 cannot have the IPv6 half taken either.
            Err(Errno::EAFNOSUPPORT) | Err(Errno::EADDRNOTAVAIL)
                if host_ip.is_none() && ip.is_ipv6() => {}
            Err(e) => {
                return Err(PortError::Address {
                    host_ip: ip,
                    source: io::Error::from(e),
                });
            }
        }
    }
    Ok(PortReservation::new(protocol, port, sockets))
}

/// Whether `port` is free; the same rules and error as [`reserve`], without holding it.
pub fn check_free(
    protocol: Protocol,
    host_ip: Option<IpAddr>,
    port: u16,
    owner_of: OwnerLookup<'_>,
) -> Result<(), PortError> {
    reserve(protocol, host_ip, port, owner_of).map(drop)
}

/// Reserves the first free port of `range` (a published range such as `8000-8010:80` picks one).
pub fn reserve_in_range(
    protocol: Protocol,
    host_ip: Option<IpAddr>,
    range: RangeInclusive<u16>,
    owner_of: OwnerLookup<'_>,
) -> Result<PortReservation, PortError> {
    for port in range.clone() {
        match reserve(protocol, host_ip, port, owner_of) {
            Ok(r) => return Ok(r),
            Err(PortError::Taken { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(PortError::Exhausted {
        protocol,
        host_ip: host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        range,
    })
}

/// Reserves a random free port from the kernel's ephemeral range (`ports: ["80"]`).
pub fn reserve_random(
    protocol: Protocol,
    host_ip: Option<IpAddr>,
) -> Result<PortReservation, PortError> {
    let addresses = bind_addresses(host_ip);
    let no_owner = |_: Protocol, _: u16| None;
    // The kernel picks a free port for the first address; the others must take the same one,
    // which can fail when it is used there, so try a few.
    for _ in 0..32 {
        let first = match bind(protocol, SocketAddr::new(addresses[0], 0)) {
            Ok(fd) => fd,
            Err(e) => {
                return Err(PortError::Address {
                    host_ip: addresses[0],
                    source: io::Error::from(e),
                });
            }
        };
        let port = match socket::getsockname::<SockaddrStorage>(first.as_raw_fd()) {
            Ok(addr) => addr
                .as_sockaddr_in()
                .map(|a| a.port())
                .or_else(|| addr.as_sockaddr_in6().map(|a| a.port()))
                .unwrap_or(0),
            Err(e) => {
                return Err(PortError::Address {
                    host_ip: addresses[0],
                    source: io::Error::from(e),
                });
            }
        };
        if port == 0 {
            continue;
        }
        let rest = addresses[1..]
            .iter()
            .map(|ip| reserve(protocol, Some(*ip), port, &no_owner))
            .collect::<Result<Vec<_>, _>>();
        match rest {
            Ok(rest) => {
                let mut sockets = vec![first];
                sockets.extend(
                    rest.into_iter()
                        .flat_map(|mut r| std::mem::take(&mut r.sockets)),
                );
                return Ok(PortReservation::new(protocol, port, sockets));
            }
            Err(PortError::Taken { .. }) => continue,
            // No IPv6 on this host: the IPv4 port alone is the reservation.
            Err(PortError::Address { .. }) if host_ip.is_none() => {
                return Ok(PortReservation::new(protocol, port, vec![first]));
            }
            Err(e) => return Err(e),
        }
    }
    let (low, high) = ephemeral_range();
    Err(PortError::Exhausted {
        protocol,
        host_ip: addresses[0],
        range: low..=high,
    })
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`).
pub fn ephemeral_range() -> (u16, u16) {
    let text =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut parts = text
        .split_whitespace()
        .filter_map(|p| p.parse::<u16>().ok());
    match (parts.next(), parts.next()) {
        (Some(low), Some(high)) if low <= high => (low, high),
        _ => (32768, 60999),
    }
}

/// Pairs host and container ports of `host:container` ranges (`8000-8002:80-82` gives three
/// pairs). A host range with a single container port is not paired here: it means "one free
/// port of the range" ([`reserve_in_range`]).
pub fn pair_ranges(
    host: RangeInclusive<u16>,
    container: RangeInclusive<u16>,
) -> Result<Vec<(u16, u16)>, PortError> {
    let len =
        |r: &RangeInclusive<u16>| u32::from(*r.end()).saturating_sub(u32::from(*r.start())) + 1;
    if host.start() > host.end()
        || container.start() > container.end()
        || len(&host) != len(&container)
    {
        return Err(PortError::RangeMismatch {
            host: format!("{}-{}", host.start(), host.end()),
            container: format!("{}-{}", container.start(), container.end()),
        });
    }
    Ok(host.zip(container).collect())
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, UdpSocket};

    use super::*;

    fn nobody(_: Protocol, _: u16) -> Option<Owner> {
        None
    }

    #[test]
    fn taken_ports_are_reported_with_their_owner() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let local = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let err = check_free(Protocol::Tcp, local, port, &nobody).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("port {port}/tcp on 127.0.0.1 is already in use by another program")
        );
        let owner = |_: Protocol, p: u16| {
            (p == port).then(|| Owner {
                project: "shop".into(),
                service: "web".into(),
            })
        };
        let err = check_free(Protocol::Tcp, None, port, &owner).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "port {port}/tcp on 0.0.0.0 is already in use by project \"shop\" service \"web\""
            )
        );
        // UDP is a different port space.
        check_free(Protocol::Udp, local, port, &nobody).unwrap();
    }

    #[test]
    fn reservations_hold_ports_until_dropped() {
        let r = reserve_random(Protocol::Udp, Some(IpAddr::V4(Ipv4Addr::LOCALHOST))).unwrap();
        let (low, high) = ephemeral_range();
        assert!((low..=high).contains(&r.port));
        assert!(UdpSocket::bind(("127.0.0.1", r.port)).is_err());
        let port = r.port;
        drop(r);
        UdpSocket::bind(("127.0.0.1", port)).unwrap();

        let all = reserve_random(Protocol::Tcp, None).unwrap();
        // Held on every address: a specific bind conflicts, and so does another reservation.
        assert!(TcpListener::bind(("127.0.0.1", all.port)).is_err());
        assert!(matches!(
            reserve(Protocol::Tcp, None, all.port, &nobody),
            Err(PortError::Taken { .. })
        ));
        // Not listening: connecting is refused rather than hanging.
        assert!(std::net::TcpStream::connect(("127.0.0.1", all.port)).is_err());
    }

    #[test]
    fn ranges() {
        let held = reserve_random(Protocol::Tcp, Some(IpAddr::V4(Ipv4Addr::LOCALHOST))).unwrap();
        let start = held.port;
        let next = reserve_in_range(
            Protocol::Tcp,
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            start..=start.saturating_add(20),
            &nobody,
        )
        .unwrap();
        assert!(next.port > start);
        let err = reserve_in_range(
            Protocol::Tcp,
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            start..=start,
            &nobody,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("no free tcp port on 127.0.0.1 in {start}-{start}")),
            "{err}"
        );
        assert_eq!(
            pair_ranges(8000..=8002, 80..=82).unwrap(),
            vec![(8000, 80), (8001, 81), (8002, 82)]
        );
        assert!(
            pair_ranges(8000..=8002, 80..=80)
                .unwrap_err()
                .to_string()
                .contains("different lengths")
        );
        let bad = reserve(
            Protocol::Tcp,
            Some("192.0.2.200".parse().unwrap()),
            80,
            &nobody,
        )
        .unwrap_err();
        assert!(matches!(bad, PortError::Address { .. }), "{bad}");
    }

    #[test]
    fn a_proxied_port_can_be_taken_again_after_its_connections_closed() {
        let rt = crate::proxy::tests::runtime();
        // The container's side: says goodbye and closes first, so the proxy closes the
        // client's connection first too and its end of it waits in TIME_WAIT.
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in server.incoming() {
                let Ok(mut conn) = conn else { return };
                let _ = std::io::Write::write_all(&mut conn, b"bye");
            }
        });
        let v6 = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let mut held = reserve_random(Protocol::Tcp, v6).unwrap();
        let port = held.port;
        held.proxy_ipv6(target, rt.handle().clone()).unwrap();
        // Held all the same: another program (std sets SO_REUSEADDR too) cannot take it.
        assert!(TcpListener::bind((Ipv6Addr::LOCALHOST, port)).is_err());
        let mut client = std::net::TcpStream::connect((Ipv6Addr::LOCALHOST, port)).unwrap();
        let mut got = String::new();
        std::io::Read::read_to_string(&mut client, &mut got).unwrap();
        assert_eq!(got, "bye");
        drop(client);
        drop(held);
        // What a restarting container does with its port.
        let again = reserve(Protocol::Tcp, v6, port, &nobody).expect("the port is free again");
        drop(again);
        // And a program listening there is still seen.
        let other = TcpListener::bind((Ipv6Addr::LOCALHOST, port)).unwrap();
        let taken = reserve(Protocol::Tcp, v6, port, &nobody).unwrap_err();
        assert!(matches!(taken, PortError::Taken { .. }), "{taken}");
        drop(other);
    }
}
