//! The conformance harness: runs the scenarios of `tests/conformance/` (Docker Compose's
//! end-to-end scenarios, restated; see its README) against the `berth` binary.
//!
//! It starts a local registry (Debian's `docker-registry`, on 127.0.0.1), pushes the stand-in
//! images built from `busybox-static` to it, and points berth's `default-registry` at it, so
//! that `alpine` resolves there and nothing outside loopback is ever contacted. Scenarios run
//! a few at a time (`BERTH_CONFORMANCE_JOBS`, default 3); `BERTH_CONFORMANCE=TestA,TestB`
//! runs only those. The outcome is a table on stderr and in `target/conformance-report.md`.
//! The test fails when a scenario listed in `tests/conformance/expected-pass.txt` does not
//! pass. Needs root and `docker-registry` (fails under `BERTH_REQUIRE_PRIVILEGED=1` without
//! them, otherwise says so and passes).
//!
//! Run: `cargo test --test conformance` (own `main`: the table is always printed).

#[path = "../runtime/tests/support/mod.rs"]
mod support;

#[path = "conformance_harness/mod.rs"]
mod harness;

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use harness::report::{Row, expected_pass, render};
use harness::run::{Ctx, Outcome, Shared, run_scenario};
use harness::scenario::Scenario;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// The scenarios to run: every directory of the corpus, or those named in
/// `BERTH_CONFORMANCE`.
fn selected(corpus: &Path) -> Result<Vec<String>, String> {
    let mut all: Vec<String> = std::fs::read_dir(corpus)
        .map_err(|e| format!("reading {}: {e}", corpus.display()))?
        .flatten()
        .filter(|e| e.path().join("scenario.yaml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    all.sort();
    match std::env::var("BERTH_CONFORMANCE") {
        Ok(filter) if !filter.trim().is_empty() => {
            let wanted: Vec<String> = filter
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            for name in &wanted {
                if !all.contains(name) {
                    return Err(format!(
                        "BERTH_CONFORMANCE names an unknown scenario {name}"
                    ));
                }
            }
            Ok(wanted)
        }
        _ => Ok(all),
    }
}

fn main() -> ExitCode {
    // `cargo test -- --list` and friends: this target has one test, itself.
    if std::env::args().any(|a| a == "--list") {
        println!("conformance: test");
        return ExitCode::SUCCESS;
    }
    // `cargo test NAME`: as libtest would, run only when NAME is part of this test's name.
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        // libtest's flags that take a value as the next argument.
        const VALUED: &[&str] = &[
            "--test-threads",
            "--skip",
            "--color",
            "--format",
            "--logfile",
            "-Z",
        ];
        if VALUED.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            filters.push(arg);
        }
    }
    if !filters.is_empty() && !filters.iter().any(|f| "conformance".contains(f.as_str())) {
        return ExitCode::SUCCESS;
    }
    // The harness's own logic first: it needs neither root nor a registry.
    if let Err(why) = harness::selftest::run() {
        eprintln!("conformance: {why}");
        return ExitCode::FAILURE;
    }
    if !support::prerequisites("conformance", true, &["docker-registry"]) {
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(why) => {
            eprintln!("conformance: {why}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, String> {
    // No container may reach past the machine (DESIGN.md, egress guard); idempotent.
    let guard = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/egress-guard");
    let guarded = std::process::Command::new("bash")
        .arg(&guard)
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !guarded {
        return Err(format!(
            "cannot install the egress guard ({})",
            guard.display()
        ));
    }
    let corpus = corpus_dir();
    let names = selected(&corpus)?;
    let expected = expected_pass(&corpus.join("expected-pass.txt"))?;
    let mut scenarios = Vec::new();
    let mut rows = Vec::new();
    for name in &names {
        match Scenario::load(&corpus.join(name)) {
            Ok(scenario) => scenarios.push(scenario),
            Err(why) => rows.push(Row {
                name: name.clone(),
                class: "?".to_owned(),
                outcome: Outcome::Fail {
                    step: "scenario.yaml".to_owned(),
                    reason: why,
                },
                leftovers: None,
                flaky: None,
            }),
        }
    }

    let work = tempfile::Builder::new()
        // Short: supervisor sockets live below it (108 bytes for a unix socket's path).
        .prefix("berth-cf-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    for sub in ["home", "nowhere", "root", "run", "scenarios", "scratch"] {
        std::fs::create_dir_all(work.path().join(sub)).map_err(|e| format!("{sub}: {e}"))?;
    }
    let registry = support::registry::TestRegistry::start();
    support::runtime().block_on(harness::images::push_all(&registry));
    let config = work.path().join("berth-config.toml");
    harness::images::write_config(&config, &registry).map_err(|e| format!("berth config: {e}"))?;
    let shared = Shared {
        berth: PathBuf::from(env!("CARGO_BIN_EXE_berth")),
        work: work.path().to_owned(),
        config,
        corpus: corpus.clone(),
        compose_git: std::env::var_os("BERTH_CONFORMANCE_COMPOSE_GIT").map(PathBuf::from),
    };

    // Images of the shared state root, pulled once per run.
    let present: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
    let ensure = |ctx: &Ctx, image: &str| -> Result<(), String> {
        // Names the registry does not serve (`test`) are only rendered, never pulled.
        let repository = image.split(':').next().unwrap_or(image);
        if !harness::images::SERVED
            .iter()
            .any(|(name, _)| *name == repository)
        {
            return Ok(());
        }
        let mut present = present.lock().unwrap_or_else(|e| e.into_inner());
        if present.contains(image) {
            return Ok(());
        }
        let out = ctx.berth(&["image", "pull", image]);
        if out.status != Some(0) {
            return Err(format!("pull failed: {}", out.summary()));
        }
        present.insert(image.to_owned());
        Ok(())
    };

    let jobs: usize = std::env::var("BERTH_CONFORMANCE_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .filter(|&j| j > 0)
        .unwrap_or(3);
    let queue = Mutex::new(scenarios.iter().cloned().collect::<VecDeque<_>>());
    let results = Mutex::new(rows);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some(scenario) = next else { break };
                    let started = std::time::Instant::now();
                    let (outcome, leftovers) = run_scenario(&shared, &scenario, &ensure);
                    if let Some(left) = &leftovers {
                        eprintln!("conformance: {}: teardown: {left}", scenario.name);
                    }
                    eprintln!(
                        "conformance: {} {} ({:.1}s)",
                        scenario.name,
                        match &outcome {
                            Outcome::Pass => "passed",
                            Outcome::Fail { .. } => "FAILED",
                            Outcome::Skip(_) => "skipped",
                        },
                        started.elapsed().as_secs_f64()
                    );
                    let class = if scenario.needs("build") {
                        "build"
                    } else {
                        "core"
                    };
                    results.lock().unwrap_or_else(|e| e.into_inner()).push(Row {
                        name: scenario.name.clone(),
                        class: class.to_owned(),
                        outcome,
                        leftovers,
                        flaky: None,
                    });
                }
            });
        }
    });
    // A required scenario that failed beside others gets one more attempt alone: a pass then
    // counts, and the report keeps the first failure (berth has races worth fixing, but the
    // gate is about the features).
    let mut rows = results.into_inner().unwrap_or_else(|e| e.into_inner());
    for row in rows.iter_mut() {
        let Outcome::Fail { step, reason } = &row.outcome else {
            continue;
        };
        let Some(scenario) = scenarios.iter().find(|s| s.name == row.name) else {
            continue;
        };
        if !expected.contains(&row.name) {
            continue;
        }
        let first = format!("first attempt failed at \"{step}\": {reason}");
        let (outcome, leftovers) = run_scenario(&shared, scenario, &ensure);
        eprintln!(
            "conformance: {} retried alone: {}",
            row.name,
            if matches!(outcome, Outcome::Pass) {
                "passed"
            } else {
                "FAILED again"
            }
        );
        if matches!(outcome, Outcome::Pass) {
            row.flaky = Some(first);
            row.outcome = outcome;
            row.leftovers = leftovers;
        }
    }
    drop(registry);
    let swept = harness::sweep::sweep(work.path());
    if !swept.is_empty() {
        eprintln!("conformance: cleaned up after berth:");
        for line in &swept {
            eprintln!("  {line}");
        }
    }

    rows.sort_by(|a, b| a.name.cmp(&b.name));
    let (table, regressions) = render(&rows, &expected, &names);
    eprintln!("{table}");
    let report = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|target| target.join("conformance-report.md"))
        .unwrap_or_else(|| PathBuf::from("conformance-report.md"));
    match std::fs::write(&report, &table) {
        Ok(()) => eprintln!("conformance: report written to {}", report.display()),
        Err(e) => eprintln!("conformance: cannot write {}: {e}", report.display()),
    }
    if regressions.is_empty() {
        Ok(true)
    } else {
        eprintln!(
            "conformance: expected to pass but did not: {}",
            regressions.join(", ")
        );
        Ok(false)
    }
}
