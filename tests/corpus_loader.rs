//! The loader corpus (tests/corpus, from compose-go's tests) run through berth's whole
//! loader: the full example, failing inputs, real-world stacks and merges end to end.
//! Stage-level cases (interpolation, dotenv, merge trees, normalize) run in compose/tests.

mod common;

use berth_compose::loader::ConfigSource;
use berth_compose::{LoadOptions, Value, load};
use common::*;
use std::path::{Path, PathBuf};

fn case_dirs(part: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus().join(part))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn full_example_prints_as_compose_go_does() {
    let dir = corpus().join("full-example");
    let home = "/home/berth-test";
    let mut env = berth_compose::loader::Environment::new();
    env.insert("HOME".into(), home.into());
    env.insert("BAR".into(), "this is a secret".into());
    env.insert("QUX".into(), "qux_from_environment".into());
    let mut opts = LoadOptions::new(dir.clone(), env);
    opts.files = vec![ConfigSource::file(dir.join("full-example.yml"))];
    opts.consistency = false;
    opts.normalize = false;
    opts.home = Some(PathBuf::from(home));
    let loaded = load(&opts).unwrap_or_else(|e| panic!("{e}"));
    let expected = std::fs::read_to_string(dir.join("expected.yaml"))
        .unwrap()
        .replace("{{WORKDIR}}", dir.to_str().unwrap())
        .replace("{{HOME}}", home);
    assert_same_tree(&loaded.tree, &parse(&expected), "full example");
}

/// Runs one loader-errors case and returns the error message.
fn run_error_case(dir: &Path) -> Result<(), String> {
    let case = read_yaml(&dir.join("case.yaml"));
    let env = env_of(case.get("env"));
    let project_dir = match str_field(&case, "project_directory") {
        Some("/") => PathBuf::from("/"),
        Some(".") | None => dir.to_path_buf(),
        Some(other) => dir.join(other),
    };
    let mut opts = LoadOptions::new(dir.to_path_buf(), env);
    opts.home = Some(PathBuf::from("/home/berth-test"));
    if let Some(Value::Seq(files)) = case.get("files") {
        opts.files = files
            .iter()
            .filter_map(Value::as_str)
            .map(|f| ConfigSource::file(dir.join(f)))
            .collect();
    }
    opts.project_directory = Some(project_dir);
    opts.project_name = str_field(&case, "project_name").map(str::to_string);
    let library_only = case.get("library_only") == Some(&Value::Bool(true));
    let command_line = case.get("layer").is_some();
    opts.name_from_environment = command_line;
    opts.name_from_directory = !library_only;
    if let Some(o) = case.get("loader_options") {
        let flag = |k: &str| o.get(k) == Some(&Value::Bool(true));
        opts.consistency = !flag("skip_consistency_check");
        opts.normalize = !flag("skip_normalization");
        opts.validate = !flag("skip_validation");
        if o.get("resolve_paths") == Some(&Value::Bool(false)) {
            opts.resolve_paths = false;
        }
    }
    match load(&opts) {
        Ok(_) => Err("loaded without error".into()),
        Err(e) => {
            let wanted = str_field(&case, "error_contains").unwrap_or("");
            let ok = match str_field(&case, "error_match") {
                Some("any") => true,
                Some("prefix") => e.message.starts_with(wanted),
                _ => e.message.contains(wanted),
            };
            if ok {
                Ok(())
            } else {
                Err(format!("wrong error: {e}\n   wanted: {wanted}"))
            }
        }
    }
}

#[test]
fn loader_errors_are_rejected_with_compose_go_messages() {
    let mut failures = Vec::new();
    for dir in case_dirs("loader-errors") {
        if let Err(why) = run_error_case(&dir) {
            failures.push(format!(
                "{}: {why}",
                dir.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn awesome_compose_stacks_load() {
    let mut failures = Vec::new();
    for dir in case_dirs("awesome-compose") {
        let case = read_yaml(&dir.join("case.yaml"));
        let mut env = berth_compose::loader::Environment::new();
        env.insert("HOME".into(), "/home/berth-test".into());
        let mut opts = LoadOptions::new(dir.clone(), env);
        opts.project_name = str_field(&case, "project_name").map(str::to_string);
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let loaded = match load(&opts) {
            Ok(l) => l,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let services = loaded
            .tree
            .get("services")
            .and_then(Value::as_map)
            .cloned()
            .unwrap_or_default();
        let mut got: Vec<String> = services.keys().cloned().collect();
        got.sort();
        let mut want: Vec<String> = case
            .get("services")
            .and_then(Value::as_seq)
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        want.sort();
        if got != want {
            failures.push(format!("{name}: services {got:?}, expected {want:?}"));
        }
        let images: Vec<&str> = case
            .get("images")
            .and_then(Value::as_seq)
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for svc in services.values() {
            if let Some(img) = svc.get("image").and_then(Value::as_str)
                && !images.contains(&img)
            {
                failures.push(format!("{name}: unexpected image {img}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The end-to-end form of the merge cases: `-f base -f override` loads like `-f expected`.
#[test]
fn merge_cases_load_end_to_end() {
    let mut failures = Vec::new();
    for dir in case_dirs("merge") {
        let case = read_yaml(&dir.join("case.yaml"));
        if case.get("schema_valid") == Some(&Value::Bool(false)) {
            continue;
        }
        let run = |files: &[&str]| {
            let mut opts = LoadOptions::new(dir.clone(), Default::default());
            opts.files = files
                .iter()
                .map(|f| ConfigSource::file(dir.join(f)))
                .collect();
            opts.project_name = Some("merge-case".into());
            opts.consistency = false;
            opts.resolve_service_files = false;
            load(&opts)
        };
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (merged, expected) = match (
            run(&["base.yaml", "override.yaml"]),
            run(&["expected.yaml"]),
        ) {
            (Ok(a), Ok(b)) => (a.tree, b.tree),
            (a, b) => {
                failures.push(format!("{name}: {:?} / {:?}", a.err(), b.err()));
                continue;
            }
        };
        let expected_file = read_yaml(&dir.join("expected.yaml"));
        for section in ["services", "networks", "models"] {
            if expected_file.get(section).is_none() {
                continue;
            }
            let a = canonical_order(merged.get(section).unwrap_or(&Value::Null));
            let b = canonical_order(expected.get(section).unwrap_or(&Value::Null));
            if a != b {
                failures.push(format!(
                    "{name}: {section} differ\n{}\n---\n{}",
                    berth_compose::yaml::to_string(&a),
                    berth_compose::yaml::to_string(&b)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
