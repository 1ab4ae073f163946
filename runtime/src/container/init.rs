//! The code that runs in the re-executed helper (`berth __init`) and becomes the container.
//!
//! Stage 1 is the helper itself, a fresh single-threaded process started by the runtime: it
//! reads the [`InitConfig`], creates and maps a user namespace when asked, joins namespaces
//! given by path, and clones the container's init with `CLONE_PARENT` (so the init is the
//! runtime's child, which can wait for it) and the new namespaces. Stage 1 then exits.
//!
//! Stage 2 is the init, pid 1 of its pid namespace. It sets up the filesystem, hostname,
//! sysctls, limits and identity, reports `Ready`, and blocks on the exec FIFO until `start`
//! opens it; then it loads seccomp and execs the container's process. With `init: true` it
//! forks that process instead and stays as a small init that forwards signals and reaps zombies.
//!
//! Cloning a single-threaded process that was just exec'ed is safe: no other thread can hold a
//! lock that the clone would inherit (DESIGN.md, invariants of the runtime).

use super::capabilities::{self, CapabilityError, CapabilityPlan};
use super::cgroups::CgroupError;
use super::channel::{Channel, ChannelError, FIFO_FD, Message};
use super::namespaces::{NamespaceError, Namespaces};
use super::process::{self, ProcessError};
use super::rootfs::mounts::MountContext;
use super::rootfs::{self, CgroupMount, RootfsError};
use super::seccomp::{self, CompiledFilter};
use super::syscall::{LinuxSyscall, Syscall, SyscallError};
use super::sysctl::{self, SysctlError};
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Everything the helper needs to make a container.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct InitConfig {
    /// The spec.
    pub spec: Spec,
    /// The rootfs on the host (canonical).
    pub rootfs: PathBuf,
    /// The namespaces, already validated.
    pub namespaces: Namespaces,
    /// The exec FIFO on the host.
    pub fifo: PathBuf,
    /// The hierarchies to show under a `cgroup` mount.
    pub cgroups: Vec<CgroupMount>,
    /// Seccomp programs to install, in order (empty: unconfined).
    pub seccomp: Vec<CompiledFilter>,
    /// Run berth's small init as pid 1.
    pub mini_init: bool,
}

