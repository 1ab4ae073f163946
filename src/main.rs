//! The `berth` command.

mod cli;
mod engine;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Hidden helper entry points (`berth __init ...`) will be dispatched here, before any
    // thread exists (DESIGN.md, invariants of the runtime).
    cli::run()
}
