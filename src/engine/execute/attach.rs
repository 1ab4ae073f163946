//! A container's place on the network: its namespace (own, the host's, or another
//! container's), its endpoints on the project's networks, and its `/etc/hosts`,
//! `/etc/resolv.conf` and `/etc/hostname`.

use super::ops::Context;
use super::teardown::network_key;
use crate::engine::state::{ContainerPaths, ContainerRecord, Endpoint};
use anyhow::{Context as _, bail};
use berth_compose::model::ServiceConfig;
use berth_network::hosts::{self, HostsSpec, ResolvConf};
use berth_network::ipam::LeaseRequest;
use berth_network::{EndpointRequest, Networks};
use std::net::IpAddr;
use std::path::PathBuf;

/// How a container is networked (`network_mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// Its own namespace, on the service's networks (the default, `bridge`).
    Own,
    /// Its own namespace with loopback only (`none`).
    Isolated,
    /// The host's namespace (`host`).
    Host,
    /// Another container's namespace (`service:NAME`, `container:NAME`): that container's
    /// namespace file.
    Join(PathBuf),
}

/// Decides the network mode of a service's container.
pub fn network_mode(
    ctx: &Context,
    networks: &Networks,
    service: &str,
    config: &ServiceConfig,
) -> anyhow::Result<NetworkMode> {
    let Some(mode) = config.network_mode.as_deref() else {
        return Ok(NetworkMode::Own);
    };
    let joined = |name: &str| -> anyhow::Result<NetworkMode> {
        let id = ctx.machine.state.name_holder(name)?.with_context(|| {
            format!("service {service:?}: network_mode: no such container: {name}")
        })?;
        let record = ctx.machine.state.container(&id)?;
        let path = record
            .netns
            .clone()
            .unwrap_or_else(|| networks.netns_path(network_key(&record)));
        if !path.exists() {
            bail!("service {service:?}: network_mode: container {name} has no network namespace");
        }
        Ok(NetworkMode::Join(path))
    };
    match mode {
        "bridge" | "default" => Ok(NetworkMode::Own),
        "none" => Ok(NetworkMode::Isolated),
        "host" => Ok(NetworkMode::Host),
        m if m.starts_with("service:") => {
            let target = &m["service:".len()..];
            let records = ctx.machine.state.containers_of(&ctx.project.name)?.records;
            let mut candidates: Vec<&ContainerRecord> = records
                .iter()
                .filter(|r| {
                    let o = r.observed();
                    o.service() == Some(target) && !o.is_oneoff()
                })
                .collect();
            candidates.sort_by_key(|r| r.observed().number());
            let first = candidates.first().with_context(|| {
                format!("service {service:?}: network_mode: service {target} has no container")
            })?;
            joined(&first.name.clone())
        }
        m if m.starts_with("container:") => joined(&m["container:".len()..]),
        other => bail!("service {service:?}: network_mode {other:?} is not supported"),
    }
}

/// The names a container answers to on a network: its service, hostname and aliases (its
/// container name is always known to DNS as the endpoint's own name).
fn aliases(service: &str, config: &ServiceConfig, network: &str) -> Vec<String> {
    let mut out = vec![service.to_string()];
    if let Some(h) = &config.hostname {
        out.push(h.clone());
    }
    if let Some(Some(n)) = config.networks.get(network) {
        out.extend(n.aliases.iter().cloned());
    }
    out.dedup();
    out
}

/// `links` entries as (alias, target): `db` is (db, db), `db:database` is (database, db).
fn links(config: &ServiceConfig) -> Vec<(String, String)> {
    config
        .links
        .iter()
        .map(|l| match l.split_once(':') {
            Some((target, alias)) => (alias.to_string(), target.to_string()),
            None => (l.clone(), l.clone()),
        })
        .collect()
}

fn parse_mac(service: &str, text: &str) -> anyhow::Result<[u8; 6]> {
    let parts: Vec<&str> = text.split(':').collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        bail!("service {service:?}: mac_address {text:?} is not a MAC address");
    }
    for (i, p) in parts.iter().enumerate() {
        mac[i] = u8::from_str_radix(p, 16)
            .with_context(|| format!("service {service:?}: mac_address {text:?}"))?;
    }
    Ok(mac)
}

