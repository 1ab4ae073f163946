//! Golden plans: reconcile is a pure function from a project and observed state to a plan,
//! and its text form is compared with the files in tests/snapshots/.

mod common;

use berth::engine::desired::DesiredProject;
use berth::engine::labels;
use berth::engine::observed::{
    ContainerState, Observed, ObservedContainer, ObservedImage, ObservedResource,
};
use berth::engine::reconcile::{DownOptions, Recreate, UpOptions, plan_down, plan_up};
use common::{STACK, desired};
use std::collections::BTreeMap;

fn container(
    d: &DesiredProject,
    service: &str,
    number: u32,
    state: ContainerState,
) -> ObservedContainer {
    let svc = d.service(service);
    let mut l = BTreeMap::new();
    l.insert(labels::PROJECT.to_string(), d.name.clone());
    l.insert(labels::SERVICE.to_string(), service.to_string());
    l.insert(labels::CONTAINER_NUMBER.to_string(), number.to_string());
    l.insert(labels::ONEOFF.to_string(), "False".to_string());
    if let Some(s) = svc {
        l.insert(labels::CONFIG_HASH.to_string(), s.hash.clone());
    }
    ObservedContainer {
        id: format!("{service}{number}0123456789abcdef"),
        name: format!("{}-{service}-{number}", d.name),
        labels: l,
        state,
        // What the service mounts, by the volumes' actual names.
        volumes: svc
            .map(|s| {
                s.volumes
                    .iter()
                    .filter_map(|k| d.volumes.iter().find(|v| &v.key == k))
                    .map(|v| v.name.clone())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The state right after a complete `up` of `d`.
fn converged(d: &DesiredProject) -> Observed {
    let mut o = Observed::default();
    for s in &d.services {
        for n in 1..=s.replicas as u32 {
            o.containers
                .push(container(d, &s.name, n, ContainerState::Running));
        }
        o.images.push(ObservedImage {
            reference: s.image.clone(),
            id: format!("sha256:{}", s.name),
        });
    }
    let mut project = BTreeMap::new();
    project.insert(labels::PROJECT.to_string(), d.name.clone());
    for n in &d.networks {
        o.networks.push(ObservedResource {
            name: n.name.clone(),
            labels: project.clone(),
        });
    }
    for v in &d.volumes {
        o.volumes.push(ObservedResource {
            name: v.name.clone(),
            labels: project.clone(),
        });
    }
    o
}

#[test]
fn first_up_creates_everything_in_dependency_order() {
    let d = desired(STACK);
    let plan = plan_up(&d, &Observed::default(), &UpOptions::default()).unwrap();
    insta::assert_snapshot!("first_up", plan.to_string());
}

#[test]
fn second_up_with_nothing_changed_does_nothing() {
    let d = desired(STACK);
    let plan = plan_up(&d, &converged(&d), &UpOptions::default()).unwrap();
    assert!(plan.is_empty(), "{plan}");
}

#[test]
fn changed_service_is_recreated_with_dependents_that_ask_for_it() {
    let before = desired(STACK);
    let observed = converged(&before);
    let changed = desired(&STACK.replace("postgres:16", "postgres:17"));
    let mut observed = observed;
    observed.images.push(ObservedImage {
        reference: "postgres:17".into(),
        id: "sha256:p17".into(),
    });
    let plan = plan_up(&changed, &observed, &UpOptions::default()).unwrap();
    insta::assert_snapshot!("recreate_db", plan.to_string());
}

#[test]
fn scale_down_and_up_keeps_numbers_stable() {
    let d = desired(STACK);
    let mut observed = converged(&d);
    let mut opts = UpOptions {
        services: vec!["api".into()],
        no_deps: true,
        ..Default::default()
    };
    opts.scale.insert("api".into(), 1);
    let down = plan_up(&d, &observed, &opts).unwrap();
    insta::assert_snapshot!("scale_api_to_1", down.to_string());
    observed.containers.retain(|c| c.name != "shop-api-2");
    opts.scale.insert("api".into(), 3);
    let up = plan_up(&d, &observed, &opts).unwrap();
    insta::assert_snapshot!("scale_api_to_3", up.to_string());
}

#[test]
fn stopped_containers_start_and_force_recreate_replaces_all() {
    let d = desired(STACK);
    let mut observed = converged(&d);
    for c in &mut observed.containers {
        if c.name == "shop-web-1" {
            c.state = ContainerState::Exited(0);
        }
    }
    let plan = plan_up(
        &d,
        &observed,
        &UpOptions {
            services: vec!["web".into()],
            no_deps: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(plan.to_string(), "#1 start container shop-web-1\n");
    let opts = UpOptions {
        services: vec!["db".into()],
        recreate: Recreate::Force,
        ..Default::default()
    };
    let plan = plan_up(&d, &observed, &opts).unwrap();
    assert_eq!(
        plan.to_string(),
        "#1 recreate container shop-db-1 (replaces db1012345678)\n#2 start container shop-db-1 after #1\n"
    );
    let opts = UpOptions {
        recreate: Recreate::Never,
        ..Default::default()
    };
    let changed = desired(&STACK.replace("postgres:16", "postgres:17"));
    let plan = plan_up(&changed, &observed, &opts).unwrap();
    assert!(!plan.to_string().contains("recreate"), "{plan}");
}

#[test]
fn orphans_warn_unless_removed() {
    let d = desired(STACK);
    let mut observed = converged(&d);
    observed
        .containers
        .push(container(&d, "old", 1, ContainerState::Running));
    // A container of a service its profile disables is not an orphan.
    observed
        .containers
        .push(container(&d, "debug", 1, ContainerState::Running));
    let plan = plan_up(&d, &observed, &UpOptions::default()).unwrap();
    assert_eq!(
        plan.to_string(),
        "nothing to do\nwarning: Found orphan containers ([shop-old-1]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.\n"
    );
    let plan = plan_up(
        &d,
        &observed,
        &UpOptions {
            remove_orphans: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        plan.to_string(),
        "#1 stop container shop-old-1\n#2 remove container shop-old-1 after #1\n"
    );
}

#[test]
fn container_name_conflicts_fail_before_anything_is_done() {
    let text = "name: p\nservices:\n  a: {image: x, container_name: fixed}\n  b: {image: x, container_name: fixed}\n";
    let d = desired(text);
    let e = plan_up(&d, &Observed::default(), &UpOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("container name \"fixed\" is already in use"),
        "{e}"
    );
    let one = UpOptions {
        services: vec!["a".into()],
        ..Default::default()
    };
    assert!(plan_up(&d, &Observed::default(), &one).is_ok());
}

#[test]
fn missing_external_resources_and_never_pulled_images_are_errors() {
    let d = desired(
        "name: p\nservices:\n  a: {image: x, networks: [ext]}\nnetworks:\n  ext: {external: true}\n",
    );
    let e = plan_up(&d, &Observed::default(), &UpOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("network ext declared as external, but could not be found"),
        "{e}"
    );
    let d = desired("name: p\nservices:\n  a: {image: x, pull_policy: never}\n");
    let e = plan_up(&d, &Observed::default(), &UpOptions::default()).unwrap_err();
    assert!(e.to_string().contains("image x is not present"), "{e}");
}

#[test]
fn down_removes_dependents_first_then_networks_and_only_with_v_volumes() {
    let d = desired(STACK);
    let mut observed = converged(&d);
    // A network of another project stays.
    observed.networks.push(ObservedResource {
        name: "other_default".into(),
        labels: [(labels::PROJECT.to_string(), "other".to_string())].into(),
    });
    insta::assert_snapshot!(
        "down",
        plan_down("shop", Some(&d), &observed, &DownOptions::default()).to_string()
    );
    let with_volumes = plan_down(
        "shop",
        None,
        &observed,
        &DownOptions {
            volumes: true,
            ..Default::default()
        },
    );
    assert!(
        with_volumes.to_string().contains("remove volume shop_data"),
        "{with_volumes}"
    );
}

/// A service with `pre_start` hooks: one once per service, one in its own image per replica.
const HOOKED: &str = r#"
name: hk
services:
  db:
    image: postgres:16
  app:
    image: app:1
    depends_on: [db]
    deploy: {replicas: 2}
    volumes: [data:/data]
    pre_start:
      - command: init
      - image: busybox
        command: check
        per_replica: true
volumes:
  data: {}
"#;

#[test]
fn pre_start_hooks_run_after_the_creations_and_before_the_starts() {
    let d = desired(HOOKED);
    let plan = plan_up(&d, &Observed::default(), &UpOptions::default()).unwrap();
    insta::assert_snapshot!(plan.to_string(), @r"
    #1 create network hk_default
    #2 create volume hk_data
    #3 pull image postgres:16 for db
    #4 pull image app:1 for app
    #5 pull image busybox for app
    #6 create container hk-db-1 after #1 #3
    #7 start container hk-db-1 after #6
    #8 create container hk-app-1 after #1 #2 #4 #5 #7
    #9 create container hk-app-2 after #1 #2 #4 #5 #7
    #10 run pre_start hooks of app for hk-app-1, hk-app-2 after #8 #9
    #11 start container hk-app-1 after #10
    #12 start container hk-app-2 after #10
    ");
}

#[test]
fn pre_start_hooks_run_when_a_service_starts_with_none_of_its_containers_running() {
    let d = desired(HOOKED);
    let mut observed = converged(&d);
    observed.images.push(ObservedImage {
        reference: "busybox".into(),
        id: "sha256:busybox".into(),
    });
    // Nothing changed: no hook runs.
    let plan = plan_up(&d, &observed, &UpOptions::default()).unwrap();
    assert!(plan.is_empty(), "{plan}");
    // Hooks run before a service starts while none of its containers runs: not when one
    // replica of two starts again...
    for c in &mut observed.containers {
        if c.name == "hk-app-2" {
            c.state = ContainerState::Exited(0);
        }
    }
    let plan = plan_up(&d, &observed, &UpOptions::default()).unwrap();
    insta::assert_snapshot!(plan.to_string(), @"#1 start container hk-app-2");
    // ...but when both do.
    for c in &mut observed.containers {
        if c.name == "hk-app-1" {
            c.state = ContainerState::Exited(0);
        }
    }
    let plan = plan_up(&d, &observed, &UpOptions::default()).unwrap();
    insta::assert_snapshot!(plan.to_string(), @r"
    #1 run pre_start hooks of app for hk-app-1, hk-app-2
    #2 start container hk-app-1 after #1
    #3 start container hk-app-2 after #1
    ");
    // Scaling up a running service adds a replica without running them.
    let mut running = converged(&d);
    running.images = observed.images.clone();
    let mut opts = UpOptions::default();
    opts.scale.insert("app".into(), 3);
    let plan = plan_up(&d, &running, &opts).unwrap();
    insta::assert_snapshot!(plan.to_string(), @r"
    #1 create container hk-app-3
    #2 start container hk-app-3 after #1
    ");
    // Recreated containers run them again, once.
    let opts = UpOptions {
        services: vec!["app".into()],
        no_deps: true,
        recreate: Recreate::Force,
        ..Default::default()
    };
    let plan = plan_up(&d, &observed, &opts).unwrap();
    insta::assert_snapshot!(plan.to_string(), @r"
    #1 recreate container hk-app-1 (replaces app101234567)
    #2 recreate container hk-app-2 (replaces app201234567)
    #3 run pre_start hooks of app for hk-app-1, hk-app-2 after #1 #2
    #4 start container hk-app-1 after #3
    #5 start container hk-app-2 after #3
    ");
    // `--no-start`: nothing starts, so no hook runs.
    let opts = UpOptions {
        no_start: true,
        ..opts
    };
    let plan = plan_up(&d, &observed, &opts).unwrap();
    assert!(
        !plan.to_string().contains("pre_start"),
        "no hooks without starts: {plan}"
    );
}
