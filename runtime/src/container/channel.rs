//! The conversation between the runtime and its helper processes, over a socketpair.
//!
//! Messages are JSON, each preceded by its length (u32, little endian). The helper finds its
//! end of the socket at [`HELPER_FD`], named by the environment variable [`FD_ENV`].

use super::exec::ExecConfig;
use super::init::InitConfig;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixStream;

/// The descriptor number of the helper's end of the socket.
pub const HELPER_FD: RawFd = 3;

/// The descriptor number at which the `__init` helper gets the exec FIFO (opened `O_PATH`).
pub const FIFO_FD: RawFd = 4;

/// The environment variable that tells the helper where its socket is.
pub const FD_ENV: &str = "_BERTH_SYNC_FD";

/// The largest message accepted (a spec is a few kilobytes; this bounds a corrupt length).
const MAX_MESSAGE: u32 = 64 << 20;

/// A message of the protocol.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum Message {
    /// Runtime to `__init`: everything needed to make the container.
    Init(Box<InitConfig>),
    /// Runtime to `__exec`: everything needed to run a process in a container.
    Exec(Box<ExecConfig>),
    /// Helper to runtime: "I made a user namespace; write my id mappings".
    MapIds,
    /// Runtime to helper: the mappings are written.
    IdsMapped,
    /// Helper to runtime: the pid (in the runtime's pid namespace) of the process it cloned.
    Pid(i32),
    /// Runtime to the cloned process: the runtime knows its pid; go on.
    Proceed,
    /// The container's init to the runtime: set up, waiting for `start`.
    Ready,
    /// Any helper to the runtime: what failed.
    Error(String),
}

/// Why talking to the other side failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The other side closed the socket (it exited).
    #[error("the other side closed the channel")]
    Closed,
    /// A read or write failed.
    #[error("channel I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A message that does not decode.
    #[error("malformed message: {0}")]
    Decode(String),
}

/// One end of the socket.
#[derive(Debug)]
pub struct Channel {
    stream: UnixStream,
}

impl Channel {
    /// Wraps a connected stream.
    pub fn new(stream: UnixStream) -> Self {
        Channel { stream }
    }

    /// The helper's end, from [`HELPER_FD`].
    ///
    /// # Safety
    /// The caller must own descriptor [`HELPER_FD`] (the helper's process was started with it).
    pub unsafe fn from_helper_fd() -> Self {
        // SAFETY: guaranteed by the caller.
        let stream = unsafe { UnixStream::from_raw_fd(HELPER_FD) };
        // Closed on exec: the container's process must not inherit it.
        let _ = nix::fcntl::fcntl(
            &stream,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
        Channel { stream }
    }

    /// Sends one message.
    pub fn send(&mut self, msg: &Message) -> Result<(), ChannelError> {
        let body = serde_json::to_vec(msg).map_err(|e| ChannelError::Decode(e.to_string()))?;
        let mut frame = Vec::with_capacity(body.len() + 4);
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame)?;
        Ok(())
    }

    /// Receives one message; [`ChannelError::Closed`] when the other side is gone.
    pub fn recv(&mut self) -> Result<Message, ChannelError> {
        let mut len = [0u8; 4];
        match self.stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(ChannelError::Closed);
            }
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => {
                return Err(ChannelError::Closed);
            }
            Err(e) => return Err(e.into()),
        }
        let len = u32::from_le_bytes(len);
        if len > MAX_MESSAGE {
            return Err(ChannelError::Decode(format!(
                "message of {len} bytes is too large"
            )));
        }
        let mut body = vec![0u8; len as usize];
        self.stream
            .read_exact(&mut body)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => ChannelError::Closed,
                _ => ChannelError::Io(e),
            })?;
        serde_json::from_slice(&body).map_err(|e| ChannelError::Decode(e.to_string()))
    }

    /// The underlying stream.
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_eof_is_closed() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (Channel::new(a), Channel::new(b));
        a.send(&Message::Pid(42)).unwrap();
        a.send(&Message::Error("boom".into())).unwrap();
        assert!(matches!(b.recv().unwrap(), Message::Pid(42)));
        assert!(matches!(b.recv().unwrap(), Message::Error(e) if e == "boom"));
        drop(a);
        assert!(matches!(b.recv(), Err(ChannelError::Closed)));
    }

    #[test]
    fn oversized_lengths_are_refused() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(&u32::MAX.to_le_bytes()).unwrap();
        let mut b = Channel::new(b);
        assert!(matches!(b.recv(), Err(ChannelError::Decode(_))));
    }
}
