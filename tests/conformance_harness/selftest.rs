//! Checks of the harness's own logic, run before any scenario: the harness has its own `main`
//! (no libtest), so these are plain functions whose failure fails the run.

use super::observe::parse_ps;
use super::run::{project_name, subcommand};

fn ensure(cond: bool, what: &str) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(format!("harness self-test: {what}"))
    }
}

/// `ps --format json` as Docker Compose prints it (one object per line, labels and mounts
/// as comma-joined text) and as an array with a label map: both read the same.
fn reads_both_ps_shapes() -> Result<(), String> {
    let lines = concat!(
        r#"{"ID":"aaa","Name":"p-web-1","Service":"web","State":"running","Health":"","ExitCode":0,"#,
        r#""Labels":"com.docker.compose.container-number=1,com.docker.compose.oneoff=False","#,
        r#""Mounts":"p_data,/host","Publishers":[{"URL":"0.0.0.0","TargetPort":80,"PublishedPort":8080,"Protocol":"tcp"}]}"#,
        "\n",
        r#"{"ID":"bbb","Name":"p-web-run-1","Service":"web","State":"Exited","ExitCode":3,"#,
        r#""Labels":"com.docker.compose.oneoff=True,com.docker.compose.service=web"}"#,
        "\n",
        r#"{"ID":"ccc","Name":"p-web-hook","Service":"web","State":"exited","Labels":""}"#,
    );
    let obs = parse_ps(lines)?;
    ensure(
        obs.containers.len() == 3,
        "three containers from three lines",
    )?;
    let replicas = obs.replicas("web");
    ensure(
        replicas.len() == 1,
        "one replica (one-offs and helpers apart)",
    )?;
    ensure(
        replicas[0].number() == Some(1),
        "replica number from the label text",
    )?;
    ensure(
        replicas[0].mounts == ["p_data", "/host"],
        "mount names from the text",
    )?;
    ensure(
        replicas[0].publishers.len() == 1 && replicas[0].publishers[0].published == 8080,
        "publishers",
    )?;
    let one_offs = obs.one_offs("web");
    ensure(
        one_offs.len() == 1 && one_offs[0].state == "exited",
        "one-off, state lower-cased",
    )?;
    ensure(
        obs.all_of("web").len() == 3,
        "all containers of the service",
    )?;

    let array = r#"[{"ID":"x","Name":"p-db-2","Labels":{"com.docker.compose.service":"db","com.docker.compose.container-number":"2"},"State":"running","Mounts":[{"Name":"p_v"}]}]"#;
    let obs = parse_ps(array)?;
    let db = obs.replicas("db");
    ensure(
        db.len() == 1 && db[0].number() == Some(2),
        "array form, service from the label",
    )?;
    ensure(db[0].mounts == ["p_v"], "mount objects")?;
    ensure(
        parse_ps("").is_ok_and(|o| o.containers.is_empty()),
        "empty output",
    )?;
    ensure(parse_ps("not json").is_err(), "garbage is an error")
}

fn names_projects_and_commands() -> Result<(), String> {
    let name = project_name("TestStartStopWithOneOffs");
    ensure(
        name.starts_with("e2e-start-stop-with-one-offs-") && name.len() == 33,
        "project name shape",
    )?;
    ensure(
        name.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "project name characters",
    )?;
    ensure(
        project_name("TestA") != project_name("TestA"),
        "project names differ",
    )?;
    let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    ensure(
        subcommand(&args(&["--profile", "x", "--ansi=never", "up", "-d"])) == Some("up"),
        "subcommand after global flags",
    )?;
    ensure(
        subcommand(&args(&["--env-file", "a.env", "config"])) == Some("config"),
        "flag values are skipped",
    )?;
    ensure(subcommand(&args(&["--dry-run"])).is_none(), "no subcommand")
}

/// Runs every self-check.
pub fn run() -> Result<(), String> {
    reads_both_ps_shapes()?;
    names_projects_and_commands()
}
