//! The remaining Compose commands through the `berth` binary, as root: create, events, wait,
//! top, cp, stats and version.

mod common;

use common::stack::{IMAGE, Stack, can_run};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A service that stops at once on TERM, with a named volume at /data.
fn sleeper() -> String {
    format!(
        r#"
services:
  app:
    image: {IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; echo hi > /etc/motd; while :; do sleep 1 & wait $$!; done"]
    volumes:
      - data:/data
volumes:
  data:
"#
    )
}

/// `berth -p PROJECT ARGS` started in the background with its stdout piped.
fn spawn(stack: &Stack, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_ROOT", stack.root.path())
        .env("BERTH_RUN", stack.run.path())
        // As Stack::berth sets them (tests/common/stack.rs).
        .env("BERTH_CONFIG", stack.dir.path().join("berth-config.toml"))
        .env("BERTH_DNS_UPSTREAMS", "127.0.0.1:9")
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_FILE")
        .current_dir(stack.dir.path())
        .arg("-p")
        .arg(&stack.project)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berth")
}

/// Ends a child we started (by its pid) when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines of a child's stdout, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn version_prints_berths_version() {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("berth version {version}\n")
    );
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["version", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], version);
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["version", "--short"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{version}\n"));
}

#[test]
fn create_then_start_then_top_stats_and_cp() {
    if !can_run("create_then_start_then_top_stats_and_cp") {
        return;
    }
    let stack = Stack::new("more", &sleeper());
    let name = format!("{}-app-1", stack.project);

    // create makes the container without starting it.
    stack.ok(&["create"]);
    assert_eq!(stack.states("app"), ["created"], "{:?}", stack.ps());
    stack.ok(&["start"]);
    assert_eq!(stack.states("app"), ["running"], "{:?}", stack.ps());

    // top lists the container's processes under Compose's columns.
    stack.eventually("top shows the loop", Duration::from_secs(10), || {
        let out = stack.berth_elsewhere(&["top"]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().next().is_some_and(|h| {
            h.split_whitespace().collect::<Vec<_>>()
                == [
                    "SERVICE", "#", "UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD",
                ]
        }) && text
            .lines()
            .any(|l| l.starts_with("app ") && l.contains("sh -c"))
    });

    // stats --no-stream shows the container once, as a table and as JSON.
    let table = stack.ok(&["stats", "--no-stream"]);
    let mut rows = table.lines();
    let header = rows.next().unwrap_or_default();
    assert!(
        header.starts_with("CONTAINER ID") && header.contains("MEM USAGE / LIMIT"),
        "{table}"
    );
    assert!(rows.any(|l| l.contains(&name)), "{table}");
    let json = stack.ok(&["stats", "--no-stream", "--format", "json"]);
    let row: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(row["Name"], name);
    assert!(
        row["PIDs"].as_str().unwrap().parse::<u32>().unwrap() >= 1,
        "{row}"
    );

    // cp out of the container: a file written by its process...
    stack.eventually("the motd is written", Duration::from_secs(10), || {
        stack
            .berth(&["cp", "app:/etc/motd", "motd.txt"])
            .status
            .success()
    });
    let host = stack.dir.path();
    assert_eq!(
        std::fs::read_to_string(host.join("motd.txt")).unwrap(),
        "hi\n"
    );

    // ...cp in: a file, then a folder, into the image's filesystem and into the volume.
    stack.write("in.txt", "hello world\n");
    stack.write("folder/inner.txt", "from folder\n");
    stack.ok(&["cp", "in.txt", "app:/tmp/in.txt"]);
    stack.ok(&["cp", "folder", "app:/data"]);
    let out = stack.ok(&[
        "exec",
        "-T",
        "app",
        "cat",
        "/tmp/in.txt",
        "/data/folder/inner.txt",
    ]);
    assert_eq!(out, "hello world\nfrom folder\n");
    let owner = stack.ok(&["exec", "-T", "app", "stat", "-c", "%u:%g", "/tmp/in.txt"]);
    assert_eq!(owner.trim(), "0:0");

    // ...and a folder back out of the volume.
    stack.ok(&["cp", "app:/data/folder", "back"]);
    assert_eq!(
        std::fs::read_to_string(host.join("back/inner.txt")).unwrap(),
        "from folder\n"
    );

    // `-` is a tar stream: out of one place, back into another.
    let tar = Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_ROOT", stack.root.path())
        .env("BERTH_RUN", stack.run.path())
        .env("BERTH_CONFIG", stack.dir.path().join("berth-config.toml"))
        .current_dir(host)
        .args(["-p", &stack.project, "cp", "app:/data/folder", "-"])
        .output()
        .unwrap();
    assert!(tar.status.success(), "{tar:?}");
    let mut back_in = Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_ROOT", stack.root.path())
        .env("BERTH_RUN", stack.run.path())
        .env("BERTH_CONFIG", stack.dir.path().join("berth-config.toml"))
        .current_dir(host)
        .args(["-p", &stack.project, "cp", "-", "app:/root"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut back_in.stdin.take().unwrap(), &tar.stdout).unwrap();
    assert!(back_in.wait().unwrap().success());
    let out = stack.ok(&["exec", "-T", "app", "cat", "/root/folder/inner.txt"]);
    assert_eq!(out, "from folder\n");

    // A symlink in the container cannot lead a copy out of it.
    stack.ok(&["exec", "-T", "app", "ln", "-s", "/", "/tmp/escape"]);
    let marker = host.join("marker.txt");
    std::fs::write(&marker, "host only").unwrap();
    let inside = format!("app:/tmp/escape{}", marker.display());
    let out = stack.berth(&["cp", &inside, "leak.txt"]);
    assert!(
        !out.status.success(),
        "a host file came out of the container"
    );

    // A stopped container is reachable too, through its root filesystem.
    stack.ok(&["stop", "-t", "0"]);
    stack.ok(&["cp", "in.txt", "app:/tmp/while-stopped.txt"]);
    stack.ok(&["cp", "app:/tmp/while-stopped.txt", "out-stopped.txt"]);
    assert_eq!(
        std::fs::read_to_string(host.join("out-stopped.txt")).unwrap(),
        "hello world\n"
    );
}

#[test]
fn events_and_wait_follow_a_container_to_its_end() {
    if !can_run("events_and_wait_follow_a_container_to_its_end") {
        return;
    }
    let stack = Stack::new(
        "morew",
        &format!(
            r#"
services:
  job:
    image: {IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; while [ ! -f /tmp/go ]; do sleep 0.2; done; exit 3"]
"#
        ),
    );
    stack.ok(&["up", "-d"]);
    let mut events = Reaped(spawn(&stack, &["events", "--json"]));
    let event_lines = lines(&mut events.0);
    // The stream is live once a harmless signal (the shell ignores WINCH) shows up in it.
    let mut live = false;
    for _ in 0..50 {
        stack.ok(&["kill", "-s", "SIGWINCH", "job"]);
        if let Ok(line) = event_lines.recv_timeout(Duration::from_millis(500)) {
            live = line.contains("\"kill\"");
            break;
        }
    }
    assert!(live, "events never showed the signal");
    // Drain what else the signals produced.
    while event_lines.recv_timeout(Duration::from_millis(300)).is_ok() {}
    stack.ok(&["restart", "-t", "5", "job"]);

    let mut wait = Reaped(spawn(&stack, &["wait", "job"]));
    let wait_lines = lines(&mut wait.0);
    stack.eventually("the job runs", Duration::from_secs(10), || {
        stack.states("job") == ["running"]
    });
    stack.ok(&["exec", "-T", "job", "touch", "/tmp/go"]);

    let line = wait_lines
        .recv_timeout(Duration::from_secs(30))
        .expect("wait prints the exit");
    let short = stack.ids("job").remove(0);
    let id = line
        .strip_prefix("container \"")
        .and_then(|l| l.strip_suffix("\" exited with status code 3"))
        .unwrap_or_else(|| panic!("wait's line: {line}"))
        .to_string();
    assert!(id.starts_with(&short), "{line}");
    let status = wait.0.wait().unwrap();
    assert_eq!(status.code(), Some(3));

    let mut seen = Vec::new();
    // The restart's own die (code 0) comes first; the job's end is the one with code 3.
    while !seen
        .iter()
        .any(|e: &serde_json::Value| e["action"] == "die" && e["attributes"]["exitCode"] == "3")
    {
        let line = event_lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("events stream ended early; saw {seen:?}"));
        seen.push(serde_json::from_str(&line).unwrap());
    }
    let start = seen
        .iter()
        .find(|e| e["action"] == "start")
        .unwrap_or_else(|| panic!("no start event in {seen:?}"));
    assert_eq!(start["type"], "container");
    assert_eq!(start["service"], "job");
    assert_eq!(start["id"], id);
    assert_eq!(
        start["attributes"]["name"],
        format!("{}-job-1", stack.project)
    );
    assert_eq!(start["attributes"]["image"], IMAGE);
    let die = seen.last().unwrap();
    assert_eq!(die["attributes"]["exitCode"], "3");

    // A stopped container's wait answers at once with its code; --down-project then removes
    // the project.
    let out = stack.berth(&["wait", "--down-project", "job"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(stack.ps().is_empty(), "{:?}", stack.ps());
}

/// A service whose `pre_start` hook writes into its volume, with `exit_code` at the end.
fn hooked(exit_code: u8) -> String {
    format!(
        r#"
services:
  app:
    image: {IMAGE}
    command: ["sh", "-c", "cat /data/init.txt; trap 'exit 0' TERM; while :; do sleep 1 & wait $$!; done"]
    environment: {{WHO: service}}
    volumes:
      - data:/data
    pre_start:
      - command: ["sh", "-c", "echo $$WHO-$$EXTRA >> /data/init.txt; echo bye-{exit_code} >&2; exit {exit_code}"]
        environment: {{EXTRA: hook}}
volumes:
  data:
"#
    )
}

#[test]
fn pre_start_hooks_run_once_before_the_start_and_a_failing_one_fails_up() {
    if !can_run("pre_start_hooks_run_once_before_the_start_and_a_failing_one_fails_up") {
        return;
    }
    let stack = Stack::new("prestart", &hooked(0));

    // The hook ran before the service, in the service's volume, with both environments.
    stack.ok(&["up", "-d"]);
    assert_eq!(stack.states("app"), ["running"], "{:?}", stack.ps());
    stack.eventually(
        "the service read the hook's file",
        Duration::from_secs(10),
        || stack.ok(&["logs", "app"]).contains("service-hook"),
    );
    // Its container is gone.
    assert_eq!(stack.ps().len(), 1, "{:?}", stack.ps());

    // A second up with nothing changed runs nothing.
    stack.ok(&["up", "-d"]);
    let text = stack.ok(&["exec", "-T", "app", "cat", "/data/init.txt"]);
    assert_eq!(text.lines().count(), 1, "{text}");

    // An up that starts the stopped service runs them again (Compose's rule: when none of
    // the service's containers runs).
    stack.ok(&["stop"]);
    stack.ok(&["up", "-d"]);
    let text = stack.ok(&["exec", "-T", "app", "cat", "/data/init.txt"]);
    assert_eq!(text.lines().count(), 2, "{text}");

    // A failing hook fails up, naming the hook and its code; the new container stays created.
    stack.write("compose.yaml", &hooked(3));
    let out = stack.berth(&["up", "-d"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("service \"app\" pre_start[0] exited with code 3"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bye-3"),
        "the error quotes its output: {stderr}"
    );
    assert_eq!(stack.states("app"), ["created"], "{:?}", stack.ps());
    let text = stack.ok(&["run", "--rm", "-T", "app", "cat", "/data/init.txt"]);
    assert_eq!(text.lines().count(), 3, "the hook ran again: {text}");
}

#[test]
fn attached_up_shows_what_pre_start_hooks_print() {
    if !can_run("attached_up_shows_what_pre_start_hooks_print") {
        return;
    }
    let compose = format!(
        r#"
services:
  app:
    image: {IMAGE}
    command: ["echo", "from-the-service"]
    pre_start:
      - command: ["sh", "-c", "echo from-the-hook; echo to-stderr >&2"]
"#
    );
    let stack = Stack::new("prestart-attached", &compose);
    let out = stack.ok(&["up"]);
    assert!(out.contains("app pre_start[0] -> from-the-hook"), "{out}");
    assert!(out.contains("app pre_start[0] -> to-stderr"), "{out}");
    assert!(out.contains("from-the-service"), "{out}");
    // Detached, the hook runs without showing anything.
    stack.ok(&["down"]);
    let out = stack.ok(&["up", "-d"]);
    assert!(!out.contains("pre_start"), "{out}");
}

#[test]
fn a_per_replica_pre_start_hook_runs_for_each_container() {
    if !can_run("a_per_replica_pre_start_hook_runs_for_each_container") {
        return;
    }
    let compose = format!(
        r#"
services:
  app:
    image: {IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $$!; done"]
    deploy: {{replicas: 2}}
    volumes:
      - data:/data
    pre_start:
      - command: ["sh", "-c", "echo once >> /data/log"]
      - command: ["sh", "-c", "echo each >> /data/log"]
        per_replica: true
volumes:
  data:
"#
    );
    let stack = Stack::new("prestart-replicas", &compose);
    stack.ok(&["up", "-d"]);
    assert_eq!(
        stack.states("app"),
        ["running", "running"],
        "{:?}",
        stack.ps()
    );
    let text = stack.ok(&["exec", "-T", "app", "cat", "/data/log"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, ["once", "each", "each"], "{text}");
}
