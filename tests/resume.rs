//! Coming back after a reboot, through the `berth` binary, as root: `autostart enable`
//! installs and enables the project's unit; a simulated reboot (supervisor and containers
//! killed, mounts, namespaces, bridges and the run directory gone) followed by
//! `berth resume --all` brings the `always` and `unless-stopped` services back, the
//! dependent only once its dependency is healthy, with their volume data and image mounts,
//! while a service its user stopped and a one-shot stay down. Never asserts a duration.

mod common;

use common::stack::{IMAGE, Stack, can_run, seconds};
use std::path::Path;
use std::time::Duration;

/// db gets healthy about 2 s after each start (its marker is in its writable layer, which
/// outlives its runs: it removes it first); web needs it healthy; admin is
/// unless-stopped (and gets stopped by its user); once is a one-shot.
fn stack_text() -> String {
    format!(
        r#"
services:
  db:
    image: {IMAGE}
    init: true
    restart: always
    command: ["sh", "-c", "rm -f /tmp/ready; sleep 2; touch /tmp/ready; exec sleep 3600"]
    healthcheck:
      test: ["CMD-SHELL", "[ -f /tmp/ready ]"]
      interval: 500ms
      timeout: 5s
      retries: 60
    volumes:
      - data:/data
  web:
    image: {IMAGE}
    init: true
    restart: unless-stopped
    command: ["sleep", "3600"]
    depends_on:
      db:
        condition: service_healthy
    volumes:
      - type: image
        source: {IMAGE}
        target: /img
  admin:
    image: {IMAGE}
    init: true
    restart: unless-stopped
    command: ["sleep", "3600"]
  once:
    image: {IMAGE}
    command: ["echo", "done"]
volumes:
  data:
"#
    )
}

fn started_at(stack: &Stack, service: &str) -> f64 {
    seconds(&stack.status(service)["started_at"])
}

fn health(stack: &Stack, service: &str) -> String {
    let row = stack.ps_row(service);
    row["Health"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_rebooted_project_comes_back_in_order_healthy_with_its_data() {
    if !can_run("a_rebooted_project_comes_back_in_order_healthy_with_its_data") {
        return;
    }
    let stack = Stack::new("resume", &stack_text());
    stack.ok(&["up", "-d", "--wait"]);
    stack.ok(&["exec", "-T", "db", "sh", "-c", "echo kept > /data/file"]);
    stack.ok(&["stop", "admin"]);
    assert_eq!(stack.states("once"), ["exited"]);

    // Autostart: the unit, enabled as systemctl would, and what it runs.
    let units = tempfile::tempdir().unwrap();
    let autostart = |action: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_ROOT", stack.root.path())
            .env("BERTH_RUN", stack.run.path())
            .env("BERTH_SYSTEMD_UNIT_DIR", units.path())
            .args(["-p", &stack.project, "autostart", action])
            .current_dir(stack.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "autostart {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = autostart("enable");
    let unit_name = format!("berth-{}.service", stack.project);
    let unit = units.path().join(&unit_name);
    assert!(said.contains(&unit.display().to_string()), "{said}");
    let text = std::fs::read_to_string(&unit).unwrap();
    let root = std::fs::canonicalize(stack.root.path()).unwrap();
    assert!(
        text.contains(&format!(
            "--root {} --project-name {} resume",
            root.display(),
            stack.project
        )),
        "{text}"
    );
    let link = units
        .path()
        .join("multi-user.target.wants")
        .join(&unit_name);
    assert_eq!(std::fs::read_link(&link).unwrap(), unit);
    let status_text = autostart("status");
    assert!(status_text.contains("Autostart: enabled"), "{status_text}");
    assert!(status_text.contains("Services:  db, web"), "{status_text}");

    stack.simulate_reboot(&[&format!("{}_default", stack.project)]);
    assert!(stack.supervisor_pid().is_none());

    // What the init system runs at boot.
    let out = stack.berth_elsewhere(&["resume", "--all"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "resume --all failed:\n{stderr}");
    assert!(stderr.contains("Healthy"), "resume waits for db: {stderr}");

    assert_eq!(stack.states("db"), ["running"]);
    assert_eq!(stack.states("web"), ["running"]);
    assert_eq!(stack.states("admin"), ["exited"], "stopped by its user");
    assert_eq!(stack.states("once"), ["exited"], "a one-shot is not re-run");
    assert_eq!(health(&stack, "db"), "healthy");
    // db turns healthy no sooner than 2 s after its start; web waited for that.
    let (db, web) = (started_at(&stack, "db"), started_at(&stack, "web"));
    assert!(
        web - db >= 2.0,
        "web started {:.2} s after db, before db was healthy",
        web - db
    );
    // The data and the image mount are there.
    let data = stack.ok(&["exec", "-T", "db", "cat", "/data/file"]);
    assert_eq!(data.trim(), "kept");
    stack.ok(&["exec", "-T", "web", "test", "-x", "/img/bin/busybox"]);
    // And the network: web reaches db by name.
    stack.ok(&["exec", "-T", "web", "ping", "-c", "1", "-W", "5", "db"]);

    // Resuming again changes nothing.
    let ids = (stack.ids("db"), stack.ids("web"));
    let before = started_at(&stack, "web");
    stack.ok(&["resume"]);
    assert_eq!((stack.ids("db"), stack.ids("web")), ids);
    assert_eq!(started_at(&stack, "web"), before);

    // Disabled: the unit and its link are gone, and --all passes the project by.
    let said = autostart("disable");
    assert!(said.contains("disabled"), "{said}");
    assert!(!unit.exists() && link.symlink_metadata().is_err());
    stack.simulate_reboot(&[&format!("{}_default", stack.project)]);
    stack.ok(&["resume", "--all"]);
    assert!(
        stack
            .supervisor_pid()
            .is_none_or(|p| !Path::new(&format!("/proc/{p}")).exists())
    );
    // Until resumed by name (`up` would do as well).
    stack.ok(&["resume"]);
    stack.eventually("db running", Duration::from_secs(30), || {
        stack.states("db") == ["running"]
    });

    // A project taken down after a reboot, before anything resumed it: down finds what the
    // reboot left and removes it all.
    stack.simulate_reboot(&[&format!("{}_default", stack.project)]);
    stack.ok(&["down", "-v"]);
    assert!(stack.ps().is_empty(), "{:?}", stack.ps());
    assert!(stack.netns_files().is_empty(), "{:?}", stack.netns_files());
}
