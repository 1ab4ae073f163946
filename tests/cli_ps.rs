//! The commands that read a project's state (`ps`, `ls`, `logs`, `port`, `container ls`)
//! driven as a user drives them, from a directory without a compose file, against records
//! and log files written into a temporary state root.

use assert_cmd::Command;
use berth::cli::output::docker_time;
use berth::engine::labels;
use berth::engine::logs::time::format_time;
use berth::engine::state::{
    ContainerRecord, ContainerStatus, Endpoint, ImageRecord, MountKind, MountRecord, PortRecord,
    StateRoot,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2026-01-01T00:00:00Z: the log lines' times.
const LOG_BASE: u64 = 1_767_225_600;

struct Fixture {
    dir: tempfile::TempDir,
    state: StateRoot,
    /// Whole seconds, so that Docker's time texts are exact.
    now: SystemTime,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("berth-cli-ps-")
            .tempdir()
            .expect("a temporary directory");
        std::fs::create_dir(dir.path().join("cwd")).unwrap();
        let state = StateRoot::open(dir.path().join("lib"), dir.path().join("run")).unwrap();
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        Fixture {
            dir,
            state,
            now: UNIX_EPOCH + Duration::from_secs(secs),
        }
    }

    fn ago(&self, secs: u64) -> SystemTime {
        self.now - Duration::from_secs(secs)
    }

    /// `berth ARGS...` from an empty directory, with only the state root from the
    /// environment.
    fn berth(&self, args: &[&str]) -> Output {
        self.berth_in(&self.dir.path().join("cwd"), args)
    }

    fn berth_in(&self, cwd: &Path, args: &[&str]) -> Output {
        Command::cargo_bin("berth")
            .expect("the berth binary")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BERTH_ROOT", self.dir.path().join("lib"))
            .env("BERTH_RUN", self.dir.path().join("run"))
            .current_dir(cwd)
            .args(args)
            .output()
            .expect("running berth")
    }

    fn add(&self, record: &ContainerRecord) {
        self.state.create_container_record(record).unwrap();
        self.state
            .update_container_state(&record.id, &record.status)
            .unwrap();
    }

    fn log(&self, record: &ContainerRecord, rotated: Option<u32>, lines: &[(u64, &str, &str)]) {
        let paths = self.state.container_paths(&record.id);
        let path = match rotated {
            Some(n) => paths.rotated_log(n),
            None => paths.log(),
        };
        let mut text = String::new();
        for (secs, stream, log) in lines {
            let time = format_time(UNIX_EPOCH + Duration::new(LOG_BASE + secs, 1));
            let entry = json!({"log": format!("{log}\n"), "stream": stream, "time": time});
            text.push_str(&format!("{entry}\n"));
        }
        std::fs::write(path, text).unwrap();
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "berth failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn failure(out: &Output) -> String {
    assert!(!out.status.success(), "berth should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn record(
    project: &str,
    service: &str,
    name: &str,
    id: &str,
    created: SystemTime,
    status: ContainerStatus,
) -> ContainerRecord {
    let mut l = BTreeMap::new();
    l.insert(labels::PROJECT.to_owned(), project.to_owned());
    l.insert(labels::SERVICE.to_owned(), service.to_owned());
    l.insert(labels::CONTAINER_NUMBER.to_owned(), "1".to_owned());
    l.insert(labels::ONEOFF.to_owned(), "False".to_owned());
    l.insert(
        labels::CONFIG_FILES.to_owned(),
        format!("/srv/{project}/compose.yaml"),
    );
    ContainerRecord {
        id: id.repeat(64 / id.len()),
        name: name.to_owned(),
        labels: l,
        image: ImageRecord {
            reference: "nginx:1.27".into(),
            id: "sha256:abc".into(),
        },
        created,
        spec_path: None,
        restart_policy: None,
        restart_delay: None,
        restart_window: None,
        stop_signal: None,
        stop_grace_period: None,
        endpoints: vec![Endpoint {
            network: format!("{project}_default"),
            aliases: vec![service.to_owned()],
            ipv4: None,
            ipv6: None,
            mac: None,
            links: Vec::new(),
            interface: None,
        }],
        mounts: Vec::new(),
        rootfs: None,
        init: false,
        stdin_open: false,
        command: vec!["nginx".into(), "-g".into(), "daemon off;".into()],
        netns: None,
        ports: Vec::new(),
        log: Default::default(),
        healthcheck: None,
        image_mounts: Vec::new(),
        status,
    }
}

fn running(started: SystemTime) -> ContainerStatus {
    ContainerStatus::default().started(started)
}

fn exited(started: SystemTime, code: i32, finished: SystemTime) -> ContainerStatus {
    running(started).exited(code, false, finished)
}

/// Project `shop`: web running with a port and a volume, db exited, a one-off exited;
/// project `blog`: one running container.
fn stack(f: &Fixture) -> [ContainerRecord; 4] {
    let mut web = record(
        "shop",
        "web",
        "shop-web-1",
        "a1",
        f.ago(3 * 86_400),
        running(f.ago(2 * 3600)),
    );
    web.ports = vec![PortRecord {
        host_ip: None,
        host_port: 8080,
        container_port: 80,
        protocol: "tcp".into(),
    }];
    web.mounts = vec![
        MountRecord {
            kind: MountKind::Volume,
            source: "shop_data".into(),
            target: "/data".into(),
            read_only: false,
        },
        MountRecord {
            kind: MountKind::Tmpfs,
            source: String::new(),
            target: "/tmp".into(),
            read_only: false,
        },
    ];
    let mut db = record(
        "shop",
        "db",
        "shop-db-1",
        "b2",
        f.ago(3 * 86_400),
        exited(f.ago(3600), 0, f.ago(600)),
    );
    db.command = vec!["docker-entrypoint.sh".into(), "postgres".into()];
    db.image.reference = "postgres:16".into();
    let mut run = record(
        "shop",
        "web",
        "shop-web-run-0123",
        "c3",
        f.ago(120),
        exited(f.ago(100), 3, f.ago(90)),
    );
    run.labels
        .insert(labels::ONEOFF.to_owned(), "True".to_owned());
    run.command = vec!["sh".into()];
    let blog = record(
        "blog",
        "app",
        "blog-app-1",
        "d4",
        f.ago(50),
        running(f.ago(45)),
    );
    for r in [&web, &db, &run, &blog] {
        f.add(r);
    }
    [web, db, run, blog]
}

#[test]
fn ps_lists_running_containers_from_the_state_alone() {
    let f = Fixture::new();
    stack(&f);
    assert_eq!(
        ok(&f.berth(&["-p", "shop", "ps"])),
        "NAME         IMAGE        COMMAND                  SERVICE   CREATED      \
         STATUS       PORTS\n\
         shop-web-1   nginx:1.27   \"nginx -g daemon off;\"   web       3 days ago   \
         Up 2 hours   0.0.0.0:8080->80/tcp, [::]:8080->80/tcp\n"
    );
    // --all adds the stopped containers and the one-off, by name; the command is cut.
    let all = ok(&f.berth(&[
        "-p",
        "shop",
        "ps",
        "-a",
        "--format",
        "{{.Name}} {{.Command}} {{.Status}}",
    ]));
    assert_eq!(
        all,
        "shop-db-1 \"docker-entrypoint.s…\" Exited (0) 10 minutes ago\n\
         shop-web-1 \"nginx -g daemon off;\" Up 2 hours\n\
         shop-web-run-0123 \"sh\" Exited (3) About a minute ago\n"
    );
    assert_eq!(
        ok(&f.berth(&[
            "-p",
            "shop",
            "ps",
            "--status",
            "exited",
            "--format",
            "{{.Name}}"
        ])),
        "shop-db-1\nshop-web-run-0123\n"
    );
    assert_eq!(
        ok(&f.berth(&["-p", "shop", "ps", "--filter", "status=running", "-q"])),
        format!("{}\n", "a1".repeat(32))
    );
    assert_eq!(
        ok(&f.berth(&["-p", "shop", "ps", "-a", "--services"])),
        "db\nweb\n"
    );
    assert_eq!(
        ok(&f.berth(&["-p", "shop", "ps", "-a", "db", "--format", "{{.Service}}"])),
        "db\n"
    );
    assert_eq!(ok(&f.berth(&["-p", "nothing", "ps"])).lines().count(), 1);
    let e = failure(&f.berth(&["-p", "shop", "ps", "--filter", "source=x"]));
    assert!(e.contains("not implemented"), "{e}");
}

#[test]
fn ps_json_has_compose_fields() {
    let f = Fixture::new();
    let [web, ..] = stack(&f);
    let text = ok(&f.berth(&["-p", "shop", "ps", "-a", "--format", "json"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].starts_with("{\"Command\":"), "{}", lines[1]);
    assert!(lines[1].contains("\"Name\":\"shop-web-1\""), "{}", lines[1]);
    let labels = web
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let expected = json!({
        "Command": "\"nginx -g daemon off;\"",
        "CreatedAt": docker_time((f.now.duration_since(UNIX_EPOCH).unwrap().as_secs() - 3 * 86_400) as i64),
        "ExitCode": 0,
        "Health": "",
        "ID": "a1a1a1a1a1a1",
        "Image": "nginx:1.27",
        "Labels": labels,
        "LocalVolumes": "1",
        "Mounts": "shop_data",
        "Name": "shop-web-1",
        "Names": "shop-web-1",
        "Networks": "shop_default",
        "Ports": "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp",
        "Project": "shop",
        "Publishers": [
            {"URL": "0.0.0.0", "TargetPort": 80, "PublishedPort": 8080, "Protocol": "tcp"},
            {"URL": "::", "TargetPort": 80, "PublishedPort": 8080, "Protocol": "tcp"}
        ],
        "RunningFor": "3 days ago",
        "Service": "web",
        "Size": "0B",
        "State": "running",
        "Status": "Up 2 hours",
    });
    assert_eq!(serde_json::from_str::<Value>(lines[1]).unwrap(), expected);
    let db: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(db["State"], "exited");
    assert_eq!(db["ExitCode"], 0);
    assert_eq!(db["Publishers"], Value::Null);
    let run: Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(run["ExitCode"], 3);
    // --no-trunc: the whole id.
    let full = ok(&f.berth(&["-p", "shop", "ps", "--no-trunc", "--format", "json"]));
    let full: Value = serde_json::from_str(full.trim()).unwrap();
    assert_eq!(full["ID"], "a1".repeat(32));
}

#[test]
fn ls_lists_projects_by_state() {
    let f = Fixture::new();
    stack(&f);
    assert_eq!(
        ok(&f.berth(&["ls", "--format", "json"])),
        "[{\"Name\":\"blog\",\"Status\":\"running(1)\",\"ConfigFiles\":\"/srv/blog/compose.yaml\"},\
         {\"Name\":\"shop\",\"Status\":\"running(1)\",\"ConfigFiles\":\"/srv/shop/compose.yaml\"}]\n"
    );
    assert_eq!(
        ok(&f.berth(&["ls", "-a"])),
        "NAME                STATUS                  CONFIG FILES\n\
         blog                running(1)              /srv/blog/compose.yaml\n\
         shop                exited(2), running(1)   /srv/shop/compose.yaml\n"
    );
    assert_eq!(
        ok(&f.berth(&["ls", "-q", "--filter", "name=sho"])),
        "shop\n"
    );
}

#[test]
fn logs_tail_each_container_and_interleave_by_time() {
    let f = Fixture::new();
    let [web, db, ..] = stack(&f);
    f.log(
        &web,
        Some(1),
        &[(1, "stdout", "starting"), (3, "stdout", "ready")],
    );
    f.log(&web, None, &[(5, "stdout", "GET /"), (6, "stderr", "oops")]);
    f.log(
        &db,
        None,
        &[
            (2, "stdout", "db init"),
            (4, "stdout", "db ready"),
            (7, "stdout", "db bye"),
        ],
    );
    let out = f.berth(&["-p", "shop", "logs", "--tail", "2", "-t"]);
    assert_eq!(
        ok(&out),
        "db-1   | 2026-01-01T00:00:04.000000001Z db ready\n\
         web-1  | 2026-01-01T00:00:05.000000001Z GET /\n\
         web-1  | 2026-01-01T00:00:06.000000001Z oops\n\
         db-1   | 2026-01-01T00:00:07.000000001Z db bye\n"
    );
    // Both streams on stdout, as Compose's `logs` prints them.
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    // One service, across the rotated file, without prefix.
    assert_eq!(
        ok(&f.berth(&["-p", "shop", "logs", "--no-log-prefix", "web"])),
        "starting\nready\nGET /\noops\n"
    );
    assert_eq!(
        ok(&f.berth(&[
            "-p",
            "shop",
            "logs",
            "--since",
            "2026-01-01T00:00:03Z",
            "--until",
            "2026-01-01T00:00:05Z",
            "--no-color",
        ])),
        "web-1  | ready\ndb-1   | db ready\n"
    );
    // Colored prefixes when asked, Compose's first color being cyan.
    assert_eq!(
        ok(&f.berth(&[
            "--ansi", "always", "-p", "shop", "logs", "--tail", "1", "db"
        ])),
        "\x1b[36mdb-1  | \x1b[0mdb bye\n"
    );
    let e = failure(&f.berth(&["-p", "shop", "logs", "--since", "later"]));
    assert!(
        e.contains("failed to parse value as time or duration"),
        "{e}"
    );
}

#[test]
fn logs_follow_ends_when_the_project_is_gone() {
    let f = Fixture::new();
    let [web, db, run, blog] = stack(&f);
    f.log(&web, None, &[(1, "stdout", "hello")]);
    let root = f.dir.path().join("lib");
    let run_dir = f.dir.path().join("run");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("berth"))
        .env_clear()
        .env("BERTH_ROOT", &root)
        .env("BERTH_RUN", &run_dir)
        .current_dir(f.dir.path().join("cwd"))
        .args(["-p", "shop", "logs", "-f", "--no-log-prefix"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    // A line written while following shows; then the project's containers go away.
    let paths = f.state.container_paths(&web.id);
    let entry = json!({"log": "later\n", "stream": "stdout",
        "time": format_time(UNIX_EPOCH + Duration::from_secs(LOG_BASE + 9))});
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(paths.log())
        .unwrap();
    std::io::Write::write_all(&mut file, format!("{entry}\n").as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    for r in [&web, &db, &run] {
        f.state.remove_container_record(&r.id).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("logs -f did not end when the project's containers were gone");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert_eq!(out, "hello\nlater\n");
    // The other project was not touched.
    assert!(f.state.container(&blog.id).is_ok());
}

#[test]
fn port_prints_the_published_address() {
    let f = Fixture::new();
    stack(&f);
    assert_eq!(
        ok(&f.berth(&["-p", "shop", "port", "web", "80"])),
        "0.0.0.0:8080\n"
    );
    let e = failure(&f.berth(&["-p", "shop", "port", "web", "81"]));
    assert!(e.contains("no port 81/tcp for container shop-web-1"), "{e}");
    let e = failure(&f.berth(&["-p", "shop", "port", "--protocol", "udp", "web", "80"]));
    assert!(e.contains("no port 80/udp"), "{e}");
    let e = failure(&f.berth(&["-p", "shop", "port", "cache", "80"]));
    assert!(e.contains("service \"cache\" is not running"), "{e}");
}

#[test]
fn container_ls_lists_every_project() {
    let f = Fixture::new();
    stack(&f);
    // Docker's tabwriter: cells padded to the widest + 3, at least 10.
    let row = |cells: [&str; 7]| {
        format!(
            "{:<15}{:<13}{:<25}{:<17}{:<16}{:<42}{}\n",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]
        )
    };
    let command = "\"nginx -g daemon off;\"";
    let ports = "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp";
    assert_eq!(
        ok(&f.berth(&["container", "ls"])),
        [
            row([
                "CONTAINER ID",
                "IMAGE",
                "COMMAND",
                "CREATED",
                "STATUS",
                "PORTS",
                "NAMES"
            ]),
            row([
                "d4d4d4d4d4d4",
                "nginx:1.27",
                command,
                "50 seconds ago",
                "Up 45 seconds",
                "",
                "blog-app-1"
            ]),
            row([
                "a1a1a1a1a1a1",
                "nginx:1.27",
                command,
                "3 days ago",
                "Up 2 hours",
                ports,
                "shop-web-1"
            ]),
        ]
        .concat()
    );
    assert_eq!(
        ok(&f.berth(&["container", "ls", "-a", "-q"])),
        "d4d4d4d4d4d4\nc3c3c3c3c3c3\nb2b2b2b2b2b2\na1a1a1a1a1a1\n"
    );
    let json = ok(&f.berth(&["container", "ls", "--format", "json"]));
    let first: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["Names"], "blog-app-1");
    assert!(first.get("Service").is_none() && first.get("Publishers").is_none());
}

#[test]
fn without_compose_file_or_name_compose_s_error() {
    let f = Fixture::new();
    for args in [&["ps"][..], &["logs"], &["port", "web", "80"]] {
        let e = failure(&f.berth(args));
        assert_eq!(e, "no configuration file provided: not found\n");
    }
}

#[test]
fn with_a_compose_file_services_are_checked() {
    let f = Fixture::new();
    stack(&f);
    let dir: PathBuf = f.dir.path().join("project");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        "name: shop\nservices:\n  web:\n    image: nginx:1.27\n",
    )
    .unwrap();
    assert_eq!(
        ok(&f.berth_in(&dir, &["ps", "--format", "{{.Name}}"])),
        "shop-web-1\n"
    );
    let e = failure(&f.berth_in(&dir, &["ps", "db"]));
    assert!(e.contains("no such service: db"), "{e}");
    // Without orphans, only the services of the file.
    assert_eq!(
        ok(&f.berth_in(&dir, &["ps", "-a", "--orphans=false", "--services"])),
        "web\n"
    );
}
