//! The `berth` command.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Hidden helper entry points (`berth __init ...`) will be dispatched here, before any
    // thread exists (DESIGN.md, invariants of the runtime).
    berth::cli::run()
}
