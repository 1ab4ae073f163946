//! Helpers for berth-network's privileged tests and its benchmark (feature `testkit`): a
//! privilege check, namespaced servers and clients, a DNS client, an upstream DNS server on
//! loopback, and an "outside host" namespace. Everything stays on loopback and in namespaces
//! the caller created.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::netns::Netns;

/// Whether a privileged test can run here. With `BERTH_REQUIRE_PRIVILEGED=1` (CI) a missing
/// privilege or tool is a panic; otherwise the test is told to return early, with the reason
/// printed.
pub fn privileged(test: &str) -> bool {
    let reason = if !nix::unistd::geteuid().is_root() {
        Some("not running as root".to_string())
    } else if Command::new("nft")
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        Some("the nft binary (package nftables) is not installed".to_string())
    } else if Command::new("ip")
        .arg("-V")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        Some("the ip binary (package iproute2) is not installed".to_string())
    } else {
        None
    };
    match reason {
        None => true,
        Some(reason) if std::env::var("BERTH_REQUIRE_PRIVILEGED").as_deref() == Ok("1") => {
            panic!("{test}: needs privileges but {reason} (BERTH_REQUIRE_PRIVILEGED=1)")
        }
        Some(reason) => {
            eprintln!("{test}: skipped: {reason}");
            false
        }
    }
}

/// Installs the egress guard (drop forwarded traffic leaving through the uplink) once per
/// process, before any namespace with a route out exists.
pub fn egress_guard() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/egress-guard");
        let status = Command::new("bash").arg(&script).status();
        assert!(
            matches!(status, Ok(s) if s.success()),
            "egress guard {} failed: {status:?}",
            script.display()
        );
    });
}

/// A name unique in this machine for this process: `<prefix><pid-hash><counter>`, at most
/// `prefix.len() + 8` characters (interface names have 15).
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:05x}{n:03x}", std::process::id() & 0xfffff)
}

/// Runs a command and returns its stdout; panics with its stderr when it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether a host interface called `name` exists.
pub fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", "dev", name])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// What a server does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Sends back what it receives.
    Echo,
    /// Reads and counts (for throughput).
    Discard,
}

/// A TCP or UDP server running on a thread inside a namespace (or the host's).
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// A TCP server on `addr` in `netns` (the host's when `None`).
    pub fn tcp(netns: Option<&Netns>, addr: SocketAddr, mode: Mode) -> io::Result<Server> {
        let listener = in_netns(netns, || TcpListener::bind(addr))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let (s, r) = (stop.clone(), received.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let r = r.clone();
                        std::thread::spawn(move || serve_tcp(stream, mode, &r));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
        });
        Ok(Server {
            addr,
            stop,
            received,
            thread: Some(thread),
        })
    }

    /// A UDP echo server on `addr` in `netns`.
    pub fn udp(netns: Option<&Netns>, addr: SocketAddr) -> io::Result<Server> {
        let socket = in_netns(netns, || UdpSocket::bind(addr))?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let addr = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let (s, r) = (stop.clone(), received.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while !s.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    r.fetch_add(n as u64, Ordering::Relaxed);
                    let _ = socket.send_to(&buf[..n], from);
                }
            }
        });
        Ok(Server {
            addr,
            stop,
            received,
            thread: Some(thread),
        })
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_tcp(mut stream: TcpStream, mode: Mode, received: &AtomicU64) {
    let _ = stream.set_nonblocking(false);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                received.fetch_add(n as u64, Ordering::Relaxed);
                if mode == Mode::Echo && stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Runs `f` in `netns`, or right here for `None`.
pub fn in_netns<R: Send>(netns: Option<&Netns>, f: impl FnOnce() -> R + Send) -> R {
    match netns {
        Some(ns) => ns.run(f).unwrap_or_else(|e| panic!("{e}")),
        None => f(),
    }
}

/// Connects from `netns` to `addr`, sends a line and expects it back.
pub fn tcp_roundtrip(netns: Option<&Netns>, addr: SocketAddr, timeout: Duration) -> io::Result<()> {
    in_netns(netns, || {
        let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.write_all(b"berth\n")?;
        let mut buf = [0u8; 6];
        stream.read_exact(&mut buf)?;
        if &buf == b"berth\n" {
            Ok(())
        } else {
            Err(io::Error::other("wrong echo"))
        }
    })
}

/// Sends a datagram from `netns` to `addr` and waits for the echo.
pub fn udp_roundtrip(netns: Option<&Netns>, addr: SocketAddr, timeout: Duration) -> io::Result<()> {
    in_netns(netns, || {
        let bind: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse()
        } else {
            "[::]:0".parse()
        }
        .map_err(io::Error::other)?;
        let socket = UdpSocket::bind(bind)?;
        socket.set_read_timeout(Some(timeout))?;
        socket.send_to(b"berth-udp", addr)?;
        let mut buf = [0u8; 64];
        let (n, _) = socket.recv_from(&mut buf)?;
        if &buf[..n] == b"berth-udp" {
            Ok(())
        } else {
            Err(io::Error::other("wrong echo"))
        }
    })
}

