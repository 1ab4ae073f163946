//! Building image layers, configurations, manifests and indexes in memory, and pushing them to
//! a registry with `oci-client`.

use std::io::Write;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use sha2::Digest as _;

/// The SHA-256 digest of `data` as `sha256:<hex>`.
pub fn sha256(data: &[u8]) -> String {
    let hash = sha2::Sha256::digest(data);
    let mut text = String::from("sha256:");
    for byte in hash {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compress {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

/// Manifest flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OCI media types.
    Oci,
    /// Docker schema 2 media types.
    Docker,
}

/// A finished layer blob.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The (compressed) blob.
    pub blob: Vec<u8>,
    /// Its digest.
    pub digest: String,
    /// The digest of the uncompressed tar.
    pub diff_id: String,
    /// How it is compressed.
    pub compression: Compress,
}

/// One entry of a layer, as data: used both to build the tar and to compute the tree that
/// stacking the layers must give.
#[derive(Clone, Debug)]
pub enum Entry {
    /// A directory with a mode.
    Dir(String, u32),
    /// A regular file with content and mode.
    File(String, Vec<u8>, u32),
    /// A symbolic link and its target.
    Symlink(String, String),
    /// A whiteout deleting the path from lower layers.
    Whiteout(String),
    /// An opaque marker on a directory.
    Opaque(String),
}

/// A layer tarball under construction.
pub struct LayerBuilder {
    builder: tar::Builder<Vec<u8>>,
}

const MTIME: u64 = 1_700_000_000;

impl Default for LayerBuilder {
    fn default() -> Self {
        LayerBuilder::new()
    }
}

impl LayerBuilder {
    /// An empty layer.
    pub fn new() -> LayerBuilder {
        let mut builder = tar::Builder::new(Vec::new());
        builder.mode(tar::HeaderMode::Deterministic);
        LayerBuilder { builder }
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(MTIME);
        header.set_size(size);
        header
    }

    /// A directory.
    pub fn dir(mut self, path: &str, mode: u32) -> LayerBuilder {
        let mut header = Self::header(tar::EntryType::Directory, mode, 0);
        self.builder
            .append_data(&mut header, path, std::io::empty())
            .expect("tar directory");
        self
    }

    /// A regular file.
    pub fn file(mut self, path: &str, data: &[u8], mode: u32) -> LayerBuilder {
        let mut header = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        self.builder
            .append_data(&mut header, path, data)
            .expect("tar file");
        self
    }

    /// A symbolic link.
    pub fn symlink(mut self, path: &str, target: &str) -> LayerBuilder {
        let mut header = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.builder
            .append_link(&mut header, path, target)
            .expect("tar symlink");
        self
    }

    /// An AUFS whiteout deleting `path` from lower layers.
    pub fn whiteout(self, path: &str) -> LayerBuilder {
        let (dir, name) = match path.rsplit_once('/') {
            Some((dir, name)) => (format!("{dir}/"), name),
            None => (String::new(), path),
        };
        self.file(&format!("{dir}.wh.{name}"), b"", 0o644)
    }

    /// An opaque marker: `dir` hides everything lower layers put in it.
    pub fn opaque(self, dir: &str) -> LayerBuilder {
        self.file(&format!("{dir}/.wh..wh..opq"), b"", 0o644)
    }

    /// Adds entries.
    pub fn entries(mut self, entries: &[Entry]) -> LayerBuilder {
        for entry in entries {
            self = match entry {
                Entry::Dir(path, mode) => self.dir(path, *mode),
                Entry::File(path, data, mode) => self.file(path, data, *mode),
                Entry::Symlink(path, target) => self.symlink(path, target),
                Entry::Whiteout(path) => self.whiteout(path),
                Entry::Opaque(path) => self.opaque(path),
            };
        }
        self
    }

    /// The layer, compressed.
    pub fn finish(self, compression: Compress) -> Layer {
        let tar = self.builder.into_inner().expect("tar finish");
        let diff_id = sha256(&tar);
        let blob = match compression {
            Compress::None => tar,
            Compress::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder.write_all(&tar).expect("gzip");
                encoder.finish().expect("gzip")
            }
            Compress::Zstd => zstd::encode_all(&tar[..], 3).expect("zstd"),
        };
        Layer {
            digest: sha256(&blob),
            blob,
            diff_id,
            compression,
        }
    }
}

/// A complete image: configuration, layers and manifest.
#[derive(Clone, Debug)]
pub struct TestImage {
    /// Layers, lowest first.
    pub layers: Vec<Layer>,
    /// The configuration document.
    pub config: Vec<u8>,
    /// Its digest (the image ID).
    pub config_digest: String,
    /// The manifest document.
    pub manifest: Vec<u8>,
    /// Its digest.
    pub manifest_digest: String,
    /// Its media type.
    pub media_type: &'static str,
}

fn layer_media_type(format: Format, compression: Compress) -> &'static str {
    match (format, compression) {
        (Format::Oci, Compress::None) => "application/vnd.oci.image.layer.v1.tar",
        (Format::Oci, Compress::Gzip) => "application/vnd.oci.image.layer.v1.tar+gzip",
        (Format::Oci, Compress::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
        (Format::Docker, Compress::None) => "application/vnd.docker.image.rootfs.diff.tar",
        (Format::Docker, Compress::Gzip) => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        (Format::Docker, Compress::Zstd) => "application/vnd.docker.image.rootfs.diff.tar.zstd",
    }
}

