//! Changing the root: pivot_root into the rootfs and detaching the old root.

use crate::container::syscall::{SysResult, Syscall};
use nix::mount::{MntFlags, MsFlags};
use std::path::Path;

/// Makes `rootfs` the root of the mount namespace and drops every path to the host's root.
///
/// `pivot_root(".", ".")` stacks the old root on top of the new one at `/`; the old root is then
/// made a slave (so that detaching it cannot propagate to the host) and lazily unmounted. No
/// directory for the old root is needed in the image, and none is left behind.
pub fn pivot_root(sys: &dyn Syscall, rootfs: &Path) -> SysResult<()> {
    sys.chdir(rootfs)?;
    sys.pivot_root(Path::new("."), Path::new("."))?;
    sys.mount(
        None,
        Path::new("."),
        None,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None,
    )?;
    sys.umount(Path::new("."), MntFlags::MNT_DETACH)?;
    sys.chdir(Path::new("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::syscall::{Call, RecordingSyscall};

    #[test]
    fn pivot_detaches_the_old_root_after_making_it_a_slave() {
        let sys = RecordingSyscall::new();
        pivot_root(&sys, Path::new("/rootfs")).unwrap();
        let names: Vec<&str> = sys.calls().iter().map(Call::name).collect();
        assert_eq!(names, ["chdir", "pivot_root", "mount", "umount2", "chdir"]);
        assert_eq!(sys.calls()[4], Call::Chdir("/".into()));
    }
}
