//! Every system call the container code makes to change the system, behind one trait.
//!
//! The code that sets up a container (namespaces, mounts, devices, credentials, capabilities,
//! rlimits, seccomp) only talks to the kernel through [`Syscall`]. [`LinuxSyscall`] is the real
//! thing; [`RecordingSyscall`] records each call (and can be told to fail some), so that the order
//! and the arguments of the setup can be unit-tested without root.
//!
//! Read-only lookups (reading a file, `lstat`, `readlink`) are not behind the trait: they change
//! nothing, and tests run them against temporary directories.

use caps::{CapSet, Capability, CapsHashSet};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::resource::Resource;
use std::ffi::{CStr, CString};
use std::fmt;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// A failed system call: which one, on what, and the kernel's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call}({target}): {errno} ({})", errno.desc())]
pub struct SyscallError {
    /// The name of the call, e.g. `mount`.
    pub call: &'static str,
    /// What it was applied to (a path, a flag set, a capability ...).
    pub target: String,
    /// The error number the kernel returned.
    pub errno: Errno,
}

impl SyscallError {
    /// Builds an error for `call` on `target`.
    pub fn new(call: &'static str, target: impl fmt::Display, errno: Errno) -> Self {
        SyscallError {
            call,
            target: target.to_string(),
            errno,
        }
    }
}

/// Result of a call through [`Syscall`].
pub type SysResult<T> = Result<T, SyscallError>;

/// The kind of a device node made by [`Syscall::mknod`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A character device.
    Char,
    /// A block device.
    Block,
    /// A FIFO.
    Fifo,
}

/// A capability set other than the bounding set (see [`Syscall::drop_bounding_cap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapKind {
    /// Effective.
    Effective,
    /// Permitted.
    Permitted,
    /// Inheritable.
    Inheritable,
    /// Ambient.
    Ambient,
}

impl CapKind {
    fn caps_set(self) -> CapSet {
        match self {
            CapKind::Effective => CapSet::Effective,
            CapKind::Permitted => CapSet::Permitted,
            CapKind::Inheritable => CapSet::Inheritable,
            CapKind::Ambient => CapSet::Ambient,
        }
    }
}

/// What is at a path (symlinks followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A regular file.
    File,
    /// Anything else (device, socket, FIFO).
    Other,
}

/// The system calls the container setup needs. Implementations must be usable from the
/// single-threaded helper process (no background threads, no locks held across calls).
pub trait Syscall {
    /// `unshare(2)`: moves the caller into new namespaces.
    fn unshare(&self, flags: CloneFlags) -> SysResult<()>;
    /// `setns(2)`: joins the namespace that `fd` refers to. `path` is only for messages.
    fn setns(&self, fd: BorrowedFd<'_>, nstype: CloneFlags, path: &Path) -> SysResult<()>;
    /// `mount(2)`.
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> SysResult<()>;
    /// The flags of the mount that `path` is on (`statvfs(2)`), as mount flags.
    fn mount_flags(&self, path: &Path) -> SysResult<MsFlags>;
    /// What is at `path`, following symlinks; `None` when nothing is there.
    fn file_kind(&self, path: &Path) -> Option<FileKind>;
    /// `umount2(2)`.
    fn umount(&self, target: &Path, flags: MntFlags) -> SysResult<()>;
    /// `pivot_root(2)`.
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> SysResult<()>;
    /// `chdir(2)`.
    fn chdir(&self, path: &Path) -> SysResult<()>;
    /// `sethostname(2)`.
    fn sethostname(&self, name: &str) -> SysResult<()>;
    /// `setdomainname(2)`.
    fn setdomainname(&self, name: &str) -> SysResult<()>;
    /// `mkdir -p` with `mode` for the directories it creates.
    fn mkdir_all(&self, path: &Path, mode: u32) -> SysResult<()>;
    /// Creates an empty regular file if nothing exists at `path` (a bind-mount target).
    fn create_file(&self, path: &Path, mode: u32) -> SysResult<()>;
    /// `mknod(2)`: a device node or FIFO with permission bits `mode`.
    fn mknod(
        &self,
        path: &Path,
        kind: NodeKind,
        mode: u32,
        major: u64,
        minor: u64,
    ) -> SysResult<()>;
    /// `chmod(2)` (exact bits, umask does not apply).
    fn chmod(&self, path: &Path, mode: u32) -> SysResult<()>;
    /// `lchown(2)`.
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> SysResult<()>;
    /// `symlink(2)`: creates `link` pointing at `target`.
    fn symlink(&self, target: &Path, link: &Path) -> SysResult<()>;
    /// Writes `data` to an existing file (sysctls, cgroup and /proc files), without creating it.
    fn write_file(&self, path: &Path, data: &[u8]) -> SysResult<()>;
    /// `setgroups(2)`.
    fn setgroups(&self, gids: &[u32]) -> SysResult<()>;
    /// `setresgid(2)` with all three ids equal.
    fn setgid(&self, gid: u32) -> SysResult<()>;
    /// `setresuid(2)` with all three ids equal.
    fn setuid(&self, uid: u32) -> SysResult<()>;
    /// `prctl(PR_SET_KEEPCAPS)`.
    fn set_keep_caps(&self, keep: bool) -> SysResult<()>;
    /// Removes one capability from the bounding set (`prctl(PR_CAPBSET_DROP)`).
    fn drop_bounding_cap(&self, cap: Capability) -> SysResult<()>;
    /// Sets the effective, permitted or inheritable set (`capset(2)`), or the ambient set.
    fn set_caps(&self, set: CapKind, caps: &CapsHashSet) -> SysResult<()>;
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
    fn set_no_new_privs(&self) -> SysResult<()>;
    /// `setrlimit(2)`.
    fn setrlimit(&self, resource: Resource, soft: u64, hard: u64) -> SysResult<()>;
    /// `umask(2)`.
    fn umask(&self, mask: u32);
    /// Installs a seccomp BPF program on the calling thread.
    fn load_seccomp(&self, program: &[seccompiler::sock_filter]) -> SysResult<()>;
    /// `execve(2)`: returns only on failure.
    fn execve(&self, path: &CStr, args: &[CString], env: &[CString]) -> SyscallError;
}

/// The errno of an I/O error (EIO when it carries none).
pub fn io_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().map(Errno::from_raw).unwrap_or(Errno::EIO)
}

mod linux;
mod recording;

pub use linux::LinuxSyscall;
pub use recording::{Call, RecordingSyscall};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_keeps_order_and_injects_failures() {
        let sys = RecordingSyscall::new();
        sys.fail("mount", Some(Path::new("/b")), Errno::EPERM);
        sys.mount(None, Path::new("/a"), Some("tmpfs"), MsFlags::empty(), None)
            .unwrap();
        let err = sys
            .mount(None, Path::new("/b"), Some("proc"), MsFlags::empty(), None)
            .unwrap_err();
        assert_eq!(err.errno, Errno::EPERM);
        assert_eq!(err.call, "mount");
        sys.sethostname("h").unwrap();
        let calls = sys.calls();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[2], Call::Sethostname("h".into()));
    }

    #[test]
    fn error_message_names_call_target_and_errno() {
        let e = SyscallError::new("mount", "/x", Errno::ENOENT);
        let text = e.to_string();
        assert!(text.starts_with("mount(/x): ENOENT"), "{text}");
        assert!(text.contains("No such file"), "{text}");
    }
}
