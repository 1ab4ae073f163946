//! A recording fake of [`Syscall`] for unit tests: every call is kept, in order, and chosen
//! calls fail.

use super::linux::real_file_kind;
use super::{CapKind, FileKind, NodeKind, SysResult, Syscall, SyscallError};
use caps::{Capability, CapsHashSet};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::resource::Resource;
use std::ffi::{CStr, CString};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
