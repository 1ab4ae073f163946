//! The container's filesystem: its mounts, /dev, the switch of root, and the protections of
//! /proc and /sys.
//!
//! Runs in the container's init, inside its new mount namespace, in two halves around the
//! sysctls (which need a writable /proc/sys): [`prepare`] mounts everything under the rootfs
//! and pivots into it; [`finish`] masks paths, makes paths and maybe the root read-only.

pub mod cgroupfs;
pub mod dev;
pub mod mounts;
pub mod paths;
pub mod pivot;
pub mod resolve;

use crate::container::syscall::{Syscall, SyscallError};
use mounts::{MountContext, propagation_flags};
use nix::mount::MsFlags;
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

pub use cgroupfs::CgroupMount;
pub use paths::{DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS};

/// Why the filesystem of a container could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A mount (or a step of it) failed.
    #[error("mount {}: {source}", destination.display())]
    Mount {
        /// The container path being set up.
        destination: PathBuf,
        /// The failing call.
        source: SyscallError,
    },
    /// A container path could not be resolved inside the rootfs.
    #[error("cannot resolve {} inside the rootfs: {source}", path.display())]
    Resolve {
        /// The container path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The spec asks for something impossible.
    #[error("mount {}: {reason}", destination.display())]
    Invalid {
        /// The container path.
        destination: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Changing the root, the propagation or a read-only remount failed.
    #[error("{what}: {source}")]
    Root {
        /// The step.
        what: &'static str,
        /// The failing call.
        source: SyscallError,
    },
}

fn root_err(what: &'static str) -> impl Fn(SyscallError) -> RootfsError {
    move |source| RootfsError::Root { what, source }
}

/// Mounts the spec's mounts under the rootfs, creates /dev content, mounts the console, and
/// pivots into the rootfs. `console` is the host path of the terminal's pty slave, if any.
pub fn prepare(
    sys: &dyn Syscall,
    spec: &Spec,
    ctx: &MountContext,
    console: Option<&Path>,
) -> Result<(), RootfsError> {
    // Nothing mounted from now on may propagate back to the host.
    sys.mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None,
    )
    .map_err(root_err("make / a recursive slave"))?;
    // pivot_root needs the new root to be a mount point.
    sys.mount(
        Some(&ctx.rootfs),
        &ctx.rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(root_err("bind-mount the rootfs on itself"))?;

    let spec_mounts = spec.mounts().clone().unwrap_or_default();
    for m in &spec_mounts {
        mounts::mount_entry(sys, ctx, m)?;
    }

    // /dev bind-mounted from the host already has its nodes; anything else gets the standard set.
    let dev_is_bind = spec_mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || m.options()
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind")))
    });
    if !dev_is_bind {
        let devices = spec
            .linux()
            .as_ref()
            .and_then(|l| l.devices().clone())
            .unwrap_or_default();
        dev::create_devices(sys, &ctx.rootfs, &dev::merged(&devices)?, ctx.userns)?;
        dev::create_symlinks(sys, &ctx.rootfs)?;
    }
    if let Some(pty) = console {
        dev::mount_console(sys, &ctx.rootfs, pty).map_err(|source| RootfsError::Mount {
            destination: "/dev/console".into(),
            source,
        })?;
    }
    pivot::pivot_root(sys, &ctx.rootfs).map_err(root_err("pivot_root into the rootfs"))
}

