//! Networks with real berth containers, through the `berth` binary, as root: services find
//! each other by service name, container name and alias; another project can neither
//! resolve nor reach them; an internal network has no way out; published TCP and UDP ports
//! answer from 127.0.0.1 and from a namespace acting as an outside host; a taken port is a
//! clear error naming its holder; `down` leaves no bridge, rule, namespace or lease behind.
//! All traffic stays on loopback and in namespaces this test (or berth) creates.

mod common;

use berth_network::netns::Netns;
use berth_network::testkit::{self, OutsideHost, Server};
use common::stack::{IMAGE, Stack, can_run};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

fn project_a() -> String {
    format!(
        r#"
services:
  web:
    image: {IMAGE}
    init: true
    command: ["nc", "-ll", "-p", "80", "-e", "cat"]
    ports: ["80", "81/udp"]
  db:
    image: {IMAGE}
    init: true
    command: ["sleep", "infinity"]
    networks:
      default:
        aliases: [database]
  secret:
    image: {IMAGE}
    init: true
    command: ["sleep", "infinity"]
    networks: [inside]
networks:
  inside:
    internal: true
"#
    )
}

fn exec(stack: &Stack, service: &str, script: &str) -> std::process::Output {
    stack.berth(&["exec", "-T", service, "sh", "-c", script])
}

fn succeeds(stack: &Stack, service: &str, script: &str) -> bool {
    exec(stack, service, script).status.success()
}

/// The host port `berth port` reports for `service`'s `port`.
fn host_port(stack: &Stack, service: &str, port: &str, protocol: &str) -> u16 {
    let out = stack.ok(&["port", "--protocol", protocol, service, port]);
    out.trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("berth port {service} {port}/{protocol}: {out:?}"))
}

/// The IPv4 address of `service`'s first container, from inside it.
fn address(stack: &Stack, service: &str) -> Ipv4Addr {
    let out = stack.ok(&[
        "exec", "-T", service, "ip", "-4", "-o", "addr", "show", "eth0",
    ]);
    out.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {out:?}"))
}

#[test]
fn real_containers_on_berth_networks() {
    if !can_run("real_containers_on_berth_networks") {
        return;
    }
    let a = Stack::new("neta", &project_a());
    a.ok(&["up", "-d"]);

    // By service name, container name and alias, on the same network.
    for name in ["db", &format!("{}-db-1", a.project), "database"] {
        assert!(
            succeeds(
                &a,
                "web",
                &format!("nslookup {name} && ping -c 1 -W 3 {name}")
            ),
            "web cannot resolve or reach {name}: {:?}",
            exec(&a, "web", &format!("nslookup {name}"))
        );
    }
    let db = address(&a, "db");

    // Another project: its own network, no name, no route.
    let b = Stack::new(
        "netb",
        &format!(
            "services:\n  probe:\n    image: {IMAGE}\n    init: true\n    command: [sleep, infinity]\n"
        ),
    );
    b.ok(&["up", "-d"]);
    let answer = exec(&b, "probe", &format!("nslookup {}-db-1", a.project));
    assert!(
        !answer.status.success()
            || !String::from_utf8_lossy(&answer.stdout).contains(&db.to_string()),
        "another project resolved db: {answer:?}"
    );
    assert!(
        !succeeds(&b, "probe", &format!("ping -c 1 -W 1 {db}")),
        "another project reached db at {db}"
    );

    // Internal: no default route, and nothing outside its network answers.
    let routes = a.ok(&["exec", "-T", "secret", "ip", "route"]);
    assert!(!routes.contains("default"), "{routes}");
    assert!(
        !succeeds(&a, "secret", &format!("ping -c 1 -W 1 {db}")),
        "the internal network reached the default one"
    );

    // Published ports, TCP (the container's own echo server) and UDP (an echo server in the
    // container's network namespace), from 127.0.0.1 and from an outside host.
    let dir = tempfile::tempdir().unwrap();
    let outside = OutsideHost::create(dir.path(), 7001);
    let tcp = host_port(&a, "web", "80", "tcp");
    let udp = host_port(&a, "web", "81", "udp");
    let web_ns = Netns::open(
        &a.run
            .path()
            .join("network/netns")
            .join(format!("{}-web-1", a.project)),
    )
    .unwrap();
    let _echo = Server::udp(Some(&web_ns), "0.0.0.0:81".parse().unwrap()).unwrap();
    for (who, netns, host) in [
        ("127.0.0.1", None, Ipv4Addr::LOCALHOST),
        ("the outside host", Some(&outside.netns), outside.host_addr),
    ] {
        testkit::tcp_roundtrip(netns, SocketAddr::from((host, tcp)), TIMEOUT)
            .unwrap_or_else(|e| panic!("TCP {tcp} from {who}: {e}"));
        testkit::udp_roundtrip(netns, SocketAddr::from((host, udp)), TIMEOUT)
            .unwrap_or_else(|e| panic!("UDP {udp} from {who}: {e}"));
    }
    // `localhost` is `::1` first for most clients: the IPv4-only container answers there too
    // (through the port's own socket: the kernel does not forward `[::1]`).
    testkit::tcp_roundtrip(None, SocketAddr::from((Ipv6Addr::LOCALHOST, tcp)), TIMEOUT)
        .unwrap_or_else(|e| panic!("TCP {tcp} from [::1]: {e}"));

    // A taken port: the error names it and, as both projects share the machine's state,
    // the project and service that hold it.
    let clash_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        clash_dir.path().join("compose.yaml"),
        format!(
            "services:\n  clash:\n    image: {IMAGE}\n    init: true\n    command: [sleep, infinity]\n    ports: [\"{tcp}:80\"]\n"
        ),
    )
    .unwrap();
    let clash = format!("{}-clash", a.project);
    let berth_clash = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_ROOT", a.root.path())
            .env("BERTH_RUN", a.run.path())
            .env("BERTH_CONFIG", a.dir.path().join("berth-config.toml"))
            .env("BERTH_DNS_UPSTREAMS", "127.0.0.1:9")
            .current_dir(clash_dir.path())
            .args(["-p", &clash])
            .args(args)
            .output()
            .unwrap()
    };
    let out = berth_clash(&["up", "-d"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let _ = berth_clash(&["down", "-v"]);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "port {tcp}/tcp on 0.0.0.0 is already in use by project {:?} service \"web\"",
            a.project
        )),
        "{stderr}"
    );

    // Removal leaves nothing of project A.
    drop(_echo);
    drop(web_ns);
    a.ok(&["down", "-v"]);
    let bridges: Vec<String> = ["default", "inside"]
        .iter()
        .map(|n| berth_network::bridge::bridge_name(&format!("{}_{n}", a.project)))
        .collect();
    for bridge in &bridges {
        assert!(!testkit::link_exists(bridge), "bridge {bridge} left");
    }
    let rules = Command::new("nft")
        .args(["list", "table", "inet", "berth"])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    for bridge in &bridges {
        assert!(
            !rules.contains(bridge.as_str()),
            "rules of {bridge} left:\n{rules}"
        );
    }
    assert!(!rules.contains(&db.to_string()), "rules for {db} left");
    assert!(a.netns_files().is_empty(), "{:?}", a.netns_files());
    let leases = walk(&a.root.path().join("networks"));
    assert!(
        leases.iter().all(|f| !f.contains(&a.project)),
        "state of project A's networks left: {leases:?}"
    );
}

/// Every file under `dir` (path and contents), for a search.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            out.push(format!("{}: {text}", path.display()));
        }
    }
    out
}
