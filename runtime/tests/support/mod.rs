//! Test harness shared by the runtime's tests, the image CLI tests and the benchmarks: a local
//! registry (Debian's `docker-registry`, the CNCF distribution server) on 127.0.0.1, images
//! built here from Debian's `busybox-static` and pushed with `oci-client`, and (in
//! `container.rs`, included by the container tests only) busybox root filesystems and guards.
//!
//! Nothing here talks to anything but loopback.

#![allow(dead_code)]

pub mod busybox;
pub mod image;
pub mod registry;
pub mod token;
pub mod tree;

/// Whether the test may run: `tools` are installed and, with `root`, we are root. When not,
/// the test fails under `BERTH_REQUIRE_PRIVILEGED=1` (CI) and otherwise returns early.
pub fn prerequisites(test: &str, root: bool, tools: &[&str]) -> bool {
    let mut missing = Vec::new();
    if root && !rustix::process::geteuid().is_root() {
        missing.push("root".to_owned());
    }
    for tool in tools {
        if !on_path(tool) {
            missing.push(format!("the `{tool}` command"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let message = format!("{test}: needs {}", missing.join(", "));
    if std::env::var("BERTH_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{message} (BERTH_REQUIRE_PRIVILEGED=1)");
    }
    eprintln!("skipping {message}");
    false
}

/// Whether `tool` is an executable on `PATH`.
pub fn on_path(tool: &str) -> bool {
    which(tool).is_some()
}

/// The path of `tool` on `PATH`.
pub fn which(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| std::fs::metadata(candidate).is_ok_and(|m| m.is_file()))
}

/// A current-thread tokio runtime for one test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Deterministic pseudo-random bytes (xorshift), incompressible enough for large layers.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}
