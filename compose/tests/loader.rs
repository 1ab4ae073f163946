//! The loader's own behaviour: files, names, environment, include, extends, env files,
//! profiles. Each test builds a small project in a temporary directory.

use berth_compose::loader::{ConfigSource, Environment};
use berth_compose::{LoadOptions, LoadedProject, Value, load};
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(p, text).unwrap();
}

fn env(pairs: &[(&str, &str)]) -> Environment {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_in(dir: &Path, vars: &[(&str, &str)]) -> berth_compose::Result<LoadedProject> {
    load(&LoadOptions::new(dir.to_path_buf(), env(vars)))
}

fn service<'a>(p: &'a LoadedProject, name: &str) -> &'a Value {
    p.tree
        .get("services")
        .and_then(|s| s.get(name))
        .unwrap_or_else(|| panic!("no service {name}"))
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    cur.as_str()
}

#[test]
fn default_file_and_override_are_found_from_a_subdirectory() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n",
    );
    write(
        d.path(),
        "compose.override.yaml",
        "services:\n  web:\n    image: nginx:2\n",
    );
    std::fs::create_dir_all(d.path().join("sub/dir")).unwrap();
    let p = load_in(&d.path().join("sub/dir"), &[]).unwrap();
    assert_eq!(text(service(&p, "web"), &["image"]), Some("nginx:2"));
    assert_eq!(p.working_dir, d.path());
    assert_eq!(p.config_files.len(), 2);
}

#[test]
fn project_name_precedence() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("My_Dir");
    write(
        &dir,
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n",
    );
    assert_eq!(load_in(&dir, &[]).unwrap().name, "my_dir");
    write(
        &dir,
        "compose.yaml",
        "name: from-file\nservices:\n  web:\n    image: nginx\n",
    );
    assert_eq!(load_in(&dir, &[]).unwrap().name, "from-file");
    assert_eq!(
        load_in(&dir, &[("COMPOSE_PROJECT_NAME", "from-env")])
            .unwrap()
            .name,
        "from-env"
    );
    let mut opts = LoadOptions::new(dir.clone(), env(&[("COMPOSE_PROJECT_NAME", "from-env")]));
    opts.project_name = Some("from-flag".into());
    assert_eq!(load(&opts).unwrap().name, "from-flag");
    opts.project_name = Some("Bad".into());
    let e = load(&opts).unwrap_err();
    assert!(e.message.contains("invalid project name \"Bad\""), "{e}");
}

#[test]
fn dot_env_feeds_interpolation_and_compose_file() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        ".env",
        "COMPOSE_FILE=one.yaml:two.yaml\nTAG=1.2\nCOMPOSE_PROFILES=debug\n",
    );
    write(
        d.path(),
        "one.yaml",
        "services:\n  web:\n    image: nginx:${TAG}\n  dbg:\n    image: busybox\n    profiles: [debug]\n",
    );
    write(
        d.path(),
        "two.yaml",
        "services:\n  web:\n    command: [echo, hi]\n",
    );
    let p = load_in(d.path(), &[]).unwrap();
    assert_eq!(text(service(&p, "web"), &["image"]), Some("nginx:1.2"));
    assert!(service(&p, "web").get("command").is_some());
    assert!(
        service(&p, "dbg").get("image").is_some(),
        "profile from .env"
    );
    // The shell wins over .env.
    let p = load_in(d.path(), &[("TAG", "shell")]).unwrap();
    assert_eq!(text(service(&p, "web"), &["image"]), Some("nginx:shell"));
}

#[test]
fn env_file_flag_replaces_dot_env() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), ".env", "TAG=dotenv\n");
    write(d.path(), "other.env", "TAG=other\n");
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: nginx:${TAG}\n",
    );
    let mut opts = LoadOptions::new(d.path().to_path_buf(), env(&[]));
    opts.env_files = vec!["other.env".into()];
    let p = load(&opts).unwrap();
    assert_eq!(text(service(&p, "web"), &["image"]), Some("nginx:other"));
}

#[test]
fn reset_and_override_across_files() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    ports: ['80:80']\n    command: [a, b]\n    environment: {A: '1', B: '2'}\n",
    );
    write(
        d.path(),
        "compose.override.yaml",
        "services:\n  web:\n    ports: !reset []\n    environment: !override {C: '3'}\n",
    );
    let p = load_in(d.path(), &[]).unwrap();
    let web = service(&p, "web");
    assert!(
        web.get("ports")
            .is_none_or(|v| v.as_seq().is_none_or(|s| s.is_empty()))
    );
    let env = web.get("environment").and_then(Value::as_map).unwrap();
    assert_eq!(env.keys().collect::<Vec<_>>(), ["C"]);
}

#[test]
fn extends_from_another_file_resolves_its_paths_there() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "common/base.yaml",
        "services:\n  base:\n    image: app\n    environment: {A: '1'}\n    build: ./src\n  mid:\n    extends: base\n    environment: {B: '2'}\n",
    );
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    extends:\n      file: common/base.yaml\n      service: mid\n    environment: {C: '3'}\n",
    );
    let p = load_in(d.path(), &[]).unwrap();
    let web = service(&p, "web");
    let env = web.get("environment").and_then(Value::as_map).unwrap();
    assert_eq!(env.len(), 3, "{env:?}");
    assert_eq!(
        text(web, &["build", "context"]),
        Some(d.path().join("common/src").to_str().unwrap())
    );
    assert!(web.get("extends").is_none());
}

