//! Removing a container, driven by its record alone (so `down` works without the compose
//! file): its published ports, network attachments and namespace, root filesystem, volume
//! mounts, anonymous volumes when asked, and the record. Every piece is attempted; failures
//! are collected and reported together, so nothing is left behind that could be removed.

use super::ops::Context;
use crate::engine::state::{ContainerRecord, MountKind};
use berth_network::firewall::{PortMapping, Protocol};
use std::collections::BTreeSet;

/// The published ports of `record` as firewall mappings (to its first network's address).
pub fn port_mappings(record: &ContainerRecord) -> Vec<PortMapping> {
    let mut out = Vec::new();
    let v4 = record.endpoints.iter().find_map(|e| e.ipv4);
    let v6 = record.endpoints.iter().find_map(|e| e.ipv6);
    for p in &record.ports {
        let protocol = if p.protocol == "udp" {
            Protocol::Udp
        } else {
            Protocol::Tcp
        };
        for ip in [v4, v6].into_iter().flatten() {
            // A host address of one family forwards only to the same family.
            if p.host_ip.is_some_and(|h| h.is_ipv4() != ip.is_ipv4()) {
                continue;
            }
            out.push(PortMapping {
                protocol,
                host_ip: p.host_ip,
                host_port: p.host_port,
                container_ip: ip,
                container_port: p.container_port,
            });
        }
    }
    out
}

/// The key the network crate knows the container by (leases, veth names, namespace file).
pub fn network_key(record: &ContainerRecord) -> &str {
    &record.name
}

/// Names of the anonymous volumes `record` mounts.
pub fn anonymous_volumes(ctx: &Context, record: &ContainerRecord) -> Vec<String> {
    record
        .mounts
        .iter()
        .filter(|m| m.kind == MountKind::Volume)
        .filter(|m| {
            ctx.machine
                .volumes
                .get(&m.source)
                .ok()
                .flatten()
                .is_some_and(|v| v.anonymous)
        })
        .map(|m| m.source.clone())
        .collect()
}

/// Removes the container `id` (which must not be running). With `volumes`, its anonymous
/// volumes go too.
pub async fn remove_container(ctx: &Context, id: &str, volumes: bool) -> anyhow::Result<()> {
    let record = ctx.machine.state.container(id)?;
    let mut failures: Vec<String> = Vec::new();
    let mut fail = |what: &str, e: &dyn std::fmt::Display| failures.push(format!("{what}: {e}"));

    if let Err(e) = super::supervise::forget(ctx, &record).await {
        fail("supervisor", &e);
    }
    let networks = ctx.machine.networks();
    match &networks {
        Ok(networks) => {
            let mappings = port_mappings(&record);
            if !mappings.is_empty() {
                for e in networks.firewall().unpublish(&mappings) {
                    fail("unpublishing ports", &e);
                }
            }
            let key = network_key(&record);
            for endpoint in &record.endpoints {
                if let Err(e) = networks.disconnect(&endpoint.network, key, true).await {
                    fail(&format!("leaving network {}", endpoint.network), &e);
                }
            }
            if record.netns.is_some()
                && let Err(e) = networks.remove_netns(key)
            {
                fail("removing its network namespace", &e);
            }
        }
        Err(e) => fail("networks", e),
    }
    if let Some(rootfs) = &record.rootfs
        && berth_volumes::local_driver::is_mount_point(rootfs).unwrap_or(false)
        && let Err(e) = berth_runtime::image::rootfs::unmount_rootfs(rootfs)
    {
        fail("unmounting its root filesystem", &e);
    }
    // The images of `type: image` mounts.
    let images = ctx.machine.state.container_paths(id).image_mounts();
    for entry in std::fs::read_dir(&images).into_iter().flatten().flatten() {
        let path = entry.path();
        if berth_volumes::local_driver::is_mount_point(&path).unwrap_or(false)
            && let Err(e) = berth_runtime::image::rootfs::unmount_rootfs(&path)
        {
            fail(&format!("unmounting image mount {}", path.display()), &e);
        }
    }
    let anonymous = if volumes {
        anonymous_volumes(ctx, &record)
    } else {
        Vec::new()
    };
    for m in record.mounts.iter().filter(|m| m.kind == MountKind::Volume) {
        if let Err(e) = ctx.machine.volumes.release(&m.source)
            && !matches!(e, berth_volumes::VolumeError::NotFound(_))
        {
            fail(&format!("releasing volume {}", m.source), &e);
        }
    }
    if let Err(e) = ctx.machine.state.remove_container_record(id) {
        fail("removing its record", &e);
    }
    if !anonymous.is_empty() {
        let in_use = volumes_in_use(ctx);
        for name in anonymous {
            if let Err(e) = ctx.machine.volumes.remove(&name, &in_use) {
                fail(&format!("removing volume {name}"), &e);
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "container {} was not removed completely: {}",
            record.name,
            failures.join("; ")
        )
    }
}

/// Names of the volumes any recorded container mounts.
pub fn volumes_in_use(ctx: &Context) -> BTreeSet<String> {
    ctx.machine
        .state
        .containers()
        .map(|l| {
            l.records
                .iter()
                .flat_map(|r| r.mounts.iter())
                .filter(|m| m.kind == MountKind::Volume)
                .map(|m| m.source.clone())
                .collect()
        })
        .unwrap_or_default()
}
