//! Forwarding queries berth does not answer to upstream resolvers: the host's nameservers,
//! loopback stubs such as systemd-resolved's 127.0.0.53 included (the server runs on the host,
//! so it can reach them where containers could not).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// Why no upstream answered.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// No upstream resolver is configured.
    #[error("no upstream DNS servers are configured")]
    NoUpstreams,
    /// Every upstream failed; the last failure is given.
    #[error("no upstream DNS server answered (last: {upstream}: {source})")]
    AllFailed {
        /// The last upstream tried.
        upstream: SocketAddr,
        /// Its failure.
        source: io::Error,
    },
    /// The query is not a DNS message.
    #[error("malformed query: shorter than a DNS header")]
    Malformed,
}

/// Sends queries to upstream resolvers, in order, until one answers.
#[derive(Clone, Debug)]
pub struct Forwarder {
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
}

impl Forwarder {
    /// A forwarder to `upstreams` (tried in order), waiting `timeout` for each.
    pub fn new(upstreams: Vec<SocketAddr>, timeout: Duration) -> Forwarder {
        Forwarder { upstreams, timeout }
    }

    /// The upstreams.
    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.upstreams
    }

    /// How long each upstream is waited for.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Forwards the raw query and returns the raw response, with the client's message ID.
    /// Always over UDP first; when the answer is truncated and the client asked over TCP
    /// (`tcp`, a client retrying a truncated answer), the same upstream is asked over TCP.
    pub async fn forward(&self, query: &[u8], tcp: bool) -> Result<Vec<u8>, ForwardError> {
        if query.len() < 12 {
            return Err(ForwardError::Malformed);
        }
        let mut last = None;
        for upstream in &self.upstreams {
            match self.ask(*upstream, query, tcp).await {
                Ok(mut response) => {
                    response[..2].copy_from_slice(&query[..2]);
                    return Ok(response);
                }
                Err(e) => last = Some((*upstream, e)),
            }
        }
        match last {
            Some((upstream, source)) => Err(ForwardError::AllFailed { upstream, source }),
            None => Err(ForwardError::NoUpstreams),
        }
    }

    /// One upstream: UDP, then TCP for a truncated answer to a TCP client. The response keeps
    /// the ID of the query sent.
    async fn ask(&self, upstream: SocketAddr, query: &[u8], tcp: bool) -> io::Result<Vec<u8>> {
        // A fresh random ID per upstream query: a spoofed answer must guess it.
        let id = random_id();
        let mut outgoing = query.to_vec();
        outgoing[..2].copy_from_slice(&id.to_be_bytes());
        let mut response = self.udp(upstream, &outgoing, id).await?;
        let truncated = response[2] & 0x02 != 0;
        if truncated && tcp {
            response = self.tcp(upstream, &outgoing).await?;
        }
        if response.len() < 12 || response[..2] != id.to_be_bytes() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "mismatched or short response",
            ));
        }
        Ok(response)
    }

    async fn udp(&self, upstream: SocketAddr, query: &[u8], id: u16) -> io::Result<Vec<u8>> {
        let bind: SocketAddr = if upstream.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(bind).await?;
        socket.connect(upstream).await?;
        socket.send(query).await?;
        let mut buf = vec![0u8; 65535];
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let n = tokio::time::timeout_at(deadline, socket.recv(&mut buf))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "timed out"))??;
            // Stray datagrams (late answers to earlier queries) are skipped.
            if n >= 12 && buf[..2] == id.to_be_bytes() {
                buf.truncate(n);
                return Ok(buf);
            }
        }
    }

    async fn tcp(&self, upstream: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
        let exchange = async {
            let mut stream = TcpStream::connect(upstream).await?;
            let len = u16::try_from(query.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "query too long"))?;
            let mut framed = len.to_be_bytes().to_vec();
            framed.extend_from_slice(query);
            stream.write_all(&framed).await?;
            let len = stream.read_u16().await?;
            let mut response = vec![0u8; usize::from(len)];
            stream.read_exact(&mut response).await?;
            Ok(response)
        };
        timeout(self.timeout, exchange)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "timed out"))?
    }
}

fn random_id() -> u16 {
    // RandomState is seeded from the OS once per process and perturbed per instance.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    hasher.finish() as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn forwards_over_udp_and_tcp_and_restores_the_id() {
        // UDP and TCP on the same port, as a real resolver.
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            if let Ok(tcp) = tokio::net::TcpListener::bind(udp.local_addr().unwrap()).await {
                break (udp, tcp);
            }
        };
        let upstream = udp.local_addr().unwrap();
        // An upstream that answers with the query, QR bit set; truncated (TC) over UDP.
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = udp.recv_from(&mut buf).await {
                buf[2] |= 0x82;
                let _ = udp.send_to(&buf[..n], from).await;
            }
        });
        tokio::spawn(async move {
            while let Ok((mut s, _)) = tcp.accept().await {
                let len = s.read_u16().await.unwrap();
                let mut q = vec![0u8; usize::from(len)];
                s.read_exact(&mut q).await.unwrap();
                q[2] |= 0x80;
                s.write_u16(len).await.unwrap();
                s.write_all(&q).await.unwrap();
            }
        });
        let query = [0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1];
        // A dead upstream first: the forwarder moves on to the next.
        let dead = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let f = Forwarder::new(vec![dead, upstream], Duration::from_millis(200));
        // A UDP client gets the truncated answer (and retries over TCP itself)...
        let response = f.forward(&query, false).await.unwrap();
        assert_eq!(&response[..3], &[0xab, 0xcd, 0x83]);
        // ...a TCP client gets the full answer, over TCP from the same upstream.
        let response = f.forward(&query, true).await.unwrap();
        assert_eq!(&response[..3], &[0xab, 0xcd, 0x81]);
        let none = Forwarder::new(vec![], Duration::from_secs(1));
        assert!(matches!(
            none.forward(&query, false).await,
            Err(ForwardError::NoUpstreams)
        ));
        let err = Forwarder::new(vec![dead], Duration::from_millis(100))
            .forward(&query, false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(&dead.to_string()), "{err}");
        assert!(matches!(
            f.forward(&[1, 2], false).await,
            Err(ForwardError::Malformed)
        ));
    }
}
