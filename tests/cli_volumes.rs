//! `berth volume ls|create|inspect|rm|prune` driven as a user drives them, against a state
//! root in a temporary directory: Docker's output, and named volume data kept until an
//! explicit remove.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

/// `berth --root ROOT volume ARGS...` with nothing else from the environment.
fn volume(root: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("berth")
        .expect("the berth binary")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BERTH_ROOT", root)
        .arg("volume")
        .args(args)
        .output()
        .expect("running berth")
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

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("berth-cli-volumes-")
        .tempdir()
        .expect("a temporary root")
}

#[test]
fn create_list_inspect_remove() {
    let dir = root();
    let root = dir.path();
    assert_eq!(ok(&volume(root, &["ls"])), "DRIVER    VOLUME NAME\n");
    assert_eq!(
        ok(&volume(
            root,
            &["create", "--label", "com.example=1", "proj_data"]
        )),
        "proj_data\n"
    );
    let generated = ok(&volume(root, &["create"]));
    let generated = generated.trim();
    assert_eq!(generated.len(), 64);
    assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()));

    let table = ok(&volume(root, &["ls"]));
    let mut expected = [
        format!("local     {generated}"),
        "local     proj_data".to_owned(),
    ];
    expected.sort();
    assert_eq!(
        table,
        format!("DRIVER    VOLUME NAME\n{}\n", expected.join("\n"))
    );
    let quiet = ok(&volume(
        root,
        &["ls", "-q", "--filter", "label=com.example"],
    ));
    assert_eq!(quiet, "proj_data\n");

    let json = ok(&volume(
        root,
        &["ls", "--format", "json", "-f", "name=proj"],
    ));
    let row: Value = serde_json::from_str(json.trim()).expect("one JSON object");
    assert_eq!(row["Name"], "proj_data");
    assert_eq!(row["Driver"], "local");
    assert_eq!(row["Scope"], "local");
    assert_eq!(row["Labels"], "com.example=1");
    let mountpoint = root.join("volumes/proj_data/_data");
    assert_eq!(row["Mountpoint"], mountpoint.to_str().unwrap());

    let inspect = ok(&volume(root, &["inspect", "proj_data"]));
    assert!(inspect.starts_with("[\n    {\n"), "{inspect}");
    let v: Value = serde_json::from_str(&inspect).expect("a JSON array");
    let v = &v[0];
    assert_eq!(v["Name"], "proj_data");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Mountpoint"], mountpoint.to_str().unwrap());
    assert_eq!(v["Labels"]["com.example"], "1");
    assert_eq!(v["Options"], Value::Null);
    assert!(v["CreatedAt"].as_str().unwrap().ends_with('Z'));

    let missing = volume(root, &["inspect", "proj_data", "nope"]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("no such volume: nope"));
    let partial: Value = serde_json::from_slice(&missing.stdout).unwrap();
    assert_eq!(partial.as_array().unwrap().len(), 1);

    assert_eq!(
        ok(&volume(root, &["rm", "proj_data", generated])),
        format!("proj_data\n{generated}\n")
    );
    assert!(!root.join("volumes/proj_data").exists());
    let again = volume(root, &["rm", "proj_data"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("no such volume: proj_data"));
    assert_eq!(ok(&volume(root, &["rm", "-f", "proj_data"])), "");
}

#[test]
fn data_survives_until_an_explicit_remove() {
    let dir = root();
    let root = dir.path();
    ok(&volume(root, &["create", "proj_db"]));
    let data = root.join("volumes/proj_db/_data");
    std::fs::write(data.join("table"), b"rows").unwrap();
    // Creating it again and pruning without -a keep the data.
    assert_eq!(ok(&volume(root, &["create", "proj_db"])), "proj_db\n");
    assert_eq!(
        ok(&volume(root, &["prune", "-f"])),
        "Total reclaimed space: 0B\n"
    );
    assert_eq!(std::fs::read(data.join("table")).unwrap(), b"rows");
    // Declining the prompt removes nothing.
    let declined = Command::cargo_bin("berth")
        .unwrap()
        .env("BERTH_ROOT", root)
        .args(["volume", "prune", "-a"])
        .write_stdin("n\n")
        .output()
        .unwrap();
    assert!(declined.status.success());
    assert!(stderr(&declined).contains("WARNING! This will remove all local volumes"));
    assert!(data.join("table").exists());
    // prune -a is the explicit remove.
    assert_eq!(
        ok(&volume(root, &["prune", "-f", "-a"])),
        "Deleted Volumes:\nproj_db\n\nTotal reclaimed space: 4B\n"
    );
    assert!(!data.exists());
}

#[test]
fn in_use_volumes_are_refused() {
    let dir = root();
    let root = dir.path();
    ok(&volume(root, &["create", "proj_used"]));
    ok(&volume(root, &["create", "proj_free"]));
    // A container whose spec mounts the volume (running or not) keeps it in use.
    let ctr = root.join("containers/0123abcd");
    std::fs::create_dir_all(&ctr).unwrap();
    let source = root.join("volumes/proj_used/_data");
    let spec = serde_json::json!({
        "ociVersion": "1.0.2",
        "mounts": [{"destination": "/data", "type": "bind", "source": source, "options": ["rbind"]}],
    });
    std::fs::write(ctr.join("config.json"), spec.to_string()).unwrap();

    let out = volume(root, &["rm", "proj_used"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("remove proj_used: volume is in use"),
        "{}",
        stderr(&out)
    );
    assert!(source.is_dir());
    assert_eq!(
        ok(&volume(root, &["ls", "-q", "--filter", "dangling=true"])),
        "proj_free\n"
    );
    assert_eq!(
        ok(&volume(root, &["prune", "-fa"])),
        "Deleted Volumes:\nproj_free\n\nTotal reclaimed space: 0B\n"
    );
    assert_eq!(ok(&volume(root, &["ls", "-q"])), "proj_used\n");
    std::fs::remove_dir_all(&ctr).unwrap();
    assert_eq!(ok(&volume(root, &["rm", "proj_used"])), "proj_used\n");
}

#[test]
fn bad_input_is_refused_clearly() {
    let dir = root();
    let root = dir.path();
    let out = volume(root, &["create", "../escape"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid volume name"),
        "{}",
        stderr(&out)
    );
    let out = volume(root, &["create", "-d", "rexray", "proj_x"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not supported"), "{}", stderr(&out));
    let out = volume(root, &["create", "-o", "sise=1m", "proj_x"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("\"sise\""), "{}", stderr(&out));
    let out = volume(root, &["ls", "--filter", "color=red"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("invalid filter 'color'"));
    assert_eq!(ok(&volume(root, &["ls", "-q"])), "");
}
