//! The state root: records round-trip, writes are crash-safe, names and projects are
//! exclusive across threads, and what `up` recorded reads back as a converged `Observed`.

mod common;

use berth::engine::labels;
use berth::engine::observed::{ContainerState, ObservedImage, ObservedResource};
use berth::engine::reconcile::{DownOptions, UpOptions, plan_down, plan_up};
use berth::engine::state::{
    ContainerRecord, ContainerStatus, Endpoint, ImageRecord, InMemoryResources, MountKind,
    MountRecord, ProjectRecord, RecordedState, StateError, StateRoot,
};
use common::{STACK, desired};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, SystemTime};

struct Root {
    _dir: tempfile::TempDir,
    state: StateRoot,
}

fn root() -> Root {
    let dir = tempfile::tempdir().unwrap();
    let state = StateRoot::open(dir.path().join("lib"), dir.path().join("run")).unwrap();
    Root { _dir: dir, state }
}

fn hex_id(seed: &str) -> String {
    // A stable 64-hex id per seed, like the engine's random ones.
    let mut out = String::new();
    for (i, b) in seed.bytes().cycle().take(32).enumerate() {
        out.push_str(&format!("{:02x}", b.wrapping_add(i as u8)));
    }
    out
}

fn record(project: &str, service: &str, number: u32, hash: &str) -> ContainerRecord {
    let name = format!("{project}-{service}-{number}");
    let mut l = BTreeMap::new();
    l.insert(labels::PROJECT.to_string(), project.to_string());
    l.insert(labels::SERVICE.to_string(), service.to_string());
    l.insert(labels::CONTAINER_NUMBER.to_string(), number.to_string());
    l.insert(labels::ONEOFF.to_string(), "False".to_string());
    l.insert(labels::CONFIG_HASH.to_string(), hash.to_string());
    ContainerRecord {
        id: hex_id(&name),
        name,
        labels: l,
        image: ImageRecord {
            reference: "nginx:1.27".into(),
            id: "sha256:abc".into(),
        },
        created: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        spec_path: Some(PathBuf::from(
            "/var/lib/berth/containers/x/bundle/config.json",
        )),
        restart_policy: Some("unless-stopped".into()),
        restart_delay: None,
        restart_window: None,
        stop_signal: None,
        stop_grace_period: Some(10),
        endpoints: vec![Endpoint {
            network: format!("{project}_default"),
            aliases: vec![service.to_string()],
            ipv4: Some("10.89.0.2".parse().unwrap()),
            ipv6: None,
            mac: Some("02:42:0a:59:00:02".into()),
            links: Vec::new(),
            interface: None,
        }],
        mounts: vec![MountRecord {
            kind: MountKind::Volume,
            source: format!("{project}_data"),
            target: "/data".into(),
            read_only: false,
        }],
        rootfs: None,
        init: false,
        stdin_open: false,
        command: vec!["nginx".into()],
        netns: None,
        ports: Vec::new(),
        log: Default::default(),
        healthcheck: None,
        image_mounts: Vec::new(),

        status: ContainerStatus::default(),
    }
}

fn project_record(name: &str) -> ProjectRecord {
    ProjectRecord {
        name: name.to_string(),
        working_dir: PathBuf::from("/srv").join(name),
        config_files: vec![PathBuf::from("/srv").join(name).join("compose.yaml")],
        env_files: vec![PathBuf::from("/srv").join(name).join(".env")],
        networks: vec![format!("{name}_default")],
        volumes: vec![format!("{name}_data")],
        created: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        autostart: false,
    }
}

