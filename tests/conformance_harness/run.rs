//! Running one scenario as the corpus README's "How a harness runs one scenario" says: copy,
//! project name, clean slate, steps (action, exit status, output, checks, eventually),
//! teardown and cleanup; commands get a minimal environment and a time limit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use super::checks;
use super::observe::{Observation, parse_ps};
use super::scenario::{Action, Exit, Scenario, Step, text};

/// What the whole run shares: the berth binary, the state root and the environment.
pub struct Shared {
    /// The `berth` binary.
    pub berth: PathBuf,
    /// The run's temporary directory (state roots, home, scenario copies).
    pub work: PathBuf,
    /// The berth configuration file (default registry).
    pub config: PathBuf,
    /// Where the corpus lives.
    pub corpus: PathBuf,
    /// A docker/compose clone to take withheld files from (`BERTH_CONFORMANCE_COMPOSE_GIT`).
    pub compose_git: Option<PathBuf>,
}

/// How one scenario ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Every step held.
    Pass,
    /// A step failed: its name and why.
    Fail {
        /// The failing step's name (or the phase: `setup`).
        step: String,
        /// Why.
        reason: String,
    },
    /// Not run, and why.
    Skip(String),
}

/// A finished command.
#[derive(Debug, Clone, Default)]
pub struct CmdOutput {
    /// Exit status (None: killed by a signal, timed out, or did not start).
    pub status: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Why it has no status.
    pub problem: Option<String>,
}

impl CmdOutput {
    /// A one-line account for failure messages.
    pub fn summary(&self) -> String {
        let status = match (&self.problem, self.status) {
            (Some(problem), _) => problem.clone(),
            (None, Some(code)) => format!("exit {code}"),
            (None, None) => "killed by a signal".to_owned(),
        };
        let tail = |s: &str| {
            let s = s.trim();
            let cut: String = s
                .chars()
                .rev()
                .take(300)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            cut.replace('\n', " | ")
        };
        format!(
            "{status}; stderr: {}; stdout: {}",
            tail(&self.stderr),
            tail(&self.stdout)
        )
    }
}

/// One scenario's running context.
pub struct Ctx<'a> {
    shared: &'a Shared,
    /// The project name.
    pub project: String,
    /// The scenario dir (the copy).
    pub dir: PathBuf,
    /// BERTH_ROOT of this scenario.
    pub root: PathBuf,
    /// BERTH_RUN of this scenario.
    pub run: PathBuf,
    /// The scenario's variables (with captured ones).
    env: BTreeMap<String, String>,
    /// Where command outputs go.
    scratch: PathBuf,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A few random characters: time, process and a counter, mixed by the support module's
/// xorshift.
fn random_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed =
        nanos ^ (u64::from(std::process::id()) << 32) ^ count.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    crate::support::noise(seed, 4)
        .into_iter()
        .map(|byte| alphabet[usize::from(byte) % alphabet.len()] as char)
        .collect()
}

/// `e2e-<kebab-case name without Test>-<random>`.
pub fn project_name(test: &str) -> String {
    let stem = test.strip_prefix("Test").unwrap_or(test);
    let mut kebab = String::new();
    for (i, c) in stem.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                kebab.push('-');
            }
            kebab.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            kebab.push(c);
        }
    }
    format!("e2e-{kebab}-{}", random_suffix())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

impl<'a> Ctx<'a> {
    fn substitute(&self, text: &str) -> String {
        text.replace("{{project}}", &self.project)
            .replace("{{dir}}", &self.dir.display().to_string())
    }

    fn substitute_regex(&self, text: &str) -> String {
        text.replace("{{project}}", &regex::escape(&self.project))
            .replace("{{dir}}", &regex::escape(&self.dir.display().to_string()))
    }

