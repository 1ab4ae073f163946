//! The life of a container once made: start, signal, stop (with a grace period), wait (exit
//! code or signal, and whether the OOM killer struck), pause, resume, delete.

use super::cgroups::Cgroup;
use super::error::{ContainerError, io_err};
use super::handle::{Exit, ProcessHandle};
use super::state::{FIFO_FILE, State, Status};
use super::stdio::{self, ProcessIo};
use oci_spec::runtime::Spec;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// A container made by [`Runtime::create`](super::Runtime::create) or found by
/// [`Runtime::load`](super::Runtime::load).
///
/// Dropping the handle leaves the container as it is (running, and unreaped until the process
/// that created it waits for it or exits): [`Container::delete`] ends it.
#[derive(Debug)]
pub struct Container {
    pub(crate) dir: PathBuf,
    pub(crate) state: State,
    pub(crate) handle: ProcessHandle,
    pub(crate) io: Option<ProcessIo>,
    pub(crate) console: Option<File>,
    pub(crate) helper: PathBuf,
    pub(crate) spec: Spec,
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
