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
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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

fn cpath(path: &Path) -> SysResult<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SyscallError::new("path", path.display(), Errno::EINVAL))
}

/// The real system calls.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSyscall;

impl Syscall for LinuxSyscall {
    fn unshare(&self, flags: CloneFlags) -> SysResult<()> {
        nix::sched::unshare(flags)
            .map_err(|e| SyscallError::new("unshare", format!("{flags:?}"), e))
    }

    fn setns(&self, fd: BorrowedFd<'_>, nstype: CloneFlags, path: &Path) -> SysResult<()> {
        nix::sched::setns(fd, nstype).map_err(|e| SyscallError::new("setns", path.display(), e))
    }

    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> SysResult<()> {
        nix::mount::mount(source, target, fstype, flags, data).map_err(|e| {
            SyscallError::new(
                "mount",
                format!(
                    "{} on {}, type {}, {flags:?}, {}",
                    source
                        .map(|s| s.display().to_string())
                        .unwrap_or_else(|| "none".into()),
                    target.display(),
                    fstype.unwrap_or("none"),
                    data.unwrap_or("")
                ),
                e,
            )
        })
    }

    fn mount_flags(&self, path: &Path) -> SysResult<MsFlags> {
        use nix::sys::statvfs::FsFlags;
        let st = nix::sys::statvfs::statvfs(path)
            .map_err(|e| SyscallError::new("statvfs", path.display(), e))?;
        let f = st.flags();
        let pairs = [
            (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ];
        Ok(pairs
            .iter()
            .filter(|(s, _)| f.contains(*s))
            .fold(MsFlags::empty(), |acc, (_, m)| acc | *m))
    }

    fn file_kind(&self, path: &Path) -> Option<FileKind> {
        real_file_kind(path)
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> SysResult<()> {
        nix::mount::umount2(target, flags)
            .map_err(|e| SyscallError::new("umount2", target.display(), e))
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> SysResult<()> {
        nix::unistd::pivot_root(new_root, put_old)
            .map_err(|e| SyscallError::new("pivot_root", new_root.display(), e))
    }

    fn chdir(&self, path: &Path) -> SysResult<()> {
        nix::unistd::chdir(path).map_err(|e| SyscallError::new("chdir", path.display(), e))
    }

    fn sethostname(&self, name: &str) -> SysResult<()> {
        nix::unistd::sethostname(name).map_err(|e| SyscallError::new("sethostname", name, e))
    }

    fn setdomainname(&self, name: &str) -> SysResult<()> {
        // SAFETY: the pointer and length describe `name`, which outlives the call.
        let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(SyscallError::new("setdomainname", name, Errno::last()))
        }
    }

    fn mkdir_all(&self, path: &Path, mode: u32) -> SysResult<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
            .map_err(|e| SyscallError::new("mkdir", path.display(), io_errno(&e)))
    }

    fn create_file(&self, path: &Path, mode: u32) -> SysResult<()> {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(SyscallError::new(
                "open(O_CREAT)",
                path.display(),
                io_errno(&e),
            )),
        }
    }

    fn mknod(
        &self,
        path: &Path,
        kind: NodeKind,
        mode: u32,
        major: u64,
        minor: u64,
    ) -> SysResult<()> {
        let kind_bits = match kind {
            NodeKind::Char => libc::S_IFCHR,
            NodeKind::Block => libc::S_IFBLK,
            NodeKind::Fifo => libc::S_IFIFO,
        };
        let c = cpath(path)?;
        let dev = libc::makedev(major as u32, minor as u32);
        // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
        let rc = unsafe { libc::mknod(c.as_ptr(), kind_bits | (mode & 0o7777), dev) };
        if rc == 0 {
            Ok(())
        } else {
            Err(SyscallError::new("mknod", path.display(), Errno::last()))
        }
    }

