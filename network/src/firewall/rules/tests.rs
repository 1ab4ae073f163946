use serde_json::{Value, json};

use super::*;
use crate::firewall::elements::*;

fn to_json(objects: &[NfObject<'static>]) -> Value {
    serde_json::to_value(document(objects.to_vec())).unwrap()
}

/// The rules of `chain` in the base ruleset, as the JSON `nft` receives.
fn rules_of(chain: &str) -> Vec<Value> {
    let doc = to_json(&base_ruleset("berth"));
    doc["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("add")?.get("rule"))
        .filter(|r| r["chain"] == chain)
        .map(|r| r["expr"].clone())
        .collect()
}

#[test]
fn base_ruleset_declares_table_sets_maps_and_hooked_chains() {
    let doc = to_json(&base_ruleset("berth_t"));
    let adds: Vec<&Value> = doc["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["add"])
        .collect();
    assert_eq!(
        adds[0],
        &json!({"table": {"family": "inet", "name": "berth_t"}})
    );
    let names = |kind: &str| -> Vec<String> {
        adds.iter()
            .filter_map(|a| a.get(kind))
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("set"),
        ["bridges", "internal", "same_bridge", "nat_v4", "nat_v6"]
    );
    let maps = names("map");
    assert_eq!(maps.len(), 16);
    assert_eq!(
        maps[..4],
        ["tcp4_addr", "tcp4_port", "tcp4_ip_addr", "tcp4_ip_port"]
    );
    assert_eq!(
        maps[12..],
        ["udp6_addr", "udp6_port", "udp6_ip_addr", "udp6_ip_port"]
    );
    assert_eq!(
        names("chain"),
        ["forward", "prerouting", "output", "postrouting"]
    );
    let nat_v4 = adds
        .iter()
        .find_map(|a| a.get("set").filter(|s| s["name"] == "nat_v4"))
        .unwrap();
    assert_eq!(nat_v4["flags"], json!(["interval"]));
    let map = |name: &str| {
        adds.iter()
            .find_map(|a| a.get("map").filter(|s| s["name"] == name))
            .unwrap()
            .clone()
    };
    assert_eq!(
        map("tcp6_ip_addr")["type"],
        json!(["ipv6_addr", "inet_service"])
    );
    assert_eq!(map("tcp6_ip_addr")["map"], "ipv6_addr");
    assert_eq!(map("tcp6_ip_port")["map"], "inet_service");
    assert_eq!(map("udp4_addr")["type"], "inet_service");
    let forward = adds
        .iter()
        .find_map(|a| a.get("chain").filter(|c| c["name"] == "forward"))
        .unwrap();
    assert_eq!(forward["hook"], "forward");
    assert_eq!(
        forward["policy"], "accept",
        "berth's chains never drop what is not theirs"
    );
}

// The expected JSON below is what `nft -j list` prints for the same rules written in nft's
// text syntax, so the generated rules mean what the module documentation says.

#[test]
fn forward_rules_isolate_networks() {
    let rules = rules_of("forward");
    assert_eq!(rules.len(), 7);
    // Accepted connections first: the per-packet fast path.
    assert_eq!(
        rules[0],
        json!([
            {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}},
            {"accept": null}
        ])
    );
    assert_eq!(
        rules[1],
        json!([
            {"match": {"op": "==", "left": {"concat": [{"meta": {"key": "iifname"}}, {"meta": {"key": "oifname"}}]}, "right": "@same_bridge"}},
            {"accept": null}
        ])
    );
    assert_eq!(
        rules[2],
        json!([{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "@internal"}}, {"drop": null}])
    );
    assert_eq!(
        rules[4],
        json!([
            {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "@bridges"}},
            {"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}},
            {"accept": null}
        ])
    );
    assert_eq!(
        rules[5],
        json!([
            {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "@bridges"}},
            {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "@bridges"}},
            {"drop": null}
        ])
    );
    assert_eq!(
        rules[6],
        json!([{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "@bridges"}}, {"drop": null}])
    );
}

