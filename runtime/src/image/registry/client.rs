//! A connection to one registry endpoint for one repository, on top of `oci-client`: the
//! authentication handshake (anonymous bearer tokens, or basic credentials), manifest fetches
//! and blob streams that start at an offset (HTTP range requests) to resume a download.

use std::io;
use std::time::Duration;

use futures_util::stream::BoxStream;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{RegistryOperation, client::BlobResponse};

use super::auth::Credentials;
use super::config::RegistryConfig;
use super::{RegistryError, one_line};
use crate::image::digest::{Algorithm, Digest};
use crate::image::reference::Reference;
use crate::image::store::oci::{Descriptor, MANIFEST_TYPES};

/// Where requests for an image go: the registry itself, or a mirror of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` to connect to.
    pub host: String,
    /// Plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// Whether this is a mirror (its failures fall through to the next endpoint).
    pub mirror: bool,
}

/// The endpoints to try for images of `domain`, in order: configured mirrors (for Docker
/// Hub), then the registry itself. With a default registry, Docker Hub images have that one
/// endpoint only: nothing else is contacted (or even looked up) for them.
pub fn endpoints(config: &RegistryConfig, domain: &str) -> Vec<Endpoint> {
    if let Some(replacement) = config.replacement_for(domain) {
        // A mirror endpoint: requests name the repository as on Docker Hub.
        return vec![Endpoint {
            host: replacement.host.clone(),
            plain_http: replacement.plain_http || config.is_plain_http(&replacement.host),
            mirror: true,
        }];
    }
    let mut list: Vec<Endpoint> = config
        .mirrors_for(domain)
        .iter()
        .map(|mirror| Endpoint {
            host: mirror.host.clone(),
            plain_http: mirror.plain_http || config.is_plain_http(&mirror.host),
            mirror: true,
        })
        .collect();
    list.push(Endpoint {
        host: domain.to_owned(),
        plain_http: config.is_plain_http(domain),
        mirror: false,
    });
    list
}

/// Connection settings.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// How long a read may stall before the transfer counts as interrupted.
    pub read_timeout: Duration,
    /// Shown in messages about missing credentials (` in <path>`).
    pub credentials_hint: String,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            credentials_hint: String::new(),
        }
    }
}

/// A blob download in progress.
pub struct BlobStream {
    /// Whether the registry honoured the range request (the stream starts at the offset asked
    /// for); otherwise it starts at byte 0.
    pub resumed: bool,
    /// The bytes.
    pub stream: BoxStream<'static, Result<bytes::Bytes, io::Error>>,
}

/// A client for one repository on one endpoint, authenticated.
pub struct RegistryClient {
    client: oci_client::Client,
    reference: oci_client::Reference,
    auth: RegistryAuth,
    endpoint: Endpoint,
    /// The repository as users name it (`127.0.0.1:5000/app`), for messages.
    repository: String,
    user: Option<String>,
    hint: String,
}