/// Creates the container's namespace and connects it to the service's networks in their
/// order (`eth0` first, with the default route), recording each endpoint in `record` as it
/// goes so that a failure can be undone from the record.
pub async fn connect(
    ctx: &Context,
    networks: &Networks,
    service: &str,
    config: &ServiceConfig,
    mode: &NetworkMode,
    record: &mut ContainerRecord,
) -> anyhow::Result<()> {
    if !matches!(mode, NetworkMode::Own | NetworkMode::Isolated) {
        return Ok(());
    }
    let key = network_key(record).to_string();
    networks
        .create_netns(&key)
        .await
        .with_context(|| format!("cannot create the network namespace of {}", record.name))?;
    record.netns = Some(networks.netns_path(&key));
    if *mode == NetworkMode::Isolated {
        return Ok(());
    }
    let loaded = ctx.project.loaded()?;
    for (index, net_key) in crate::engine::desired::service_networks(config)
        .iter()
        .map(String::as_str)
        .enumerate()
    {
        let def = loaded.project.networks.get(net_key);
        let name = def
            .and_then(|d| d.name.clone())
            .unwrap_or_else(|| format!("{}_{net_key}", loaded.name));
        let net_cfg = config.networks.get(net_key).cloned().flatten();
        let ipv4 = match net_cfg.as_ref().and_then(|c| c.ipv4_address.as_deref()) {
            Some(a) => Some(a.parse().with_context(|| {
                format!("service {service:?}: networks.{net_key}.ipv4_address {a:?}")
            })?),
            None => None,
        };
        let ipv6 = match net_cfg.as_ref().and_then(|c| c.ipv6_address.as_deref()) {
            Some(a) => Some(a.parse().with_context(|| {
                format!("service {service:?}: networks.{net_key}.ipv6_address {a:?}")
            })?),
            None => None,
        };
        let mac_text = net_cfg
            .as_ref()
            .and_then(|c| c.mac_address.clone())
            .or_else(|| (index == 0).then(|| config.mac_address.clone()).flatten());
        let mac = mac_text
            .as_deref()
            .map(|m| parse_mac(service, m))
            .transpose()?;
        let request = EndpointRequest {
            container: key.clone(),
            ifname: net_cfg
                .as_ref()
                .and_then(|c| c.interface_name.clone())
                .unwrap_or_else(|| format!("eth{index}")),
            addresses: LeaseRequest { ipv4, ipv6 },
            mac,
            default_route: index == 0,
            mtu: None,
        };
        let info = networks
            .connect(&netns_of(networks, &key)?, &name, &request)
            .await
            .with_context(|| format!("cannot connect {} to network {name}", record.name))?;
        record.endpoints.push(Endpoint {
            network: name.clone(),
            aliases: aliases(service, config, net_key),
            ipv4: info.addresses.iter().map(|a| a.0).find(IpAddr::is_ipv4),
            ipv6: info.addresses.iter().map(|a| a.0).find(IpAddr::is_ipv6),
            mac: mac_text,
            links: links(config),
            interface: Some(request.ifname.clone()),
        });
    }
    Ok(())
}

fn netns_of(networks: &Networks, key: &str) -> anyhow::Result<berth_network::netns::Netns> {
    networks
        .join_netns(key)
        .with_context(|| format!("cannot open the network namespace of {key}"))
}

/// The gateways of the container's networks (its DNS servers), first network first.
fn gateways(networks: &Networks, record: &ContainerRecord) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for e in &record.endpoints {
        if let Ok(net) = networks.get(&e.network) {
            for s in &net.subnets {
                if e.ipv4.is_some_and(|a| s.subnet.contains(a))
                    || e.ipv6.is_some_and(|a| s.subnet.contains(a))
                {
                    out.push(s.gateway);
                }
            }
        }
    }
    out
}

