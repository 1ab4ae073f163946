//! `berth config` driven as a user drives it.

mod common;

use assert_cmd::Command;
use common::*;
use std::path::{Path, PathBuf};

fn berth(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("berth").unwrap();
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", "/home/berth-test");
    cmd
}

fn examples() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("compose.yaml").is_file())
            .collect();
    dirs.sort();
    assert!(dirs.len() >= 3, "examples are missing");
    dirs
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "berth failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn config_output_reads_back_to_the_same_project() {
    for dir in examples() {
        let first = stdout_of(berth(&dir).arg("config"));
        let again = stdout_of(
            berth(&dir)
                .args(["-f", "-", "config"])
                .write_stdin(first.clone()),
        );
        assert_same_tree(&parse(&again), &parse(&first), &dir.display().to_string());
        assert_eq!(again, first, "{}: the printed text differs", dir.display());
    }
}

#[test]
fn config_json_is_the_same_project() {
    let dir = examples()
        .into_iter()
        .find(|d| d.ends_with("wordpress"))
        .unwrap();
    let yaml = parse(&stdout_of(berth(&dir).arg("config")));
    let json = stdout_of(berth(&dir).args(["config", "--format", "json"]));
    // JSON is YAML: the same reader takes both.
    assert_same_tree(&parse(&json), &yaml, "json vs yaml");
}

#[test]
fn listing_flags_print_one_name_per_line() {
    let dir = examples()
        .into_iter()
        .find(|d| d.ends_with("app-db-cache"))
        .unwrap();
    assert_eq!(
        stdout_of(berth(&dir).args(["config", "--services"])),
        "api\ncache\ndb\nweb\n"
    );
    assert_eq!(
        stdout_of(berth(&dir).args(["--profile", "admin", "config", "--services"])),
        "adminer\napi\ncache\ndb\nweb\n"
    );
    assert_eq!(
        stdout_of(berth(&dir).args(["config", "--profiles"])),
        "admin\n"
    );
    assert_eq!(
        stdout_of(berth(&dir).args(["config", "--volumes"])),
        "pgdata\n"
    );
    assert_eq!(
        stdout_of(berth(&dir).args(["config", "--networks"])),
        "back\nfront\n"
    );
    assert_eq!(
        stdout_of(berth(&dir).args(["config", "--images"])),
        "nginx:1.27\npostgres:16\npython:3.12-slim\nredis:7\n"
    );
    // A service named on the command line enables its profile.
    assert_eq!(
        stdout_of(berth(&dir).args(["config", "--services", "adminer"])),
        "adminer\n"
    );
}

#[test]
fn hashes_are_stable_and_change_with_the_service() {
    let dir = examples()
        .into_iter()
        .find(|d| d.ends_with("app-db-cache"))
        .unwrap();
    let a = stdout_of(berth(&dir).args(["config", "--hash", "*"]));
    let b = stdout_of(berth(&dir).args(["config", "--hash", "*"]));
    assert_eq!(a, b);
    assert_eq!(a.lines().count(), 4);
    let changed = stdout_of(
        berth(&dir)
            .args(["config", "--hash", "api"])
            .env("API_IMAGE", "python:3.13"),
    );
    let before = a.lines().find(|l| l.starts_with("api ")).unwrap();
    assert_ne!(changed.trim(), before);
}

#[test]
fn env_precedence_shell_over_env_file() {
    let dir = examples()
        .into_iter()
        .find(|d| d.ends_with("app-db-cache"))
        .unwrap();
    let out = stdout_of(
        berth(&dir)
            .args(["config", "--environment"])
            .env("DB_PASSWORD", "from-shell"),
    );
    assert!(out.contains("DB_PASSWORD=from-shell\n"), "{out}");
    let out = stdout_of(berth(&dir).args(["config", "--environment"]));
    assert!(out.contains("DB_PASSWORD=change-me\n"), "{out}");
}

