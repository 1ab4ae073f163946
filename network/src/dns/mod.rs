//! berth's DNS server: service and container names for containers, everything else forwarded.
//!
//! [`table`] is the pure name table (who answers to what, who may ask); the server module is
//! a thin hickory-server socket loop per network on the network's gateway address.

pub mod forward;
pub mod reverse;
pub mod server;
pub mod table;

pub use forward::{ForwardError, Forwarder};
pub use server::{DnsConfig, DnsError, DnsServer, SharedNames};
pub use table::{Answer, Endpoint, Family, NameTable};
