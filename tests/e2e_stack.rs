//! End to end, through the `berth` binary, as root: a three-tier stack brought up, inspected,
//! changed, scaled and taken down, with its named volume's data surviving `down` and its
//! supervisor killed under it.

mod common;

use common::stack::{IMAGE, Stack, can_run};
use std::time::Duration;

fn three_tier(api_version: &str) -> String {
    format!(
        r#"
services:
  db:
    image: {IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /data; [ -f /data/seed ] || date > /data/seed; echo db ready; while :; do sleep 1 & wait $$!; done"]
    volumes:
      - dbdata:/data
  api:
    image: {IMAGE}
    init: true
    environment:
      API_VERSION: "{api_version}"
    command: ["sh", "-c", "mkdir -p /www/cgi-bin; printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho api $$API_VERSION\n' > /www/cgi-bin/v; chmod +x /www/cgi-bin/v; exec httpd -f -p 8000 -h /www"]
    volumes:
      - /cache
    depends_on: [db]
  web:
    image: {IMAGE}
    init: true
    command: ["sh", "-c", "echo web up; exec httpd -f -p 80 -h /tmp"]
    depends_on: [api]
volumes:
  dbdata:
"#
    )
}

/// Whether `web` reaches the API by its service name and it answers with `version`.
fn api_answers(stack: &Stack, version: &str) -> bool {
    let out = stack.berth(&[
        "exec",
        "-T",
        "web",
        "wget",
        "-qO-",
        "http://api:8000/cgi-bin/v",
    ]);
    String::from_utf8_lossy(&out.stdout).contains(&format!("api {version}"))
}

fn running(stack: &Stack, service: &str, n: usize) -> bool {
    let states = stack.states(service);
    states.len() == n && states.iter().all(|s| s == "running")
}

#[test]
fn a_three_tier_stack_lives_and_dies_through_the_cli() {
    if !can_run("a_three_tier_stack_lives_and_dies_through_the_cli") {
        return;
    }
    let stack = Stack::new("e2e3t", &three_tier("1"));

    // Up, detached: every service runs.
    stack.ok(&["up", "-d"]);
    for svc in ["db", "api", "web"] {
        assert!(running(&stack, svc, 1), "{svc} runs: {:?}", stack.ps());
    }

    // ps and logs work from any directory, without the compose file.
    let ps = stack.berth_elsewhere(&["ps"]);
    let table = String::from_utf8_lossy(&ps.stdout);
    assert!(
        table.contains(&format!("{}-web-1", stack.project)),
        "{table}"
    );
    stack.eventually("db's log line", Duration::from_secs(10), || {
        let out = stack.berth_elsewhere(&["logs", "db"]);
        String::from_utf8_lossy(&out.stdout).contains("db ready")
    });

    // exec reaches the API by its service name through berth's DNS.
    stack.eventually("web reaches api by name", Duration::from_secs(10), || {
        api_answers(&stack, "1")
    });
    // exec passes the exit code through.
    let out = stack.berth(&["exec", "-T", "db", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));

    // A changed service is recreated; its neighbours keep their containers, and it keeps
    // its anonymous volume's data.
    stack.ok(&["exec", "-T", "api", "sh", "-c", "echo kept > /cache/mark"]);
    let (db, api, web) = (stack.ids("db"), stack.ids("api"), stack.ids("web"));
    stack.write("compose.yaml", &three_tier("2"));
    let out = stack.ok(&["up", "-d"]);
    let _ = out;
    assert_eq!(stack.ids("db"), db, "db kept");
    assert_eq!(stack.ids("web"), web, "web kept");
    assert_ne!(stack.ids("api"), api, "api recreated");
    assert_eq!(
        stack.ok(&["exec", "-T", "api", "cat", "/cache/mark"]),
        "kept\n"
    );
    stack.eventually("the new api answers", Duration::from_secs(10), || {
        api_answers(&stack, "2")
    });

    // A second up with nothing changed changes nothing.
    let before = stack.ps();
    stack.ok(&["up", "-d"]);
    let ids = |v: &[serde_json::Value]| {
        let mut ids: Vec<String> = v.iter().map(|c| c["ID"].to_string()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&stack.ps()), ids(&before));

    // Scale up and down, with stable replica numbers.
    stack.ok(&["up", "-d", "--scale", "web=3"]);
    assert!(running(&stack, "web", 3), "{:?}", stack.ps());
    stack.eventually(
        "every web replica answers to its service name",
        Duration::from_secs(10),
        || {
            let out = stack.berth(&["exec", "-T", "api", "nslookup", "web"]);
            let text = String::from_utf8_lossy(&out.stdout);
            text.matches("Address").count() >= 4
        },
    );
    stack.ok(&["up", "-d", "--scale", "web=1"]);
    assert!(running(&stack, "web", 1));
    assert_eq!(stack.ids("web"), web, "replica 1 is the one kept");

    // Named volume data survives down and up...
    let seed = stack.ok(&["exec", "-T", "db", "cat", "/data/seed"]);
    stack.ok(&["down"]);
    assert!(stack.ps().is_empty());
    stack.ok(&["up", "-d"]);
    assert_eq!(stack.ok(&["exec", "-T", "db", "cat", "/data/seed"]), seed);

    // ...the supervisor can die under a running stack...
    let pid = stack.supervisor_pid().expect("a supervisor runs");
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    stack.eventually("the supervisor is gone", Duration::from_secs(5), || {
        !std::path::Path::new(&format!("/proc/{pid}/exe")).exists()
    });
    for svc in ["db", "api", "web"] {
        assert!(
            running(&stack, svc, 1),
            "{svc} still runs: {:?}",
            stack.ps()
        );
    }

    // ...and down -v removes everything, data included, leaving nothing behind.
    stack.ok(&["down", "-v"]);
    assert!(stack.ps().is_empty());
    let volumes = stack.ok(&["volume", "ls", "-q"]);
    assert!(!volumes.contains("dbdata"), "{volumes}");
    assert!(stack.netns_files().is_empty(), "{:?}", stack.netns_files());
    let links = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    let network_state = stack.root.path().join("networks");
    let leftovers: Vec<_> = std::fs::read_dir(&network_state)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        leftovers
            .iter()
            .all(|n| !n.to_string_lossy().contains(&stack.project)),
        "network state left: {leftovers:?}"
    );
    let _ = links;
    assert!(
        stack
            .supervisor_pid()
            .is_none_or(|p| !std::path::Path::new(&format!("/proc/{p}/exe")).exists()),
        "the supervisor ends with its project"
    );
}

