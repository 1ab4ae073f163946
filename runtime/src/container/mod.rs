//! Containers: berth's own runtime, from an OCI runtime spec and a root filesystem to a running,
//! isolated process.

pub mod capabilities;
pub mod cgroups;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod syscall;
