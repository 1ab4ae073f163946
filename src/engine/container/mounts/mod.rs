//! A container's mounts: planned from the service (`volumes`, `tmpfs`, `secrets`, `configs`,
//! `volumes_from`) and the image (`VOLUME`s no mount covers), then resolved with side effects
//! through berth-volumes: named volumes mounted and filled from the image once (copy-up),
//! anonymous volumes created, bind sources checked or created, secret and config files
//! written. The result is the neutral [`Mount`] list the spec is built from, plus the
//! [`MountRecord`](crate::engine::state::MountRecord)s of the container's record.

use super::{at, refuse};
use anyhow::Context;
use berth_compose::LoadedProject;
use berth_compose::model::{MountType, ServiceConfig, ServiceFileReference, ServiceVolumeConfig};
use berth_runtime::image::store::oci::ImageConfig;
use berth_volumes::files::{FileKind, FileSource, FileSpec};
use berth_volumes::mounts::{Mount, Origin, Propagation};
use berth_volumes::volumes_from::VolumesFrom;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Where a planned mount's source comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedSource {
    /// A volume of the project or an external one, by its actual name.
    Volume(String),
    /// A new anonymous volume (`- /path`, or an image `VOLUME`).
    Anonymous {
        /// Made for an image `VOLUME` (then a `volumes_from` mount at the same target wins).
        from_image: bool,
    },
    /// A host path (absolute after the loader), created when missing if asked.
    Bind {
        /// The host path.
        path: PathBuf,
        /// `bind.create_host_path`.
        create: bool,
    },
    /// A tmpfs.
    Tmpfs,
    /// A secret or config file to write.
    File(FileSpec),
    /// The content of an image (`type: image`), read-only, from `subpath` of it.
    Image {
        /// The image reference.
        reference: String,
        /// The directory of the image to mount instead of its root.
        subpath: Option<PathBuf>,
    },
}

/// One mount to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMount {
    /// Its source.
    pub source: PlannedSource,
    /// The mount as it will be (target and options; the host path is filled in on resolve).
    pub mount: Mount,
    /// `volume.nocopy`: do not fill a new volume from the image.
    pub nocopy: bool,
    /// `volume.subpath`: the directory of the volume to mount instead of its root.
    pub subpath: Option<PathBuf>,
    /// `volume.labels`, for an anonymous volume.
    pub labels: BTreeMap<String, String>,
}

/// Every mount of a container, before anything is created.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountPlan {
    /// Its own mounts, in the order written (image volumes last).
    pub mounts: Vec<PlannedMount>,
    /// `volumes_from` entries, resolved against other containers' records.
    pub volumes_from: Vec<VolumesFrom>,
}

/// A path in the container, checked: absolute, no `..`.
fn container_path(service: &str, key: &str, target: &str) -> anyhow::Result<PathBuf> {
    let p = Path::new(target);
    if !p.is_absolute() {
        return Err(refuse(
            service,
            key,
            format!("{target:?}: the target must be an absolute path"),
        ));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(refuse(
            service,
            key,
            format!("{target:?}: the target must not contain `..`"),
        ));
    }
    if p == Path::new("/") {
        return Err(refuse(
            service,
            key,
            "a mount cannot replace the container's root",
        ));
    }
    Ok(p.components().collect())
}

/// A relative path inside a volume (`subpath`), checked.
fn sub_path(service: &str, key: &str, sub: &str) -> anyhow::Result<PathBuf> {
    let p = Path::new(sub);
    if p.is_absolute() || p.components().any(|c| c == Component::ParentDir) {
        return Err(refuse(
            service,
            key,
            format!("subpath {sub:?} must be relative and stay inside the volume"),
        ));
    }
    Ok(p.to_path_buf())
}