    fn chmod(&self, path: &Path, mode: u32) -> SysResult<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| SyscallError::new("chmod", path.display(), io_errno(&e)))
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> SysResult<()> {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .map_err(|e| SyscallError::new("lchown", path.display(), io_errno(&e)))
    }

    fn symlink(&self, target: &Path, link: &Path) -> SysResult<()> {
        std::os::unix::fs::symlink(target, link)
            .map_err(|e| SyscallError::new("symlink", link.display(), io_errno(&e)))
    }

    fn write_file(&self, path: &Path, data: &[u8]) -> SysResult<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| SyscallError::new("open", path.display(), io_errno(&e)))?;
        f.write_all(data)
            .map_err(|e| SyscallError::new("write", path.display(), io_errno(&e)))
    }

    fn setgroups(&self, gids: &[u32]) -> SysResult<()> {
        let groups: Vec<nix::unistd::Gid> = gids
            .iter()
            .map(|g| nix::unistd::Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&groups)
            .map_err(|e| SyscallError::new("setgroups", format!("{gids:?}"), e))
    }

    fn setgid(&self, gid: u32) -> SysResult<()> {
        let g = nix::unistd::Gid::from_raw(gid);
        nix::unistd::setresgid(g, g, g).map_err(|e| SyscallError::new("setresgid", gid, e))
    }

    fn setuid(&self, uid: u32) -> SysResult<()> {
        let u = nix::unistd::Uid::from_raw(uid);
        nix::unistd::setresuid(u, u, u).map_err(|e| SyscallError::new("setresuid", uid, e))
    }

    fn set_keep_caps(&self, keep: bool) -> SysResult<()> {
        nix::sys::prctl::set_keepcaps(keep)
            .map_err(|e| SyscallError::new("prctl(PR_SET_KEEPCAPS)", keep, e))
    }

    fn drop_bounding_cap(&self, cap: Capability) -> SysResult<()> {
        caps::drop(None, CapSet::Bounding, cap).map_err(|e| {
            SyscallError::new(
                "prctl(PR_CAPBSET_DROP)",
                format!("{cap} ({e})"),
                Errno::last(),
            )
        })
    }

    fn set_caps(&self, set: CapKind, caps_set: &CapsHashSet) -> SysResult<()> {
        let mut names: Vec<String> = caps_set.iter().map(|c| c.to_string()).collect();
        names.sort();
        let result = if set == CapKind::Ambient {
            // The ambient set is changed one capability at a time.
            caps::clear(None, CapSet::Ambient).and_then(|()| {
                caps_set
                    .iter()
                    .try_for_each(|c| caps::raise(None, CapSet::Ambient, *c))
            })
        } else {
            caps::set(None, set.caps_set(), caps_set)
        };
        result.map_err(|e| {
            SyscallError::new("capset", format!("{set:?} {names:?} ({e})"), Errno::last())
        })
    }

    fn set_no_new_privs(&self) -> SysResult<()> {
        nix::sys::prctl::set_no_new_privs()
            .map_err(|e| SyscallError::new("prctl(PR_SET_NO_NEW_PRIVS)", 1, e))
    }

    fn setrlimit(&self, resource: Resource, soft: u64, hard: u64) -> SysResult<()> {
        nix::sys::resource::setrlimit(resource, soft, hard)
            .map_err(|e| SyscallError::new("setrlimit", format!("{resource:?} {soft} {hard}"), e))
    }

    fn umask(&self, mask: u32) {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
            mask as libc::mode_t,
        ));
    }

    fn load_seccomp(&self, program: &[seccompiler::sock_filter]) -> SysResult<()> {
        // Not seccompiler::apply_filter: it always sets no_new_privs, which must stay off
        // unless the spec asks for it (Docker's default). Without it, installing a filter
        // needs CAP_SYS_ADMIN, which the init still has at this point.
        #[repr(C)]
        struct SockFprog {
            len: libc::c_ushort,
            filter: *const seccompiler::sock_filter,
        }
        let len = libc::c_ushort::try_from(program.len()).map_err(|_| {
            SyscallError::new(
                "seccomp",
                format!("{} instructions", program.len()),
                Errno::E2BIG,
            )
        })?;
        let prog = SockFprog {
            len,
            filter: program.as_ptr(),
        };
        // SAFETY: `prog` points at `program`, alive for the call; the kernel copies it.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const SockFprog,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(SyscallError::new(
                "seccomp(SECCOMP_SET_MODE_FILTER)",
                format!("{} instructions", program.len()),
                Errno::last(),
            ))
        }
    }

    fn execve(&self, path: &CStr, args: &[CString], env: &[CString]) -> SyscallError {
        match nix::unistd::execve(path, args, env) {
            Err(e) => SyscallError::new("execve", path.to_string_lossy(), e),
            Ok(never) => match never {},
        }
    }
}

