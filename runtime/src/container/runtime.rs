//! The runtime: where containers' state lives, which program is the helper, and how a
//! container is made from a spec (validation, cgroup, the `__init` conversation) or found again.

use super::capabilities::{self, CapabilityPlan};
use super::cgroups::{Cgroup, Hierarchy};
use super::channel::{Channel, ChannelError, FD_ENV, FIFO_FD, HELPER_FD, Message};
use super::error::{ContainerError, io_err};
use super::handle::ProcessHandle;
use super::init::InitConfig;
use super::lifecycle::Container;
use super::namespaces::Namespaces;
use super::process::{self, ProcessError};
use super::seccomp::{self, CompiledFilter};
use super::state::{self, CONFIG_FILE, FIFO_FILE, State, Status};
use super::stdio::{self, ProcessIo, Stdio};
use super::sysctl;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

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
            if let Some(e) = e
                && libc::dup2(e, FIFO_FD) < 0
            {
                return Err(std::io::Error::last_os_error());
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
}
