//! berth-runtime: images (references, digests, layer unpacking) and containers (an OCI
//! runtime spec plus a root filesystem become an isolated process: [`container`]).
//!
//! This crate never depends on the compose model: it takes its own small spec types.

pub mod container;
pub mod image;
