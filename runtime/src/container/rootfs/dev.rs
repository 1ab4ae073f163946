//! /dev of a container: the standard device nodes, the devices of the spec, the usual symlinks
//! and /dev/console for a terminal.
//!
//! The OCI runtime spec requires /dev/null, zero, full, random, urandom, tty and ptmx whatever the
//! spec lists. Nodes are made with mknod; in a user namespace, where mknod is refused, the host's
//! node is bind-mounted instead.

use super::RootfsError;
use super::resolve::resolve_in_root;
use crate::container::syscall::{NodeKind, SysResult, Syscall, SyscallError};
use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::path::{Path, PathBuf};

/// A device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Path in the container (`/dev/null`).
    pub path: PathBuf,
    /// Character, block or FIFO.
    pub kind: NodeKind,
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// The devices every container has (OCI runtime spec, "Default Devices").
pub fn default_devices() -> Vec<DeviceNode> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| DeviceNode {
        path: PathBuf::from("/dev").join(name),
        kind: NodeKind::Char,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// The node for a device of the spec.
pub fn from_spec(d: &LinuxDevice) -> Result<DeviceNode, RootfsError> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => NodeKind::Char,
        LinuxDeviceType::B => NodeKind::Block,
        LinuxDeviceType::P => NodeKind::Fifo,
        LinuxDeviceType::A => {
            return Err(RootfsError::Invalid {
                destination: d.path().clone(),
                reason: "device type 'a' is only valid in device cgroup rules".into(),
            });
        }
    };
    Ok(DeviceNode {
        path: d.path().clone(),
        kind,
        major: d.major() as u64,
        minor: d.minor() as u64,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// Symlinks every /dev has (`/dev/fd`, the standard streams, `/dev/ptmx`, `/dev/core`).
pub const DEV_SYMLINKS: [(&str, &str); 6] = [
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
    ("/proc/kcore", "/dev/core"),
];

/// Creates `nodes` under `rootfs` (devices of the spec after the defaults; a spec device
/// replaces a default one at the same path).
pub fn create_devices(
    sys: &dyn Syscall,
    rootfs: &Path,
    nodes: &[DeviceNode],
    userns: bool,
) -> Result<(), RootfsError> {
    for node in nodes {
        let target =
            resolve_in_root(rootfs, &node.path).map_err(|source| RootfsError::Resolve {
                path: node.path.clone(),
                source,
            })?;
        let wrap = |source: SyscallError| RootfsError::Mount {
            destination: node.path.clone(),
            source,
        };
        if let Some(parent) = target.parent() {
            sys.mkdir_all(parent, 0o755).map_err(wrap)?;
        }
        if userns {
            sys.create_file(&target, 0o644).map_err(wrap)?;
            sys.mount(Some(&node.path), &target, None, MsFlags::MS_BIND, None)
                .map_err(wrap)?;
            continue;
        }
        match sys.mknod(&target, node.kind, node.mode, node.major, node.minor) {
            Err(e) if e.errno == nix::errno::Errno::EEXIST => {}
            other => other.map_err(wrap)?,
        }
        // mknod's mode is filtered by the umask; the spec's mode is exact.
        sys.chmod(&target, node.mode).map_err(wrap)?;
        sys.chown(&target, node.uid, node.gid).map_err(wrap)?;
    }
    Ok(())
}

/// Creates the standard symlinks of /dev.
pub fn create_symlinks(sys: &dyn Syscall, rootfs: &Path) -> Result<(), RootfsError> {
    for (target, link) in DEV_SYMLINKS {
        let host = rootfs.join(link.trim_start_matches('/'));
        match sys.symlink(Path::new(target), &host) {
            Err(e) if e.errno == nix::errno::Errno::EEXIST => {}
            other => other.map_err(|source| RootfsError::Mount {
                destination: link.into(),
                source,
            })?,
        }
    }
    Ok(())
}

/// Bind-mounts the terminal `pty` (the host path of the container's pty slave) on /dev/console.
pub fn mount_console(sys: &dyn Syscall, rootfs: &Path, pty: &Path) -> SysResult<()> {
    let console = rootfs.join("dev/console");
    sys.create_file(&console, 0o600)?;
    sys.mount(Some(pty), &console, None, MsFlags::MS_BIND, None)
}

/// The devices to create: the defaults, with spec devices replacing a default at the same path.
pub fn merged(spec_devices: &[LinuxDevice]) -> Result<Vec<DeviceNode>, RootfsError> {
    let mut nodes = default_devices();
    for d in spec_devices {
        let node = from_spec(d)?;
        nodes.retain(|n| n.path != node.path);
        nodes.push(node);
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::syscall::{Call, RecordingSyscall};
    use oci_spec::runtime::LinuxDeviceBuilder;

    #[test]
    fn default_devices_are_the_oci_list() {
        let names: Vec<String> = default_devices()
            .iter()
            .map(|d| d.path.display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty"
            ]
        );
    }

    #[test]
    fn spec_devices_replace_defaults_and_get_exact_modes() {
        let fuse = LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .file_mode(0o600u32)
            .uid(0u32)
            .gid(0u32)
            .build()
            .unwrap();
        let null = LinuxDeviceBuilder::default()
            .path("/dev/null")
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .file_mode(0o600u32)
            .build()
            .unwrap();
        let nodes = merged(&[fuse, null]).unwrap();
        assert_eq!(nodes.len(), 7);
        let root = tempfile::tempdir().unwrap();
        let sys = RecordingSyscall::new();
        create_devices(&sys, root.path(), &nodes, false).unwrap();
        let calls = sys.calls();
        assert!(calls.contains(&Call::Mknod {
            path: root.path().join("dev/fuse"),
            kind: NodeKind::Char,
            mode: 0o600,
            major: 10,
            minor: 229
        }));
        assert!(calls.contains(&Call::Chmod {
            path: root.path().join("dev/null"),
            mode: 0o600
        }));
    }

    #[test]
    fn user_namespaces_bind_mount_host_nodes() {
        let root = tempfile::tempdir().unwrap();
        let sys = RecordingSyscall::new();
        create_devices(&sys, root.path(), &default_devices()[..1], true).unwrap();
        let calls = sys.calls();
        assert!(!calls.iter().any(|c| matches!(c, Call::Mknod { .. })));
        assert!(calls.iter().any(
            |c| matches!(c, Call::Mount { source: Some(s), .. } if s == Path::new("/dev/null"))
        ));
    }

    #[test]
    fn type_a_is_not_a_device_node() {
        let d = LinuxDeviceBuilder::default()
            .path("/dev/x")
            .typ(LinuxDeviceType::A)
            .build()
            .unwrap();
        assert!(from_spec(&d).is_err());
    }
}