/// After pivot_root and the sysctls: masks and read-only paths, the root's propagation and
/// its read-only remount.
pub fn finish(sys: &dyn Syscall, spec: &Spec) -> Result<(), RootfsError> {
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default()
    {
        paths::mask(sys, Path::new(&p)).map_err(|source| RootfsError::Mount {
            destination: p.clone().into(),
            source,
        })?;
    }
    for p in linux
        .and_then(|l| l.readonly_paths().clone())
        .unwrap_or_default()
    {
        paths::make_readonly(sys, Path::new(&p)).map_err(|source| RootfsError::Mount {
            destination: p.clone().into(),
            source,
        })?;
    }
    if let Some(name) = linux
        .and_then(|l| l.rootfs_propagation().clone())
        .filter(|p| !p.is_empty())
    {
        let flags = propagation_flags(&name).ok_or_else(|| RootfsError::Invalid {
            destination: "/".into(),
            reason: format!("unknown rootfsPropagation {name:?}"),
        })?;
        sys.mount(None, Path::new("/"), None, flags, None)
            .map_err(root_err("set the propagation of /"))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        mounts::remount(sys, Path::new("/"), MsFlags::MS_RDONLY)
            .map_err(root_err("remount / read-only"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::syscall::{Call, RecordingSyscall};
    use oci_spec::runtime::{LinuxBuilder, MountBuilder, RootBuilder, SpecBuilder};

    fn spec(root_ro: bool) -> Spec {
        let mounts = vec![
            MountBuilder::default()
                .destination("/proc")
                .typ("proc")
                .source("proc")
                .build()
                .unwrap(),
            MountBuilder::default()
                .destination("/dev")
                .typ("tmpfs")
                .source("tmpfs")
                .options(vec!["nosuid".to_string(), "mode=755".to_string()])
                .build()
                .unwrap(),
        ];
        SpecBuilder::default()
            .root(
                RootBuilder::default()
                    .path("rootfs")
                    .readonly(root_ro)
                    .build()
                    .unwrap(),
            )
            .mounts(mounts)
            .linux(
                LinuxBuilder::default()
                    .masked_paths(vec!["/proc/kcore".to_string()])
                    .readonly_paths(vec!["/proc/sys".to_string()])
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    #[test]
    fn prepare_orders_propagation_mounts_devices_then_pivot() {
        let root = tempfile::tempdir().unwrap();
        let ctx = MountContext {
            rootfs: root.path().into(),
            new_netns: true,
            new_cgroupns: true,
            userns: false,
            cgroups: vec![],
        };
        let sys = RecordingSyscall::new();
        prepare(&sys, &spec(false), &ctx, Some(Path::new("/dev/pts/7"))).unwrap();
        let calls = sys.calls();
        let first = &calls[0];
        assert!(
            matches!(first, Call::Mount { target, flags, .. } if target == Path::new("/") && *flags == MsFlags::MS_SLAVE | MsFlags::MS_REC)
        );
        let pos = |pred: &dyn Fn(&Call) -> bool| calls.iter().position(pred).unwrap();
        let proc_ = pos(&|c| matches!(c, Call::Mount { fstype: Some(t), .. } if t == "proc"));
        let devtmpfs = pos(&|c| matches!(c, Call::Mount { fstype: Some(t), .. } if t == "tmpfs"));
        let null = pos(&|c| matches!(c, Call::Mknod { path, .. } if path.ends_with("dev/null")));
        let console = pos(
            &|c| matches!(c, Call::Mount { source: Some(s), .. } if s == Path::new("/dev/pts/7")),
        );
        let pivot = pos(&|c| matches!(c, Call::PivotRoot { .. }));
        assert!(
            proc_ < devtmpfs && devtmpfs < null && null < console && console < pivot,
            "{calls:#?}"
        );
        assert!(calls.contains(&Call::Symlink {
            target: "pts/ptmx".into(),
            link: root.path().join("dev/ptmx")
        }));
    }

    #[test]
    fn finish_masks_then_readonly_then_root() {
        let sys = RecordingSyscall::new();
        sys.set_kind(
            Path::new("/proc/kcore"),
            Some(crate::container::syscall::FileKind::File),
        );
        sys.set_kind(
            Path::new("/proc/sys"),
            Some(crate::container::syscall::FileKind::Directory),
        );
        finish(&sys, &spec(true)).unwrap();
        let targets: Vec<PathBuf> = sys
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Mount { target, .. } => Some(target),
                _ => None,
            })
            .collect();
        assert_eq!(
            targets,
            [
                PathBuf::from("/proc/kcore"),
                "/proc/kcore".into(),
                "/proc/sys".into(),
                "/proc/sys".into(),
                "/".into()
            ]
        );
    }
}
