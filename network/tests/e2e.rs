//! End to end (root; CI): namespaces as containers on berth networks, through berth's bridges,
//! veth pairs, firewall and DNS server. All traffic stays on loopback and in the namespaces the
//! tests create; the only upstream resolver is one the test runs on loopback.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use berth_network::firewall::{PortMapping, Protocol};
use berth_network::ipam::{IpamConfig, LeaseRequest};
use berth_network::ports::{self, Owner, PortError};
use berth_network::testkit::{self, Mode, OutsideHost, Server};
use berth_network::{EndpointRequest, Networks};
use common::{Env, FORWARDED_ADDR, FORWARDED_NAME, query, v4};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const SHORT: Duration = Duration::from_millis(800);

fn blocking<R>(f: impl FnOnce() -> R) -> R {
    tokio::task::block_in_place(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_resolve_and_reach_each_other_but_not_other_projects() {
    if !testkit::privileged("containers_resolve_and_reach_each_other_but_not_other_projects") {
        return;
    }
    let mut env = Env::new("10.241.0.0/16");
    let a = env.network("pa_default", false, false, vec![]).await;
    let b = env.network("pb_default", false, false, vec![]).await;
    let gw_a = a.subnets[0].gateway;
    let gw_b = b.subnets[0].gateway;
    let (web, web_ep) = env
        .container("pa-web-1", "web", &[("pa_default", &["frontend"])])
        .await;
    let (client, client_ep) = env
        .container("pa-client-1", "client", &[("pa_default", &[])])
        .await;
    let (intruder, _) = env
        .container("pb-intruder-1", "intruder", &[("pb_default", &[])])
        .await;
    let web_ip = v4(&web_ep[0]);
    let _server = Server::tcp(Some(&web), SocketAddr::new(web_ip, 8080), Mode::Echo).unwrap();

    // By service name, container name and alias, through the DNS server on the gateway.
    for name in ["web", "pa-web-1", "frontend", "WEB."] {
        let reply = query(&client, gw_a, name, RecordType::A).unwrap();
        assert_eq!(
            (reply.rcode, reply.addresses.clone()),
            (ResponseCode::NoError, vec![web_ip]),
            "{name}"
        );
        blocking(|| {
            testkit::tcp_roundtrip(
                Some(&client),
                SocketAddr::new(reply.addresses[0], 8080),
                common::T,
            )
        })
        .unwrap();
    }
    // Both ways, and reverse lookups.
    let back = query(&web, gw_a, "client", RecordType::A).unwrap();
    assert_eq!(back.addresses, vec![v4(&client_ep[0])]);
    let IpAddr::V4(octets) = web_ip else {
        unreachable!()
    };
    let [o1, o2, o3, o4] = octets.octets();
    let ptr = query(
        &client,
        gw_a,
        &format!("{o4}.{o3}.{o2}.{o1}.in-addr.arpa"),
        RecordType::PTR,
    )
    .unwrap();
    assert_eq!(ptr.names, vec!["pa-web-1.pa_default."]);
    // Names berth does not know go to the upstream resolver (one on loopback, run by the test).
    let forwarded = query(&client, gw_a, FORWARDED_NAME, RecordType::A).unwrap();
    assert_eq!(forwarded.addresses, vec![IpAddr::V4(FORWARDED_ADDR)]);

    // Another project's container can neither resolve nor reach them.
    let refused = query(&intruder, gw_a, "web", RecordType::A).unwrap();
    assert_eq!(refused.rcode, ResponseCode::Refused);
    let own_server = query(&intruder, gw_b, "web", RecordType::A).unwrap();
    assert!(own_server.addresses.is_empty(), "{own_server:?}");
    assert_eq!(
        own_server.rcode,
        ResponseCode::NXDomain,
        "forwarded, and unknown upstream"
    );
    assert!(
        query(&intruder, gw_b, "pa-web-1", RecordType::A)
            .unwrap()
            .addresses
            .is_empty()
    );
    let err =
        blocking(|| testkit::tcp_roundtrip(Some(&intruder), SocketAddr::new(web_ip, 8080), SHORT))
            .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ),
        "dropped, not refused: {err}"
    );
    // Without its isolation the intruder would get through: the same connection from the host
    // works, so the failure above is the firewall's doing.
    blocking(|| testkit::tcp_roundtrip(None, SocketAddr::new(web_ip, 8080), common::T)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaled_services_answer_with_every_replica_and_follow_scaling() {
    if !testkit::privileged("scaled_services_answer_with_every_replica_and_follow_scaling") {
        return;
    }
    let mut env = Env::new("10.242.0.0/16");
    let net = env.network("ps_default", false, false, vec![]).await;
    let gw = net.subnets[0].gateway;
    let (client, _) = env
        .container("ps-client-1", "client", &[("ps_default", &[])])
        .await;
    let mut replicas = Vec::new();
    for n in 1..=3 {
        let name = format!("ps-web-{n}");
        let (ns, ep) = env.container(&name, "web", &[("ps_default", &[])]).await;
        let server = Server::tcp(Some(&ns), SocketAddr::new(v4(&ep[0]), 80), Mode::Echo).unwrap();
        replicas.push((ns, v4(&ep[0]), server));
    }
    let mut expected: Vec<IpAddr> = replicas.iter().map(|r| r.1).collect();
    expected.sort();
    let mut firsts = Vec::new();
    for _ in 0..6 {
        let reply = query(&client, gw, "web", RecordType::A).unwrap();
        let mut got = reply.addresses.clone();
        firsts.push(got[0]);
        got.sort();
        assert_eq!(got, expected);
        for addr in &reply.addresses {
            blocking(|| {
                testkit::tcp_roundtrip(Some(&client), SocketAddr::new(*addr, 80), common::T)
            })
            .unwrap();
        }
    }
    firsts.sort();
    firsts.dedup();
    assert!(
        firsts.len() > 1,
        "round robin puts different replicas first: {firsts:?}"
    );

    // Scale down to one: answers follow at once.
    env.remove_container("ps-web-3", &["ps_default"]).await;
    env.remove_container("ps-web-2", &["ps_default"]).await;
    assert_eq!(
        query(&client, gw, "web", RecordType::A).unwrap().addresses,
        vec![replicas[0].1]
    );
    assert!(
        query(&client, gw, "ps-web-2", RecordType::A)
            .unwrap()
            .addresses
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reattached_containers_keep_address_and_name() {
    if !testkit::privileged("reattached_containers_keep_address_and_name") {
        return;
    }
    let mut env = Env::new("10.243.0.0/16");
    let fixed = IpamConfig {
        subnet: Some("10.243.7.0/24".parse().unwrap()),
        ..Default::default()
    };
    let net = env.network("pr_default", false, false, vec![fixed]).await;
    let gw = net.subnets[0].gateway;
    let (client, _) = env
        .container("pr-client-1", "client", &[("pr_default", &[])])
        .await;
    let (_db, db_ep) = env.container("pr-db-1", "db", &[("pr_default", &[])]).await;
    let before = v4(&db_ep[0]);
    // Other containers come and take addresses meanwhile.
    env.container("pr-other-1", "other", &[("pr_default", &[])])
        .await;

    // The container stops: its namespace and interfaces go, its lease stays.
    env.dns.remove_container("pr-db-1");
    env.networks
        .disconnect("pr_default", "pr-db-1", false)
        .await
        .unwrap();
    env.networks.remove_netns("pr-db-1").unwrap();
    assert!(
        query(&client, gw, "db", RecordType::A)
            .unwrap()
            .addresses
            .is_empty()
    );

    // berth itself restarts: a fresh handle on the same state.
    let reopened = Networks::open({
        let mut o =
            berth_network::Options::new(env.dir.path().join("state"), env.dir.path().join("run"));
        o.firewall_table = env.networks.firewall().table().to_string();
        o
    })
    .unwrap();
    let ns = reopened.create_netns("pr-db-1").await.unwrap();
    let request = EndpointRequest {
        container: "pr-db-1".into(),
        ifname: "eth0".into(),
        default_route: true,
        ..Default::default()
    };
    let info = reopened.connect(&ns, "pr_default", &request).await.unwrap();
    assert_eq!(v4(&info), before, "same address after restart");
    env.register("pr_default", "pr-db-1", "db", &[], &info);
    assert_eq!(
        query(&client, gw, "db", RecordType::A).unwrap().addresses,
        vec![before]
    );
    assert_eq!(
        query(&client, gw, "pr-db-1", RecordType::A)
            .unwrap()
            .addresses,
        vec![before]
    );
    let server = Server::tcp(Some(&ns), SocketAddr::new(before, 5432), Mode::Echo).unwrap();
    blocking(|| testkit::tcp_roundtrip(Some(&client), server.addr, common::T)).unwrap();

    // A fixed address (ipv4_address) is honoured, and refused when another holds it.
    let want = LeaseRequest {
        ipv4: Some("10.243.7.200".parse().unwrap()),
        ipv6: None,
    };
    let ns2 = env.networks.create_netns("pr-fixed-1").await.unwrap();
    let mut fixed = EndpointRequest {
        container: "pr-fixed-1".into(),
        ifname: "eth0".into(),
        addresses: want,
        ..Default::default()
    };
    assert_eq!(
        v4(&env
            .networks
            .connect(&ns2, "pr_default", &fixed)
            .await
            .unwrap())
        .to_string(),
        "10.243.7.200"
    );
    fixed.container = "pr-fixed-2".into();
    let ns3 = env.networks.create_netns("pr-fixed-2").await.unwrap();
    let err = env
        .networks
        .connect(&ns3, "pr_default", &fixed)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("10.243.7.200 is already in use by pr-fixed-1"),
        "{err}"
    );
    for c in ["pr-fixed-1", "pr-fixed-2"] {
        env.networks
            .disconnect("pr_default", c, true)
            .await
            .unwrap();
        env.networks.remove_netns(c).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_networks_have_no_way_out() {
    if !testkit::privileged("internal_networks_have_no_way_out") {
        return;
    }
    let mut env = Env::new("10.244.0.0/16");
    let net = env.network("pi_back", true, false, vec![]).await;
    let open = env.network("pi_front", false, false, vec![]).await;
    let outside = OutsideHost::create(env.dir.path(), 101);
    let outside_server = Server::tcp(
        Some(&outside.netns),
        SocketAddr::new(outside.addr.into(), 9000),
        Mode::Echo,
    )
    .unwrap();
    let (inside, _) = env.container("pi-db-1", "db", &[("pi_back", &[])]).await;
    let (peer, peer_ep) = env.container("pi-api-1", "api", &[("pi_back", &[])]).await;
    let (front, _) = env.container("pi-web-1", "web", &[("pi_front", &[])]).await;

    // Sanity: a container on a normal network reaches the outside host (NAT).
    blocking(|| testkit::tcp_roundtrip(Some(&front), outside_server.addr, common::T)).unwrap();

    // No default route at all...
    let routes = testkit::run(
        "nsenter",
        &[&format!("--net={}", inside.path().display()), "ip", "route"],
    );
    assert!(!routes.contains("default"), "{routes}");
    let err =
        blocking(|| testkit::tcp_roundtrip(Some(&inside), outside_server.addr, SHORT)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NetworkUnreachable, "{err}");
    // ...and with a route forced in, the firewall still drops it.
    let gw = net.subnets[0].gateway.to_string();
    testkit::run(
        "nsenter",
        &[
            &format!("--net={}", inside.path().display()),
            "ip",
            "route",
            "add",
            "default",
            "via",
            &gw,
        ],
    );
    let err =
        blocking(|| testkit::tcp_roundtrip(Some(&inside), outside_server.addr, SHORT)).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ),
        "{err}"
    );
    // Nor can it reach a normal network.
    let front_ip = query(&front, open.subnets[0].gateway, "pi-web-1", RecordType::A)
        .unwrap()
        .addresses[0];
    let front_server =
        Server::tcp(Some(&front), SocketAddr::new(front_ip, 80), Mode::Echo).unwrap();
    assert!(blocking(|| testkit::tcp_roundtrip(Some(&inside), front_server.addr, SHORT)).is_err());
    // Names outside are not forwarded from an internal network.
    let reply = query(
        &inside,
        net.subnets[0].gateway,
        FORWARDED_NAME,
        RecordType::A,
    )
    .unwrap();
    assert_eq!(reply.rcode, ResponseCode::NXDomain);
    // But it works inside: name resolution and traffic between its containers.
    let api = query(&inside, net.subnets[0].gateway, "api", RecordType::A).unwrap();
    assert_eq!(api.addresses, vec![v4(&peer_ep[0])]);
    let api_server = Server::tcp(
        Some(&peer),
        SocketAddr::new(api.addresses[0], 7000),
        Mode::Echo,
    )
    .unwrap();
    blocking(|| testkit::tcp_roundtrip(Some(&inside), api_server.addr, common::T)).unwrap();
    drop(outside);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_ports_answer_from_loopback_and_from_outside() {
    if !testkit::privileged("published_ports_answer_from_loopback_and_from_outside") {
        return;
    }
    let mut env = Env::new("10.245.0.0/16");
    env.network("pp_default", false, false, vec![]).await;
    let outside = OutsideHost::create(env.dir.path(), 202);
    let (web, ep) = env
        .container("pp-web-1", "web", &[("pp_default", &[])])
        .await;
    let ip = v4(&ep[0]);
    let tcp = Server::tcp(Some(&web), SocketAddr::new(ip, 80), Mode::Echo).unwrap();
    let udp = Server::udp(Some(&web), SocketAddr::new(ip, 53)).unwrap();
    let owner = |_: Protocol, _: u16| {
        Some(Owner {
            project: "pp".into(),
            service: "web".into(),
        })
    };

    // Random host ports (`ports: ["80", "53/udp"]`), held while published.
    let tcp_port = ports::reserve_random(Protocol::Tcp, None).unwrap();
    let udp_port = ports::reserve_random(Protocol::Udp, None).unwrap();
    // And one published on 127.0.0.1 only.
    let local_port =
        ports::reserve_random(Protocol::Tcp, Some("127.0.0.1".parse().unwrap())).unwrap();
    let mappings = [
        PortMapping {
            protocol: Protocol::Tcp,
            host_ip: None,
            host_port: tcp_port.port,
            container_ip: ip,
            container_port: 80,
        },
        PortMapping {
            protocol: Protocol::Udp,
            host_ip: None,
            host_port: udp_port.port,
            container_ip: ip,
            container_port: 53,
        },
        PortMapping {
            protocol: Protocol::Tcp,
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: local_port.port,
            container_ip: ip,
            container_port: 80,
        },
    ];
    env.networks.firewall().publish(&mappings).unwrap();

    let loopback = |port: u16| SocketAddr::new("127.0.0.1".parse().unwrap(), port);
    let from_outside = |port: u16| SocketAddr::new(outside.host_addr.into(), port);
    blocking(|| testkit::tcp_roundtrip(None, loopback(tcp_port.port), common::T)).unwrap();
    blocking(|| testkit::udp_roundtrip(None, loopback(udp_port.port), common::T)).unwrap();
    blocking(|| {
        testkit::tcp_roundtrip(Some(&outside.netns), from_outside(tcp_port.port), common::T)
    })
    .unwrap();
    blocking(|| {
        testkit::udp_roundtrip(Some(&outside.netns), from_outside(udp_port.port), common::T)
    })
    .unwrap();
    blocking(|| testkit::tcp_roundtrip(None, loopback(local_port.port), common::T)).unwrap();
    assert!(
        blocking(|| testkit::tcp_roundtrip(
            Some(&outside.netns),
            from_outside(local_port.port),
            SHORT
        ))
        .is_err(),
        "published on 127.0.0.1 only"
    );
    assert!(tcp.received() > 0 && udp.received() > 0);
    // The container itself is not reachable from outside except through published ports.
    assert!(blocking(|| testkit::tcp_roundtrip(Some(&outside.netns), tcp.addr, SHORT)).is_err());

    // A taken port: the clear error, naming port, protocol and the berth owner when known.
    let err = ports::reserve(Protocol::Tcp, None, tcp_port.port, &owner).unwrap_err();
    assert!(matches!(err, PortError::Taken { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "port {}/tcp on 0.0.0.0 is already in use by project \"pp\" service \"web\"",
            tcp_port.port
        )
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = listener.local_addr().unwrap().port();
    let err = ports::reserve(Protocol::Tcp, None, busy, &|_, _| None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("port {busy}/tcp on 0.0.0.0 is already in use by another program")
    );

    // Unpublished: gone.
    assert!(env.networks.firewall().unpublish(&mappings).is_empty());
    assert!(blocking(|| testkit::tcp_roundtrip(None, loopback(tcp_port.port), SHORT)).is_err());
    assert!(
        blocking(|| testkit::tcp_roundtrip(
            Some(&outside.netns),
            from_outside(tcp_port.port),
            SHORT
        ))
        .is_err()
    );
    drop(outside);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_leaves_nothing_behind_and_keeps_going_past_missing_pieces() {
    if !testkit::privileged("removal_leaves_nothing_behind_and_keeps_going_past_missing_pieces") {
        return;
    }
    let mut env = Env::new("10.246.0.0/16");
    let one = env.network("pz_one", false, false, vec![]).await;
    let two = env.network("pz_two", true, false, vec![]).await;
    let (_a, a_ep) = env
        .container("pz-a-1", "a", &[("pz_one", &[]), ("pz_two", &[])])
        .await;
    let (_b, _) = env.container("pz-b-1", "b", &[("pz_one", &[])]).await;
    let published = ports::reserve_random(Protocol::Tcp, None).unwrap();
    let mapping = PortMapping {
        protocol: Protocol::Tcp,
        host_ip: None,
        host_port: published.port,
        container_ip: v4(&a_ep[0]),
        container_port: 80,
    };
    env.networks.firewall().publish(&[mapping]).unwrap();
    assert_eq!(a_ep[1].ifname, "eth1");
    let veths: Vec<String> = ["pz-a-1", "pz-b-1"]
        .iter()
        .flat_map(|c| ["pz_one", "pz_two"].map(|n| berth_network::veth::veth_name(c, n)))
        .collect();
    assert!(testkit::link_exists(&one.bridge) && testkit::link_exists(&two.bridge));
    let firewall = env.networks.firewall().clone();
    assert!(firewall.mentions(&one.bridge).unwrap());

    // Someone deleted a bridge and a veth pair behind berth's back: teardown still completes.
    testkit::run("ip", &["link", "del", &two.bridge]);
    testkit::run(
        "ip",
        &[
            "link",
            "del",
            &berth_network::veth::veth_name("pz-b-1", "pz_one"),
        ],
    );
    env.dns.stop_all().await;
    firewall.unpublish(&[mapping]);
    env.remove_container("pz-a-1", &["pz_one", "pz_two"]).await;
    env.networks
        .disconnect("pz_one", "pz-b-1", true)
        .await
        .unwrap();
    assert!(env.networks.remove_netns("pz-b-1").unwrap());
    env.networks.remove("pz_one").await.unwrap();
    env.networks.remove("pz_two").await.unwrap();
    env.networks.remove("pz_two").await.unwrap();

    for link in veths.iter().chain([&one.bridge, &two.bridge]) {
        assert!(!testkit::link_exists(link), "{link} left behind");
    }
    assert!(!firewall.mentions(&one.bridge).unwrap() && !firewall.mentions(&two.bridge).unwrap());
    assert!(
        firewall.list().unwrap().is_none(),
        "the table goes with its last network"
    );
    assert!(
        env.networks.ipam().networks().unwrap().is_empty(),
        "no lease or network state left"
    );
    for c in ["pz-a-1", "pz-b-1"] {
        assert!(!env.netns_file(c).exists());
    }
    let _ = published;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_networks_give_both_families_and_answer_aaaa() {
    if !testkit::privileged("ipv6_networks_give_both_families_and_answer_aaaa") {
        return;
    }
    let mut env = Env::new("10.247.0.0/16");
    let net = env.network("p6_default", false, true, vec![]).await;
    assert_eq!(net.subnets.len(), 2);
    let gw6 = net.gateway_v6().map(IpAddr::V6).unwrap();
    let (web, web_ep) = env
        .container("p6-web-1", "web", &[("p6_default", &[])])
        .await;
    let (client, _) = env
        .container("p6-client-1", "client", &[("p6_default", &[])])
        .await;
    let web6 = web_ep[0]
        .addresses
        .iter()
        .map(|(a, _)| *a)
        .find(IpAddr::is_ipv6)
        .unwrap();
    assert!(net.subnets[1].subnet.contains(web6));
    // The DNS server answers on the IPv6 gateway too, with AAAA and A records.
    let aaaa = query(&client, gw6, "web", RecordType::AAAA).unwrap();
    assert_eq!(aaaa.addresses, vec![web6]);
    let a = query(&client, gw6, "web", RecordType::A).unwrap();
    assert_eq!(a.addresses, vec![v4(&web_ep[0])]);
    let server = Server::tcp(Some(&web), SocketAddr::new(web6, 8080), Mode::Echo).unwrap();
    blocking(|| testkit::tcp_roundtrip(Some(&client), server.addr, common::T)).unwrap();
    let routes = testkit::run(
        "nsenter",
        &[
            &format!("--net={}", client.path().display()),
            "ip",
            "-6",
            "route",
        ],
    );
    assert!(
        routes.contains(&format!("default via {gw6} dev eth0")),
        "{routes}"
    );
}
