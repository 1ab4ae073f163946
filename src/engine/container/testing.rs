//! Helpers of this module's unit tests: projects loaded from text, and an input around them.

use berth_compose::LoadedProject;
use berth_compose::model::ServiceConfig;
use std::path::Path;

/// Loads `text` as a compose file of a project in `dir` with `env` as the shell environment.
pub fn project_in(text: &str, dir: &Path, env: &[(&str, &str)]) -> LoadedProject {
    let environment = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut opts = berth_compose::LoadOptions::new(dir.to_path_buf(), environment);
    opts.project_name = Some("proj".into());
    opts.files = vec![berth_compose::loader::ConfigSource::stdin(text.to_string())];
    berth_compose::load(&opts).unwrap_or_else(|e| panic!("{e}"))
}

/// Loads `text` as a compose file of a project in /srv/proj.
pub fn project(text: &str) -> LoadedProject {
    project_in(text, Path::new("/srv/proj"), &[])
}

/// Service `s` of a project whose only service is `body` (YAML lines of the service).
pub fn service(body: &str) -> ServiceConfig {
    let indented: String = body.lines().map(|l| format!("    {l}\n")).collect();
    let p = project(&format!("services:\n  s:\n{indented}"));
    p.project.services["s"].clone()
}

/// A project, an image and a container directory (with a rootfs holding /etc/passwd and
/// /etc/group) to build inputs from.
pub struct Fixture {
    pub project: LoadedProject,
    pub image: berth_runtime::image::store::oci::ImageConfig,
    pub paths: crate::engine::state::ContainerPaths,
    pub joins: super::NamespaceJoins,
    pub mounts: Vec<berth_volumes::mounts::Mount>,
    pub _dir: tempfile::TempDir,
}

/// A container id for tests.
pub const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

impl Fixture {
    pub fn new(project: LoadedProject) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let paths = crate::engine::state::ContainerPaths::new(dir.path());
        let etc = paths.rootfs().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("group"),
            "root:x:0:\napp:x:1000:\naudio:x:29:app\n",
        )
        .unwrap();
        Fixture {
            project,
            image: berth_runtime::image::store::oci::ImageConfig {
                config: Some(berth_runtime::image::store::oci::ContainerConfig {
                    cmd: Some(vec!["sh".into()]),
                    env: Some(vec!["PATH=/usr/bin:/bin".into()]),
                    ..Default::default()
                }),
                ..Default::default()
            },
            paths,
            joins: super::NamespaceJoins::default(),
            mounts: Vec::new(),
            _dir: dir,
        }
    }

    pub fn input<'a>(&'a self, service: &'a str) -> super::ContainerInput<'a> {
        super::ContainerInput {
            project: &self.project,
            service,
            number: 1,
            oneoff: false,
            id: ID,
            name: "proj-s-1",
            image_ref: "x",
            image_id: "sha256:abc",
            image: &self.image,
            paths: &self.paths,
            namespaces: &self.joins,
            mounts: &self.mounts,
            env_files: &[],
        }
    }
}