fn one_volume(
    project: &LoadedProject,
    service: &str,
    v: &ServiceVolumeConfig,
) -> anyhow::Result<PlannedMount> {
    let key = format!("volumes {}", v.target);
    let target = container_path(service, &key, &v.target)?;
    let read_only = v.is_read_only();
    let mut planned = PlannedMount {
        source: PlannedSource::Tmpfs,
        mount: Mount::bind(PathBuf::new(), &target).read_only(read_only),
        nocopy: false,
        subpath: None,
        labels: BTreeMap::new(),
    };
    if let Some(b) = &v.bind {
        if let Some(p) = &b.propagation {
            planned.mount.propagation =
                Some(Propagation::parse(p).with_context(|| at(service, &key))?);
        }
        match b.recursive.as_deref() {
            None | Some("enabled") => {}
            Some("disabled") => planned.mount.recursive = false,
            Some(r @ ("writable" | "readonly")) => {
                return Err(refuse(
                    service,
                    &key,
                    format!("bind.recursive: {r} is not supported by berth"),
                ));
            }
            Some(r) => {
                return Err(refuse(
                    service,
                    &key,
                    format!("bind.recursive: invalid value {r:?}"),
                ));
            }
        }
    }
    match v.kind {
        MountType::Bind => {
            let Some(source) = v.source.as_deref().filter(|s| !s.is_empty()) else {
                return Err(refuse(service, &key, "a bind mount needs a source"));
            };
            let path =
                berth_volumes::binds::resolve_source(&project.working_dir, Path::new(source));
            let create = v.bind.as_ref().is_none_or(|b| b.creates_host_path());
            planned.source = PlannedSource::Bind { path, create };
            planned.mount.origin = Origin::Bind;
        }
        MountType::Volume => {
            if let Some(o) = &v.volume {
                planned.nocopy = o.nocopy == Some(true);
                planned.subpath = o
                    .subpath
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .map(|s| sub_path(service, &key, s))
                    .transpose()?;
                planned.labels = o
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
            }
            match v.source.as_deref().filter(|s| !s.is_empty()) {
                Some(key_name) => {
                    let name = project
                        .project
                        .volumes
                        .get(key_name)
                        .map(|def| {
                            def.name
                                .clone()
                                .unwrap_or_else(|| format!("{}_{key_name}", project.name))
                        })
                        .ok_or_else(|| {
                            refuse(
                                service,
                                &key,
                                format!(
                                    "volume {key_name:?} is not declared in the top-level volumes"
                                ),
                            )
                        })?;
                    planned.source = PlannedSource::Volume(name.clone());
                    planned.mount.origin = Origin::Volume(name);
                }
                None => {
                    if planned.subpath.is_some() {
                        return Err(refuse(service, &key, "an anonymous volume has no subpath"));
                    }
                    planned.source = PlannedSource::Anonymous { from_image: false };
                }
            }
        }
        MountType::Tmpfs => {
            let mut m = Mount::tmpfs(&target).read_only(read_only);
            if let Some(t) = &v.tmpfs {
                if let Some(size) = t.size {
                    m.tmpfs_size =
                        Some(u64::try_from(size.bytes()).map_err(|_| {
                            refuse(service, &key, "tmpfs.size must not be negative")
                        })?);
                }
                m.tmpfs_mode = t.mode;
            }
            planned.mount = m;
            planned.source = PlannedSource::Tmpfs;
        }
        MountType::Image => {
            let Some(reference) = v.source.as_deref().filter(|s| !s.is_empty()) else {
                return Err(refuse(service, &key, "an image mount needs a source image"));
            };
            let subpath = v
                .image
                .as_ref()
                .and_then(|i| i.subpath.as_deref())
                .map(|s| {
                    let p = PathBuf::from(s);
                    if p.components().all(|c| {
                        matches!(
                            c,
                            std::path::Component::Normal(_) | std::path::Component::CurDir
                        )
                    }) {
                        Ok(p)
                    } else {
                        Err(refuse(
                            service,
                            &key,
                            format!("image.subpath {s:?} must stay inside the image"),
                        ))
                    }
                })
                .transpose()?;
            planned.source = PlannedSource::Image {
                reference: reference.to_string(),
                subpath,
            };
            // Image content is never written to.
            planned.mount.read_only = true;
        }
        MountType::Cluster | MountType::Npipe => {
            return Err(refuse(
                service,
                &key,
                "cluster and npipe mounts do not exist on Linux hosts",
            ));
        }
    }
    Ok(planned)
}

fn id_number(service: &str, key: &str, what: &str, v: &Option<String>) -> anyhow::Result<u32> {
    match v.as_deref() {
        None | Some("") => Ok(0),
        Some(s) => s
            .parse()
            .map_err(|_| refuse(service, key, format!("{what} {s:?} must be a number"))),
    }
}