fn real_file_kind(path: &Path) -> Option<FileKind> {
    let meta = std::fs::metadata(path).ok()?;
    Some(if meta.is_dir() {
        FileKind::Directory
    } else if meta.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    })
}

/// The errno of an I/O error (EIO when it carries none).
pub fn io_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().map(Errno::from_raw).unwrap_or(Errno::EIO)
}

/// One call seen by [`RecordingSyscall`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Call {
    Unshare(CloneFlags),
    Setns {
        path: PathBuf,
        nstype: CloneFlags,
    },
    Mount {
        source: Option<PathBuf>,
        target: PathBuf,
        fstype: Option<String>,
        flags: MsFlags,
        data: Option<String>,
    },
    Umount {
        target: PathBuf,
        flags: MntFlags,
    },
    PivotRoot {
        new_root: PathBuf,
        put_old: PathBuf,
    },
    Chdir(PathBuf),
    Sethostname(String),
    Setdomainname(String),
    MkdirAll {
        path: PathBuf,
        mode: u32,
    },
    CreateFile {
        path: PathBuf,
        mode: u32,
    },
    Mknod {
        path: PathBuf,
        kind: NodeKind,
        mode: u32,
        major: u64,
        minor: u64,
    },
    Chmod {
        path: PathBuf,
        mode: u32,
    },
    Chown {
        path: PathBuf,
        uid: u32,
        gid: u32,
    },
    Symlink {
        target: PathBuf,
        link: PathBuf,
    },
    WriteFile {
        path: PathBuf,
        data: Vec<u8>,
    },
    Setgroups(Vec<u32>),
    Setgid(u32),
    Setuid(u32),
    KeepCaps(bool),
    DropBounding(Capability),
    SetCaps {
        set: CapKind,
        caps: Vec<Capability>,
    },
    NoNewPrivs,
    Setrlimit {
        resource: Resource,
        soft: u64,
        hard: u64,
    },
    Umask(u32),
    Seccomp {
        instructions: usize,
    },
    Execve {
        path: String,
        args: Vec<String>,
        env: Vec<String>,
    },
}

impl Call {
    /// The name of the call, as used by [`RecordingSyscall::fail`].
    pub fn name(&self) -> &'static str {
        match self {
            Call::Unshare(_) => "unshare",
            Call::Setns { .. } => "setns",
            Call::Mount { .. } => "mount",
            Call::Umount { .. } => "umount2",
            Call::PivotRoot { .. } => "pivot_root",
            Call::Chdir(_) => "chdir",
            Call::Sethostname(_) => "sethostname",
            Call::Setdomainname(_) => "setdomainname",
            Call::MkdirAll { .. } => "mkdir",
            Call::CreateFile { .. } => "create_file",
            Call::Mknod { .. } => "mknod",
            Call::Chmod { .. } => "chmod",
            Call::Chown { .. } => "lchown",
            Call::Symlink { .. } => "symlink",
            Call::WriteFile { .. } => "write",
            Call::Setgroups(_) => "setgroups",
            Call::Setgid(_) => "setresgid",
            Call::Setuid(_) => "setresuid",
            Call::KeepCaps(_) => "keepcaps",
            Call::DropBounding(_) => "capbset_drop",
            Call::SetCaps { .. } => "capset",
            Call::NoNewPrivs => "no_new_privs",
            Call::Setrlimit { .. } => "setrlimit",
            Call::Umask(_) => "umask",
            Call::Seccomp { .. } => "seccomp",
            Call::Execve { .. } => "execve",
        }
    }
}

