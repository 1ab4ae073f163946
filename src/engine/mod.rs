//! The engine: turns a loaded project into what commands act on and print.

pub mod project_view;
pub mod unsupported;
