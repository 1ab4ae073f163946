//! A process of the runtime's, held by a pidfd: signals that cannot hit a recycled pid, waits
//! with timeouts, and the exit status, reaped once and remembered.

use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal (number) killed it.
    Signal(i32),
    /// It ended, but it was not the runtime's child, so its status is unknown.
    Unknown,
}

impl Exit {
    /// The status as Docker reports it: the code, or 128 + the signal.
    pub fn code(&self) -> i32 {
        match self {
            Exit::Code(c) => *c,
            Exit::Signal(s) => 128 + s,
            Exit::Unknown => -1,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with code {c}"),
            Exit::Signal(s) => match nix::sys::signal::Signal::try_from(*s) {
                Ok(sig) => write!(f, "killed by {sig}"),
                Err(_) => write!(f, "killed by signal {s}"),
            },
            Exit::Unknown => write!(f, "ended (status unknown: not a child of this process)"),
        }
    }
}

/// A process held by a pidfd.
#[derive(Debug)]
pub struct ProcessHandle {
    pid: i32,
    pidfd: OwnedFd,
    exit: Mutex<Option<Exit>>,
}

impl ProcessHandle {
    /// Holds process `pid`.
    pub fn open(pid: i32) -> std::io::Result<Self> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor owned by nothing else.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(ProcessHandle {
            pid,
            pidfd,
            exit: Mutex::new(None),
        })
    }

    /// The pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The pidfd (readable once the process has ended).
    pub fn pidfd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// Sends `sig` (0 probes). Sending to a process that has exited is not an error.
    pub fn signal(&self, sig: i32) -> std::io::Result<()> {
        // SAFETY: pidfd_send_signal with no siginfo.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                sig,
                0usize,
                0u32,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) {
            Ok(())
        } else {
            Err(e)
        }
    }

    /// Whether the process has ended (without reaping it).
    pub fn has_exited(&self) -> bool {
        self.exit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
            || self.readable(Some(Duration::ZERO))
    }

    fn readable(&self, timeout: Option<Duration>) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let wait = match deadline {
                None => PollTimeout::NONE,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
                        .unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, wait) {
                Ok(0) => {
                    if deadline.is_none_or(|d| Instant::now() >= d) {
                        return false;
                    }
                }
                Ok(_) => return true,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return true,
            }
        }
    }

    /// Waits up to `timeout` (forever with `None`) for the process to end, reaps it if it is
    /// the runtime's child, and returns how it ended; `None` on timeout.
    pub fn wait_timeout(&self, timeout: Option<Duration>) -> Option<Exit> {
        if let Some(e) = *self.exit.lock().unwrap_or_else(|p| p.into_inner()) {
            return Some(e);
        }
        if !self.readable(timeout) {
            return None;
        }
        let mut guard = self.exit.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = *guard {
            return Some(e);
        }
        let exit = loop {
            match nix::sys::wait::waitpid(Pid::from_raw(self.pid), None) {
                Ok(WaitStatus::Exited(_, c)) => break Exit::Code(c),
                Ok(WaitStatus::Signaled(_, s, _)) => break Exit::Signal(s as i32),
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break Exit::Unknown,
            }
        };
        *guard = Some(exit);
        Some(exit)
    }

    /// Waits for the process to end.
    pub fn wait(&self) -> Exit {
        loop {
            if let Some(e) = self.wait_timeout(None) {
                return e;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_signals_are_reported() {
        // The handle reaps the children (waitpid), so std's Child is only used to spawn.
        #[allow(clippy::zombie_processes)]
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg("exit 3")
            .spawn()
            .unwrap();
        let h = ProcessHandle::open(child.id() as i32).unwrap();
        assert_eq!(h.wait(), Exit::Code(3));
        assert_eq!(h.wait(), Exit::Code(3), "remembered");

        #[allow(clippy::zombie_processes)]
        let child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let h = ProcessHandle::open(child.id() as i32).unwrap();
        assert_eq!(h.wait_timeout(Some(Duration::from_millis(20))), None);
        assert!(!h.has_exited());
        h.signal(libc::SIGTERM).unwrap();
        assert_eq!(h.wait(), Exit::Signal(libc::SIGTERM));
        assert_eq!(h.wait().code(), 143);
        assert_eq!(Exit::Signal(9).to_string(), "killed by SIGKILL");
        // Signalling an ended process is fine.
        h.signal(libc::SIGTERM).unwrap();
    }
}
