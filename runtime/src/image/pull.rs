//! Pulling an image from a registry into the store.
//!
//! The manifest is resolved first (through mirrors for Docker Hub images, then the registry;
//! a multi-platform index is resolved to the host's or the requested platform), then the
//! configuration and the layers: layers already unpacked are skipped, the others are downloaded
//! concurrently, verified against their digests and unpacked (each on a blocking thread, so
//! that unpacking one layer overlaps downloading the next). Interrupted downloads are resumed
//! with range requests, within the pull (a few retries) and by the next pull (the partial file
//! stays in the store). Only when everything is in place is the image named in the index.
//!
//! Mirrors are only consulted for the manifest: the endpoint that serves it also serves the
//! configuration and the layers.
//!
//! Progress is reported through a callback as [`PullEvent`]s: per layer, bytes done and total.

mod policy;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};

pub use policy::{LocalImage, PullAction, PullPolicy, PullPolicyError, decide};

use crate::image::digest::Digest;
use crate::image::reference::Reference;
use crate::image::registry::client::ManifestTarget;
use crate::image::registry::platform::available_platforms;
use crate::image::registry::{
    ClientOptions, Credentials, Platform, RegistryClient, RegistryConfig, RegistryError,
    credentials_for, default_docker_config, endpoints, select_manifest,
};
use crate::image::store::oci::{self, Descriptor, DocumentKind, ImageConfig, Index, Manifest};
use crate::image::store::{ImageLayer, NewImage, Store, StoreError, pair_layers};
use crate::image::unpack::Compression;

/// How to pull.
#[derive(Clone, Debug)]
pub struct PullOptions {
    /// The platform to pull from a multi-platform image; the host's when `None`.
    pub platform: Option<Platform>,
    /// Mirrors and plain-HTTP registries; commands read them with [`RegistryConfig::load`]
    /// (`/etc/berth/config.toml` or `$BERTH_CONFIG`).
    pub registry_config: RegistryConfig,
    /// The Docker client configuration with credentials; `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json` when `None`.
    pub docker_config: Option<PathBuf>,
    /// Layers downloaded at once.
    pub max_concurrent_downloads: usize,
    /// How often an interrupted blob download is resumed within one pull.
    pub retries: u32,
    /// Pause before the first retry (doubling after each).
    pub retry_delay: Duration,
    /// Connection settings.
    pub client: ClientOptions,
}

impl Default for PullOptions {
    fn default() -> PullOptions {
        PullOptions {
            platform: None,
            registry_config: RegistryConfig::default(),
            docker_config: None,
            max_concurrent_downloads: 3,
            retries: 3,
            retry_delay: Duration::from_millis(500),
            client: ClientOptions::default(),
        }
    }
}

/// What is happening to one layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerState {
    /// Already in the store: nothing to do.
    AlreadyExists,
    /// Queued behind other downloads.
    Waiting,
    /// Bytes are arriving.
    Downloading,
    /// A download continues from an earlier attempt's partial file at `from` bytes.
    Resuming {
        /// Where the download continues.
        from: u64,
    },
    /// The transfer broke off; trying again.
    Retrying {
        /// Which retry this is (1-based).
        attempt: u32,
        /// Why the previous attempt stopped.
        reason: String,
    },
    /// Downloaded and verified.
    Downloaded,
    /// Being unpacked.
    Extracting,
    /// Unpacked: the layer is complete.
    Complete,
}

/// A progress report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullEvent {
    /// The manifest was resolved.
    Resolved {
        /// The image as given (short form).
        image: String,
        /// The digest of the manifest or index the reference resolved to.
        digest: Digest,
        /// How many layers the image has.
        layers: usize,
    },
    /// A layer changed state or made progress.
    Layer {
        /// The layer's blob digest.
        digest: Digest,
        /// What is happening.
        state: LayerState,
        /// Bytes downloaded so far.
        done: u64,
        /// The blob's size.
        total: u64,
    },
    /// The image is in the store.
    Complete {
        /// The image ID.
        id: String,
    },
}

/// The result of a pull.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PulledImage {
    /// The image ID (configuration digest).
    pub id: String,
    /// The digest the reference resolved to (index or manifest), as in `name@digest`.
    pub digest: Digest,
    /// The platform manifest's digest.
    pub manifest: Digest,
    /// The canonical reference pulled.
    pub reference: String,
    /// Whether any layer had to be downloaded (false: the image was up to date).
    pub downloaded: bool,
}

/// Why a pull failed: the image and the cause, on one line.
#[derive(Debug, thiserror::Error)]
#[error("cannot pull {image}: {cause}")]
pub struct PullError {
    /// The image as the user named it (short form).
    pub image: String,
    /// What went wrong.
    pub cause: PullFailure,
}