/// What a DNS server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsReply {
    /// The response code.
    pub rcode: ResponseCode,
    /// A/AAAA answers, in order.
    pub addresses: Vec<IpAddr>,
    /// PTR/CNAME answers.
    pub names: Vec<String>,
}

/// Encodes a recursive query for `name`.
pub fn dns_query_bytes(id: u16, name: &str, qtype: RecordType) -> io::Result<Vec<u8>> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    let name = Name::from_ascii(name).map_err(io::Error::other)?;
    message.add_query(Query::query(name, qtype));
    message.to_vec().map_err(io::Error::other)
}

/// Decodes a response.
pub fn dns_parse_reply(bytes: &[u8]) -> io::Result<(u16, DnsReply)> {
    let message = Message::from_vec(bytes).map_err(io::Error::other)?;
    let mut reply = DnsReply {
        rcode: message.metadata.response_code,
        addresses: Vec::new(),
        names: Vec::new(),
    };
    for record in &message.answers {
        match &record.data {
            RData::A(a) => reply.addresses.push(IpAddr::V4(a.0)),
            RData::AAAA(a) => reply.addresses.push(IpAddr::V6(a.0)),
            RData::PTR(p) => reply.names.push(p.0.to_ascii()),
            RData::CNAME(c) => reply.names.push(c.0.to_ascii()),
            _ => {}
        }
    }
    Ok((message.metadata.id, reply))
}

/// Asks `server` (over UDP, from `netns`) for `name`.
pub fn dns_query(
    netns: Option<&Netns>,
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
    timeout: Duration,
) -> io::Result<DnsReply> {
    in_netns(netns, || {
        let bind: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .map_err(io::Error::other)?;
        let socket = UdpSocket::bind(bind)?;
        socket.set_read_timeout(Some(timeout))?;
        socket.connect(server)?;
        dns_exchange(&socket, name, qtype)
    })
}

/// One query over an already connected UDP socket.
pub fn dns_exchange(socket: &UdpSocket, name: &str, qtype: RecordType) -> io::Result<DnsReply> {
    let id: u16 = rand_id();
    socket.send(&dns_query_bytes(id, name, qtype)?)?;
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.recv(&mut buf)?;
        let (got, reply) = dns_parse_reply(&buf[..n])?;
        if got == id {
            return Ok(reply);
        }
    }
}

/// One query over TCP (length-prefixed), from the calling thread's namespace.
pub fn dns_query_tcp(
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
    timeout: Duration,
) -> io::Result<DnsReply> {
    let mut stream = TcpStream::connect_timeout(&server, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    let query = dns_query_bytes(rand_id(), name, qtype)?;
    let len = u16::try_from(query.len()).map_err(io::Error::other)?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    stream.write_all(&framed)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut response = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut response)?;
    dns_parse_reply(&response).map(|(_, reply)| reply)
}

fn rand_id() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    (NEXT.fetch_add(7919, Ordering::Relaxed) ^ std::process::id() as usize) as u16
}

