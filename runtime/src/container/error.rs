//! The errors of container operations.

use super::capabilities::CapabilityError;
use super::cgroups::CgroupError;
use super::channel::ChannelError;
use super::namespaces::NamespaceError;
use super::process::ProcessError;
use super::seccomp::SeccompError;
use super::state::Status;
use super::sysctl::SysctlError;

/// Why a container operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// A malformed id.
    #[error(
        "invalid container id {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit"
    )]
    InvalidId(String),
    /// The id is taken.
    #[error("container {0} already exists")]
    Exists(String),
    /// No such container.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// The spec asks for something berth cannot or will not do.
    #[error("invalid spec: {0}")]
    Spec(String),
    /// The operation does not fit the container's status.
    #[error("container {id} is {status}: cannot {action}")]
    WrongStatus {
        /// The container.
        id: String,
        /// Its status.
        status: Status,
        /// What was asked.
        action: &'static str,
    },
    /// Namespaces.
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    /// Process settings.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// Capabilities.
    #[error(transparent)]
    Capability(#[from] CapabilityError),
    /// Sysctls.
    #[error(transparent)]
    Sysctl(#[from] SysctlError),
    /// Seccomp.
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// cgroups.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// The container's init (or an exec helper) reported a failure.
    #[error("container {id}: {message}")]
    Init {
        /// The container.
        id: String,
        /// What the helper said.
        message: String,
    },
    /// Talking to the helper failed.
    #[error("container {id}: helper protocol: {source}")]
    Channel {
        /// The container.
        id: String,
        /// Why.
        source: ChannelError,
    },
    /// A file or process operation of the runtime failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        source: std::io::Error,
    },
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ContainerError {
    let what = what.into();
    move |source| ContainerError::Io { what, source }
}