#[test]
fn dnat_rules_use_the_port_maps() {
    let rules = rules_of("prerouting");
    // DNS exemption + (specific, wildcard) for 4 maps.
    assert_eq!(rules.len(), 9);
    assert_eq!(
        rules[1],
        json!([
            {"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}},
            {"dnat": {"family": "ip",
                "addr": {"map": {
                    "key": {"concat": [{"payload": {"protocol": "ip", "field": "daddr"}}, {"payload": {"protocol": "tcp", "field": "dport"}}]},
                    "data": "@tcp4_ip_addr"
                }},
                "port": {"map": {
                    "key": {"concat": [{"payload": {"protocol": "ip", "field": "daddr"}}, {"payload": {"protocol": "tcp", "field": "dport"}}]},
                    "data": "@tcp4_ip_port"
                }}
            }}
        ])
    );
    assert_eq!(
        rules[2],
        json!([
            {"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}},
            {"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}},
            {"dnat": {"family": "ip",
                "addr": {"map": {"key": {"payload": {"protocol": "tcp", "field": "dport"}}, "data": "@tcp4_addr"}},
                "port": {"map": {"key": {"payload": {"protocol": "tcp", "field": "dport"}}, "data": "@tcp4_port"}}
            }}
        ])
    );
    let output = rules_of("output");
    assert_eq!(
        output.len(),
        9,
        "locally generated traffic (127.0.0.1) is DNATed too"
    );
    // [::1] is left to the port's own socket (the userland proxy).
    assert_eq!(
        output[0],
        json!([
            {"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv6"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}, "right": "::1"}},
            {"return": null}
        ])
    );
    assert_eq!(output[1], rules[1]);
}

#[test]
fn masquerade_rules() {
    let rules = rules_of("postrouting");
    assert_eq!(rules.len(), 4);
    assert_eq!(
        rules[0],
        json!([
            {"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@nat_v4"}},
            {"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "@bridges"}},
            {"masquerade": null}
        ])
    );
    assert_eq!(
        rules[2][2],
        json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "127.0.0.0", "len": 8}}}})
    );
}

#[test]
fn network_elements_depend_on_internal() {
    let open = FirewallNetwork {
        bridge: "br-x".into(),
        subnets: vec![
            "10.7.0.0/24".parse().unwrap(),
            "fd00:7::/64".parse().unwrap(),
        ],
        internal: false,
    };
    let json = to_json(&element_commands("berth", &network_elements(&open), true));
    assert_eq!(
        json["nftables"],
        json!([
            {"add": {"element": {"family": "inet", "table": "berth", "name": "bridges", "elem": ["br-x"]}}},
            {"add": {"element": {"family": "inet", "table": "berth", "name": "same_bridge", "elem": [{"concat": ["br-x", "br-x"]}]}}},
            {"add": {"element": {"family": "inet", "table": "berth", "name": "nat_v4", "elem": [{"prefix": {"addr": "10.7.0.0", "len": 24}}]}}},
            {"add": {"element": {"family": "inet", "table": "berth", "name": "nat_v6", "elem": [{"prefix": {"addr": "fd00:7::", "len": 64}}]}}}
        ])
    );
    let internal = FirewallNetwork {
        internal: true,
        ..open
    };
    let names: Vec<String> = network_elements(&internal)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        ["bridges", "same_bridge", "internal"],
        "internal networks are never masqueraded"
    );
}

#[test]
fn port_elements_and_their_deletion_keys() {
    let any = PortMapping {
        protocol: Protocol::Tcp,
        host_ip: None,
        host_port: 8080,
        container_ip: "10.7.0.2".parse().unwrap(),
        container_port: 80,
    };
    let local = PortMapping {
        protocol: Protocol::Udp,
        host_ip: Some("127.0.0.1".parse().unwrap()),
        ..any
    };
    let unspecified = PortMapping {
        host_ip: Some("0.0.0.0".parse().unwrap()),
        ..any
    };
    assert_eq!(unspecified.map_name(), "tcp4");
    let elements: Vec<SetElement> = [any, local].iter().flat_map(port_elements).collect();
    let json = to_json(&element_commands("berth", &elements, true));
    let element = |i: usize| json["nftables"][i]["add"]["element"].clone();
    assert_eq!(element(0)["name"], "tcp4_addr");
    assert_eq!(element(0)["elem"], json!([[8080, "10.7.0.2"]]));
    assert_eq!(element(1)["name"], "tcp4_port");
    assert_eq!(element(1)["elem"], json!([[8080, 80]]));
    assert_eq!(element(2)["name"], "udp4_ip_addr");
    assert_eq!(
        element(2)["elem"],
        json!([[{"concat": ["127.0.0.1", 8080]}, "10.7.0.2"]])
    );
    assert_eq!(
        element(3)["elem"],
        json!([[{"concat": ["127.0.0.1", 8080]}, 80]])
    );
    let deletion = to_json(&element_commands("berth", &elements, false));
    assert_eq!(
        deletion["nftables"][0]["delete"]["element"]["elem"],
        json!([8080])
    );
    assert_eq!(
        deletion["nftables"][3]["delete"]["element"]["elem"],
        json!([{"concat": ["127.0.0.1", 8080]}])
    );
}

#[test]
fn port_mapping_checks() {
    let v6 = PortMapping {
        protocol: Protocol::Tcp,
        host_ip: Some("::1".parse().unwrap()),
        host_port: 1,
        container_ip: "10.0.0.2".parse().unwrap(),
        container_port: 1,
    };
    assert!(v6.check().unwrap_err().contains("different IP families"));
    let zero = PortMapping {
        host_ip: None,
        host_port: 0,
        ..v6
    };
    assert!(zero.check().is_err());
    let ok = PortMapping {
        host_ip: None,
        container_ip: "fd00::2".parse().unwrap(),
        ..v6
    };
    assert_eq!(ok.check(), Ok(()));
    assert_eq!(ok.map_name(), "tcp6");
}