/// A small authoritative DNS server on loopback standing in for the host's resolver: it
/// answers A queries for the names it is given, NXDOMAIN for others, and counts queries.
pub struct UpstreamDns {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Queries received.
    pub queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UpstreamDns {
    /// Starts on `bind` (for example `127.0.0.1:0`).
    pub fn start(bind: SocketAddr, records: HashMap<String, Ipv4Addr>) -> io::Result<UpstreamDns> {
        let socket = UdpSocket::bind(bind)?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let addr = socket.local_addr()?;
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (q, s) = (queries.clone(), stop.clone());
        let records: HashMap<String, Ipv4Addr> = records
            .into_iter()
            .map(|(k, v)| (k.trim_end_matches('.').to_ascii_lowercase(), v))
            .collect();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                q.fetch_add(1, Ordering::Relaxed);
                let Ok(request) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut response = Message::response(request.metadata.id, OpCode::Query);
                response.metadata.recursion_desired = request.metadata.recursion_desired;
                response.metadata.recursion_available = true;
                response.add_queries(request.queries.clone());
                let found = request.queries.first().and_then(|query| {
                    let key = query
                        .name()
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase();
                    records
                        .get(&key)
                        .map(|ip| (query.name().clone(), query.query_type(), *ip))
                });
                match found {
                    Some((name, RecordType::A, ip)) => {
                        response.add_answer(Record::from_rdata(name, 60, RData::A(ip.into())));
                    }
                    Some(_) => {}
                    None => response.metadata.response_code = ResponseCode::NXDomain,
                }
                if let Ok(bytes) = response.to_vec() {
                    let _ = socket.send_to(&bytes, from);
                }
            }
        });
        Ok(UpstreamDns {
            addr,
            queries,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for UpstreamDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A namespace acting as another machine on the host's link: a veth pair between the host
/// and the namespace with a /30 from 198.18.0.0/15 (the benchmarking range, never routed).
pub struct OutsideHost {
    /// The namespace.
    pub netns: Netns,
    /// Its file.
    pub path: PathBuf,
    /// The host end's name.
    pub host_ifname: String,
    /// The host's address on the link (what the outside host connects to).
    pub host_addr: Ipv4Addr,
    /// The outside host's address.
    pub addr: Ipv4Addr,
}

impl OutsideHost {
    /// Creates it under `dir`; `slot` (0..16383) picks the /30 so that parallel tests do not
    /// collide.
    pub fn create(dir: &Path, slot: u16) -> OutsideHost {
        let name = unique("bo");
        // A directory of its own: it becomes a mount point, released again on drop.
        let path = dir.join(&name).join("net");
        let netns = Netns::create(&path).expect("creating the outside namespace");
        let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + u32::from(slot % 16384) * 4;
        let host_addr = Ipv4Addr::from(base + 1);
        let addr = Ipv4Addr::from(base + 2);
        let peer = format!("{name}p");
        run(
            "ip",
            &["link", "add", &name, "type", "veth", "peer", "name", &peer],
        );
        run(
            "ip",
            &[
                "link",
                "set",
                &peer,
                "netns",
                path.to_str().unwrap_or_default(),
            ],
        );
        run(
            "ip",
            &["addr", "add", &format!("{host_addr}/30"), "dev", &name],
        );
        run("ip", &["link", "set", &name, "up"]);
        let inside = |args: &[&str]| {
            let netns_arg = format!("--net={}", path.display());
            let mut full = vec![netns_arg.as_str(), "ip"];
            full.extend_from_slice(args);
            run("nsenter", &full)
        };
        inside(&["addr", "add", &format!("{addr}/30"), "dev", &peer]);
        inside(&["link", "set", &peer, "up"]);
        inside(&["link", "set", "lo", "up"]);
        inside(&["route", "add", "default", "via", &host_addr.to_string()]);
        OutsideHost {
            netns,
            path,
            host_ifname: name,
            host_addr,
            addr,
        }
    }
}

impl Drop for OutsideHost {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_ifname])
            .output();
        let _ = Netns::remove(&self.path);
        if let Some(dir) = self.path.parent() {
            let _ = crate::netns::release_dir(dir);
        }
    }
}