/// Writes `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` for the container.
pub fn write_files(
    networks: &Networks,
    service: &str,
    config: &ServiceConfig,
    hostname: &str,
    mode: &NetworkMode,
    record: &ContainerRecord,
    paths: &ContainerPaths,
) -> anyhow::Result<()> {
    let host_resolv =
        ResolvConf::parse(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
    let (hosts_text, resolv) = if *mode == NetworkMode::Host {
        (
            std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
            host_resolv.clone(),
        )
    } else {
        let gateways = gateways(networks, record);
        let spec = HostsSpec {
            hostname: hostname.to_string(),
            domainname: config.domainname.clone(),
            extra_names: Vec::new(),
            addresses: record
                .endpoints
                .iter()
                .flat_map(|e| [e.ipv4, e.ipv6])
                .flatten()
                .collect(),
            extra_hosts: config
                .extra_hosts()
                .into_iter()
                .map(|(h, a)| (h.to_string(), a.to_string()))
                .collect(),
            host_gateway: gateways.first().copied(),
            add_host_internal: !gateways.is_empty(),
        };
        let text = hosts::hosts_file(&spec).with_context(|| format!("service {service:?}"))?;
        let dns: Vec<IpAddr> = config
            .dns
            .iter()
            .map(|d| {
                d.parse()
                    .with_context(|| format!("service {service:?}: dns {d:?} is not an IP address"))
            })
            .collect::<anyhow::Result<_>>()?;
        let resolv = hosts::container_resolv_conf(
            &host_resolv,
            &gateways,
            &dns,
            (!config.dns_search.is_empty()).then_some(config.dns_search.as_slice()),
            (!config.dns_opt.is_empty()).then_some(config.dns_opt.as_slice()),
        );
        (text, resolv)
    };
    let write = |path: PathBuf, text: &str| {
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write(paths.hosts(), &hosts_text)?;
    write(paths.resolv_conf(), &resolv.render())?;
    write(paths.hostname(), &format!("{hostname}\n"))?;
    Ok(())
}

/// The request that makes network `name` again from what IPAM recorded of it (its subnets,
/// gateways, ranges, bridge), for a network whose bridge and rules a reboot took away.
fn recorded_request(
    record: &berth_network::ipam::NetworkRecord,
) -> berth_network::ipam::NetworkRequest {
    use berth_network::ipam::{IpamConfig, NetworkRequest};
    NetworkRequest {
        name: record.name.clone(),
        bridge: record.bridge.clone(),
        internal: record.internal,
        enable_ipv6: record.enable_ipv6,
        ipam: record
            .subnets
            .iter()
            .map(|s| IpamConfig {
                subnet: Some(s.subnet),
                ip_range: s.ip_range,
                gateway: Some(s.gateway),
                aux_addresses: s.aux_addresses.clone(),
            })
            .collect(),
        labels: record.labels.clone(),
    }
}

/// Makes a recorded container's network again after its namespace vanished (a reboot): its
/// networks' bridges and rules, the namespace, and its endpoints with the addresses, MAC and
/// interface names it had, then its published ports.
pub async fn reattach(networks: &Networks, record: &ContainerRecord) -> anyhow::Result<()> {
    for e in &record.endpoints {
        let recorded = networks
            .get(&e.network)
            .with_context(|| format!("network {} of {} is gone", e.network, record.name))?;
        networks
            .create(&recorded_request(&recorded), None)
            .await
            .with_context(|| format!("cannot make network {} again", e.network))?;
    }
    let key = network_key(record).to_string();
    let _ = networks.remove_netns(&key);
    networks
        .create_netns(&key)
        .await
        .with_context(|| format!("cannot create the network namespace of {}", record.name))?;
    let netns = netns_of(networks, &key)?;
    for (index, e) in record.endpoints.iter().enumerate() {
        let request = EndpointRequest {
            container: key.clone(),
            ifname: e.interface.clone().unwrap_or_else(|| format!("eth{index}")),
            addresses: LeaseRequest {
                ipv4: e.ipv4_addr(),
                ipv6: e.ipv6_addr(),
            },
            mac: e
                .mac
                .as_deref()
                .map(|m| parse_mac(&record.name, m))
                .transpose()?,
            default_route: index == 0,
            mtu: None,
        };
        networks
            .connect(&netns, &e.network, &request)
            .await
            .with_context(|| format!("cannot connect {} to network {}", record.name, e.network))?;
    }
    let mappings = super::teardown::port_mappings(record);
    if !mappings.is_empty() {
        networks
            .firewall()
            .publish(&mappings)
            .with_context(|| format!("cannot publish the ports of {}", record.name))?;
    }
    Ok(())
}
