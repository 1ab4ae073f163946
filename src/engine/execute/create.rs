//! Creating a container: an id and a record (which reserves the name), the image's root
//! filesystem, the network namespace and endpoints, the files under /etc, the mounts, the
//! OCI spec, the published ports. Everything done is noted in the record as it happens, so a
//! failure part way is undone from the record by the same teardown as `rm`.

use super::attach::{self, NetworkMode};
use super::ops::Context;
use super::teardown::{self, port_mappings};
use crate::engine::container::{self, ContainerInput, NamespaceJoins, ResolveContext};
use crate::engine::state::{ContainerRecord, Durability, ImageRecord, PortRecord, write_file};
use anyhow::Context as _;
use berth_compose::LoadedProject;
use berth_network::firewall::Protocol;
use berth_network::ports;
use berth_runtime::image::Digest;
use berth_runtime::image::rootfs::{MountMethod, RootfsDirs, mount_rootfs};
use std::io::Read;
use std::sync::Arc;

/// A new container id: 32 random bytes in hex, as Docker's.
pub fn new_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A container to create.
#[derive(Debug, Clone)]
pub struct NewContainer {
    /// Its service.
    pub service: String,
    /// Its replica number.
    pub number: u32,
    /// Its name.
    pub name: String,
    /// A one-off container of `run`, with the project as `run` changed it.
    pub oneoff: Option<Arc<LoadedProject>>,
    /// Anonymous volumes of the container it replaces, by target: the new container mounts
    /// them again instead of fresh ones, so their data survives a recreate (Compose's
    /// behaviour unless `-V`).
    pub anonymous: Vec<(std::path::PathBuf, String)>,
    /// An image other than the service's (the container of a `pre_start` hook).
    pub image: Option<String>,
}

/// Creates a container; returns its id.
pub async fn create_container(ctx: Arc<Context>, new: NewContainer) -> anyhow::Result<String> {
    let NewContainer {
        service,
        number,
        name,
        oneoff,
        anonymous,
        image,
    } = new;
    let service = service.as_str();
    let id = new_id()?;
    let mut record = new_record(&ctx, service, image.as_deref(), &id, &name)?;
    ctx.machine
        .state
        .create_container_record(&record)
        .map_err(|e| match e {
            crate::engine::state::StateError::NameInUse { .. } => {
                anyhow::anyhow!("container name {name:?} is already in use")
            }
            other => other.into(),
        })?;
    let result = build(
        &ctx,
        service,
        number,
        oneoff.as_deref(),
        &anonymous,
        &mut record,
    )
    .await;
    match result {
        Ok(()) => Ok(id),
        Err(e) => {
            // Record what was made, then take it all down again.
            let _ = ctx.machine.state.save_container_record(&record);
            if let Err(undo) = teardown::remove_container(&ctx, &id, true).await {
                tracing::warn!(container = %name, error = %undo, "undoing a failed create");
            }
            Err(e)
        }
    }
}

fn new_record(
    ctx: &Context,
    service: &str,
    image: Option<&str>,
    id: &str,
    name: &str,
) -> anyhow::Result<ContainerRecord> {
    let desired = ctx
        .project
        .desired
        .as_ref()
        .and_then(|d| d.service(service))
        .with_context(|| format!("no such service: {service}"))?;
    let reference = image.unwrap_or(&desired.image);
    let resolved = ctx
        .machine
        .images
        .resolve(reference)
        .with_context(|| format!("service {service:?}: image {reference} is not present"))?;
    Ok(ContainerRecord::new(
        id,
        name,
        ImageRecord {
            reference: reference.to_string(),
            id: resolved.id,
        },
    ))
}

