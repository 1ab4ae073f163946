//! The socket side of berth's DNS: one hickory-server instance per network, listening on the
//! network's gateway addresses (UDP and TCP), answering from the shared [`NameTable`] and
//! forwarding the rest. Records can be added and removed at any time; the next query sees them.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hickory_proto::op::{Edns, Header, Message, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::forward::Forwarder;
use super::reverse::parse_reverse;
use super::table::{Answer, Endpoint, Family, NameTable};

/// The name table shared between the server and whoever updates it.
pub type SharedNames = Arc<RwLock<NameTable>>;

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// Resolvers for names berth does not know (usually the host's resolv.conf nameservers).
    pub upstreams: Vec<SocketAddr>,
    /// How long to wait for each upstream.
    pub upstream_timeout: Duration,
    /// TTL of berth's answers. 0 by default: containers come and go, and a cached address of
    /// a stopped container is worse than one more query to a local server.
    pub ttl: u32,
    /// The port to listen on (53; tests may pick another).
    pub port: u16,
}

impl Default for DnsConfig {
    fn default() -> DnsConfig {
        DnsConfig {
            upstreams: Vec::new(),
            upstream_timeout: Duration::from_secs(2),
            ttl: 0,
            port: 53,
        }
    }
}

/// Why a network's DNS server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// A socket could not be bound.
    #[error("DNS server for network {network}: cannot listen on {addr}: {source}")]
    Bind {
        /// The network.
        network: String,
        /// The address.
        addr: SocketAddr,
        /// The cause (address in use: another DNS server listens on all addresses).
        source: io::Error,
    },
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    addresses: Vec<SocketAddr>,
}

/// berth's DNS server: the name table plus one listener set per network.
pub struct DnsServer {
    names: SharedNames,
    config: DnsConfig,
    forwarder: Arc<Forwarder>,
    running: Mutex<HashMap<String, Running>>,
}

impl DnsServer {
    /// A server with an empty name table; nothing listens until [`DnsServer::start_network`].
    pub fn new(config: DnsConfig) -> DnsServer {
        let forwarder = Arc::new(Forwarder::new(
            config.upstreams.clone(),
            config.upstream_timeout,
        ));
        DnsServer {
            names: SharedNames::default(),
            config,
            forwarder,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// The name table (to add and remove records at runtime).
    pub fn names(&self) -> SharedNames {
        self.names.clone()
    }

    /// Adds (or replaces) a container's records on a network.
    pub fn add_endpoint(&self, network: &str, endpoint: Endpoint) {
        write(&self.names).add(network, endpoint);
    }

    /// Removes a container's records from a network.
    pub fn remove_endpoint(&self, network: &str, container: &str) -> bool {
        write(&self.names).remove(network, container)
    }

    /// Removes a container's records from every network.
    pub fn remove_container(&self, container: &str) {
        write(&self.names).remove_container(container);
    }

    /// Starts answering on `addresses` (the network's gateways) for `network`. With `forward`
    /// unset (internal networks) unknown names get NXDOMAIN instead of being forwarded.
    /// Starting a network that is already served restarts it on the new addresses.
    pub async fn start_network(
        &self,
        network: &str,
        addresses: &[IpAddr],
        forward: bool,
    ) -> Result<Vec<SocketAddr>, DnsError> {
        self.stop_network(network).await;
        let handler = Handler {
            network: network.to_string(),
            names: self.names.clone(),
            forwarder: forward.then(|| self.forwarder.clone()),
            ttl: self.config.ttl,
        };
        let mut server = hickory_server::Server::new(handler);
        let mut bound = Vec::new();
        for ip in addresses {
            let (udp, tcp) = bind_pair(network, SocketAddr::new(*ip, self.config.port)).await?;
            bound.push(
                udp.local_addr()
                    .unwrap_or_else(|_| SocketAddr::new(*ip, self.config.port)),
            );
            server.register_socket(udp);
            server.register_listener(tcp, Duration::from_secs(5), 64 * 1024);
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let name = network.to_string();
        let task = tokio::spawn(async move {
            tokio::select! {
                result = server.block_until_done() => {
                    if let Err(e) = result {
                        tracing::warn!(network = %name, error = %e, "DNS server stopped");
                    }
                }
                _ = stopped => {}
            }
            let _ = server.shutdown_gracefully().await;
        });
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.insert(
            network.to_string(),
            Running {
                stop,
                task,
                addresses: bound.clone(),
            },
        );
        Ok(bound)
    }

    /// Where the network is served, if it is.
    pub fn addresses(&self, network: &str) -> Option<Vec<SocketAddr>> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(network)
            .map(|r| r.addresses.clone())
    }

    /// Stops serving the network (its sockets are closed when this returns). Its records stay
    /// until removed. Returns whether it was served.
    pub async fn stop_network(&self, network: &str) -> bool {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(network);
        let Some(running) = running else { return false };
        let _ = running.stop.send(());
        let _ = running.task.await;
        true
    }

    /// Stops every network.
    pub async fn stop_all(&self) {
        let networks: Vec<String> = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        for network in networks {
            self.stop_network(&network).await;
        }
    }
}

/// A UDP socket and a TCP listener on the same address and port. With port 0 (tests) the
/// kernel picks the UDP port, and the TCP port may happen to be taken: then try another.
async fn bind_pair(
    network: &str,
    addr: SocketAddr,
) -> Result<(tokio::net::UdpSocket, tokio::net::TcpListener), DnsError> {
    let error = |addr, source| DnsError::Bind {
        network: network.to_string(),
        addr,
        source,
    };
    let mut attempts = 0;
    loop {
        let udp = tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(|e| error(addr, e))?;
        let actual = udp.local_addr().unwrap_or(addr);
        match tokio::net::TcpListener::bind(actual).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse && attempts < 16 => {
                attempts += 1
            }
            Err(e) => return Err(error(actual, e)),
        }
    }
}

fn write(names: &SharedNames) -> std::sync::RwLockWriteGuard<'_, NameTable> {
    // A panic while holding the lock cannot leave the table half-updated (every update is a
    // single map operation), so a poisoned lock is still usable.
    names.write().unwrap_or_else(|p| p.into_inner())
}

