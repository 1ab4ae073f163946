use std::collections::HashSet;

use super::*;

fn s(text: &str) -> Subnet {
    text.parse().unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn request(name: &str) -> NetworkRequest {
    NetworkRequest {
        name: name.into(),
        bridge: format!("br-{name}"),
        ..Default::default()
    }
}

fn store(dir: &Path) -> Ipam {
    Ipam::open(dir, default_pools_v4(), default_pools_v6()).unwrap()
}

#[test]
fn pool_subnets_avoid_host_routes_and_other_networks() {
    let dir = tempfile::tempdir().unwrap();
    let ipam = store(dir.path());
    let routes = [s("0.0.0.0/0"), s("172.17.0.0/16"), s("192.0.2.0/24")];
    let a = ipam.create_network(&request("a"), &routes).unwrap();
    assert_eq!(a.subnets[0].subnet, s("172.18.0.0/16"));
    assert_eq!(a.subnets[0].gateway, ip("172.18.0.1"));
    let b = ipam.create_network(&request("b"), &routes).unwrap();
    assert_eq!(b.subnets[0].subnet, s("172.19.0.0/16"));
    // Creating again returns the recorded network unchanged.
    assert_eq!(ipam.create_network(&request("a"), &[]).unwrap(), a);
    assert_eq!(
        ipam.networks()
            .unwrap()
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[test]
fn explicit_config_is_honoured_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let ipam = store(dir.path());
    let mut req = request("a");
    req.ipam = vec![IpamConfig {
        subnet: Some(s("10.20.0.0/24")),
        ip_range: Some(s("10.20.0.128/25")),
        gateway: Some(ip("10.20.0.254")),
        aux_addresses: BTreeMap::from([("host1".into(), ip("10.20.0.128"))]),
    }];
    let a = ipam.create_network(&req, &[]).unwrap();
    assert_eq!(a.subnets.len(), 1);
    assert_eq!(a.subnets[0].gateway, ip("10.20.0.254"));
    let lease = ipam.lease("a", "c1", &LeaseRequest::default()).unwrap();
    assert_eq!(lease.addresses, vec![ip("10.20.0.129")]);

    let mut overlapping = request("b");
    overlapping.ipam = vec![IpamConfig {
        subnet: Some(s("10.20.0.0/16")),
        ..Default::default()
    }];
    let err = ipam.create_network(&overlapping, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "network b: subnet 10.20.0.0/16 overlaps subnet 10.20.0.0/24 of network a"
    );

    let bad = |config: IpamConfig, needle: &str| {
        let mut r = request("c");
        r.ipam = vec![config];
        let err = ipam.create_network(&r, &[]).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    };
    bad(
        IpamConfig {
            subnet: Some(s("10.30.0.0/24")),
            gateway: Some(ip("10.31.0.1")),
            ..Default::default()
        },
        "gateway 10.31.0.1",
    );
    bad(
        IpamConfig {
            subnet: Some(s("10.30.0.0/24")),
            ip_range: Some(s("10.30.0.0/16")),
            ..Default::default()
        },
        "ip_range",
    );
    bad(
        IpamConfig {
            gateway: Some(ip("10.30.0.1")),
            ..Default::default()
        },
        "needs a subnet",
    );
    bad(
        IpamConfig {
            subnet: Some(s("fd00:1::/64")),
            ..Default::default()
        },
        "enable_ipv6",
    );
    bad(
        IpamConfig {
            subnet: Some(s("10.30.0.0/24")),
            aux_addresses: BTreeMap::from([("x".into(), ip("10.9.9.9"))]),
            ..Default::default()
        },
        "aux address x=10.9.9.9",
    );
    assert!(
        ipam.network("c").unwrap().is_none(),
        "a refused network leaves no state"
    );
}

#[test]
fn ipv6_networks_get_both_families() {
    let dir = tempfile::tempdir().unwrap();
    let ipam = store(dir.path());
    let mut req = request("v6");
    req.enable_ipv6 = true;
    let net = ipam.create_network(&req, &[]).unwrap();
    assert_eq!(net.subnets.len(), 2);
    assert!(net.subnets[0].subnet.is_ipv4());
    assert_eq!(net.subnets[1].subnet, s("fd6b:6572:7468::/64"));
    let lease = ipam.lease("v6", "c", &LeaseRequest::default()).unwrap();
    assert_eq!(lease.ipv4(), Some("172.17.0.2".parse().unwrap()));
    assert_eq!(lease.ipv6(), Some("fd6b:6572:7468::2".parse().unwrap()));
    let fixed = LeaseRequest {
        ipv4: None,
        ipv6: Some("fd6b:6572:7468::99".parse().unwrap()),
    };
    assert_eq!(ipam.lease("v6", "d", &fixed).unwrap().ipv6(), fixed.ipv6);
    let err = ipam.lease("v6", "e", &fixed).unwrap_err().to_string();
    assert!(err.contains("already in use by d"), "{err}");
}

#[test]
fn leases_survive_reopening_and_are_stable() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path())
        .create_network(&request("n"), &[])
        .unwrap();
    let first = store(dir.path())
        .lease("n", "p-web-1", &LeaseRequest::default())
        .unwrap();
    let second = store(dir.path())
        .lease("n", "p-web-2", &LeaseRequest::default())
        .unwrap();
    assert_ne!(first, second);
    // Another process (a fresh store) sees the same lease for the same container.
    assert_eq!(
        store(dir.path())
            .lease("n", "p-web-1", &LeaseRequest::default())
            .unwrap(),
        first
    );
    assert!(store(dir.path()).release("n", "p-web-1").unwrap());
    assert!(!store(dir.path()).release("n", "p-web-1").unwrap());
    // The freed address is reused.
    assert_eq!(
        store(dir.path())
            .lease("n", "p-db-1", &LeaseRequest::default())
            .unwrap(),
        first
    );
}