async fn build(
    ctx: &Arc<Context>,
    service: &str,
    number: u32,
    oneoff: Option<&LoadedProject>,
    anonymous: &[(std::path::PathBuf, String)],
    record: &mut ContainerRecord,
) -> anyhow::Result<()> {
    let loaded = match oneoff {
        Some(p) => p,
        None => ctx.project.loaded()?,
    };
    let config = loaded
        .project
        .service(service)
        .with_context(|| format!("no such service: {service}"))?;
    let paths = ctx.machine.state.container_paths(&record.id);
    let image_config = {
        let digest = Digest::parse(&record.image.id)?;
        ctx.machine.images.load_config(&digest)?
    };

    // The root filesystem.
    let dirs = RootfsDirs {
        upper: paths.upper(),
        work: paths.work(),
        target: paths.rootfs(),
    };
    mount_rootfs(
        &ctx.machine.images,
        &record.image.id,
        &dirs,
        MountMethod::Auto,
    )
    .with_context(|| format!("cannot mount the root filesystem of {}", record.name))?;
    record.rootfs = Some(paths.rootfs());

    // The network.
    let networks = ctx.machine.networks()?;
    let mode = attach::network_mode(ctx, &networks, service, config)?;
    attach::connect(ctx, &networks, service, config, &mode, record).await?;
    let hostname = config
        .hostname
        .clone()
        .unwrap_or_else(|| record.id.chars().take(12).collect());
    attach::write_files(&networks, service, config, &hostname, &mode, record, &paths)?;

    // The mounts.
    let image_mounts = std::cell::RefCell::new(Vec::new());
    let mut plan = container::mounts::plan(loaded, service, &image_config)?;
    for planned in &mut plan.mounts {
        if matches!(
            planned.source,
            container::mounts::PlannedSource::Anonymous { .. }
        ) && let Some((_, name)) = anonymous.iter().find(|(t, _)| *t == planned.mount.target)
        {
            planned.source = container::mounts::PlannedSource::Volume(name.clone());
            planned.mount.origin = berth_volumes::mounts::Origin::Volume(name.clone());
        }
    }
    let resolved = container::mounts::resolve(
        &plan,
        &ResolveContext {
            store: &ctx.machine.volumes,
            project: &loaded.name,
            service,
            rootfs: &paths.rootfs(),
            files_dir: &paths.files(),
            volumes_from: &|source| volumes_from(ctx, source),
            image_root: &|reference| mount_image(ctx, &paths, reference, &image_mounts),
        },
    )?;
    record.mounts = resolved.records.clone();
    record.image_mounts = image_mounts.into_inner();

    // The spec.
    let joins = NamespaceJoins {
        net: match &mode {
            NetworkMode::Own | NetworkMode::Isolated => record.netns.clone(),
            NetworkMode::Join(path) => Some(path.clone()),
            NetworkMode::Host => None,
        },
        ..Default::default()
    };
    let input = ContainerInput {
        project: loaded,
        service,
        number,
        oneoff: oneoff.is_some(),
        id: &record.id,
        name: &record.name,
        image_ref: &record.image.reference,
        image_id: &record.image.id,
        image: &image_config,
        paths: &paths,
        namespaces: &joins,
        mounts: &resolved.mounts,
        env_files: &[],
    };
    let spec = container::build_spec(&input)?;
    let fields = container::record_fields(&input)?;
    record.labels = container::labels(&input)?;
    record.restart_policy = Some(fields.restart_policy.clone());
    (record.restart_delay, record.restart_window) = fields.restart_timing;
    record.stop_signal = Some(fields.stop_signal.clone());
    record.stop_grace_period = Some(fields.stop_grace_period);
    record.log = fields.log.clone();
    record.command = fields.command.clone();
    record.init = fields.init;
    record.healthcheck = fields.healthcheck.clone();
    record.stdin_open = fields.stdin_open;
    let data = serde_json::to_vec_pretty(&spec).context("cannot serialize the OCI spec")?;
    write_file(&paths.spec(), &data, Durability::Durable)?;
    record.spec_path = Some(paths.spec());

    // Published ports.
    if mode == NetworkMode::Host || mode == NetworkMode::Isolated {
        if !fields.ports.is_empty() {
            ctx.warn(format!(
                "service {service:?}: published ports are discarded when using host or none network mode"
            ));
        }
    } else if !fields.ports.is_empty() {
        record.ports = choose_ports(ctx, service, &fields.ports)?;
        networks
            .firewall()
            .publish(&port_mappings(record))
            .with_context(|| format!("cannot publish the ports of {}", record.name))?;
    }
    ctx.machine.state.save_container_record(record)?;
    Ok(())
}

/// Mounts the root filesystem of image `reference` under the container's directory for a
/// `type: image` mount (the container sees it read-only), adding its id to `mounted`;
/// returns where.
fn mount_image(
    ctx: &Context,
    paths: &crate::engine::state::ContainerPaths,
    reference: &str,
    mounted: &std::cell::RefCell<Vec<String>>,
) -> anyhow::Result<std::path::PathBuf> {
    let id = ctx
        .machine
        .images
        .resolve(reference)
        .with_context(|| format!("cannot mount image {reference}"))?
        .id;
    let n = mounted.borrow().len() as u32 + 1;
    let target = mount_image_at(ctx, paths, &id, n)?;
    mounted.borrow_mut().push(id);
    Ok(target)
}

/// Mounts image `id` as the container's `n`-th image mount.
fn mount_image_at(
    ctx: &Context,
    paths: &crate::engine::state::ContainerPaths,
    id: &str,
    n: u32,
) -> anyhow::Result<std::path::PathBuf> {
    let dirs = RootfsDirs {
        upper: paths.image_mount(n).with_extension("upper"),
        work: paths.image_mount(n).with_extension("work"),
        target: paths.image_mount(n),
    };
    mount_rootfs(&ctx.machine.images, id, &dirs, MountMethod::Auto)
        .with_context(|| format!("cannot mount image {id}"))?;
    Ok(dirs.target)
}

