//! Masked and read-only paths: parts of /proc and /sys a container must not read or change.
//!
//! A masked directory gets an empty read-only tmpfs over it, a masked file gets /dev/null bound
//! over it, read-only. A read-only path is bind-mounted on itself and remounted read-only, keeping the flags
//! of the mount it is on. Paths that do not exist on this kernel are skipped.

use super::mounts::remount;
use crate::container::syscall::{FileKind, SysResult, Syscall};
use nix::mount::MsFlags;
use std::path::Path;

/// Docker's masked paths (moby's default spec).
pub const DOCKER_MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths (moby's default spec).
pub const DOCKER_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Masks `path` (a path after pivot_root).
pub fn mask(sys: &dyn Syscall, path: &Path) -> SysResult<()> {
    match sys.file_kind(path) {
        None => Ok(()),
        Some(FileKind::Directory) => sys.mount(
            Some(Path::new("tmpfs")),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        ),
        Some(_) => {
            sys.mount(
                Some(Path::new("/dev/null")),
                path,
                None,
                MsFlags::MS_BIND,
                None,
            )?;
            remount(sys, path, MsFlags::MS_RDONLY)
        }
    }
}

/// Makes `path` (a path after pivot_root) read-only.
pub fn make_readonly(sys: &dyn Syscall, path: &Path) -> SysResult<()> {
    if sys.file_kind(path).is_none() {
        return Ok(());
    }
    sys.mount(
        Some(path),
        path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    let keep =
        sys.mount_flags(path)? & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    remount(sys, path, MsFlags::MS_RDONLY | keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::syscall::{Call, RecordingSyscall};

    #[test]
    fn directories_get_tmpfs_files_get_dev_null_missing_are_skipped() {
        let sys = RecordingSyscall::new();
        sys.set_kind(Path::new("/proc/acpi"), Some(FileKind::Directory));
        sys.set_kind(Path::new("/proc/kcore"), Some(FileKind::File));
        sys.set_kind(Path::new("/proc/timer_stats"), None);
        for p in ["/proc/acpi", "/proc/kcore", "/proc/timer_stats"] {
            mask(&sys, Path::new(p)).unwrap();
        }
        let calls = sys.calls();
        assert_eq!(calls.len(), 3);
        assert!(
            matches!(&calls[0], Call::Mount { fstype: Some(t), flags, .. } if t == "tmpfs" && *flags == MsFlags::MS_RDONLY)
        );
        assert!(
            matches!(&calls[1], Call::Mount { source: Some(s), .. } if s == Path::new("/dev/null"))
        );
        assert!(
            matches!(&calls[2], Call::Mount { flags, .. } if flags.contains(MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY))
        );
    }

    #[test]
    fn readonly_paths_keep_their_mount_flags() {
        let sys = RecordingSyscall::new();
        sys.set_kind(Path::new("/proc/sys"), Some(FileKind::Directory));
        make_readonly(&sys, Path::new("/proc/sys")).unwrap();
        let calls = sys.calls();
        let Call::Mount { flags, .. } = &calls[1] else {
            panic!("{calls:?}")
        };
        // The recorder reports nosuid,nodev for every mount.
        assert_eq!(
            *flags,
            MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
        );
    }
}
