//! The container's namespaces: its own by default (Docker's pid, net, ipc, uts, mount and
//! cgroup), the host's with `host`, another container's with `service:NAME` or
//! `container:NAME` through the paths the engine resolved ([`NamespaceJoins`]).

use super::refuse;
use berth_compose::model::ServiceConfig;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType};
use std::path::PathBuf;

/// Namespace files the engine made or found for the container to join.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceJoins {
    /// The network namespace: the container's own (made by the engine and wired to its
    /// networks), or the one of the container named by `network_mode: service:X` /
    /// `container:X`. `None`: a fresh namespace with loopback only (allowed unless the
    /// service joins another container's). Unused with `network_mode: host`.
    pub net: Option<PathBuf>,
    /// With `ipc: service:X` / `container:X`: that container's IPC namespace
    /// (`/proc/<pid>/ns/ipc`).
    pub ipc: Option<PathBuf>,
    /// With `ipc: service:X` / `container:X`: that container's /dev/shm
    /// (`/proc/<pid>/root/dev/shm`), bound in place of the container's own.
    pub shm: Option<PathBuf>,
    /// With `pid: service:X` / `container:X`: that container's PID namespace.
    pub pid: Option<PathBuf>,
}

/// How the container gets one kind of namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// A new one.
    Own,
    /// The host's (no entry in the spec).
    Host,
    /// Another container's, by path.
    Join(PathBuf),
}

/// A namespace mode that names another container: `service:X` or `container:X`.
fn other(mode: &str) -> Option<&str> {
    mode.strip_prefix("service:")
        .or_else(|| mode.strip_prefix("container:"))
}

fn join(service: &str, key: &str, mode: &str, path: &Option<PathBuf>) -> anyhow::Result<Mode> {
    match path {
        Some(p) => Ok(Mode::Join(p.clone())),
        None => Err(refuse(
            service,
            key,
            format!(
                "{mode:?}: the engine did not find that container's namespace (is it running?)"
            ),
        )),
    }
}

/// The network namespace (`network_mode`).
pub fn network(service: &str, svc: &ServiceConfig, joins: &NamespaceJoins) -> anyhow::Result<Mode> {
    match svc.network_mode.as_deref() {
        Some("host") => Ok(Mode::Host),
        Some(m) if other(m).is_some() => join(service, "network_mode", m, &joins.net),
        None | Some("none" | "bridge" | "default") => {
            Ok(joins.net.clone().map_or(Mode::Own, Mode::Join))
        }
        Some(m) => Err(refuse(
            service,
            "network_mode",
            format!("{m:?} is not supported (host, none, bridge, service:NAME, container:NAME)"),
        )),
    }
}

/// The IPC namespace (`ipc`): `private` and `shareable` are the container's own.
pub fn ipc(service: &str, svc: &ServiceConfig, joins: &NamespaceJoins) -> anyhow::Result<Mode> {
    match svc.ipc.as_deref() {
        None | Some("" | "private" | "shareable") => Ok(Mode::Own),
        Some("host") => Ok(Mode::Host),
        Some(m) if other(m).is_some() => join(service, "ipc", m, &joins.ipc),
        Some("none") => Err(refuse(
            service,
            "ipc",
            "\"none\" (no /dev/shm) is not supported",
        )),
        Some(m) => Err(refuse(
            service,
            "ipc",
            format!("{m:?} is invalid (private, shareable, host, service:NAME, container:NAME)"),
        )),
    }
}

/// The PID namespace (`pid`).
pub fn pid(service: &str, svc: &ServiceConfig, joins: &NamespaceJoins) -> anyhow::Result<Mode> {
    match svc.pid.as_deref() {
        None | Some("" | "private") => Ok(Mode::Own),
        Some("host") => Ok(Mode::Host),
        Some(m) if other(m).is_some() => join(service, "pid", m, &joins.pid),
        Some(m) => Err(refuse(
            service,
            "pid",
            format!("{m:?} is invalid (host, service:NAME, container:NAME)"),
        )),
    }
}

/// The UTS namespace (`uts`).
pub fn uts(service: &str, svc: &ServiceConfig) -> anyhow::Result<Mode> {
    match svc.uts.as_deref() {
        None | Some("" | "private") => Ok(Mode::Own),
        Some("host") => Ok(Mode::Host),
        Some(m) => Err(refuse(service, "uts", format!("{m:?} is invalid (host)"))),
    }
}

/// The cgroup namespace (`cgroup`).
pub fn cgroup(service: &str, svc: &ServiceConfig) -> anyhow::Result<Mode> {
    match svc.cgroup.as_deref() {
        None | Some("" | "private") => Ok(Mode::Own),
        Some("host") => Ok(Mode::Host),
        Some(m) => Err(refuse(
            service,
            "cgroup",
            format!("{m:?} is invalid (host, private)"),
        )),
    }
}

