//! The life of a container, seen from the runtime: create, start, signal, stop, wait, pause,
//! resume, delete, and what can be observed of it meanwhile (status, processes, statistics).

use super::capabilities::{self, CapabilityError, CapabilityPlan};
use super::cgroups::{Cgroup, CgroupError, CgroupStats, Hierarchy};
use super::channel::{Channel, ChannelError, FD_ENV, FIFO_FD, HELPER_FD, Message};
use super::handle::{Exit, ProcessHandle};
use super::init::InitConfig;
use super::namespaces::{NamespaceError, Namespaces};
use super::process::{self, ProcessError};
use super::seccomp::{self, CompiledFilter, SeccompError};
use super::state::{self, CONFIG_FILE, FIFO_FILE, State, Status};
use super::stdio::{self, ProcessIo, Stdio};
use super::sysctl::{self, SysctlError};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a container operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// A malformed id.
    #[error(
        "invalid container id {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit"
    )]
    InvalidId(String),
    /// The id is taken.
    #[error("container {0} already exists")]
    Exists(String),
    /// No such container.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// The spec asks for something berth cannot or will not do.
    #[error("invalid spec: {0}")]
    Spec(String),
    /// The operation does not fit the container's status.
    #[error("container {id} is {status}: cannot {action}")]
    WrongStatus {
        /// The container.
        id: String,
        /// Its status.
        status: Status,
        /// What was asked.
        action: &'static str,
    },
    /// Namespaces.
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    /// Process settings.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// Capabilities.
    #[error(transparent)]
    Capability(#[from] CapabilityError),
    /// Sysctls.
    #[error(transparent)]
    Sysctl(#[from] SysctlError),
    /// Seccomp.
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// cgroups.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// The container's init (or an exec helper) reported a failure.
    #[error("container {id}: {message}")]
    Init {
        /// The container.
        id: String,
        /// What the helper said.
        message: String,
    },
    /// Talking to the helper failed.
    #[error("container {id}: helper protocol: {source}")]
    Channel {
        /// The container.
        id: String,
        /// Why.
        source: ChannelError,
    },
    /// A file or process operation of the runtime failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        source: std::io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ContainerError {
    let what = what.into();
    move |source| ContainerError::Io { what, source }
}

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ExitStatus {
    /// Exit code or signal.
    pub exit: Exit,
    /// Whether the kernel's OOM killer killed a process of the container (the cgroup's
    /// memory limit was hit), as Docker's `OOMKilled`.
    pub oom_killed: bool,
}

impl ExitStatus {
    /// The status as Docker reports it (code, or 128 + signal).
    pub fn code(&self) -> i32 {
        self.exit.code()
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.exit)?;
        if self.oom_killed {
            write!(
                f,
                " (out of memory: the OOM killer killed a process of the container)"
            )?;
        }
        Ok(())
    }
}

/// The outcome of [`Container::stop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// How the container ended.
    pub status: ExitStatus,
    /// Whether the grace period ran out and the container was killed with SIGKILL.
    pub killed: bool,
}

/// Options of [`Runtime::create`].
#[derive(Debug, Default)]
pub struct CreateOptions {
    /// The process's streams, when the spec asks for no terminal.
    pub stdio: Stdio,
    /// Run berth's small init as pid 1 (`init: true`): it forwards signals and reaps zombies.
    pub init: bool,
}

/// The container runtime: where state lives and which executable is the helper.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    helper: PathBuf,
    hierarchy: Hierarchy,
}

fn validate_id(id: &str) -> Result<(), ContainerError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ContainerError::InvalidId(id.to_string()))
    }
}

/// Removes what a failed create left behind, unless disarmed.
struct CreateGuard {
    dir: Option<PathBuf>,
    cgroup: Option<Cgroup>,
    pid: Option<i32>,
}

impl Drop for CreateGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let p = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(p, None);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.kill_all();
            let _ = cg.remove();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Starts a helper (`berth __init`, `berth __exec`) with its socket at [`HELPER_FD`] and, when
