//! berth's networking: per-project bridge networks with IPAM, veth attachment of container
//! network namespaces, NAT/isolation/port publishing with nftables, and a DNS server that
//! answers service and container names.
//!
//! The pure parts (IPAM decisions, the DNS name table, hosts/resolv.conf text, nftables rule
//! generation) are usable and testable without privileges; the plumbing modules talk to the
//! kernel (rtnetlink, netns, nft) and need root.

pub mod bridge;
pub mod dns;
pub mod firewall;
pub mod hosts;
pub mod ipam;
pub mod manager;
pub mod netlink;
pub mod netns;
pub mod ports;
pub mod proxy;
pub mod routes;
pub mod state;
pub mod subnet;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod veth;

pub use manager::{EndpointInfo, EndpointRequest, Error, Networks, Options, TeardownError};
