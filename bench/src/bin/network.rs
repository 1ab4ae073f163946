//! berth's networking data path, measured in one run: DNS query latency from a container
//! namespace (a service name berth answers, a name it forwards to an upstream on loopback), and
//! TCP throughput to a container directly and through a published port (from 127.0.0.1 and
//! from another namespace acting as an outside host). Figures only, no asserts.
//!
//! Needs root (namespaces, bridges, nftables). All traffic stays on loopback and in the
//! namespaces it creates; everything is removed at the end.
//!
//! Run: `cargo run --release -p berth-bench --bin network`

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use berth_bench::Samples;
use berth_network::dns::{DnsConfig, DnsServer, Endpoint};
use berth_network::firewall::{PortMapping, Protocol};
use berth_network::ipam::{AddressPool, NetworkRequest};
use berth_network::netns::Netns;
use berth_network::ports;
use berth_network::testkit::{self, Mode, OutsideHost, Server, UpstreamDns};
use berth_network::{EndpointRequest, Networks, Options};
use hickory_proto::rr::RecordType;

const NETWORK: &str = "bench_default";
const FORWARDED: &str = "forwarded.bench.test";
const QUERIES: usize = 5000;
const SEND_FOR: Duration = Duration::from_secs(3);

fn main() {
    if !testkit::privileged("bench network") {
        std::process::exit(1);
    }
    testkit::egress_guard();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut options = Options::new(dir.path().join("state"), dir.path().join("run"));
    options.pools_v4 = vec![AddressPool {
        base: "10.248.0.0/16".parse().expect("pool"),
        size: 24,
    }];
    options.firewall_table = testkit::unique("berth_b");
    let networks = Networks::open(options).expect("network state");
    let upstream = UpstreamDns::start(
        "127.0.0.1:0".parse().expect("addr"),
        HashMap::from([(FORWARDED.to_string(), Ipv4Addr::new(192, 0, 2, 1))]),
    )
    .expect("upstream DNS");
    let dns = DnsServer::new(DnsConfig {
        upstreams: vec![upstream.addr],
        ..Default::default()
    });
    let outside = OutsideHost::create(dir.path(), 303);

    let result = runtime.block_on(bench(&networks, &dns, &outside));

    runtime.block_on(async {
        dns.stop_all().await;
        for c in ["bench-web-1", "bench-client-1"] {
            let _ = networks.disconnect(NETWORK, c, true).await;
            let _ = networks.remove_netns(c);
        }
        if let Err(e) = networks.remove(NETWORK).await {
            eprintln!("teardown: {e}");
        }
        let _ = networks.firewall().delete_table();
        let _ = networks.release_run_dir();
    });
    drop(outside);
    if let Err(e) = result {
        eprintln!("bench network failed: {e}");
        std::process::exit(1);
    }
}

async fn container(
    networks: &Networks,
    dns: &DnsServer,
    name: &str,
    service: &str,
) -> Result<(Netns, Ipv4Addr), String> {
    let netns = networks
        .create_netns(name)
        .await
        .map_err(|e| e.to_string())?;
    let request = EndpointRequest {
        container: name.into(),
        ifname: "eth0".into(),
        default_route: true,
        ..Default::default()
    };
    let info = networks
        .connect(&netns, NETWORK, &request)
        .await
        .map_err(|e| e.to_string())?;
    let ip = info
        .addresses
        .iter()
        .find_map(|(a, _)| match a {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })
        .ok_or("no IPv4 address")?;
    dns.add_endpoint(
        NETWORK,
        Endpoint {
            container: name.into(),
            names: vec![service.into()],
            ipv4: Some(ip),
            ..Default::default()
        },
    );
    Ok((netns, ip))
}

