//! The `berth` command.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Hidden helper entry points (`berth __init`, `berth __exec`) run first, while this process
    // has a single thread (DESIGN.md, invariants of the runtime).
    if let Some(code) = berth_runtime::container::dispatch_helper() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    berth::cli::run()
}
