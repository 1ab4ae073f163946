//! The pieces of the conformance harness (`tests/conformance.rs`).

pub mod checks;
pub mod images;
pub mod observe;
pub mod report;
pub mod run;
pub mod scenario;
pub mod selftest;
pub mod sweep;
