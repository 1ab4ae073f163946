//! Talking to registries: where to connect ([`config`]: mirrors, plain-HTTP registries), with
//! which credentials ([`auth`]), how to choose a platform ([`platform`]), and the client that
//! fetches manifests and blobs ([`client`], built on `oci-client`).
//!
//! Registry failures become a [`RegistryError`] whose message is one line that names the
//! cause in the user's terms: rejected credentials, missing authentication, an unknown
//! repository or tag, an unreachable registry.

pub mod auth;
pub mod client;
pub mod config;
pub mod platform;

pub use auth::{Credentials, CredentialsError, credentials_for, default_docker_config};
pub use client::{BlobStream, ClientOptions, Endpoint, RegistryClient, endpoints};
pub use config::{ConfigError, Mirror, RegistryConfig};
pub use platform::{Platform, select_manifest};

/// Why a registry request failed. Every message is a single line.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Credentials were sent and refused.
    #[error("authentication failed: {registry} rejected the credentials of user {user:?}")]
    CredentialsRejected {
        /// The registry.
        registry: String,
        /// The user name sent.
        user: String,
    },
    /// The registry wants credentials and none were configured.
    #[error(
        "authentication required: {registry} refused anonymous access and no credentials for it were found{hint} (or the repository does not exist)"
    )]
    AuthenticationRequired {
        /// The registry.
        registry: String,
        /// Where credentials were looked for (` in /root/.docker/config.json`), or nothing.
        hint: String,
    },
    /// The repository does not exist.
    #[error("repository {repository} not found: it does not exist on {registry}")]
    RepositoryNotFound {
        /// The registry.
        registry: String,
        /// The repository (`registry/path`).
        repository: String,
    },
    /// The tag or digest does not exist in the repository.
    #[error("{what} not found in repository {repository}")]
    ManifestNotFound {
        /// The repository.
        repository: String,
        /// `tag "x"` or `manifest sha256:...`.
        what: String,
    },
    /// A blob the manifest names does not exist.
    #[error("blob {digest} not found in repository {repository}")]
    BlobNotFound {
        /// The repository.
        repository: String,
        /// The blob.
        digest: String,
    },
    /// No connection could be made.
    #[error("registry {registry} is unreachable: {reason}")]
    Unreachable {
        /// The registry.
        registry: String,
        /// The system's reason (connection refused, no such host, timeout).
        reason: String,
    },
    /// A transfer broke off.
    #[error("transfer from {registry} interrupted: {reason}")]
    Interrupted {
        /// The registry.
        registry: String,
        /// The reason.
        reason: String,
    },
    /// The registry limits requests.
    #[error("{registry} refused the request: too many requests ({message})")]
    RateLimited {
        /// The registry.
        registry: String,
        /// Its message.
        message: String,
    },
    /// Anything else the registry answered that makes no sense for a pull.
    #[error("unexpected answer from {registry}: {reason}")]
    Protocol {
        /// The registry.
        registry: String,
        /// What it answered.
        reason: String,
    },
    /// The credentials could not be read.
    #[error("{0}")]
    Credentials(#[from] CredentialsError),
}

impl RegistryError {
    /// Whether trying again (resuming) may help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RegistryError::Unreachable { .. } | RegistryError::Interrupted { .. }
        )
    }
}

/// Makes a message fit on one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