/// given, `extra` (the exec FIFO) at [`FIFO_FD`].
pub(crate) fn spawn_helper(
    helper: &Path,
    entry: &str,
    streams: stdio::Prepared,
    extra: Option<std::os::fd::BorrowedFd<'_>>,
) -> Result<(std::process::Child, Channel, ProcessIo), ContainerError> {
    let (ours, theirs) = UnixStream::pair().map_err(io_err("socketpair"))?;
    let sock = theirs.as_raw_fd();
    let extra = extra.map(|e| e.as_raw_fd());
    let mut cmd = std::process::Command::new(helper);
    cmd.arg(entry)
        .env_clear()
        .env(FD_ENV, HELPER_FD.to_string())
        .stdin(streams.stdin)
        .stdout(streams.stdout)
        .stderr(streams.stderr);
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
    // functions (fcntl, dup2, close). Both descriptors are first copied above the targets, so
    // that placing one cannot overwrite the other; dup2 leaves the targets open across exec.
    unsafe {
        cmd.pre_exec(move || {
            let high = |fd: i32| {
                let d = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 64);
                if d < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(d)
                }
            };
            let s = high(sock)?;
            let e = match extra {
                Some(fd) => Some(high(fd)?),
                None => None,
            };
            if libc::dup2(s, HELPER_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(e) = e {
                if libc::dup2(e, FIFO_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(io_err(format!("starting the helper {}", helper.display())))?;
    drop(theirs);
    let mut io = streams.io;
    if streams.piped {
        stdio::take_pipes(&mut child, &mut io);
    }
    Ok((child, Channel::new(ours), io))
}

impl Runtime {
    /// A runtime keeping state under `root`, re-executing this very program as its helper.
    pub fn new(root: impl Into<PathBuf>) -> Result<Runtime, ContainerError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(io_err(format!("creating {}", root.display())))?;
        Ok(Runtime {
            root,
            helper: PathBuf::from("/proc/self/exe"),
            hierarchy: Hierarchy::detect()?,
        })
    }

    /// Uses `helper` as the helper executable: a program whose `main` calls
    /// [`crate::container::dispatch_helper`] first (the `berth` binary, or a test binary).
    pub fn with_helper(mut self, helper: impl Into<PathBuf>) -> Self {
        self.helper = helper.into();
        self
    }

    /// The detected cgroup layout.
    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// The state directory of container `id`.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Checks a spec before anything is created; returns its namespaces and seccomp filters.
    fn validate(&self, spec: &Spec) -> Result<(Namespaces, Vec<CompiledFilter>), ContainerError> {
        let proc_ = spec
            .process()
            .as_ref()
            .ok_or_else(|| ContainerError::Spec("process is missing".into()))?;
        if proc_.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(ProcessError::NoArgs.into());
        }
        let ns = Namespaces::from_spec(spec)?;
        if !ns.is_new(LinuxNamespaceType::Mount) {
            return Err(ContainerError::Spec(
                "berth needs a new mount namespace (add {\"type\": \"mount\"})".into(),
            ));
        }
        if spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
            && !ns.is_new(LinuxNamespaceType::Uts)
        {
            return Err(ContainerError::Spec(
                "a hostname needs a new uts namespace".into(),
            ));
        }
        let linux = spec.linux().as_ref();
        if let Some(s) = linux.and_then(|l| l.sysctl().as_ref()) {
            sysctl::validate(s, &ns)?;
        }
        let may_raise = capabilities::available().contains(&caps::Capability::CAP_SYS_RESOURCE)
            && caps::has_cap(
                None,
                caps::CapSet::Effective,
                caps::Capability::CAP_SYS_RESOURCE,
            )
            .unwrap_or(false);
        process::check_rlimits(
            proc_.rlimits().as_deref().unwrap_or_default(),
            may_raise,
            process::host_hard_limit,
        )?;
        CapabilityPlan::from_spec(proc_.capabilities().as_ref(), &capabilities::available())?;
        if spec.hooks().as_ref().is_some_and(|h| {
            h.prestart().is_some()
                || h.create_runtime().is_some()
                || h.create_container().is_some()
                || h.start_container().is_some()
                || h.poststart().is_some()
                || h.poststop().is_some()
        }) {
            return Err(ContainerError::Spec("hooks are not supported".into()));
        }
        if proc_
            .apparmor_profile()
            .as_deref()
            .is_some_and(|p| !p.is_empty() && p != "unconfined")
        {
            return Err(ContainerError::Spec(
                "AppArmor profiles are not supported".into(),
            ));
        }
        if proc_
            .selinux_label()
            .as_deref()
            .is_some_and(|p| !p.is_empty())
        {
            return Err(ContainerError::Spec(
                "SELinux labels are not supported".into(),
            ));
        }
        if linux.is_some_and(|l| {
            l.personality().is_some() || l.intel_rdt().is_some() || l.time_offsets().is_some()
        }) {
            return Err(ContainerError::Spec(
                "linux.personality, intelRdt and timeOffsets are not supported".into(),
            ));
        }
        let filters = match linux.and_then(|l| l.seccomp().as_ref()) {
            Some(s) => seccomp::compile(s)?,
            None => Vec::new(),
        };
        Ok((ns, filters))
    }

    /// Creates container `id` from `spec` on `rootfs`: namespaces, filesystem, cgroup, identity,
    /// all set up; the process waits for [`Container::start`].
    pub fn create(
        &self,
        id: &str,
        spec: &Spec,
        rootfs: &Path,
        opts: CreateOptions,
    ) -> Result<Container, ContainerError> {
        validate_id(id)?;
        let (namespaces, filters) = self.validate(spec)?;
        let rootfs = rootfs
            .canonicalize()
            .map_err(io_err(format!("rootfs {}", rootfs.display())))?;
        let dir = self.state_dir(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ContainerError::Exists(id.into()));
            }
            Err(e) => return Err(io_err(format!("creating {}", dir.display()))(e)),
        }
        let mut guard = CreateGuard {
            dir: Some(dir.clone()),
            cgroup: None,
            pid: None,
        };
        // Only root reaches the exec FIFO by path: the init reopens it through /proc/self/fd.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(io_err(format!("chmod {}", dir.display())))?;
        let config =
            serde_json::to_vec_pretty(spec).map_err(|e| ContainerError::Spec(e.to_string()))?;
        state::write_atomic(&dir.join(CONFIG_FILE), &config)
            .map_err(io_err("writing config.json"))?;
        let fifo = dir.join(FIFO_FILE);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).map_err(
            |e| ContainerError::Io {
                what: format!("mkfifo {}", fifo.display()),
                source: e.into(),
            },
        )?;
        // Writable by the container's user, whoever that is; only the runtime reads it.
        std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
            .map_err(io_err("chmod exec.fifo"))?;

        let linux = spec.linux().as_ref();
        // Without a cgroupsPath, Docker's layout: /berth/ID from each hierarchy's root (on v2 a
        // cgroup under the runtime's own could not get controllers: a cgroup with processes
        // cannot enable them for its children).
        let cgroups_path = linux
            .and_then(|l| l.cgroups_path().clone())
            .unwrap_or_else(|| PathBuf::from(format!("/berth/{id}")));
        let cgroup = Cgroup::new(&self.hierarchy, &cgroups_path)?;
        cgroup.create(linux.and_then(|l| l.resources().as_ref()))?;
        guard.cgroup = Some(cgroup.clone());

        let proc_ = spec
            .process()
            .as_ref()
            .ok_or_else(|| ContainerError::Spec("process is missing".into()))?;
        let terminal = proc_.terminal().unwrap_or(false);
        let size = proc_
            .console_size()
            .map(|b| (b.width() as u16, b.height() as u16))
            .filter(|(w, h)| *w > 0 && *h > 0);
        let streams = stdio::prepare(opts.stdio, terminal, size)
            .map_err(io_err("setting up the container's streams"))?;
        // The init cannot count on reaching the FIFO by path (a user namespace's root is not
        // root here): it gets it as a descriptor, and reopens that for writing.
        let fifo_fd = nix::fcntl::open(
            &fifo,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| ContainerError::Io {
            what: format!("opening {}", fifo.display()),
            source: e.into(),
        })?;
        let (mut helper, mut chan, io) =
            spawn_helper(&self.helper, "__init", streams, Some(fifo_fd.as_fd()))?;
        drop(fifo_fd);
        let cfg = InitConfig {
            spec: spec.clone(),
            rootfs: rootfs.clone(),
            namespaces,
            fifo: fifo.clone(),
            cgroups: cgroup.container_mounts(),
            seccomp: filters,
            mini_init: opts.init,
        };
        let result = (|| {
            cgroup.add_process(helper.id() as i32)?;
            self.converse(id, spec, &mut chan, &mut helper, cfg, &mut guard)
        })();
        let _ = helper.wait();
        let pid = result?;
        let handle =
            ProcessHandle::open(pid).map_err(io_err("pidfd_open of the container's init"))?;
        let st = State {
            id: id.to_string(),
            pid,
            pid_start: state::process_start_time(pid).unwrap_or(0),
            created: state::now(),
            rootfs,
            cgroup: cgroup.clone(),
            mini_init: opts.init,
        };
        st.save(&dir).map_err(io_err("writing state.json"))?;
        guard.dir = None;
        guard.cgroup = None;
        guard.pid = None;
        let console = io.terminal.as_ref().and_then(|t| t.try_clone().ok());
        Ok(Container {
            dir,
            state: st,
            handle,
            io: Some(io),
            console,
            helper: self.helper.clone(),
            spec: spec.clone(),
        })
    }

    /// The runtime's side of `__init`: returns the init's pid once it is `Ready`.
    fn converse(
        &self,
        id: &str,
        spec: &Spec,
        chan: &mut Channel,
        helper: &mut std::process::Child,
        cfg: InitConfig,
        guard: &mut CreateGuard,
    ) -> Result<i32, ContainerError> {
        let chan_err = |source| ContainerError::Channel {
            id: id.to_string(),
            source,
        };
        chan.send(&Message::Init(Box::new(cfg))).map_err(chan_err)?;
        let mut pid = None;
        loop {
            match chan.recv() {
                Ok(Message::MapIds) => {
                    write_id_maps(helper.id() as i32, spec)?;
                    chan.send(&Message::IdsMapped).map_err(chan_err)?;
                }
                Ok(Message::Pid(p)) => {
                    pid = Some(p);
                    guard.pid = Some(p);
                    chan.send(&Message::Proceed).map_err(chan_err)?;
                }
                Ok(Message::Ready) => {
                    return pid.ok_or_else(|| ContainerError::Init {
                        id: id.into(),
                        message: "ready before its pid was known".into(),
                    });
                }
                Ok(Message::Error(message)) => {
                    return Err(ContainerError::Init {
                        id: id.into(),
                        message,
                    });
                }
                Ok(other) => {
                    return Err(ContainerError::Init {
                        id: id.into(),
                        message: format!("unexpected message {other:?}"),
                    });
                }
                Err(ChannelError::Closed) => {
                    let who = if pid.is_some() {
                        "the container's init"
                    } else {
                        "the helper"
                    };
                    let status = match pid {
                        Some(p) => {
                            guard.pid = None;
                            ProcessHandle::open(p)
                                .map(|h| h.wait().to_string())
                                .unwrap_or_else(|_| "gone".into())
                        }
                        None => helper.wait().map(|s| s.to_string()).unwrap_or_default(),
                    };
                    return Err(ContainerError::Init {
                        id: id.into(),
                        message: format!("{who} exited during setup ({status})"),
                    });
                }
                Err(source) => return Err(chan_err(source)),
            }
        }
    }

    /// The container `id` made earlier (possibly by another process).
    pub fn load(&self, id: &str) -> Result<Container, ContainerError> {
        validate_id(id)?;
        let dir = self.state_dir(id);
        let st = match State::load(&dir) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ContainerError::NotFound(id.into()));
            }
            Err(e) => return Err(io_err(format!("reading the state of {id}"))(e)),
        };
        let spec: Spec = std::fs::read(dir.join(CONFIG_FILE))
            .map_err(io_err("reading config.json"))
            .and_then(|d| {
                serde_json::from_slice(&d).map_err(|e| ContainerError::Spec(e.to_string()))
            })?;
        if !st.init_alive() {
            return Err(ContainerError::WrongStatus {
                id: id.into(),
                status: Status::Stopped,
                action: "load (its init has exited)",
            });
        }
        let handle =
            ProcessHandle::open(st.pid).map_err(io_err("pidfd_open of the container's init"))?;
        Ok(Container {
            dir,
            state: st,
            handle,
            io: None,
            console: None,
            helper: self.helper.clone(),
            spec,
        })
    }

    /// The ids of the containers with state here.
    pub fn list(&self) -> Result<Vec<String>, ContainerError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.root).map_err(io_err("listing containers"))? {
            let e = e.map_err(io_err("listing containers"))?;
            if e.path().join(state::STATE_FILE).exists() {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Writes the spec's id mappings for a process that made a new user namespace.
fn write_id_maps(pid: i32, spec: &Spec) -> Result<(), ContainerError> {
    let linux = spec.linux().as_ref();
    let fmt = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.into_iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    let uid = fmt(linux.and_then(|l| l.uid_mappings().as_ref()));
    let gid = fmt(linux.and_then(|l| l.gid_mappings().as_ref()));
    std::fs::write(format!("/proc/{pid}/uid_map"), uid).map_err(io_err("writing uid_map"))?;
    std::fs::write(format!("/proc/{pid}/gid_map"), gid).map_err(io_err("writing gid_map"))?;
    Ok(())
}

/// A process in the container, as `top` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProcessInfo {
    /// Pid (in the runtime's pid namespace).
    pub pid: i32,
    /// Parent pid.
    pub ppid: i32,
    /// Real user id.
    pub uid: u32,
    /// State letter (R, S, Z ...).
    pub state: String,
    /// Command line.
    pub command: String,
}

/// Network counters of one interface of the container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NetStats {
    /// Interface name.
    pub interface: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
}