    fn substitute_json(&self, value: &Json) -> Json {
        match value {
            Json::String(s) => Json::String(self.substitute(s)),
            Json::Array(items) => {
                Json::Array(items.iter().map(|v| self.substitute_json(v)).collect())
            }
            Json::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.substitute_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Runs `berth <args>` in `cwd` with the minimal environment plus `extra`.
    pub fn berth_in(
        &self,
        cwd: &Path,
        args: &[String],
        extra: &BTreeMap<String, String>,
        limit: Duration,
    ) -> CmdOutput {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let out_path = self.scratch.join(format!("{n}.out"));
        let err_path = self.scratch.join(format!("{n}.err"));
        // Files rather than pipes: a supervisor left running by `up -d` may inherit them.
        let (Ok(out), Ok(err)) = (
            std::fs::File::create(&out_path),
            std::fs::File::create(&err_path),
        ) else {
            return CmdOutput {
                problem: Some("cannot create output files".to_owned()),
                ..CmdOutput::default()
            };
        };
        let mut cmd = Command::new(&self.shared.berth);
        cmd.args(args)
            .current_dir(cwd)
            .env_clear()
            .env(
                "PATH",
                std::env::var("PATH")
                    .unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".to_owned()),
            )
            .env("HOME", self.shared.work.join("home"))
            .env("BERTH_ROOT", &self.root)
            .env("BERTH_RUN", &self.run)
            .env("BERTH_CONFIG", &self.shared.config)
            .envs(extra)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let mut result = CmdOutput::default();
        match cmd.spawn() {
            Err(e) => result.problem = Some(format!("cannot start berth: {e}")),
            Ok(mut child) => {
                let deadline = Instant::now() + limit;
                loop {
                    match child.try_wait() {
                        Ok(Some(status)) => {
                            result.status = status.code();
                            break;
                        }
                        Ok(None) if Instant::now() >= deadline => {
                            let _ = child.kill();
                            let _ = child.wait();
                            result.problem =
                                Some(format!("still running after {}s, killed", limit.as_secs()));
                            break;
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                        Err(e) => {
                            result.problem = Some(format!("waiting for berth: {e}"));
                            break;
                        }
                    }
                }
            }
        }
        result.stdout =
            String::from_utf8_lossy(&std::fs::read(&out_path).unwrap_or_default()).into_owned();
        result.stderr =
            String::from_utf8_lossy(&std::fs::read(&err_path).unwrap_or_default()).into_owned();
        let _ = std::fs::remove_file(out_path);
        let _ = std::fs::remove_file(err_path);
        result
    }

    /// A berth command outside the scenario dir (no compose file), with the base environment.
    pub fn berth(&self, args: &[&str]) -> CmdOutput {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        self.berth_in(
            &self.shared.work.join("nowhere"),
            &args,
            &BTreeMap::new(),
            Duration::from_secs(120),
        )
    }

    /// `berth -p <project> exec -T --index N <service> <command>`.
    pub fn exec(&self, service: &str, index: u64, command: &[&str]) -> CmdOutput {
        let index = index.to_string();
        let mut args = vec![
            "-p",
            &self.project,
            "exec",
            "-T",
            "--index",
            &index,
            service,
        ];
        args.extend_from_slice(command);
        self.berth(&args)
    }

    /// The project's containers now.
    pub fn observe(&self) -> Result<Observation, String> {
        // --no-trunc: ps truncates long mount names (`Mounts`) for people otherwise.
        let out = self.berth(&[
            "-p",
            &self.project,
            "ps",
            "--all",
            "--no-trunc",
            "--format",
            "json",
        ]);
        if out.status != Some(0) {
            return Err(format!("ps failed: {}", out.summary()));
        }
        parse_ps(&out.stdout)
    }

    /// `berth volume inspect <name>`: its JSON object.
    pub fn volume_inspect(&self, name: &str) -> Result<Json, String> {
        let out = self.berth(&["volume", "inspect", name]);
        if out.status != Some(0) {
            return Err(format!("volume {name}: {}", out.summary()));
        }
        let value: Json =
            serde_json::from_str(&out.stdout).map_err(|e| format!("volume inspect output: {e}"))?;
        value
            .get(0)
            .cloned()
            .ok_or_else(|| format!("volume {name} not found"))
    }

    /// The data directory of volume `name`.
    pub fn volume_data(&self, name: &str) -> Result<PathBuf, String> {
        let inspect = self.volume_inspect(name)?;
        inspect
            .get("Mountpoint")
            .and_then(text)
            .map(PathBuf::from)
            .ok_or_else(|| format!("volume {name} has no Mountpoint"))
    }

    /// Whether network `name` exists: `berth network inspect`, or berth's network state.
    pub fn network_exists(&self, name: &str) -> Result<(), String> {
        let out = self.berth(&["network", "inspect", name]);
        if out.status == Some(0) {
            return Ok(());
        }
        let dir = self.root.join("networks");
        if mentions(&dir, name, 3) {
            Ok(())
        } else {
            Err(format!("network {name}: not found ({})", out.summary()))
        }
    }

    /// The ID (hex, no `sha256:`) of the local image `reference`.
    pub fn image_id(&self, reference: &str) -> Result<String, String> {
        let out = self.berth(&["image", "inspect", reference]);
        if out.status != Some(0) {
            return Err(format!("image {reference}: {}", out.summary()));
        }
        let value: Json =
            serde_json::from_str(&out.stdout).map_err(|e| format!("image inspect output: {e}"))?;
        let id = value
            .get(0)
            .and_then(|v| v.get("Id"))
            .and_then(text)
            .ok_or_else(|| format!("image {reference}: no Id"))?;
        Ok(id.trim_start_matches("sha256:").to_owned())
    }

    fn action(&mut self, kind: &str, arg: &Json) -> Result<(), String> {
        let field = |key: &str| {
            arg.get(key)
                .and_then(text)
                .ok_or_else(|| format!("{kind}: missing {key}"))
        };
        let checked = |out: CmdOutput| {
            if out.status == Some(0) {
                Ok(())
            } else {
                Err(out.summary())
            }
        };
        match kind {
            "remove_container" => {
                let index = arg.get("index").and_then(Json::as_u64).unwrap_or(1);
                let name = format!("{}-{}-{index}", self.project, field("service")?);
                checked(self.berth(&["container", "rm", "-f", &name]))
            }
            "create_volume" => checked(self.berth(&["volume", "create", &field("name")?])),
            "remove_volume" => checked(self.berth(&["volume", "rm", &field("name")?])),
            "remove_image" => checked(self.berth(&["image", "rm", "-f", &field("ref")?])),
            "ensure_image" => checked(self.berth(&["image", "pull", &field("ref")?])),
            "remove_external_container" => {
                checked(self.berth(&["container", "rm", "-f", &field("name")?]))
            }
            "start_external_container" => Err(
                "start_external_container: berth cannot run a container outside a project yet"
                    .to_owned(),
            ),
            "capture_image_id" => {
                let id = self.image_id(&field("image")?)?;
                self.env.insert(field("var")?, id);
                Ok(())
            }
            other => Err(format!("unknown action {other:?}")),
        }
    }

    fn down(&self) -> CmdOutput {
        let args: Vec<String> = [
            "-p",
            &self.project,
            "down",
            "-v",
            "--remove-orphans",
            "--timeout",
            "0",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        self.berth_in(
            &self.shared.work.join("nowhere"),
            &args,
            &BTreeMap::new(),
            Duration::from_secs(120),
        )
    }

    /// Teardown: `down`, and once more if containers remain; says what is left, if anything.
    fn teardown(&self) -> Option<String> {
        let mut last = self.down();
        for _ in 0..2 {
            match self.observe() {
                Ok(obs) if obs.containers.is_empty() => return None,
                Ok(_) => {
                    std::thread::sleep(Duration::from_secs(1));
                    last = self.down();
                }
                // Without ps there is nothing more to learn.
                Err(_) => return None,
            }
        }
        match self.observe() {
            Ok(obs) if !obs.containers.is_empty() => {
                let names: Vec<&str> = obs.containers.iter().map(|c| c.name.as_str()).collect();
                Some(format!(
                    "down left {} ({})",
                    names.join(", "),
                    last.summary()
                ))
            }
            _ => None,
        }
    }

    /// Runs one step; `before` is the last observation (None: it could not be made).
    fn step(
        &mut self,
        scenario: &Scenario,
        step: &Step,
        before: &mut Option<Observation>,
    ) -> Result<(), String> {
        let limit = step.within.unwrap_or(if scenario.needs("build") {
            Duration::from_secs(600)
        } else {
            Duration::from_secs(120)
        });
        let mut output = None;
        match &step.action {
            None => {}
            Some(Action::Run(args)) => {
                let mut full = vec![
                    "-f".to_owned(),
                    "compose.yaml".to_owned(),
                    "-p".to_owned(),
                    self.project.clone(),
                ];
                full.extend(args.iter().map(|a| self.substitute(a)));
                let mut env: BTreeMap<String, String> = self
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), self.substitute(v)))
                    .collect();
                env.extend(
                    step.env
                        .iter()
                        .map(|(k, v)| (k.clone(), self.substitute(v))),
                );
                let out = self.berth_in(&self.dir, &full, &env, limit);
                if let Some(problem) = &out.problem {
                    return Err(format!("`berth {}`: {problem}", args.join(" ")));
                }
                output = Some(out);
            }
            Some(Action::Other(kind, arg)) => {
                let arg = self.substitute_json(arg);
                self.action(kind, &arg)?;
            }
        }
        if let Some(out) = &output {
            self.judge_output(step, out)?;
        }
        let now = self.observe();
        if !step.checks.is_empty() {
            let observation = now.as_ref().map_err(|e| format!("cannot observe: {e}"))?;
            for (kind, arg) in &step.checks {
                let arg = self.substitute_json(arg);
                checks::evaluate(self, kind, &arg, observation, before.as_ref())
                    .map_err(|why| format!("check {kind}: {why}"))?;
            }
        }
        let mut last = now.ok();
        if let Some((timeout, list)) = &step.eventually {
            let deadline = Instant::now() + *timeout;
            loop {
                let attempt = self.observe().and_then(|obs| {
                    for (kind, arg) in list {
                        let arg = self.substitute_json(arg);
                        checks::evaluate(self, kind, &arg, &obs, before.as_ref())
                            .map_err(|why| format!("check {kind}: {why}"))?;
                    }
                    Ok(obs)
                });
                match attempt {
                    Ok(obs) => {
                        last = Some(obs);
                        break;
                    }
                    Err(why) if Instant::now() >= deadline => {
                        return Err(format!("eventually (after {}s): {why}", timeout.as_secs()));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(500)),
                }
            }
        }
        *before = last;
        Ok(())
    }

    fn judge_output(&self, step: &Step, out: &CmdOutput) -> Result<(), String> {
        let status_ok = match step.exit {
            None => true,
            Some(Exit::Code(code)) => out.status == Some(code),
            Some(Exit::Nonzero) => out.status.is_some_and(|c| c != 0),
        };
        if !status_ok {
            return Err(format!(
                "exit status {:?}, want {:?}: {}",
                out.status,
                step.exit,
                out.summary()
            ));
        }
        let both = format!("{}{}", out.stdout, out.stderr);
        for s in &step.output_contains {
            let s = self.substitute(s);
            if !(out.stdout.contains(&s) || out.stderr.contains(&s) || both.contains(&s)) {
                return Err(format!("output lacks {s:?}: {}", out.summary()));
            }
        }
        for s in &step.output_not_contains {
            let s = self.substitute(s);
            if out.stdout.contains(&s) || out.stderr.contains(&s) {
                return Err(format!("output contains {s:?}"));
            }
        }
        for s in &step.stdout_contains {
            let s = self.substitute(s);
            if !out.stdout.contains(&s) {
                return Err(format!("stdout lacks {s:?}: {}", out.summary()));
            }
        }
        for s in &step.stderr_contains {
            let s = self.substitute(s);
            if !out.stderr.contains(&s) {
                return Err(format!("stderr lacks {s:?}: {}", out.summary()));
            }
        }
        for pattern in &step.stdout_matches {
            let re = regex::Regex::new(&self.substitute_regex(pattern))
                .map_err(|e| format!("bad regex {pattern:?}: {e}"))?;
            if !re.is_match(&out.stdout) {
                return Err(format!(
                    "stdout does not match {pattern:?}: {}",
                    out.summary()
                ));
            }
        }
        for (pattern, count) in &step.stdout_match_count {
            let re = regex::Regex::new(&self.substitute_regex(pattern))
                .map_err(|e| format!("bad regex {pattern:?}: {e}"))?;
            let have = re.find_iter(&out.stdout).count();
            if have != *count {
                return Err(format!(
                    "stdout matches {pattern:?} {have} times, want {count}"
                ));
            }
        }
        Ok(())
    }
}

/// Whether a file under `dir` (to `depth` levels) is named after, or mentions, `name`.
fn mentions(dir: &Path, name: &str, depth: u32) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if entry.file_name().to_string_lossy().contains(name) {
            return true;
        }
        if path.is_dir() {
            depth > 0 && mentions(&path, name, depth - 1)
        } else {
            std::fs::read_to_string(&path).is_ok_and(|t| t.contains(&format!("\"{name}\"")))
        }
    })
}

