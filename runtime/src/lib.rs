//! berth-runtime: images (references, digests, layer unpacking) and, later, containers.
//!
//! This crate never depends on the compose model: it takes its own small spec types.

pub mod container;
pub mod image;
