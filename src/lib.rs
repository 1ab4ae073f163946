//! berth: a daemonless, Compose-compatible multi-container orchestrator.
//!
//! The binary's library half: the engine that turns a loaded project and the state observed
//! on the machine into plans and actions, and the command line that drives it. The crates
//! `berth-compose`, `berth-runtime`, `berth-network` and `berth-volumes` never know each
//! other; only this engine does.

pub mod cli;
pub mod engine;
pub mod supervisor;