fn file_mount(
    project: &LoadedProject,
    service: &str,
    kind: FileKind,
    r: &ServiceFileReference,
) -> anyhow::Result<PlannedMount> {
    let (section, defs) = match kind {
        FileKind::Secret => ("secrets", &project.project.secrets),
        FileKind::Config => ("configs", &project.project.configs),
    };
    let key = format!("{section} {}", r.source);
    let def = defs.get(&r.source).ok_or_else(|| {
        refuse(
            service,
            &key,
            format!("not declared in the top-level {section}"),
        )
    })?;
    if def.is_external() {
        return Err(refuse(
            service,
            &key,
            "external secrets and configs belong to Swarm and are not supported",
        ));
    }
    let source = if let Some(file) = &def.file {
        FileSource::File(berth_volumes::binds::resolve_source(
            &project.working_dir,
            Path::new(file),
        ))
    } else if let Some(var) = &def.environment {
        FileSource::Environment {
            variable: var.clone(),
            value: project.environment.get(var).cloned(),
        }
    } else if let Some(content) = &def.content {
        FileSource::Content(content.clone().into_bytes())
    } else {
        return Err(refuse(
            service,
            &key,
            "it has no file, environment or content",
        ));
    };
    let spec = FileSpec {
        kind,
        name: r.source.clone(),
        source,
        target: r
            .target
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(PathBuf::from),
        uid: id_number(service, &key, "uid", &r.uid)?,
        gid: id_number(service, &key, "gid", &r.gid)?,
        mode: r.mode.map_or(0o444, |m| m.0),
    };
    let target = spec.container_target();
    container_path(service, &key, &target.to_string_lossy())?;
    Ok(PlannedMount {
        source: PlannedSource::File(spec),
        mount: Mount::bind(PathBuf::new(), target).read_only(true),
        nocopy: false,
        subpath: None,
        labels: BTreeMap::new(),
    })
}

/// Plans the mounts of service `service`: its `volumes`, `tmpfs`, `secrets` and `configs`,
/// its `volumes_from`, and an anonymous volume for each image `VOLUME` nothing else covers.
/// Two mounts at one target are an error, as in Docker.
pub fn plan(
    project: &LoadedProject,
    service: &str,
    image: &ImageConfig,
) -> anyhow::Result<MountPlan> {
    let svc: &ServiceConfig = project
        .project
        .service(service)
        .with_context(|| format!("no such service: {service}"))?;
    let mut out = MountPlan::default();
    for v in &svc.volumes {
        out.mounts.push(one_volume(project, service, v)?);
    }
    for t in &svc.tmpfs {
        let m = Mount::parse_tmpfs(t).with_context(|| at(service, "tmpfs"))?;
        container_path(service, "tmpfs", &m.target.to_string_lossy())?;
        out.mounts.push(PlannedMount {
            source: PlannedSource::Tmpfs,
            mount: m,
            nocopy: false,
            subpath: None,
            labels: BTreeMap::new(),
        });
    }
    for s in &svc.secrets {
        out.mounts
            .push(file_mount(project, service, FileKind::Secret, s)?);
    }
    for c in &svc.configs {
        out.mounts
            .push(file_mount(project, service, FileKind::Config, c)?);
    }
    let mut seen: Vec<&Path> = Vec::new();
    for m in &out.mounts {
        if seen.contains(&m.mount.target.as_path()) {
            return Err(refuse(
                service,
                "volumes",
                format!("duplicate mount point {}", m.mount.target.display()),
            ));
        }
        seen.push(&m.mount.target);
    }
    let mut image_volumes = Vec::new();
    for path in image
        .config
        .iter()
        .flat_map(|c| c.volumes.iter().flatten())
        .map(|(p, _)| p)
    {
        let target = match container_path(service, "image VOLUME", path) {
            Ok(t) => t,
            // Docker refuses such an image at build time; one that got through is skipped.
            Err(_) => continue,
        };
        if seen.contains(&target.as_path())
            || image_volumes
                .iter()
                .any(|m: &PlannedMount| m.mount.target == target)
        {
            continue;
        }
        image_volumes.push(PlannedMount {
            source: PlannedSource::Anonymous { from_image: true },
            mount: Mount::bind(PathBuf::new(), target),
            nocopy: false,
            subpath: None,
            labels: BTreeMap::new(),
        });
    }
    out.mounts.extend(image_volumes);
    for entry in &svc.volumes_from {
        // compose-go may write a service as `service:NAME`; berth-volumes reads `NAME`.
        let text = entry.strip_prefix("service:").unwrap_or(entry);
        out.volumes_from
            .push(VolumesFrom::parse(text).with_context(|| at(service, "volumes_from"))?);
    }
    Ok(out)
}

mod resolve;

