//! Resolving a mount plan: the side effects through berth-volumes (volumes mounted and
//! filled from the image once, anonymous volumes created, bind sources checked or created,
//! secret and config files written) and the mounts and records that result.

use super::{MountPlan, PlannedMount, PlannedSource};
use crate::engine::container::{at, refuse};
use crate::engine::labels;
use crate::engine::state::{MountKind as RecordKind, MountRecord};
use anyhow::Context;
use berth_volumes::files::FileKind;
use berth_volumes::mounts::{Mount, MountKind, Origin};
use berth_volumes::store::VolumeStore;
use berth_volumes::volumes_from::{self, Source};
use std::path::{Path, PathBuf};

/// What [`resolve`] needs besides the plan.
pub struct ResolveContext<'a> {
    /// The volume store.
    pub store: &'a VolumeStore,
    /// The project name (labelled on anonymous volumes, as `com.docker.compose.project`).
    pub project: &'a str,
    /// The service name (for errors).
    pub service: &'a str,
    /// The container's mounted root filesystem: what copy-up fills new volumes from.
    pub rootfs: &'a Path,
    /// Where the container's secrets and configs are written (`ContainerPaths::files`).
    pub files_dir: &'a Path,
    /// The mounts recorded for the first container of a service or a named container
    /// (`volumes_from`); an error when there is none.
    pub volumes_from: &'a dyn Fn(&Source) -> anyhow::Result<Vec<MountRecord>>,
    /// Mounts an image's root filesystem for a `type: image` mount and returns where.
    pub image_root: &'a dyn Fn(&str) -> anyhow::Result<PathBuf>,
}

/// The mounts of a container, ready for the spec and the record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedMounts {
    /// For [`crate::engine::container::build_spec`].
    pub mounts: Vec<Mount>,
    /// For the record: volumes, binds and tmpfs (secrets and configs are not inherited by
    /// `volumes_from`, so they are left out).
    pub records: Vec<MountRecord>,
    /// Names of the anonymous volumes created.
    pub anonymous: Vec<String>,
}

/// The record of a mount, `None` for secrets and configs.
pub fn record_of(m: &Mount) -> Option<MountRecord> {
    let (kind, source) = match (&m.origin, m.kind) {
        (Origin::Volume(name), _) => (RecordKind::Volume, name.clone()),
        (Origin::Config | Origin::Secret, _) => return None,
        (_, MountKind::Tmpfs) => (RecordKind::Tmpfs, String::new()),
        (_, MountKind::Bind) => (RecordKind::Bind, m.source.to_string_lossy().into_owned()),
    };
    Some(MountRecord {
        kind,
        source,
        target: m.target.to_string_lossy().into_owned(),
        read_only: m.read_only,
    })
}

/// Mounts a store volume and fills it from the image at the mount's target the first time
/// (unless `nocopy` or a subpath), as Docker does; returns the host path to bind.
fn volume_source(ctx: &ResolveContext, name: &str, p: &PlannedMount) -> anyhow::Result<PathBuf> {
    let key = format!("volumes {}", p.mount.target.display());
    let data = ctx
        .store
        .mount(name)
        .with_context(|| at(ctx.service, &key))?;
    let image =
        (!p.nocopy && p.subpath.is_none()).then_some((ctx.rootfs, p.mount.target.as_path()));
    ctx.store.populate(name, image).with_context(|| {
        format!(
            "{}: copying the image's content into volume {name}",
            at(ctx.service, &key)
        )
    })?;
    match &p.subpath {
        None => Ok(data),
        Some(sub) => {
            let path = data.join(sub);
            let canonical = path
                .canonicalize()
                .with_context(|| format!("{}: subpath {}", at(ctx.service, &key), sub.display()))?;
            if !canonical.starts_with(data.canonicalize().unwrap_or(data.clone())) {
                return Err(refuse(ctx.service, &key, "the subpath leaves the volume"));
            }
            Ok(canonical)
        }
    }
}

/// Creates what the plan needs and returns the container's mounts. Anonymous volumes made
/// here are removed again when a later step fails.
pub fn resolve(plan: &MountPlan, ctx: &ResolveContext) -> anyhow::Result<ResolvedMounts> {
    let mut out = ResolvedMounts::default();
    let result = resolve_into(plan, ctx, &mut out);
    if result.is_err() {
        for name in &out.anonymous {
            let _ = ctx.store.remove(name, &Default::default());
        }
    }
    result.map(|()| out)
}

