//! Running another process in a running container (`exec`): it joins the container's
//! namespaces and cgroup and gets its own user, environment, working directory, capabilities
//! and terminal, under the container's seccomp profile.
//!
//! Like the init, it is born from a re-executed helper (`berth __exec`): the helper joins the
//! namespaces (the pid namespace only applies to children) and clones the process with
//! `CLONE_PARENT`, so that the runtime can wait for it.

use super::channel::{Channel, ChannelError, Message};
use super::error::ContainerError;
use super::handle::{Exit, ProcessHandle};
use super::init::{InitError, become_process, clone_parent};
use super::lifecycle::Container;
use super::namespaces::Namespaces;
use super::runtime::spawn_helper;
use super::seccomp::{self, CompiledFilter};
use super::state::Status;
use super::stdio::{self, ProcessIo, Stdio};
use super::syscall::{LinuxSyscall, Syscall, SyscallError};
use nix::errno::Errno;
use nix::sched::CloneFlags;
use oci_spec::runtime::Process;
use std::fs::File;
use std::path::Path;
use std::time::Duration;

/// Everything the `__exec` helper needs.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ExecConfig {
    /// The container's namespaces to join.
    pub namespaces: Namespaces,
    /// The process to run.
    pub process: Process,
    /// The container's seccomp programs.
    pub seccomp: Vec<CompiledFilter>,
}

/// Stage 1 of `__exec`: join, clone; returns the helper's exit code. The clone never returns.
pub fn helper_exec() -> i32 {
    super::init::reset_signal_dispositions();
    // SAFETY: the runtime started this process with its socket at HELPER_FD.
    let mut chan = unsafe { Channel::from_helper_fd() };
    let cfg = match chan.recv() {
        Ok(Message::Exec(cfg)) => cfg,
        _ => return 1,
    };
    let sys = LinuxSyscall;
    let joined = cfg
        .namespaces
        .open_joined()
        .map_err(InitError::from)
        .and_then(|opened| {
            Namespaces::join(&sys, &opened)?;
            // SAFETY: the helper is single-threaded.
            unsafe { clone_parent(CloneFlags::empty()) }
                .map_err(|e| SyscallError::new("clone", "exec", e).into())
        });
    match joined {
        Ok(Some(pid)) => match chan.send(&Message::Pid(pid.as_raw())) {
            Ok(()) => 0,
            Err(_) => 1,
        },
        Ok(None) => exec_child(&sys, &cfg, chan),
        Err(e) => {
            let _ = chan.send(&Message::Error(e.to_string()));
            1
        }
    }
}

/// The process itself, in the container's namespaces: becomes the process and execs. Failures
/// go back over the channel, which exec closes on success.
fn exec_child(sys: &dyn Syscall, cfg: &ExecConfig, mut chan: Channel) -> i32 {
    if !matches!(chan.recv(), Ok(Message::Proceed)) {
        std::process::exit(1);
    }
    let fail = |chan: &mut Channel, e: String| -> ! {
        let _ = chan.send(&Message::Error(e));
        std::process::exit(127)
    };
    if let Err(e) = nix::unistd::setsid() {
        fail(&mut chan, format!("setsid: {e}"));
    }
    if cfg.process.terminal().unwrap_or(false) {
        // SAFETY: TIOCSCTTY on stdin, the terminal's slave side.
        if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } != 0 {
            fail(
                &mut chan,
                SyscallError::new("ioctl(TIOCSCTTY)", "stdin", Errno::last()).to_string(),
            );
        }
    }
    let target = match become_process(sys, &cfg.process, &cfg.seccomp, Path::new("/")) {
        Ok(t) => t,
        Err(e) => fail(&mut chan, e.to_string()),
    };
    if cfg.process.no_new_privileges().unwrap_or(false)
        && let Err(e) = seccomp::install(sys, &cfg.seccomp)
    {
        fail(&mut chan, e.to_string());
    }
    let err = sys.execve(&target.exe, &target.args, &target.env);
    fail(
        &mut chan,
        format!("exec {}: {err}", target.exe.to_string_lossy()),
    )
}

/// A process started in a container by [`Container::exec`].
#[derive(Debug)]
pub struct ExecProcess {
    handle: ProcessHandle,
    io: Option<ProcessIo>,
    console: Option<File>,
}