struct Handler {
    network: String,
    names: SharedNames,
    forwarder: Option<Arc<Forwarder>>,
    ttl: u32,
}

/// What to send back.
enum Reply {
    Records(Vec<Record>),
    Code(ResponseCode),
    Forwarded(Message),
}

impl Handler {
    async fn decide(&self, request: &Request) -> Reply {
        if request.metadata.op_code != OpCode::Query {
            return Reply::Code(ResponseCode::NotImp);
        }
        let Ok(info) = request.request_info() else {
            return Reply::Code(ResponseCode::FormErr);
        };
        let query = info.query.original();
        let source = request.src().ip();
        let text = query.name().to_ascii();
        let (table_answer, own_upstreams) = {
            let names = self.names.read().unwrap_or_else(|p| p.into_inner());
            let own_upstreams = names
                .asker(&self.network, source)
                .map(|e| e.upstreams.clone())
                .unwrap_or_default();
            let answer = match query.query_type() {
                _ if query.query_class() != DNSClass::IN => Answer::NotOurs,
                RecordType::A => names.resolve(&self.network, source, &text, Family::V4),
                RecordType::AAAA => names.resolve(&self.network, source, &text, Family::V6),
                RecordType::PTR => match parse_reverse(&text) {
                    Some(addr) => names.reverse(&self.network, source, addr),
                    None => Answer::NotOurs,
                },
                // Other types for a berth name: it exists, but has no such records.
                _ => match names.resolve(&self.network, source, &text, Family::V4) {
                    Answer::Addresses(_) | Answer::NoData => Answer::NoData,
                    other => other,
                },
            };
            (answer, own_upstreams)
        };
        let owner = query.name().clone();
        match table_answer {
            Answer::Refused => Reply::Code(ResponseCode::Refused),
            Answer::NoData => Reply::Records(Vec::new()),
            Answer::Addresses(addresses) => Reply::Records(
                addresses
                    .into_iter()
                    .map(|ip| match ip {
                        IpAddr::V4(a) => {
                            Record::from_rdata(owner.clone(), self.ttl, RData::A(A(a)))
                        }
                        IpAddr::V6(a) => {
                            Record::from_rdata(owner.clone(), self.ttl, RData::AAAA(AAAA(a)))
                        }
                    })
                    .collect(),
            ),
            Answer::Name(target) => match Name::from_ascii(format!("{target}.")) {
                Ok(target) => Reply::Records(vec![Record::from_rdata(
                    owner,
                    self.ttl,
                    RData::PTR(PTR(target)),
                )]),
                Err(_) => Reply::Code(ResponseCode::ServFail),
            },
            Answer::NotOurs => match &self.forwarder {
                None => Reply::Code(ResponseCode::NXDomain),
                Some(forwarder) => {
                    // The container's own `dns:` servers take the place of the server's.
                    let own;
                    let forwarder = if own_upstreams.is_empty() {
                        forwarder.as_ref()
                    } else {
                        own = Forwarder::new(own_upstreams, forwarder.timeout());
                        &own
                    };
                    self.forward(forwarder, request, &text).await
                }
            },
        }
    }

    async fn forward(&self, forwarder: &Forwarder, request: &Request, text: &str) -> Reply {
        match forwarder
            .forward(request.as_slice(), request.protocol() == Protocol::Tcp)
            .await
        {
            Ok(bytes) => match Message::from_vec(&bytes) {
                Ok(message) => Reply::Forwarded(message),
                Err(_) => Reply::Code(ResponseCode::ServFail),
            },
            Err(e) => {
                tracing::debug!(network = %self.network, name = %text, error = %e, "forwarding failed");
                Reply::Code(ResponseCode::ServFail)
            }
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let reply = self.decide(request).await;
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = true;
        let edns = request.edns.as_ref().map(|_| {
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            edns
        });
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let result = match &reply {
            Reply::Records(records) => {
                metadata.authoritative = true;
                let response =
                    builder.build(metadata, records.iter(), [].iter(), [].iter(), [].iter());
                response_handle.send_response(response).await
            }
            Reply::Code(code) => {
                metadata.response_code = *code;
                let response = builder.build_no_records(metadata);
                response_handle.send_response(response).await
            }
            Reply::Forwarded(message) => {
                metadata.response_code = message.metadata.response_code;
                metadata.truncation = message.metadata.truncation;
                metadata.authentic_data = message.metadata.authentic_data;
                let response = builder.build(
                    metadata,
                    message.answers.iter(),
                    message.authorities.iter(),
                    [].iter(),
                    message.additionals.iter(),
                );
                response_handle.send_response(response).await
            }
        };
        result.unwrap_or_else(|e| {
            tracing::debug!(network = %self.network, error = %e, "sending a DNS response failed");
            let mut failed = Metadata::response_from_request(&request.metadata);
            failed.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header {
                metadata: failed,
                counts: Default::default(),
            })
        })
    }
}
