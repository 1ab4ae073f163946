//! The per-project supervisor, driven through its client as the CLI drives it: containers
//! prepared by hand (record, spec, busybox rootfs), started by a supervisor that
//! `SupervisorClient::ensure` spawns from the `berth` binary; log capture, stop, restart
//! policies, events, wait, and the take-over after the supervisor is killed.
//!
//! Needs root and a static busybox; without them it fails under `BERTH_REQUIRE_PRIVILEGED=1`
//! and otherwise says so and returns early.

#![allow(dead_code)]

#[path = "../runtime/tests/support/mod.rs"]
mod support;

#[path = "../runtime/tests/support/container.rs"]
mod container;

use berth::engine::labels;
use berth::engine::logs::{LogEntry, Stream};
use berth::engine::state::{
    ContainerRecord, ContainerStatus, HealthCheck, HealthState, HealthStatus, ImageRecord,
    LogOptions, ProjectRecord, RecordedState, StateRoot,
};
use berth::supervisor::{Action, Event, SupervisorClient};
use berth_runtime::container::Runtime;
use berth_runtime::container::defaults::docker_spec;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// How long to wait for something that should happen soon (never a timing assertion: only a
/// bound that turns a hang into a failure).
const PATIENCE: Duration = Duration::from_secs(30);

/// A state root, a project, the containers made for it and the supervisors started; cleans
/// everything up when dropped, also after a failure.
struct Project {
    root: tempfile::TempDir,
    run: tempfile::TempDir,
    state: StateRoot,
    name: String,
    rootfs: Vec<container::Rootfs>,
    ids: Vec<String>,
    supervisors: Vec<u32>,
}

impl Project {
    fn new() -> Project {
        let root = tempfile::Builder::new()
            .prefix("berth-sup-root-")
            .tempdir()
            .unwrap();
        let run = tempfile::Builder::new()
            .prefix("berth-sup-run-")
            .tempdir()
            .unwrap();
        let state = StateRoot::open(root.path(), run.path()).unwrap();
        let name = container::unique("suptest");
        // As the executor does before it starts anything.
        state
            .save_project(&ProjectRecord {
                name: name.clone(),
                working_dir: root.path().to_path_buf(),
                config_files: Vec::new(),
                env_files: Vec::new(),
                networks: Vec::new(),
                volumes: Vec::new(),
                created: SystemTime::now(),
                autostart: false,
            })
            .unwrap();
        Project {
            name,
            root,
            run,
            state,
            rootfs: Vec::new(),
            ids: Vec::new(),
            supervisors: Vec::new(),
        }
    }