async fn bench(networks: &Networks, dns: &DnsServer, outside: &OutsideHost) -> Result<(), String> {
    let request = NetworkRequest {
        name: NETWORK.into(),
        ..Default::default()
    };
    let record = networks
        .create(&request, None)
        .await
        .map_err(|e| e.to_string())?;
    let gateway = record.subnets[0].gateway;
    dns.start_network(NETWORK, &[gateway], true)
        .await
        .map_err(|e| e.to_string())?;
    let (web, web_ip) = container(networks, dns, "bench-web-1", "web").await?;
    let (client, _) = container(networks, dns, "bench-client-1", "client").await?;

    // DNS latency, from inside the client container, one query at a time.
    let server = SocketAddr::new(gateway, 53);
    for (label, name) in [("service name", "web"), ("forwarded name", FORWARDED)] {
        let samples = tokio::task::block_in_place(|| {
            client.run(|| {
                let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
                socket
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .map_err(|e| e.to_string())?;
                socket.connect(server).map_err(|e| e.to_string())?;
                let mut failures = 0usize;
                let samples = Samples::measure(200, QUERIES, || {
                    match testkit::dns_exchange(&socket, name, RecordType::A) {
                        Ok(reply) if !reply.addresses.is_empty() => {}
                        _ => failures += 1,
                    }
                });
                Ok::<_, String>((samples, failures))
            })
        })
        .map_err(|e| e.to_string())??;
        let (samples, failures) = samples;
        println!(
            "dns {label:<15} p50 {:.3} ms, p99 {:.3} ms, min {:.3} ms over {QUERIES} queries ({failures} failed)",
            ms(samples.percentile(50.0)),
            ms(samples.percentile(99.0)),
            ms(samples.percentile(0.0)),
        );
    }

    // TCP throughput to a discarding server in the web container.
    let sink = Server::tcp(
        Some(&web),
        SocketAddr::new(web_ip.into(), 5001),
        Mode::Discard,
    )
    .map_err(|e| e.to_string())?;
    let published = ports::reserve_random(Protocol::Tcp, None).map_err(|e| e.to_string())?;
    let mapping = PortMapping {
        protocol: Protocol::Tcp,
        host_ip: None,
        host_port: published.port,
        container_ip: web_ip.into(),
        container_port: 5001,
    };
    networks
        .firewall()
        .publish(&[mapping])
        .map_err(|e| e.to_string())?;
    let loopback = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), published.port);
    let outside_target = SocketAddr::new(outside.host_addr.into(), published.port);
    let cases: [(&str, Option<&Netns>, SocketAddr); 4] = [
        ("host -> container (direct)", None, sink.addr),
        (
            "container -> container (same bridge)",
            Some(&client),
            sink.addr,
        ),
        ("host 127.0.0.1 -> published port", None, loopback),
        (
            "outside host -> published port",
            Some(&outside.netns),
            outside_target,
        ),
    ];
    for (label, netns, target) in cases {
        let (bytes, elapsed) = tokio::task::block_in_place(|| {
            testkit::in_netns(netns, || send_for(target, SEND_FOR))
        })?;
        let rate = bytes as f64 / elapsed.as_secs_f64();
        println!(
            "tcp {label:<38} {:>8.1} MiB/s ({:.2} Gbit/s, {} MiB in {:.2} s)",
            rate / 1048576.0,
            rate * 8.0 / 1e9,
            bytes >> 20,
            elapsed.as_secs_f64()
        );
    }
    networks.firewall().unpublish(&[mapping]);
    drop(sink);
    Ok(())
}

/// Streams to `target` for `duration`, then waits until the server has read everything.
fn send_for(target: SocketAddr, duration: Duration) -> Result<(u64, Duration), String> {
    let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(3))
        .map_err(|e| format!("{target}: {e}"))?;
    let chunk = vec![0x5au8; 128 * 1024];
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < duration {
        stream.write_all(&chunk).map_err(|e| e.to_string())?;
        sent += chunk.len() as u64;
    }
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    // The server closes once it has read to the end.
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    Ok((sent, start.elapsed()))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
