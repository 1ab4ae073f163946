//! The DNS server loop on loopback (no privileges needed): answers from the name table,
//! refusal of strangers, runtime updates, PTR, forwarding to an upstream the test runs itself.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use berth_network::dns::{DnsConfig, DnsServer, Endpoint};
use berth_network::testkit::{self, UpstreamDns};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const T: Duration = Duration::from_secs(3);

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn endpoint(container: &str, names: &[&str], v4: &str) -> Endpoint {
    Endpoint {
        container: container.into(),
        names: names.iter().map(|n| n.to_string()).collect(),
        ipv4: Some(v4.parse().unwrap()),
        ..Default::default()
    }
}

/// Queries `server` from the loopback address `from`.
async fn ask(from: &str, server: SocketAddr, name: &str, qtype: RecordType) -> testkit::DnsReply {
    let from: SocketAddr = format!("{from}:0").parse().unwrap();
    let name = name.to_string();
    tokio::task::spawn_blocking(move || {
        let socket = UdpSocket::bind(from).unwrap();
        socket.set_read_timeout(Some(T)).unwrap();
        socket.connect(server).unwrap();
        testkit::dns_exchange(&socket, &name, qtype).unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_names_refuses_strangers_and_forwards_the_rest() {
    let upstream = UpstreamDns::start(
        "127.0.0.1:0".parse().unwrap(),
        HashMap::from([("example.test".to_string(), "192.0.2.77".parse().unwrap())]),
    )
    .unwrap();
    let config = DnsConfig {
        upstreams: vec![upstream.addr],
        port: 0,
        ..Default::default()
    };
    let server = DnsServer::new(config);
    // The asking "container" is 127.0.0.1; 127.0.0.2 is a stranger.
    server.add_endpoint(
        "p_default",
        endpoint("p-client-1", &["client"], "127.0.0.1"),
    );
    server.add_endpoint(
        "p_default",
        endpoint("p-web-1", &["web", "www"], "10.9.0.2"),
    );
    server.add_endpoint("p_default", endpoint("p-web-2", &["web"], "10.9.0.3"));
    let bound = server
        .start_network("p_default", &[ip("127.0.0.1")], true)
        .await
        .unwrap();
    let at = bound[0];
    assert_eq!(server.addresses("p_default"), Some(bound.clone()));

    let reply = ask("127.0.0.1", at, "web", RecordType::A).await;
    assert_eq!(reply.rcode, ResponseCode::NoError);
    let mut got = reply.addresses.clone();
    got.sort();
    assert_eq!(got, vec![ip("10.9.0.2"), ip("10.9.0.3")]);
    assert_eq!(
        ask("127.0.0.1", at, "p-web-2.", RecordType::A)
            .await
            .addresses,
        vec![ip("10.9.0.3")]
    );
    assert_eq!(
        ask("127.0.0.1", at, "WWW", RecordType::A).await.addresses,
        vec![ip("10.9.0.2")]
    );
    let aaaa = ask("127.0.0.1", at, "web", RecordType::AAAA).await;
    assert_eq!(
        (aaaa.rcode, aaaa.addresses.len()),
        (ResponseCode::NoError, 0),
        "NODATA, not NXDOMAIN"
    );
    let mx = ask("127.0.0.1", at, "web", RecordType::MX).await;
    assert_eq!((mx.rcode, mx.addresses.len()), (ResponseCode::NoError, 0));
    let ptr = ask("127.0.0.1", at, "3.0.9.10.in-addr.arpa", RecordType::PTR).await;
    assert_eq!(ptr.names, vec!["p-web-2.p_default."]);

    // TCP works too (clients retry truncated answers over TCP).
    let tcp =
        tokio::task::spawn_blocking(move || testkit::dns_query_tcp(at, "web", RecordType::A, T))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(tcp.addresses.len(), 2);
    let tcp_fwd = tokio::task::spawn_blocking(move || {
        testkit::dns_query_tcp(at, "example.test", RecordType::A, T)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        tcp_fwd.addresses,
        vec![ip("192.0.2.77")],
        "upstreams are asked over UDP first"
    );

    // Strangers get nothing, not even forwarding.
    let before = upstream.queries.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        ask("127.0.0.2", at, "web", RecordType::A).await.rcode,
        ResponseCode::Refused
    );
    assert_eq!(
        ask("127.0.0.2", at, "example.test", RecordType::A)
            .await
            .rcode,
        ResponseCode::Refused
    );
    assert_eq!(
        upstream.queries.load(std::sync::atomic::Ordering::Relaxed),
        before
    );

    // Forwarding.
    let fwd = ask("127.0.0.1", at, "example.test", RecordType::A).await;
    assert_eq!(
        (fwd.rcode, fwd.addresses.clone()),
        (ResponseCode::NoError, vec![ip("192.0.2.77")])
    );
    assert_eq!(
        ask("127.0.0.1", at, "nothing.test", RecordType::A)
            .await
            .rcode,
        ResponseCode::NXDomain
    );
    assert!(upstream.queries.load(std::sync::atomic::Ordering::Relaxed) >= before + 2);

    // A container with its own `dns:` servers has its unknown names forwarded there.
    let own = UpstreamDns::start(
        "127.0.0.1:0".parse().unwrap(),
        HashMap::from([("example.test".to_string(), "192.0.2.88".parse().unwrap())]),
    )
    .unwrap();
    let mut custom = endpoint("p-custom-1", &["custom"], "127.0.0.3");
    custom.upstreams = vec![own.addr];
    server.add_endpoint("p_default", custom);
    let mine = ask("127.0.0.3", at, "example.test", RecordType::A).await;
    assert_eq!(mine.addresses, vec![ip("192.0.2.88")]);
    assert_eq!(
        ask("127.0.0.3", at, "web", RecordType::A)
            .await
            .addresses
            .len(),
        2,
        "service names still resolve"
    );
    assert_eq!(
        ask("127.0.0.1", at, "example.test", RecordType::A)
            .await
            .addresses,
        vec![ip("192.0.2.77")]
    );

    // Runtime updates: scale down, scale up.
    assert!(server.remove_endpoint("p_default", "p-web-1"));
    assert_eq!(
        ask("127.0.0.1", at, "web", RecordType::A).await.addresses,
        vec![ip("10.9.0.3")]
    );
    server.add_endpoint("p_default", endpoint("p-web-3", &["web"], "10.9.0.4"));
    assert_eq!(
        ask("127.0.0.1", at, "web", RecordType::A)
            .await
            .addresses
            .len(),
        2
    );
    server.remove_container("p-web-2");
    server.remove_container("p-web-3");
    // The name is gone, so it is forwarded (and the upstream does not know it).
    assert_eq!(
        ask("127.0.0.1", at, "web", RecordType::A).await.rcode,
        ResponseCode::NXDomain
    );

    assert!(server.stop_network("p_default").await);
    assert!(!server.stop_network("p_default").await);
    // The port is free again.
    UdpSocket::bind(at).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_networks_do_not_forward_and_dead_upstreams_fail_cleanly() {
    let upstream = UpstreamDns::start(
        "127.0.0.1:0".parse().unwrap(),
        HashMap::from([("example.test".to_string(), "192.0.2.77".parse().unwrap())]),
    )
    .unwrap();
    let dead = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = DnsServer::new(DnsConfig {
        upstreams: vec![dead, upstream.addr],
        port: 0,
        upstream_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    server.add_endpoint("internal", endpoint("c", &[], "127.0.0.1"));
    server.add_endpoint("open", endpoint("c", &[], "127.0.0.1"));
    let internal = server
        .start_network("internal", &[ip("127.0.0.1")], false)
        .await
        .unwrap()[0];
    let open = server
        .start_network("open", &[ip("127.0.0.1")], true)
        .await
        .unwrap()[0];
    assert_eq!(
        ask("127.0.0.1", internal, "example.test", RecordType::A)
            .await
            .rcode,
        ResponseCode::NXDomain
    );
    assert_eq!(
        upstream.queries.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    // The dead first upstream is skipped.
    assert_eq!(
        ask("127.0.0.1", open, "example.test", RecordType::A)
            .await
            .addresses,
        vec![ip("192.0.2.77")]
    );
    drop(upstream);
    assert_eq!(
        ask("127.0.0.1", open, "example.test", RecordType::A)
            .await
            .rcode,
        ResponseCode::ServFail
    );
    server.stop_all().await;
    assert!(server.addresses("open").is_none());
}