pub use resolve::{ResolveContext, ResolvedMounts, record_of, resolve};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::testing::project;
    use berth_runtime::image::store::oci::{ContainerConfig, Empty};

    pub(super) fn image_with_volumes(paths: &[&str]) -> ImageConfig {
        ImageConfig {
            config: Some(ContainerConfig {
                volumes: Some(paths.iter().map(|p| (p.to_string(), Empty {})).collect()),
                ..ContainerConfig::default()
            }),
            ..ImageConfig::default()
        }
    }

    pub(super) const STACK: &str = r#"
services:
  s:
    image: x
    volumes:
      - data:/var/lib/data
      - ./conf:/etc/app:ro
      - /cache
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 1m, mode: 0o700}
      - type: volume
        source: data
        target: /sub
        volume: {subpath: inner, nocopy: true}
      - type: bind
        source: /srv/strict
        target: /strict
        bind: {create_host_path: false, propagation: rshared}
    tmpfs: ["/run:size=64k,exec"]
    secrets: [token, {source: key, target: custom, uid: '1000', mode: 0400}]
    configs: [conf, {source: conf, target: /etc/conf.ini}]
    volumes_from: [db:ro, "container:other"]
  db: {image: x}
volumes:
  data: {}
secrets:
  token: {environment: TOKEN}
  key: {file: ./key.txt}
configs:
  conf: {content: "hello"}
"#;

    #[test]
    fn plans_every_kind_of_mount() {
        let p = project(STACK);
        let plan = plan(
            &p,
            "s",
            &image_with_volumes(&["/cache", "/logs", "/var/lib/data/"]),
        )
        .unwrap();
        let targets: Vec<String> = plan
            .mounts
            .iter()
            .map(|m| m.mount.target.display().to_string())
            .collect();
        assert_eq!(
            targets,
            [
                "/var/lib/data",
                "/etc/app",
                "/cache",
                "/scratch",
                "/sub",
                "/strict",
                "/run",
                "/run/secrets/token",
                "/run/secrets/custom",
                "/conf",
                "/etc/conf.ini",
                "/logs"
            ]
        );
        let m = &plan.mounts;
        assert_eq!(m[0].source, PlannedSource::Volume("proj_data".into()));
        assert_eq!(
            m[1].source,
            PlannedSource::Bind {
                path: "/srv/proj/conf".into(),
                create: true
            }
        );
        assert!(m[1].mount.read_only);
        assert_eq!(m[2].source, PlannedSource::Anonymous { from_image: false });
        assert_eq!(
            m[3].mount.oci_options(),
            [
                "rw",
                "nosuid",
                "nodev",
                "noexec",
                "size=1048576",
                "mode=700"
            ]
        );
        assert_eq!(
            (m[4].nocopy, m[4].subpath.clone()),
            (true, Some(PathBuf::from("inner")))
        );
        assert_eq!(
            m[5].source,
            PlannedSource::Bind {
                path: "/srv/strict".into(),
                create: false
            }
        );
        assert_eq!(m[5].mount.oci_options(), ["rbind", "rw", "rshared"]);
        assert_eq!(
            m[6].mount.oci_options(),
            ["rw", "nosuid", "nodev", "size=65536"]
        );
        let PlannedSource::File(secret) = &m[8].source else {
            panic!()
        };
        assert_eq!((secret.uid, secret.mode), (1000, 0o400));
        assert_eq!(m[11].source, PlannedSource::Anonymous { from_image: true });
        assert_eq!(plan.volumes_from.len(), 2);
        assert_eq!(plan.volumes_from[0].read_only, Some(true));
    }

    #[test]
    fn refuses_what_berth_cannot_mount() {
        for (body, what) in [
            (
                "volumes: [{type: image, source: alpine, target: /i, image: {subpath: ../etc}}]",
                "must stay inside the image",
            ),
            (
                "volumes: [{type: bind, source: /a, target: /b, bind: {recursive: readonly}}]",
                "recursive",
            ),
            (
                "volumes: ['/a:/run/secrets/k']\n    secrets: [k]",
                "duplicate mount point /run/secrets/k",
            ),
            (
                "volumes: [{type: volume, target: /x, volume: {subpath: ../up}}]",
                "subpath",
            ),
            ("volumes_from: ['container:db:xx']", "volumes_from"),
        ] {
            let p = project(&format!(
                "services:\n  s:\n    image: x\n    {body}\nvolumes: {{data: {{}}}}\nsecrets: {{k: {{file: ./k}}}}\n"
            ));
            let e = plan(&p, "s", &ImageConfig::default()).unwrap_err();
            let text = format!("{e:#}");
            assert!(text.starts_with("service \"s\": "), "{text}");
            assert!(text.contains(what), "{body}: {text}");
        }
    }
}