/// Resource usage of a container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// From the cgroup: CPU, memory, processes, block IO.
    pub cgroup: CgroupStats,
    /// Per interface of the container's network namespace.
    pub networks: Vec<NetStats>,
}

/// Parses /proc/PID/net/dev.
pub fn parse_net_dev(text: &str) -> Vec<NetStats> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            (f.len() >= 10).then(|| NetStats {
                interface: name.trim().to_string(),
                rx_bytes: f[0],
                rx_packets: f[1],
                tx_bytes: f[8],
                tx_packets: f[9],
            })
        })
        .collect()
}

/// A container made by [`Runtime::create`] or found by [`Runtime::load`].
///
/// Dropping the handle leaves the container as it is (running, and unreaped until the process
/// that created it waits for it or exits): [`Container::delete`] ends it.
#[derive(Debug)]
pub struct Container {
    dir: PathBuf,
    state: State,
    handle: ProcessHandle,
    io: Option<ProcessIo>,
    console: Option<File>,
    helper: PathBuf,
    spec: Spec,
}

impl Container {
    /// The id.
    pub fn id(&self) -> &str {
        &self.state.id
    }

    /// The init's pid, in the runtime's pid namespace.
    pub fn pid(&self) -> i32 {
        self.state.pid
    }

    /// The spec it was made from.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// Its cgroup.
    pub fn cgroup(&self) -> &Cgroup {
        &self.state.cgroup
    }