    /// Records a container of service `service` running `script` under `sh -c`.
    fn container(&mut self, service: &str, script: &str, restart: Option<&str>) -> String {
        let id = format!(
            "{:x}{:08x}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let rootfs = container::busybox_rootfs();
        let record = ContainerRecord {
            id: id.clone(),
            name: format!("{}-{service}-1", self.name),
            labels: BTreeMap::from([
                (labels::PROJECT.to_string(), self.name.clone()),
                (labels::SERVICE.to_string(), service.to_string()),
            ]),
            image: ImageRecord {
                reference: "busybox".into(),
                id: "sha256:0".into(),
            },
            created: SystemTime::now(),
            spec_path: None,
            restart_policy: restart.map(str::to_string),
            restart_delay: None,
            restart_window: None,
            stop_signal: None,
            stop_grace_period: Some(10),
            endpoints: Vec::new(),
            mounts: Vec::new(),
            rootfs: Some(rootfs.path()),
            init: false,
            stdin_open: false,
            command: vec!["sh".into(), "-c".into(), script.into()],
            netns: None,
            ports: Vec::new(),
            log: LogOptions::default(),
            healthcheck: None,
            image_mounts: Vec::new(),

            status: ContainerStatus::default(),
        };
        self.state.create_container_record(&record).unwrap();
        let spec = docker_spec(&["sh", "-c", script]);
        let paths = self.state.container_paths(&id);
        std::fs::write(paths.spec(), serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
        self.rootfs.push(rootfs);
        self.ids.push(id.clone());
        id
    }

    fn client(&mut self) -> SupervisorClient {
        let c = SupervisorClient::ensure_with(&self.state, &self.name, Path::new(BERTH))
            .expect("a supervisor");
        if !self.supervisors.contains(&c.pid()) {
            self.supervisors.push(c.pid());
        }
        c
    }

    fn record(&self, id: &str) -> ContainerRecord {
        self.state.container(id).unwrap()
    }

    fn entries(&self, id: &str) -> Vec<LogEntry> {
        std::fs::read_to_string(self.state.container_paths(id).log())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a json-file log line"))
            .collect()
    }

    /// The pid of `id`'s process as the supervisor reports it, once it runs.
    fn pid_of(&mut self, id: &str) -> Option<i32> {
        let status = self.client().status().unwrap();
        status
            .containers
            .iter()
            .find(|c| c.id == id && c.state == RecordedState::Running)
            .and_then(|c| c.pid)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.state.supervisor_log(&self.name));
            eprintln!("--- supervisor log\n{}", log.unwrap_or_default());
        }
        // The supervisor the pid file names, whether or not this test saw it start (read
        // first: a supervisor that exits removes it).
        if let Some(pid) = std::fs::read_to_string(self.state.supervisor_pid_file(&self.name))
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            && !self.supervisors.contains(&pid)
        {
            self.supervisors.push(pid);
        }
        if let Ok(Some(mut c)) = SupervisorClient::connect(&self.state, &self.name) {
            if !self.supervisors.contains(&c.pid()) {
                self.supervisors.push(c.pid());
            }
            for id in &self.ids {
                let _ = c.stop(id, Some(1));
            }
            let _ = c.shutdown(true);
        }
        // Whatever still runs (a failure while no supervisor watched): delete it.
        if let Ok(rt) = Runtime::new(self.state.runtime_dir()) {
            let rt = rt.with_helper(BERTH);
            for id in &self.ids {
                if let Ok(c) = rt.load(id) {
                    let _ = c.delete();
                }
            }
        }
        // The run directory's namespace directory is a bind mount of its own.
        for _ in 0..4 {
            let _ = berth_network::netns::release_dir(&self.state.network_run_dir().join("netns"));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for pid in &self.supervisors {
            let pid = nix::unistd::Pid::from_raw(*pid as i32);
            while nix::sys::signal::kill(pid, None).is_ok() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if nix::sys::signal::kill(pid, None).is_ok() {
                eprintln!("cleanup: supervisor {pid} hangs; killing it");
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// Polls `check` until it gives a value, failing after PATIENCE.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alive(pid: i32) -> bool {
    // A zombie is not alive: check /proc state.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

// The trap comes first: pid 1 of a pid namespace ignores a SIGTERM it has no handler for, and
// the tests stop the containers once their output shows that the trap is set.
const HELLO: &str = "trap 'exit 0' TERM; echo hello; echo oops >&2; while :; do sleep 0.1; done";
const TICKS: &str =
    "trap 'exit 0' TERM; i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.2; done";

#[test]
fn supervisor_runs_restarts_and_takes_over_containers() {
    if !container::privileged("supervisor_runs_restarts_and_takes_over_containers", &[]) {
        return;
    }
    let mut p = Project::new();
    let web = p.container("web", HELLO, None);
    let always = p.container("worker", TICKS, Some("always"));

    // Events, from a connection of their own.
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let feed = p.client().events().unwrap();
    let sink = events.clone();
    std::thread::spawn(move || {
        for e in feed.flatten() {
            sink.lock().unwrap().push(e);
        }
    });

    // Start; both streams reach the log file.
    p.client().start(&web).unwrap();
    p.client().start(&web).unwrap(); // starting a running container does nothing
    eventually("hello and oops in the log", || {
        let e = p.entries(&web);
        let out = e
            .iter()
            .any(|e| e.log == "hello\n" && e.stream == Stream::Stdout);
        let err = e
            .iter()
            .any(|e| e.log == "oops\n" && e.stream == Stream::Stderr);
        (out && err).then_some(())
    });
    assert_eq!(p.record(&web).status.state, RecordedState::Running);

    // Wait answers when it ends; Stop returns the exit code (the script traps TERM: 0).
    let mut waiter = p.client();
    let web2 = web.clone();
    let waited = std::thread::spawn(move || waiter.wait(&web2));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(p.client().stop(&web, Some(10)).unwrap(), 0);
    assert_eq!(waited.join().unwrap().unwrap(), 0);
    let r = p.record(&web);
    assert_eq!(r.status.state, RecordedState::Exited);
    assert_eq!(r.status.exit_code, Some(0));
    assert!(
        !p.state.runtime_dir().join(&web).exists(),
        "the runtime container is deleted after its exit"
    );
    // Started again from the same record and spec.
    p.client().start(&web).unwrap();
    eventually("web running again", || p.pid_of(&web));
    eventually("hello again", || {
        (p.entries(&web)
            .iter()
            .filter(|e| e.log == "hello\n")
            .count()
            == 2)
            .then_some(())
    });
    assert_eq!(p.client().stop(&web, Some(10)).unwrap(), 0);

    // restart: always brings a container killed from outside back.
    p.client().start(&always).unwrap();
    let first = eventually("worker running", || p.pid_of(&always));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let second = eventually("worker restarted", || {
        p.pid_of(&always).filter(|pid| *pid != first)
    });
    assert!(alive(second));
    let r = p.record(&always);
    assert_eq!(r.status.state, RecordedState::Running);
    assert!(r.status.restart_count >= 1, "{:?}", r.status);
    let ticks = p.entries(&always).len();
    eventually("ticks of the restarted worker", || {
        (p.entries(&always).len() > ticks + 1).then_some(())
    });

    // Not while containers run.
    let refused = p.client().shutdown(false).unwrap_err().to_string();
    assert!(refused.contains("still runs containers"), "{refused}");

    // Stopped by the user: stays stopped.
    assert_eq!(p.client().stop(&always, Some(10)).unwrap(), 0);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(p.record(&always).status.state, RecordedState::Exited);
    assert_eq!(p.pid_of(&always), None);

    // kill -9 of the supervisor: the container runs on; a new supervisor takes it over.
    p.client().start(&always).unwrap();
    let pid = eventually("worker running", || p.pid_of(&always));
    let ticks = p.entries(&always).len();
    eventually("ticks of the worker", || {
        (p.entries(&always).len() > ticks + 1).then_some(())
    });
    let old = p.client().pid();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    eventually("the old supervisor gone", || {
        SupervisorClient::connect(&p.state, &p.name)
            .unwrap()
            .is_none()
            .then_some(())
    });
    assert!(alive(pid), "the container survives its supervisor");
    let mut fresh = p.client();
    assert_ne!(fresh.pid(), old);
    let adopted = fresh.status().unwrap();
    let entry = adopted.containers.iter().find(|c| c.id == always).unwrap();
    assert_eq!(
        (entry.state, entry.pid),
        (RecordedState::Running, Some(pid))
    );
    // Logs continue under the new supervisor.
    let before = p.entries(&always).len();
    eventually("new log lines", || {
        (p.entries(&always).len() > before + 2).then_some(())
    });
    // Stop works; the exit code of a process that was not our child is unknown (255).
    let code = p.client().stop(&always, Some(10)).unwrap();
    assert_eq!(code, 255);
    assert_eq!(p.record(&always).status.state, RecordedState::Exited);
    assert!(!alive(pid));

    // A container that died while no supervisor watched comes back by its policy.
    p.client().start(&always).unwrap();
    let pid = eventually("worker running", || p.pid_of(&always));
    let old = p.client().pid();
    for victim in [old as i32, pid] {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(victim),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    }
    eventually("both gone", || {
        (!alive(pid) && !alive(old as i32)).then_some(())
    });
    let back = eventually("worker restarted by the new supervisor", || {
        p.pid_of(&always).filter(|new| *new != pid)
    });
    assert!(alive(back));
    let ticks = p.entries(&always).len();
    eventually("ticks of the worker", || {
        (p.entries(&always).len() > ticks + 1).then_some(())
    });
    assert_eq!(p.client().stop(&always, Some(10)).unwrap(), 0);

    // The events of the first supervisor's life.
    let seen = events.lock().unwrap().clone();
    let of = |id: &str, action: Action| {
        seen.iter()
            .filter(|e| e.id == id && e.action == action)
            .count()
    };
    assert!(of(&web, Action::Start) >= 2, "{seen:#?}");
    assert!(of(&web, Action::Stop) >= 2, "{seen:#?}");
    assert!(
        seen.iter().any(|e| e.id == web
            && e.action == Action::Die
            && e.attributes.get("exitCode").map(String::as_str) == Some("0")),
        "{seen:#?}"
    );
    assert!(of(&always, Action::Restart) >= 1, "{seen:#?}");
    let start = seen.iter().find(|e| e.action == Action::Start).unwrap();
    assert_eq!(start.project, p.name);
    assert_eq!(start.service, "web");

    // Nothing runs: the supervisor may go.
    let mut last = p.client();
    last.forget(&web).unwrap();
    last.shutdown(false).unwrap();
    eventually("the supervisor gone", || {
        SupervisorClient::connect(&p.state, &p.name)
            .unwrap()
            .is_none()
            .then_some(())
    });
}

#[test]
fn racing_clients_end_with_one_supervisor() {
    if !container::privileged("racing_clients_end_with_one_supervisor", &[]) {
        return;
    }
    let mut p = Project::new();
    let state = p.state.clone();
    let name = p.name.clone();
    let racers: Vec<_> = (0..3)
        .map(|_| {
            let (state, name) = (state.clone(), name.clone());
            std::thread::spawn(move || {
                SupervisorClient::ensure_with(&state, &name, Path::new(BERTH)).map(|c| c.pid())
            })
        })
        .collect();
    let pids: Vec<u32> = racers
        .into_iter()
        .map(|r| r.join().unwrap().expect("a supervisor"))
        .collect();
    p.supervisors.extend(pids.iter().copied());
    assert!(pids.iter().all(|pid| *pid == pids[0]), "{pids:?}");
    p.client().shutdown(false).unwrap();
}

#[test]
fn published_ports_are_held_while_running_and_conflicts_name_the_owner() {
    if !container::privileged(
        "published_ports_are_held_while_running_and_conflicts_name_the_owner",
        &[],
    ) {
        return;
    }
    let mut p = Project::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let publish = |p: &Project, id: &str| {
        let mut r = p.record(id);
        r.ports = vec![berth::engine::state::PortRecord {
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: port,
            container_port: 80,
            protocol: "tcp".into(),
        }];
        p.state.save_container_record(&r).unwrap();
    };
    let web = p.container("web", HELLO, None);
    let other = p.container("other", HELLO, None);
    publish(&p, &web);
    publish(&p, &other);

    p.client().start(&web).unwrap();
    // Held: nobody else can bind it.
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());
    let taken = p.client().start(&other).unwrap_err().to_string();
    let expected = format!(
        "port {port}/tcp on 127.0.0.1 is already in use by project {:?} service \"web\"",
        p.name
    );
    assert!(taken.contains(&expected), "{taken}");
    assert_eq!(p.record(&other).status.state, RecordedState::Created);

    // Released at the exit.
    eventually("hello", || {
        p.entries(&web)
            .iter()
            .any(|e| e.log == "hello\n")
            .then_some(())
    });
    assert_eq!(p.client().stop(&web, Some(10)).unwrap(), 0);
    let foreign = std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    let taken = p.client().start(&web).unwrap_err().to_string();
    assert!(taken.contains("by another program"), "{taken}");
    drop(foreign);
    p.client().start(&other).unwrap();
    eventually("other running", || p.pid_of(&other));
    eventually("hello from other", || {
        p.entries(&other)
            .iter()
            .any(|e| e.log == "hello\n")
            .then_some(())
    });
    assert_eq!(p.client().stop(&other, Some(10)).unwrap(), 0);
    p.client().shutdown(false).unwrap();
}

/// A network of the test's own (state in the project's root, its own firewall table and
/// address pool), removed with everything attached when dropped.
struct TestNetwork {
    networks: berth_network::Networks,
    name: String,
    attached: Vec<String>,
    rt: tokio::runtime::Runtime,
}

impl Drop for TestNetwork {
    fn drop(&mut self) {
        for c in &self.attached {
            let _ = self
                .rt
                .block_on(self.networks.disconnect(&self.name, c, true));
            let _ = self.networks.remove_netns(c);
        }
        if let Err(e) = self.rt.block_on(self.networks.remove(&self.name)) {
            eprintln!("cleanup: network {}: {e}", self.name);
        }
    }
}

#[test]
fn running_containers_answer_to_their_names_on_the_project_network() {
    use berth_network::testkit;
    use hickory_proto::rr::RecordType;
    use std::net::SocketAddr;
    if !container::privileged(
        "running_containers_answer_to_their_names_on_the_project_network",
        &["nft", "ip"],
    ) {
        return;
    }
    testkit::egress_guard();
    let mut p = Project::new();
    let mut options =
        berth_network::Options::new(p.state.networks_dir(), p.state.network_run_dir());
    options.pools_v4 = vec![berth_network::ipam::AddressPool {
        base: "10.231.0.0/16".parse().unwrap(),
        size: 24,
    }];
    options.firewall_table = testkit::unique("berth_s");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut net = TestNetwork {
        networks: berth_network::Networks::open(options).unwrap(),
        name: format!("{}_default", p.name),
        attached: Vec::new(),
        rt,
    };
    // Internal: nothing unknown is forwarded to the host's resolver.
    let request = berth_network::ipam::NetworkRequest {
        name: net.name.clone(),
        internal: true,
        ..Default::default()
    };
    let record = net
        .rt
        .block_on(net.networks.create(&request, None))
        .unwrap();
    let gateway = record.subnets[0].gateway;

    let web = p.container("web", HELLO, None);
    let mut r = p.record(&web);
    net.attached.push(r.name.clone());
    let netns = net.rt.block_on(net.networks.create_netns(&r.name)).unwrap();
    let info = net
        .rt
        .block_on(net.networks.connect(
            &netns,
            &net.name,
            &berth_network::EndpointRequest {
                container: r.name.clone(),
                ifname: "eth0".into(),
                default_route: true,
                ..Default::default()
            },
        ))
        .unwrap();
    let address = info.addresses[0].0;
    r.endpoints = vec![berth::engine::state::Endpoint {
        network: net.name.clone(),
        aliases: vec!["web".into(), r.name.clone(), "frontend".into()],
        ipv4: Some(address),
        ipv6: None,
        mac: None,
        links: Vec::new(),
        interface: None,
    }];
    r.netns = Some(net.networks.netns_path(&r.name));
    p.state.save_container_record(&r).unwrap();
    // The container joins the prepared namespace, as the executor's spec says.
    let mut spec = docker_spec(&["sh", "-c", HELLO]);
    let linux = spec.linux_mut().as_mut().unwrap();
    let namespaces = linux
        .namespaces()
        .clone()
        .unwrap()
        .into_iter()
        .map(|mut n| {
            if n.typ() == oci_spec::runtime::LinuxNamespaceType::Network {
                n.set_path(Some(net.networks.netns_path(&r.name)));
            }
            n
        })
        .collect();
    linux.set_namespaces(Some(namespaces));
    std::fs::write(
        p.state.container_paths(&web).spec(),
        serde_json::to_vec_pretty(&spec).unwrap(),
    )
    .unwrap();

    let query = |name: &str| {
        testkit::dns_query(
            Some(&netns),
            SocketAddr::new(gateway, 53),
            name,
            RecordType::A,
            Duration::from_secs(3),
        )
    };
    p.client().start(&web).unwrap();
    for name in ["web", "frontend", r.name.as_str()] {
        let reply = eventually("an answer", || query(name).ok());
        assert_eq!(reply.addresses, vec![address], "{name}: {reply:?}");
    }
    eventually("hello", || {
        p.entries(&web)
            .iter()
            .any(|e| e.log == "hello\n")
            .then_some(())
    });
    assert_eq!(p.client().stop(&web, Some(10)).unwrap(), 0);
    // Gone with its process.
    let reply = query("web").unwrap();
    assert!(reply.addresses.is_empty(), "{reply:?}");
    p.client().shutdown(false).unwrap();
    drop(netns);
}

#[test]
fn pause_kill_and_forget() {
    if !container::privileged("pause_kill_and_forget", &[]) {
        return;
    }
    let mut p = Project::new();
    let worker = p.container("worker", TICKS, Some("always"));
    p.client().start(&worker).unwrap();
    eventually("worker running", || p.pid_of(&worker));
    eventually("ticks", || (p.entries(&worker).len() > 1).then_some(()));

    p.client().pause(&worker).unwrap();
    assert_eq!(p.record(&worker).status.state, RecordedState::Paused);
    let err = p.client().pause(&worker).unwrap_err().to_string();
    assert!(err.contains("paused already"), "{err}");
    let refused = p.client().forget(&worker).unwrap_err().to_string();
    assert!(refused.contains("stop it before removing it"), "{refused}");
    p.client().unpause(&worker).unwrap();
    assert_eq!(p.record(&worker).status.state, RecordedState::Running);
    let ticks = p.entries(&worker).len();
    eventually("ticks after unpause", || {
        (p.entries(&worker).len() > ticks).then_some(())
    });

    let err = p.client().kill(&worker, "SIGNOPE").unwrap_err().to_string();
    assert!(err.contains("invalid signal"), "{err}");
    // Killed by its user: not restarted, whatever its policy.
    let mut waiter = p.client();
    let id = worker.clone();
    let waited = std::thread::spawn(move || waiter.wait(&id));
    std::thread::sleep(Duration::from_millis(200));
    p.client().kill(&worker, "KILL").unwrap();
    assert_eq!(waited.join().unwrap().unwrap(), 137);
    std::thread::sleep(Duration::from_millis(1500));
    let r = p.record(&worker);
    assert_eq!(
        (r.status.state, r.status.exit_code),
        (RecordedState::Exited, Some(137))
    );
    assert_eq!(p.pid_of(&worker), None);
    // Wait on a stopped container answers at once with its code.
    assert_eq!(p.client().wait(&worker).unwrap(), 137);

    p.client().forget(&worker).unwrap();
    let status = p.client().status().unwrap();
    assert!(status.containers.iter().all(|c| c.id != worker));
    p.client().shutdown(false).unwrap();
}

/// A health check of `test` (Docker's form) every 200 ms.
fn check(test: &[&str], timeout: Duration, retries: u32) -> HealthCheck {
    HealthCheck {
        test: test.iter().map(|s| s.to_string()).collect(),
        interval: Duration::from_millis(200),
        timeout,
        start_period: Duration::ZERO,
        start_interval: Duration::from_millis(200),
        retries,
    }
}

fn health(p: &Project, id: &str) -> Option<HealthState> {
    p.record(id).status.health
}

#[test]
fn health_probes_run_in_the_container_and_report_changes() {
    if !container::privileged("health_probes_run_in_the_container_and_report_changes", &[]) {
        return;
    }
    let mut p = Project::new();
    // Healthy once /tmp/ready exists; the probe's output is recorded.
    let ready = p.container(
        "db",
        "trap 'exit 0' TERM; sleep 1; touch /tmp/ready; while :; do sleep 0.1; done",
        None,
    );
    let mut r = p.record(&ready);
    r.healthcheck = Some(check(
        &["CMD-SHELL", "echo probing; [ -f /tmp/ready ]"],
        Duration::from_secs(10),
        100,
    ));
    p.state.save_container_record(&r).unwrap();
    // A probe that outlives its timeout fails.
    let slow = p.container("slow", TICKS, None);
    let mut r = p.record(&slow);
    r.healthcheck = Some(check(
        &["CMD", "sleep", "30"],
        Duration::from_millis(300),
        1,
    ));
    p.state.save_container_record(&r).unwrap();

    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let feed = p.client().events().unwrap();
    let sink = events.clone();
    std::thread::spawn(move || {
        for e in feed.flatten() {
            sink.lock().unwrap().push(e);
        }
    });
    p.client().start(&ready).unwrap();
    p.client().start(&slow).unwrap();
    assert!(
        health(&p, &ready).is_some_and(|h| h.status == HealthStatus::Starting),
        "starting at first"
    );
    let h = eventually("db healthy", || {
        health(&p, &ready).filter(|h| h.status == HealthStatus::Healthy)
    });
    let last = h.log.last().unwrap();
    assert_eq!((last.exit_code, last.output.as_str()), (0, "probing\n"));
    assert!(h.log.len() <= 5);
    let h = eventually("slow unhealthy", || {
        health(&p, &slow).filter(|h| h.status == HealthStatus::Unhealthy)
    });
    let last = h.log.last().unwrap();
    assert_eq!(last.exit_code, -1);
    assert!(
        last.output
            .contains("Health check exceeded timeout (300ms)"),
        "{}",
        last.output
    );
    eventually("health_status events", || {
        let seen = events.lock().unwrap().clone();
        let status_of = |id: &str| -> Vec<String> {
            seen.iter()
                .filter(|e| e.id == id && e.action == Action::HealthStatus)
                .filter_map(|e| e.attributes.get("healthStatus").cloned())
                .collect()
        };
        (status_of(&ready) == ["healthy"] && status_of(&slow) == ["unhealthy"]).then_some(())
    });

    // Probes stop with the container; a new start begins as starting again.
    p.client().stop(&ready, Some(5)).unwrap();
    let after_stop = p.record(&ready).status;
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        p.record(&ready).status,
        after_stop,
        "no probe after the stop"
    );
    p.client().start(&ready).unwrap();
    assert!(
        health(&p, &ready).is_some_and(|h| h.status == HealthStatus::Starting),
        "starting again"
    );
    eventually("db healthy again", || {
        health(&p, &ready).filter(|h| h.status == HealthStatus::Healthy)
    });
}
