//! berth's networking data path, measured in one run: DNS query latency from a container
//! namespace (a service name berth answers, a name it forwards to an upstream on loopback), and
//! TCP throughput to a container directly and through a published port, from the host
//! (127.0.0.1, and [::1] through the userland proxy the supervisor runs for what the kernel
//! cannot forward) and from another namespace acting as an outside host. Figures only, no
//! asserts.
//!
//! Throughput: every case streams once per round for BERTH_BENCH_SECS (1) second, for
//! BERTH_BENCH_ROUNDS (20) rounds, the order of the cases reversed every other round, so load
//! from anything else on the machine falls on all cases alike; the sending and receiving ends
//! run on CPUs 0 and 1 (BERTH_BENCH_PIN=0: wherever the scheduler puts them). Each case
//! reports its median, min, max and spread, the CPU time this process (both ends of the
//! stream) spent per GiB, and the share of the machine other processes used meanwhile.
//! Published is set against direct from the same side: "127.0.0.1 -> published" against
//! "host -> container", "outside -> published" against "outside -> container". On a 2-CPU VM
//! single 1-2 s streams of one case differ by 20-50% even on a quiet machine, so only medians
//! over many interleaved rounds say anything; the CPU per GiB says what a path costs.
//!
//! Needs root (namespaces, bridges, nftables). All traffic stays on loopback and in the
//! namespaces it creates; everything is removed at the end.
//!
//! Run: `cargo run --release -p berth-bench --bin network`
//! (`BERTH_BENCH_ONLY=<text>` streams only the cases whose label contains it, to profile one).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use berth_bench::Samples;
use berth_bench::interleaved::{self, Round, median};
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
const HOST_DIRECT: &str = "host -> container (direct)";
const PUBLISHED_LOOPBACK: &str = "host 127.0.0.1 -> published port";
const PUBLISHED_PROXIED: &str = "host [::1] -> published port (proxy)";
const OUTSIDE_DIRECT: &str = "outside -> container (direct)";
const PUBLISHED_OUTSIDE: &str = "outside -> published port";

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

    // TCP throughput to a discarding server in the web container. Its threads are spawned
    // while this one is pinned to the receiving CPU, and inherit that.
    let pin = pinning();
    if let Some((_, receiver)) = pin {
        interleaved::pin_current_thread(&[receiver])?;
    }
    let sink = Server::tcp(
        Some(&web),
        SocketAddr::new(web_ip.into(), 5001),
        Mode::Discard,
    )
    .map_err(|e| e.to_string());
    interleaved::pin_current_thread(&[])?;
    let sink = sink?;
    let mut published = ports::reserve_random(Protocol::Tcp, None).map_err(|e| e.to_string())?;
    // What the supervisor does for the IPv6 half: the kernel does not forward [::1].
    published
        .proxy_ipv6(sink.addr, tokio::runtime::Handle::current())
        .map_err(|e| e.to_string())?;
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
    // berth drops new connections from outside to a container's own address (only published
    // ports are reachable); the "outside host -> container" baseline needs them let in. The
    // rule matches only connection setup, so the packets measured pass the same rules as the
    // published flow's.
    allow_outside_direct(networks.firewall().table(), outside.addr, web_ip)?;
    let loopback = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), published.port);
    let loopback6 = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), published.port);
    let outside_target = SocketAddr::new(outside.host_addr.into(), published.port);
    let cases = [
        Case::new(HOST_DIRECT, None, sink.addr),
        Case::new(PUBLISHED_LOOPBACK, None, loopback),
        Case::new(PUBLISHED_PROXIED, None, loopback6),
        Case::new(OUTSIDE_DIRECT, Some(&outside.netns), sink.addr),
        Case::new(PUBLISHED_OUTSIDE, Some(&outside.netns), outside_target),
        Case::new(
            "container -> container (same bridge)",
            Some(&client),
            sink.addr,
        ),
    ];
    // For profiling one path with perf.
    let only = std::env::var("BERTH_BENCH_ONLY").unwrap_or_default();
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| c.label.contains(only.as_str()))
        .collect();
    let result = tokio::task::block_in_place(|| throughput(&cases, pin.map(|(s, _)| s)));
    networks.firewall().unpublish(&[mapping]);
    drop(sink);
    let rounds = result?;
    report(&cases, &rounds);
    Ok(())
}

/// One way of reaching the sink.
struct Case<'a> {
    label: &'static str,
    netns: Option<&'a Netns>,
    target: SocketAddr,
}

impl<'a> Case<'a> {
    fn new(label: &'static str, netns: Option<&'a Netns>, target: SocketAddr) -> Case<'a> {
        Case {
            label,
            netns,
            target,
        }
    }
}

