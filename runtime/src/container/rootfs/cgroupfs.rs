//! The `cgroup` mount type: the container's view of its cgroups under /sys/fs/cgroup.
//!
//! On a unified (v2) host this is one cgroup2 mount. On a v1 or hybrid host it is a tmpfs with
//! one directory per hierarchy. With a cgroup namespace each hierarchy is mounted fresh, and the
//! kernel shows the container's own cgroup as its root; without one, the container's cgroup
//! directory is bind-mounted from the host.

use super::mounts::{MountContext, MountOptions, remount};
use crate::container::syscall::{SysResult, Syscall};
use nix::mount::MsFlags;
use std::path::{Path, PathBuf};

/// One hierarchy to show in the container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CgroupMount {
    /// Directory under the mount point (`memory`, `cpu`, `systemd`); empty for a unified host,
    /// where the cgroup2 filesystem is the mount point itself.
    pub name: String,
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// Mount data selecting the hierarchy (`memory`, `none,name=systemd`, empty for cgroup2).
    pub data: String,
    /// The container's cgroup directory in this hierarchy on the host.
    pub host_path: PathBuf,
}

/// Flags every cgroup mount gets, as Docker and runc do.
const BASE: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// Mounts the hierarchies of `ctx.cgroups` at `target` (an existing directory).
pub fn mount_cgroups(
    sys: &dyn Syscall,
    ctx: &MountContext,
    target: &Path,
    opts: &MountOptions,
) -> SysResult<()> {
    let ro = opts.flags & MsFlags::MS_RDONLY;
    let flags = BASE | ro | (opts.flags & (MsFlags::MS_RELATIME | MsFlags::MS_NOATIME));
    if let [unified] = ctx.cgroups.as_slice()
        && unified.name.is_empty()
    {
        return mount_one(sys, ctx, unified, target, flags);
    }
    sys.mount(
        Some(Path::new("tmpfs")),
        target,
        Some("tmpfs"),
        BASE,
        Some("mode=755"),
    )?;
    for cg in &ctx.cgroups {
        let dir = target.join(&cg.name);
        sys.mkdir_all(&dir, 0o755)?;
        mount_one(sys, ctx, cg, &dir, flags)?;
    }
    if !ro.is_empty() {
        // The tmpfs holding the hierarchies becomes read-only once they are all mounted.
        sys.mount(
            None,
            target,
            None,
            MsFlags::MS_REMOUNT | BASE | ro,
            Some("mode=755"),
        )?;
    }
    Ok(())
}

fn mount_one(
    sys: &dyn Syscall,
    ctx: &MountContext,
    cg: &CgroupMount,
    dir: &Path,
    flags: MsFlags,
) -> SysResult<()> {
    if ctx.new_cgroupns {
        let data = (!cg.data.is_empty()).then_some(cg.data.as_str());
        match sys.mount(
            Some(Path::new("cgroup")),
            dir,
            Some(&cg.fstype),
            flags,
            data,
        ) {
            // A user namespace may not mount v1 hierarchies: the container's own cgroup
            // directory is bound instead, which shows the same files.
            Err(e) if e.errno == nix::errno::Errno::EPERM && ctx.userns => {}
            other => return other,
        }
    }
    sys.mount(
        Some(&cg.host_path),
        dir,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    remount(sys, dir, flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::syscall::{Call, RecordingSyscall};

    fn ctx(cgroups: Vec<CgroupMount>, ns: bool) -> MountContext {
        MountContext {
            rootfs: "/r".into(),
            new_netns: true,
            new_cgroupns: ns,
            userns: false,
            cgroups,
        }
    }

    fn v1(name: &str) -> CgroupMount {
        CgroupMount {
            name: name.into(),
            fstype: "cgroup".into(),
            data: name.into(),
            host_path: format!("/sys/fs/cgroup/{name}/berth/x").into(),
        }
    }

    #[test]
    fn v1_hierarchies_go_under_a_tmpfs_made_read_only_last() {
        let sys = RecordingSyscall::new();
        let opts = MountOptions {
            flags: MsFlags::MS_RDONLY,
            ..Default::default()
        };
        mount_cgroups(
            &sys,
            &ctx(vec![v1("memory"), v1("pids")], true),
            Path::new("/r/sys/fs/cgroup"),
            &opts,
        )
        .unwrap();
        let mounts: Vec<(Option<String>, PathBuf, MsFlags)> = sys
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Mount {
                    fstype,
                    target,
                    flags,
                    ..
                } => Some((fstype, target, flags)),
                _ => None,
            })
            .collect();
        assert_eq!(mounts.len(), 4);
        assert_eq!(mounts[0].0.as_deref(), Some("tmpfs"));
        assert_eq!(
            mounts[1],
            (
                Some("cgroup".into()),
                "/r/sys/fs/cgroup/memory".into(),
                BASE | MsFlags::MS_RDONLY
            )
        );
        assert_eq!(mounts[3].2, MsFlags::MS_REMOUNT | BASE | MsFlags::MS_RDONLY);
    }

    #[test]
    fn unified_without_cgroupns_is_a_bind_of_the_containers_cgroup() {
        let sys = RecordingSyscall::new();
        let cg = CgroupMount {
            name: String::new(),
            fstype: "cgroup2".into(),
            data: String::new(),
            host_path: "/sys/fs/cgroup/berth/x".into(),
        };
        mount_cgroups(
            &sys,
            &ctx(vec![cg], false),
            Path::new("/r/sys/fs/cgroup"),
            &MountOptions::default(),
        )
        .unwrap();
        let calls = sys.calls();
        assert!(
            matches!(&calls[0], Call::Mount { source: Some(s), flags, .. } if s == Path::new("/sys/fs/cgroup/berth/x") && flags.contains(MsFlags::MS_BIND))
        );
    }
}