    /// The helper executable (for exec).
    pub(crate) fn helper(&self) -> &Path {
        &self.helper
    }

    /// The caller's ends of the process's streams (pipes or the terminal), once.
    pub fn take_io(&mut self) -> ProcessIo {
        self.io.take().unwrap_or_default()
    }

    /// The current status.
    pub fn status(&self) -> Status {
        if self.handle.has_exited() {
            Status::Stopped
        } else {
            self.state.status(&self.dir)
        }
    }

    fn require(&self, wanted: &[Status], action: &'static str) -> Result<Status, ContainerError> {
        let status = self.status();
        if wanted.contains(&status) {
            Ok(status)
        } else {
            Err(ContainerError::WrongStatus {
                id: self.id().into(),
                status,
                action,
            })
        }
    }

    /// Runs the container's process: opens the exec FIFO the init waits on, and returns once
    /// the process was exec'ed (or with the reason it could not be).
    pub fn start(&self) -> Result<(), ContainerError> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        self.require(&[Status::Created], "start")?;
        let path = self.dir.join(FIFO_FILE);
        let fifo = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
            .map_err(io_err("opening exec.fifo"))?;
        let mut fifo = fifo;
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let pidfd_ready;
            {
                let mut fds = vec![PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
                if data.is_empty() {
                    fds.push(PollFd::new(self.handle_fd(), PollFlags::POLLIN));
                }
                match poll(&mut fds, PollTimeout::NONE) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(io_err("poll on exec.fifo")(e.into())),
                    Ok(_) => {}
                }
                let fifo_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
                pidfd_ready = fds
                    .get(1)
                    .and_then(|f| f.revents())
                    .is_some_and(|r| !r.is_empty());
                if !fifo_ready {
                    if pidfd_ready {
                        let _ = std::fs::remove_file(&path);
                        return Err(ContainerError::Init {
                            id: self.id().into(),
                            message: "the init exited before the container was started".into(),
                        });
                    }
                    continue;
                }
            }
            match fifo.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => data.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err("reading exec.fifo")(e)),
            }
        }
        let _ = std::fs::remove_file(&path);
        match data.split_first() {
            Some((0, [])) => Ok(()),
            Some((0, rest)) => Err(ContainerError::Init {
                id: self.id().into(),
                message: String::from_utf8_lossy(rest).into_owned(),
            }),
            _ => Err(ContainerError::Init {
                id: self.id().into(),
                message: "the init closed exec.fifo without starting".into(),
            }),
        }
    }

    fn handle_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.handle.pidfd()
    }

    /// Sends signal `sig` to the container's pid 1 (which, with berth's init, forwards it).
    pub fn signal(&self, sig: nix::sys::signal::Signal) -> Result<(), ContainerError> {
        self.handle
            .signal(sig as i32)
            .map_err(io_err(format!("sending {sig} to container {}", self.id())))
    }

    /// Kills every process of the container with SIGKILL.
    pub fn kill(&self) -> Result<(), ContainerError> {
        self.signal(nix::sys::signal::Signal::SIGKILL)?;
        // Processes outside the container's pid namespace (none when it has its own) die too.
        self.state.cgroup.kill_all()?;
        Ok(())
    }

    /// Waits for the init to end (reaping it when the runtime is its parent).
    pub fn wait(&self) -> ExitStatus {
        let exit = self.handle.wait();
        self.exit_status(exit)
    }

    /// Waits up to `timeout`; `None` if the container is still running then.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<ExitStatus> {
        self.handle
            .wait_timeout(Some(timeout))
            .map(|e| self.exit_status(e))
    }

    fn exit_status(&self, exit: Exit) -> ExitStatus {
        ExitStatus {
            exit,
            oom_killed: self.state.cgroup.oom_kills() > 0,
        }
    }

    /// Stops the container: `signal` (the image's stop signal, SIGTERM by default), then, if
    /// it has not ended after `grace`, SIGKILL. A paused container is resumed first, so that it
    /// can handle the signal.
    pub fn stop(
        &self,
        signal: nix::sys::signal::Signal,
        grace: Duration,
    ) -> Result<Stopped, ContainerError> {
        if let Some(status) = self.wait_timeout(Duration::ZERO) {
            return Ok(Stopped {
                status,
                killed: false,
            });
        }
        if self.state.cgroup.is_frozen() {
            self.state.cgroup.thaw()?;
        }
        self.signal(signal)?;
        if let Some(status) = self.wait_timeout(grace) {
            return Ok(Stopped {
                status,
                killed: false,
            });
        }
        self.kill()?;
        Ok(Stopped {
            status: self.wait(),
            killed: true,
        })
    }

    /// Freezes every process of the container.
    pub fn pause(&self) -> Result<(), ContainerError> {
        self.require(&[Status::Running], "pause")?;
        Ok(self.state.cgroup.freeze()?)
    }

    /// Thaws a paused container.
    pub fn resume(&self) -> Result<(), ContainerError> {
        self.require(&[Status::Paused], "resume")?;
        Ok(self.state.cgroup.thaw()?)
    }

    /// Sets the terminal's size (containers with a terminal).
    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), ContainerError> {
        let t = self
            .console
            .as_ref()
            .ok_or_else(|| ContainerError::Spec("the container has no terminal".into()))?;
        stdio::resize(t, cols, rows).map_err(io_err("resizing the terminal"))
    }

    /// The container's processes.
    pub fn top(&self) -> Result<Vec<ProcessInfo>, ContainerError> {
        let mut out = Vec::new();
        for pid in self.state.cgroup.pids()? {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some(close) = stat.rfind(')') else {
                continue;
            };
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let mut command = cmdline
                .split(|b| *b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            if command.is_empty() {
                let open = stat.find('(').unwrap_or(0);
                command = format!("[{}]", &stat[open + 1..close]);
            }
            out.push(ProcessInfo {
                pid,
                ppid: fields.get(1).and_then(|v| v.parse().ok()).unwrap_or(0),
                uid,
                state: fields.first().map(|s| s.to_string()).unwrap_or_default(),
                command,
            });
        }
        out.sort_by_key(|p| p.pid);
        Ok(out)
    }

    /// Resource usage: the cgroup's accounting and the network namespace's counters.
    pub fn stats(&self) -> Result<Stats, ContainerError> {
        let cgroup = self.state.cgroup.stats()?;
        let networks = std::fs::read_to_string(format!("/proc/{}/net/dev", self.pid()))
            .map(|t| parse_net_dev(&t))
            .unwrap_or_default();
        Ok(Stats { cgroup, networks })
    }

    /// Removes the container: kills what is left, reaps, removes its cgroup and state.
    pub fn delete(self) -> Result<(), ContainerError> {
        if !self.handle.has_exited() {
            let _ = self.state.cgroup.thaw();
            self.kill()?;
        }
        self.handle.wait();
        let _ = self.state.cgroup.kill_all();
        self.state.cgroup.remove()?;
        std::fs::remove_dir_all(&self.dir)
            .map_err(io_err(format!("removing {}", self.dir.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::defaults::docker_spec;

    fn runtime() -> Runtime {
        Runtime {
            root: "/nonexistent".into(),
            helper: "/proc/self/exe".into(),
            hierarchy: Hierarchy::V2 {
                mountpoint: "/nonexistent".into(),
                own: "/".into(),
            },
        }
    }

    fn refused(spec: &Spec) -> String {
        runtime()
            .validate(spec)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn specs_are_checked_before_anything_is_made() {
        runtime().validate(&docker_spec(&["sh"])).unwrap();
        let mut s = docker_spec(&["sh"]);
        s.set_process(None);
        assert_eq!(refused(&s), "invalid spec: process is missing");
        let mut s = docker_spec(&[]);
        s.set_hostname(None);
        assert!(refused(&s).contains("process.args is empty"));
        let mut s = docker_spec(&["sh"]);
        let linux = s.linux_mut().as_mut().unwrap();
        let ns: Vec<_> = linux
            .namespaces()
            .clone()
            .unwrap()
            .into_iter()
            .filter(|n| n.typ() != LinuxNamespaceType::Mount && n.typ() != LinuxNamespaceType::Uts)
            .collect();
        linux.set_namespaces(Some(ns));
        assert!(refused(&s).contains("needs a new mount namespace"));
        let mut s = docker_spec(&["sh"]);
        let linux = s.linux_mut().as_mut().unwrap();
        let ns: Vec<_> = linux
            .namespaces()
            .clone()
            .unwrap()
            .into_iter()
            .filter(|n| n.typ() != LinuxNamespaceType::Uts)
            .collect();
        linux.set_namespaces(Some(ns));
        s.set_hostname(Some("h".into()));
        assert_eq!(
            refused(&s),
            "invalid spec: a hostname needs a new uts namespace"
        );
        let mut s = docker_spec(&["sh"]);
        s.process_mut()
            .as_mut()
            .unwrap()
            .set_apparmor_profile(Some("docker-default".into()));
        assert!(refused(&s).contains("AppArmor"));
        let mut s = docker_spec(&["sh"]);
        let hook = oci_spec::runtime::HookBuilder::default()
            .path("/bin/true")
            .build()
            .unwrap();
        s.set_hooks(Some(
            oci_spec::runtime::HooksBuilder::default()
                .prestart(vec![hook])
                .build()
                .unwrap(),
        ));
        assert!(refused(&s).contains("hooks"));
        let mut s = docker_spec(&["sh"]);
        let mut seccomp = s.linux().as_ref().unwrap().seccomp().clone().unwrap();
        seccomp.set_listener_path(Some("/run/notify.sock".into()));
        s.linux_mut().as_mut().unwrap().set_seccomp(Some(seccomp));
        assert!(refused(&s).contains("notify"));
    }

    #[test]
    fn ids_are_checked() {
        for ok in ["a", "web-1", "p_s.1", "0abc"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", "-a", "a/b", "../x", "a b", ".hidden"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn net_dev_is_parsed() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n";
        let s = parse_net_dev(text);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[1],
            NetStats {
                interface: "eth0".into(),
                rx_bytes: 1000,
                rx_packets: 10,
                tx_bytes: 2000,
                tx_packets: 20
            }
        );
    }

    #[test]
    fn exit_statuses_read_like_docker() {
        let s = ExitStatus {
            exit: Exit::Signal(9),
            oom_killed: true,
        };
        assert_eq!(s.code(), 137);
        assert!(
            s.to_string()
                .starts_with("killed by SIGKILL (out of memory")
        );
    }
}
