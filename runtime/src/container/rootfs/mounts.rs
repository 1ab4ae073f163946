//! The mounts of the spec (`mounts`): option parsing and mounting one entry in the rootfs.

use super::RootfsError;
use super::cgroupfs::{self, CgroupMount};
use super::resolve::resolve_in_root;
use crate::container::syscall::{FileKind, SysResult, Syscall, SyscallError};
use nix::errno::Errno;
use nix::mount::MsFlags;
use oci_spec::runtime::Mount;
use std::path::{Path, PathBuf};

/// Mount options of a spec entry, split into what `mount(2)` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags to set.
    pub flags: MsFlags,
    /// Propagation to apply after mounting (`MS_SHARED`, `MS_SLAVE`, ... with `MS_REC`).
    pub propagation: MsFlags,
    /// A bind mount (`bind`, `rbind` or type `bind`).
    pub bind: bool,
    /// Options the filesystem interprets (`mode=755`, `size=64m`, `newinstance` ...).
    pub data: Vec<String>,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: MsFlags::empty(),
            bind: false,
            data: Vec::new(),
        }
    }
}

/// Flags that a bind mount only gets from a second, remounting call.
const REMOUNT_FLAGS: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC)
    .union(MsFlags::MS_NOATIME)
    .union(MsFlags::MS_NODIRATIME)
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME);

impl MountOptions {
    /// Parses the `options` of a spec mount (fstab-style names).
    pub fn parse(options: &[String]) -> MountOptions {
        let mut out = MountOptions::default();
        for opt in options {
            let (set, clear) = match opt.as_str() {
                "defaults" => (MsFlags::empty(), MsFlags::empty()),
                "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
                "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
                "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
                "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
                "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
                "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
                "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
                "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
                "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
                "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
                "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
                "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
                "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
                "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
                "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
                "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
                "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
                "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
                "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
                "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
                "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
                "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
                "bind" => {
                    out.bind = true;
                    (MsFlags::MS_BIND, MsFlags::empty())
                }
                "rbind" => {
                    out.bind = true;
                    (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty())
                }
                "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
                | "unbindable" | "runbindable" => {
                    out.propagation = propagation_flags(opt).unwrap_or(MsFlags::empty());
                    continue;
                }
                // runc's extension to copy image content into a tmpfs; berth's volumes do that.
                "tmpcopyup" => continue,
                other => {
                    out.data.push(other.to_string());
                    continue;
                }
            };
            out.flags = (out.flags | set) & !clear;
        }
        out
    }