impl ExecProcess {
    /// Its pid, in the runtime's pid namespace.
    pub fn pid(&self) -> i32 {
        self.handle.pid()
    }

    /// The caller's ends of its streams, once.
    pub fn take_io(&mut self) -> ProcessIo {
        self.io.take().unwrap_or_default()
    }

    /// Waits for it to end.
    pub fn wait(&self) -> Exit {
        self.handle.wait()
    }

    /// Waits up to `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Exit> {
        self.handle.wait_timeout(Some(timeout))
    }

    /// Sends it a signal.
    pub fn signal(&self, sig: nix::sys::signal::Signal) -> std::io::Result<()> {
        self.handle.signal(sig as i32)
    }

    /// Sets its terminal's size.
    pub fn resize(&self, cols: u16, rows: u16) -> std::io::Result<()> {
        match &self.console {
            Some(t) => stdio::resize(t, cols, rows),
            None => Err(std::io::Error::other("the process has no terminal")),
        }
    }
}

impl Container {
    /// Runs `process` in the container (which must be running): its namespaces, its cgroup,
    /// its seccomp profile; the user, environment, working directory, capabilities and terminal
    /// of `process`. Returns once the process has exec'ed.
    pub fn exec(&self, process: &Process, stdio: Stdio) -> Result<ExecProcess, ContainerError> {
        let status = self.status();
        if status != Status::Running {
            return Err(ContainerError::WrongStatus {
                id: self.id().into(),
                status,
                action: "exec",
            });
        }
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(super::process::ProcessError::NoArgs.into());
        }
        let namespaces = Namespaces::of_process(self.pid())?;
        let filters = match self
            .spec()
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
        {
            Some(s) => seccomp::compile(s)?,
            None => Vec::new(),
        };
        super::capabilities::CapabilityPlan::from_spec(
            process.capabilities().as_ref(),
            &super::capabilities::available(),
        )?;
        let terminal = process.terminal().unwrap_or(false);
        let size = process
            .console_size()
            .map(|b| (b.width() as u16, b.height() as u16))
            .filter(|(w, h)| *w > 0 && *h > 0);
        let streams =
            stdio::prepare(stdio, terminal, size).map_err(|source| ContainerError::Io {
                what: "exec streams".into(),
                source,
            })?;
        let (mut helper, mut chan, io) = spawn_helper(self.helper(), "__exec", streams, None)?;
        let id = self.id().to_string();
        let chan_err = |source| ContainerError::Channel {
            id: id.clone(),
            source,
        };
        let result = (|| -> Result<ProcessHandle, ContainerError> {
            self.cgroup().add_process(helper.id() as i32)?;
            chan.send(&Message::Exec(Box::new(ExecConfig {
                namespaces,
                process: process.clone(),
                seccomp: filters,
            })))
            .map_err(chan_err)?;
            let pid = match chan.recv() {
                Ok(Message::Pid(p)) => p,
                Ok(Message::Error(message)) => {
                    return Err(ContainerError::Init {
                        id: id.clone(),
                        message,
                    });
                }
                Ok(other) => {
                    return Err(ContainerError::Init {
                        id: id.clone(),
                        message: format!("unexpected {other:?}"),
                    });
                }
                Err(source) => return Err(chan_err(source)),
            };
            let handle = ProcessHandle::open(pid).map_err(|source| ContainerError::Io {
                what: "pidfd_open".into(),
                source,
            })?;
            chan.send(&Message::Proceed).map_err(chan_err)?;
            match chan.recv() {
                // The socket closes on exec: the process runs.
                Err(ChannelError::Closed) => Ok(handle),
                Ok(Message::Error(message)) => {
                    handle.wait();
                    Err(ContainerError::Init {
                        id: id.clone(),
                        message,
                    })
                }
                Ok(other) => Err(ContainerError::Init {
                    id: id.clone(),
                    message: format!("unexpected {other:?}"),
                }),
                Err(source) => Err(chan_err(source)),
            }
        })();
        let _ = helper.wait();
        let handle = result?;
        let console = io.terminal.as_ref().and_then(|t| t.try_clone().ok());
        Ok(ExecProcess {
            handle,
            io: Some(io),
            console,
        })
    }
}