#[test]
fn networks_take_their_subnets_from_the_configured_address_pools() {
    if !can_run("networks_take_their_subnets_from_the_configured_address_pools") {
        return;
    }
    let stack = Stack::new(
        "e2epool",
        &format!(
            "services:\n  app:\n    image: {IMAGE}\n    init: true\n    command: [sleep, infinity]\n"
        ),
    );
    // A pool no host route uses, so the network's subnet is its first /24.
    stack.write(
        "berth-config.toml",
        "default-address-pools = [{ base = \"10.213.0.0/16\", size = 24 }]\n",
    );
    stack.ok(&["up", "-d"]);
    let addr = stack.ok(&[
        "exec", "-T", "app", "ip", "-4", "-o", "addr", "show", "eth0",
    ]);
    assert!(addr.contains("10.213."), "{addr}");
    stack.ok(&["down"]);
}

#[test]
fn a_container_whose_network_vanished_as_in_a_reboot_starts_again_with_its_address() {
    if !can_run("a_container_whose_network_vanished_as_in_a_reboot_starts_again_with_its_address") {
        return;
    }
    let stack = Stack::new(
        "e2eboot",
        &format!(
            "services:\n  app:\n    image: {IMAGE}\n    init: true\n    command: [sleep, infinity]\n"
        ),
    );
    // A pool of its own: while its bridge is gone, another test's berth (another state root)
    // must not take its subnet.
    stack.write(
        "berth-config.toml",
        "default-address-pools = [{ base = \"10.214.0.0/16\", size = 24 }]\n",
    );
    stack.ok(&["up", "-d"]);
    let addr = |stack: &Stack| {
        stack.ok(&[
            "exec", "-T", "app", "ip", "-4", "-o", "addr", "show", "eth0",
        ])
    };
    let before = addr(&stack);
    stack.ok(&["stop"]);
    // What a reboot takes away: the namespace (its bind mount) and the bridge.
    let netns = stack
        .run
        .path()
        .join("network/netns")
        .join(format!("{}-app-1", stack.project));
    let unmounted = std::process::Command::new("umount")
        .arg(&netns)
        .status()
        .unwrap();
    assert!(unmounted.success());
    let bridge = berth_network::bridge::bridge_name(&format!("{}_default", stack.project));
    let deleted = std::process::Command::new("ip")
        .args(["link", "del", &bridge])
        .status()
        .unwrap();
    assert!(deleted.success());
    stack.ok(&["start"]);
    let after = addr(&stack);
    let ip = |text: &str| {
        text.split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .map(str::to_string)
    };
    assert!(ip(&before).is_some(), "{before}");
    assert_eq!(ip(&after), ip(&before), "{before} / {after}");
    stack.ok(&["down"]);
}