#[test]
fn extends_cycles_are_reported() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  a:\n    image: x\n    extends: b\n  b:\n    extends: a\n",
    );
    let e = load_in(d.path(), &[]).unwrap_err();
    assert!(e.message.contains("cycle"), "{e}");
}

#[test]
fn include_brings_services_with_their_own_directory_and_env() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "db/.env", "DB_TAG=16\n");
    write(
        d.path(),
        "db/compose.yaml",
        "services:\n  db:\n    image: postgres:${DB_TAG}\n    volumes: ['./data:/var/lib/postgresql/data']\n",
    );
    write(
        d.path(),
        "compose.yaml",
        "include:\n  - db/compose.yaml\nservices:\n  web:\n    image: nginx\n    depends_on: [db]\n",
    );
    let p = load_in(d.path(), &[]).unwrap();
    let db = service(&p, "db");
    assert_eq!(text(db, &["image"]), Some("postgres:16"));
    let vol = db.get("volumes").and_then(Value::as_seq).unwrap();
    assert_eq!(
        text(&vol[0], &["source"]),
        Some(d.path().join("db/data").to_str().unwrap())
    );
}

#[test]
fn include_cycles_and_conflicts_are_errors() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "a.yaml",
        "include: [b.yaml]\nservices: {a: {image: x}}\n",
    );
    write(
        d.path(),
        "b.yaml",
        "include: [a.yaml]\nservices: {b: {image: x}}\n",
    );
    let mut opts = LoadOptions::new(d.path().to_path_buf(), env(&[]));
    opts.files = vec![ConfigSource::file(d.path().join("a.yaml"))];
    let e = load(&opts).unwrap_err();
    assert!(e.message.starts_with("include cycle detected"), "{e}");

    write(d.path(), "c.yaml", "services: {web: {image: other}}\n");
    write(
        d.path(),
        "compose.yaml",
        "include: [c.yaml]\nservices: {web: {image: mine}}\n",
    );
    let e = load_in(d.path(), &[]).unwrap_err();
    assert!(e.message.contains("conflicting"), "{e}");
}

#[test]
fn env_files_of_services_fill_environment_under_the_service_own() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.env", "A=from-file\nB=from-file\n");
    write(d.path(), "raw.env", "R=\"kept $quotes\"\n");
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: x\n    env_file:\n      - a.env\n      - path: raw.env\n        format: raw\n      - path: missing.env\n        required: false\n    environment:\n      B: own\n",
    );
    let p = load_in(d.path(), &[]).unwrap();
    let envs = service(&p, "web").get("environment").unwrap();
    assert_eq!(text(envs, &["A"]), Some("from-file"));
    assert_eq!(text(envs, &["B"]), Some("own"));
    assert_eq!(text(envs, &["R"]), Some("\"kept $quotes\""));
}

#[test]
fn profiles_disable_services_and_named_services_enable_theirs() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web: {image: x}\n  debug: {image: y, profiles: [dev]}\n",
    );
    let p = load_in(d.path(), &[]).unwrap();
    assert!(p.tree.get("services").unwrap().get("debug").is_none());
    assert!(p.disabled_services.contains_key("debug"));
    let mut opts = LoadOptions::new(d.path().to_path_buf(), env(&[]));
    opts.services = vec!["debug".into()];
    let p = load(&opts).unwrap();
    assert!(p.tree.get("services").unwrap().get("debug").is_some());
}

#[test]
fn dependency_cycles_name_the_path() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
    );
    let e = load_in(d.path(), &[]).unwrap_err();
    assert!(e.message.contains("dependency cycle detected"), "{e}");
    assert!(
        e.message.contains("a -> b -> a") || e.message.contains("b -> a -> b"),
        "{e}"
    );
}

#[test]
fn stdin_files_use_the_working_directory() {
    let d = tempfile::tempdir().unwrap();
    let mut opts = LoadOptions::new(d.path().to_path_buf(), env(&[]));
    opts.files = vec![ConfigSource::stdin(
        "name: piped\nservices:\n  web:\n    image: x\n    volumes: ['./data:/data']\n".into(),
    )];
    let p = load(&opts).unwrap();
    assert_eq!(p.name, "piped");
    let vol = service(&p, "web")
        .get("volumes")
        .and_then(Value::as_seq)
        .unwrap();
    assert_eq!(
        text(&vol[0], &["source"]),
        Some(d.path().join("data").to_str().unwrap())
    );
}

#[test]
fn errors_carry_file_line_and_column() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: [not, a, string]\n",
    );
    let e = load_in(d.path(), &[]).unwrap_err();
    let loc = e.location.clone().expect("a location");
    assert_eq!((loc.line, loc.column), (3, 12), "{e}");
    assert!(e.to_string().contains("compose.yaml:3:12"), "{e}");
}
