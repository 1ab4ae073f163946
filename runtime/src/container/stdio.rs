//! The standard streams of a container process: a terminal (a pty whose master the caller
//! keeps, resizable), or pipes, or descriptors the caller provides, or nothing.

use nix::pty::Winsize;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};

/// How a container process's stdin, stdout and stderr are connected (when its spec does not
/// ask for a terminal).
#[derive(Debug, Default)]
pub enum Stdio {
    /// All three on /dev/null.
    #[default]
    Null,
    /// The runtime's own.
    Inherit,
    /// Pipes whose other ends the caller gets; stdin only when asked (else /dev/null).
    Piped {
        /// Whether the process gets a stdin pipe.
        stdin: bool,
    },
    /// Descriptors the caller provides (a log file, a socket...); no stdin means /dev/null.
    Fds {
        /// Stdin.
        stdin: Option<OwnedFd>,
        /// Stdout.
        stdout: OwnedFd,
        /// Stderr.
        stderr: OwnedFd,
    },
}

/// The caller's ends of a process's streams.
#[derive(Debug, Default)]
pub struct ProcessIo {
    /// Write end of stdin (with [`Stdio::Piped`] and `stdin: true`).
    pub stdin: Option<File>,
    /// Read end of stdout.
    pub stdout: Option<File>,
    /// Read end of stderr.
    pub stderr: Option<File>,
    /// The terminal's master side, when the process has a terminal: read its output, write
    /// its input, [`resize`] it.
    pub terminal: Option<File>,
}

/// The three streams for the helper, and what the caller keeps.
pub(crate) struct Prepared {
    pub stdin: std::process::Stdio,
    pub stdout: std::process::Stdio,
    pub stderr: std::process::Stdio,
    pub io: ProcessIo,
    pub piped: bool,
}

/// Prepares the streams. With `terminal`, a pty of `size` (columns, rows) is opened and its
/// slave side becomes all three streams.
pub(crate) fn prepare(
    stdio: Stdio,
    terminal: bool,
    size: Option<(u16, u16)>,
) -> std::io::Result<Prepared> {
    use std::process::Stdio as S;
    if terminal {
        let ws = size.map(|(cols, rows)| Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        });
        let pty = nix::pty::openpty(ws.as_ref(), None).map_err(std::io::Error::from)?;
        // The runtime must not keep the master across a later exec of its own.
        nix::fcntl::fcntl(
            &pty.master,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .map_err(std::io::Error::from)?;
        let slave = pty.slave;
        return Ok(Prepared {
            stdin: S::from(slave.try_clone()?),
            stdout: S::from(slave.try_clone()?),
            stderr: S::from(slave),
            io: ProcessIo {
                terminal: Some(File::from(pty.master)),
                ..ProcessIo::default()
            },
            piped: false,
        });
    }
    Ok(match stdio {
        Stdio::Null => Prepared {
            stdin: S::null(),
            stdout: S::null(),
            stderr: S::null(),
            io: ProcessIo::default(),
            piped: false,
        },
        Stdio::Inherit => Prepared {
            stdin: S::inherit(),
            stdout: S::inherit(),
            stderr: S::inherit(),
            io: ProcessIo::default(),
            piped: false,
        },
        Stdio::Piped { stdin } => Prepared {
            stdin: if stdin { S::piped() } else { S::null() },
            stdout: S::piped(),
            stderr: S::piped(),
            io: ProcessIo::default(),
            piped: true,
        },
        Stdio::Fds {
            stdin,
            stdout,
            stderr,
        } => Prepared {
            stdin: stdin.map(S::from).unwrap_or_else(S::null),
            stdout: S::from(stdout),
            stderr: S::from(stderr),
            io: ProcessIo::default(),
            piped: false,
        },
    })
}

/// Takes the pipe ends of a spawned helper (they are the container process's streams too).
pub(crate) fn take_pipes(child: &mut std::process::Child, io: &mut ProcessIo) {
    io.stdin = child.stdin.take().map(|s| File::from(OwnedFd::from(s)));
    io.stdout = child.stdout.take().map(|s| File::from(OwnedFd::from(s)));
    io.stderr = child.stderr.take().map(|s| File::from(OwnedFd::from(s)));
}

/// Sets the size of the terminal whose master side is `master`.
pub fn resize(master: &File, cols: u16, rows: u16) -> std::io::Result<()> {
    let ws = Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which is valid for the call.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws as *const Winsize) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_has_a_resizable_master() {
        let p = prepare(Stdio::Null, true, Some((80, 24))).unwrap();
        let master = p.io.terminal.unwrap();
        resize(&master, 120, 40).unwrap();
        let mut ws = Winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes a winsize to the pointer.
        let rc = unsafe {
            libc::ioctl(
                master.as_raw_fd(),
                libc::TIOCGWINSZ,
                &mut ws as *mut Winsize,
            )
        };
        assert_eq!(rc, 0);
        assert_eq!((ws.ws_col, ws.ws_row), (120, 40));
    }
}
