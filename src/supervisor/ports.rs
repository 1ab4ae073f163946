//! Published ports: while a container runs, the supervisor holds its host ports (bound
//! sockets, see `berth_network::ports`), so that no other program can take them, and a port
//! that is taken fails the start with an error naming its berth owner when there is one.
//! The IPv6 half of a TCP port also proxies what the kernel cannot forward
//! (`berth_network::proxy`).

use crate::engine::labels;
use crate::engine::state::{ContainerRecord, StateRoot};
use anyhow::{Result, bail};
use berth_network::firewall::Protocol;
use berth_network::ports::{self, Owner, PortReservation};
use std::net::SocketAddr;

fn protocol(text: &str) -> Option<Protocol> {
    match text.to_ascii_lowercase().as_str() {
        "tcp" | "" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        _ => None,
    }
}

/// Reserves every published port of `record`.
pub fn reserve_all(state: &StateRoot, record: &ContainerRecord) -> Result<Vec<PortReservation>> {
    let owner_of = |proto: Protocol, port: u16| owner(state, &record.id, proto, port);
    // IPv6 that the kernel cannot forward (`[::1]`, or no IPv6 in the container) is proxied,
    // to the address the firewall forwards IPv4 to.
    let proxied_to = (record.endpoints.iter().find_map(|e| e.ipv4))
        .or_else(|| record.endpoints.iter().find_map(|e| e.ipv6));
    let mut held = Vec::new();
    for p in &record.ports {
        if p.host_port == 0 {
            continue;
        }
        let Some(proto) = protocol(&p.protocol) else {
            bail!(
                "container {}: unknown protocol {:?} for port {}",
                record.name,
                p.protocol,
                p.host_port
            );
        };
        let mut reservation = ports::reserve(proto, p.host_ip, p.host_port, &owner_of)?;
        if let (Some(ip), Ok(runtime)) = (proxied_to, tokio::runtime::Handle::try_current()) {
            let target = SocketAddr::new(ip, p.container_port);
            if let Err(e) = reservation.proxy_ipv6(target, runtime) {
                tracing::warn!(container = %record.name, port = p.host_port, "no IPv6 proxy: {e}");
            }
        }
        held.push(reservation);
    }
    Ok(held)
}

/// The project and service of another container that publishes `port` and runs (a stopped
/// one holds nothing: then another program does).
fn owner(state: &StateRoot, except: &str, proto: Protocol, port: u16) -> Option<Owner> {
    let listing = state.containers().ok()?;
    listing.records.into_iter().find_map(|r| {
        let publishes = r
            .ports
            .iter()
            .any(|p| p.host_port == port && protocol(&p.protocol) == Some(proto));
        let runs = r.status.state.is_active();
        (r.id != except && publishes && runs).then(|| Owner {
            project: r.project().unwrap_or_default().to_string(),
            service: r.labels.get(labels::SERVICE).cloned().unwrap_or_default(),
        })
    })
}