/// The subcommand of `run` arguments: the first word that is neither a global flag nor its
/// value.
pub fn subcommand(args: &[String]) -> Option<&str> {
    const VALUED: &[&str] = &[
        "--profile",
        "--env-file",
        "--ansi",
        "--progress",
        "--project-directory",
        "--parallel",
        "-f",
        "--file",
        "-p",
        "--project-name",
    ];
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if VALUED.contains(&word.as_str()) {
            words.next();
        } else if !word.starts_with('-') {
            return Some(word);
        }
    }
    None
}

/// Whether a `needs: [build]` scenario really builds: some step runs a command that builds
/// images. The others only declare `build:` sections (config rendering, pull decisions) and
/// run like any scenario.
fn builds(scenario: &Scenario) -> bool {
    scenario.steps.iter().any(|step| match &step.action {
        Some(Action::Run(args)) => !matches!(
            subcommand(args),
            Some("config" | "convert" | "pull" | "ls" | "ps" | "images" | "down" | "version")
        ),
        _ => false,
    })
}

/// Puts each withheld file in place from a docker/compose clone, or says which is missing.
fn withheld(shared: &Shared, scenario: &Scenario, dir: &Path) -> Result<(), String> {
    const COMMIT: &str = "f72979427042620a94dd52ce78b39c68cb02c085";
    for file in &scenario.withheld_files {
        let target = dir.join(file);
        if target.exists() {
            continue;
        }
        let Some(git) = &shared.compose_git else {
            return Err(format!(
                "withheld fixture file {file} is missing (set BERTH_CONFORMANCE_COMPOSE_GIT to a docker/compose clone)"
            ));
        };
        let spec = format!("{COMMIT}:pkg/e2e/testdata/{}/{file}", scenario.name);
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(git)
            .args(["show", &spec])
            .output()
            .map_err(|e| format!("git show {spec}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "withheld fixture file {file}: git show {spec} failed"
            ));
        }
        std::fs::write(&target, out.stdout).map_err(|e| format!("writing {file}: {e}"))?;
    }
    Ok(())
}