#[test]
fn variables_lists_defaults_and_required() {
    let dir = examples()
        .into_iter()
        .find(|d| d.ends_with("app-db-cache"))
        .unwrap();
    let out = stdout_of(berth(&dir).args(["config", "--variables"]));
    let line = out
        .lines()
        .find(|l| l.starts_with("LOG_LEVEL"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("false") && line.contains("info"), "{line}");
    let line = out.lines().find(|l| l.starts_with("DB_PASSWORD")).unwrap();
    assert!(line.contains("true"), "{line}");
}

#[test]
fn broken_files_give_one_clear_error_with_a_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    imgae: nginx\n",
    )
    .unwrap();
    let out = berth(dir.path()).arg("config").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("compose.yaml:3:5"), "{err}");
    assert!(
        err.contains("'imgae'") && err.contains("did you mean 'image'"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unset_variables_warn_and_default_to_blank() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: nginx:${TAG}\n",
    )
    .unwrap();
    let out = berth(dir.path())
        .args(["config", "--images"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "nginx:\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("The \"TAG\" variable is not set. Defaulting to a blank string."),
        "{err}"
    );
}

#[test]
fn output_file_and_quiet() {
    let dir = examples()
        .into_iter()
        .find(|d| d.ends_with("quickstart"))
        .unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("out.yaml");
    let printed = stdout_of(berth(&dir).args(["config", "-o"]).arg(&file));
    assert!(printed.is_empty());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        stdout_of(berth(&dir).arg("config"))
    );
    assert!(stdout_of(berth(&dir).args(["config", "-q"])).is_empty());
}

#[test]
fn invalid_project_name_states_the_rule() {
    let dir = examples()
        .into_iter()
        .find(|d| d.ends_with("quickstart"))
        .unwrap();
    let out = berth(&dir)
        .args(["-p", "Bad.Name", "config"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid project name \"Bad.Name\"") && err.contains("lowercase"),
        "{err}"
    );
}

#[test]
fn no_interpolate_prints_the_raw_model() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  test:\n    image: test\n    ports:\n      - ${PORT:-8080}:80\n    build: ./ctx\n",
    )
    .unwrap();
    let out = berth(dir.path())
        .args(["-p", "raw", "config", "--no-interpolate", "test"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Compose prints the raw model with every mapping sorted, `${...}` as written.
    assert!(stdout.starts_with("name: raw\nnetworks:\n"), "{stdout}");
    assert!(stdout.contains("      - ${PORT:-8080}:80\n"), "{stdout}");
    assert!(
        stdout.contains(&format!("context: {}/ctx", dir.path().display())),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("service filtering is not applied when --no-interpolate is set"));
}

#[test]
fn variables_render_as_json_and_yaml_like_compose() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  test:\n    image: test\n    ports:\n      - ${PORT:-8080}:80\n",
    )
    .unwrap();
    let json = stdout_of(berth(dir.path()).args(["config", "--variables", "--format", "json"]));
    assert_eq!(
        json,
        "{\n    \"PORT\": {\n        \"Name\": \"PORT\",\n        \"DefaultValue\": \"8080\",\n        \"PresenceValue\": \"\",\n        \"Required\": false\n    }\n}\n"
    );
    let yaml = stdout_of(berth(dir.path()).args(["config", "--variables", "--format", "yaml"]));
    assert_eq!(
        yaml,
        "PORT:\n    name: PORT\n    defaultvalue: \"8080\"\n    presencevalue: \"\"\n    required: false\n"
    );
}

#[test]
fn ports_print_in_compose_field_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  test:\n    image: test\n    ports: [\"8080:80\"]\n",
    )
    .unwrap();
    let out = stdout_of(berth(dir.path()).arg("config"));
    assert!(
        out.contains("    ports:\n      - mode: ingress\n        target: 80\n        published: \"8080\"\n        protocol: tcp\n"),
        "{out}"
    );
}
