//! Containers: berth's own runtime, from an OCI runtime spec and a root filesystem to a running,
//! isolated process.
//!
//! [`Runtime::create`] validates the spec, creates the container's cgroup and starts a helper:
//! this very program re-executed with a hidden entry point (`berth __init`), which
//! [`dispatch_helper`] runs before anything else in `main`, while the process has a single
//! thread. The helper makes the namespaces and clones the container's init, which sets up the
//! filesystem and identity and waits for [`Container::start`]. Exec works the same way
//! (`berth __exec`). The runtime never forks itself to run Rust code in the child.
//!
//! One kernel concept per module: [`namespaces`], [`rootfs`], [`process`], [`capabilities`],
//! [`seccomp`], [`cgroups`], [`sysctl`]; [`syscall`] is the seam every system call goes through
//! (with a recording fake for tests).

pub mod capabilities;
pub mod cgroups;
pub mod channel;
pub mod defaults;
pub mod error;
pub mod exec;
pub mod handle;
pub mod init;
pub mod lifecycle;
pub mod namespaces;
pub mod observe;
pub mod process;
pub mod rootfs;
pub mod runtime;
pub mod seccomp;
pub mod state;
pub mod stdio;
pub mod syscall;
pub mod sysctl;

pub use error::ContainerError;
pub use exec::ExecProcess;
pub use handle::Exit;
pub use lifecycle::{Container, ExitStatus, Stopped};
pub use observe::{NetStats, ProcessInfo, Stats};
pub use runtime::{CreateOptions, Runtime};
pub use state::Status;
pub use stdio::{ProcessIo, Stdio};

/// Runs a hidden helper entry point when this process was started as one (`PROGRAM __init`,
/// `PROGRAM __exec`), and returns its exit code; `None` for any other command line.
///
/// Call it first thing in `main`, before any thread or async runtime exists: the helper clones
/// itself into the container, which is only safe in a single-threaded process.
pub fn dispatch_helper() -> Option<i32> {
    let arg = std::env::args_os().nth(1)?;
    match arg.to_str()? {
        "__init" => Some(init::helper_init()),
        "__exec" => Some(exec::helper_exec()),
        _ => None,
    }
}
