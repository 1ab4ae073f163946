//! Docker's defaults as an OCI spec: what a container gets when its compose service says
//! nothing (moby's default spec: mounts, namespaces, capabilities, devices, masked and
//! read-only paths, seccomp profile). The engine starts from [`docker_spec`] and adjusts.

use super::capabilities::{self, CapabilityError};
use super::rootfs::{DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS};
use super::seccomp::docker as seccomp_docker;
use oci_spec::runtime::{
    LinuxBuilder, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder,
    LinuxDeviceType, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder, Mount,
    MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};
use std::path::Path;

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

/// One device cgroup rule (`None` type, major or minor: any).
pub(crate) fn device_rule(
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

/// Bind mounts of the files Docker writes for each container: /etc/hostname, /etc/hosts and
/// /etc/resolv.conf, from files the caller made; read-only along with a read-only root, as
/// Docker does.
pub fn etc_mounts(
    hostname: Option<&Path>,
    hosts: Option<&Path>,
    resolv_conf: Option<&Path>,
    readonly: bool,
) -> Vec<Mount> {
    let mode = if readonly { "ro" } else { "rw" };
    [
        ("/etc/hostname", hostname),
        ("/etc/hosts", hosts),
        ("/etc/resolv.conf", resolv_conf),
    ]
    .into_iter()
    .filter_map(|(dest, src)| {
        let src = src?;
        Some(
            MountBuilder::default()
                .destination(dest)
                .typ("bind")
                .source(src)
                .options(vec![
                    "rbind".to_string(),
                    "rprivate".to_string(),
                    mode.to_string(),
                ])
                .build()
                .unwrap_or_default(),
        )
    })
    .collect()
}

/// Directories of /dev whose content is not the host's devices to hand out.
const SKIPPED_DEV_DIRS: [&str; 7] = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

/// The host's device nodes under `dev` (normally /dev), as Docker hands them to a privileged
/// container: every character and block device, except the terminal ones (/dev/pts,
/// /dev/console) and those of special directories.
pub fn host_devices(dev: &Path) -> Vec<LinuxDevice> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dev) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let name = e.file_name();
        let name = name.to_string_lossy();
        let ft = meta.file_type();
        if ft.is_dir() {
            if !SKIPPED_DEV_DIRS.contains(&name.as_ref()) {
                out.extend(host_devices(&path));
            }
            continue;
        }
        if name == "console" {
            continue;
        }
        let typ = if ft.is_char_device() {
            LinuxDeviceType::C
        } else if ft.is_block_device() {
            LinuxDeviceType::B
        } else {
            continue;
        };
        let rdev = meta.rdev();
        let device = LinuxDeviceBuilder::default()
            .path(path)
            .typ(typ)
            .major(libc::major(rdev) as i64)
            .minor(libc::minor(rdev) as i64)
            .file_mode(meta.mode() & 0o7777)
            .uid(meta.uid())
            .gid(meta.gid())
            .build();
        if let Ok(d) = device {
            out.push(d);
        }
    }
    out.sort_by(|a, b| a.path().cmp(b.path()));
    out
}

/// Turns a spec into Docker's `privileged: true`: every capability the runtime has, every host
/// device and access to all devices, no seccomp profile, no masked or read-only paths, and /sys
/// and the cgroup hierarchies writable.
pub fn make_privileged(spec: &mut Spec) -> Result<(), CapabilityError> {
    let uid = spec.process().as_ref().map(|p| p.user().uid()).unwrap_or(0);
    let caps = capabilities::docker_capabilities(&[], &[], true, uid, &capabilities::available())?;
    if let Some(p) = spec.process_mut().as_mut() {
        p.set_capabilities(Some(caps));
    }
    if let Some(mounts) = spec.mounts_mut().as_mut() {
        for m in mounts
            .iter_mut()
            .filter(|m| matches!(m.typ().as_deref(), Some("sysfs" | "cgroup" | "cgroup2")))
        {
            let opts: Vec<String> = m
                .options()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|o| o != "ro")
                .collect();
            m.set_options(Some(opts));
        }
    }
    if let Some(linux) = spec.linux_mut().as_mut() {
        linux.set_seccomp(None);
        linux.set_masked_paths(Some(Vec::new()));
        linux.set_readonly_paths(Some(Vec::new()));
        linux.set_devices(Some(host_devices(Path::new("/dev"))));
        let all = device_rule(true, None, None, None, "rwm");
        match linux.resources_mut().as_mut() {
            Some(r) => {
                r.set_devices(Some(vec![all]));
            }
            None => {
                linux.set_resources(Some(
                    LinuxResourcesBuilder::default()
                        .devices(vec![all])
                        .build()
                        .unwrap_or_default(),
                ));
            }
        }
    }
    Ok(())
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

    #[test]
    fn etc_files_are_bind_mounts() {
        let m = etc_mounts(
            Some(Path::new("/run/h")),
            None,
            Some(Path::new("/run/r")),
            true,
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].destination(), Path::new("/etc/resolv.conf"));
        assert!(m[1].options().as_ref().unwrap().contains(&"ro".to_string()));
    }

    #[test]
    fn privileged_opens_everything() {
        let mut s = docker_spec(&["sh"]);
        make_privileged(&mut s).unwrap();
        let linux = s.linux().as_ref().unwrap();
        assert!(linux.seccomp().is_none());
        assert!(linux.masked_paths().as_ref().unwrap().is_empty());
        let rules = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .as_ref()
            .unwrap();
        assert_eq!(rules.len(), 1);
        assert!(rules[0].allow());
        let caps = s
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(
            caps.bounding().as_ref().unwrap().len(),
            capabilities::available().len()
        );
        let sys = s
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new("/sys"))
            .unwrap();
        assert!(!sys.options().as_ref().unwrap().contains(&"ro".to_string()));
    }

    #[test]
    fn host_devices_include_null_and_skip_ptys() {
        let devs = host_devices(Path::new("/dev"));
        assert!(
            devs.iter()
                .any(|d| d.path() == Path::new("/dev/null") && d.major() == 1 && d.minor() == 3)
        );
        assert!(!devs.iter().any(|d| d.path().starts_with("/dev/pts")));
    }
}
