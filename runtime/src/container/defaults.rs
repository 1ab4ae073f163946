//! Docker's defaults as an OCI spec: what a container gets when its compose service says
//! nothing (moby's default spec: mounts, namespaces, capabilities, devices, masked and
//! read-only paths, seccomp profile). The engine starts from [`docker_spec`] and adjusts.

use super::capabilities;
use super::rootfs::{DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS};
use super::seccomp::docker as seccomp_docker;
use oci_spec::runtime::{
    LinuxBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder, Mount, MountBuilder,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

/// The PATH Docker gives a container whose image sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .unwrap_or_default()
}

/// Docker's mounts: /proc, /dev (tmpfs), /dev/pts, /sys (read-only), /sys/fs/cgroup
/// (read-only), /dev/mqueue, /dev/shm (64 MiB).
pub fn docker_mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
    ]
}

fn device_rule(
    allow: bool,
    t: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(access);
    if let Some(t) = t {
        b = b.typ(t);
    }
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().unwrap_or_default()
}

/// Docker's device cgroup rules: nothing, except mknod of anything and use of the standard
/// character devices, ptys and /dev/net/tun.
pub fn docker_device_rules() -> Vec<LinuxDeviceCgroup> {
    let c = Some(LinuxDeviceType::C);
    let mut rules = vec![
        device_rule(false, None, None, None, "rwm"),
        device_rule(true, c, None, None, "m"),
        device_rule(true, Some(LinuxDeviceType::B), None, None, "m"),
    ];
    for (major, minor) in [
        (1, Some(3)),
        (1, Some(8)),
        (1, Some(7)),
        (5, Some(0)),
        (1, Some(5)),
        (1, Some(9)),
        (136, None),
        (5, Some(2)),
        (10, Some(200)),
    ] {
        rules.push(device_rule(true, c, Some(major), minor, "rwm"));
    }
    rules
}

/// The namespaces Docker gives a container: its own pid, network, ipc, uts, mount and cgroup
/// namespaces.
pub fn docker_namespaces() -> Vec<LinuxNamespaceType> {
    vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
    ]
}

/// A spec as Docker would make it for an image running `args` as root: Docker's mounts,
/// namespaces, capabilities, device rules, masked and read-only paths, and its default seccomp
/// profile; plus no_new_privs, which berth turns on by default (DESIGN.md) where Docker does
/// not. The rootfs path is `rootfs` (the runtime takes the real one as an argument).
pub fn docker_spec(args: &[&str]) -> Spec {
    let caps = capabilities::docker_capabilities(&[], &[], false, 0, &capabilities::available())
        .unwrap_or_default();
    let bounding: Vec<String> = caps
        .bounding()
        .iter()
        .flatten()
        .map(|c| format!("CAP_{c}"))
        .collect();
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(
            UserBuilder::default()
                .uid(0u32)
                .gid(0u32)
                .build()
                .unwrap_or_default(),
        )
        .args(args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .env(vec![DEFAULT_PATH.to_string()])
        .cwd("/")
        .capabilities(caps)
        .no_new_privileges(true)
        .rlimits(Vec::new())
        .build()
        .unwrap_or_default();
    let namespaces = docker_namespaces()
        .into_iter()
        .map(|t| {
            LinuxNamespaceBuilder::default()
                .typ(t)
                .build()
                .unwrap_or_default()
        })
        .collect::<Vec<_>>();
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .masked_paths(
            DOCKER_MASKED_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
        .readonly_paths(
            DOCKER_READONLY_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
        .resources(
            LinuxResourcesBuilder::default()
                .devices(docker_device_rules())
                .build()
                .unwrap_or_default(),
        )
        .seccomp(seccomp_docker::default_for(&bounding))
        .build()
        .unwrap_or_default();
    SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(false)
                .build()
                .unwrap_or_default(),
        )
        .process(process)
        .mounts(docker_mounts())
        .linux(linux)
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_spec_has_dockers_pieces() {
        let s = docker_spec(&["sh"]);
        let linux = s.linux().as_ref().unwrap();
        assert_eq!(linux.namespaces().as_ref().unwrap().len(), 6);
        assert_eq!(
            linux.masked_paths().as_ref().unwrap().len(),
            DOCKER_MASKED_PATHS.len()
        );
        assert!(linux.seccomp().is_some());
        assert_eq!(s.mounts().as_ref().unwrap().len(), 7);
        let rules = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .as_ref()
            .unwrap();
        assert!(!rules[0].allow());
        assert_eq!(rules.len(), 12);
        assert_eq!(
            s.process()
                .as_ref()
                .unwrap()
                .capabilities()
                .as_ref()
                .unwrap()
                .bounding()
                .as_ref()
                .unwrap()
                .len(),
            14
        );
    }
}