fn resolve_into(
    plan: &MountPlan,
    ctx: &ResolveContext,
    out: &mut ResolvedMounts,
) -> anyhow::Result<()> {
    let mut inherited = Vec::new();
    for vf in &plan.volumes_from {
        let records =
            (ctx.volumes_from)(&vf.source).with_context(|| at(ctx.service, "volumes_from"))?;
        let mut from = Vec::new();
        for r in records {
            let m = match r.kind {
                RecordKind::Volume => {
                    let data = ctx
                        .store
                        .mount(&r.source)
                        .with_context(|| at(ctx.service, "volumes_from"))?;
                    Mount::volume(&r.source, data, &r.target)
                }
                RecordKind::Bind => Mount::bind(&r.source, &r.target),
                RecordKind::Tmpfs => continue,
            };
            from.push(m.read_only(r.read_only));
        }
        inherited.extend(vf.inherit(&from));
    }
    for p in &plan.mounts {
        let key = format!("volumes {}", p.mount.target.display());
        let mut m = p.mount.clone();
        match &p.source {
            PlannedSource::Volume(name) => {
                m.source = volume_source(ctx, name, p)?;
            }
            PlannedSource::Anonymous { from_image } => {
                if *from_image && inherited.iter().any(|i: &Mount| i.target == m.target) {
                    continue;
                }
                let mut labels = p.labels.clone();
                labels.insert(labels::PROJECT.to_string(), ctx.project.to_string());
                let v = ctx
                    .store
                    .create_anonymous(&labels)
                    .with_context(|| at(ctx.service, &key))?;
                out.anonymous.push(v.name.clone());
                m.origin = Origin::Volume(v.name.clone());
                m.source = volume_source(ctx, &v.name, p)?;
            }
            PlannedSource::Bind { path, create } => {
                m.source = berth_volumes::binds::check_source(Path::new("/"), path, *create)
                    .with_context(|| at(ctx.service, &key))?;
            }
            PlannedSource::Tmpfs => {}
            PlannedSource::Image { reference, subpath } => {
                let root = (ctx.image_root)(reference).with_context(|| at(ctx.service, &key))?;
                // Symbolic links in the image resolve inside the image, never on the host.
                let inside = Path::new("/").join(subpath.as_deref().unwrap_or(Path::new("")));
                let source = berth_volumes::copy_up::resolve_in_root(&root, &inside)
                    .with_context(|| at(ctx.service, &key))?;
                let Some(source) = source else {
                    anyhow::bail!(
                        "{}: image {reference} has no {}",
                        at(ctx.service, &key),
                        inside.display()
                    );
                };
                m.source = source;
            }
            PlannedSource::File(spec) => {
                let made =
                    berth_volumes::files::materialize(ctx.files_dir, spec).with_context(|| {
                        at(
                            ctx.service,
                            &format!("{} {}", section(spec.kind), spec.name),
                        )
                    })?;
                m = made;
            }
        }
        out.mounts.push(m);
    }
    volumes_from::merge(&mut out.mounts, inherited);
    out.records = out.mounts.iter().filter_map(record_of).collect();
    Ok(())
}