/// Assembles an image for `architecture` with `cmd`.
pub fn build_image(
    layers: Vec<Layer>,
    format: Format,
    architecture: &str,
    cmd: &[&str],
) -> TestImage {
    let run_config = serde_json::json!({
        "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": cmd,
        "WorkingDir": "/",
        "Labels": {"org.berth.test": "yes"}
    });
    build_image_with_config(layers, format, architecture, run_config)
}

/// Assembles an image for `architecture` whose configuration's `config` section (Env, Cmd,
/// Entrypoint, ExposedPorts, StopSignal, ...) is `run_config`.
pub fn build_image_with_config(
    layers: Vec<Layer>,
    format: Format,
    architecture: &str,
    run_config: serde_json::Value,
) -> TestImage {
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
    let config = serde_json::json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": architecture,
        "os": "linux",
        "config": run_config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().map(|_| serde_json::json!({"created_by": "berth test harness"})).collect::<Vec<_>>()
    });
    let config = serde_json::to_vec(&config).expect("config JSON");
    let config_digest = sha256(&config);
    let (media_type, config_type) = match format {
        Format::Oci => (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json",
        ),
        Format::Docker => (
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.container.image.v1+json",
        ),
    };
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": layer_media_type(format, l.compression),
            "digest": l.digest,
            "size": l.blob.len(),
        })).collect::<Vec<_>>()
    });
    let manifest = serde_json::to_vec(&manifest).expect("manifest JSON");
    TestImage {
        manifest_digest: sha256(&manifest),
        manifest,
        config_digest,
        config,
        layers,
        media_type,
    }
}

/// An index of `images` with their `(architecture, variant)`.
pub fn build_index(
    images: &[(&TestImage, &str, Option<&str>)],
    format: Format,
) -> (Vec<u8>, String, &'static str) {
    let media_type = match format {
        Format::Oci => "application/vnd.oci.image.index.v1+json",
        Format::Docker => "application/vnd.docker.distribution.manifest.list.v2+json",
    };
    let mut manifests: Vec<serde_json::Value> = images
        .iter()
        .map(|(image, arch, variant)| {
            let mut platform = serde_json::json!({"architecture": arch, "os": "linux"});
            if let Some(variant) = variant {
                platform["variant"] = serde_json::json!(variant);
            }
            serde_json::json!({
                "mediaType": image.media_type,
                "digest": image.manifest_digest,
                "size": image.manifest.len(),
                "platform": platform,
            })
        })
        .collect();
    // An attestation-like entry that must never be chosen.
    if let Some((first, _, _)) = images.first() {
        manifests.push(serde_json::json!({
            "mediaType": first.media_type,
            "digest": first.manifest_digest,
            "size": first.manifest.len(),
            "platform": {"architecture": "unknown", "os": "unknown"},
        }));
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": manifests,
    }))
    .expect("index JSON");
    let digest = sha256(&index);
    (index, digest, media_type)
}

/// A client for pushing to the local registry.
pub struct Pusher {
    client: Client,
    auth: RegistryAuth,
    host: String,
}

impl Pusher {
    /// Connects to `host` (plain HTTP) with optional basic credentials.
    pub fn new(host: &str, credentials: Option<&(String, String)>) -> Pusher {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::Http,
            use_monolithic_push: true,
            ..ClientConfig::default()
        });
        let auth = match credentials {
            Some((user, password)) => RegistryAuth::Basic(user.clone(), password.clone()),
            None => RegistryAuth::Anonymous,
        };
        Pusher {
            client,
            auth,
            host: host.to_owned(),
        }
    }

    fn reference(&self, repository: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), repository.to_owned(), tag.to_owned())
    }

    /// Pushes an image's blobs and manifest as `repository:tag`.
    pub async fn push_image(&self, repository: &str, tag: &str, image: &TestImage) {
        let reference = self.reference(repository, tag);
        self.client
            .auth(&reference, &self.auth, RegistryOperation::Push)
            .await
            .expect("registry auth for push");
        self.push_blobs(&reference, image).await;
        self.client
            .push_manifest_raw(
                &reference,
                image.manifest.clone(),
                http::HeaderValue::from_static(image.media_type),
            )
            .await
            .expect("pushing the manifest");
    }

    async fn push_blobs(&self, reference: &Reference, image: &TestImage) {
        self.client
            .push_blob(reference, image.config.clone(), &image.config_digest)
            .await
            .expect("pushing the config");
        for layer in &image.layers {
            if !self
                .client
                .blob_exists(reference, &layer.digest)
                .await
                .unwrap_or(false)
            {
                self.client
                    .push_blob(reference, layer.blob.clone(), &layer.digest)
                    .await
                    .expect("pushing a layer");
            }
        }
    }

    /// Pushes several images and an index of them as `repository:tag`.
    pub async fn push_index(
        &self,
        repository: &str,
        tag: &str,
        images: &[(&TestImage, &str, Option<&str>)],
        format: Format,
    ) -> String {
        let reference = self.reference(repository, tag);
        self.client
            .auth(&reference, &self.auth, RegistryOperation::Push)
            .await
            .expect("registry auth for push");
        for (image, _, _) in images {
            self.push_blobs(&reference, image).await;
            let by_digest = Reference::with_digest(
                self.host.clone(),
                repository.to_owned(),
                image.manifest_digest.clone(),
            );
            self.client
                .push_manifest_raw(
                    &by_digest,
                    image.manifest.clone(),
                    http::HeaderValue::from_static(image.media_type),
                )
                .await
                .expect("pushing a platform manifest");
        }
        let (index, digest, media_type) = build_index(images, format);
        self.client
            .push_manifest_raw(
                &reference,
                index,
                http::HeaderValue::from_static(media_type),
            )
            .await
            .expect("pushing the index");
        digest
    }
}
