//! Bridges, veth pairs and pinned namespaces against the kernel (root; CI).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use berth_network::bridge::{self, BridgeSpec};
use berth_network::netlink;
use berth_network::netns::{self, Netns};
use berth_network::testkit::{self, Mode, Server};
use berth_network::veth::{self, Attachment};

/// Removes what a test created, even when it fails.
struct Cleanup {
    dir: tempfile::TempDir,
    links: Vec<String>,
    namespaces: Vec<PathBuf>,
}

impl Cleanup {
    fn new() -> Cleanup {
        Cleanup {
            dir: tempfile::tempdir().unwrap(),
            links: Vec::new(),
            namespaces: Vec::new(),
        }
    }

    fn netns(&mut self, name: &str) -> Netns {
        let path = self.dir.path().join("netns").join(name);
        self.namespaces.push(path.clone());
        Netns::create(&path).unwrap()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for link in &self.links {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", link])
                .output();
        }
        for ns in &self.namespaces {
            let _ = Netns::remove(ns);
        }
        let _ = netns::release_dir(&self.dir.path().join("netns"));
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_outlive_their_creator_and_are_removed_cleanly() {
    if !testkit::privileged("namespaces_outlive_their_creator_and_are_removed_cleanly") {
        return;
    }
    let mut cleanup = Cleanup::new();
    let ns = cleanup.netns("c1");
    let path = ns.path().to_path_buf();
    drop(ns);
    // Pinned by the bind mount: opening it again gives the same, still existing namespace.
    let again = Netns::open(&path).unwrap();
    assert!(!again.same_as(&Netns::current().unwrap()).unwrap());
    // Creating it again is idempotent.
    assert!(Netns::create(&path).unwrap().same_as(&again).unwrap());
    veth::loopback_up(&again).await.unwrap();
    let handle = netlink::connect_in(&again).unwrap();
    assert_eq!(netlink::link_names(&handle).await.unwrap(), ["lo"]);
    assert!(Netns::remove(&path).unwrap());
    assert!(!path.exists());
    assert!(!Netns::remove(&path).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn veth_pairs_join_namespaces_through_a_bridge() {
    if !testkit::privileged("veth_pairs_join_namespaces_through_a_bridge") {
        return;
    }
    testkit::egress_guard();
    let mut cleanup = Cleanup::new();
    let host = netlink::connect().unwrap();
    let br = testkit::unique("bt");
    let br2 = testkit::unique("bt");
    cleanup.links.extend([br.clone(), br2.clone()]);
    let spec = BridgeSpec {
        name: br.clone(),
        addresses: vec![(ip("10.251.0.1"), 24)],
        mtu: None,
    };
    let index = bridge::ensure_bridge(&host, &spec).await.unwrap();
    // Ensuring again changes nothing and finds the same bridge.
    assert_eq!(bridge::ensure_bridge(&host, &spec).await.unwrap(), index);
    assert_eq!(
        netlink::addresses(&host, index).await.unwrap(),
        vec![(ip("10.251.0.1"), 24)]
    );
    let spec2 = BridgeSpec {
        name: br2.clone(),
        addresses: vec![(ip("10.251.1.1"), 24)],
        mtu: Some(1400),
    };
    bridge::ensure_bridge(&host, &spec2).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{br}/route_localnet"))
            .unwrap()
            .trim(),
        "1"
    );

    let c1 = cleanup.netns("c1");
    let c2 = cleanup.netns("c2");
    let attach = |container: &str,
                  addr: &str,
                  ifname: &str,
                  bridge: &str,
                  prefix: u8,
                  gw: Option<&str>,
                  mac: Option<[u8; 6]>| Attachment {
        bridge: bridge.to_string(),
        host_ifname: veth::veth_name(&format!("{}{container}", br), bridge),
        ifname: ifname.to_string(),
        mac,
        addresses: vec![(ip(addr), prefix)],
        default_gateways: gw.map(ip).into_iter().collect(),
        mtu: None,
    };
    let a1 = attach(
        "c1",
        "10.251.0.2",
        "eth0",
        &br,
        24,
        Some("10.251.0.1"),
        None,
    );
    let a2 = attach(
        "c2",
        "10.251.0.3",
        "eth0",
        &br,
        24,
        Some("10.251.0.1"),
        Some([0x02, 0, 0, 0, 0, 0x33]),
    );
    let a2b = Attachment {
        mtu: Some(1400),
        ..attach("c2", "10.251.1.3", "backend", &br2, 24, None, None)
    };
    cleanup.links.extend([
        a1.host_ifname.clone(),
        a2.host_ifname.clone(),
        a2b.host_ifname.clone(),
    ]);
    veth::attach(&host, &c1, &a1).await.unwrap();
    veth::attach(&host, &c2, &a2).await.unwrap();
    veth::attach(&host, &c2, &a2b).await.unwrap();

    let inner = netlink::connect_in(&c2).unwrap();
    let mut names = netlink::link_names(&inner).await.unwrap();
    names.sort();
    assert_eq!(names, ["backend", "eth0", "lo"]);
    // sysfs shows the namespace it was mounted in, so ask netlink (ip) from inside.
    let ip_in = |ns: &Netns, args: &[&str]| {
        let net = format!("--net={}", ns.path().display());
        let mut full = vec![net.as_str(), "ip"];
        full.extend_from_slice(args);
        testkit::run("nsenter", &full)
    };
    let eth0 = ip_in(&c2, &["-o", "link", "show", "dev", "eth0"]);
    assert!(eth0.contains("link/ether 02:00:00:00:00:33"), "{eth0}");
    let eth0 = ip_in(&c1, &["-o", "link", "show", "dev", "eth0"]);
    assert!(
        eth0.contains("link/ether 02:42:0a:fb:00:02"),
        "derived from the IPv4 address: {eth0}"
    );
    let backend = ip_in(&c2, &["-o", "link", "show", "dev", "backend"]);
    assert!(
        backend.contains("mtu 1400") && backend.contains("state UP"),
        "{backend}"
    );
    let routes = ip_in(&c1, &["route"]);
    assert!(
        routes.contains("default via 10.251.0.1 dev eth0"),
        "{routes}"
    );

    let server = Server::tcp(Some(&c2), "10.251.0.3:7000".parse().unwrap(), Mode::Echo).unwrap();
    let addr: SocketAddr = server.addr;
    let c1_ref = &c1;
    tokio::task::block_in_place(|| {
        testkit::tcp_roundtrip(Some(c1_ref), addr, Duration::from_secs(3))
    })
    .unwrap();
    // The host reaches containers through the bridge.
    tokio::task::block_in_place(|| testkit::tcp_roundtrip(None, addr, Duration::from_secs(3)))
        .unwrap();
    drop(server);

    // Attaching again (after a crash, or a restart) replaces the old pair.
    veth::attach(&host, &c1, &a1).await.unwrap();
    tokio::task::block_in_place(|| {
        testkit::tcp_roundtrip(
            None,
            "10.251.0.2:1".parse().unwrap(),
            Duration::from_secs(1),
        )
    })
    .expect_err("nothing listens there, but the address answers (connection refused)");
    assert!(veth::detach(&host, &a1.host_ifname).await.unwrap());
    assert!(!veth::detach(&host, &a1.host_ifname).await.unwrap());
    let inner1 = netlink::connect_in(&c1).unwrap();
    assert_eq!(
        netlink::link_names(&inner1).await.unwrap(),
        ["lo"],
        "the container end goes with the host end"
    );
    veth::attach(&host, &c1, &a1).await.unwrap();

    for link in [&a1.host_ifname, &a2.host_ifname, &a2b.host_ifname] {
        assert!(veth::detach(&host, link).await.unwrap());
    }
    assert!(bridge::delete_bridge(&host, &br).await.unwrap());
    assert!(bridge::delete_bridge(&host, &br2).await.unwrap());
    assert!(!bridge::delete_bridge(&host, &br).await.unwrap());
    let all = netlink::link_names(&host).await.unwrap();
    for link in [
        &br,
        &br2,
        &a1.host_ifname,
        &a2.host_ifname,
        &a2b.host_ifname,
    ] {
        assert!(!all.contains(link), "{link} left behind");
    }
}
