//! The typed model: the full example survives a round trip through it, typed fields hold
//! what the tree says, and bad input is an error that names its path.

use berth_compose::model::{
    ByteSize, DependencyCondition, DeviceCount, MountType, Project, Restart, UlimitConfig,
    WatchAction,
};
use berth_compose::{Path, Value, yaml};
use std::time::Duration as StdDuration;

const WORKDIR: &str = "/work/dir";
const HOME: &str = "/home/u";

fn corpus(rel: &str) -> String {
    let path = format!("{}/../tests/corpus/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(text: &str) -> Value {
    let mut docs = yaml::parse(text, "test.yaml").expect("valid YAML");
    assert_eq!(docs.len(), 1, "one document");
    docs.remove(0).value
}

fn expected_tree() -> Value {
    let text = corpus("full-example/expected.yaml")
        .replace("{{WORKDIR}}", WORKDIR)
        .replace("{{HOME}}", HOME);
    parse(&text)
}

fn full_example() -> Project {
    Project::from_tree(&expected_tree()).expect("the full example reads into the model")
}

/// The first place where two trees differ as data (mapping key order ignored).
fn tree_difference(a: &Value, b: &Value, path: &Path) -> Option<String> {
    match (a, b) {
        (Value::Map(x), Value::Map(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => {
                        if let Some(d) = tree_difference(v, w, &path.key(k)) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{}: missing on the right", path.key(k))),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{}: missing on the left", path.key(k)))
        }
        (Value::Seq(x), Value::Seq(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: {} items vs {}", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (v, w))| tree_difference(v, w, &path.index(i)))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a:?} vs {b:?}")),
    }
}

fn schema_error(text: &str) -> String {
    match Project::from_tree(&parse(text)) {
        Ok(p) => panic!("expected an error, got {p:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn full_example_round_trips_through_the_model() {
    let tree = expected_tree();
    let printed = full_example().to_tree();
    if let Some(diff) = tree_difference(&tree, &printed, &Path::root()) {
        panic!("the model changed the tree at {diff}");
    }
    // The comparison itself sees a change deep inside the tree.
    let mut changed = printed.clone();
    if let Some(Value::Map(foo)) = changed
        .as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(|s| s.as_map_mut())
        .and_then(|s| s.get_mut("foo"))
    {
        foo.insert("image".into(), Value::from("other"));
    }
    assert_eq!(
        tree_difference(&tree, &changed, &Path::root()).as_deref(),
        Some("services.foo.image: String(\"redis\") vs String(\"other\")")
    );
}

#[test]
fn round_trip_is_stable_through_yaml_text() {
    let project = full_example();
    let text = yaml::to_string(&project.to_tree());
    let again = Project::from_tree(&parse(&text)).expect("printed tree reads back");
    assert_eq!(again, project);
}

#[test]
fn resources_and_deploy_are_typed() {
    let project = full_example();
    let foo = project.service("foo").expect("service foo");
    let deploy = foo.deploy.as_ref().expect("deploy");
    let resources = deploy.resources.as_ref().expect("resources");
    let limits = resources.limits.as_ref().expect("limits");
    assert_eq!(limits.memory, Some(ByteSize(52_428_800)));
    assert_eq!(limits.cpus, Some(0.001));
    let reservations = resources.reservations.as_ref().expect("reservations");
    assert_eq!(reservations.memory, Some(ByteSize(20_971_520)));
    let generic = &reservations.generic_resources;
    assert_eq!(generic.len(), 2);
    let gpu = generic[0].discrete_resource_spec.as_ref().expect("spec");
    assert_eq!((gpu.kind.as_str(), gpu.value), ("gpu", 2));
    assert_eq!(deploy.replicas, Some(6));
    assert_eq!(foo.replicas(), 6);
    let update = deploy.update_config.as_ref().expect("update_config");
    assert_eq!(update.parallelism, Some(3));
    assert_eq!(
        update.monitor.map(|d| d.get()),
        Some(StdDuration::from_secs(60))
    );
    assert_eq!(update.max_failure_ratio, Some(0.3));
    let policy = deploy.restart_policy.as_ref().expect("restart_policy");
    assert_eq!(
        policy.window.map(|d| d.get()),
        Some(StdDuration::from_secs(120))
    );
    assert_eq!(policy.max_attempts, Some(3));
    // deploy.restart_policy wins over `restart: always`, as in Docker Compose.
    assert_eq!(
        foo.restart_policy().expect("valid policy"),
        Restart::OnFailure {
            max_retries: Some(3)
        }
    );
    let placement = deploy.placement.as_ref().expect("placement");
    assert_eq!(placement.max_replicas_per_node, Some(5));
    assert_eq!(
        placement.preferences[0].spread.as_deref(),
        Some("node.labels.az")
    );
}

#[test]
fn healthcheck_ports_and_dependencies_are_typed() {
    let project = full_example();
    let foo = project.service("foo").expect("service foo");
    assert_eq!(foo.image(), Some("redis"));

    let health = foo.healthcheck.as_ref().expect("healthcheck");
    assert_eq!(
        health.interval.map(|d| d.get()),
        Some(StdDuration::from_secs(10))
    );
    assert_eq!(
        health.timeout.map(|d| d.get()),
        Some(StdDuration::from_secs(1))
    );
    assert_eq!(health.retries, Some(5));
    assert_eq!(
        health.test.as_deref(),
        Some(&["CMD-SHELL".to_string(), "echo \"hello world\"".to_string()][..])
    );
    assert!(!health.is_disabled());

    assert_eq!(foo.ports.len(), 22);
    let first = &foo.ports[0];
    assert_eq!((first.target, first.published.as_deref()), (3000, None));
    assert_eq!(first.protocol(), "tcp");
    let mapped = &foo.ports[7];
    assert_eq!(
        (mapped.target, mapped.published_range()),
        (8080, Some((9090, 9090)))
    );
    let local = &foo.ports[10];
    assert_eq!(local.host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        (local.target, local.published.as_deref()),
        (8001, Some("8001"))
    );

    let db = &foo.depends_on["db"];
    assert_eq!(db.condition, DependencyCondition::ServiceStarted);
    assert!(db.required);

    assert_eq!(
        foo.stop_grace_period.map(|d| d.get()),
        Some(StdDuration::from_secs(20))
    );
    assert_eq!(
        foo.environment["QUX"].as_deref(),
        Some("qux_from_environment")
    );
    assert_eq!(foo.labels["com.example.empty-label"], "");
    assert_eq!(foo.env_files.len(), 2);
    assert!(foo.env_files[0].is_required());
    assert!(!foo.env_files[1].is_required());
    assert_eq!(
        foo.extra_hosts(),
        vec![
            ("otherhost", "50.31.209.229"),
            ("somehost", "162.242.195.82")
        ]
    );
}

#[test]
fn mounts_files_ulimits_and_networks_are_typed() {
    let project = full_example();
    let foo = project.service("foo").expect("service foo");

    let home_bind = &foo.volumes[4];
    assert_eq!(home_bind.kind, MountType::Bind);
    assert_eq!(home_bind.source.as_deref(), Some("/home/u/configs"));
    assert!(home_bind.is_read_only());
    assert!(
        home_bind
            .bind
            .as_ref()
            .expect("bind options")
            .creates_host_path()
    );
    let tmpfs = &foo.volumes[7];
    assert_eq!(tmpfs.kind, MountType::Tmpfs);
    assert_eq!(
        tmpfs.tmpfs.as_ref().and_then(|t| t.size),
        Some(ByteSize(10_000))
    );

    let secret = &foo.secrets[1];
    assert_eq!(secret.source, "secret2");
    assert_eq!(secret.mode.map(|m| m.0), Some(0o440));
    assert_eq!(secret.uid.as_deref(), Some("103"));

    assert_eq!(foo.ulimits["nproc"], UlimitConfig::Single(65535));
    assert_eq!(
        (foo.ulimits["nofile"].soft(), foo.ulimits["nofile"].hard()),
        (20000, 40000)
    );

    assert_eq!(foo.networks["other-other-network"], None);
    let other = foo.networks["other-network"].as_ref().expect("settings");
    assert_eq!(other.ipv4_address.as_deref(), Some("172.16.238.10"));
    assert_eq!(
        foo.networks_ordered(),
        vec!["other-network", "other-other-network", "some-network"]
    );

    assert_eq!(foo.extensions["x-foo"], Value::from("bar"));
    assert_eq!(
        project.extensions["x-nested"].get("foo"),
        Some(&Value::from("bar"))
    );

    let net = &project.networks["other-network"];
    let ipam = net.ipam.as_ref().expect("ipam");
    assert_eq!(ipam.config[0].aux_addresses["host2"], "172.28.1.6");
    assert_eq!(net.driver_opts["baz"], "1");
    assert!(project.networks["external-network"].is_external());
    assert_eq!(project.networks["some-network"], Default::default());
    assert!(project.volumes["external-volume3"].is_external());
    assert_eq!(
        project.secrets["secret4"].environment.as_deref(),
        Some("BAR")
    );
    assert_eq!(
        project.configs["config4"].file.as_deref(),
        Some("/home/u/config_data")
    );

    let build = project
        .service("foo")
        .and_then(|s| s.build.as_ref())
        .expect("build");
    assert_eq!(build.ssh[0].id, "default");
    assert_eq!(build.secrets[1].mode.map(|m| m.0), Some(0o440));
    assert_eq!(build.args["foo"].as_deref(), Some("bar"));
}

#[test]
fn a_type_error_names_its_path() {
    let message =
        schema_error("services:\n  web:\n    image: x\n    deploy:\n      replicas: many\n");
    assert!(
        message.starts_with("services.web.deploy.replicas: "),
        "{message}"
    );

    let message =
        schema_error("services:\n  web:\n    ports:\n      - target: 80\n      - target: eighty\n");
    assert!(
        message.starts_with("services.web.ports[1].target: "),
        "{message}"
    );

    let message = schema_error("services:\n  web:\n    healthcheck:\n      interval: 10\n");
    assert!(
        message.starts_with("services.web.healthcheck.interval: "),
        "{message}"
    );
    assert!(message.contains("missing unit"), "{message}");

    let message = schema_error("services:\n  web:\n    ports:\n      - published: \"80\"\n");
    assert!(message.starts_with("services.web.ports[0]: "), "{message}");
    assert!(message.contains("target"), "{message}");

    let message =
        schema_error("services:\n  web:\n    depends_on:\n      db:\n        condition: started\n");
    assert!(
        message.starts_with("services.web.depends_on.db.condition: "),
        "{message}"
    );
}

#[test]
fn an_unknown_key_is_refused_not_dropped() {
    let message = schema_error("services:\n  web:\n    image: x\n    imagee: y\n");
    assert_eq!(
        message,
        "services.web: additional property imagee is not allowed"
    );
    let message = schema_error("networks:\n  front:\n    ipam:\n      drivr: x\n");
    assert!(message.starts_with("networks.front.ipam: "), "{message}");
}

#[test]
fn an_error_is_placed_in_the_file() {
    let text = "services:\n  web:\n    image: x\n    deploy:\n      replicas: many\n";
    let doc = yaml::parse(text, "compose.yaml")
        .expect("valid YAML")
        .remove(0);
    let err = Project::from_tree_at(&doc.value, &doc.positions).expect_err("bad replicas");
    let location = err.location.expect("a location");
    assert_eq!((&*location.file, location.line), ("compose.yaml", 5));
}

#[test]
fn interpolated_scalars_are_read_as_their_types() {
    let project = Project::from_tree(&parse(
        "services:\n  web:\n    image: x\n    scale: \"3\"\n    tty: \"true\"\n    cpus: \"1.5\"\n    mem_limit: 512m\n    ulimits:\n      nofile: \"1024\"\n",
    ))
    .expect("valid project");
    let web = &project.services["web"];
    assert_eq!(web.replicas(), 3);
    assert_eq!(web.tty, Some(true));
    assert_eq!(web.cpus, Some(1.5));
    assert_eq!(web.mem_limit, Some(ByteSize(512 * 1024 * 1024)));
    assert_eq!(web.ulimits["nofile"], UlimitConfig::Single(1024));
    let tree = project.to_tree();
    let printed = tree
        .get("services")
        .and_then(|s| s.get("web"))
        .expect("web printed");
    assert_eq!(printed.get("mem_limit"), Some(&Value::from("536870912")));
    assert_eq!(printed.get("scale"), Some(&Value::Int(3)));
}

#[test]
fn extensions_of_nested_objects_round_trip() {
    let text = "services:\n  web:\n    image: x\n    volumes:\n      - type: volume\n        source: data\n        target: /data\n        x-note: keep\n        volume:\n          nocopy: true\n          x-deep: [1, 2.5, null]\n    develop:\n      watch:\n        - path: ./src\n          action: sync+restart\n          target: /app\n          x-w: 1\n    post_start:\n      - command: [echo, hi]\n        x-h: true\n    gpus: all\n    deploy:\n      resources:\n        reservations:\n          devices:\n            - driver: nvidia\n              count: 2\n              capabilities: [gpu]\n              x-d: d\nvolumes:\n  data:\n    x-v: {a: b}\nmodels:\n  llm:\n    model: ai/smollm2\n    x-m: m\nx-top: 1\n";
    let tree = parse(text);
    let project = Project::from_tree(&tree).expect("valid project");
    let web = &project.services["web"];
    assert_eq!(
        web.develop.as_ref().map(|d| d.watch[0].action),
        Some(WatchAction::SyncRestart)
    );
    assert_eq!(web.post_start[0].command, vec!["echo", "hi"]);
    assert_eq!(web.gpus[0].count, Some(DeviceCount::All));
    // `gpus: all` is printed in long form, as compose-go prints it; the rest is unchanged.
    let mut printed = project.to_tree();
    let gpus = printed
        .as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(|s| s.as_map_mut())
        .and_then(|s| s.get_mut("web"))
        .and_then(|w| w.as_map_mut())
        .and_then(|w| w.insert("gpus".into(), Value::from("all")));
    assert_eq!(
        gpus.as_ref().and_then(|g| g.as_seq()).map(|g| g.len()),
        Some(1)
    );
    if let Some(diff) = tree_difference(&tree, &printed, &Path::root()) {
        panic!("the model changed the tree at {diff}");
    }
}

#[test]
fn restart_policies_follow_docker_compose() {
    let policy = |restart: &str| {
        let text = format!("services:\n  web:\n    image: x\n    restart: \"{restart}\"\n");
        Project::from_tree(&parse(&text))
            .expect("valid project")
            .services["web"]
            .restart_policy()
    };
    assert_eq!(policy("no"), Ok(Restart::No));
    assert_eq!(policy("always"), Ok(Restart::Always));
    assert_eq!(policy("unless-stopped"), Ok(Restart::UnlessStopped));
    assert_eq!(
        policy("on-failure"),
        Ok(Restart::OnFailure { max_retries: None })
    );
    assert_eq!(
        policy("on-failure:5"),
        Ok(Restart::OnFailure {
            max_retries: Some(5)
        })
    );
    assert!(policy("sometimes").is_err());
    assert!(policy("always:3").is_err());
    let none = Project::from_tree(&parse("services:\n  web:\n    image: x\n")).expect("valid");
    assert_eq!(none.services["web"].restart_policy(), Ok(Restart::No));
    assert_eq!(none.services["web"].replicas(), 1);
}

#[test]
fn networks_are_ordered_by_priority_then_name() {
    let project = Project::from_tree(&parse(
        "services:\n  web:\n    networks:\n      b: {priority: 1}\n      a:\n      c: {priority: 10}\n      d: {priority: 1}\n",
    ))
    .expect("valid project");
    assert_eq!(
        project.services["web"].networks_ordered(),
        vec!["c", "b", "d", "a"]
    );
}

#[test]
fn short_forms_left_by_earlier_stages_are_accepted() {
    let project = Project::from_tree(&parse(
        "include:\n  - other.yaml\n  - path: [a.yaml, b.yaml]\n    env_file: a.env\nservices:\n  web:\n    dns: 8.8.8.8\n    env_file: a.env\n    build:\n      ssh: {mykey: /path/key}\nnetworks:\n  legacy:\n    external:\n      name: outside\n",
    ))
    .expect("valid project");
    assert_eq!(project.include[0].path, vec!["other.yaml"]);
    assert_eq!(project.include[1].env_file, vec!["a.env"]);
    let web = &project.services["web"];
    assert_eq!(web.dns, vec!["8.8.8.8"]);
    assert_eq!(web.env_files[0].path, "a.env");
    let ssh = &web.build.as_ref().expect("build").ssh[0];
    assert_eq!(
        (ssh.id.as_str(), ssh.path.as_deref()),
        ("mykey", Some("/path/key"))
    );
    assert!(project.networks["legacy"].is_external());
}

fn load_text(text: &str) -> berth_compose::Result<berth_compose::LoadedProject> {
    let mut opts = berth_compose::LoadOptions::new(std::env::temp_dir(), Default::default());
    opts.files = vec![berth_compose::loader::ConfigSource::stdin(text.to_string())];
    berth_compose::load(&opts)
}

#[test]
fn pre_start_hooks_load_in_long_form_and_inherit_the_service_image() {
    let loaded = load_text(
        "name: p\nservices:\n  web:\n    image: app\n    pre_start:\n      - command: echo \"a b\"\n        entrypoint: /bin/sh -c\n        per_replica: \"true\"\n        environment: [A=1]\n        privileged: \"false\"\n      - image: other\n        command: [init]\n        user: root\n        working_dir: /w\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let hooks = &loaded.project.services["web"].pre_start;
    assert_eq!(hooks.len(), 2);
    assert_eq!(hooks[0].command, vec!["echo", "a b"]);
    assert_eq!(
        hooks[0].entrypoint.as_deref(),
        Some(&["/bin/sh".to_string(), "-c".to_string()][..])
    );
    assert_eq!(hooks[0].image.as_deref(), Some("app"));
    assert_eq!(hooks[0].per_replica, Some(true));
    assert_eq!(hooks[0].privileged, Some(false));
    assert_eq!(hooks[0].environment["A"].as_deref(), Some("1"));
    assert_eq!(hooks[1].image.as_deref(), Some("other"));
    assert_eq!(hooks[1].user.as_deref(), Some("root"));
    assert_eq!(hooks[1].working_dir.as_deref(), Some("/w"));
    assert_eq!(hooks[1].per_replica, None);
    // The model prints what it read.
    let printed = loaded.project.to_tree();
    let hook = printed
        .get("services")
        .and_then(|s| s.get("web"))
        .and_then(|w| w.get("pre_start"))
        .and_then(|h| h.as_seq())
        .and_then(|h| h.first())
        .expect("pre_start printed");
    assert_eq!(hook.get("per_replica"), Some(&Value::Bool(true)));
    assert_eq!(hook.get("image"), Some(&Value::from("app")));
}

#[test]
fn pre_start_hooks_need_a_command_and_take_no_service_attributes() {
    let no_command =
        load_text("services:\n  web:\n    image: app\n    pre_start:\n      - image: x\n");
    assert!(no_command.is_err(), "a hook without a command");
    let ports = load_text(
        "services:\n  web:\n    image: app\n    pre_start:\n      - command: [x]\n        ports: ['80']\n",
    );
    let message = ports.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("ports"), "{message}");
}
