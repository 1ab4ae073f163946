//! A compose service turned into a runtime spec by `engine::container`, run by berth's
//! runtime on a busybox root filesystem: the container shows the service's environment, user,
//! working directory, bind mount, tmpfs, host name, a named volume filled from the image, and
//! a secret. Needs root and Debian's busybox-static; fails under BERTH_REQUIRE_PRIVILEGED=1
//! when it cannot run.

use berth::engine::container::{self, ContainerInput, NamespaceJoins, ResolveContext};
use berth::engine::state::{ContainerPaths, MountRecord};
use berth_runtime::container::{CreateOptions, Runtime, Stdio};
use berth_runtime::image::store::oci::{ContainerConfig, ImageConfig};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[path = "../runtime/tests/support/mod.rs"]
mod support;

#[allow(dead_code, unused_imports)]
#[path = "../runtime/tests/support/container.rs"]
mod container_support;

/// Whether the test can run: root and a static busybox.
fn can_run() -> bool {
    container_support::privileged("container_spec", &[])
}

/// The runtime tests' busybox root filesystem, with the groups this service's user is in:
/// its own and the `staff` it adds, nothing else.
fn busybox_rootfs(root: &Path) {
    container_support::fill_busybox_rootfs(root);
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\napp:x:1000:\nstaff:x:50:\n",
    )
    .unwrap();
}

/// Deletes the container when the test ends, even on failure.
struct Guard(Option<berth_runtime::container::Container>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = self.0.take()
            && let Err(e) = c.delete()
        {
            eprintln!("cleanup: {e}");
        }
    }
}

const COMPOSE: &str = r#"
name: spectest
services:
  app:
    image: busybox
    user: app
    group_add: [staff]
    working_dir: /work
    hostname: spec-host
    environment:
      GREETING: hello from compose
    volumes:
      - ./data:/data:ro
      - seeded:/var/seeded
    secrets: [token]
    tmpfs:
      - /scratch:size=1m
    command:
      - sh
      - -c
      - >-
        echo "env=$$GREETING";
        echo "image=$$FROM_IMAGE";
        echo "id=$$(id -u):$$(id -g):$$(id -G)";
        echo "pwd=$$(pwd)";
        echo "data=$$(cat /data/file)";
        grep -q ' /scratch tmpfs ' /proc/mounts && echo scratch=tmpfs;
        touch /data/x 2>/dev/null || echo data=ro;
        echo "host=$$(hostname)";
        echo "etc=$$(cat /etc/hostname)";
        echo "seeded=$$(cat /var/seeded/seed)";
        echo "secret=$$(cat /run/secrets/token)"
volumes:
  seeded: {}
secrets:
  token:
    environment: SPEC_TOKEN
"#;

#[test]
fn a_service_runs_as_its_spec_says() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-spec-")
        .tempdir()
        .unwrap();
    let project_dir = tmp.path().join("proj");
    std::fs::create_dir_all(project_dir.join("data")).unwrap();
    std::fs::write(project_dir.join("data/file"), "bound").unwrap();

    let env = [("SPEC_TOKEN".to_string(), "t0ken".to_string())]
        .into_iter()
        .collect();
    let mut opts = berth_compose::LoadOptions::new(project_dir.clone(), env);
    opts.files = vec![berth_compose::loader::ConfigSource::stdin(
        COMPOSE.to_string(),
    )];
    let loaded = berth_compose::load(&opts).expect("the compose file loads");

    let id = format!(
        "{:016x}{:016x}{:032x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
        0xbe27u64
    );
    let paths = ContainerPaths::new(tmp.path().join("containers").join(&id));
    busybox_rootfs(&paths.rootfs());
    // Image content that copy-up puts into the new named volume.
    std::fs::create_dir_all(paths.rootfs().join("var/seeded")).unwrap();
    std::fs::write(paths.rootfs().join("var/seeded/seed"), "from the image").unwrap();
    // What the executor writes for each container.
    std::fs::write(paths.hostname(), "spec-host\n").unwrap();
    std::fs::write(paths.hosts(), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(paths.resolv_conf(), "nameserver 127.0.0.1\n").unwrap();

    let image = ImageConfig {
        config: Some(ContainerConfig {
            env: Some(vec!["PATH=/bin".into(), "FROM_IMAGE=yes".into()]),
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let store = berth_volumes::store::VolumeStore::open(tmp.path().join("volumes")).unwrap();
    store
        .create(&berth_volumes::store::VolumeSpec {
            name: "spectest_seeded".into(),
            ..Default::default()
        })
        .unwrap();
    let plan = container::mounts::plan(&loaded, "app", &image).unwrap();
    let no_others = |_: &berth_volumes::volumes_from::Source| -> anyhow::Result<Vec<MountRecord>> {
        Ok(Vec::new())
    };
    let files = paths.files();
    let rootfs = paths.rootfs();
    let resolved = container::mounts::resolve(
        &plan,
        &ResolveContext {
            store: &store,
            project: &loaded.name,
            service: "app",
            rootfs: &rootfs,
            files_dir: &files,
            volumes_from: &no_others,
            image_root: &|r| anyhow::bail!("no image mounts here ({r})"),
        },
    )
    .unwrap();
    let joins = NamespaceJoins::default();
    let input = ContainerInput {
        project: &loaded,
        service: "app",
        number: 1,
        oneoff: false,
        id: &id,
        name: "spectest-app-1",
        image_ref: "busybox",
        image_id: "sha256:0000",
        image: &image,
        paths: &paths,
        namespaces: &joins,
        mounts: &resolved.mounts,
        env_files: &[],
    };
    let mut spec = container::build_spec(&input).unwrap();
    // Under the test's own cgroup, as the runtime's tests do.
    if let Some(linux) = spec.linux_mut().as_mut() {
        linux.set_cgroups_path(Some(PathBuf::from(format!("berth-test/{id}"))));
    }
    let fields = container::record_fields(&input).unwrap();
    assert_eq!(fields.command[0], "sh");
    let labels = container::labels(&input).unwrap();
    assert_eq!(labels["com.docker.compose.service"], "app");

    let runtime = Runtime::new(tmp.path().join("runtime"))
        .unwrap()
        .with_helper(env!("CARGO_BIN_EXE_berth"));
    let c = runtime
        .create(
            &id,
            &spec,
            &rootfs,
            CreateOptions {
                stdio: Stdio::Piped { stdin: false },
                init: fields.init,
            },
        )
        .expect("creating the container");
    let mut guard = Guard(Some(c));
    let c = guard.0.as_mut().unwrap();
    let io = c.take_io();
    c.start().expect("starting the container");
    let mut out_pipe = io.stdout.unwrap();
    let mut err_pipe = io.stderr.unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let mut out = String::new();
    let _ = out_pipe.read_to_string(&mut out);
    let status = c
        .wait_timeout(Duration::from_secs(120))
        .expect("the container ends by itself");
    let err = err_reader.join().unwrap();
    assert_eq!(status.code(), 0, "stdout:\n{out}\nstderr:\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "env=hello from compose",
            "image=yes",
            "id=1000:1000:1000 50",
            "pwd=/work",
            "data=bound",
            "scratch=tmpfs",
            "data=ro",
            "host=spec-host",
            "etc=spec-host",
            "seeded=from the image",
            "secret=t0ken",
        ],
        "stderr:\n{err}"
    );
}
