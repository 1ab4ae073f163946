//! berth's DNS server: service and container names for containers, everything else forwarded.
//!
//! [`table`] is the pure name table (who answers to what, who may ask); the server module is
//! a thin hickory-server socket loop per network on the network's gateway address.

pub mod table;

pub use table::{Answer, Endpoint, Family, NameTable};
