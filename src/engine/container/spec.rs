//! The OCI runtime spec of a container: Docker's defaults ([`docker_spec`]) adjusted by the
//! service: process, hostname, mounts (Docker's, the /etc files the executor writes, the
//! service's), namespaces, sysctls, cgroup limits, devices, privileges.

use super::namespaces::{self, Mode};
use super::{ContainerInput, at, process, refuse, resources};
use anyhow::Context;
use berth_compose::model::ServiceConfig;
use berth_runtime::container::defaults::{docker_spec, etc_mounts, make_privileged};
use berth_runtime::container::sysctl;
use oci_spec::runtime::{
    LinuxNamespaceType, LinuxResourcesBuilder, Mount as OciMount, MountBuilder, Spec, UserBuilder,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The kernel's limit on host names (HOST_NAME_MAX).
const HOST_NAME_MAX: usize = 64;

/// The container's host name, `None` when it shares the host's UTS namespace. The service's
/// `hostname`, else the host's with `network_mode: host`, else the first 12 characters of the
/// container id, as Docker.
pub fn hostname(input: &ContainerInput, svc: &ServiceConfig) -> anyhow::Result<Option<String>> {
    let service = input.service;
    if namespaces::uts(service, svc)? == Mode::Host {
        if svc.hostname.is_some() {
            return Err(refuse(service, "hostname", "cannot be set with uts: host"));
        }
        return Ok(None);
    }
    let name = match (&svc.hostname, svc.network_mode.as_deref()) {
        (Some(h), _) => h.clone(),
        (None, Some("host")) => nix::unistd::gethostname()
            .context("reading the host's name")?
            .to_string_lossy()
            .into_owned(),
        (None, _) => input.id.chars().take(12).collect(),
    };
    if name.is_empty() || name.len() > HOST_NAME_MAX || name.contains(['/', '\0', ' ']) {
        return Err(refuse(
            service,
            "hostname",
            format!("{name:?} is not a valid host name"),
        ));
    }
    Ok(Some(name))
}

/// One of the container's mounts as an OCI mount.
pub fn oci_mount(m: &berth_volumes::mounts::Mount) -> OciMount {
    MountBuilder::default()
        .destination(&m.target)
        .typ(m.fstype())
        .source(m.oci_source())
        .options(m.oci_options())
        .build()
        .unwrap_or_default()
}

fn bind(source: &Path, dest: &str) -> OciMount {
    MountBuilder::default()
        .destination(dest)
        .typ("bind")
        .source(source)
        .options(vec![
            "rbind".to_string(),
            "rprivate".to_string(),
            "rw".to_string(),
        ])
        .build()
        .unwrap_or_default()
}

/// The depth of a mount point, to mount parents before children.
fn depth(p: &Path) -> usize {
    p.components().count()
}

/// The container's mounts: Docker's (with the service's /dev/shm), the /etc files, then the
/// service's; a mount of the service replaces one of the defaults at the same place. Sorted
/// (stably) so that a parent is mounted before what is mounted inside it.
fn mounts(
    input: &ContainerInput,
    svc: &ServiceConfig,
    defaults: Vec<OciMount>,
) -> anyhow::Result<Vec<OciMount>> {
    let service = input.service;
    let shm = resources::shm_size(service, svc)?;
    let ipc = namespaces::ipc(service, svc, input.namespaces)?;
    let mut base = Vec::new();
    for mut m in defaults {
        if m.destination() == Path::new("/dev/shm") {
            match (&ipc, &input.namespaces.shm) {
                (Mode::Host, _) => m = bind(Path::new("/dev/shm"), "/dev/shm"),
                (Mode::Join(_), Some(theirs)) => m = bind(theirs, "/dev/shm"),
                (Mode::Join(_), None) => {
                    return Err(refuse(
                        service,
                        "ipc",
                        "the engine did not find that container's /dev/shm",
                    ));
                }
                (Mode::Own, _) => {
                    if let Some(size) = shm {
                        let opts: Vec<String> = m
                            .options()
                            .clone()
                            .unwrap_or_default()
                            .into_iter()
                            .filter(|o| !o.starts_with("size="))
                            .chain([format!("size={size}")])
                            .collect();
                        m.set_options(Some(opts));
                    }
                }
            }
        }
        base.push(m);
    }
    let paths = input.paths;
    let (hostname, hosts, resolv) = (paths.hostname(), paths.hosts(), paths.resolv_conf());
    base.extend(etc_mounts(
        Some(&hostname),
        Some(&hosts),
        Some(&resolv),
        svc.read_only == Some(true),
    ));
    let own: Vec<OciMount> = input.mounts.iter().map(oci_mount).collect();
    base.retain(|d| !own.iter().any(|o| o.destination() == d.destination()));
    base.extend(own);
    base.sort_by_key(|m| depth(m.destination()));
    Ok(base)
}

/// Checks `sysctls`: only namespaced keys, and not those of a namespace shared with the host.
fn sysctls(
    service: &str,
    svc: &ServiceConfig,
    net: &Mode,
    ipc: &Mode,
) -> anyhow::Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (k, v) in &svc.sysctls {
        let key = format!("sysctls.{k}");
        match sysctl::namespace_of(k) {
            None => {
                return Err(refuse(
                    service,
                    &key,
                    "not a namespaced kernel parameter: it cannot be set for one container",
                ));
            }
            Some(LinuxNamespaceType::Network) if *net == Mode::Host => {
                return Err(refuse(
                    service,
                    &key,
                    "cannot be set with network_mode: host",
                ));
            }
            Some(LinuxNamespaceType::Ipc) if *ipc == Mode::Host => {
                return Err(refuse(service, &key, "cannot be set with ipc: host"));
            }
            Some(_) => {}
        }
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

/// Refuses what berth cannot honour and no other part of the engine handles: another OCI
/// runtime (`runtime`), and device reservations (GPUs) in `deploy.resources`.
fn check_unsupported(service: &str, svc: &ServiceConfig) -> anyhow::Result<()> {
    if let Some(r) = svc.runtime.as_deref()
        && !matches!(r, "" | "runc" | "io.containerd.runc.v2")
    {
        return Err(refuse(
            service,
            "runtime",
            format!("{r:?}: berth runs containers with its own runtime only"),
        ));
    }
    let reservations = svc
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.reservations.as_ref());
    if reservations.is_some_and(|r| !r.devices.is_empty() || !r.generic_resources.is_empty()) {
        return Err(refuse(
            service,
            "deploy.resources.reservations",
            "device and generic resource reservations (GPUs) are not supported by berth",
        ));
    }
    Ok(())
}

/// Builds the runtime spec of the container of `input`.
pub fn build_spec(input: &ContainerInput) -> anyhow::Result<Spec> {
    let svc = input.config()?;
    let service = input.service;
    let image = input.defaults();
    check_unsupported(service, svc)?;
    let args = process::args(service, svc, image)?;
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut spec = docker_spec(&arg_refs);

    let hostname = hostname(input, svc)?;
    let user = process::user(service, svc, image, &input.paths.rootfs())?;
    let security = process::security(service, svc, &input.project.working_dir)?;
    let caps = process::capabilities(service, svc, user.uid)?;
    let seccomp = process::seccomp(service, &security.seccomp, &caps)?;
    // Sharing the host's UTS namespace, the process sees the host's name.
    let env_hostname = match &hostname {
        Some(h) => h.clone(),
        None => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if let Some(p) = spec.process_mut().as_mut() {
        p.set_args(Some(args.clone()));
        p.set_env(Some(process::environment(svc, image, &env_hostname)));
        p.set_cwd(PathBuf::from(process::working_dir(service, svc, image)?));
        p.set_terminal(Some(svc.tty == Some(true)));
        p.set_user(
            UserBuilder::default()
                .uid(user.uid)
                .gid(user.gid)
                .additional_gids(user.additional_gids.clone())
                .build()
                .with_context(|| at(service, "user"))?,
        );
        p.set_rlimits(Some(process::rlimits(service, svc)?));
        p.set_capabilities(Some(caps));
        p.set_no_new_privileges(Some(security.no_new_privileges));
        if let Some(adj) = svc.oom_score_adj {
            let adj = i32::try_from(adj)
                .ok()
                .filter(|a| (-1000..=1000).contains(a))
                .ok_or_else(|| {
                    refuse(service, "oom_score_adj", "must be between -1000 and 1000")
                })?;
            p.set_oom_score_adj(Some(adj));
        }
    }
    spec.set_hostname(hostname);
    if let Some(d) = svc.domainname.as_deref().filter(|d| !d.is_empty()) {
        if spec.hostname().is_none() {
            return Err(refuse(
                service,
                "domainname",
                "cannot be set with uts: host",
            ));
        }
        spec.set_domainname(Some(d.to_string()));
    }
    if let Some(root) = spec.root_mut().as_mut() {
        root.set_readonly(Some(svc.read_only == Some(true)));
    }
    let defaults = spec.mounts().clone().unwrap_or_default();
    spec.set_mounts(Some(mounts(input, svc, defaults)?));

    let net = namespaces::network(service, svc, input.namespaces)?;
    let ipc = namespaces::ipc(service, svc, input.namespaces)?;
    let ns = namespaces::namespaces(service, svc, input.namespaces)?;
    let sysctls = sysctls(service, svc, &net, &ipc)?;
    let (devices, device_rules) = resources::devices(service, svc)?;
    let memory = resources::memory(service, svc)?;
    let cpu = resources::cpu(service, svc)?;
    let pids = resources::pids(svc);
    let block_io = resources::block_io(service, svc)?;
    if let Some(linux) = spec.linux_mut().as_mut() {
        linux.set_namespaces(Some(ns));
        if !sysctls.is_empty() {
            linux.set_sysctl(Some(sysctls));
        }
        linux.set_seccomp(seccomp);
        if security.unmask_system_paths {
            linux.set_masked_paths(Some(Vec::new()));
            linux.set_readonly_paths(Some(Vec::new()));
        }
        if !devices.is_empty() {
            linux.set_devices(Some(devices));
        }
        let mut rules = linux
            .resources()
            .as_ref()
            .and_then(|r| r.devices().clone())
            .unwrap_or_default();
        rules.extend(device_rules);
        let mut r = LinuxResourcesBuilder::default().devices(rules);
        if let Some(m) = memory {
            r = r.memory(m);
        }
        if let Some(c) = cpu {
            r = r.cpu(c);
        }
        if let Some(p) = pids {
            r = r.pids(p);
        }
        if let Some(b) = block_io {
            r = r.block_io(b);
        }
        linux.set_resources(Some(r.build().with_context(|| at(service, "resources"))?));
        if let Some(parent) = svc.cgroup_parent.as_deref().filter(|p| !p.is_empty()) {
            if Path::new(parent)
                .components()
                .any(|c| c == std::path::Component::ParentDir)
            {
                return Err(refuse(service, "cgroup_parent", "must not contain `..`"));
            }
            let parent = Path::new("/").join(parent.trim_start_matches('/'));
            linux.set_cgroups_path(Some(parent.join(input.id)));
        }
    }
    if svc.privileged == Some(true) {
        // Docker's privileged: every capability, every host device, no seccomp (unless a
        // profile is asked for explicitly), nothing masked.
        make_privileged(&mut spec).with_context(|| at(service, "privileged"))?;
        if let process::Seccomp::File(_) = security.seccomp {
            let caps = spec
                .process()
                .as_ref()
                .and_then(|p| p.capabilities().clone())
                .unwrap_or_default();
            let filter = process::seccomp(service, &security.seccomp, &caps)?;
            if let Some(linux) = spec.linux_mut().as_mut() {
                linux.set_seccomp(filter);
            }
        }
    }
    if !svc.annotations.is_empty() {
        spec.set_annotations(Some(
            svc.annotations
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ));
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's mount at `destination`.
    fn mount_at<'a>(spec: &'a Spec, destination: &str) -> &'a oci_spec::runtime::Mount {
        spec.mounts()
            .as_ref()
            .and_then(|ms| {
                ms.iter()
                    .find(|m| m.destination() == Path::new(destination))
            })
            .unwrap_or_else(|| panic!("no mount at {destination}"))
    }
    use crate::engine::container::NamespaceJoins;
    use crate::engine::container::testing::{Fixture, ID, project};
    use berth_volumes::mounts::Mount;

    fn build(body: &str) -> anyhow::Result<Spec> {
        let indented: String = body.lines().map(|l| format!("    {l}\n")).collect();
        let f = Fixture::new(project(&format!(
            "services:\n  s:\n    image: x\n{indented}"
        )));
        build_spec(&f.input("s"))
    }

    fn dests(s: &Spec) -> Vec<String> {
        s.mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect()
    }

    #[test]
    fn a_plain_service_gets_dockers_defaults() {
        let s = build("").unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["sh"]);
        assert_eq!(s.hostname().as_deref(), Some(&ID[..12]));
        let env = p.env().as_ref().unwrap();
        assert_eq!(env[0], "PATH=/usr/bin:/bin");
        assert_eq!(env[1], format!("HOSTNAME={}", &ID[..12]));
        assert_eq!(p.user().uid(), 0);
        assert_eq!(p.cwd(), Path::new("/"));
        assert_eq!(p.no_new_privileges(), Some(true));
        assert!(s.linux().as_ref().unwrap().seccomp().is_some());
        assert_eq!(
            s.linux()
                .as_ref()
                .unwrap()
                .namespaces()
                .as_ref()
                .unwrap()
                .len(),
            6
        );
        assert_eq!(
            dests(&s),
            [
                "/proc",
                "/dev",
                "/sys",
                "/dev/pts",
                "/dev/mqueue",
                "/dev/shm",
                "/etc/hostname",
                "/etc/hosts",
                "/etc/resolv.conf",
                "/sys/fs/cgroup"
            ]
        );
    }

    #[test]
    fn service_settings_reach_the_spec() {
        let s = build(
            "user: app\ngroup_add: [audio]\nworking_dir: /work\nhostname: web\ndomainname: example.org\ntty: true\nread_only: true\nshm_size: 1m\nsysctls: {net.ipv4.ip_forward: '1'}\nmem_limit: 64m\npids_limit: 10\noom_score_adj: 500\nannotations: {a: b}\ncgroup_parent: mygroup\nulimits: {nofile: 1024}",
        )
        .unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[29][..]));
        assert!(
            p.capabilities()
                .as_ref()
                .unwrap()
                .effective()
                .as_ref()
                .unwrap()
                .is_empty()
        );
        assert_eq!(p.cwd(), Path::new("/work"));
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(p.oom_score_adj(), Some(500));
        assert_eq!(p.rlimits().as_ref().unwrap().len(), 1);
        assert!(
            p.env()
                .as_ref()
                .unwrap()
                .contains(&"HOSTNAME=web".to_string())
        );
        assert_eq!(s.hostname().as_deref(), Some("web"));
        assert_eq!(s.domainname().as_deref(), Some("example.org"));
        assert_eq!(s.root().as_ref().unwrap().readonly(), Some(true));
        let shm = mount_at(&s, "/dev/shm");
        assert!(
            shm.options()
                .as_ref()
                .unwrap()
                .contains(&"size=1048576".to_string())
        );
        let hosts = mount_at(&s, "/etc/hosts");
        assert!(
            hosts
                .options()
                .as_ref()
                .unwrap()
                .contains(&"ro".to_string())
        );
        let linux = s.linux().as_ref().unwrap();
        assert_eq!(linux.sysctl().as_ref().unwrap()["net.ipv4.ip_forward"], "1");
        let r = linux.resources().as_ref().unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 10);
        assert_eq!(r.devices().as_ref().unwrap().len(), 12);
        assert_eq!(
            linux.cgroups_path().as_deref(),
            Some(Path::new("/mygroup").join(ID).as_path())
        );
        assert_eq!(s.annotations().as_ref().unwrap()["a"], "b");
    }

    #[test]
    fn service_mounts_replace_defaults_and_sort_parents_first() {
        let mut f = Fixture::new(project("services:\n  s:\n    image: x\n"));
        f.mounts = vec![
            Mount::bind("/srv/a/b", "/data/inner"),
            Mount::bind("/srv/a", "/data"),
            Mount::tmpfs("/dev/shm"),
            Mount::bind("/srv/hosts", "/etc/hosts").read_only(true),
        ];
        let s = build_spec(&f.input("s")).unwrap();
        let d = dests(&s);
        assert_eq!(d.iter().filter(|x| *x == "/dev/shm").count(), 1);
        assert_eq!(d.iter().filter(|x| *x == "/etc/hosts").count(), 1);
        let pos = |t: &str| d.iter().position(|x| x == t).unwrap();
        assert!(pos("/data") < pos("/data/inner"));
        assert!(pos("/dev") < pos("/dev/shm"));
        let hosts = mount_at(&s, "/etc/hosts");
        assert_eq!(hosts.source().as_deref(), Some(Path::new("/srv/hosts")));
        let shm = mount_at(&s, "/dev/shm");
        assert_eq!(shm.typ().as_deref(), Some("tmpfs"));
        assert!(
            shm.options()
                .as_ref()
                .unwrap()
                .contains(&"noexec".to_string())
        );
    }

    #[test]
    fn host_namespaces() {
        let s = build("network_mode: host\nipc: host\nuts: host").unwrap();
        assert!(s.hostname().is_none());
        let ns: Vec<_> = s
            .linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect();
        assert!(
            !ns.contains(&LinuxNamespaceType::Network) && !ns.contains(&LinuxNamespaceType::Uts)
        );
        let shm = mount_at(&s, "/dev/shm");
        assert_eq!(shm.typ().as_deref(), Some("bind"));
        let host = nix::unistd::gethostname()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let env = s.process().as_ref().unwrap().env().clone().unwrap();
        assert!(env.contains(&format!("HOSTNAME={host}")), "{env:?}");
        let s = build("network_mode: host").unwrap();
        assert_eq!(
            s.hostname().clone().unwrap(),
            nix::unistd::gethostname().unwrap().to_string_lossy()
        );
        assert!(build("uts: host\nhostname: x").is_err());
        assert!(build("uts: host\ndomainname: x.org").is_err());
        let e = build("network_mode: host\nsysctls: {net.core.somaxconn: '1024'}").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("service \"s\": sysctls.net.core.somaxconn"),
            "{e}"
        );
        assert!(build("sysctls: {kernel.panic: '1'}").is_err());
    }

    #[test]
    fn joined_namespaces_use_the_engines_paths() {
        let mut f = Fixture::new(project(
            "services:\n  db: {image: x}\n  s:\n    image: x\n    network_mode: service:db\n    ipc: service:db\n    pid: service:db\n",
        ));
        let e = build_spec(&f.input("s")).unwrap_err();
        assert!(e.to_string().starts_with("service \"s\": "), "{e}");
        f.joins = NamespaceJoins {
            net: Some("/run/berth/netns/db".into()),
            ipc: Some("/proc/42/ns/ipc".into()),
            shm: None,
            pid: Some("/proc/42/ns/pid".into()),
        };
        let e = build_spec(&f.input("s")).unwrap_err();
        assert!(e.to_string().contains("/dev/shm"), "{e}");
        f.joins.shm = Some("/proc/42/root/dev/shm".into());
        let s = build_spec(&f.input("s")).unwrap();
        let ns = s.linux().as_ref().unwrap().namespaces().clone().unwrap();
        let path = |t| {
            ns.iter()
                .find(|n| n.typ() == t)
                .and_then(|n| n.path().clone())
        };
        assert_eq!(
            path(LinuxNamespaceType::Network),
            Some(PathBuf::from("/run/berth/netns/db"))
        );
        assert_eq!(
            path(LinuxNamespaceType::Ipc),
            Some(PathBuf::from("/proc/42/ns/ipc"))
        );
        assert_eq!(
            path(LinuxNamespaceType::Pid),
            Some(PathBuf::from("/proc/42/ns/pid"))
        );
        let shm = mount_at(&s, "/dev/shm");
        assert_eq!(
            shm.source().as_deref(),
            Some(Path::new("/proc/42/root/dev/shm"))
        );
    }

    #[test]
    fn devices_and_rules_join_dockers() {
        let s =
            build("devices: ['/dev/null:/dev/x']\ndevice_cgroup_rules: ['c 42:* rmw']").unwrap();
        let linux = s.linux().as_ref().unwrap();
        assert_eq!(
            linux.devices().as_ref().unwrap()[0].path(),
            Path::new("/dev/x")
        );
        let rules = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .clone()
            .unwrap();
        assert_eq!(rules.len(), 14);
        assert!(!rules[0].allow(), "Docker's deny-all comes first");
        assert_eq!(rules[13].major(), Some(42));
    }

    #[test]
    fn privileged_and_security() {
        let s = build("privileged: true").unwrap();
        let linux = s.linux().as_ref().unwrap();
        assert!(linux.seccomp().is_none());
        assert!(linux.masked_paths().as_ref().unwrap().is_empty());
        let s = build("security_opt: ['systempaths=unconfined', 'seccomp=unconfined', 'no-new-privileges=false']").unwrap();
        let linux = s.linux().as_ref().unwrap();
        assert!(linux.seccomp().is_none());
        assert!(linux.readonly_paths().as_ref().unwrap().is_empty());
        assert_eq!(
            s.process().as_ref().unwrap().no_new_privileges(),
            Some(false)
        );
        assert!(build("cgroup_parent: ../escape").is_err());
        let e = build("runtime: nvidia").unwrap_err();
        assert!(e.to_string().starts_with("service \"s\": runtime"), "{e}");
        assert!(build("runtime: runc").is_ok());
        let e = build("deploy: {resources: {reservations: {devices: [{capabilities: [gpu]}]}}}")
            .unwrap_err();
        assert!(e.to_string().contains("reservations"), "{e}");
    }
}