/// The state root a scenario uses: the run's shared one, or (for scenarios that pull and
/// delete images as their observable) one of its own, so that removing an image cannot pull
/// the rug from under a scenario running beside it.
fn roots(shared: &Shared, scenario: &Scenario) -> (PathBuf, PathBuf) {
    if scenario.needs("registry") {
        // Short paths: supervisor sockets live under BERTH_RUN, and a unix socket's path
        // must fit in 108 bytes.
        let base = shared
            .work
            .join(format!("p{}", COUNTER.fetch_add(1, Ordering::Relaxed)));
        (base.join("root"), base.join("run"))
    } else {
        (shared.work.join("root"), shared.work.join("run"))
    }
}

/// Runs `scenario`; `ensure` makes its images present in a state root first. Also returns
/// what teardown could not remove (a problem of berth's `down`, reported beside the table).
pub fn run_scenario(
    shared: &Shared,
    scenario: &Scenario,
    ensure: &dyn Fn(&Ctx, &str) -> Result<(), String>,
) -> (Outcome, Option<String>) {
    let fail = |step: &str, reason: String| Outcome::Fail {
        step: step.to_owned(),
        reason,
    };
    let project = project_name(&scenario.name);
    let dir = shared.work.join("scenarios").join(&project);
    if let Err(e) = copy_dir(&shared.corpus.join(&scenario.name), &dir) {
        return (fail("setup", format!("copying the scenario: {e}")), None);
    }
    if let Err(why) = withheld(shared, scenario, &dir) {
        return (fail("setup", why), None);
    }
    if scenario.needs("tty") {
        return (Outcome::Skip("needs a terminal".to_owned()), None);
    }
    if scenario.needs("build") && builds(scenario) {
        return (
            Outcome::Skip("needs build (not implemented)".to_owned()),
            None,
        );
    }
    let (root, run) = roots(shared, scenario);
    let scratch = shared.work.join("scratch").join(&project);
    for d in [&root, &run, &scratch] {
        if let Err(e) = std::fs::create_dir_all(d) {
            return (
                fail("setup", format!("creating {}: {e}", d.display())),
                None,
            );
        }
    }
    let mut ctx = Ctx {
        shared,
        project,
        dir,
        root,
        run,
        env: scenario.env.clone(),
        scratch,
    };
    if !scenario.needs("registry") {
        for image in &scenario.images {
            if let Err(why) = ensure(&ctx, image) {
                return (fail("setup", format!("image {image}: {why}")), None);
            }
        }
    }
    let _ = ctx.down();
    let mut before = Some(Observation::default());
    let mut outcome = Outcome::Pass;
    for step in &scenario.steps {
        if let Err(reason) = ctx.step(scenario, step, &mut before) {
            outcome = fail(&ctx.substitute(&step.name), reason);
            break;
        }
    }
    let leftovers = ctx.teardown();
    for action in &scenario.cleanup {
        if let Action::Other(kind, arg) = action {
            let arg = ctx.substitute_json(arg);
            let _ = ctx.action(kind, &arg);
        }
    }
    (outcome, leftovers)
}