/// A fake [`Syscall`] that records every call and succeeds, unless told to fail a call by name
/// (optionally only on a given target path).
#[derive(Debug, Default)]
pub struct RecordingSyscall {
    calls: Mutex<Vec<Call>>,
    failures: Mutex<Vec<Failure>>,
    kinds: Mutex<Vec<(PathBuf, Option<FileKind>)>>,
}

#[derive(Debug)]
struct Failure {
    name: &'static str,
    target: Option<PathBuf>,
    errno: Errno,
    once: bool,
}

impl RecordingSyscall {
    /// A recorder with no calls and no failures.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later call named `name` (see [`Call::name`]) on `target` (or on anything,
    /// when `None`) fail with `errno`.
    pub fn fail(&self, name: &'static str, target: Option<&Path>, errno: Errno) {
        let f = Failure {
            name,
            target: target.map(Path::to_path_buf),
            errno,
            once: false,
        };
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(f);
    }

    /// Makes the next call named `name` fail with `errno`, once.
    pub fn fail_once(&self, name: &'static str, errno: Errno) {
        let f = Failure {
            name,
            target: None,
            errno,
            once: true,
        };
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(f);
    }

    /// Makes [`Syscall::file_kind`] answer `kind` for `path` (otherwise it looks at the real
    /// filesystem), so tests can describe the container's view of paths like /proc/kcore.
    pub fn set_kind(&self, path: &Path, kind: Option<FileKind>) {
        self.kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((path.to_path_buf(), kind));
    }

    /// The calls so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, call: Call, target: Option<&Path>) -> SysResult<()> {
        let name = call.name();
        let label = target
            .map(|t| t.display().to_string())
            .unwrap_or_else(|| format!("{call:?}"));
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call);
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let hit = failures
            .iter()
            .position(|f| f.name == name && (f.target.is_none() || f.target.as_deref() == target));
        match hit {
            Some(i) => {
                let errno = failures[i].errno;
                if failures[i].once {
                    failures.remove(i);
                }
                Err(SyscallError::new(name, label, errno))
            }
            None => Ok(()),
        }
    }
}

