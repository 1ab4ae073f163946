//! A userland proxy for published TCP ports where the kernel's DNAT cannot reach the
//! container: IPv6 connections to a container that has only an IPv4 address, and `[::1]`,
//! which Linux never routes out of the loopback device (it has no `route_localnet` for IPv6).
//! `localhost` resolves to `::1` first on most machines, and Docker answers there too.
//!
//! The listening socket is the port's reservation socket itself, so the port stays held the
//! same way. Accepting runs on a thread of its own, which owns the socket and which
//! [`TcpProxy`]'s drop stops and joins: the port is free again the moment the proxy is dropped, so a
//! container restarting at once can take it back. Each connection is copied both ways on the
//! tokio runtime the proxy was started from.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket;

/// How long a connection to the container may take before the client's is closed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes read at a time, each way.
const BUFFER: usize = 64 * 1024;

/// Forwards the connections accepted on a bound TCP socket to `target`, until dropped.
#[derive(Debug)]
pub struct TcpProxy {
    target: SocketAddr,
    stop: UnixStream,
    accepting: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// Listens on `socket` (a bound TCP socket) and forwards what it accepts to `target`,
    /// each connection on `runtime`.
    pub fn start(
        socket: OwnedFd,
        target: SocketAddr,
        runtime: tokio::runtime::Handle,
    ) -> io::Result<TcpProxy> {
        socket::listen(&socket, socket::Backlog::new(128).map_err(io::Error::from)?)?;
        let (stop, stopped) = UnixStream::pair()?;
        let accepting = std::thread::Builder::new()
            .name("port-proxy".into())
            .spawn(move || accept_loop(socket, stopped, target, runtime))?;
        Ok(TcpProxy {
            target,
            stop,
            accepting: Some(accepting),
        })
    }

    /// Where connections go.
    pub fn target(&self) -> SocketAddr {
        self.target
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        // Our end's shutdown wakes the thread (its end reads EOF), which returns and so
        // closes the socket before the join returns.
        let _ = self.stop.shutdown(std::net::Shutdown::Both);
        if let Some(t) = self.accepting.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    listener: OwnedFd,
    stopped: UnixStream,
    target: SocketAddr,
    runtime: tokio::runtime::Handle,
) {
    let listener = std::net::TcpListener::from(listener);
    loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(stopped.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                tracing::warn!(%target, "port proxy stops: {e}");
                return;
            }
        }
        if fds[1].any().unwrap_or(true) {
            return;
        }
        if !fds[0].any().unwrap_or(false) {
            continue;
        }
        match listener.accept() {
            Ok((client, peer)) => {
                runtime.spawn(forward(client, peer, target));
            }
            // A client that gave up before the accept, or a full file table: try again.
            Err(e) => tracing::debug!(%target, "port proxy accept: {e}"),
        }
    }
}

async fn forward(client: std::net::TcpStream, peer: SocketAddr, target: SocketAddr) {
    let result = async {
        client.set_nonblocking(true)?;
        let mut client = tokio::net::TcpStream::from_std(client)?;
        let connect = tokio::net::TcpStream::connect(target);
        let mut upstream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        let _ = upstream.set_nodelay(true);
        let _ = client.set_nodelay(true);
        // 64 KiB rather than 8: a quarter of the system calls per byte.
        tokio::io::copy_bidirectional_with_sizes(&mut client, &mut upstream, BUFFER, BUFFER).await
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(%peer, %target, "proxied connection ended: {e}");
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{Ipv6Addr, TcpListener, TcpStream};

    /// A runtime for the proxied connections (the supervisor's, in berth).
    pub(crate) fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    fn echo_server() -> SocketAddr {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in server.incoming() {
                let Ok(mut conn) = conn else { return };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 || conn.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn bound_v6_loopback() -> (OwnedFd, u16) {
        let l = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        // A listener is fine to hand over: listen() again only resizes its backlog.
        (OwnedFd::from(l), port)
    }

    #[test]
    fn forwards_ipv6_loopback_to_an_ipv4_target_and_frees_the_port_when_dropped() {
        let rt = runtime();
        let target = echo_server();
        let (socket, port) = bound_v6_loopback();
        let proxy = TcpProxy::start(socket, target, rt.handle().clone()).unwrap();
        assert_eq!(proxy.target(), target);
        for round in 0..3 {
            let mut c = TcpStream::connect((Ipv6Addr::LOCALHOST, port)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let msg = format!("hello {round}");
            c.write_all(msg.as_bytes()).unwrap();
            let mut got = vec![0u8; msg.len()];
            c.read_exact(&mut got).unwrap();
            assert_eq!(got, msg.as_bytes());
            // The client's half-close reaches the server, whose close comes back.
            c.shutdown(std::net::Shutdown::Write).unwrap();
            assert_eq!(c.read(&mut [0u8; 1]).unwrap(), 0);
        }
        drop(proxy);
        TcpListener::bind((Ipv6Addr::LOCALHOST, port)).expect("the port is free once dropped");
    }

    #[test]
    fn a_target_that_refuses_closes_the_client() {
        let rt = runtime();
        // A port nobody listens on: bound, then closed.
        let gone = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (socket, port) = bound_v6_loopback();
        let _proxy = TcpProxy::start(socket, gone, rt.handle().clone()).unwrap();
        let mut c = TcpStream::connect((Ipv6Addr::LOCALHOST, port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let n = c.read(&mut [0u8; 1]).unwrap_or(0);
        assert_eq!(n, 0);
    }
}