/// Why the container could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// Namespaces.
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    /// Filesystem.
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    /// Process.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// Capabilities.
    #[error(transparent)]
    Capability(#[from] CapabilityError),
    /// Sysctls.
    #[error(transparent)]
    Sysctl(#[from] SysctlError),
    /// A system call.
    #[error(transparent)]
    Syscall(#[from] SyscallError),
    /// The protocol.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// cgroups.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// Anything else, said in words.
    #[error("{0}")]
    Other(String),
}

/// `clone(2)` with `CLONE_PARENT` and `flags`, fork-like (no new stack: the child continues
/// from here on a copy of the address space). Returns `None` in the child.
///
/// # Safety
/// The caller must be single-threaded.
pub(crate) unsafe fn clone_parent(flags: CloneFlags) -> Result<Option<Pid>, Errno> {
    let all = flags.bits() as libc::c_ulong
        | libc::CLONE_PARENT as libc::c_ulong
        | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: a fork-like clone (no CLONE_VM, no stack) of a single-threaded process, which
    // the caller guarantees. Arguments after the flags are the unused stack and tid pointers.
    let rc = unsafe { libc::syscall(libc::SYS_clone, all, 0usize, 0usize, 0usize, 0usize) };
    match rc {
        -1 => Err(Errno::last()),
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}

/// Gives every signal its default disposition: a container's process must not inherit
/// signals the runtime's caller ignored (a shell ignores SIGINT for background jobs, and
/// exec keeps ignored signals ignored).
pub(crate) fn reset_signal_dispositions() {
    use nix::sys::signal::{SigHandler, signal};
    for sig in Signal::iterator() {
        if sig != Signal::SIGKILL && sig != Signal::SIGSTOP {
            // SAFETY: setting the default disposition installs no handler code.
            let _ = unsafe { signal(sig, SigHandler::SigDfl) };
        }
    }
}

/// Stage 1: the `__init` helper. Returns the helper's exit code; the cloned init never returns.
pub fn helper_init() -> i32 {
    reset_signal_dispositions();
    // The FIFO descriptor must not reach the container's process.
    // SAFETY: fcntl on a descriptor number; harmless if it is not open.
    unsafe { libc::fcntl(FIFO_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    // SAFETY: the runtime started this process with its socket at HELPER_FD.
    let mut chan = unsafe { Channel::from_helper_fd() };
    let cfg = match chan.recv() {
        Ok(Message::Init(cfg)) => cfg,
        Ok(other) => {
            let _ = chan.send(&Message::Error(format!(
                "__init: unexpected message {other:?}"
            )));
            return 1;
        }
        Err(_) => return 1,
    };
    let sys = LinuxSyscall;
    match stage1(&sys, &cfg, &mut chan) {
        Ok(Some(pid)) => match chan.send(&Message::Pid(pid.as_raw())) {
            Ok(()) => 0,
            Err(_) => 1,
        },
        Ok(None) => stage2(&sys, *cfg, chan),
        Err(e) => {
            let _ = chan.send(&Message::Error(e.to_string()));
            1
        }
    }
}

/// Becomes root of a new user namespace mapped by the runtime, joins namespaces by path, and
/// clones the init. Returns the init's pid in the helper, `None` in the init.
fn stage1(
    sys: &dyn Syscall,
    cfg: &InitConfig,
    chan: &mut Channel,
) -> Result<Option<Pid>, InitError> {
    let opened = cfg.namespaces.open_joined()?;
    if cfg.namespaces.is_new(LinuxNamespaceType::User) {
        sys.unshare(CloneFlags::CLONE_NEWUSER)?;
        chan.send(&Message::MapIds)?;
        match chan.recv()? {
            Message::IdsMapped => {}
            Message::Error(e) => return Err(InitError::Other(e)),
            other => return Err(InitError::Other(format!("unexpected message {other:?}"))),
        }
        sys.setgid(0)?;
        sys.setuid(0)?;
    }
    Namespaces::join(sys, &opened)?;
    // SAFETY: the helper is single-threaded (a fresh exec with no threads started).
    let pid = unsafe { clone_parent(cfg.namespaces.clone_flags()) }.map_err(|e| {
        SyscallError::new("clone", format!("{:?}", cfg.namespaces.clone_flags()), e)
    })?;
    Ok(pid)
}

/// What a container process execs, prepared while it still can look things up.
pub(crate) struct ExecTarget {
    /// The executable's path.
    pub exe: CString,
    /// The arguments.
    pub args: Vec<CString>,
    /// The environment.
    pub env: Vec<CString>,
}

/// The init, ready for `start`.
struct Prepared {
    target: ExecTarget,
    fifo: OwnedFd,
    terminal: bool,
}

/// Stage 2: the init. Never returns.
fn stage2(sys: &dyn Syscall, cfg: InitConfig, mut chan: Channel) -> i32 {
    match chan.recv() {
        Ok(Message::Proceed) => {}
        _ => std::process::exit(1),
    }
    match setup(sys, &cfg) {
        Ok(prepared) => {
            if chan.send(&Message::Ready).is_err() {
                std::process::exit(1);
            }
            drop(chan);
            run(sys, &cfg, prepared)
        }
        Err(e) => {
            let _ = chan.send(&Message::Error(e.to_string()));
            std::process::exit(1)
        }
    }
}

/// Sets up everything before `start`.
fn setup(sys: &dyn Syscall, cfg: &InitConfig) -> Result<Prepared, InitError> {
    let spec = &cfg.spec;
    let proc_ = spec
        .process()
        .as_ref()
        .ok_or_else(|| InitError::Other("the spec has no process".into()))?;
    let terminal = proc_.terminal().unwrap_or(false);
    // A session of its own: the container is not part of the runtime's terminal session.
    nix::unistd::setsid().map_err(|e| SyscallError::new("setsid", "", e))?;
    let console = if terminal {
        // SAFETY: TIOCSCTTY on stdin, which is the terminal's slave side.
        if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } != 0 {
            return Err(SyscallError::new("ioctl(TIOCSCTTY)", "stdin", Errno::last()).into());
        }
        Some(
            std::fs::read_link("/proc/self/fd/0")
                .map_err(|e| InitError::Other(format!("terminal path: {e}")))?,
        )
    } else {
        None
    };
    if cfg.namespaces.is_new(LinuxNamespaceType::Uts) {
        if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            sys.sethostname(h)?;
        }
        if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
            sys.setdomainname(d)?;
        }
    }
    // The runtime passed the FIFO as a descriptor (O_PATH); it is reopened for writing at the
    // end, through /proc/self/fd, which checks only the FIFO's own mode.
    // SAFETY: the runtime started the helper with the FIFO at FIFO_FD, owned by nothing else.
    let fifo = unsafe { OwnedFd::from_raw_fd(FIFO_FD) };
    if nix::fcntl::fcntl(&fifo, nix::fcntl::FcntlArg::F_GETFD).is_err() {
        return Err(InitError::Other(format!(
            "no exec FIFO at descriptor {FIFO_FD} ({})",
            cfg.fifo.display()
        )));
    }

    let ctx = MountContext {
        rootfs: cfg.rootfs.clone(),
        new_netns: cfg.namespaces.is_new(LinuxNamespaceType::Network),
        new_cgroupns: cfg.namespaces.is_new(LinuxNamespaceType::Cgroup),
        userns: cfg.namespaces.is_new(LinuxNamespaceType::User),
        cgroups: cfg.cgroups.clone(),
    };
    rootfs::prepare(sys, spec, &ctx, console.as_deref())?;
    if let Some(s) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        sysctl::apply(sys, s)?;
    }
    rootfs::finish(sys, spec)?;

    let cwd = proc_.cwd().clone();
    if !cwd.as_os_str().is_empty() {
        // Docker creates a missing working directory, as root, before the user switch.
        sys.mkdir_all(&cwd, 0o755)?;
    }
    let target = become_process(sys, proc_, &cfg.seccomp, Path::new("/"))?;
    Ok(Prepared {
        target,
        fifo,
        terminal,
    })
}

/// Limits, identity, capabilities, umask, working directory and no_new_privs of `proc_`, and
/// what to exec. Shared by the init and `exec`. The seccomp filters are installed here only when
/// no_new_privs is off (installing then needs CAP_SYS_ADMIN, which the capability drop removes);
/// otherwise right before execve.
pub(crate) fn become_process(
    sys: &dyn Syscall,
    proc_: &Process,
    filters: &[CompiledFilter],
    root: &Path,
) -> Result<ExecTarget, InitError> {
    let args = proc_.args().clone().unwrap_or_default();
    let Some(arg0) = args.first() else {
        return Err(ProcessError::NoArgs.into());
    };
    let env = proc_.env().clone().unwrap_or_default();
    let exe = process::find_executable(root, arg0, &env)?;
    let user = proc_.user();
    let env = process::environment(&env, || process::home_of(root, user.uid()))?;
    let args = process::c_strings(&args)?;
    let exe = process::c_path(&exe)?;

    process::apply_rlimits(sys, proc_.rlimits().as_deref().unwrap_or_default())?;
    if let Some(adj) = proc_.oom_score_adj() {
        sys.write_file(
            Path::new("/proc/self/oom_score_adj"),
            adj.to_string().as_bytes(),
        )?;
    }
    let current = capabilities::available();
    let plan = CapabilityPlan::from_spec(proc_.capabilities().as_ref(), &current)?;
    let nnp = proc_.no_new_privileges().unwrap_or(false);
    if !nnp {
        seccomp::install(sys, filters)?;
    }
    plan.drop_bounding(sys, &current)?;
    sys.set_keep_caps(true)?;
    process::apply_user(sys, user)?;
    sys.set_keep_caps(false)?;
    plan.apply(sys)?;
    sys.umask(user.umask().unwrap_or(0o022));
    let cwd = proc_.cwd();
    sys.chdir(if cwd.as_os_str().is_empty() {
        Path::new("/")
    } else {
        cwd
    })?;
    if nnp {
        sys.set_no_new_privs()?;
    }
    Ok(ExecTarget { exe, args, env })
}

/// After `Ready`: waits for `start` on the FIFO, then execs (or runs the small init).
fn run(sys: &dyn Syscall, cfg: &InitConfig, prepared: Prepared) -> i32 {
    let path = format!("/proc/self/fd/{}", prepared.fifo.as_raw_fd());
    // Blocks until `start` opens the FIFO for reading.
    let fifo = match std::fs::OpenOptions::new().write(true).open(&path) {
        Ok(f) => f,
        Err(_) => std::process::exit(1),
    };
    drop(prepared.fifo);
    let mut fifo = fifo;
    if fifo.write_all(&[0]).is_err() {
        std::process::exit(1);
    }
    let nnp = cfg
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.no_new_privileges())
        .unwrap_or(false);
    if nnp && let Err(e) = seccomp::install(sys, &cfg.seccomp) {
        let _ = write!(fifo, "{e}");
        std::process::exit(127);
    }
    let t = prepared.target;
    if cfg.mini_init {
        mini_init(sys, t, fifo, prepared.terminal)
    } else {
        let err = sys.execve(&t.exe, &t.args, &t.env);
        let _ = write!(fifo, "exec {}: {err}", t.exe.to_string_lossy());
        std::process::exit(127)
    }
}

