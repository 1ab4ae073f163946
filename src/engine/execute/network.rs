//! Creating and removing a project's networks.

use super::ops::Context;
use crate::engine::labels;
use anyhow::{Context as _, bail};
use berth_compose::model::NetworkConfig;
use berth_network::ipam::{IpamConfig, NetworkRequest};
use std::collections::BTreeMap;

/// The bridge name a network asks for (`com.docker.network.bridge.name`).
const BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// The MTU a network asks for.
const MTU: &str = "com.docker.network.driver.mtu";

/// The request for the compose network `key` of `project`, named `name`.
pub fn network_request(
    project: &str,
    key: &str,
    name: &str,
    def: &NetworkConfig,
) -> anyhow::Result<(NetworkRequest, Option<u32>)> {
    let what = || format!("network {key:?}");
    if let Some(driver) = def.driver.as_deref()
        && driver != "bridge"
    {
        bail!(
            "{}: driver {driver:?} is not supported: berth's networks are bridges",
            what()
        );
    }
    let mut ipam = Vec::new();
    if let Some(config) = &def.ipam {
        if let Some(driver) = config.driver.as_deref()
            && driver != "default"
        {
            bail!("{}: ipam driver {driver:?} is not supported", what());
        }
        for pool in &config.config {
            let mut entry = IpamConfig::default();
            if let Some(s) = &pool.subnet {
                entry.subnet = Some(
                    s.parse()
                        .map_err(|e| anyhow::anyhow!("{}: ipam subnet {s:?}: {e}", what()))?,
                );
            }
            if let Some(s) = &pool.ip_range {
                entry.ip_range = Some(
                    s.parse()
                        .map_err(|e| anyhow::anyhow!("{}: ipam ip_range {s:?}: {e}", what()))?,
                );
            }
            if let Some(g) = &pool.gateway {
                entry.gateway = Some(
                    g.parse()
                        .with_context(|| format!("{}: ipam gateway {g:?}", what()))?,
                );
            }
            for (aux, addr) in &pool.aux_addresses {
                entry.aux_addresses.insert(
                    aux.clone(),
                    addr.parse()
                        .with_context(|| format!("{}: aux_addresses {aux}={addr:?}", what()))?,
                );
            }
            ipam.push(entry);
        }
    }
    let mut labels: BTreeMap<String, String> = def
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(labels::PROJECT.into(), project.into());
    labels.insert(labels::NETWORK.into(), key.into());
    labels.insert(labels::VERSION.into(), env!("CARGO_PKG_VERSION").into());
    let mtu = match def.driver_opts.get(MTU) {
        Some(v) => Some(
            v.parse::<u32>()
                .with_context(|| format!("{}: driver_opts {MTU}={v:?}", what()))?,
        ),
        None => None,
    };
    let bridge = def
        .driver_opts
        .get(BRIDGE_NAME)
        .cloned()
        .unwrap_or_default();
    Ok((
        NetworkRequest {
            name: name.to_string(),
            bridge,
            internal: def.internal.unwrap_or(false),
            enable_ipv6: def.enable_ipv6.unwrap_or(false),
            ipam,
            labels,
        },
        mtu,
    ))
}

/// Creates network `name` of the project.
pub async fn create(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let loaded = ctx.project.loaded()?;
    let implied_default = NetworkConfig::default();
    let (key, def) = match loaded
        .project
        .networks
        .iter()
        .find(|(key, def)| def.name.as_deref().unwrap_or(key) == name)
    {
        Some((key, def)) => (key.as_str(), def),
        // The default network of `network_mode: bridge` services.
        None if name == format!("{}_default", loaded.name) => ("default", &implied_default),
        None => anyhow::bail!("network {name} is not in the project"),
    };
    let (request, mtu) = network_request(&loaded.name, key, name, def)?;
    let networks = ctx.machine.networks()?;
    networks
        .create(&request, mtu)
        .await
        .with_context(|| format!("cannot create network {name}"))?;
    Ok(())
}

/// Removes network `name`, collecting every failure of its teardown.
pub async fn remove(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let networks = ctx.machine.networks()?;
    networks
        .remove(name)
        .await
        .map_err(|e| anyhow::anyhow!("cannot remove network {name}: {e}"))
}