#[test]
fn fixed_address_rules() {
    let dir = tempfile::tempdir().unwrap();
    let ipam = store(dir.path());
    ipam.create_network(&request("n"), &[]).unwrap();
    let want = LeaseRequest {
        ipv4: Some("172.17.0.50".parse().unwrap()),
        ipv6: None,
    };
    assert_eq!(
        ipam.lease("n", "a", &want).unwrap().addresses,
        vec![ip("172.17.0.50")]
    );
    // Dynamic allocation never hands out a fixed address someone holds.
    for n in 0..60 {
        let lease = ipam
            .lease("n", &format!("x{n}"), &LeaseRequest::default())
            .unwrap();
        assert_ne!(lease.addresses[0], ip("172.17.0.50"));
    }
    let err = ipam.lease("n", "b", &want).unwrap_err().to_string();
    assert_eq!(
        err,
        "network n, container b: address 172.17.0.50 is already in use by a"
    );
    let gw = LeaseRequest {
        ipv4: Some("172.17.0.1".parse().unwrap()),
        ipv6: None,
    };
    assert!(
        ipam.lease("n", "c", &gw)
            .unwrap_err()
            .to_string()
            .contains("gateway")
    );
    let v6 = LeaseRequest {
        ipv4: None,
        ipv6: Some("fd00::5".parse().unwrap()),
    };
    assert!(
        ipam.lease("n", "c", &v6)
            .unwrap_err()
            .to_string()
            .contains("no IPv6 subnet")
    );
    // A container whose fixed address changes gets the new one.
    let moved = LeaseRequest {
        ipv4: Some("172.17.0.200".parse().unwrap()),
        ipv6: None,
    };
    assert_eq!(
        ipam.lease("n", "a", &moved).unwrap().addresses,
        vec![ip("172.17.0.200")]
    );
}

#[test]
fn removal_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ipam = store(dir.path());
    ipam.create_network(&request("n"), &[]).unwrap();
    ipam.lease("n", "a", &LeaseRequest::default()).unwrap();
    assert!(ipam.remove_network("n").unwrap());
    assert!(!ipam.remove_network("n").unwrap());
    assert!(ipam.network("n").unwrap().is_none());
    assert!(matches!(
        ipam.lease("n", "a", &LeaseRequest::default()),
        Err(IpamError::UnknownNetwork(_))
    ));
    assert!(matches!(
        ipam.network("../etc"),
        Err(IpamError::InvalidName(_))
    ));
    fs::write(dir.path().join("bad.json"), "{").unwrap();
    let err = ipam.networks().unwrap_err().to_string();
    assert!(err.contains("bad.json") && err.contains("corrupt"), "{err}");
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        left.iter().all(|n| n == ".lock" || n == "bad.json"),
        "{left:?}"
    );
}

#[test]
fn exhausted_pools_and_bad_pools() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = vec![AddressPool {
        base: s("10.40.0.0/24"),
        size: 24,
    }];
    let ipam = Ipam::open(dir.path(), tiny, vec![]).unwrap();
    ipam.create_network(&request("a"), &[]).unwrap();
    let err = ipam.create_network(&request("b"), &[]).unwrap_err();
    assert!(
        matches!(err, IpamError::PoolsExhausted { family: "IPv4", .. }),
        "{err}"
    );
    let mut v6 = request("c");
    v6.enable_ipv6 = true;
    v6.ipam = vec![IpamConfig {
        subnet: Some(s("10.41.0.0/24")),
        ..Default::default()
    }];
    assert!(matches!(
        ipam.create_network(&v6, &[]),
        Err(IpamError::PoolsExhausted { family: "IPv6", .. })
    ));
    let wrong_family = vec![AddressPool {
        base: s("fd00::/48"),
        size: 64,
    }];
    assert!(Ipam::open(dir.path(), wrong_family, vec![]).is_err());
    let mut same_bridge = request("d");
    same_bridge.bridge = "br-a".into();
    same_bridge.ipam = vec![IpamConfig {
        subnet: Some(s("10.42.0.0/24")),
        ..Default::default()
    }];
    assert!(
        ipam.create_network(&same_bridge, &[])
            .unwrap_err()
            .to_string()
            .contains("bridge br-a is already used by network a")
    );
}

#[test]
fn concurrent_leases_are_distinct() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path())
        .create_network(&request("n"), &[])
        .unwrap();
    let path = dir.path().to_path_buf();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                (0..5)
                    .map(|i| {
                        store(&path)
                            .lease("n", &format!("c{t}-{i}"), &LeaseRequest::default())
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = HashSet::new();
    for h in handles {
        for lease in h.join().unwrap() {
            assert!(all.insert(lease.addresses[0]), "duplicate {:?}", lease);
        }
    }
    assert_eq!(store(&path).network("n").unwrap().unwrap().leases.len(), 40);
}