/// Pid 1 with `init: true`: forks the process, forwards every signal to it, reaps every
/// zombie, and exits with the process's status (128+signal when it was killed), as tini does.
fn mini_init(sys: &dyn Syscall, t: ExecTarget, mut fifo: std::fs::File, terminal: bool) -> ! {
    let all = SigSet::all();
    // Blocked before the fork: no signal can slip between the fork and the wait loop.
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), None);
    // SAFETY: the init is single-threaded.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            let _ = nix::sys::signal::sigprocmask(
                SigmaskHow::SIG_SETMASK,
                Some(&SigSet::empty()),
                None,
            );
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            if terminal {
                // Taking the terminal's foreground from a background group raises SIGTTOU.
                // SAFETY: changing a signal disposition to ignore and back, single-threaded.
                unsafe {
                    let _ = nix::sys::signal::signal(
                        Signal::SIGTTOU,
                        nix::sys::signal::SigHandler::SigIgn,
                    );
                    let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpid());
                    let _ = nix::sys::signal::signal(
                        Signal::SIGTTOU,
                        nix::sys::signal::SigHandler::SigDfl,
                    );
                }
            }
            let err = sys.execve(&t.exe, &t.args, &t.env);
            let _ = write!(fifo, "exec {}: {err}", t.exe.to_string_lossy());
            std::process::exit(127)
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(fifo);
            loop {
                let Ok(sig) = all.wait() else { continue };
                if sig != Signal::SIGCHLD {
                    let _ = nix::sys::signal::kill(child, sig);
                    continue;
                }
                loop {
                    match nix::sys::wait::waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                        Ok(WaitStatus::Exited(pid, code)) if pid == child => {
                            std::process::exit(code)
                        }
                        Ok(WaitStatus::Signaled(pid, s, _)) if pid == child => {
                            std::process::exit(128 + s as i32)
                        }
                        Ok(WaitStatus::StillAlive) | Err(_) => break,
                        Ok(_) => continue,
                    }
                }
            }
        }
        Err(e) => {
            let _ = write!(fifo, "fork: {e}");
            std::process::exit(127)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::syscall::{Call, RecordingSyscall};
    use oci_spec::runtime::{ProcessBuilder, UserBuilder};

    #[test]
    fn identity_order_drops_bounding_then_switches_user_then_sets_caps() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("bin")).unwrap();
        let sh = root.path().join("bin/sh");
        std::fs::write(&sh, "").unwrap();
        std::fs::set_permissions(&sh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let caps =
            capabilities::docker_capabilities(&[], &[], false, 1000, &capabilities::available())
                .unwrap();
        let p = ProcessBuilder::default()
            .args(vec!["sh".to_string()])
            .env(vec!["PATH=/bin".to_string()])
            .cwd("/work")
            .user(
                UserBuilder::default()
                    .uid(1000u32)
                    .gid(1000u32)
                    .build()
                    .unwrap(),
            )
            .capabilities(caps)
            .no_new_privileges(true)
            .build()
            .unwrap();
        let sys = RecordingSyscall::new();
        let prepared = become_process(&sys, &p, &[], root.path()).unwrap();
        assert_eq!(prepared.exe.to_str().unwrap(), "/bin/sh");
        assert!(prepared.env.iter().any(|e| e.to_str().unwrap() == "HOME=/"));
        let names: Vec<&str> = sys
            .calls()
            .iter()
            .map(Call::name)
            .filter(|n| *n != "capbset_drop" && *n != "setrlimit")
            .collect();
        assert_eq!(
            names,
            [
                "keepcaps",
                "setgroups",
                "setresgid",
                "setresuid",
                "keepcaps",
                "capset",
                "capset",
                "capset",
                "capset",
                "umask",
                "chdir",
                "no_new_privs"
            ]
        );
        let calls = sys.calls();
        let first_drop = calls
            .iter()
            .position(|c| matches!(c, Call::DropBounding(_)));
        let setuid = calls
            .iter()
            .position(|c| matches!(c, Call::Setuid(_)))
            .unwrap();
        // The runtime running the test may already lack some capabilities (then fewer drops).
        if let Some(d) = first_drop {
            assert!(d < setuid);
        }
    }

    #[test]
    fn seccomp_goes_first_without_no_new_privs() {
        let root = tempfile::tempdir().unwrap();
        let p = ProcessBuilder::default()
            .args(vec!["/bin/true".to_string()])
            .cwd("/")
            .no_new_privileges(false)
            .build()
            .unwrap();
        let sys = RecordingSyscall::new();
        let f = CompiledFilter {
            instructions: vec![(6, 0, 0, 0x7fff0000)],
        };
        become_process(&sys, &p, &[f], root.path()).unwrap();
        let calls = sys.calls();
        assert_eq!(
            calls
                .iter()
                .find(|c| !matches!(c, Call::Setrlimit { .. }))
                .unwrap(),
            &Call::Seccomp { instructions: 1 }
        );
        assert!(!calls.contains(&Call::NoNewPrivs));
    }
}