/// The cause of a failed pull.
#[derive(Debug, thiserror::Error)]
pub enum PullFailure {
    /// The registry refused or could not be reached.
    #[error("{0}")]
    Registry(#[from] RegistryError),
    /// The store could not take the content (or it failed verification).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The image has no manifest for the platform.
    #[error("no manifest for platform {wanted} (the image offers: {})", available.join(", "))]
    Platform {
        /// The platform asked for.
        wanted: Platform,
        /// What the index offers.
        available: Vec<String>,
    },
    /// The registry's documents are not a usable image.
    #[error("{0}")]
    Invalid(String),
    /// A background task failed.
    #[error("internal error: {0}")]
    Task(String),
}

/// The progress callback type.
pub type Progress<'a> = &'a (dyn Fn(&PullEvent) + Send + Sync);

/// Pulls `reference` into `store`, reporting progress to `progress`.
pub async fn pull(
    store: &Store,
    reference: &Reference,
    options: &PullOptions,
    progress: Progress<'_>,
) -> Result<PulledImage, PullError> {
    let image = reference.familiar();
    pull_inner(store, reference, options, progress)
        .await
        .map_err(|cause| PullError { image, cause })
}

/// Runs blocking work (file locks, hashing, unpacking) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, PullFailure> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(PullFailure::Store),
        Err(error) => Err(PullFailure::Task(error.to_string())),
    }
}

async fn pull_inner(
    store: &Store,
    reference: &Reference,
    options: &PullOptions,
    progress: Progress<'_>,
) -> Result<PulledImage, PullFailure> {
    let guard_store = store.clone();
    let _content_guard = blocking(move || guard_store.content_guard()).await?;
    let wanted = options.platform.clone().unwrap_or_else(Platform::host);
    let (client, resolved) = resolve(reference, options, &wanted).await?;

    let top_digest = resolved.top_digest.clone();
    let manifest_digest = resolved.manifest_digest.clone();
    let manifest = resolved.manifest.clone();
    {
        let store = store.clone();
        blocking(move || {
            if let Some((digest, body)) = &resolved.index {
                store.write_blob(digest, body)?;
            }
            store.write_blob(&resolved.manifest_digest, &resolved.manifest_body)
        })
        .await?;
    }
    progress(&PullEvent::Resolved {
        image: reference.familiar(),
        digest: top_digest.clone(),
        layers: manifest.layers.len(),
    });

    let config = fetch_config(store, &client, &manifest.config).await?;
    let layers = pair_layers(&manifest_digest.to_string(), &manifest, &config)?;
    let client = Arc::new(client);
    let downloaded = stream::iter(layers.into_iter().map(|layer| {
        let client = Arc::clone(&client);
        async move { ensure_layer(store, &client, layer, options, progress).await }
    }))
    .buffer_unordered(options.max_concurrent_downloads.max(1))
    .try_fold(false, |any, fetched| async move { Ok(any || fetched) })
    .await?;

    let tags = if reference.digest().is_none() {
        vec![reference.clone()]
    } else {
        Vec::new()
    };
    let new = NewImage {
        manifest: manifest_digest.clone(),
        repo_digest: Some(format!("{}@{top_digest}", reference.name())),
        tags,
        pulled: true,
    };
    let record = {
        let store = store.clone();
        blocking(move || store.record_image(new)).await?
    };
    progress(&PullEvent::Complete {
        id: record.id.clone(),
    });
    Ok(PulledImage {
        id: record.id,
        digest: top_digest,
        manifest: manifest_digest,
        reference: reference.to_string(),
        downloaded,
    })
}

/// A manifest resolved for one platform.
struct Resolved {
    /// What the reference points at (an index or the manifest).
    top_digest: Digest,
    /// The index document, when there is one.
    index: Option<(Digest, Vec<u8>)>,
    manifest_digest: Digest,
    manifest_body: Vec<u8>,
    manifest: Manifest,
}