/// Checks `userns_mode`: berth runs containers without a user namespace, which is what
/// `host` asks for; remapping is not supported.
pub fn check_userns(service: &str, svc: &ServiceConfig) -> anyhow::Result<()> {
    match svc.userns_mode.as_deref() {
        None | Some("" | "host") => Ok(()),
        Some(m) => Err(refuse(
            service,
            "userns_mode",
            format!("{m:?} is not supported: berth does not remap users (only \"host\")"),
        )),
    }
}

/// The spec's namespace list, in Docker's order.
pub fn namespaces(
    service: &str,
    svc: &ServiceConfig,
    joins: &NamespaceJoins,
) -> anyhow::Result<Vec<LinuxNamespace>> {
    check_userns(service, svc)?;
    let modes = [
        (LinuxNamespaceType::Pid, pid(service, svc, joins)?),
        (LinuxNamespaceType::Network, network(service, svc, joins)?),
        (LinuxNamespaceType::Ipc, ipc(service, svc, joins)?),
        (LinuxNamespaceType::Uts, uts(service, svc)?),
        (LinuxNamespaceType::Mount, Mode::Own),
        (LinuxNamespaceType::Cgroup, cgroup(service, svc)?),
    ];
    let mut out = Vec::new();
    for (typ, mode) in modes {
        let b = LinuxNamespaceBuilder::default().typ(typ);
        let ns = match mode {
            Mode::Host => continue,
            Mode::Own => b.build()?,
            Mode::Join(p) => b.path(p).build()?,
        };
        out.push(ns);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::testing::service;
    use berth_compose::model::ServiceConfig;

    fn kinds(list: &[LinuxNamespace]) -> Vec<(LinuxNamespaceType, Option<PathBuf>)> {
        list.iter().map(|n| (n.typ(), n.path().clone())).collect()
    }

    #[test]
    fn defaults_are_dockers_plus_the_engines_netns() {
        let joins = NamespaceJoins {
            net: Some("/run/berth/netns/x".into()),
            ..Default::default()
        };
        let ns = namespaces("s", &service("image: x"), &joins).unwrap();
        assert_eq!(ns.len(), 6);
        assert_eq!(
            ns[1].path().as_deref(),
            Some(std::path::Path::new("/run/berth/netns/x"))
        );
        let own = namespaces("s", &service("image: x"), &NamespaceJoins::default()).unwrap();
        assert!(own.iter().all(|n| n.path().is_none()));
    }

    #[test]
    fn host_modes_leave_namespaces_out() {
        let s = service(
            "image: x\nnetwork_mode: host\npid: host\nipc: host\nuts: host\ncgroup: host\nuserns_mode: host",
        );
        let ns = namespaces("s", &s, &NamespaceJoins::default()).unwrap();
        assert_eq!(kinds(&ns), vec![(LinuxNamespaceType::Mount, None)]);
    }

    #[test]
    fn joins_take_the_engines_paths() {
        let s =
            service("image: x\nnetwork_mode: container:db\nipc: container:db\npid: container:db");
        let e = namespaces("web", &s, &NamespaceJoins::default()).unwrap_err();
        assert!(e.to_string().starts_with("service \"web\": pid"), "{e}");
        let joins = NamespaceJoins {
            net: Some("/n".into()),
            ipc: Some("/proc/9/ns/ipc".into()),
            shm: None,
            pid: Some("/proc/9/ns/pid".into()),
        };
        let ns = namespaces("web", &s, &joins).unwrap();
        let paths: Vec<_> = ns.iter().filter_map(|n| n.path().clone()).collect();
        assert_eq!(paths.len(), 3);
    }

    #[test]
    fn invalid_modes_are_refused() {
        let base = service("image: x");
        type Set = fn(&mut ServiceConfig);
        let cases: [(&str, Set); 6] = [
            ("ipc none", |s| s.ipc = Some("none".into())),
            ("ipc weird", |s| s.ipc = Some("weird".into())),
            ("pid", |s| s.pid = Some("x".into())),
            ("uts", |s| s.uts = Some("y".into())),
            ("cgroup", |s| s.cgroup = Some("z".into())),
            ("userns", |s| s.userns_mode = Some("keep-id".into())),
        ];
        for (what, set) in cases {
            let mut s = base.clone();
            set(&mut s);
            assert!(
                namespaces("s", &s, &NamespaceJoins::default()).is_err(),
                "{what}"
            );
        }
    }
}