/// Host ports for the requested ones: fixed ports must be free now (the supervisor holds
/// them while the container runs), free ones are picked for the others, never one that a
/// recorded container or another container of this command has taken already.
fn choose_ports(
    ctx: &Context,
    service: &str,
    requests: &[container::PortRequest],
) -> anyhow::Result<Vec<PortRecord>> {
    let owner_of = |protocol: Protocol, port: u16| owner_of(ctx, protocol, port);
    let mut claimed = ctx.claimed_ports.lock().unwrap_or_else(|p| p.into_inner());
    let recorded: Vec<(String, u16)> = ctx
        .machine
        .state
        .containers()?
        .records
        .iter()
        .flat_map(|r| r.ports.iter().map(|p| (p.protocol.clone(), p.host_port)))
        .collect();
    let taken =
        |claimed: &std::collections::BTreeSet<(String, u16)>, protocol: Protocol, port: u16| {
            let key = (protocol.as_str().to_string(), port);
            claimed.contains(&key) || recorded.contains(&key)
        };
    let mut out = Vec::new();
    for r in requests {
        let protocol = if r.protocol == "udp" {
            Protocol::Udp
        } else {
            Protocol::Tcp
        };
        let host_port = match r.host_port {
            container::HostPort::Fixed(p) => {
                ports::check_free(protocol, r.host_ip, p, &owner_of)
                    .with_context(|| format!("service {service:?}"))?;
                p
            }
            container::HostPort::Range(low, high) => {
                let free = (low..=high)
                    .filter(|p| !taken(&claimed, protocol, *p))
                    .find(|p| ports::check_free(protocol, r.host_ip, *p, &owner_of).is_ok());
                free.with_context(|| {
                    format!(
                        "service {service:?}: no free {protocol} port in {low}-{high} for container port {}",
                        r.container_port
                    )
                })?
            }
            container::HostPort::Any => loop {
                let held = ports::reserve_random(protocol, r.host_ip)
                    .with_context(|| format!("service {service:?}"))?;
                if !taken(&claimed, protocol, held.port) {
                    break held.port;
                }
            },
        };
        claimed.insert((protocol.as_str().to_string(), host_port));
        out.push(r.record(host_port));
    }
    Ok(out)
}

/// The project and service that publish `port`, among every recorded container.
pub fn owner_of(ctx: &Context, protocol: Protocol, port: u16) -> Option<ports::Owner> {
    let records = ctx.machine.state.containers().ok()?.records;
    records.iter().find_map(|r| {
        r.ports
            .iter()
            .any(|p| p.host_port == port && p.protocol == protocol.as_str())
            .then(|| {
                let o = r.observed();
                Some(ports::Owner {
                    project: o.project()?.to_string(),
                    service: o.service()?.to_string(),
                })
            })
            .flatten()
    })
}

/// The mounts of the container a `volumes_from` entry names: the first container of a
/// service of the project, or a container by name.
fn volumes_from(
    ctx: &Context,
    source: &berth_volumes::volumes_from::Source,
) -> anyhow::Result<Vec<crate::engine::state::MountRecord>> {
    use berth_volumes::volumes_from::Source;
    let record = match source {
        Source::Service(service) => {
            let mut records = ctx.machine.state.containers_of(&ctx.project.name)?.records;
            records.retain(|r| {
                let o = r.observed();
                o.service() == Some(service.as_str()) && !o.is_oneoff()
            });
            records.sort_by_key(|r| r.observed().number());
            records.into_iter().next().with_context(|| {
                format!("cannot share volume with service {service}: container missing")
            })?
        }
        Source::Container(name) => {
            let id = ctx.machine.state.name_holder(name)?.with_context(|| {
                format!("cannot share volume with container {name}: container missing")
            })?;
            ctx.machine.state.container(&id)?
        }
    };
    Ok(record.mounts)
}

/// Makes sure a recorded container can start: its root filesystem and image mounts mounted
/// and its network namespace present (all gone after a reboot).
pub async fn revive(ctx: &Context, id: &str) -> anyhow::Result<()> {
    let record = ctx.machine.state.container(id)?;
    let paths = ctx.machine.state.container_paths(id);
    for (n, image) in (1u32..).zip(&record.image_mounts) {
        if !berth_volumes::local_driver::is_mount_point(&paths.image_mount(n)).unwrap_or(false) {
            mount_image_at(ctx, &paths, image, n)
                .with_context(|| format!("cannot mount an image volume of {}", record.name))?;
        }
    }
    if let Some(rootfs) = &record.rootfs
        && !berth_volumes::local_driver::is_mount_point(rootfs).unwrap_or(false)
    {
        let dirs = RootfsDirs {
            upper: paths.upper(),
            work: paths.work(),
            target: rootfs.clone(),
        };
        mount_rootfs(
            &ctx.machine.images,
            &record.image.id,
            &dirs,
            MountMethod::Auto,
        )
        .with_context(|| format!("cannot mount the root filesystem of {}", record.name))?;
    }
    // After a reboot the namespace file is no namespace any more (/run may be on disk).
    if let Some(netns) = &record.netns
        && !berth_volumes::local_driver::is_mount_point(netns).unwrap_or(false)
    {
        let networks = ctx.machine.networks()?;
        attach::reattach(&networks, &record).await?;
    }
    Ok(())
}
