//! Restart policies end to end, through the `berth` binary, as root: a `restart: always`
//! service whose process is killed comes back; a crashing `on-failure:3` service is started
//! again exactly three times, each time after a longer back-off (immediately, then 100 ms,
//! then 200 ms: checked as lower bounds on the gaps between its runs, never as durations of
//! berth's own work); a service its user stopped stays stopped.

mod common;

use common::stack::{IMAGE, Stack, can_run};
use std::time::{Duration, Instant};

fn stack_text() -> String {
    format!(
        r#"
services:
  worker:
    image: {IMAGE}
    init: true
    restart: always
    command: ["sleep", "3600"]
  crash:
    image: {IMAGE}
    restart: on-failure:3
    command: ["sh", "-c", "cat /proc/uptime; exit 1"]
  paced:
    image: {IMAGE}
    command: ["sh", "-c", "cat /proc/uptime; exit 1"]
    deploy:
      restart_policy: {{condition: on-failure, max_attempts: 2, delay: 400ms}}
  windowed:
    image: {IMAGE}
    command: ["sh", "-c", "sleep 1.2; exit 1"]
    deploy:
      restart_policy: {{condition: on-failure, max_attempts: 1, window: 1s}}
"#
    )
}

fn restart_count(stack: &Stack, service: &str) -> u64 {
    stack.status(service)["restart_count"].as_u64().unwrap_or(0)
}

/// The uptimes (seconds) at which `service`'s runs began, from its log.
fn run_starts(stack: &Stack, service: &str) -> Vec<f64> {
    stack
        .ok(&["logs", "--no-log-prefix", service])
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn restart_policies_bring_back_back_off_and_respect_a_stop() {
    if !can_run("restart_policies_bring_back_back_off_and_respect_a_stop") {
        return;
    }
    let stack = Stack::new("restart", &stack_text());
    stack.ok(&["up", "-d"]);

    // on-failure:3: three restarts, then it stays exited.
    stack.eventually("crash gives up", Duration::from_secs(30), || {
        stack.states("crash") == ["exited"] && restart_count(&stack, "crash") == 3
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stack.states("crash"), ["exited"]);
    assert_eq!(restart_count(&stack, "crash"), 3);
    let starts = run_starts(&stack, "crash");
    assert_eq!(starts.len(), 4, "one run and three restarts: {starts:?}");
    let gaps: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("gaps between the crashing service's runs: {gaps:?} s");
    // /proc/uptime counts in hundredths of a second: allow one on each side.
    assert!(
        gaps[1] >= 0.1 - 0.02,
        "second restart after 100 ms: {gaps:?}"
    );
    assert!(
        gaps[2] >= 0.2 - 0.02,
        "third restart after 200 ms: {gaps:?}"
    );
    let ps = stack.ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Name}} {{.RunningFor}} {{.Status}}",
    ]);
    assert!(ps.contains("Exited (1)"), "{ps}");

    // deploy.restart_policy: a fixed delay between attempts, and max_attempts.
    stack.eventually("paced gives up", Duration::from_secs(30), || {
        stack.states("paced") == ["exited"] && restart_count(&stack, "paced") == 2
    });
    let starts = run_starts(&stack, "paced");
    assert_eq!(starts.len(), 3, "{starts:?}");
    assert!(
        starts.windows(2).all(|w| w[1] - w[0] >= 0.4 - 0.02),
        "400 ms between attempts: {starts:?}"
    );
    // A window: runs that last it do not count against max_attempts (1 here).
    stack.eventually("windowed restarted twice", Duration::from_secs(30), || {
        restart_count(&stack, "windowed") >= 2
    });
    stack.ok(&["stop", "windowed"]);

    // always: killed from outside, it comes back.
    let id = stack.ids("worker").remove(0);
    let pid = stack.container_pid(&id).expect("worker runs");
    let killed = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    stack.eventually("worker back", Duration::from_secs(10), || {
        stack.container_pid(&id).is_some_and(|p| p != pid)
    });
    // Reported, not asserted: `bench/` measures it.
    eprintln!("worker running again {:?} after the kill", killed.elapsed());
    assert_eq!(stack.states("worker"), ["running"]);
    assert_eq!(restart_count(&stack, "worker"), 1);

    // Stopped by its user: not undone by the policy.
    stack.ok(&["stop", "worker"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stack.states("worker"), ["exited"]);
    assert!(stack.container_pid(&id).is_none());
}