impl RegistryClient {
    /// Connects to `endpoint` for the repository of `image` and authenticates: an anonymous
    /// token when the registry hands them out, or `credentials`.
    pub async fn connect(
        endpoint: Endpoint,
        image: &Reference,
        credentials: &Credentials,
        options: &ClientOptions,
    ) -> Result<RegistryClient, RegistryError> {
        install_crypto_provider();
        let config = ClientConfig {
            protocol: if endpoint.plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            // Berth resolves indexes itself (it needs the index document too).
            platform_resolver: None,
            connect_timeout: Some(options.connect_timeout),
            read_timeout: Some(options.read_timeout),
            user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client =
            oci_client::Client::try_from(config).map_err(|error| RegistryError::Protocol {
                registry: endpoint.host.clone(),
                reason: one_line(&error.to_string()),
            })?;
        let mut reference = oci_client::Reference::with_tag(
            image.domain().to_owned(),
            image.path().to_owned(),
            image.tag().unwrap_or("latest").to_owned(),
        );
        if endpoint.mirror {
            reference.set_mirror_registry(endpoint.host.clone());
        }
        let auth = match credentials {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
        };
        let this = RegistryClient {
            client,
            reference,
            auth,
            repository: image.name(),
            user: credentials.username().map(str::to_owned),
            hint: options.credentials_hint.clone(),
            endpoint,
        };
        this.client
            .auth(&this.reference, &this.auth, RegistryOperation::Pull)
            .await
            .map_err(|error| this.classify(error, None))?;
        Ok(this)
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Fetches a manifest or index by tag or digest and verifies it: against the digest asked
    /// for, and against the digest the registry announces. Returns the document and its digest.
    pub async fn fetch_manifest(
        &self,
        target: &ManifestTarget,
    ) -> Result<(Vec<u8>, Digest), RegistryError> {
        let reference = self.target_reference(target);
        let (body, _announced) = match self
            .client
            .pull_manifest_raw(&reference, &self.auth, MANIFEST_TYPES)
            .await
        {
            Ok(found) => found,
            Err(error) => {
                return Err(self
                    .explain_missing(self.classify(error, Some(target)))
                    .await);
            }
        };
        let algorithm = match target {
            ManifestTarget::Digest(digest) => digest.algorithm(),
            ManifestTarget::Tag(_) => Algorithm::Sha256,
        };
        let actual = Digest::of_bytes(algorithm, &body);
        if let ManifestTarget::Digest(expected) = target
            && &actual != expected
        {
            return Err(RegistryError::Protocol {
                registry: self.endpoint.host.clone(),
                reason: format!("manifest {expected} has digest {actual}"),
            });
        }
        Ok((body.to_vec(), actual))
    }

    /// Registries answer "manifest unknown" both for a missing tag and for a missing
    /// repository; listing the repository's tags tells the two apart.
    async fn explain_missing(&self, error: RegistryError) -> RegistryError {
        if !matches!(error, RegistryError::ManifestNotFound { .. }) {
            return error;
        }
        match self
            .client
            .list_tags(&self.reference, &self.auth, Some(1), None)
            .await
        {
            Err(probe) => match self.classify(probe, None) {
                missing @ RegistryError::RepositoryNotFound { .. } => missing,
                _ => error,
            },
            Ok(_) => error,
        }
    }

    /// Streams blob `descriptor` from byte `offset` (0 for all of it).
    pub async fn fetch_blob(
        &self,
        descriptor: &Descriptor,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        let layer = OciDescriptor {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.clone(),
            size: i64::try_from(descriptor.size).unwrap_or(i64::MAX),
            // Foreign URLs are never followed: berth fetches content from the registry only.
            urls: None,
            ..OciDescriptor::default()
        };
        let blob_error = |error| match self.classify(error, None) {
            RegistryError::ManifestNotFound { .. } => RegistryError::BlobNotFound {
                repository: self.repository.clone(),
                digest: descriptor.digest.clone(),
            },
            other => other,
        };
        if offset == 0 {
            let stream = self
                .client
                .pull_blob_stream(&self.reference, &layer)
                .await
                .map_err(blob_error)?;
            return Ok(BlobStream {
                resumed: false,
                stream: stream.stream,
            });
        }
        match self
            .client
            .pull_blob_stream_partial(&self.reference, &layer, offset, None)
            .await
            .map_err(blob_error)?
        {
            BlobResponse::Partial(stream) => Ok(BlobStream {
                resumed: true,
                stream: stream.stream,
            }),
            BlobResponse::Full(stream) => Ok(BlobStream {
                resumed: false,
                stream: stream.stream,
            }),
        }
    }

    fn target_reference(&self, target: &ManifestTarget) -> oci_client::Reference {
        let mut reference = match target {
            ManifestTarget::Tag(tag) => oci_client::Reference::with_tag(
                self.reference.registry().to_owned(),
                self.reference.repository().to_owned(),
                tag.clone(),
            ),
            ManifestTarget::Digest(digest) => oci_client::Reference::with_digest(
                self.reference.registry().to_owned(),
                self.reference.repository().to_owned(),
                digest.to_string(),
            ),
        };
        if self.endpoint.mirror {
            reference.set_mirror_registry(self.endpoint.host.clone());
        }
        reference
    }

    /// Turns an `oci-client` error into the user's terms.
    fn classify(
        &self,
        error: OciDistributionError,
        target: Option<&ManifestTarget>,
    ) -> RegistryError {
        let registry = self.endpoint.host.clone();
        let not_found = || match target {
            Some(target) => RegistryError::ManifestNotFound {
                repository: self.repository.clone(),
                what: target.to_string(),
            },
            None => RegistryError::ManifestNotFound {
                repository: self.repository.clone(),
                what: "content".to_owned(),
            },
        };
        let unauthorized = || match &self.user {
            Some(user) => RegistryError::CredentialsRejected {
                registry: registry.clone(),
                user: user.clone(),
            },
            None => RegistryError::AuthenticationRequired {
                registry: registry.clone(),
                hint: self.hint.clone(),
            },
        };
        match error {
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => unauthorized(),
            OciDistributionError::RegistryError { envelope, .. } => {
                let Some(first) = envelope.errors.first() else {
                    return RegistryError::Protocol {
                        registry,
                        reason: "an empty error list".to_owned(),
                    };
                };
                match &first.code {
                    OciErrorCode::Unauthorized | OciErrorCode::Denied => unauthorized(),
                    OciErrorCode::NameUnknown => RegistryError::RepositoryNotFound {
                        registry,
                        repository: self.repository.clone(),
                    },
                    OciErrorCode::ManifestUnknown | OciErrorCode::NotFound => not_found(),
                    OciErrorCode::BlobUnknown => RegistryError::BlobNotFound {
                        repository: self.repository.clone(),
                        digest: String::new(),
                    },
                    OciErrorCode::Toomanyrequests => RegistryError::RateLimited {
                        registry,
                        message: one_line(&first.message),
                    },
                    code => RegistryError::Protocol {
                        registry,
                        reason: one_line(&format!("{code:?}: {}", first.message)),
                    },
                }
            }
            OciDistributionError::ServerError { code, message, .. } => match code {
                401 | 403 => unauthorized(),
                404 => not_found(),
                429 => RegistryError::RateLimited {
                    registry,
                    message: one_line(&message),
                },
                _ => RegistryError::Protocol {
                    registry,
                    reason: one_line(&format!("HTTP {code}: {message}")),
                },
            },
            OciDistributionError::RequestError(error) => {
                let reason = root_cause(&error);
                if error.is_connect() || error.is_timeout() {
                    RegistryError::Unreachable { registry, reason }
                } else if error.is_body() || error.is_decode() || error.is_request() {
                    RegistryError::Interrupted { registry, reason }
                } else {
                    RegistryError::Protocol { registry, reason }
                }
            }
            OciDistributionError::IoError(error) => RegistryError::Interrupted {
                registry,
                reason: one_line(&error.to_string()),
            },
            other => RegistryError::Protocol {
                registry,
                reason: one_line(&other.to_string()),
            },
        }
    }

    /// Classifies an error that ended a blob stream.
    pub fn stream_error(&self, error: &io::Error) -> RegistryError {
        RegistryError::Interrupted {
            registry: self.endpoint.host.clone(),
            reason: root_cause(error),
        }
    }
}

/// What manifest to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestTarget {
    /// By tag.
    Tag(String),
    /// By digest.
    Digest(Digest),
}

impl std::fmt::Display for ManifestTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestTarget::Tag(tag) => write!(f, "tag {tag:?}"),
            ManifestTarget::Digest(digest) => write!(f, "manifest {digest}"),
        }
    }
}