fn section(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Secret => "secrets",
        FileKind::Config => "configs",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::mounts::plan;
    use crate::engine::container::mounts::tests::{STACK, image_with_volumes};
    use crate::engine::container::testing::project_in;
    use berth_runtime::image::store::oci::ImageConfig;

    #[test]
    fn resolves_volumes_binds_files_and_inheritance() {
        let dir = tempfile::tempdir().unwrap();
        let proj_dir = dir.path().join("proj");
        std::fs::create_dir_all(&proj_dir).unwrap();
        std::fs::write(proj_dir.join("key.txt"), "k3y").unwrap();
        std::fs::create_dir_all(dir.path().join("srv-strict")).unwrap();
        let text = STACK
            .replace(
                "/srv/strict",
                &dir.path().join("srv-strict").display().to_string(),
            )
            .replace("propagation: rshared", "propagation: rprivate");
        let p = project_in(&text, &proj_dir, &[("TOKEN", "s3cret")]);
        let rootfs = dir.path().join("rootfs");
        // `inner` comes from the image too: the subpath exists once copy-up filled the volume.
        std::fs::create_dir_all(rootfs.join("var/lib/data/inner")).unwrap();
        std::fs::write(rootfs.join("var/lib/data/seed"), "from the image").unwrap();
        std::fs::create_dir_all(rootfs.join("logs")).unwrap();
        std::fs::write(rootfs.join("logs/old.log"), "x").unwrap();
        let store = VolumeStore::open(dir.path().join("volumes")).unwrap();
        store
            .create(&berth_volumes::store::VolumeSpec {
                name: "proj_data".into(),
                ..Default::default()
            })
            .unwrap();
        store
            .create(&berth_volumes::store::VolumeSpec {
                name: "shared".into(),
                ..Default::default()
            })
            .unwrap();
        let lookup = |s: &Source| -> anyhow::Result<Vec<MountRecord>> {
            match s {
                Source::Service(n) if n == "db" => Ok(vec![
                    MountRecord {
                        kind: RecordKind::Volume,
                        source: "shared".into(),
                        target: "/shared".into(),
                        read_only: false,
                    },
                    MountRecord {
                        kind: RecordKind::Tmpfs,
                        source: String::new(),
                        target: "/tmp".into(),
                        read_only: false,
                    },
                    // Its own mount at /cache loses to ours.
                    MountRecord {
                        kind: RecordKind::Bind,
                        source: "/srv".into(),
                        target: "/cache".into(),
                        read_only: false,
                    },
                ]),
                Source::Container(n) if n == "other" => Ok(vec![MountRecord {
                    kind: RecordKind::Bind,
                    source: "/opt".into(),
                    target: "/logs".into(),
                    read_only: false,
                }]),
                other => anyhow::bail!("no container for {other:?}"),
            }
        };
        let files = dir.path().join("files");
        let ctx = ResolveContext {
            store: &store,
            project: "proj",
            service: "s",
            rootfs: &rootfs,
            files_dir: &files,
            volumes_from: &lookup,
            image_root: &|r| anyhow::bail!("no image {r} in this test"),
        };
        let plan = plan(&p, "s", &image_with_volumes(&["/logs", "/cache"])).unwrap();
        let r = resolve(&plan, &ctx).unwrap();
        // /cache is an anonymous volume of ours; /logs comes from `other`, not the image.
        assert_eq!(r.anonymous.len(), 1);
        let anon = store.inspect(&r.anonymous[0]).unwrap();
        assert_eq!(
            anon.labels.get(labels::PROJECT).map(String::as_str),
            Some("proj")
        );
        assert!(anon.anonymous);
        let by_target = |t: &str| {
            r.mounts
                .iter()
                .find(|m| m.target == Path::new(t))
                .unwrap_or_else(|| panic!("{t}"))
        };
        // Copy-up filled the named volume from the image.
        let data = by_target("/var/lib/data");
        assert_eq!(
            std::fs::read_to_string(data.source.join("seed")).unwrap(),
            "from the image"
        );
        assert!(by_target("/sub").source.ends_with("proj_data/_data/inner"));
        assert!(
            proj_dir.join("conf").is_dir(),
            "the missing bind source was created"
        );
        assert_eq!(
            std::fs::read_to_string(&by_target("/run/secrets/token").source).unwrap(),
            "s3cret"
        );
        assert_eq!(
            std::fs::read_to_string(&by_target("/run/secrets/custom").source).unwrap(),
            "k3y"
        );
        assert_eq!(
            std::fs::read_to_string(&by_target("/conf").source).unwrap(),
            "hello"
        );
        let shared = by_target("/shared");
        assert!(shared.read_only, "volumes_from db:ro");
        assert_eq!(by_target("/logs").source, PathBuf::from("/opt"));
        assert_eq!(
            by_target("/cache").origin,
            Origin::Volume(r.anonymous[0].clone())
        );
        assert!(!r.mounts.iter().any(|m| m.target == Path::new("/tmp")));
        // Records: no secrets or configs.
        assert!(
            r.records
                .iter()
                .all(|m| !m.target.starts_with("/run/secrets"))
        );
        assert!(
            r.records
                .iter()
                .any(|m| m.kind == RecordKind::Volume && m.source == "proj_data")
        );
        assert!(
            r.records
                .iter()
                .any(|m| m.kind == RecordKind::Tmpfs && m.target == "/scratch")
        );
    }

    #[test]
    fn a_failed_resolve_removes_its_anonymous_volumes() {
        let dir = tempfile::tempdir().unwrap();
        let p = project_in(
            "services:\n  s:\n    image: x\n    volumes: ['/anon', {type: bind, source: /nonexistent/berth-x, target: /b, bind: {create_host_path: false}}]\n",
            dir.path(),
            &[],
        );
        let store = VolumeStore::open(dir.path().join("volumes")).unwrap();
        let none = |_: &Source| -> anyhow::Result<Vec<MountRecord>> { Ok(Vec::new()) };
        let files = dir.path().join("files");
        let ctx = ResolveContext {
            store: &store,
            project: "proj",
            service: "s",
            rootfs: dir.path(),
            files_dir: &files,
            volumes_from: &none,
            image_root: &|r| anyhow::bail!("no image {r} in this test"),
        };
        let plan = plan(&p, "s", &ImageConfig::default()).unwrap();
        let e = resolve(&plan, &ctx).unwrap_err();
        assert!(
            format!("{e:#}").starts_with("service \"s\": volumes /b"),
            "{e:#}"
        );
        assert!(store.list().unwrap().is_empty());
    }
}