#[test]
fn container_records_round_trip_with_their_status() {
    let r = root();
    let rec = record("shop", "web", 1, "h1");
    r.state.create_container_record(&rec).unwrap();
    assert_eq!(r.state.container(&rec.id).unwrap(), rec);
    assert_eq!(
        r.state.name_holder("shop-web-1").unwrap().as_deref(),
        Some(rec.id.as_str())
    );

    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_100);
    let running = rec.status.started(t);
    r.state.update_container_state(&rec.id, &running).unwrap();
    let exited = running.exited(137, true, t + Duration::from_secs(3));
    r.state.update_container_state(&rec.id, &exited).unwrap();
    let back = r.state.container(&rec.id).unwrap();
    assert_eq!(back.status, exited);
    assert_eq!(back.observed().state, ContainerState::Exited(137));

    // A configuration change keeps the status and survives a fresh open.
    let mut changed = back.clone();
    changed.endpoints[0].aliases.push("www".into());
    r.state.save_container_record(&changed).unwrap();
    let reopened = StateRoot::open(r.state.root(), r.state.run()).unwrap();
    assert_eq!(reopened.container(&rec.id).unwrap(), changed);

    let other = record("other", "web", 1, "h");
    r.state.create_container_record(&other).unwrap();
    let of_shop = r.state.containers_of("shop").unwrap();
    assert_eq!(of_shop.records, vec![changed]);
    assert!(of_shop.problems.is_empty());
    assert_eq!(r.state.containers().unwrap().records.len(), 2);

    r.state.remove_container_record(&rec.id).unwrap();
    assert!(matches!(
        r.state.container(&rec.id),
        Err(StateError::NoSuchContainer { .. })
    ));
    assert_eq!(r.state.name_holder("shop-web-1").unwrap(), None);
    assert!(matches!(
        r.state.update_container_state(&rec.id, &exited),
        Err(StateError::NoSuchContainer { .. })
    ));
    // The name is free again.
    let mut again = record("shop", "web", 1, "h2");
    again.id = hex_id("second");
    r.state.create_container_record(&again).unwrap();
}

