//! The real system calls, through nix, caps and libc.

use super::{CapKind, FileKind, NodeKind, SysResult, Syscall, SyscallError, io_errno};
use caps::{CapSet, Capability, CapsHashSet};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::resource::Resource;
use std::ffi::{CStr, CString};
use std::os::fd::BorrowedFd;
use std::path::Path;

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

pub(super) fn real_file_kind(path: &Path) -> Option<FileKind> {
    let meta = std::fs::metadata(path).ok()?;
    Some(if meta.is_dir() {
        FileKind::Directory
    } else if meta.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    })
}