impl Syscall for RecordingSyscall {
    fn unshare(&self, flags: CloneFlags) -> SysResult<()> {
        self.record(Call::Unshare(flags), None)
    }
    fn setns(&self, _fd: BorrowedFd<'_>, nstype: CloneFlags, path: &Path) -> SysResult<()> {
        self.record(
            Call::Setns {
                path: path.into(),
                nstype,
            },
            Some(path),
        )
    }
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> SysResult<()> {
        let call = Call::Mount {
            source: source.map(Path::to_path_buf),
            target: target.into(),
            fstype: fstype.map(str::to_string),
            flags,
            data: data.map(str::to_string),
        };
        self.record(call, Some(target))
    }
    fn mount_flags(&self, _path: &Path) -> SysResult<MsFlags> {
        Ok(MsFlags::MS_NOSUID | MsFlags::MS_NODEV)
    }
    fn file_kind(&self, path: &Path) -> Option<FileKind> {
        let kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        match kinds.iter().rev().find(|(p, _)| p == path) {
            Some((_, kind)) => *kind,
            None => real_file_kind(path),
        }
    }
    fn umount(&self, target: &Path, flags: MntFlags) -> SysResult<()> {
        self.record(
            Call::Umount {
                target: target.into(),
                flags,
            },
            Some(target),
        )
    }
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> SysResult<()> {
        self.record(
            Call::PivotRoot {
                new_root: new_root.into(),
                put_old: put_old.into(),
            },
            Some(new_root),
        )
    }
    fn chdir(&self, path: &Path) -> SysResult<()> {
        self.record(Call::Chdir(path.into()), Some(path))
    }
    fn sethostname(&self, name: &str) -> SysResult<()> {
        self.record(Call::Sethostname(name.into()), None)
    }
    fn setdomainname(&self, name: &str) -> SysResult<()> {
        self.record(Call::Setdomainname(name.into()), None)
    }
    fn mkdir_all(&self, path: &Path, mode: u32) -> SysResult<()> {
        self.record(
            Call::MkdirAll {
                path: path.into(),
                mode,
            },
            Some(path),
        )
    }
    fn create_file(&self, path: &Path, mode: u32) -> SysResult<()> {
        self.record(
            Call::CreateFile {
                path: path.into(),
                mode,
            },
            Some(path),
        )
    }
    fn mknod(
        &self,
        path: &Path,
        kind: NodeKind,
        mode: u32,
        major: u64,
        minor: u64,
    ) -> SysResult<()> {
        self.record(
            Call::Mknod {
                path: path.into(),
                kind,
                mode,
                major,
                minor,
            },
            Some(path),
        )
    }
    fn chmod(&self, path: &Path, mode: u32) -> SysResult<()> {
        self.record(
            Call::Chmod {
                path: path.into(),
                mode,
            },
            Some(path),
        )
    }
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> SysResult<()> {
        self.record(
            Call::Chown {
                path: path.into(),
                uid,
                gid,
            },
            Some(path),
        )
    }
    fn symlink(&self, target: &Path, link: &Path) -> SysResult<()> {
        self.record(
            Call::Symlink {
                target: target.into(),
                link: link.into(),
            },
            Some(link),
        )
    }
    fn write_file(&self, path: &Path, data: &[u8]) -> SysResult<()> {
        self.record(
            Call::WriteFile {
                path: path.into(),
                data: data.to_vec(),
            },
            Some(path),
        )
    }
    fn setgroups(&self, gids: &[u32]) -> SysResult<()> {
        self.record(Call::Setgroups(gids.to_vec()), None)
    }
    fn setgid(&self, gid: u32) -> SysResult<()> {
        self.record(Call::Setgid(gid), None)
    }
    fn setuid(&self, uid: u32) -> SysResult<()> {
        self.record(Call::Setuid(uid), None)
    }
    fn set_keep_caps(&self, keep: bool) -> SysResult<()> {
        self.record(Call::KeepCaps(keep), None)
    }
    fn drop_bounding_cap(&self, cap: Capability) -> SysResult<()> {
        self.record(Call::DropBounding(cap), None)
    }
    fn set_caps(&self, set: CapKind, caps_set: &CapsHashSet) -> SysResult<()> {
        let mut caps: Vec<Capability> = caps_set.iter().copied().collect();
        caps.sort_by_key(|c| c.index());
        self.record(Call::SetCaps { set, caps }, None)
    }
    fn set_no_new_privs(&self) -> SysResult<()> {
        self.record(Call::NoNewPrivs, None)
    }
    fn setrlimit(&self, resource: Resource, soft: u64, hard: u64) -> SysResult<()> {
        self.record(
            Call::Setrlimit {
                resource,
                soft,
                hard,
            },
            None,
        )
    }
    fn umask(&self, mask: u32) {
        let _ = self.record(Call::Umask(mask), None);
    }
    fn load_seccomp(&self, program: &[seccompiler::sock_filter]) -> SysResult<()> {
        self.record(
            Call::Seccomp {
                instructions: program.len(),
            },
            None,
        )
    }
    fn execve(&self, path: &CStr, args: &[CString], env: &[CString]) -> SyscallError {
        let call = Call::Execve {
            path: path.to_string_lossy().into_owned(),
            args: args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            env: env
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
        };
        match self.record(call, None) {
            Err(e) => e,
            // A successful execve never returns; the fake says so with ENOEXEC-free success
            // replaced by a marker error that tests can recognise.
            Ok(()) => SyscallError::new("execve", "recorded", Errno::UnknownErrno),
        }
    }
}

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