fn allow_outside_direct(table: &str, from: Ipv4Addr, to: Ipv4Addr) -> Result<(), String> {
    let rule = format!(
        "insert rule inet {table} forward ip saddr {from} ip daddr {to} tcp dport 5001 ct state new accept"
    );
    let out = std::process::Command::new("nft")
        .arg(&rule)
        .output()
        .map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft {rule}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The CPUs of the sending and the receiving end: 0 and 1 unless BERTH_BENCH_PIN=0 or the
/// machine has a single CPU.
fn pinning() -> Option<(usize, usize)> {
    let wanted = std::env::var("BERTH_BENCH_PIN").as_deref() != Ok("0");
    (wanted && interleaved::online_cpus() >= 2).then_some((0, 1))
}

/// Warms every case up, then streams them in interleaved rounds; the sending end runs on
/// `sender_cpu` when given.
fn throughput(cases: &[Case], sender_cpu: Option<usize>) -> Result<Vec<Vec<Round>>, String> {
    let rounds = env_number("BERTH_BENCH_ROUNDS", 20);
    let secs = env_number("BERTH_BENCH_SECS", 1) as u64;
    println!(
        "tcp: {} cases interleaved, {rounds} rounds of {secs} s each (BERTH_BENCH_ROUNDS, BERTH_BENCH_SECS); {}",
        cases.len(),
        match sender_cpu {
            Some(cpu) => format!(
                "sender on CPU {cpu}, receiver on CPU {} (BERTH_BENCH_PIN=0: unpinned)",
                cpu + 1
            ),
            None => "unpinned".to_string(),
        }
    );
    let stream = |case: &Case, duration: Duration| {
        testkit::in_netns(case.netns, || {
            if let Some(cpu) = sender_cpu {
                interleaved::pin_current_thread(&[cpu])?;
            }
            send_for(case.target, duration)
        })
    };
    for case in cases {
        stream(case, Duration::from_millis(300))?;
    }
    interleaved::run(cases.len(), rounds, |i| {
        stream(&cases[i], Duration::from_secs(secs))
    })
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// Rounds in which the rest of the machine used less than this share of its CPU.
const QUIET: f64 = 0.10;

fn report(cases: &[Case], rounds: &[Vec<Round>]) {
    let mib = |r: f64| r / 1048576.0;
    let cpu = |v: &[Round]| median(v.iter().map(|r| ms(r.cpu_per_gib)).collect());
    let rate = |v: &[Round]| median(v.iter().map(|r| r.rate).collect());
    for (case, rounds) in cases.iter().zip(rounds) {
        let rates: Vec<f64> = rounds.iter().map(|r| r.rate).collect();
        let (lo, hi) = interleaved::range(&rates);
        let mid = median(rates);
        println!(
            "tcp {:<38} median {:>7.1} MiB/s ({:.2} Gbit/s), min {:>7.1}, max {:>7.1} (spread {:>4.1}%), cpu {:>5.0} ms/GiB, other load {:>3.0}%",
            case.label,
            mib(mid),
            mid * 8.0 / 1e9,
            mib(lo),
            mib(hi),
            (hi - lo) / mid * 100.0,
            cpu(rounds),
            median(rounds.iter().map(|r| r.foreign_load * 100.0).collect()),
        );
    }
    // Published against direct, from the same side: the ratio of the medians; the median of
    // the per-round ratios (each pair streamed back to back, so it suffers less from drift);
    // the same over the rounds where the rest of the machine was quiet; CPU per GiB.
    let index = |label: &str| cases.iter().position(|c| c.label == label);
    for (published, direct) in [
        (PUBLISHED_LOOPBACK, HOST_DIRECT),
        (PUBLISHED_PROXIED, HOST_DIRECT),
        (PUBLISHED_OUTSIDE, OUTSIDE_DIRECT),
        (PUBLISHED_OUTSIDE, HOST_DIRECT),
    ] {
        let (Some(p), Some(d)) = (index(published), index(direct)) else {
            continue;
        };
        let (p, d) = (&rounds[p], &rounds[d]);
        let paired: Vec<f64> = p.iter().zip(d).map(|(p, d)| p.rate / d.rate).collect();
        let (lo, hi) = interleaved::range(&paired);
        let quiet: Vec<f64> = p
            .iter()
            .zip(d)
            .filter(|(p, d)| p.foreign_load < QUIET && d.foreign_load < QUIET)
            .map(|(p, d)| p.rate / d.rate)
            .collect();
        let quiet = match quiet.len() {
            0 => "none quiet".to_string(),
            n => format!("{:.1}% over {n} quiet", median(quiet) * 100.0),
        };
        println!(
            "ratio {published} / {direct}: medians {:.1}%, per round median {:.1}% (min {:.1}%, max {:.1}%; {quiet}); cpu per GiB {:.1}%",
            rate(p) / rate(d) * 100.0,
            median(paired) * 100.0,
            lo * 100.0,
            hi * 100.0,
            cpu(p) / cpu(d) * 100.0,
        );
    }
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
