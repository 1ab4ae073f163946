//! Health checks end to end, through the `berth` binary, as root: a dependency that becomes
//! healthy after a while holds back the service that needs it healthy; `ps` shows the
//! health; `up --wait` returns once healthy; a service that never gets healthy makes
//! `up --wait` and the dependent's `up -d` fail, naming it. Never asserts a duration.

mod common;

use common::stack::{IMAGE, Stack, can_run, seconds};
use serde_json::Value;
use std::time::Duration;

/// db gets healthy about 3 s after its start; web needs it healthy.
fn slow_db() -> String {
    format!(
        r#"
services:
  db:
    image: {IMAGE}
    init: true
    command: ["sh", "-c", "sleep 3; touch /tmp/ready; exec sleep 3600"]
    healthcheck:
      test: ["CMD-SHELL", "[ -f /tmp/ready ]"]
      interval: 1s
      timeout: 5s
      retries: 30
  web:
    image: {IMAGE}
    init: true
    command: ["sleep", "3600"]
    depends_on:
      db:
        condition: service_healthy
"#
    )
}

#[test]
fn a_dependency_holds_its_dependent_until_healthy() {
    if !can_run("a_dependency_holds_its_dependent_until_healthy") {
        return;
    }
    let stack = Stack::new("health", &slow_db());
    let out = stack.berth(&["up", "-d"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "up -d failed:\n{stderr}");
    // Progress shows the wait, in Compose's words.
    let db = format!("Container {}-db-1", stack.project);
    assert!(stderr.contains(&format!("{db} Waiting")), "{stderr}");
    assert!(stderr.contains(&format!("{db} Healthy")), "{stderr}");

    // db was healthy before web started: its last successful probe began before web's start.
    let db_status = stack.status("db");
    let web_status = stack.status("web");
    assert_eq!(db_status["health"]["status"], "healthy", "{db_status}");
    let web_started = seconds(&web_status["started_at"]);
    let first_success = db_status["health"]["log"]
        .as_array()
        .and_then(|log| log.iter().find(|p| p["exit_code"] == 0))
        .map(|p| seconds(&p["end"]))
        .expect("a successful probe in db's log");
    assert!(web_started > 0.0, "web started: {web_status}");
    assert!(
        first_success <= web_started,
        "db healthy ({first_success}) before web started ({web_started})"
    );
    // Failed probes are recorded too, with their exit code.
    assert!(
        db_status["health"]["log"]
            .as_array()
            .is_some_and(|log| log.iter().any(|p| p["exit_code"] == 1)),
        "{db_status}"
    );

    // ps shows the health.
    let db_ps = stack.ps_row("db");
    assert_eq!(db_ps["Health"], "healthy", "{db_ps}");
    assert!(
        db_ps["Status"]
            .as_str()
            .unwrap_or("")
            .ends_with("(healthy)"),
        "{db_ps}"
    );
    assert_eq!(stack.ps_row("web")["Health"], "", "web has no check");
    let table = String::from_utf8_lossy(&stack.berth_elsewhere(&["ps"]).stdout).into_owned();
    assert!(table.contains("(healthy)"), "{table}");
    // inspect shows the health with the probes' last outputs and exit codes.
    let inspected: Value =
        serde_json::from_str(&stack.ok(&["inspect", &format!("{}-db-1", stack.project)])).unwrap();
    let health = &inspected[0]["State"]["Health"];
    assert_eq!(health["Status"], "healthy", "{inspected}");
    let log = health["Log"].as_array().expect("probe log");
    assert!(log.iter().any(|p| p["ExitCode"] == 1), "{inspected}");
    assert_eq!(log.last().unwrap()["ExitCode"], 0, "{inspected}");

    // A restart starts over as `starting`, then gets healthy again (the file is in the
    // container's writable layer, so it stays).
    stack.ok(&["restart", "db"]);
    stack.eventually("db healthy again", Duration::from_secs(30), || {
        stack.ps_row("db")["Health"] == "healthy"
    });
}

#[test]
fn up_wait_returns_once_healthy() {
    if !can_run("up_wait_returns_once_healthy") {
        return;
    }
    let stack = Stack::new("hwait", &slow_db());
    let out = stack.berth(&["up", "--wait", "--wait-timeout", "120"]);
    assert!(
        out.status.success(),
        "up --wait failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Once it returns, db is healthy and web runs: no polling needed.
    assert_eq!(stack.ps_row("db")["Health"], "healthy");
    assert_eq!(stack.ps_row("web")["State"], "running");
}

fn never_healthy() -> String {
    format!(
        r#"
services:
  sick:
    image: {IMAGE}
    init: true
    command: ["sleep", "3600"]
    healthcheck:
      test: ["CMD-SHELL", "echo db not ready; false"]
      interval: 1s
      retries: 2
  needy:
    image: {IMAGE}
    init: true
    command: ["sleep", "3600"]
    depends_on:
      sick:
        condition: service_healthy
"#
    )
}

#[test]
fn a_service_that_never_gets_healthy_fails_up() {
    if !can_run("a_service_that_never_gets_healthy_fails_up") {
        return;
    }
    let stack = Stack::new("hsick", &never_healthy());
    let sick = format!("{}-sick-1", stack.project);

    // The dependent's up fails naming the dependency; the dependent is created only.
    let out = stack.berth(&["up", "-d"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "up -d succeeded:\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "dependency failed to start: container {sick} is unhealthy (last check: exit 1: db not ready)"
        )),
        "{stderr}"
    );
    assert_eq!(stack.states("needy"), ["created"]);
    let sick_ps = stack.ps_row("sick");
    assert_eq!(sick_ps["Health"], "unhealthy", "{sick_ps}");
    assert!(
        sick_ps["Status"]
            .as_str()
            .unwrap_or("")
            .ends_with("(unhealthy)"),
        "{sick_ps}"
    );
    // Its probes' output and exit codes are kept.
    let status = stack.status("sick");
    assert!(
        status["health"]["failing_streak"].as_u64().unwrap_or(0) >= 2,
        "{status}"
    );

    // up --wait of the service alone fails naming it.
    let out = stack.berth(&["up", "--wait", "sick"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "up --wait succeeded:\n{stderr}");
    assert!(
        stderr.contains(&format!("container {sick} is unhealthy")),
        "{stderr}"
    );
}

#[test]
fn up_wait_times_out_and_requires_a_check_for_service_healthy() {
    if !can_run("up_wait_times_out_and_requires_a_check_for_service_healthy") {
        return;
    }
    let stack = Stack::new(
        "htime",
        &format!(
            r#"
services:
  slow:
    image: {IMAGE}
    init: true
    command: ["sleep", "3600"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      start_period: 1h
  plain:
    image: {IMAGE}
    init: true
    command: ["sleep", "3600"]
  needs-check:
    image: {IMAGE}
    init: true
    command: ["sleep", "3600"]
    profiles: [checks]
    depends_on:
      plain:
        condition: service_healthy
  crash:
    image: {IMAGE}
    command: ["sh", "-c", "exit 1"]
    profiles: [crash]
  after-crash:
    image: {IMAGE}
    init: true
    command: ["sleep", "3600"]
    profiles: [crash]
    depends_on:
      crash:
        condition: service_healthy
"#
        ),
    );
    // Failures in the start period do not count: `slow` stays starting until the timeout.
    let out = stack.berth(&["up", "--wait", "--wait-timeout", "3", "slow"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("application not healthy after 3s"),
        "{stderr}"
    );
    assert_eq!(stack.ps_row("slow")["Health"], "starting");
    assert!(
        stack.ps_row("slow")["Status"]
            .as_str()
            .unwrap_or("")
            .ends_with("(health: starting)")
    );

    // service_healthy on a service without a check is an error, as in Compose.
    let out = stack.berth(&["--profile", "checks", "up", "-d", "needs-check"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "container {}-plain-1 has no healthcheck configured",
            stack.project
        )),
        "{stderr}"
    );

    // A dependency that exits is reported with its exit code; the dependent stays created.
    let out = stack.berth(&["--profile", "crash", "up", "-d", "after-crash"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "dependency failed to start: container {}-crash-1 exited (1)",
            stack.project
        )),
        "{stderr}"
    );
    assert_eq!(stack.states("after-crash"), ["created"]);
}

#[test]
fn up_wait_counts_a_completed_one_shot_as_done() {
    if !can_run("up_wait_counts_a_completed_one_shot_as_done") {
        return;
    }
    let stack = Stack::new(
        "hshot",
        &format!(
            r#"
services:
  oneshot:
    image: {IMAGE}
    command: ["echo", "hello world"]
  longrunning:
    image: {IMAGE}
    init: true
    command: ["sleep", "3600"]
    depends_on:
      oneshot:
        condition: service_completed_successfully
  failing:
    image: {IMAGE}
    command: ["sh", "-c", "exit 3"]
    profiles: [failing]
"#
        ),
    );
    let out = stack.berth(&["up", "--wait", "-d"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "up --wait failed:\n{stderr}");
    assert!(
        stderr.contains(&format!("Container {}-oneshot-1 Exited", stack.project)),
        "{stderr}"
    );
    assert_eq!(stack.states("longrunning"), ["running"]);
    assert_eq!(stack.states("oneshot"), ["exited"]);

    // A service that exits non-zero makes up --wait fail, naming its container.
    let out = stack.berth(&["--profile", "failing", "up", "--wait", "failing"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("container {}-failing-1 exited (3)", stack.project)),
        "{stderr}"
    );
}
