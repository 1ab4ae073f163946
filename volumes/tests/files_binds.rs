//! Configs and secrets materialized with their owner and mode; bind sources checked and
//! created relative to the project directory.

mod common;

use std::path::{Path, PathBuf};

use berth_volumes::VolumeError;
use berth_volumes::binds::check_source;
use berth_volumes::files::{FileKind, FileSource, FileSpec, materialize};
use berth_volumes::mounts::{MountKind, Origin};
use common::{mode, owner, tempdir};

fn spec(kind: FileKind, name: &str, source: FileSource) -> FileSpec {
    FileSpec {
        kind,
        name: name.to_owned(),
        source,
        target: None,
        uid: 0,
        gid: 0,
        mode: 0o444,
    }
}

#[test]
fn secret_from_a_file_with_owner_and_mode() {
    if !common::privileged("secret_from_a_file_with_owner_and_mode") {
        return;
    }
    let dir = tempdir();
    let src = dir.path().join("db_password.txt");
    std::fs::write(&src, b"hunter2").unwrap();
    let mut s = spec(
        FileKind::Secret,
        "db_password",
        FileSource::File(src.clone()),
    );
    s.uid = 999;
    s.gid = 998;
    s.mode = 0o400;
    let m = materialize(&dir.path().join("ctr"), &s).unwrap();
    assert_eq!(m.kind, MountKind::Bind);
    assert!(m.read_only);
    assert_eq!(m.origin, Origin::Secret);
    assert_eq!(m.target, PathBuf::from("/run/secrets/db_password"));
    assert_eq!(m.oci_options(), ["bind", "ro", "rprivate"]);
    assert_eq!(std::fs::read(&m.source).unwrap(), b"hunter2");
    assert_eq!(owner(&m.source), (999, 998));
    assert_eq!(mode(&m.source), 0o400);
    assert_eq!(mode(&dir.path().join("ctr")), 0o700);
    // The user's file is untouched.
    assert_ne!(owner(&src), (999, 998));
}

#[test]
fn configs_from_environment_and_content() {
    let dir = tempdir();
    let ctr = dir.path().join("ctr");
    let env = spec(
        FileKind::Config,
        "app_env",
        FileSource::Environment {
            variable: "APP_CONF".into(),
            value: Some("debug=1".into()),
        },
    );
    let m = materialize(&ctr, &env).unwrap();
    assert_eq!(m.target, PathBuf::from("/app_env"));
    assert_eq!(std::fs::read(&m.source).unwrap(), b"debug=1");
    assert_eq!(mode(&m.source), 0o444);

    let mut inline = spec(
        FileKind::Config,
        "nginx",
        FileSource::Content(b"server {}".to_vec()),
    );
    inline.target = Some(PathBuf::from("/etc/nginx/conf.d/site.conf"));
    inline.mode = 0o640;
    let m = materialize(&ctr, &inline).unwrap();
    assert_eq!(m.target, PathBuf::from("/etc/nginx/conf.d/site.conf"));
    assert_eq!(std::fs::read(&m.source).unwrap(), b"server {}");
    assert_eq!(mode(&m.source), 0o640);
    // Written again (a restart with new content): replaced atomically.
    inline.source = FileSource::Content(b"server { listen 80; }".to_vec());
    let m = materialize(&ctr, &inline).unwrap();
    assert_eq!(std::fs::read(&m.source).unwrap(), b"server { listen 80; }");
}

#[test]
fn bad_sources_are_clear_errors() {
    let dir = tempdir();
    let ctr = dir.path().join("ctr");
    let unset = spec(
        FileKind::Secret,
        "token",
        FileSource::Environment {
            variable: "TOKEN".into(),
            value: None,
        },
    );
    let err = materialize(&ctr, &unset).unwrap_err().to_string();
    assert_eq!(err, "secret token: environment variable TOKEN is not set");
    let missing = spec(
        FileKind::Secret,
        "key",
        FileSource::File(dir.path().join("nope.pem")),
    );
    let err = materialize(&ctr, &missing).unwrap_err().to_string();
    assert!(
        err.starts_with("secret key: cannot read") && err.contains("nope.pem"),
        "{err}"
    );
    let a_dir = spec(FileKind::Config, "d", FileSource::File(dir.path().into()));
    assert!(materialize(&ctr, &a_dir).is_err());
    let escape = spec(FileKind::Config, "../x", FileSource::Content(vec![]));
    assert!(matches!(
        materialize(&ctr, &escape),
        Err(VolumeError::FileSource { .. })
    ));
}

#[test]
fn bind_sources_relative_to_the_project() {
    let dir = tempdir();
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    let created = check_source(&project, Path::new("./data/db"), true).unwrap();
    assert_eq!(created, project.join("data/db"));
    assert!(created.is_dir());
    std::fs::write(created.join("keep"), b"k").unwrap();
    // Existing: returned as is, content untouched.
    assert_eq!(
        check_source(&project, Path::new("data/db"), false).unwrap(),
        created
    );
    assert!(created.join("keep").exists());
    let err = check_source(&project, Path::new("../missing"), false).unwrap_err();
    assert!(matches!(err, VolumeError::BindSourceMissing(_)));
    assert_eq!(
        err.to_string(),
        format!(
            "bind source path does not exist: {}",
            dir.path().join("missing").display()
        )
    );
    assert!(!dir.path().join("missing").exists());
}