    /// The filesystem options as one string, or `None`.
    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// The flags of a propagation name (`rslave` is `MS_SLAVE | MS_REC`).
pub fn propagation_flags(name: &str) -> Option<MsFlags> {
    let (rec, base) = match name.strip_prefix('r') {
        Some(rest) => (MsFlags::MS_REC, rest),
        None => (MsFlags::empty(), name),
    };
    let flag = match base {
        "private" => MsFlags::MS_PRIVATE,
        "shared" => MsFlags::MS_SHARED,
        "slave" => MsFlags::MS_SLAVE,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        _ => return None,
    };
    Some(flag | rec)
}

/// What mounting needs to know beyond the entry itself.
#[derive(Debug, Clone)]
pub struct MountContext {
    /// The rootfs on the host (canonical).
    pub rootfs: PathBuf,
    /// Whether the container has its own network namespace (sysfs can be mounted fresh).
    pub new_netns: bool,
    /// Whether the container has its own cgroup namespace.
    pub new_cgroupns: bool,
    /// Whether the container has its own user namespace (no mknod, locked mount flags).
    pub userns: bool,
    /// The cgroup hierarchies to show under a `cgroup` mount.
    pub cgroups: Vec<CgroupMount>,
}

/// Mounts one spec entry under the rootfs. Returns the host path of the destination.
pub fn mount_entry(
    sys: &dyn Syscall,
    ctx: &MountContext,
    m: &Mount,
) -> Result<PathBuf, RootfsError> {
    let destination = m.destination();
    let target =
        resolve_in_root(&ctx.rootfs, destination).map_err(|source| RootfsError::Resolve {
            path: destination.clone(),
            source,
        })?;
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
    let typ = m
        .typ()
        .as_deref()
        .unwrap_or(if opts.bind { "bind" } else { "none" });
    let wrap = |source: SyscallError| RootfsError::Mount {
        destination: destination.clone(),
        source,
    };

    if opts.bind || typ == "bind" {
        let source = m.source().as_deref().ok_or_else(|| RootfsError::Invalid {
            destination: destination.clone(),
            reason: "a bind mount needs a source".into(),
        })?;
        if !source.is_absolute() {
            return Err(RootfsError::Invalid {
                destination: destination.clone(),
                reason: format!("bind source {} must be an absolute path", source.display()),
            });
        }
        match sys.file_kind(source) {
            Some(FileKind::Directory) => sys.mkdir_all(&target, 0o755).map_err(wrap)?,
            Some(_) => {
                if let Some(parent) = target.parent() {
                    sys.mkdir_all(parent, 0o755).map_err(wrap)?;
                }
                sys.create_file(&target, 0o644).map_err(wrap)?;
            }
            None => {
                return Err(RootfsError::Invalid {
                    destination: destination.clone(),
                    reason: format!("bind source {} does not exist", source.display()),
                });
            }
        }
        bind_mount(sys, source, &target, &opts).map_err(wrap)?;
    } else if typ == "cgroup" || typ == "cgroup2" {
        sys.mkdir_all(&target, 0o755).map_err(wrap)?;
        cgroupfs::mount_cgroups(sys, ctx, &target, &opts).map_err(wrap)?;
    } else {
        sys.mkdir_all(&target, 0o755).map_err(wrap)?;
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        let data = opts.data_string();
        let result = sys.mount(
            Some(&source),
            &target,
            Some(typ),
            opts.flags,
            data.as_deref(),
        );
        match result {
            // Without its own network namespace a container may not mount sysfs; it gets the
            // host's, read-only, as runc does.
            Err(e) if typ == "sysfs" && e.errno == Errno::EPERM && !ctx.new_netns => {
                let ro = MountOptions {
                    flags: opts.flags | MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY,
                    bind: true,
                    ..MountOptions::default()
                };
                bind_mount(sys, Path::new("/sys"), &target, &ro).map_err(wrap)?;
            }
            other => other.map_err(wrap)?,
        }
        if !opts.propagation.is_empty() {
            sys.mount(None, &target, None, opts.propagation, None)
                .map_err(wrap)?;
        }
    }
    Ok(target)
}

/// Bind-mounts `source` on `target`, then applies the flags a bind mount cannot take at once
/// (read-only, nosuid, ...) and the propagation.
pub fn bind_mount(
    sys: &dyn Syscall,
    source: &Path,
    target: &Path,
    opts: &MountOptions,
) -> SysResult<()> {
    let bind = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
    sys.mount(Some(source), target, None, bind, None)?;
    let extra = opts.flags & REMOUNT_FLAGS;
    if !extra.is_empty() {
        remount(sys, target, extra)?;
    }
    if !opts.propagation.is_empty() {
        sys.mount(None, target, None, opts.propagation, None)?;
    }
    Ok(())
}

/// Remounts the bind mount at `target` with `flags`. When the kernel refuses because the mount
/// has locked flags (a user namespace), retries keeping the flags it already has.
pub fn remount(sys: &dyn Syscall, target: &Path, flags: MsFlags) -> SysResult<()> {
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match sys.mount(None, target, None, base | flags, None) {
        Err(e) if e.errno == Errno::EPERM => {
            let current = sys.mount_flags(target)? & REMOUNT_FLAGS;
            sys.mount(None, target, None, base | flags | current, None)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::syscall::{Call, RecordingSyscall};
    use oci_spec::runtime::MountBuilder;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o = MountOptions::parse(&strings(&[
            "nosuid",
            "noexec",
            "mode=755",
            "size=65536k",
            "rslave",
            "ro",
        ]));
        assert_eq!(
            o.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY
        );
        assert_eq!(o.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(o.data_string().as_deref(), Some("mode=755,size=65536k"));
        assert!(!o.bind);
        let o = MountOptions::parse(&strings(&["ro", "rw", "rbind"]));
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert!(o.bind);
    }

    #[test]
    fn propagation_names() {
        assert_eq!(propagation_flags("private"), Some(MsFlags::MS_PRIVATE));
        assert_eq!(
            propagation_flags("rshared"),
            Some(MsFlags::MS_SHARED | MsFlags::MS_REC)
        );
        assert_eq!(
            propagation_flags("runbindable"),
            Some(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC)
        );
        assert_eq!(propagation_flags("bogus"), None);
    }

    fn ctx(root: &Path) -> MountContext {
        MountContext {
            rootfs: root.into(),
            new_netns: true,
            new_cgroupns: true,
            userns: false,
            cgroups: vec![],
        }
    }

    #[test]
    fn read_only_bind_is_bind_then_remount_then_propagation() {
        let root = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        let m = MountBuilder::default()
            .destination("/data")
            .typ("bind")
            .source(src.path())
            .options(strings(&["rbind", "ro", "rprivate"]))
            .build()
            .unwrap();
        let sys = RecordingSyscall::new();
        let target = mount_entry(&sys, &ctx(root.path()), &m).unwrap();
        assert_eq!(target, root.path().join("data"));
        let mounts: Vec<_> = sys
            .calls()
            .into_iter()
            .filter(|c| matches!(c, Call::Mount { .. }))
            .collect();
        assert_eq!(mounts.len(), 3, "{mounts:?}");
        let Call::Mount { flags, .. } = &mounts[0] else {
            unreachable!()
        };
        assert_eq!(*flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        let Call::Mount { flags, .. } = &mounts[1] else {
            unreachable!()
        };
        assert_eq!(
            *flags,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY
        );
        let Call::Mount { flags, .. } = &mounts[2] else {
            unreachable!()
        };
        assert_eq!(*flags, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
    }

    #[test]
    fn file_bind_sources_get_a_file_target() {
        let root = tempfile::tempdir().unwrap();
        let src = tempfile::NamedTempFile::new().unwrap();
        let m = MountBuilder::default()
            .destination("/etc/hosts")
            .typ("bind")
            .source(src.path())
            .options(strings(&["bind"]))
            .build()
            .unwrap();
        let sys = RecordingSyscall::new();
        mount_entry(&sys, &ctx(root.path()), &m).unwrap();
        assert!(sys.calls().contains(&Call::CreateFile {
            path: root.path().join("etc/hosts"),
            mode: 0o644
        }));
    }

    #[test]
    fn missing_bind_source_is_an_error_naming_both_paths() {
        let root = tempfile::tempdir().unwrap();
        let m = MountBuilder::default()
            .destination("/x")
            .typ("bind")
            .source("/nonexistent/src")
            .options(strings(&["bind"]))
            .build()
            .unwrap();
        let err = mount_entry(&RecordingSyscall::new(), &ctx(root.path()), &m)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/x") && err.contains("/nonexistent/src"),
            "{err}"
        );
    }

    #[test]
    fn relative_bind_sources_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let m = MountBuilder::default()
            .destination("/x")
            .typ("bind")
            .source("data")
            .options(strings(&["bind"]))
            .build()
            .unwrap();
        let err = mount_entry(&RecordingSyscall::new(), &ctx(root.path()), &m).unwrap_err();
        assert!(
            err.to_string().contains("must be an absolute path"),
            "{err}"
        );
    }

    #[test]
    fn tmpfs_gets_type_flags_and_data() {
        let root = tempfile::tempdir().unwrap();
        let m = MountBuilder::default()
            .destination("/dev/shm")
            .typ("tmpfs")
            .source("shm")
            .options(strings(&[
                "nosuid",
                "noexec",
                "nodev",
                "mode=1777",
                "size=65536k",
            ]))
            .build()
            .unwrap();
        let sys = RecordingSyscall::new();
        mount_entry(&sys, &ctx(root.path()), &m).unwrap();
        let calls = sys.calls();
        assert!(calls.contains(&Call::Mount {
            source: Some("shm".into()),
            target: root.path().join("dev/shm"),
            fstype: Some("tmpfs".into()),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV,
            data: Some("mode=1777,size=65536k".into()),
        }));
    }

    #[test]
    fn sysfs_without_netns_falls_back_to_a_read_only_bind() {
        let root = tempfile::tempdir().unwrap();
        let m = MountBuilder::default()
            .destination("/sys")
            .typ("sysfs")
            .source("sysfs")
            .options(strings(&["nosuid", "ro"]))
            .build()
            .unwrap();
        let sys = RecordingSyscall::new();
        let target = root.path().join("sys");
        sys.fail("mount", Some(&target), Errno::EPERM);
        let mut c = ctx(root.path());
        c.new_netns = false;
        // The fallback also mounts on the same target, which the recorder fails too: the error
        // is the fallback's bind, proving it was tried.
        let err = mount_entry(&sys, &c, &m).unwrap_err();
        let calls = sys.calls();
        assert!(
            calls.iter().any(
                |c| matches!(c, Call::Mount { source: Some(s), .. } if s == Path::new("/sys"))
            ),
            "{calls:?} {err}"
        );
    }

    #[test]
    fn remount_retries_with_locked_flags() {
        let sys = RecordingSyscall::new();
        sys.fail_once("mount", Errno::EPERM);
        remount(&sys, Path::new("/t"), MsFlags::MS_RDONLY).unwrap();
        let n = sys
            .calls()
            .iter()
            .filter(|c| matches!(c, Call::Mount { .. }))
            .count();
        assert_eq!(n, 2);
    }
}