/// The innermost message of an error chain ("Connection refused (os error 111)").
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    one_line(&current.to_string())
}

/// rustls needs a process-wide crypto provider; berth uses ring (small to build). Installing
/// twice is harmless: the first one stays.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_come_first_for_docker_hub_only() {
        let config = RegistryConfig::from_toml(
            r#"registry-mirrors = ["http://127.0.0.1:5999", "https://mirror.example"]"#,
        )
        .unwrap();
        let hub = endpoints(&config, "docker.io");
        let hosts: Vec<_> = hub
            .iter()
            .map(|e| (e.host.as_str(), e.plain_http, e.mirror))
            .collect();
        assert_eq!(
            hosts,
            vec![
                ("127.0.0.1:5999", true, true),
                ("mirror.example", false, true),
                ("docker.io", false, false)
            ]
        );
        let other = endpoints(&config, "localhost:5000");
        assert_eq!(other.len(), 1);
        assert!(other[0].plain_http);
    }

    #[test]
    fn a_default_registry_is_the_only_endpoint_for_docker_hub() {
        let config = RegistryConfig::from_toml(
            r#"
            registry-mirrors = ["https://mirror.example"]
            default-registry = "http://127.0.0.1:5999"
            "#,
        )
        .unwrap();
        assert_eq!(
            endpoints(&config, "docker.io"),
            vec![Endpoint {
                host: "127.0.0.1:5999".into(),
                plain_http: true,
                mirror: true,
            }]
        );
        let other = endpoints(&config, "ghcr.io");
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].host, "ghcr.io");
        assert!(!other[0].mirror);
    }
}