/// Connects to the first endpoint that can serve the manifest (mirrors first) and resolves
/// the reference to one platform's manifest.
async fn resolve(
    reference: &Reference,
    options: &PullOptions,
    wanted: &Platform,
) -> Result<(RegistryClient, Resolved), PullFailure> {
    let docker_config = options.docker_config.clone().or_else(default_docker_config);
    let mut client_options = options.client.clone();
    if let Some(path) = &docker_config {
        client_options.credentials_hint = format!(" in {}", path.display());
    }
    let candidates = endpoints(&options.registry_config, reference.domain());
    let count = candidates.len();
    let mut last_error = None;
    for (position, endpoint) in candidates.into_iter().enumerate() {
        let credentials = match &docker_config {
            Some(path) => {
                let (host, path) = (endpoint.host.clone(), path.clone());
                let lookup = if endpoint.mirror {
                    host
                } else {
                    reference.domain().to_owned()
                };
                tokio::task::spawn_blocking(move || credentials_for(&lookup, &path))
                    .await
                    .map_err(|e| PullFailure::Task(e.to_string()))?
                    .map_err(RegistryError::from)?
            }
            None => Credentials::Anonymous,
        };
        let mirror = endpoint.mirror;
        let host = endpoint.host.clone();
        let attempt = async {
            let client =
                RegistryClient::connect(endpoint, reference, &credentials, &client_options).await?;
            let resolved = resolve_on(&client, reference, wanted).await?;
            Ok::<_, PullFailure>((client, resolved))
        };
        match attempt.await {
            Ok(found) => return Ok(found),
            Err(error) if mirror && position + 1 < count => {
                tracing::warn!(mirror = %host, "mirror failed, trying the next source: {error}");
                last_error = Some(error);
            }
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or_else(|| PullFailure::Invalid("no registry endpoint".to_owned())))
}

async fn resolve_on(
    client: &RegistryClient,
    reference: &Reference,
    wanted: &Platform,
) -> Result<Resolved, PullFailure> {
    let target = match reference.digest() {
        Some(digest) => ManifestTarget::Digest(digest.clone()),
        None => ManifestTarget::Tag(reference.tag().unwrap_or("latest").to_owned()),
    };
    let (body, digest) = client.fetch_manifest(&target).await?;
    match oci::classify(None, &body).map_err(PullFailure::Invalid)? {
        DocumentKind::Manifest => Ok(Resolved {
            top_digest: digest.clone(),
            index: None,
            manifest: parse_manifest(&body)?,
            manifest_digest: digest,
            manifest_body: body,
        }),
        DocumentKind::Index => {
            let index: Index = serde_json::from_slice(&body)
                .map_err(|e| PullFailure::Invalid(format!("invalid image index: {e}")))?;
            let Some(entry) = select_manifest(&index, wanted) else {
                return Err(PullFailure::Platform {
                    wanted: wanted.clone(),
                    available: available_platforms(&index),
                });
            };
            let entry_digest = entry
                .digest()
                .map_err(|e| PullFailure::Invalid(format!("image index entry: {e}")))?;
            let (manifest_body, manifest_digest) = client
                .fetch_manifest(&ManifestTarget::Digest(entry_digest))
                .await?;
            if oci::classify(Some(&entry.media_type), &manifest_body)
                .map_err(PullFailure::Invalid)?
                != DocumentKind::Manifest
            {
                return Err(PullFailure::Invalid(
                    "the image index points at another index".to_owned(),
                ));
            }
            Ok(Resolved {
                top_digest: digest.clone(),
                index: Some((digest, body)),
                manifest: parse_manifest(&manifest_body)?,
                manifest_digest,
                manifest_body,
            })
        }
    }
}

fn parse_manifest(body: &[u8]) -> Result<Manifest, PullFailure> {
    let manifest: Manifest = serde_json::from_slice(body)
        .map_err(|e| PullFailure::Invalid(format!("invalid image manifest: {e}")))?;
    if manifest.schema_version != 2 {
        return Err(PullFailure::Invalid(format!(
            "unsupported manifest schema version {}",
            manifest.schema_version
        )));
    }
    for layer in &manifest.layers {
        Compression::from_media_type(&layer.media_type)
            .map_err(|e| PullFailure::Invalid(e.to_string()))?;
        layer
            .digest()
            .map_err(|e| PullFailure::Invalid(format!("layer: {e}")))?;
    }
    manifest
        .config
        .digest()
        .map_err(|e| PullFailure::Invalid(format!("configuration: {e}")))?;
    Ok(manifest)
}

/// Fetches (unless stored) and parses the image configuration.
async fn fetch_config(
    store: &Store,
    client: &RegistryClient,
    descriptor: &Descriptor,
) -> Result<ImageConfig, PullFailure> {
    const MAX_CONFIG_SIZE: u64 = 16 << 20;
    let digest = descriptor
        .digest()
        .map_err(|e| PullFailure::Invalid(format!("configuration: {e}")))?;
    if descriptor.size > MAX_CONFIG_SIZE {
        return Err(PullFailure::Invalid(format!(
            "the image configuration is {} bytes, more than the {MAX_CONFIG_SIZE} allowed",
            descriptor.size
        )));
    }
    if !store.has_blob(&digest) {
        let mut blob = client.fetch_blob(descriptor, 0).await?;
        let mut body = Vec::new();
        while let Some(chunk) = blob.stream.next().await {
            let chunk = chunk.map_err(|e| client.stream_error(&e))?;
            body.extend_from_slice(&chunk);
            if body.len() as u64 > descriptor.size {
                break;
            }
        }
        let store = store.clone();
        let check = digest.clone();
        let size = descriptor.size;
        blocking(move || {
            if body.len() as u64 != size {
                return Err(StoreError::Digest(
                    crate::image::DigestError::SizeMismatch {
                        digest: check,
                        expected: size,
                        actual: body.len() as u64,
                        truncated: false,
                    },
                ));
            }
            store.write_blob(&check, &body)
        })
        .await?;
    }
    let data = store.read_blob(&digest)?;
    serde_json::from_slice(&data)
        .map_err(|e| PullFailure::Invalid(format!("invalid image configuration: {e}")))
}

/// Makes one layer present: downloads its blob unless stored, unpacks it unless unpacked.
/// Returns whether anything was downloaded.
async fn ensure_layer(
    store: &Store,
    client: &RegistryClient,
    layer: ImageLayer,
    options: &PullOptions,
    progress: Progress<'_>,
) -> Result<bool, PullFailure> {
    let digest = layer
        .blob
        .digest()
        .map_err(|e| PullFailure::Invalid(format!("layer: {e}")))?;
    let total = layer.blob.size;
    let event = |state: LayerState, done: u64| {
        progress(&PullEvent::Layer {
            digest: digest.clone(),
            state,
            done,
            total,
        })
    };
    if store.has_layer(&layer.diff_id) && store.has_blob(&digest) {
        event(LayerState::AlreadyExists, total);
        return Ok(false);
    }
    let downloaded = if store.has_blob(&digest) {
        false
    } else {
        event(LayerState::Waiting, 0);
        download_blob(store, client, &layer.blob, &digest, options, &event).await?
    };
    event(LayerState::Extracting, total);
    let compression = Compression::from_media_type(&layer.blob.media_type)
        .map_err(|e| PullFailure::Invalid(e.to_string()))?;
    let (store, diff_id, blob) = (store.clone(), layer.diff_id.clone(), digest.clone());
    blocking(move || store.ensure_layer(&diff_id, &blob, compression)).await?;
    event(LayerState::Complete, total);
    Ok(downloaded)
}

/// Emits a progress event at most every this many bytes.
const PROGRESS_STEP: u64 = 256 * 1024;

/// Downloads one blob into the store, resuming partial content. Returns false when another
/// process stored it meanwhile.
async fn download_blob(
    store: &Store,
    client: &RegistryClient,
    descriptor: &Descriptor,
    digest: &Digest,
    options: &PullOptions,
    event: &(dyn Fn(LayerState, u64) + Send + Sync),
) -> Result<bool, PullFailure> {
    let size = descriptor.size;
    let ingest = {
        let (store, digest) = (store.clone(), digest.clone());
        blocking(move || store.begin_ingest(&digest, size)).await?
    };
    let Some(mut ingest) = ingest else {
        return Ok(false);
    };
    let mut attempt = 0;
    let mut delay = options.retry_delay;
    while ingest.offset() < size {
        let from = ingest.offset();
        let result = async {
            let mut blob = client.fetch_blob(descriptor, from).await?;
            if from > 0 {
                if blob.resumed {
                    event(LayerState::Resuming { from }, from);
                } else {
                    ingest.restart()?;
                }
            }
            let mut reported = ingest.offset();
            while let Some(chunk) = blob.stream.next().await {
                let chunk = chunk.map_err(|e| client.stream_error(&e))?;
                ingest.write(&chunk)?;
                if ingest.offset() >= reported + PROGRESS_STEP || ingest.offset() == size {
                    reported = ingest.offset();
                    event(LayerState::Downloading, reported);
                }
            }
            if ingest.offset() < size {
                return Err(PullFailure::Registry(RegistryError::Interrupted {
                    registry: client.endpoint().host.clone(),
                    reason: format!(
                        "the connection closed after {} of {size} bytes",
                        ingest.offset()
                    ),
                }));
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {}
            Err(PullFailure::Registry(error))
                if error.is_transient() && attempt < options.retries =>
            {
                attempt += 1;
                event(
                    LayerState::Retrying {
                        attempt,
                        reason: error.to_string(),
                    },
                    ingest.offset(),
                );
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
            Err(error) => {
                ingest.keep_for_resume();
                return Err(error);
            }
        }
    }
    blocking(move || ingest.commit()).await?;
    event(LayerState::Downloaded, size);
    Ok(true)
}