#[test]
fn duplicate_ids_and_names_are_refused_without_leftovers() {
    let r = root();
    let rec = record("shop", "web", 1, "h1");
    r.state.create_container_record(&rec).unwrap();
    assert!(matches!(
        r.state.create_container_record(&rec),
        Err(StateError::ContainerExists { .. })
    ));
    let mut same_name = rec.clone();
    same_name.id = hex_id("another");
    match r.state.create_container_record(&same_name) {
        Err(e @ StateError::NameInUse { .. }) => {
            assert!(
                e.to_string().contains("\"shop-web-1\" is already in use"),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
    let mut bad = rec.clone();
    bad.id = "../escape".into();
    assert!(matches!(
        r.state.create_container_record(&bad),
        Err(StateError::InvalidName { .. })
    ));
    assert_eq!(r.state.containers().unwrap().records.len(), 1);
    assert!(r.state.repair().unwrap().removed.is_empty());
}

#[test]
fn project_records_round_trip_and_list() {
    let r = root();
    assert_eq!(r.state.project("shop").unwrap(), None);
    let shop = project_record("shop");
    r.state.save_project(&shop).unwrap();
    r.state.save_project(&project_record("blog")).unwrap();
    assert_eq!(r.state.project("shop").unwrap(), Some(shop.clone()));
    let mut more = shop.clone();
    more.networks.push("shop_back".into());
    r.state.save_project(&more).unwrap();
    let listed = r.state.projects().unwrap();
    let names: Vec<&str> = listed.records.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["blog", "shop"]);
    assert_eq!(listed.records[1], more);
    r.state.remove_project("shop").unwrap();
    r.state.remove_project("never-there").unwrap();
    assert_eq!(r.state.project("shop").unwrap(), None);
    assert_eq!(r.state.projects().unwrap().records.len(), 1);
    assert!(r.state.project("../etc").is_err());
}

#[test]
fn crash_leftovers_are_skipped_reported_and_repaired() {
    let r = root();
    let good = record("shop", "web", 1, "h1");
    r.state.create_container_record(&good).unwrap();
    let broken = record("shop", "db", 1, "h1");
    r.state.create_container_record(&broken).unwrap();
    r.state.save_project(&project_record("shop")).unwrap();
    r.state.save_project(&project_record("blog")).unwrap();
    let containers = r.state.root().join("containers");

    // A crash truncated one config.json (something outside berth, or a disk that lied).
    let config = containers.join(&broken.id).join("config.json");
    let text = std::fs::read(&config).unwrap();
    std::fs::write(&config, &text[..text.len() / 2]).unwrap();
    // A write interrupted before its rename, a half-created container directory, a torn
    // fast status write, a name reserved for a container never recorded, a truncated
    // project record.
    let tmp_file = containers.join(&good.id).join(".state.json.tmp.99999.0");
    std::fs::write(&tmp_file, "{\"state\":").unwrap();
    let tmp_dir = containers.join(".feed.tmp.99999.1");
    std::fs::create_dir(&tmp_dir).unwrap();
    std::fs::write(tmp_dir.join("config.json"), "{").unwrap();
    std::fs::write(containers.join(&good.id).join("state.json"), "{\"sta").unwrap();
    let names = r.state.root().join("names");
    std::fs::write(names.join("shop-ghost-1"), hex_id("ghost")).unwrap();
    std::fs::write(
        r.state.root().join("projects/blog/project.json"),
        "{\"name\":",
    )
    .unwrap();

    // A removal interrupted after config.json went, and a stray file.
    let emptied = containers.join(hex_id("emptied"));
    std::fs::create_dir(&emptied).unwrap();
    std::fs::write(containers.join("stray"), "x").unwrap();

    // Readers skip and report; the torn status falls back to the one at creation.
    let listing = r.state.containers().unwrap();
    assert_eq!(listing.records, vec![good.clone()]);
    let mut problems: Vec<PathBuf> = listing.problems.iter().map(|p| p.path.clone()).collect();
    problems.sort();
    let mut expected_problems = vec![
        containers.join(&broken.id),
        emptied.clone(),
        containers.join("stray"),
    ];
    expected_problems.sort();
    assert_eq!(problems, expected_problems, "{listing:#?}");
    let projects = r.state.projects().unwrap();
    assert_eq!(projects.records.len(), 1);
    assert_eq!(projects.problems.len(), 1);
    let observed = r
        .state
        .observe("shop", &InMemoryResources::default(), Vec::new())
        .unwrap();
    assert_eq!(observed.containers.len(), 1);

    let report = r.state.repair().unwrap();
    let mut removed: Vec<PathBuf> = report.removed.iter().map(|p| p.path.clone()).collect();
    removed.sort();
    let mut expected = vec![
        tmp_file,
        tmp_dir,
        containers.join(&broken.id),
        emptied,
        containers.join("stray"),
        containers.join(&good.id).join("state.json"),
        names.join("shop-db-1"),
        names.join("shop-ghost-1"),
        r.state.root().join("projects/blog"),
    ];
    expected.sort();
    assert_eq!(removed, expected, "{report:#?}");
    assert!(r.state.containers().unwrap().problems.is_empty());
    assert!(r.state.projects().unwrap().problems.is_empty());
    assert_eq!(r.state.name_holder("shop-web-1").unwrap(), Some(good.id));
    // The broken container's name is free for its replacement; a second repair finds nothing.
    let mut replacement = record("shop", "db", 1, "h2");
    replacement.id = hex_id("replacement");
    r.state.create_container_record(&replacement).unwrap();
    assert!(r.state.repair().unwrap().removed.is_empty());
}

#[test]
fn only_one_of_many_threads_gets_a_name() {
    let r = root();
    let mut winners = Vec::new();
    for result in race_creates(&r, 12, |i| {
        let mut rec = record("shop", "web", 1, "h");
        rec.id = hex_id(&format!("thread{i}"));
        rec
    }) {
        match result {
            Ok(rec) => winners.push(rec.id),
            Err(StateError::NameInUse { .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let listing = r.state.containers().unwrap();
    assert_eq!(listing.records.len(), 1);
    assert_eq!(listing.records[0].id, winners[0]);
    assert_eq!(
        r.state.name_holder("shop-web-1").unwrap(),
        Some(winners[0].clone())
    );
    assert!(r.state.repair().unwrap().removed.is_empty());
}

/// Creates the records `make` gives for 0..threads from as many threads at once, each
/// returning its record or its error.
fn race_creates(
    r: &Root,
    threads: usize,
    make: fn(usize) -> ContainerRecord,
) -> Vec<Result<ContainerRecord, StateError>> {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let state = r.state.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let rec = make(i);
                barrier.wait();
                state.create_container_record(&rec).map(|()| rec)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn one_id_raced_under_several_names_is_recorded_once_and_the_losers_release_theirs() {
    let r = root();
    let mut winners = Vec::new();
    for result in race_creates(&r, 8, |i| {
        let mut rec = record("shop", "web", i as u32 + 1, "h");
        rec.id = hex_id("shared");
        rec
    }) {
        match result {
            Ok(rec) => winners.push(rec.name),
            Err(StateError::ContainerExists { .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let names: Vec<String> = std::fs::read_dir(r.state.root().join("names"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, winners);
    assert!(r.state.repair().unwrap().removed.is_empty());

    // The very same record from two threads: one records it, and the name stays its.
    let rec = record("shop", "db", 1, "h");
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (state, barrier, rec) = (r.state.clone(), barrier.clone(), rec.clone());
            std::thread::spawn(move || {
                barrier.wait();
                state.create_container_record(&rec)
            })
        })
        .collect();
    let ok = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(Result::is_ok)
        .count();
    assert_eq!(ok, 1);
    assert_eq!(r.state.name_holder("shop-db-1").unwrap(), Some(rec.id));
}

#[test]
fn project_lock_serializes_two_commands() {
    let r = root();
    let events = Arc::new(Mutex::new(Vec::new()));
    let first = r.state.lock_project("shop").unwrap();
    // Another project is independent.
    drop(r.state.try_lock_project("blog").unwrap());
    match r.state.try_lock_project("shop") {
        Err(e @ StateError::ProjectBusy { .. }) => {
            assert!(e.to_string().contains("project \"shop\" is busy"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let waiter = {
        let state = r.state.clone();
        let events = events.clone();
        std::thread::spawn(move || {
            let _second = state.lock_project("shop").unwrap();
            events.lock().unwrap().push("second locked");
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    events.lock().unwrap().push("first releases");
    drop(first);
    waiter.join().unwrap();
    assert_eq!(*events.lock().unwrap(), ["first releases", "second locked"]);
    r.state.try_lock_project("shop").unwrap();
}

#[test]
fn recorded_up_reads_back_as_converged_and_down_needs_no_compose_file() {
    let r = root();
    let d = desired(STACK);
    let mut images = Vec::new();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_200);
    for s in &d.services {
        for n in 1..=s.replicas as u32 {
            let mut rec = record(&d.name, &s.name, n, &s.hash);
            rec.image.reference = s.image.clone();
            r.state.create_container_record(&rec).unwrap();
            let status = if s.name == "migrate" {
                rec.status.started(t).exited(0, false, t)
            } else {
                rec.status.started(t)
            };
            r.state.update_container_state(&rec.id, &status).unwrap();
        }
        images.push(ObservedImage {
            reference: s.image.clone(),
            id: format!("sha256:{}", s.name),
        });
    }
    let project = [(labels::PROJECT.to_string(), d.name.clone())];
    let resources = InMemoryResources {
        networks: d
            .networks
            .iter()
            .map(|n| ObservedResource {
                name: n.name.clone(),
                labels: project.clone().into(),
            })
            .collect(),
        volumes: d
            .volumes
            .iter()
            .map(|v| ObservedResource {
                name: v.name.clone(),
                labels: project.clone().into(),
            })
            .collect(),
    };
    let mut saved = project_record(&d.name);
    saved.networks = d.networks.iter().map(|n| n.name.clone()).collect();
    saved.volumes = d.volumes.iter().map(|v| v.name.clone()).collect();
    r.state.save_project(&saved).unwrap();

    let observed = r.state.observe(&d.name, &resources, images).unwrap();
    let count: usize = d.services.iter().map(|s| s.replicas).sum();
    assert_eq!(observed.containers.len(), count);
    // The one-shot `migrate` exited: the next `up` starts it again, nothing else.
    let plan = plan_up(&d, &observed, &UpOptions::default()).unwrap();
    assert_eq!(plan.to_string(), "#1 start container shop-migrate-1\n");

    // Once it runs again, a second `up` plans nothing.
    for c in r.state.containers_of("shop").unwrap().records {
        if c.status.state != RecordedState::Running {
            let running = c.status.started(t + Duration::from_secs(1));
            assert_eq!(running.restart_count, 1);
            r.state.update_container_state(&c.id, &running).unwrap();
        }
    }
    let images: Vec<ObservedImage> = d
        .services
        .iter()
        .map(|s| ObservedImage {
            reference: s.image.clone(),
            id: format!("sha256:{}", s.name),
        })
        .collect();
    let observed = r.state.observe(&d.name, &resources, images).unwrap();
    let plan = plan_up(&d, &observed, &UpOptions::default()).unwrap();
    assert!(plan.is_empty(), "{plan}");

    // `down` from the state alone: the project record names it, the containers carry labels.
    assert!(r.state.project("shop").unwrap().is_some());
    let down = plan_down("shop", None, &observed, &DownOptions::default());
    let removes = down
        .to_string()
        .lines()
        .filter(|l| l.contains("remove container"))
        .count();
    assert_eq!(removes, count, "{down}");
}
